//! The buffer of `bounded(n)` for `1 <= n <= RING_LIMIT`: Dmitry Vyukov's bounded MPMC queue,
//! in the shape of crossbeam-channel's `array` flavor (per-slot stamps, `head` and `tail`
//! counters on their own cache lines), with two changes for the channel above it.
//!
//! # Positions and stamps
//!
//! A position is `lap | index`, where `index < cap` picks the slot and `lap` is a multiple of
//! `one_lap = (cap + 1).next_power_of_two()` (crossbeam's encoding). `head` and `tail` hold a
//! position shifted left by [`SHIFT`], with flag bits below it. Slot `i`'s stamp says what the
//! slot is waiting for:
//!
//! - `stamp == pos`: empty, ready to be written at position `pos`;
//! - `stamp == pos + 1`: holds the value of position `pos`, ready to be read;
//! - `stamp == pos + one_lap` after the read: empty, ready for the next lap.
//!
//! A sender claims position `tail` with a CAS on `tail` when `slot.stamp == tail`, writes the
//! value, then publishes it by storing `tail + 1` in the stamp (Release). A receiver claims
//! `head` with a CAS on `head` when `slot.stamp == head + 1`, reads, then frees the slot by
//! storing `head + one_lap` (Release). The stamp carries the value from writer to reader.
//!
//! # Changes from crossbeam
//!
//! 1. **Flag bits in the counters.** [`SLOW`] in `tail` (or `head`) makes every lock-free push
//!    (or pop) fail with `Slow` so the caller takes the channel lock instead; [`CLOSED`] in
//!    `tail` marks a closed channel. Because a lock-free CAS expects the bits to be clear, a
//!    `fetch_or` of a bit is exact: no lock-free push (pop) succeeds after it. The channel sets
//!    them while waiters, permits or set-aside values need the lock's bookkeeping (FIFO among
//!    waiting senders and receivers, exact reservations), see `chan`'s protocols. Bits change
//!    only under the channel lock; holders of the lock push and pop with `locked = true`, which
//!    keeps them.
//! 2. **No waiting on another thread.** crossbeam spins when the slot it needs is claimed by a
//!    thread that has not finished writing (or reading) it; if that thread is preempted, the
//!    spin lasts a scheduler time slice, which inside a runtime worker stalls every task on it.
//!    Here that case returns [`Push::Busy`] / [`Pop::Busy`] at once, and the caller decides:
//!    an OS thread backs off and retries, an async task yields (`chan`'s protocols). A waiter
//!    never parks on a busy slot, which is what lets the lock-free path skip any check for
//!    waiters: `SLOW` bits do that job.

use core::mem::MaybeUninit;

use spectrum_sync::atomic::{fence, AtomicUsize, Ordering::*};
use spectrum_sync::{Backoff, Gap, UnsafeCell};

use super::{Peek, Pop, Push, BITS, CLOSED, SHIFT};

/// Positions live in the bits above `SHIFT`; all position arithmetic wraps inside them.
const POS_MASK: usize = usize::MAX >> SHIFT;

struct Slot<T> {
    stamp: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
}

/// A fixed ring of `cap` slots.
///
/// `head` and `tail` each sit between two [`Gap`]s, off the cache lines of each other and of the
/// read-mostly fields, which a last gap keeps off the channel's next field: `#[repr(C)]` keeps
/// that order, and the gaps do it without aligning the channel that embeds the ring (see `Gap`
/// for why that matters).
#[repr(C)]
pub(crate) struct Ring<T> {
    _gap0: Gap,
    /// The next position to read, shifted, with flag bits (`SLOW`).
    head: AtomicUsize,
    _gap1: Gap,
    /// The next position to write, shifted, with flag bits (`SLOW`, `CLOSED`).
    tail: AtomicUsize,
    _gap2: Gap,
    slots: Box<[Slot<T>]>,
    one_lap: usize,
    /// `one_lap - 1`: a position's index bits.
    mask: usize,
    /// Keeps the fields above, read on every operation, off the line of whatever the channel
    /// places after the ring (its lock, written by every waiting operation).
    _gap3: Gap,
}

