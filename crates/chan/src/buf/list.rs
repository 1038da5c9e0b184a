//! The buffer of `unbounded()` and of bounds above `RING_LIMIT`: crossbeam-channel's `list`
//! flavor (a linked list of blocks of 31 slots, allocated as values arrive and freed by the last
//! thread to leave them), with the same two changes as the ring.
//!
//! # Indices, blocks and slots (crossbeam's design)
//!
//! Every value gets an index; `LAP` consecutive indices map to one block, the last of which is
//! a sentinel that holds no value (so an index at offset `BLOCK_CAP` means "moving to the next
//! block"). `head` and `tail` are an index shifted left by [`SHIFT`] plus flag bits, and the
//! block that index falls in. A slot's `state` has `WRITE` once its value is written, `READ`
//! once it is read, and `DESTROY` when the block's destruction was handed to the thread still
//! using that slot.
//!
//! - A sender claims `tail` with a CAS; the one that claims a block's last slot installs the
//!   next block (allocated ahead of time) and moves `tail` past the sentinel. It writes the
//!   value and sets `WRITE` (Release).
//! - A receiver claims `head` with a CAS; the one that claims a block's last slot moves `head`
//!   to the next block. It reads the value and sets `READ`; a block is freed once every slot is
//!   read (`Block::destroy`).
//!
//! # Changes from crossbeam
//!
//! 1. Flag bits as in the ring: `CLOSED` and `SLOW` in `tail`, `SLOW` in `head` (crossbeam's
//!    "not the last block" hint in `head` is `HAS_NEXT` here). The one plain store crossbeam
//!    makes to `head` (moving to the next block) is a CAS loop here, so it keeps a `SLOW` bit
//!    set meanwhile by the lock holder.
//! 2. A receiver checks `WRITE` *before* claiming a slot, and reports [`Pop::Busy`] instead of
//!    claiming a slot whose sender is still writing (crossbeam claims it and spins); the caller
//!    retries (an OS thread backing off, an async task yielding), as for the ring.
//! 3. A bound: `push` reports `Full` once `cap` values are buffered (and when a block cannot be
//!    allocated: a send then waits as on a full channel rather than aborting the process). The check reads `head`
//!    and compares it with the very `tail` the CAS then expects, and `head` only grows, so the
//!    bound is exact with any number of concurrent senders.
//!
//! What is left of crossbeam's waiting is the moment a block is left or entered: a thread that
//! finds the index at a sentinel waits (spinning, then yielding) for the thread that claimed
//! the block's last slot to finish moving the counter, a few instructions once per 31 values.
//! The ring has no such window.

use core::mem::MaybeUninit;
use core::ptr;

use spectrum_sync::atomic::{fence, AtomicPtr, AtomicUsize, Ordering::*};
use spectrum_sync::{Backoff, Gap, UnsafeCell};

use super::{Peek, Pop, Push, CLOSED, SHIFT, SLOW};

/// Slot state: the value is written.
const WRITE: usize = 1;
/// Slot state: the value is read.
const READ: usize = 2;
/// Slot state: the reader of this slot must continue destroying the block.
const DESTROY: usize = 4;

/// Indices per block (crossbeam's 32: 31 slots and a sentinel). Under loom, 4 (3 slots), so
/// the models reach block boundaries with a handful of values.
const LAP: usize = if cfg!(loom) { 4 } else { 32 };
/// Values per block.
const BLOCK_CAP: usize = LAP - 1;
/// In `head`: the head block is not the last one (no need to look at `tail`).
const HAS_NEXT: usize = 0b01;
/// One index step in a counter word.
const ONE: usize = 1 << SHIFT;

struct Slot<T> {
    value: UnsafeCell<MaybeUninit<T>>,
    state: AtomicUsize,
}

struct Block<T> {
    next: AtomicPtr<Block<T>>,
    slots: [Slot<T>; BLOCK_CAP],
}

