//! `Interval`: ticks at a fixed period, with a policy for missed ticks.

use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::sleep::{deadline_after, Sleep};
use crate::sched;

/// What an [`Interval`] does when ticks were missed (the consumer was busy past one or more
/// deadlines).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MissedTickBehavior {
    /// Fire the missed ticks back to back until caught up (the default, as tokio).
    #[default]
    Burst,
    /// Start the period over from the late tick: the schedule shifts.
    Delay,
    /// Skip missed ticks and fire at the next multiple of the period on the original schedule.
    Skip,
}

/// Ticks can be this late before they count as missed (timers have 1 ms resolution).
const LATENESS_TOLERANCE: Duration = Duration::from_millis(5);

impl MissedTickBehavior {
    fn next(self, deadline: Instant, now: Instant, period: Duration) -> Instant {
        match self {
            MissedTickBehavior::Burst => deadline + period,
            MissedTickBehavior::Delay => deadline_after(now, period),
            MissedTickBehavior::Skip => {
                let behind = now.saturating_duration_since(deadline).as_nanos();
                let period_ns = period.as_nanos().max(1);
                let into = Duration::from_nanos((behind % period_ns) as u64);
                deadline_after(now, period.saturating_sub(into))
            }
        }
    }
}

/// Ticks every `period`, starting now (the first tick completes at once).
///
/// ```
/// # spectrum_rt::Runtime::new().unwrap().block_on(async {
/// use std::time::Duration;
/// let mut every = spectrum_rt::time::interval(Duration::from_millis(10));
/// let first = every.tick().await;
/// let second = every.tick().await;
/// assert!(second - first >= Duration::from_millis(10));
/// # });
/// ```
///
/// # Panics
///
/// If `period` is zero (a zero period would spin), or outside a Spectrum runtime.
#[track_caller]
pub fn interval(period: Duration) -> Interval {
    let rt = sched::current_rt_or_panic("interval");
    let now = sched::with_shared(&rt, |s| s.driver.time.clock.now()).unwrap_or_else(Instant::now);
    interval_at(now, period)
}

/// Ticks every `period`, the first tick at `start`.
///
/// # Panics
///
/// If `period` is zero, or outside a Spectrum runtime.
#[track_caller]
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(!period.is_zero(), "`interval` period must be non-zero");
    let rt = sched::current_rt_or_panic("interval_at");
    Interval {
        sleep: Box::pin({
            let now =
                sched::with_shared(&rt, |s| s.driver.time.clock.now()).unwrap_or_else(Instant::now);
            Sleep::new(rt, start, now)
        }),
        period,
        missed: MissedTickBehavior::Burst,
    }
}

/// A stream of ticks; see [`interval`].
pub struct Interval {
    sleep: Pin<Box<Sleep>>,
    period: Duration,
    missed: MissedTickBehavior,
}

impl Interval {
    /// Waits for the next tick and returns its scheduled instant.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a dropped `tick()` consumes no tick.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        std::task::ready!(self.sleep.as_mut().poll_elapsed(cx));
        let deadline = self.sleep.deadline();
        let now = sched::with_shared(&current_rt(&self.sleep), |s| s.driver.time.clock.now())
            .unwrap_or_else(Instant::now);
        let next = if now > deadline + LATENESS_TOLERANCE {
            self.missed.next(deadline, now, self.period)
        } else {
            deadline + self.period
        };
        self.sleep.as_mut().reset_at(next, now);
        Poll::Ready(deadline)
    }

    /// Starts over: the next tick is one period from now.
    pub fn reset(&mut self) {
        let now = sched::with_shared(&current_rt(&self.sleep), |s| s.driver.time.clock.now())
            .unwrap_or_else(Instant::now);
        self.sleep.as_mut().reset(deadline_after(now, self.period));
    }

    /// The missed-tick policy.
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed
    }

    /// Sets the missed-tick policy.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed = behavior;
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }
}

fn current_rt(sleep: &Sleep) -> sched::RtRef {
    sleep.rt_ref()
}

impl fmt::Debug for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interval")
            .field("period", &self.period)
            .field("missed", &self.missed)
            .field("next", &self.sleep.deadline())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn missed_tick_policies() {
        let t0 = Instant::now();
        let p = Duration::from_millis(10);
        let now = t0 + Duration::from_millis(35);
        assert_eq!(MissedTickBehavior::Burst.next(t0, now, p), t0 + p);
        assert_eq!(MissedTickBehavior::Delay.next(t0, now, p), now + p);
        // 35 ms late on a 10 ms period: the original schedule's next point is t0 + 40 ms.
        assert_eq!(
            MissedTickBehavior::Skip.next(t0, now, p),
            t0 + Duration::from_millis(40)
        );
    }
}