// SAFETY: a value is written by the one thread that claimed its position and read by the one
// thread that claimed it afterwards; the stamp's Release store / Acquire load hands it over. So
// sharing the ring moves `T`s between threads, which `T: Send` allows.
unsafe impl<T: Send> Send for Ring<T> {}
// SAFETY: as for `Send`.
unsafe impl<T: Send> Sync for Ring<T> {}

impl<T> Ring<T> {
    /// A ring of `cap` slots (`1 <= cap`, small enough to allocate up front).
    pub(crate) fn new(cap: usize) -> Ring<T> {
        debug_assert!(cap >= 1);
        let one_lap = (cap + 1).next_power_of_two();
        let slots = (0..cap)
            .map(|i| Slot {
                stamp: AtomicUsize::new(i),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        Ring {
            _gap0: Gap::new(),
            head: AtomicUsize::new(0),
            _gap1: Gap::new(),
            tail: AtomicUsize::new(0),
            _gap2: Gap::new(),
            slots,
            one_lap,
            mask: one_lap - 1,
            _gap3: Gap::new(),
        }
    }

    #[inline]
    fn cap(&self) -> usize {
        self.slots.len()
    }

    #[inline]
    fn slot(&self, pos: usize) -> &Slot<T> {
        self.at(pos & self.mask)
    }

    /// The slot at `index`, a position's index bits.
    #[inline]
    fn at(&self, index: usize) -> &Slot<T> {
        debug_assert!(index < self.cap());
        // SAFETY: positions are only ever built by `next` from 0, so their index part is
        // always below `cap`.
        unsafe { self.slots.get_unchecked(index) }
    }

    /// The position after `pos`.
    #[inline]
    fn next(&self, pos: usize) -> usize {
        self.next_at(pos, pos & self.mask)
    }

    /// The position after `pos`, whose index bits `index` the caller already has: `pos + 1`
    /// within a lap, and only once per lap (every `cap` values) the jump to the next lap, out of
    /// line so the common case is an add and a compare.
    #[inline]
    fn next_at(&self, pos: usize, index: usize) -> usize {
        if index + 1 < self.cap() {
            pos + 1
        } else {
            self.next_lap(pos)
        }
    }

    #[cold]
    #[inline(never)]
    fn next_lap(&self, pos: usize) -> usize {
        (pos & !self.mask).wrapping_add(self.one_lap) & POS_MASK
    }

    /// Pushes `value` at the tail. Lock-free callers (`locked == false`) get `Slow` when a flag
    /// bit is set; a holder of the channel lock pushes through `SLOW` (keeping it), never
    /// through `CLOSED`.
    #[inline]
    pub(crate) fn push(&self, value: T, locked: bool) -> Result<(), Push<T>> {
        let backoff = Backoff::new();
        // Relaxed: the stamp (loaded with Acquire below) is what orders our write after the
        // previous reader's read; the counter only arbitrates between senders (its CAS).
        let mut tail = self.tail.load(Relaxed);
        loop {
            let bits = tail & BITS;
            if bits != 0 && (!locked || bits & CLOSED != 0) {
                return Err(Push::Slow(value));
            }
            let pos = tail >> SHIFT;
            let index = pos & self.mask;
            let slot = self.at(index);
            // Acquire: pairs with the Release stamp store in `pop`, so the previous lap's read
            // of this slot happens before our write.
            let stamp = slot.stamp.load(Acquire);
            if stamp == pos {
                let new = (self.next_at(pos, index) << SHIFT) | bits;
                // Relaxed: claiming the position needs only the atomicity of the CAS; the value
                // is published by the stamp store.
                match self.tail.compare_exchange_weak(tail, new, Relaxed, Relaxed) {
                    Ok(_) => {
                        // SAFETY: the CAS made position `pos` ours; its slot is empty (stamp ==
                        // pos) and no reader touches it until the stamp store below.
                        slot.value
                            .with_mut(|p| unsafe { (*p).as_mut_ptr().write(value) });
                        // Release: pairs with the Acquire stamp load in `pop` / `peek`: the
                        // reader sees the value.
                        slot.stamp.store(pos + 1, Release);
                        return Ok(());
                    }
                    Err(t) => {
                        tail = t;
                        backoff.spin();
                    }
                }
            } else if stamp.wrapping_add(self.one_lap) & POS_MASK == pos + 1 {
                // The slot still holds the previous lap's value: the ring is full, or a
                // receiver has claimed that value and is reading it.
                // SeqCst: orders the stamp load before the `head` load, as crossbeam does, so
                // a head that has moved past this slot is seen.
                fence(SeqCst);
                // Relaxed: ordered by the fence.
                let head = self.head.load(Relaxed) >> SHIFT;
                if head.wrapping_add(self.one_lap) & POS_MASK == pos {
                    return Err(Push::Full(value));
                }
                return Err(Push::Busy(value));
            } else {
                // Another sender claimed `pos` after we read `tail`: read it again.
                backoff.spin();
                // Relaxed: as above.
                tail = self.tail.load(Relaxed);
            }
        }
    }

    /// Pops the value at the head. Lock-free callers get `Slow` when a flag bit is set in
    /// `head`, or when the ring is empty and closed (the lock decides between `Closed` and
    /// values set aside outside the ring).
    #[inline]
    pub(crate) fn pop(&self, locked: bool) -> Result<T, Pop> {
        let backoff = Backoff::new();
        // Relaxed: as in `push`.
        let mut head = self.head.load(Relaxed);
        loop {
            let bits = head & BITS;
            if bits != 0 && !locked {
                return Err(Pop::Slow);
            }
            let pos = head >> SHIFT;
            let index = pos & self.mask;
            let slot = self.at(index);
            // Acquire: pairs with the Release stamp store in `push`: the value is visible.
            let stamp = slot.stamp.load(Acquire);
            if stamp == pos + 1 {
                let new = (self.next_at(pos, index) << SHIFT) | bits;
                // Relaxed: as in `push`.
                match self.head.compare_exchange_weak(head, new, Relaxed, Relaxed) {
                    Ok(_) => {
                        // SAFETY: the CAS made position `pos` ours; the stamp says its value
                        // is written, and no writer touches the slot until the store below.
                        let value = slot.value.with(|p| unsafe { (*p).as_ptr().read() });
                        // Release: pairs with the Acquire stamp load in `push`: our read
                        // happens before the next lap's write.
                        slot.stamp
                            .store(pos.wrapping_add(self.one_lap) & POS_MASK, Release);
                        return Ok(value);
                    }
                    Err(h) => {
                        head = h;
                        backoff.spin();
                    }
                }
            } else if stamp == pos {
                // Not written at this lap: empty, or a sender is writing it right now.
                // SeqCst: as in `push`, so a tail that has moved past this slot is seen.
                fence(SeqCst);
                // Relaxed: ordered by the fence.
                let tail = self.tail.load(Relaxed);
                if tail >> SHIFT != pos {
                    return Err(Pop::Busy);
                }
                if !locked && tail & CLOSED != 0 {
                    return Err(Pop::Slow);
                }
                return Err(Pop::Empty);
            } else {
                // Another receiver took `pos` after we read `head`.
                backoff.spin();
                // Relaxed: as above.
                head = self.head.load(Relaxed);
            }
        }
    }

    /// What a pop would find now (for `select` readiness, under the lock).
    pub(crate) fn peek(&self) -> Peek {
        // Relaxed: as in `pop`.
        let pos = self.head.load(Relaxed) >> SHIFT;
        // Acquire: as in `pop`.
        if self.slot(pos).stamp.load(Acquire) == pos + 1 {
            return Peek::Ready;
        }
        // SeqCst: as in `pop`.
        fence(SeqCst);
        // Relaxed: ordered by the fence.
        if self.tail.load(Relaxed) >> SHIFT == pos {
            Peek::Empty
        } else {
            Peek::Busy
        }
    }

    /// True if the tail slot is free to be written now (not full, and not still being read).
    pub(crate) fn tail_free(&self) -> bool {
        // Relaxed: as in `push`.
        let pos = self.tail.load(Relaxed) >> SHIFT;
        // Acquire: as in `push`.
        self.slot(pos).stamp.load(Acquire) == pos
    }

    /// The number of positions claimed by senders and not yet claimed by receivers (values
    /// being written count, values being read do not).
    pub(crate) fn len(&self) -> usize {
        loop {
            // SeqCst: a consistent snapshot of both counters, as crossbeam's `len`.
            let tail = self.tail.load(SeqCst);
            // SeqCst: as above.
            let head = self.head.load(SeqCst);
            // SeqCst: as above.
            if self.tail.load(SeqCst) == tail {
                return self.distance(head >> SHIFT, tail >> SHIFT);
            }
        }
    }

    fn distance(&self, head: usize, tail: usize) -> usize {
        let hix = head & self.mask;
        let tix = tail & self.mask;
        if hix < tix {
            tix - hix
        } else if hix > tix {
            self.cap() - hix + tix
        } else if tail == head {
            0
        } else {
            self.cap()
        }
    }

    /// True if nothing is buffered and no sender is still writing (`head == tail`).
    pub(crate) fn is_drained(&self) -> bool {
        // SeqCst: as in `len`.
        self.head.load(SeqCst) >> SHIFT == self.tail.load(SeqCst) >> SHIFT
    }

    /// Sets flag bits in `tail`; returns the previous word.
    pub(crate) fn set_tail_bits(&self, bits: usize) -> usize {
        // Relaxed: an RMW on the counter itself: every lock-free CAS after it in the counter's
        // modification order fails (it expects the bits clear), and every claim before it is
        // seen by the caller's next loads of the counter (coherence). Nothing else is
        // published through the bit.
        self.tail.fetch_or(bits, Relaxed)
    }

    /// Clears flag bits in `tail`.
    pub(crate) fn clear_tail_bits(&self, bits: usize) {
        // Relaxed: re-enables lock-free pushes; nothing is published through the bit.
        self.tail.fetch_and(!bits, Relaxed);
    }

    /// Sets flag bits in `head`.
    pub(crate) fn set_head_bits(&self, bits: usize) {
        // Relaxed: as in `set_tail_bits`.
        self.head.fetch_or(bits, Relaxed);
    }

    /// Clears flag bits in `head`.
    pub(crate) fn clear_head_bits(&self, bits: usize) {
        // Relaxed: as in `clear_tail_bits`.
        self.head.fetch_and(!bits, Relaxed);
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        // Relaxed: `&mut self` means every other handle is gone (the last `Arc` drop
        // synchronized with them), so every claimed position is finished.
        let head = self.head.load(Relaxed) >> SHIFT;
        // Relaxed: as above.
        let tail = self.tail.load(Relaxed) >> SHIFT;
        let mut pos = head;
        for _ in 0..self.distance(head, tail) {
            let slot = self.slot(pos);
            // SAFETY: positions between head and tail hold written values (no operation is
            // in flight any more), each dropped exactly once here.
            slot.value.with_mut(|p| unsafe { (*p).assume_init_drop() });
            pos = self.next(pos);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{Peek, Pop, Push, Ring, SHIFT};
    use crate::buf::SLOW;

    /// Full and empty at every lap, values in order, across many wrap-arounds.
    #[test]
    fn laps_and_bounds() {
        for cap in [1, 2, 3, 5, 8] {
            let ring = Ring::new(cap);
            for lap in 0..5 {
                for i in 0..cap {
                    assert!(ring.push(lap * 100 + i, false).is_ok());
                }
                assert!(matches!(ring.push(0, false), Err(Push::Full(0))));
                assert_eq!(ring.len(), cap);
                assert_eq!(ring.peek(), Peek::Ready);
                for i in 0..cap {
                    assert_eq!(ring.pop(false).ok(), Some(lap * 100 + i));
                }
                assert_eq!(ring.pop(false).err(), Some(Pop::Empty));
                assert!(ring.is_drained());
            }
        }
    }

    /// A `SLOW` bit diverts lock-free callers and only them; clearing it restores them.
    #[test]
    fn slow_bits_divert_lock_free_callers() {
        let ring = Ring::new(2);
        assert_eq!(ring.set_tail_bits(SLOW) >> SHIFT, 0);
        assert!(matches!(ring.push(1, false), Err(Push::Slow(1))));
        assert!(ring.push(1, true).is_ok());
        ring.clear_tail_bits(SLOW);
        assert!(ring.push(2, false).is_ok());
        ring.set_head_bits(SLOW);
        assert_eq!(ring.pop(false).err(), Some(Pop::Slow));
        assert_eq!(ring.pop(true).ok(), Some(1));
        ring.clear_head_bits(SLOW);
        assert_eq!(ring.pop(false).ok(), Some(2));
    }
}