impl<T> Block<T> {
    /// A new, empty block, or `None` if the allocator refuses (the push then reports the
    /// channel full instead of aborting the process). Zeroed memory is a valid empty block
    /// (null `next`, zero states, uninitialized values), which spares a large `T` a trip
    /// through the stack.
    #[cfg(not(loom))]
    fn new() -> Option<*mut Block<T>> {
        let layout = std::alloc::Layout::new::<Block<T>>();
        // SAFETY: the layout is not zero-sized (it holds an `AtomicPtr`).
        let p = unsafe { std::alloc::alloc_zeroed(layout) };
        (!p.is_null()).then(|| p.cast())
    }

    /// A new, empty block (loom's atomics are not plain memory, so build it field by field).
    #[cfg(loom)]
    fn new() -> Option<*mut Block<T>> {
        Some(Box::into_raw(Box::new(Block {
            next: AtomicPtr::new(ptr::null_mut()),
            slots: core::array::from_fn(|_| Slot {
                value: UnsafeCell::new(MaybeUninit::uninit()),
                state: AtomicUsize::new(0),
            }),
        })))
    }

    /// Frees a block made by `new`.
    ///
    /// # Safety
    ///
    /// `this` came from `new`, holds no value that still needs dropping, and nobody uses it.
    unsafe fn free(this: *mut Block<T>) {
        // SAFETY: per the caller; a zeroed allocation of `Block<T>`'s layout is a valid `Box`
        // (every field is valid when zeroed, and dropping `MaybeUninit` values does nothing).
        drop(unsafe { Box::from_raw(this) });
    }

    /// Waits until `next` is set. Only called after seeing `WRITE` on the block's last slot,
    /// and the sender of that slot sets `next` before `WRITE`, so this does not actually wait.
    fn wait_next(&self) -> *mut Block<T> {
        let backoff = Backoff::new();
        loop {
            // Acquire: pairs with the Release store of `next` in `push`.
            let next = self.next.load(Acquire);
            if !next.is_null() {
                return next;
            }
            backoff.snooze();
        }
    }

    /// Sets `DESTROY` in slots `start..` and frees the block if no reader is still in one
    /// (crossbeam's protocol: a reader still in a slot frees it when it leaves).
    ///
    /// # Safety
    ///
    /// `this` is alive, and every slot before `start` has been read.
    unsafe fn destroy(this: *mut Block<T>, start: usize) {
        // The last slot need not be marked: its reader is the one that started destruction.
        for i in start..BLOCK_CAP - 1 {
            // SAFETY: the block is alive until the last reader frees it.
            let slot = unsafe { (*this).slots.get_unchecked(i) };
            // Acquire / AcqRel: pairs with the reader's AcqRel `fetch_or(READ)`; whoever
            // comes second continues the destruction.
            if slot.state.load(Acquire) & READ == 0
                && slot.state.fetch_or(DESTROY, AcqRel) & READ == 0
            {
                return;
            }
        }
        // SAFETY: every slot is read and no thread uses the block any more.
        unsafe { Block::free(this) };
    }
}

/// One end of the list.
struct Position<T> {
    index: AtomicUsize,
    block: AtomicPtr<Block<T>>,
}

/// An unbounded (or large-bound) list of blocks.
///
/// `head` and `tail` each sit between two [`Gap`]s (see `Ring`); `#[repr(C)]` keeps the order.
#[repr(C)]
pub(crate) struct List<T> {
    _gap0: Gap,
    head: Position<T>,
    _gap1: Gap,
    tail: Position<T>,
    _gap2: Gap,
    /// The bound: `usize::MAX` for an unbounded channel.
    cap: usize,
    /// Keeps `cap`, read on every send, off the channel's next field (see `Ring`).
    _gap3: Gap,
}

// SAFETY: as for `Ring`: each value is written by the sender that claimed its index and read
// by the receiver that claimed it afterwards, handed over by the slot's `WRITE` bit.
unsafe impl<T: Send> Send for List<T> {}
// SAFETY: as for `Send`.
unsafe impl<T: Send> Sync for List<T> {}

