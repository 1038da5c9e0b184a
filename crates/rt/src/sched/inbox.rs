//! A worker's inbox: pinned tasks woken or spawned from other threads, which only that worker
//! may run.
//!
//! A mutex-guarded list plus a count that the worker reads without the lock on every scheduling
//! decision (`next_task`, `has_local_work`, the paused clock's `can_auto_advance`). The count is
//! written only under the lock, by the pusher and by the worker taking the list, so it is never
//! behind the list: a worker that zeroed it after releasing the lock once erased the count of a
//! task pushed in between, and that task sat in the inbox unseen (loom model below).

use spectrum_sync::atomic::{AtomicUsize, Ordering::*};
use spectrum_sync::Mutex;

pub(crate) struct Inbox<T> {
    list: Mutex<Vec<T>>,
    /// `list.len()`, readable without the lock; written only under it.
    len: AtomicUsize,
}

impl<T> Inbox<T> {
    pub(crate) fn new() -> Inbox<T> {
        Inbox {
            list: Mutex::new(Vec::new()),
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
        list.push(item);
        // Release: pairs with the Acquire load in `is_empty`, so a worker that sees the count
        // takes the list with the item in it (under the lock, which orders the rest).
        self.len.store(list.len(), Release);
        Ok(())
    }

    /// True if nothing waits (a hint without the lock; exact once pushers are done).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        // Acquire: pairs with the Release store in `push_unless`.
        self.len.load(Acquire) == 0
    }

    /// Moves everything that waits into `into`, which must be empty (nothing, without locking,
    /// when the count says so). The two vectors trade places: the inbox keeps `into`'s buffer
    /// for the next pushes, so a steady flow allocates nothing. Handing the pusher's buffer to
    /// the worker to free instead cost a `malloc` on the pushing thread and a `free` of that
    /// block on the worker's, in the pusher's allocator arena, whose lock the two threads then
    /// fought over (glibc's futex wake showed in a profile of fibers spawned across workers).
    #[inline]
    pub(crate) fn take_into(&self, into: &mut Vec<T>) {
        debug_assert!(into.is_empty());
        if self.is_empty() {
            return;
        }
        let mut list = self.list.lock();
        // Relaxed: under the lock, like every write of the count (module docs).
        self.len.store(0, Relaxed);
        core::mem::swap(&mut *list, into);
    }

    /// Takes everything under the lock after running `then` there (the worker's exit marks
    /// itself stopped inside, so a late push is either taken here or refused).
    pub(crate) fn take_locked(&self, then: impl FnOnce()) -> Vec<T> {
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
            let mut got = Vec::new();
            inbox.take_into(&mut got);
            pusher.join().unwrap();
            let mut rest = Vec::new();
            inbox.take_into(&mut rest);
            got.extend(rest);
            got.sort_unstable();
            assert_eq!(got, [1, 2], "an item was stranded in the inbox");
            assert!(inbox.is_empty());
        });
    }
}
