//! The per-worker run queue: a bounded single-producer, multi-consumer ring with steal-half.
//!
//! The algorithm is tokio's local queue (itself a descendant of Go's `runq`): 256 slots as in Go
//! and tokio, the owner pushes and pops at its ends without locks, and thieves take half of what
//! is there in one claim.
//!
//! # Layout
//!
//! `head` packs two 32-bit indices: `steal` (where an in-progress steal began) and `real` (the next
//! slot to pop). With no steal in progress `steal == real`. `tail` is the next slot to push and is
//! written only by the owner. Indices grow without bound and wrap; a slot is `index & MASK`.
//!
//! # Invariants
//!
//! - Slots in `[steal, tail)` hold values; the owner never writes a slot in `[steal, real)` while
//!   a thief copies it out (the capacity check counts from `steal`).
//! - At most one steal is in progress (`steal != real` means busy; other thieves back off).
//!
//! # Protocols
//!
//! *Push (owner):* if `tail - steal < CAPACITY`, write the slot and publish `tail` (Release).
//! Otherwise, if no thief is active, claim half the queue by moving both heads forward by
//! `CAPACITY / 2` (one CAS) and hand those values plus the new one to the overflow (the global
//! injector) as one batch; if a thief is active, push just the new value to the overflow.
//!
//! *Pop (owner):* CAS `real` forward by one (keeping `steal` if a steal is active).
//!
//! *Steal (thief into its own queue):* 1. CAS `(s, r) -> (s, r + n)` with `n = ceil(len / 2)`,
//! claiming slots `[r, r + n)` while leaving `steal` at `s` as the busy mark. 2. Copy the values
//! into its own ring. 3. CAS `steal` up to the current `real` (the owner may have popped
//! meanwhile) to release the busy mark. 4. Publish its own `tail`.

use std::fmt;
use std::mem::MaybeUninit;

use spectrum_sync::atomic::{AtomicU32, AtomicU64, Ordering::*};
use spectrum_sync::{Arc, UnsafeCell};

/// Slots per worker: 256 as in Go's `runq` and tokio; 4 under loom so overflow and wrap-around
/// are reachable in small models.
#[cfg(not(loom))]
pub(crate) const CAPACITY: usize = 256;
#[cfg(loom)]
pub(crate) const CAPACITY: usize = 4;

const MASK: u32 = CAPACITY as u32 - 1;

/// Where values go when the ring is full.
pub(crate) trait Overflow<T> {
    /// Takes `batch` (in queue order) in one step.
    fn push_batch(&self, batch: impl Iterator<Item = T>);
}

struct Inner<T> {
    head: AtomicU64,
    tail: AtomicU32,
    buffer: Box<[UnsafeCell<MaybeUninit<T>>]>,
}

// SAFETY: values move between threads through the ring (so `T: Send`); slots are accessed only by
// the owner of the index range the protocol assigns them to.
unsafe impl<T: Send> Send for Inner<T> {}
// SAFETY: as for `Send`.
unsafe impl<T: Send> Sync for Inner<T> {}

/// The owner's end: push and pop. Not `Clone`: there is one owner.
pub(crate) struct Local<T> {
    inner: Arc<Inner<T>>,
}

/// A thief's end.
pub(crate) struct Steal<T>(Arc<Inner<T>>);

impl<T> Clone for Steal<T> {
    fn clone(&self) -> Self {
        Steal(self.0.clone())
    }
}

fn pack(steal: u32, real: u32) -> u64 {
    (u64::from(steal) << 32) | u64::from(real)
}

fn unpack(head: u64) -> (u32, u32) {
    ((head >> 32) as u32, head as u32)
}

/// Creates a queue: the owner's end and a thieves' end.
pub(crate) fn local<T>() -> (Local<T>, Steal<T>) {
    let buffer = (0..CAPACITY)
        .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
        .collect();
    let inner = Arc::new(Inner {
        head: AtomicU64::new(0),
        tail: AtomicU32::new(0),
        buffer,
    });
    (
        Local {
            inner: inner.clone(),
        },
        Steal(inner),
    )
}

