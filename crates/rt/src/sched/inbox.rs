//! A worker's inbox: pinned tasks woken from other threads, which only that worker may run; and,
//! in a second instance, its queue of pinned tasks spawned for it that have not started yet,
//! which an idle worker may steal a share of ([`Inbox::steal_share`]).
//!
//! A mutex-guarded list plus a count that the worker reads without the lock on every scheduling
//! decision (`next_task`, `has_local_work`, the paused clock's `can_auto_advance`). The count is
//! written only under the lock, by the pusher and by the worker taking the list, so it is never
//! behind the list: a worker that zeroed it after releasing the lock once erased the count of a
//! task pushed in between, and that task sat in the inbox unseen (loom model below).

use std::collections::VecDeque;

use spectrum_sync::atomic::{AtomicUsize, Ordering::*};
use spectrum_sync::Mutex;

pub(crate) struct Inbox<T> {
    list: Mutex<VecDeque<T>>,
    /// `list.len()`, readable without the lock; written only under it.
    len: AtomicUsize,
}

impl<T> Inbox<T> {
    pub(crate) fn new() -> Inbox<T> {
        Inbox {
            list: Mutex::new(VecDeque::new()),
            len: AtomicUsize::new(0),
        }
    }

    /// Pushes `item`, unless `refuse` (asked under the lock) says nobody will take it any more:
    /// then `item` comes back.
    pub(crate) fn push_unless(&self, item: T, refuse: impl FnOnce() -> bool) -> Result<(), T> {
        let mut list = self.list.lock();
        if refuse() {
            return Err(item);
        }
        list.push_back(item);
        // Release: pairs with the Acquire load in `is_empty`, so a worker that sees the count
        // takes the list with the item in it (under the lock, which orders the rest).
        self.len.store(list.len(), Release);
        Ok(())
    }

    /// True if nothing waits (a hint without the lock; exact once pushers are done).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Moves everything that waits into `into`, which must be empty (nothing, without locking,
    /// when the count says so). The two vectors trade places: the inbox keeps `into`'s buffer
    /// for the next pushes, so a steady flow allocates nothing. Handing the pusher's buffer to
    /// the worker to free instead cost a `malloc` on the pushing thread and a `free` of that
    /// block on the worker's, in the pusher's allocator arena, whose lock the two threads then
    /// fought over (glibc's futex wake showed in a profile of fibers spawned across workers).
    #[inline]
    pub(crate) fn take_into(&self, into: &mut VecDeque<T>) {
        debug_assert!(into.is_empty());
        if self.is_empty() {
            return;
        }
        let mut list = self.list.lock();
        // Relaxed: under the lock, like every write of the count (module docs).
        self.len.store(0, Relaxed);
        core::mem::swap(&mut *list, into);
    }

    /// How many wait (a hint without the lock; exact once pushers are done).
    #[inline]
    pub(crate) fn len(&self) -> usize {
        // Acquire: pairs with the Release store in `push_unless`, so a worker that sees the
        // count takes the list with the item in it (under the lock, which orders the rest).
        self.len.load(Acquire)
    }

    /// Moves the oldest `1 / parts` of what waits, rounded up, at most `max`, into `into`, if at
    /// least `min` wait. Returns how many moved.
    pub(crate) fn steal_share(
        &self,
        into: &mut Vec<T>,
        parts: usize,
        min: usize,
        max: usize,
    ) -> usize {
        if self.len() < min.max(1) {
            return 0;
        }
        let mut list = self.list.lock();
        if list.len() < min {
            return 0;
        }
        let n = list.len().div_ceil(parts.max(1)).min(max);
        into.extend(list.drain(..n));
        // Relaxed: under the lock, like every write of the count (module docs).
        self.len.store(list.len(), Relaxed);
        n
    }

    /// Takes everything under the lock after running `then` there (the worker's exit marks
    /// itself stopped inside, so a late push is either taken here or refused).
    pub(crate) fn take_locked(&self, then: impl FnOnce()) -> VecDeque<T> {
        let mut list = self.list.lock();
        then();
        // Relaxed: under the lock, like every write of the count (module docs).
        self.len.store(0, Relaxed);
        core::mem::take(&mut *list)
    }
}

/// Model-checked with loom: `RUSTFLAGS="--cfg loom" cargo test -p spectrum-rt --release --lib`.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use spectrum_sync::{thread, Arc};

    /// Items pushed while the worker takes the inbox are never stranded: once the pusher is
    /// done, whatever the first take left is visible through the count and taken by the next.
    #[test]
    fn loom_inbox_take_racing_pushes_strands_nothing() {
        spectrum_sync::model(|| {
            let inbox = Arc::new(Inbox::new());
            let pusher = {
                let inbox = inbox.clone();
                thread::spawn(move || {
                    inbox.push_unless(1, || false).unwrap();
                    inbox.push_unless(2, || false).unwrap();
                })
            };
            let mut got = VecDeque::new();
            inbox.take_into(&mut got);
            pusher.join().unwrap();
            let mut rest = VecDeque::new();
            inbox.take_into(&mut rest);
            got.extend(rest);
            got.make_contiguous().sort_unstable();
            assert_eq!(got, [1, 2], "an item was stranded in the inbox");
            assert!(inbox.is_empty());
        });
    }

    /// A thief stealing while the owner pushes and takes: every item ends up with exactly one
    /// of them.
    #[test]
    fn loom_inbox_steal_share_races_push_and_take() {
        spectrum_sync::model(|| {
            let inbox = Arc::new(Inbox::new());
            inbox.push_unless(1, || false).unwrap();
            let thief = {
                let inbox = inbox.clone();
                thread::spawn(move || {
                    let mut got = Vec::new();
                    inbox.steal_share(&mut got, 2, 1, 8);
                    got
                })
            };
            inbox.push_unless(2, || false).unwrap();
            let mut mine = VecDeque::new();
            inbox.take_into(&mut mine);
            let mut all: Vec<i32> = thief.join().unwrap();
            all.extend(mine);
            let mut rest = VecDeque::new();
            inbox.take_into(&mut rest);
            all.extend(rest);
            all.sort_unstable();
            assert_eq!(all, [1, 2], "an item was lost or taken twice");
        });
    }
}
