//! The buffers behind the channel core, one file per flavor (crossbeam-channel's `flavors/`),
//! behind one private enum: [`Ring`] for `bounded(n)` with `n <= RING_LIMIT`, [`List`] for
//! `unbounded()` and larger bounds, and none for rendezvous channels (`bounded(0)`), whose
//! values only ever move from a sender's waiter to a receiver's under the channel lock.
//!
//! Both buffers have the same lock-free surface: `push` / `pop` that never wait on another
//! thread (they report [`Push::Busy`] / [`Pop::Busy`] when the slot they need is being written
//! or read by a thread that claimed it), flag bits in their counters that divert lock-free
//! callers to the channel lock ([`SLOW`], [`CLOSED`]), and the few queries the lock's protocols
//! need. Waiting, waking, select, permits and close are written once, in `chan`, for all three.

mod list;
mod ring;

pub(crate) use list::List;
pub(crate) use ring::Ring;

/// In a counter's low bits: the channel is closed (in `tail`).
pub(crate) const CLOSED: usize = 0b01;
/// In a counter's low bits: lock-free pushes (in `tail`) or pops (in `head`) must take the
/// channel lock instead.
pub(crate) const SLOW: usize = 0b10;
/// Every flag bit.
pub(crate) const BITS: usize = CLOSED | SLOW;
/// Positions sit above the flag bits.
pub(crate) const SHIFT: u32 = 2;

/// Bounds up to this many slots get a ring, allocated up front (4096 slots: the old buffer's
/// preallocation limit; a `bounded(1024)` of `u64` is a 16 KiB ring). Larger bounds, up to
/// `bounded(usize::MAX)`, get the list, which allocates as values arrive.
pub(crate) const RING_LIMIT: usize = 4096;

/// Why a push did not happen; the value comes back.
#[derive(Debug)]
pub(crate) enum Push<T> {
    /// No room (or the bound is reached).
    Full(T),
    /// The tail slot holds a value a receiver has claimed and is still reading.
    Busy(T),
    /// A flag bit is set: take the lock.
    Slow(T),
}

/// Why a pop did not happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pop {
    /// Nothing buffered and nothing being written.
    Empty,
    /// The head position is claimed by a sender still writing its value.
    Busy,
    /// A flag bit is set, or the buffer is empty and closed: take the lock.
    Slow,
}

/// What a pop would find (select readiness).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Peek {
    Ready,
    Busy,
    Empty,
}

/// The buffer of one channel.
pub(crate) enum Buf<T> {
    Ring(Ring<T>),
    List(List<T>),
    /// Rendezvous: no buffer; every operation takes the lock.
    None,
}

impl<T> Buf<T> {
    pub(crate) fn new(cap: Option<usize>) -> Buf<T> {
        match cap {
            Some(0) => Buf::None,
            Some(n) if n <= RING_LIMIT => Buf::Ring(Ring::new(n)),
            Some(n) => Buf::List(List::new(n)),
            None => Buf::List(List::new(usize::MAX)),
        }
    }

    #[inline(always)]
    pub(crate) fn push(&self, value: T, locked: bool) -> Result<(), Push<T>> {
        match self {
            Buf::Ring(r) => r.push(value, locked),
            Buf::List(l) => l.push(value, locked),
            Buf::None => Err(if locked {
                Push::Full(value)
            } else {
                Push::Slow(value)
            }),
        }
    }

    #[inline(always)]
    pub(crate) fn pop(&self, locked: bool) -> Result<T, Pop> {
        match self {
            Buf::Ring(r) => r.pop(locked),
            Buf::List(l) => l.pop(locked),
            Buf::None => Err(if locked { Pop::Empty } else { Pop::Slow }),
        }
    }

    pub(crate) fn peek(&self) -> Peek {
        match self {
            Buf::Ring(r) => r.peek(),
            Buf::List(l) => l.peek(),
            Buf::None => Peek::Empty,
        }
    }

    /// True if a push could write the tail slot now (the bound aside).
    pub(crate) fn tail_free(&self) -> bool {
        match self {
            Buf::Ring(r) => r.tail_free(),
            Buf::List(_) => true,
            Buf::None => false,
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Buf::Ring(r) => r.len(),
            Buf::List(l) => l.len(),
            Buf::None => 0,
        }
    }

    pub(crate) fn is_drained(&self) -> bool {
        match self {
            Buf::Ring(r) => r.is_drained(),
            Buf::List(l) => l.is_drained(),
            Buf::None => true,
        }
    }

    pub(crate) fn set_tail_bits(&self, bits: usize) {
        match self {
            Buf::Ring(r) => {
                r.set_tail_bits(bits);
            }
            Buf::List(l) => l.set_tail_bits(bits),
            Buf::None => {}
        }
    }

    pub(crate) fn clear_tail_bits(&self, bits: usize) {
        match self {
            Buf::Ring(r) => r.clear_tail_bits(bits),
            Buf::List(l) => l.clear_tail_bits(bits),
            Buf::None => {}
        }
    }

    pub(crate) fn set_head_bits(&self, bits: usize) {
        match self {
            Buf::Ring(r) => r.set_head_bits(bits),
            Buf::List(l) => l.set_head_bits(bits),
            Buf::None => {}
        }
    }

    pub(crate) fn clear_head_bits(&self, bits: usize) {
        match self {
            Buf::Ring(r) => r.clear_head_bits(bits),
            Buf::List(l) => l.clear_head_bits(bits),
            Buf::None => {}
        }
    }
}