impl<T> Inner<T> {
    /// Values currently in the ring (a snapshot).
    fn len(&self) -> u32 {
        // Acquire both: a consistent-enough snapshot for heuristics; exactness is not needed.
        let (_, real) = unpack(self.head.load(Acquire));
        self.tail.load(Acquire).wrapping_sub(real)
    }
}

impl<T> Local<T> {
    /// True if the ring holds at least one value.
    pub(crate) fn has_tasks(&self) -> bool {
        self.inner.len() > 0
    }

    /// Values in the ring.
    pub(crate) fn len(&self) -> usize {
        self.inner.len() as usize
    }

    /// Free slots, counting those an in-progress steal still occupies.
    pub(crate) fn remaining_slots(&self) -> usize {
        // Acquire: pairs with the thieves' Release on `head`, so freed slots are really free.
        let (steal, _) = unpack(self.inner.head.load(Acquire));
        // Relaxed: only the owner (this thread) writes `tail`.
        let tail = self.inner.tail.load(Relaxed);
        CAPACITY - tail.wrapping_sub(steal) as usize
    }

    /// Pushes a batch the caller knows fits (`remaining_slots() >= len`).
    pub(crate) fn push_back_fitting(&mut self, values: impl ExactSizeIterator<Item = T>) {
        let len = values.len();
        debug_assert!(len <= self.remaining_slots());
        // Relaxed: only the owner writes `tail`.
        let mut tail = self.inner.tail.load(Relaxed);
        for value in values {
            self.write(tail, value);
            tail = tail.wrapping_add(1);
        }
        // Release: publishes the slot writes to thieves (pairs with their Acquire of `tail`).
        self.inner.tail.store(tail, Release);
    }

    fn write(&mut self, index: u32, value: T) {
        // SAFETY: `index` is in `[tail, steal + CAPACITY)`: no thief reads it and the owner is
        // the only writer.
        self.inner.buffer[(index & MASK) as usize].with_mut(|p| unsafe { (*p).write(value) });
    }

    /// Pushes to the back; a full ring moves half of itself (plus `value`) to `overflow`.
    pub(crate) fn push_back_or_overflow(&mut self, mut value: T, overflow: &impl Overflow<T>) {
        let tail = loop {
            // Acquire: pairs with the Release CASes on `head` by thieves and by our own pop, so
            // slots freed before this load are really free.
            let head = self.inner.head.load(Acquire);
            let (steal, real) = unpack(head);
            // Relaxed: only the owner writes `tail`.
            let tail = self.inner.tail.load(Relaxed);
            if tail.wrapping_sub(steal) < CAPACITY as u32 {
                break tail;
            } else if steal != real {
                // A thief is copying out half the ring right now; it will free space soon, but
                // we cannot move half ourselves. Send only this value to the overflow.
                overflow.push_batch(std::iter::once(value));
                return;
            } else {
                match self.push_overflow(value, real, tail, overflow) {
                    Ok(()) => return,
                    // A thief claimed values meanwhile: there is room now; retry.
                    Err(v) => value = v,
                }
            }
        };
        self.write(tail, value);
        // Release: publishes the slot write to thieves (pairs with their Acquire of `tail`).
        self.inner.tail.store(tail.wrapping_add(1), Release);
    }

