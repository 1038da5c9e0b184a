//! The time driver: the wheel behind a lock, the clock, and expiry.

use std::ptr::NonNull;
use std::task::Waker;

use spectrum_sync::atomic::{AtomicU64, Ordering::*};
use spectrum_sync::Mutex;

use super::clock::Clock;
use super::entry::{TimerEntry, FIRED, IDLE, REGISTERED};
use super::wheel::{Insert, Wheel};

/// Wakers collected under the lock and woken after it, in batches of this size (so waking never
/// happens with the wheel locked and the stack buffer stays small).
const WAKE_BATCH: usize = 32;

pub(crate) struct TimeHandle {
    wheel: Mutex<Wheel>,
    pub(crate) clock: Clock,
    /// The tick the parked driver will wake at (`u64::MAX`: none). A timer registered earlier
    /// than this must wake the driver.
    next_wake: AtomicU64,
    is_shutdown: std::sync::atomic::AtomicBool,
}

/// Outcome of [`TimeHandle::register`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Registered {
    /// The deadline has passed already (or the runtime is shutting down): treat as fired.
    pub(crate) expired: bool,
    /// Linked at the wheel's far end, before the deadline: re-arm when it fires.
    pub(crate) clamped: bool,
    /// Earlier than the parked driver's planned wake-up: the caller must unpark the driver.
    pub(crate) unpark: bool,
}

impl TimeHandle {
    pub(crate) fn new(start_paused: bool) -> TimeHandle {
        TimeHandle {
            wheel: Mutex::new(Wheel::new()),
            clock: Clock::new(start_paused),
            next_wake: AtomicU64::new(u64::MAX),
            is_shutdown: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Links `entry` (or moves it, if registered) to fire at tick `when`.
    ///
    /// # Safety
    /// `entry` must be pinned and stay alive until it fires or is deregistered.
    pub(crate) unsafe fn register(&self, entry: NonNull<TimerEntry>, when: u64) -> Registered {
        let mut wheel = self.wheel.lock();
        // SAFETY: pinned and alive (caller); we hold the lock.
        let e = unsafe { entry.as_ref() };
        match e.state() {
            // SAFETY: registered entries are linked in this wheel.
            REGISTERED => unsafe { wheel.remove(entry) },
            FIRED => e.set_state(IDLE),
            _ => {}
        }
        // Relaxed: written under the lock at shutdown; read under the lock here.
        let expired = Registered {
            expired: true,
            clamped: false,
            unpark: false,
        };
        if self.is_shutdown.load(Relaxed) {
            e.set_state(FIRED);
            return expired;
        }
        // SAFETY: unlinked now; the caller keeps it alive and pinned.
        let clamped = match unsafe { wheel.insert(entry, when) } {
            Insert::Elapsed => {
                e.set_state(FIRED);
                return expired;
            }
            Insert::Linked => false,
            Insert::Clamped => true,
        };
        e.set_state(REGISTERED);
        // Relaxed: both sides of `next_wake` run under the wheel lock.
        let unpark = when < self.next_wake.load(Relaxed);
        if unpark {
            self.next_wake.store(when, Relaxed);
        }
        Registered {
            expired: false,
            clamped,
            unpark,
        }
    }

    /// Unlinks `entry` if it is still registered.
    ///
    /// # Safety
    /// `entry` must be alive.
    pub(crate) unsafe fn deregister(&self, entry: NonNull<TimerEntry>) {
        // SAFETY: alive (caller).
        let e = unsafe { entry.as_ref() };
        if e.state() != REGISTERED {
            return;
        }
        let mut wheel = self.wheel.lock();
        if e.state() == REGISTERED {
            // SAFETY: REGISTERED under the lock means linked in this wheel.
            unsafe { wheel.remove(entry) };
            e.set_state(IDLE);
        }
    }

    /// The next tick a timer expires at, recorded as the driver's planned wake-up.
    pub(crate) fn next_expiration_for_park(&self) -> Option<u64> {
        let wheel = self.wheel.lock();
        let next = wheel.next_expiration_tick();
        // Relaxed: under the lock (see `register`).
        self.next_wake.store(next.unwrap_or(u64::MAX), Relaxed);
        next
    }

    /// The driver woke: clear the planned wake-up so new timers do not unpark it needlessly...
    /// until it parks again.
    pub(crate) fn unparked(&self) {
        // Relaxed: a hint; `register` compares under the lock and at worst unparks once more.
        self.next_wake.store(0, Relaxed);
    }

    /// Fires every timer due at `now`. Returns how many fired.
    pub(crate) fn process_at(&self, now: u64) -> usize {
        let mut fired = 0;
        let mut wakers: [Option<Waker>; WAKE_BATCH] = std::array::from_fn(|_| None);
        loop {
            let mut n = 0;
            let mut more = false;
            {
                let mut wheel = self.wheel.lock();
                while let Some(entry) = wheel.poll(now) {
                    // SAFETY: entries returned by the wheel are alive: their owners deregister
                    // (under this lock) before dropping them.
                    let e = unsafe { entry.as_ref() };
                    // Take the waker under the lock: once FIRED is visible the owner may free
                    // the entry without locking (entry module protocol).
                    let w = e.waker.take();
                    e.set_state(FIRED);
                    fired += 1;
                    if let Some(w) = w {
                        wakers[n] = Some(w);
                        n += 1;
                        if n == WAKE_BATCH {
                            more = true;
                            break;
                        }
                    }
                }
            }
            for w in wakers.iter_mut().take(n) {
                w.take().expect("collected waker").wake();
            }
            if !more {
                return fired;
            }
        }
    }

    /// Fires every timer whose deadline has passed on the runtime clock.
    pub(crate) fn process(&self) -> usize {
        self.process_at(self.clock.now_tick())
    }

    /// Shutdown: fire every timer (their sleeps complete at once) and refuse new ones.
    pub(crate) fn shutdown(&self) {
        let mut wakers = Vec::new();
        {
            let mut wheel = self.wheel.lock();
            // Relaxed: read under the lock.
            self.is_shutdown.store(true, Relaxed);
            while let Some(entry) = wheel.drain() {
                // SAFETY: as in `process_at`.
                let e = unsafe { entry.as_ref() };
                wakers.extend(e.waker.take());
                e.set_state(FIRED);
            }
        }
        wakers.into_iter().for_each(Waker::wake);
    }
}

impl std::fmt::Debug for TimeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimeHandle")
            .field("clock", &self.clock)
            .finish()
    }
}