/// The number of values between two (unshifted) indices, skipping sentinels; crossbeam's
/// `len` arithmetic, which is exact across wrap-around.
fn distance(head: usize, tail: usize) -> usize {
    let fix = |i: usize| {
        if i % LAP == LAP - 1 {
            i.wrapping_add(1)
        } else {
            i
        }
    };
    let (mut head, mut tail) = (fix(head), fix(tail));
    let base = head / LAP * LAP;
    head = head.wrapping_sub(base);
    tail = tail.wrapping_sub(base);
    tail.wrapping_sub(head)
        .wrapping_sub(tail / LAP - head / LAP)
}

impl<T> List<T> {
    pub(crate) fn new(cap: usize) -> List<T> {
        List {
            _gap0: Gap::new(),
            head: Position {
                index: AtomicUsize::new(0),
                block: AtomicPtr::new(ptr::null_mut()),
            },
            _gap1: Gap::new(),
            tail: Position {
                index: AtomicUsize::new(0),
                block: AtomicPtr::new(ptr::null_mut()),
            },
            _gap2: Gap::new(),
            cap,
            _gap3: Gap::new(),
        }
    }

    /// Pushes `value` at the tail; flag bits as for `Ring::push`.
    pub(crate) fn push(&self, value: T, locked: bool) -> Result<(), Push<T>> {
        let backoff = Backoff::new();
        // Acquire: pairs with the Release `fetch_add` past a sentinel, so `block` is current.
        let mut tail = self.tail.index.load(Acquire);
        // Acquire: pairs with the Release stores of `tail.block`: the block is initialized.
        let mut block = self.tail.block.load(Acquire);
        let mut next_block: *mut Block<T> = ptr::null_mut();
        let result = loop {
            let bits = tail & (CLOSED | SLOW);
            if bits != 0 && (!locked || bits & CLOSED != 0) {
                break Err(Push::Slow(value));
            }
            let offset = (tail >> SHIFT) % LAP;
            if offset == BLOCK_CAP {
                // Another sender is installing the next block.
                backoff.snooze();
                // Acquire: as above.
                tail = self.tail.index.load(Acquire);
                // Acquire: as above.
                block = self.tail.block.load(Acquire);
                continue;
            }
            if self.cap != usize::MAX {
                // Acquire: orders nothing we need; `head` only grows, so a stale value only
                // makes the bound stricter for this attempt.
                let head = self.head.index.load(Acquire);
                if distance(head >> SHIFT, tail >> SHIFT) >= self.cap {
                    break Err(Push::Full(value));
                }
            }
            if offset + 1 == BLOCK_CAP && next_block.is_null() {
                // We may be the one to install the next block: allocate before claiming, so
                // the others wait as little as possible.
                match Block::new() {
                    Some(b) => next_block = b,
                    None => break Err(Push::Full(value)),
                }
            }
            if block.is_null() {
                // The first value ever: install the first block.
                let Some(new) = Block::new() else {
                    break Err(Push::Full(value));
                };
                // Release: publishes the initialized block to whoever loads `tail.block`.
                if self
                    .tail
                    .block
                    .compare_exchange(block, new, Release, Relaxed)
                    .is_ok()
                {
                    // Release: as above, for receivers.
                    self.head.block.store(new, Release);
                    block = new;
                } else {
                    // SAFETY: `new` was never shared.
                    unsafe { Block::free(new) };
                    // Acquire: as above.
                    tail = self.tail.index.load(Acquire);
                    // Acquire: as above.
                    block = self.tail.block.load(Acquire);
                    continue;
                }
            }
            let new_tail = tail.wrapping_add(ONE);
            // Relaxed on success: the value is published by the slot's `WRITE` bit, the next
            // block by the Release stores below. Acquire on failure: as the loads above.
            match self
                .tail
                .index
                .compare_exchange_weak(tail, new_tail, Relaxed, Acquire)
            {
                Ok(_) => {
                    // SAFETY: the CAS made index `tail` ours; its block is alive (it is freed
                    // only after all its slots are read, ours included).
                    unsafe {
                        if offset + 1 == BLOCK_CAP {
                            let next = core::mem::replace(&mut next_block, ptr::null_mut());
                            // Release: publishes the initialized next block.
                            self.tail.block.store(next, Release);
                            // Release: pairs with the Acquire loads of `tail.index`.
                            self.tail.index.fetch_add(ONE, Release);
                            // Release: pairs with `wait_next`; set before our `WRITE` below.
                            (*block).next.store(next, Release);
                        }
                        let slot = (*block).slots.get_unchecked(offset);
                        slot.value.with_mut(|p| (*p).as_mut_ptr().write(value));
                        // Release: pairs with the Acquire state loads in `pop` / `peek`.
                        slot.state.fetch_or(WRITE, Release);
                    }
                    break Ok(());
                }
                Err(t) => {
                    tail = t;
                    // Acquire: as above.
                    block = self.tail.block.load(Acquire);
                    backoff.spin();
                }
            }
        };
        if !next_block.is_null() {
            // SAFETY: allocated above and never shared.
            unsafe { Block::free(next_block) };
        }
        result
    }