    fn push_overflow(
        &mut self,
        value: T,
        head: u32,
        tail: u32,
        overflow: &impl Overflow<T>,
    ) -> Result<(), T> {
        const HALF: u32 = (CAPACITY / 2) as u32;
        debug_assert_eq!(tail.wrapping_sub(head), CAPACITY as u32);
        let prev = pack(head, head);
        let next = pack(head.wrapping_add(HALF), head.wrapping_add(HALF));
        // AcqRel on success: Acquire sees thieves' completed copies; Release tells thieves the
        // slots are gone. Relaxed on failure: we retry from a fresh Acquire load.
        if self
            .inner
            .head
            .compare_exchange(prev, next, AcqRel, Relaxed)
            .is_err()
        {
            return Err(value);
        }
        let inner = &self.inner;
        let taken = (0..HALF).map(move |i| {
            let index = head.wrapping_add(i);
            // SAFETY: we claimed `[head, head + HALF)` with the CAS; the values were written
            // before `tail` was published and nobody else reads these slots now.
            inner.buffer[(index & MASK) as usize].with(|p| unsafe { (*p).assume_init_read() })
        });
        overflow.push_batch(taken.chain(std::iter::once(value)));
        Ok(())
    }

    /// Pops from the front.
    pub(crate) fn pop(&mut self) -> Option<T> {
        // Acquire: pairs with thieves' Release CASes on `head`.
        let mut head = self.inner.head.load(Acquire);
        let index = loop {
            let (steal, real) = unpack(head);
            // Relaxed: only the owner writes `tail`.
            let tail = self.inner.tail.load(Relaxed);
            if real == tail {
                return None;
            }
            let next_real = real.wrapping_add(1);
            let next = if steal == real {
                pack(next_real, next_real)
            } else {
                debug_assert_ne!(steal, next_real);
                pack(steal, next_real)
            };
            // AcqRel: Release orders our claim before later pushes into the freed slot as seen
            // by thieves; Acquire on failure reloads what a thief published.
            match self
                .inner
                .head
                .compare_exchange(head, next, AcqRel, Acquire)
            {
                Ok(_) => break real,
                Err(actual) => head = actual,
            }
        };
        // SAFETY: the CAS claimed slot `index`; its value was published with `tail`.
        Some(
            self.inner.buffer[(index & MASK) as usize].with(|p| unsafe { (*p).assume_init_read() }),
        )
    }
}

impl<T> Steal<T> {
    /// True if the ring looks empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.len() == 0
    }

    /// Values in the ring (a snapshot).
    pub(crate) fn len(&self) -> usize {
        self.0.len() as usize
    }

    /// Steals half of this ring into `dst` (the thief's own ring) and returns one value to run.
    pub(crate) fn steal_into(&self, dst: &mut Local<T>) -> Option<T> {
        // Relaxed: `dst` is ours; only we write its tail.
        let dst_tail = dst.inner.tail.load(Relaxed);
        // Acquire: pairs with Release CASes of thieves stealing from `dst`.
        let (dst_steal, _) = unpack(dst.inner.head.load(Acquire));
        if dst_tail.wrapping_sub(dst_steal) > (CAPACITY / 2) as u32 {
            // Not enough room for half of another ring: we have work anyway.
            return None;
        }
        let mut n = self.steal_into_inner(dst, dst_tail);
        if n == 0 {
            return None;
        }
        n -= 1;
        let ret_index = dst_tail.wrapping_add(n);
        // SAFETY: we wrote this slot in `steal_into_inner` and have not published it.
        let ret = dst.inner.buffer[(ret_index & MASK) as usize]
            .with(|p| unsafe { (*p).assume_init_read() });
        if n > 0 {
            // Release: publishes the copied slots to thieves of `dst`.
            dst.inner.tail.store(dst_tail.wrapping_add(n), Release);
        }
        Some(ret)
    }

    fn steal_into_inner(&self, dst: &mut Local<T>, dst_tail: u32) -> u32 {
        // Acquire: pairs with the owner's and other thieves' Release CASes on `head`.
        let mut prev = self.0.head.load(Acquire);
        let (first, n) = loop {
            let (steal, real) = unpack(prev);
            if steal != real {
                // Another thief is active.
                return 0;
            }
            // Acquire: pairs with the owner's Release store of `tail`, so the slots up to it hold
            // values.
            let tail = self.0.tail.load(Acquire);
            let len = tail.wrapping_sub(real);
            let n = len - len / 2;
            if n == 0 {
                return 0;
            }
            let next = pack(steal, real.wrapping_add(n));
            // AcqRel: Acquire sees the owner's pops; Release marks the steal in progress.
            match self.0.head.compare_exchange(prev, next, AcqRel, Acquire) {
                Ok(_) => break (real, n),
                Err(actual) => prev = actual,
            }
        };
        debug_assert!(n as usize <= CAPACITY / 2);
        for i in 0..n {
            let src = (first.wrapping_add(i) & MASK) as usize;
            // SAFETY: `[first, first + n)` is claimed by our CAS and the owner will not reuse
            // those slots until `steal` moves past them; the destination slots are beyond `dst`'s
            // published tail, so only we touch them.
            let value = self.0.buffer[src].with(|p| unsafe { (*p).assume_init_read() });
            dst.write(dst_tail.wrapping_add(i), value);
        }
        // Release the busy mark: move `steal` up to the current `real`.
        let mut prev = pack(first, first.wrapping_add(n));
        loop {
            let (_, real) = unpack(prev);
            // AcqRel: Release tells the owner our reads of the slots are done (it may now reuse
            // them); Acquire reloads the owner's pops on failure.
            match self
                .0
                .head
                .compare_exchange(prev, pack(real, real), AcqRel, Acquire)
            {
                Ok(_) => return n,
                Err(actual) => {
                    debug_assert_eq!(unpack(actual).0, first);
                    prev = actual;
                }
            }
        }
    }
}

