//! The runtime's clock: real time, or paused virtual time for tests.

use std::time::{Duration, Instant};

use spectrum_sync::atomic::{AtomicBool, Ordering::*};
use spectrum_sync::Mutex;

/// Converts instants to wheel ticks (milliseconds since the clock's base) and back.
///
/// When paused, `now()` stands still until [`advance`](Clock::advance) moves it, or until the
/// runtime auto-advances it to the next timer because every worker is idle: a test that sleeps
/// for an hour finishes at once, and timers still fire in deadline order.
pub(crate) struct Clock {
    base: Instant,
    paused: AtomicBool,
    virtual_now: Mutex<Instant>,
}

/// The wheel's span: 64^6 ms (about 2.2 years). Deadlines farther than this from the wheel's
/// current time are parked at its end and re-armed by their `Sleep` when they get there.
pub(crate) const WHEEL_SPAN: u64 = 1 << 36;

impl Clock {
    pub(crate) fn new(start_paused: bool) -> Clock {
        let base = Instant::now();
        Clock {
            base,
            paused: AtomicBool::new(start_paused),
            virtual_now: Mutex::new(base),
        }
    }

    pub(crate) fn now(&self) -> Instant {
        // Acquire: pairs with the Release in `pause`, so the virtual time set there is visible.
        if self.paused.load(Acquire) {
            *self.virtual_now.lock()
        } else {
            Instant::now()
        }
    }

    pub(crate) fn is_paused(&self) -> bool {
        // Relaxed: a hint for the driver; `now` does the synchronized read.
        self.paused.load(Relaxed)
    }

    pub(crate) fn pause(&self) {
        let mut now = self.virtual_now.lock();
        if !self.paused.load(Relaxed) {
            *now = Instant::now().max(*now);
            // Release: pairs with the Acquire in `now`.
            self.paused.store(true, Release);
        }
    }

    pub(crate) fn resume(&self) {
        let _now = self.virtual_now.lock();
        // Release: later `now` calls read real time.
        self.paused.store(false, Release);
    }

    /// Moves paused time forward. Returns `false` if the clock is not paused.
    pub(crate) fn advance(&self, by: Duration) -> bool {
        let mut now = self.virtual_now.lock();
        if !self.paused.load(Relaxed) {
            return false;
        }
        *now = now.checked_add(by).unwrap_or(*now);
        true
    }

    /// Moves paused time forward to `to` if it is later.
    pub(crate) fn advance_to(&self, to: Instant) {
        let mut now = self.virtual_now.lock();
        if self.paused.load(Relaxed) && to > *now {
            *now = to;
        }
    }

    /// The tick of `t`, rounded up (a deadline never fires early).
    pub(crate) fn deadline_to_tick(&self, t: Instant) -> u64 {
        let since = t.saturating_duration_since(self.base);
        since
            .as_nanos()
            .div_ceil(1_000_000)
            .min(u128::from(u64::MAX >> 1)) as u64
    }

    /// The tick of now, rounded down.
    pub(crate) fn now_tick(&self) -> u64 {
        self.tick_floor(self.now())
    }

    pub(crate) fn tick_floor(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.base)
            .as_millis()
            .min(u128::from(u64::MAX >> 1)) as u64
    }

    /// The instant of a tick.
    pub(crate) fn tick_to_instant(&self, tick: u64) -> Instant {
        self.base + Duration::from_millis(tick)
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clock")
            .field("paused", &self.is_paused())
            .finish()
    }
}