    /// Pops the value at the head; flag bits and results as for `Ring::pop`.
    pub(crate) fn pop(&self, locked: bool) -> Result<T, Pop> {
        let backoff = Backoff::new();
        // Acquire: pairs with the Release updates of `head` when it moves to the next block.
        let mut head = self.head.index.load(Acquire);
        // Acquire: as above.
        let mut block = self.head.block.load(Acquire);
        loop {
            if head & SLOW != 0 && !locked {
                return Err(Pop::Slow);
            }
            let offset = (head >> SHIFT) % LAP;
            if offset == BLOCK_CAP {
                // Another receiver is moving `head` to the next block.
                backoff.snooze();
                // Acquire: as above.
                head = self.head.index.load(Acquire);
                // Acquire: as above.
                block = self.head.block.load(Acquire);
                continue;
            }
            let mut new_head = head.wrapping_add(ONE);
            if head & HAS_NEXT == 0 {
                // SeqCst: as crossbeam, orders our loads so a tail that moved is seen.
                fence(SeqCst);
                // Relaxed: ordered by the fence.
                let tail = self.tail.index.load(Relaxed);
                if head >> SHIFT == tail >> SHIFT {
                    if !locked && tail & CLOSED != 0 {
                        return Err(Pop::Slow);
                    }
                    return Err(Pop::Empty);
                }
                if (head >> SHIFT) / LAP != (tail >> SHIFT) / LAP {
                    new_head |= HAS_NEXT;
                }
            }
            if block.is_null() {
                // The first block is being installed.
                backoff.snooze();
                // Acquire: as above.
                head = self.head.index.load(Acquire);
                // Acquire: as above.
                block = self.head.block.load(Acquire);
                continue;
            }
            // SAFETY: `block` is the head block, alive while its slots are unread (ours is).
            let slot = unsafe { (*block).slots.get_unchecked(offset) };
            // Acquire: pairs with the Release `fetch_or(WRITE)` in `push`.
            if slot.state.load(Acquire) & WRITE == 0 {
                return Err(Pop::Busy);
            }
            // Relaxed on success: the value was acquired through `WRITE` above. Acquire on
            // failure: as the loads above.
            match self
                .head
                .index
                .compare_exchange_weak(head, new_head, Relaxed, Acquire)
            {
                Ok(_) => {
                    // SAFETY: the CAS made index `head` ours; its value is written (`WRITE`).
                    unsafe {
                        if offset + 1 == BLOCK_CAP {
                            let next = (*block).wait_next();
                            let mut next_index = (new_head & !HAS_NEXT).wrapping_add(ONE);
                            // Relaxed: a hint, checked against `tail` when clear.
                            if !(*next).next.load(Relaxed).is_null() {
                                next_index |= HAS_NEXT;
                            }
                            // Release: pairs with the Acquire loads of `head.block`.
                            self.head.block.store(next, Release);
                            self.set_head_index(next_index);
                        }
                        let value = slot.value.with(|p| (*p).as_ptr().read());
                        // AcqRel (below): Release publishes our read of the value to the thread
                        // that frees the block; Acquire pairs with `destroy`'s
                        // `fetch_or(DESTROY)`, after which we continue the destruction.
                        if offset + 1 == BLOCK_CAP {
                            Block::destroy(block, 0);
                        } else if slot.state.fetch_or(READ, AcqRel) & DESTROY != 0 {
                            Block::destroy(block, offset + 1);
                        }
                        return Ok(value);
                    }
                }
                Err(h) => {
                    head = h;
                    // Acquire: as above.
                    block = self.head.block.load(Acquire);
                    backoff.spin();
                }
            }
        }
    }

