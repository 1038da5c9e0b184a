//! Which workers are parked, which are searching for work, and whom to wake.
//!
//! The scheme is Go's "spinning M" rule as tokio adopted it: a worker that runs out of local work
//! becomes *searching* (it tries to steal) and at most half of the workers search at once, so
//! stealing does not turn into a thundering herd. Whoever makes work available wakes a parked
//! worker only if nobody is searching (a searching worker will find the work). When a searching
//! worker finds work and it was the last searcher, it wakes another worker, so parallelism ramps
//! up one worker at a time instead of all at once.
//!
//! `state` packs `unparked << 16 | searching`; `sleepers` lists parked workers.

use spectrum_sync::atomic::{AtomicUsize, Ordering::*};
use spectrum_sync::Mutex;

const UNPARK_SHIFT: usize = 16;
const SEARCH_MASK: usize = (1 << UNPARK_SHIFT) - 1;

pub(crate) struct Idle {
    state: AtomicUsize,
    sleepers: Mutex<Vec<usize>>,
    num_workers: usize,
}

impl Idle {
    pub(crate) fn new(num_workers: usize) -> Idle {
        Idle {
            state: AtomicUsize::new(num_workers << UNPARK_SHIFT),
            sleepers: Mutex::new(Vec::with_capacity(num_workers)),
            num_workers,
        }
    }

    fn load(&self) -> (usize, usize) {
        // SeqCst: this load must not be reordered before the caller's preceding push of work
        // (a store to a queue). With acquire/release alone, a pusher and a parker could each miss
        // the other's write (the store-buffering pattern): the pusher sees "someone is
        // searching", the searcher sees "no work", and the work sits until the next wake-up.
        let s = self.state.load(SeqCst);
        (s >> UNPARK_SHIFT, s & SEARCH_MASK)
    }

    /// Work was made available: returns a parked worker to wake, already counted as unparked and
    /// searching, or `None` if someone is searching or nobody is parked.
    pub(crate) fn worker_to_notify(&self) -> Option<usize> {
        if !self.should_notify() {
            return None;
        }
        let mut sleepers = self.sleepers.lock();
        if !self.should_notify() {
            return None;
        }
        // SeqCst: see `load`.
        self.state.fetch_add((1 << UNPARK_SHIFT) | 1, SeqCst);
        sleepers.pop()
    }

    fn should_notify(&self) -> bool {
        let (unparked, searching) = self.load();
        searching == 0 && unparked < self.num_workers
    }

    /// A worker is about to park. It must then look for work once more before sleeping (the
    /// scheduler's `notify_if_work_pending`): work may have been made available while it still
    /// counted as unparked, and whoever did so then found no parked worker to wake.
    pub(crate) fn transition_worker_to_parked(&self, worker: usize, is_searching: bool) {
        let mut sleepers = self.sleepers.lock();
        let dec = (1 << UNPARK_SHIFT) | usize::from(is_searching);
        // SeqCst: see `load`; pairs with the SeqCst load in `worker_to_notify` of whoever makes
        // work available, so one of the two sees the other.
        self.state.fetch_sub(dec, SeqCst);
        sleepers.push(worker);
    }

    /// A worker with no work wants to steal. Refused when half the workers already search.
    pub(crate) fn transition_worker_to_searching(&self) -> bool {
        let (_, searching) = self.load();
        if 2 * searching >= self.num_workers {
            return false;
        }
        // SeqCst: see `load`.
        self.state.fetch_add(1, SeqCst);
        true
    }

    /// A searching worker found work. Returns `true` if it was the last searcher: it should wake
    /// another worker to keep searching.
    pub(crate) fn transition_worker_from_searching(&self) -> bool {
        // SeqCst: see `load`.
        let prev = self.state.fetch_sub(1, SeqCst);
        prev & SEARCH_MASK == 1
    }

    /// A worker woke up. If it is still in the sleepers list, the wake-up was not a notification
    /// (a timeout, the I/O driver, a spurious wake): remove it and count it unparked, not
    /// searching. Returns `true` if it had been notified (and so is counted as searching).
    pub(crate) fn transition_worker_from_parked(&self, worker: usize) -> bool {
        let mut sleepers = self.sleepers.lock();
        if let Some(i) = sleepers.iter().position(|&w| w == worker) {
            sleepers.swap_remove(i);
            // SeqCst: see `load`.
            self.state.fetch_add(1 << UNPARK_SHIFT, SeqCst);
            false
        } else {
            true
        }
    }

    /// True if `worker` is in the sleepers list.
    pub(crate) fn is_parked(&self, worker: usize) -> bool {
        self.sleepers.lock().contains(&worker)
    }

    /// True if some worker is parked (one atomic load, no lock).
    pub(crate) fn any_parked(&self) -> bool {
        self.load().0 < self.num_workers
    }

    /// Workers not parked.
    pub(crate) fn num_unparked(&self) -> usize {
        self.load().0
    }
}

impl std::fmt::Debug for Idle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (unparked, searching) = self.load();
        f.debug_struct("Idle")
            .field("unparked", &unparked)
            .field("searching", &searching)
            .finish()
    }
}