impl<T> Drop for Local<T> {
    fn drop(&mut self) {
        // A worker drains its queue at shutdown; leftover values are dropped here so none leak.
        while self.pop().is_some() {}
    }
}

impl<T> fmt::Debug for Local<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Local")
            .field("len", &self.inner.len())
            .finish()
    }
}

impl<T> fmt::Debug for Steal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Steal").field("len", &self.0.len()).finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::cell::RefCell;

    struct VecOverflow(RefCell<Vec<u32>>);
    impl Overflow<u32> for VecOverflow {
        fn push_batch(&self, batch: impl Iterator<Item = u32>) {
            self.0.borrow_mut().extend(batch);
        }
    }

    #[test]
    fn fifo_pop_and_overflow_half() {
        let (mut q, _s) = local::<u32>();
        let of = VecOverflow(RefCell::new(Vec::new()));
        for i in 0..CAPACITY as u32 + 1 {
            q.push_back_or_overflow(i, &of);
        }
        // The ring was full at CAPACITY: half of it plus the new value went to the overflow.
        let moved = of.0.borrow().clone();
        assert_eq!(moved.len(), CAPACITY / 2 + 1);
        assert_eq!(moved[0], 0);
        assert_eq!(*moved.last().unwrap(), CAPACITY as u32);
        assert_eq!(q.pop(), Some(CAPACITY as u32 / 2));
        assert_eq!(q.len(), CAPACITY / 2 - 1);
    }

    #[test]
    fn steal_takes_half_and_returns_one() {
        let (mut a, steal_a) = local::<u32>();
        let (mut b, _) = local::<u32>();
        let of = VecOverflow(RefCell::new(Vec::new()));
        for i in 0..10 {
            a.push_back_or_overflow(i, &of);
        }
        let got = steal_a.steal_into(&mut b).unwrap();
        assert_eq!(got, 4);
        assert_eq!(b.len(), 4);
        assert_eq!(a.len(), 5);
        assert_eq!(
            (0..4).map(|_| b.pop().unwrap()).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        assert_eq!(a.pop(), Some(5));
    }
}

