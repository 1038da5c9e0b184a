//! `Sleep`: a future that completes at a deadline.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::entry::{TimerEntry, FIRED, REGISTERED};
use crate::sched::{self, RtRef};

/// The longest sleep: deadlines past about 30 years from now are clamped here (the wheel itself
/// fires anything beyond ~2.2 years at its end, re-arming as needed).
pub(crate) const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// Waits until `duration` has elapsed.
///
/// The timer has millisecond resolution and never fires early. `Duration::ZERO` completes on the
/// first poll; an absurdly long duration (even `Duration::MAX`) is clamped to about 30 years
/// instead of overflowing.
///
/// ```
/// # spectrum_rt::Runtime::new().unwrap().block_on(async {
/// use std::time::{Duration, Instant};
/// let start = Instant::now();
/// spectrum_rt::time::sleep(Duration::from_millis(20)).await;
/// assert!(start.elapsed() >= Duration::from_millis(20));
/// # });
/// ```
///
/// # Panics
///
/// Outside a Spectrum runtime (no runtime to keep time).
///
/// # Cancel safety
///
/// Dropping a `Sleep` unlinks its timer in O(1); nothing is lost.
#[track_caller]
pub fn sleep(duration: Duration) -> Sleep {
    let rt = sched::current_rt_or_panic("sleep");
    let now = sched::with_shared(&rt, |s| s.driver.time.clock.now()).unwrap_or_else(Instant::now);
    Sleep::new(rt, deadline_after(now, duration), now)
}

/// Waits until `deadline`. A deadline in the past completes on the first poll.
///
/// # Panics
///
/// Outside a Spectrum runtime.
#[track_caller]
pub fn sleep_until(deadline: Instant) -> Sleep {
    let rt = sched::current_rt_or_panic("sleep_until");
    let now = sched::with_shared(&rt, |s| s.driver.time.clock.now()).unwrap_or_else(Instant::now);
    Sleep::new(rt, deadline, now)
}

pub(crate) fn deadline_after(now: Instant, duration: Duration) -> Instant {
    now.checked_add(duration.min(FAR_FUTURE)).unwrap_or(now)
}

/// Future returned by [`sleep`] and [`sleep_until`].
#[must_use = "futures do nothing unless polled"]
pub struct Sleep {
    rt: RtRef,
    deadline: Instant,
    registered: bool,
    /// The deadline lies beyond the wheel's span: it was linked at the far end and must be
    /// re-armed when that fires.
    clamped: bool,
    /// The deadline had passed when the sleep was made (or reset): complete on the first poll
    /// without touching the wheel. Known from the clock read that made the deadline, so a sleep
    /// costs one clock read in all.
    due: bool,
    /// The wheel tick it was registered for (for the task dump's wait note).
    tick: u64,
    entry: TimerEntry,
}

impl Sleep {
    /// A sleep until `deadline`, given the clock's `now` when it was made.
    pub(crate) fn new(rt: RtRef, deadline: Instant, now: Instant) -> Sleep {
        Sleep {
            rt,
            deadline,
            registered: false,
            clamped: false,
            due: deadline <= now,
            tick: 0,
            entry: TimerEntry::new(),
        }
    }

    /// When this sleep completes.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    pub(crate) fn rt_ref(&self) -> RtRef {
        self.rt
    }

    /// True once the deadline has passed and the timer fired.
    pub fn is_elapsed(&self) -> bool {
        self.entry.state() == FIRED
    }

    /// Moves the deadline (re-arming a sleep that already completed).
    pub fn reset(self: Pin<&mut Self>, deadline: Instant) {
        let now = sched::with_shared(&self.rt, |s| s.driver.time.clock.now())
            .unwrap_or_else(Instant::now);
        self.reset_at(deadline, now);
    }

    /// [`reset`](Self::reset) with the clock's `now` already at hand.
    pub(crate) fn reset_at(self: Pin<&mut Self>, deadline: Instant, now: Instant) {
        // SAFETY: we never move out of the pinned fields; `entry` stays in place.
        let me = unsafe { self.get_unchecked_mut() };
        me.deadline = deadline;
        me.due = deadline <= now;
        if me.registered {
            me.register();
        }
    }

    fn register(&mut self) {
        let entry = NonNull::from(&self.entry);
        let deadline = self.deadline;
        let due = self.due;
        let mut tick = self.tick;
        let registered = sched::with_shared(&self.rt, |s| {
            let time = &s.driver.time;
            if due {
                // Due already: no need to involve the wheel.
                // SAFETY: the entry is pinned inside `self` and alive.
                unsafe { time.deregister(entry) };
                self.entry.set_state(FIRED);
                return false;
            }
            let when = time.clock.deadline_to_tick(deadline);
            tick = when;
            // SAFETY: the entry is pinned inside this `Sleep` (we are `!Unpin`) and `Drop`
            // deregisters it before it goes away.
            let r = unsafe { time.register(entry, when) };
            if r.unpark {
                s.driver.unpark();
            }
            r.clamped
        });
        self.tick = tick;
        match registered {
            Some(clamped) => self.clamped = clamped,
            // The runtime is gone: nothing will ever fire this timer; complete now rather than
            // hang.
            None => self.entry.set_state(FIRED),
        }
        self.registered = true;
    }

    /// Polls without charging the coop budget: for timeouts and select deadlines built around
    /// other futures, which must see their deadline even when the inner future used the budget
    /// up (and should not charge it twice).
    pub fn poll_elapsed(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: we never move out of the pinned fields.
        let me = unsafe { self.get_unchecked_mut() };
        if me.entry.state() != FIRED {
            me.entry.waker.register(cx.waker());
            if !me.registered {
                me.register();
            }
            if me.entry.state() != FIRED {
                crate::task::note_wait(crate::task::WaitOn::Timer {
                    deadline_ms: me.tick,
                });
                return Poll::Pending;
            }
        }
        if me.clamped {
            // Fired at the wheel's far end, before the real deadline: re-arm.
            me.entry.waker.register(cx.waker());
            me.register();
            if me.entry.state() != FIRED {
                return Poll::Pending;
            }
        }
        Poll::Ready(())
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let coop = std::task::ready!(crate::coop::poll_proceed(cx));
        let res = self.poll_elapsed(cx);
        if res.is_ready() {
            coop.made_progress();
        }
        res
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if self.registered && self.entry.state() == REGISTERED {
            let entry = NonNull::from(&self.entry);
            // SAFETY: the entry is alive for the duration of this call.
            let done = sched::with_shared(&self.rt, |s| unsafe { s.driver.time.deregister(entry) });
            // A runtime that shut down fired (unlinked) every timer before releasing its anchor,
            // so a registered entry always finds its runtime.
            debug_assert!(done.is_some() || self.entry.state() != REGISTERED);
        }
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("elapsed", &self.is_elapsed())
            .finish()
    }
}
