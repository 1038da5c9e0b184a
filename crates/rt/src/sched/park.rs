//! Parking workers: on the I/O + time driver when it is free, on a condition variable otherwise.
//!
//! One worker at a time holds the driver while it parks (a `try_lock`), so I/O and timers are
//! serviced whenever anyone is idle; the rest park on their own condition variable. `state` says
//! where the worker sleeps so that `unpark` knows how to wake it (tokio's `park.rs` scheme):
//!
//! - `EMPTY`: running; an `unpark` leaves `NOTIFIED` for the next `park` to consume.
//! - `PARKED_CONDVAR`: sleeping on `condvar`; `unpark` locks `mutex` (so the sleeper is really
//!   waiting, not between its state change and `wait`) and notifies.
//! - `PARKED_DRIVER`: sleeping in the reactor; `unpark` writes the reactor's wake-up eventfd.
//! - `NOTIFIED`: an unpark is pending.

use std::sync::Arc;
use std::time::Duration;

use spectrum_sync::atomic::{AtomicUsize, Ordering::*};
use spectrum_sync::{Condvar, Mutex};

use super::Shared;

const EMPTY: usize = 0;
const PARKED_CONDVAR: usize = 1;
const PARKED_DRIVER: usize = 2;
const NOTIFIED: usize = 3;

struct Inner {
    state: AtomicUsize,
    mutex: Mutex<()>,
    condvar: Condvar,
}

/// A worker's parking spot (owned by the worker thread).
pub(crate) struct Parker {
    inner: Arc<Inner>,
}

/// Wakes the matching [`Parker`] (held in the worker's shared slot).
#[derive(Clone)]
pub(crate) struct Unparker {
    inner: Arc<Inner>,
}

pub(crate) fn pair() -> (Parker, Unparker) {
    let inner = Arc::new(Inner {
        state: AtomicUsize::new(EMPTY),
        mutex: Mutex::new(()),
        condvar: Condvar::new(),
    });
    (
        Parker {
            inner: inner.clone(),
        },
        Unparker { inner },
    )
}

impl Parker {
    /// Sleeps until unparked (or `timeout`, or for the driver holder an I/O event or timer).
    pub(crate) fn park(&mut self, shared: &Shared, timeout: Option<Duration>) {
        // SeqCst on every state transition: `unpark` and `park` form a store-buffering pattern
        // with the run queues (push work, then read state / write state, then check work).
        if self
            .inner
            .state
            .compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst)
            .is_ok()
        {
            return;
        }
        if let Some(mut driver) = shared.driver_cell.try_lock() {
            if let Err(actual) =
                self.inner
                    .state
                    .compare_exchange(EMPTY, PARKED_DRIVER, SeqCst, SeqCst)
            {
                debug_assert_eq!(actual, NOTIFIED);
                self.inner.state.swap(EMPTY, SeqCst);
                return;
            }
            if let Some(driver) = driver.as_mut() {
                driver.park(shared, timeout);
            }
            match self.inner.state.swap(EMPTY, SeqCst) {
                NOTIFIED | PARKED_DRIVER => {}
                actual => unreachable!("parker in state {actual} after driver park"),
            }
        } else {
            self.park_condvar(timeout);
        }
    }

    fn park_condvar(&self, timeout: Option<Duration>) {
        let mut guard = self.inner.mutex.lock();
        if let Err(actual) =
            self.inner
                .state
                .compare_exchange(EMPTY, PARKED_CONDVAR, SeqCst, SeqCst)
        {
            debug_assert_eq!(actual, NOTIFIED);
            self.inner.state.swap(EMPTY, SeqCst);
            return;
        }
        match timeout {
            Some(t) => {
                drop(self.inner.condvar.wait_timeout(guard, t));
                // Whatever happened (notification or timeout), we are awake.
                self.inner.state.swap(EMPTY, SeqCst);
            }
            None => loop {
                guard = self.inner.condvar.wait(guard);
                if self
                    .inner
                    .state
                    .compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst)
                    .is_ok()
                {
                    return;
                }
                // Spurious wake-up: sleep again.
            },
        }
    }
}

impl Unparker {
    /// Wakes the parker (or makes its next `park` return at once).
    pub(crate) fn unpark(&self, shared: &Shared) {
        match self.inner.state.swap(NOTIFIED, SeqCst) {
            EMPTY | NOTIFIED => {}
            PARKED_CONDVAR => {
                // Lock so the sleeper is inside `wait` (it changed state under this lock).
                drop(self.inner.mutex.lock());
                self.inner.condvar.notify_one();
            }
            PARKED_DRIVER => shared.driver.unpark(),
            actual => unreachable!("parker in state {actual}"),
        }
    }
}

impl std::fmt::Debug for Parker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Relaxed: a debug snapshot.
        f.debug_struct("Parker")
            .field("state", &self.inner.state.load(Relaxed))
            .finish()
    }
}
