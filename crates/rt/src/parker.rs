//! A plain thread's parker for `.wait()`: wakers flip one word and unpark the thread only if it
//! sleeps, so a task waking a thread never takes a lock (a worker must never block on a thread
//! that the OS has preempted), and a wake-up that finds the thread running costs one atomic swap.
//!
//! It used to be a flag under a mutex with a condition variable; a task waking a thread then
//! locked that mutex, and blocked its worker whenever the OS had preempted the thread holding it.
//!
//! States: `EMPTY` (no notification, the thread is not asleep), `PARKED` (asleep or about to
//! be), `NOTIFIED` (a wake-up is pending). Only the owning thread parks; any thread notifies.

use std::sync::Arc;
use std::task::Wake;

use spectrum_sync::atomic::{AtomicU8, Ordering::*};
use spectrum_sync::thread;

const EMPTY: u8 = 0;
const PARKED: u8 = 1;
const NOTIFIED: u8 = 2;

pub(crate) struct ThreadNotify {
    state: AtomicU8,
    thread: thread::Thread,
}

impl ThreadNotify {
    /// A parker for the current thread.
    pub(crate) fn new() -> ThreadNotify {
        ThreadNotify {
            state: AtomicU8::new(EMPTY),
            thread: thread::current(),
        }
    }

    /// Consumes a pending notification, or parks until one arrives. Only the thread that made
    /// this parker calls it.
    pub(crate) fn park(&self) {
        // Acquire (all three exchanges): pairs with the AcqRel swap in `notify`, so what the
        // notifier did before notifying is visible after this returns.
        if self
            .state
            .compare_exchange(NOTIFIED, EMPTY, Acquire, Acquire)
            .is_ok()
        {
            return;
        }
        if self
            .state
            .compare_exchange(EMPTY, PARKED, Acquire, Acquire)
            .is_err()
        {
            // Notified between the two exchanges. A swap, not a store: a plain store could erase
            // a second notification landing now without synchronizing with it (loom found the
            // lost wake-up); the swap reads the latest one and acquires it.
            self.state.swap(EMPTY, Acquire);
            return;
        }
        loop {
            thread::park();
            // A spurious return (or an unpark left over from an earlier round) finds PARKED
            // and sleeps again.
            if self
                .state
                .compare_exchange(NOTIFIED, EMPTY, Acquire, Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }

    /// Makes the next (or current) `park` return.
    pub(crate) fn notify(&self) {
        // AcqRel: Release publishes the notifier's writes to `park`'s Acquire exchanges;
        // Acquire orders this swap after the consumption of an earlier notification.
        if self.state.swap(NOTIFIED, AcqRel) == PARKED {
            self.thread.unpark();
        }
    }
}

impl Wake for ThreadNotify {
    fn wake(self: Arc<Self>) {
        self.notify();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.notify();
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use spectrum_sync::atomic::AtomicUsize;

    /// Every notification sent after a value is written lets `park` return with the value
    /// visible; none is lost whatever the interleaving (a lost one deadlocks, which loom
    /// reports).
    #[test]
    fn loom_parker_never_loses_a_notification() {
        spectrum_sync::model(|| {
            let p = spectrum_sync::Arc::new(ThreadNotify::new());
            let data = spectrum_sync::Arc::new(AtomicUsize::new(0));
            let (p2, d2) = (p.clone(), data.clone());
            let t = thread::spawn(move || {
                d2.store(1, Relaxed);
                p2.notify();
                d2.store(2, Relaxed);
                p2.notify();
            });
            // Park until the last notification's value is seen.
            while data.load(Relaxed) != 2 {
                p.park();
            }
            t.join().unwrap();
        });
    }

    /// Two notifiers racing one parker: it wakes (no deadlock), and a second park after both
    /// does not hang if a notification is still pending or returns after the later one.
    #[test]
    fn loom_parker_two_notifiers() {
        spectrum_sync::model(|| {
            let p = spectrum_sync::Arc::new(ThreadNotify::new());
            let done = spectrum_sync::Arc::new(AtomicUsize::new(0));
            let ts: Vec<_> = (0..2)
                .map(|_| {
                    let (p, done) = (p.clone(), done.clone());
                    thread::spawn(move || {
                        done.fetch_add(1, Relaxed);
                        p.notify();
                    })
                })
                .collect();
            while done.load(Relaxed) < 2 {
                p.park();
            }
            for t in ts {
                t.join().unwrap();
            }
        });
    }
}