    /// Moves `head` past a sentinel, keeping a `SLOW` bit the lock holder may set meanwhile
    /// (nobody else changes `head` while it sits on a sentinel).
    fn set_head_index(&self, index: usize) {
        // Relaxed: re-read in the loop.
        let mut cur = self.head.index.load(Relaxed);
        loop {
            // Release: pairs with the Acquire loads of `head.index` (the block store above).
            match self
                .head
                .index
                .compare_exchange_weak(cur, index | (cur & SLOW), Release, Relaxed)
            {
                Ok(_) => return,
                Err(c) => cur = c,
            }
        }
    }

    /// What a pop would find now (under the lock, for select readiness).
    pub(crate) fn peek(&self) -> Peek {
        let backoff = Backoff::new();
        loop {
            // Acquire: as in `pop`.
            let head = self.head.index.load(Acquire);
            // Acquire: as in `pop`.
            let block = self.head.block.load(Acquire);
            let offset = (head >> SHIFT) % LAP;
            // SeqCst: as in `pop`.
            fence(SeqCst);
            // Relaxed: ordered by the fence.
            let tail = self.tail.index.load(Relaxed);
            if head >> SHIFT == tail >> SHIFT {
                return Peek::Empty;
            }
            if offset == BLOCK_CAP || block.is_null() {
                // Moving to the next block (or installing the first): wait it out as `pop`.
                backoff.snooze();
                continue;
            }
            // SAFETY: as in `pop`.
            let slot = unsafe { (*block).slots.get_unchecked(offset) };
            // Acquire: as in `pop`.
            return if slot.state.load(Acquire) & WRITE != 0 {
                Peek::Ready
            } else {
                Peek::Busy
            };
        }
    }

    /// The number of indices claimed by senders and not by receivers.
    pub(crate) fn len(&self) -> usize {
        loop {
            // SeqCst: a consistent snapshot of both counters, as crossbeam's `len`.
            let tail = self.tail.index.load(SeqCst);
            // SeqCst: as above.
            let head = self.head.index.load(SeqCst);
            // SeqCst: as above.
            if self.tail.index.load(SeqCst) == tail {
                return distance(head >> SHIFT, tail >> SHIFT);
            }
        }
    }

