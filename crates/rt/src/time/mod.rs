//! Time: sleeps, timeouts and intervals on a hierarchical timer wheel, with a pausable clock.
//!
//! Timers live in a 6-level, 64-slot wheel at 1 ms resolution ([`wheel`](self) module docs).
//! Registering, cancelling and firing a timer are O(1); a timer's registration lives inside its
//! [`Sleep`], so dropping the sleep frees it. The wheel is driven by whichever worker parks on the
//! runtime's driver, and by busy workers every 61 ticks.
//!
//! For tests, the clock can be paused ([`pause`], or `#[spectrum::test(start_paused = true)]`):
//! time then stands still except when [`advance`] moves it, or when every worker is idle and the
//! runtime jumps straight to the next timer, so time-based tests are instant and deterministic.

mod clock;
pub(crate) mod driver;
mod entry;
mod interval;
mod sleep;
mod timeout;
mod wheel;

pub use interval::{interval, interval_at, Interval, MissedTickBehavior};
pub use sleep::{sleep, sleep_until, Sleep};
pub use std::time::{Duration, Instant};
pub use timeout::{timeout, timeout_at, Elapsed, Timeout};

use crate::sched;

/// The current time on the runtime's clock (virtual time when the clock is paused).
///
/// # Panics
///
/// Outside a Spectrum runtime.
#[track_caller]
pub fn now() -> Instant {
    let rt = sched::current_rt_or_panic("time::now");
    sched::with_shared(&rt, |s| s.driver.time.clock.now()).unwrap_or_else(Instant::now)
}

/// Pauses the runtime's clock.
///
/// # Panics
///
/// Outside a Spectrum runtime.
#[track_caller]
pub fn pause() {
    let rt = sched::current_rt_or_panic("time::pause");
    sched::with_shared(&rt, |s| s.driver.time.clock.pause());
}

/// Resumes real time.
///
/// # Panics
///
/// Outside a Spectrum runtime.
#[track_caller]
pub fn resume() {
    let rt = sched::current_rt_or_panic("time::resume");
    sched::with_shared(&rt, |s| s.driver.time.clock.resume());
}

/// Moves the paused clock forward by `by`, fires the timers that became due, and yields so the
/// tasks they woke can run.
///
/// # Panics
///
/// If the clock is not paused, or outside a Spectrum runtime.
#[track_caller]
pub fn advance(by: Duration) -> impl std::future::Future<Output = ()> {
    let rt = sched::current_rt_or_panic("time::advance");
    let advanced = sched::with_shared(&rt, |s| {
        let ok = s.driver.time.clock.advance(by);
        if ok {
            s.driver.time.process();
        }
        ok
    });
    assert!(
        advanced != Some(false),
        "time::advance requires a paused clock"
    );
    crate::task::yield_now()
}

/// The entered runtime's clock, or real time without one.
pub(crate) fn clock_now() -> Instant {
    sched::with_current(|s| s.map(|s| s.driver.time.clock.now())).unwrap_or_else(Instant::now)
}

/// `duration` from now on the entered runtime's clock, clamped like `sleep`.
pub(crate) fn sleep_deadline_after(duration: Duration) -> Instant {
    sleep::deadline_after(clock_now(), duration)
}

/// The runtime's clock if a runtime is entered on this thread (virtual time when paused), without
/// panicking outside one.
///
/// ```
/// assert!(spectrum_rt::time::try_now().is_none());
/// let rt = spectrum_rt::Runtime::new().unwrap();
/// let _g = rt.enter();
/// assert!(spectrum_rt::time::try_now().is_some());
/// ```
pub fn try_now() -> Option<Instant> {
    sched::with_current(|s| s.map(|s| s.driver.time.clock.now()))
}

/// True if a runtime is entered on this thread and its clock is paused. Policies that keep their
/// own fast clock use it to switch to the runtime's (virtual) clock in tests.
pub fn is_paused() -> bool {
    sched::with_current(|s| s.is_some_and(|s| s.driver.time.clock.is_paused()))
}