/// Model-checked with loom: `RUSTFLAGS="--cfg loom" cargo test -p spectrum-rt --release --lib`.
/// The ring has 4 slots under loom, so wrap-around and overflow happen in tiny models.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use spectrum_sync::{thread, Arc, Mutex};

    #[derive(Default)]
    struct Spill(Mutex<Vec<u32>>);
    impl Overflow<u32> for Spill {
        fn push_batch(&self, batch: impl Iterator<Item = u32>) {
            self.0.lock().extend(batch);
        }
    }

    fn assert_each_once(mut all: Vec<u32>, n: u32) {
        all.sort_unstable();
        assert_eq!(all, (0..n).collect::<Vec<_>>(), "every value exactly once");
    }

    /// The owner pushes and pops while a thief steals: nothing lost, nothing doubled.
    #[test]
    fn push_pop_and_steal() {
        spectrum_sync::model(|| {
            let (mut owner, steal) = local::<u32>();
            let spill = Arc::new(Spill::default());
            let thief = thread::spawn(move || {
                let (mut mine, _) = local::<u32>();
                let mut got = Vec::new();
                if let Some(v) = steal.steal_into(&mut mine) {
                    got.push(v);
                }
                while let Some(v) = mine.pop() {
                    got.push(v);
                }
                got
            });
            let mut got = Vec::new();
            for v in 0..3 {
                owner.push_back_or_overflow(v, &*spill);
            }
            if let Some(v) = owner.pop() {
                got.push(v);
            }
            got.extend(thief.join().unwrap());
            while let Some(v) = owner.pop() {
                got.push(v);
            }
            got.extend(spill.0.lock().drain(..));
            assert_each_once(got, 3);
        });
    }

    /// Pushing past capacity moves half the ring to the overflow, racing a thief.
    #[test]
    fn overflow_while_stealing() {
        spectrum_sync::model(|| {
            let (mut owner, steal) = local::<u32>();
            let spill = Arc::new(Spill::default());
            // Fill the ring first (capacity 4 under loom).
            for v in 0..4 {
                owner.push_back_or_overflow(v, &*spill);
            }
            let thief = thread::spawn(move || {
                let (mut mine, _) = local::<u32>();
                let mut got = Vec::new();
                if let Some(v) = steal.steal_into(&mut mine) {
                    got.push(v);
                }
                while let Some(v) = mine.pop() {
                    got.push(v);
                }
                got
            });
            owner.push_back_or_overflow(4, &*spill);
            owner.push_back_or_overflow(5, &*spill);
            let mut got = thief.join().unwrap();
            while let Some(v) = owner.pop() {
                got.push(v);
            }
            got.extend(spill.0.lock().drain(..));
            assert_each_once(got, 6);
        });
    }

    /// The last value: either the owner pops it or the thief steals it, never both.
    #[test]
    fn pop_races_steal_for_the_last_value() {
        spectrum_sync::model(|| {
            let (mut owner, steal) = local::<u32>();
            let spill = Spill::default();
            owner.push_back_or_overflow(7, &spill);
            let thief = thread::spawn(move || {
                let (mut mine, _) = local::<u32>();
                steal.steal_into(&mut mine)
            });
            let mine = owner.pop();
            let theirs = thief.join().unwrap();
            assert_eq!(mine.is_some() as u8 + theirs.is_some() as u8, 1);
        });
    }

    /// Two thieves at once: one backs off while the other's steal is in progress.
    #[test]
    fn two_thieves() {
        spectrum_sync::model(|| {
            let (mut owner, steal) = local::<u32>();
            let spill = Spill::default();
            for v in 0..4 {
                owner.push_back_or_overflow(v, &spill);
            }
            let thieves: Vec<_> = (0..2)
                .map(|_| {
                    let steal = steal.clone();
                    thread::spawn(move || {
                        let (mut mine, _) = local::<u32>();
                        let mut got = Vec::new();
                        if let Some(v) = steal.steal_into(&mut mine) {
                            got.push(v);
                        }
                        while let Some(v) = mine.pop() {
                            got.push(v);
                        }
                        got
                    })
                })
                .collect();
            let mut got: Vec<u32> = thieves
                .into_iter()
                .flat_map(|t| t.join().unwrap())
                .collect();
            while let Some(v) = owner.pop() {
                got.push(v);
            }
            assert_each_once(got, 4);
        });
    }
}