    /// True if nothing is buffered and no sender is still writing.
    pub(crate) fn is_drained(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn set_tail_bits(&self, bits: usize) {
        // Relaxed: as `Ring::set_tail_bits`.
        self.tail.index.fetch_or(bits, Relaxed);
    }

    pub(crate) fn clear_tail_bits(&self, bits: usize) {
        // Relaxed: as `Ring::clear_tail_bits`.
        self.tail.index.fetch_and(!bits, Relaxed);
    }

    pub(crate) fn set_head_bits(&self, bits: usize) {
        // Relaxed: as `Ring::set_head_bits`.
        self.head.index.fetch_or(bits, Relaxed);
    }

    pub(crate) fn clear_head_bits(&self, bits: usize) {
        // Relaxed: as `Ring::clear_head_bits`.
        self.head.index.fetch_and(!bits, Relaxed);
    }
}

impl<T> Drop for List<T> {
    fn drop(&mut self) {
        // Relaxed: `&mut self`, every other handle is gone and every operation finished.
        let mut head = self.head.index.load(Relaxed) >> SHIFT;
        // Relaxed: as above.
        let tail = self.tail.index.load(Relaxed) >> SHIFT;
        // Relaxed: as above.
        let mut block = self.head.block.load(Relaxed);
        // SAFETY: no operation is in flight: the indices between head and tail hold written
        // values, dropped once each; each block is freed once, after its last value.
        unsafe {
            while head != tail {
                let offset = head % LAP;
                if offset < BLOCK_CAP {
                    let slot = (*block).slots.get_unchecked(offset);
                    slot.value.with_mut(|p| (*p).assume_init_drop());
                } else {
                    // Relaxed: as above.
                    let next = (*block).next.load(Relaxed);
                    Block::free(block);
                    block = next;
                }
                head = head.wrapping_add(1);
            }
            if !block.is_null() {
                Block::free(block);
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{List, Pop, Push, BLOCK_CAP};
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;

    /// The bound of `bounded(n)` for `n > RING_LIMIT` holds exactly, across blocks.
    #[test]
    fn bound_is_exact_across_blocks() {
        let cap = 2 * BLOCK_CAP + 3;
        let list = List::new(cap);
        for i in 0..cap {
            assert!(list.push(i, false).is_ok(), "value {i} fits");
        }
        assert!(matches!(list.push(cap, false), Err(Push::Full(_))));
        assert_eq!(list.len(), cap);
        assert_eq!(list.pop(false).ok(), Some(0));
        assert!(list.push(cap, false).is_ok());
        for i in 1..=cap {
            assert_eq!(list.pop(false).ok(), Some(i));
        }
        assert_eq!(list.pop(false).err(), Some(Pop::Empty));
        assert!(list.is_drained());
    }

    /// Values left in the list are dropped with it, once each, blocks and all.
    #[test]
    fn drop_drops_what_is_left() {
        let drops = Arc::new(AtomicUsize::new(0));
        struct D(Arc<AtomicUsize>);
        impl Drop for D {
            fn drop(&mut self) {
                self.0.fetch_add(1, SeqCst);
            }
        }
        let list = List::new(usize::MAX);
        for _ in 0..100 {
            assert!(list.push(D(drops.clone()), false).is_ok());
        }
        for _ in 0..40 {
            drop(list.pop(false).ok());
        }
        assert_eq!(drops.load(SeqCst), 40);
        drop(list);
        assert_eq!(drops.load(SeqCst), 100);
    }

    /// Two producers and two consumers on a small bound: each value arrives exactly once and
    /// the bound is never exceeded.
    #[test]
    fn concurrent_bounded_producers_and_consumers() {
        const CAP: usize = 7;
        const PER: usize = 20_000;
        let list = Arc::new(List::new(CAP));
        let got = Arc::new(AtomicUsize::new(0));
        let sum = Arc::new(AtomicUsize::new(0));
        let mut threads = Vec::new();
        for p in 0..2 {
            let list = list.clone();
            threads.push(std::thread::spawn(move || {
                for i in 0..PER {
                    let mut v = p * PER + i;
                    loop {
                        match list.push(v, false) {
                            Ok(()) => break,
                            Err(Push::Full(x) | Push::Busy(x) | Push::Slow(x)) => {
                                v = x;
                                std::thread::yield_now();
                            }
                        }
                    }
                    assert!(list.len() <= CAP);
                }
            }));
        }
        for _ in 0..2 {
            let (list, got, sum) = (list.clone(), got.clone(), sum.clone());
            threads.push(std::thread::spawn(move || {
                while got.load(SeqCst) < 2 * PER {
                    match list.pop(false) {
                        Ok(v) => {
                            got.fetch_add(1, SeqCst);
                            sum.fetch_add(v, SeqCst);
                        }
                        Err(_) => std::thread::yield_now(),
                    }
                }
            }));
        }
        for t in threads {
            t.join().unwrap();
        }
        let n = 2 * PER;
        assert_eq!(got.load(SeqCst), n);
        assert_eq!(sum.load(SeqCst), n * (n - 1) / 2);
    }
}
