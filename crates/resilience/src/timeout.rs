//! Timeout: cooperative first, forced second.

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use spectrum_rt::cancel::{CancelCause, CancelToken};
use spectrum_rt::time::Sleep;

use crate::attempt::SlotGuard;
use crate::metrics::{self, Counter, Metered, PolicyKind, PolicySnapshot};
use crate::{Attempt, ConfigError};

/// The operation did not finish within its timeout.
///
/// `late` holds the output of an operation that finished cooperatively during the grace period
/// (given back, not discarded); it is `None` when the operation was forcibly dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct TimedOut<T = ()> {
    /// The timeout that elapsed.
    pub timeout: Duration,
    /// True if the operation ignored its token through the whole grace period and was dropped.
    pub forced: bool,
    /// The output of an operation that finished during the grace period.
    pub late: Option<T>,
}

impl<T> TimedOut<T> {
    /// The same error without the late output.
    pub fn without_output(self) -> TimedOut {
        TimedOut {
            timeout: self.timeout,
            forced: self.forced,
            late: None,
        }
    }
}

impl<T> fmt::Debug for TimedOut<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimedOut")
            .field("timeout", &self.timeout)
            .field("forced", &self.forced)
            .field("late", &self.late.is_some())
            .finish()
    }
}

impl<T> fmt::Display for TimedOut<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "operation timed out after {:?}", self.timeout)?;
        if self.forced {
            f.write_str(" and was dropped when its grace period ran out")
        } else {
            f.write_str(" and stopped cooperatively")
        }
    }
}

impl<T> std::error::Error for TimedOut<T> {}

/// Bounds an operation in time, cooperatively first and by force second.
///
/// Cheap to clone; clones share their metrics.
///
/// # Protocol
///
/// 1. The call creates a [`CancelToken`] whose deadline is the timeout's (a child of the current
///    scope's token, if the caller runs in a scope, so scope cancellation reaches it too) and
///    hands it to the operation. The operation can read the deadline (to propagate it
///    downstream), check the token at its own safe points, or await `token.cancelled()`. (In a
///    [`Pipeline`](crate::Pipeline) the token is made only when the operation first asks for
///    it through its [`Attempt`] or the deadline fires, whichever comes first; the protocol is
///    otherwise the same.)
/// 2. The operation is polled before the timer, so an operation that finishes before the
///    deadline always wins. One that finishes at or after it (because it saw its token's
///    deadline pass) is a cooperative stop, as in step 4.
/// 3. At the deadline the token is cancelled with cause [`CauseKind::DeadlineExceeded`]
///    (visible to the operation through `token.cause()`), and the operation gets a bounded
///    **grace** period to notice and finish: cleanup, flushing, returning a partial result.
/// 4. If it finishes within the grace, the call fails with [`TimedOut`] carrying its late output
///    (`forced == false`). If the grace passes too, the operation's future is **dropped** (forced
///    cancellation: destructors run, no async cleanup) before the call returns, and the error
///    says `forced == true`.
///
/// With a zero grace the timeout is purely forced, like `spectrum_rt::time::timeout`, but the
/// operation still sees the token fire first. The grace's bound is what keeps the timeout a
/// timeout: the call never takes longer than `duration + grace`.
///
/// [`CauseKind::DeadlineExceeded`]: spectrum_rt::cancel::CauseKind::DeadlineExceeded
///
/// ```
/// # spectrum_rt::Runtime::builder().start_paused(true).build().unwrap().block_on(async {
/// use std::time::{Duration, Instant};
/// use spectrum_resilience::Timeout;
/// use spectrum_rt::cancel::CauseKind;
///
/// let timeout = Timeout::builder(Duration::from_millis(100))
///     .grace(Duration::from_millis(10))
///     .build()
///     .unwrap();
///
/// // The operation sees its token fire with the cause, and stops cooperatively:
/// let err = timeout
///     .run(|token| async move {
///         let cause = token.cancelled().await;
///         assert_eq!(cause.kind(), CauseKind::DeadlineExceeded);
///         "cleaned up"
///     })
///     .await
///     .unwrap_err();
/// assert!(!err.forced);
/// assert_eq!(err.late, Some("cleaned up"));
/// # });
/// ```
#[derive(Clone)]
pub struct Timeout {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    duration: Duration,
    grace: Duration,
    completed: Counter,
    cooperative: Counter,
    forced: Counter,
}

/// Builds a [`Timeout`].
#[derive(Clone, Debug)]
pub struct TimeoutBuilder {
    name: String,
    duration: Duration,
    grace: Duration,
}

impl TimeoutBuilder {
    /// Names the policy (shown in metrics and dumps).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// How long the operation may keep running after its token fired (default zero: drop at
    /// once).
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Builds the policy.
    ///
    /// # Errors
    ///
    /// A zero duration (every call would time out), or a duration or grace above
    /// [`Timeout::MAX`].
    pub fn build(self) -> Result<Timeout, ConfigError> {
        if self.duration.is_zero() {
            return Err(ConfigError::new("timeout", "duration must be non-zero"));
        }
        if self.duration > Timeout::MAX || self.grace > Timeout::MAX {
            return Err(ConfigError::new(
                "timeout",
                format!(
                    "duration ({:?}) and grace ({:?}) must be at most {:?}",
                    self.duration,
                    self.grace,
                    Timeout::MAX
                ),
            ));
        }
        let inner = Arc::new(Inner {
            name: self.name,
            duration: self.duration,
            grace: self.grace,
            completed: Counter::default(),
            cooperative: Counter::default(),
            forced: Counter::default(),
        });
        metrics::register(&inner);
        Ok(Timeout { inner })
    }
}

impl Timeout {
    /// The longest accepted duration or grace: 30 days (the runtime clamps sleeps at ~30 years;
    /// anything near that is a unit mistake).
    pub const MAX: Duration = Duration::from_secs(30 * 86_400);

    /// A timeout of `duration` with no grace period.
    ///
    /// # Errors
    ///
    /// See [`TimeoutBuilder::build`].
    pub fn new(duration: Duration) -> Result<Timeout, ConfigError> {
        Self::builder(duration).build()
    }

    /// Starts building a timeout of `duration`.
    pub fn builder(duration: Duration) -> TimeoutBuilder {
        TimeoutBuilder {
            name: String::new(),
            duration,
            grace: Duration::ZERO,
        }
    }

    /// The timeout.
    pub fn duration(&self) -> Duration {
        self.inner.duration
    }

    /// The grace period.
    pub fn grace(&self) -> Duration {
        self.inner.grace
    }

    /// Runs `op` with a token that fires at the deadline; see [`Timeout`]'s docs.
    ///
    /// # Errors
    ///
    /// [`TimedOut`] if the deadline passed first, with the late output if the operation
    /// finished during the grace period.
    ///
    /// # Panics
    ///
    /// Outside a Spectrum runtime, if the operation does not finish on its first poll (the
    /// timer needs a runtime).
    ///
    /// # Cancel safety
    ///
    /// Dropping the returned future drops the operation at once (no grace: the caller is gone).
    pub async fn run<F, Fut>(&self, op: F) -> Result<Fut::Output, TimedOut<Fut::Output>>
    where
        F: FnOnce(CancelToken) -> Fut,
        Fut: Future,
    {
        self.run_in(CancelToken::current().as_ref(), op).await
    }

    /// [`run`](Self::run), with the operation's token a child of `parent` (so cancelling
    /// `parent` also reaches the operation) instead of the current scope's.
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run).
    ///
    /// # Panics
    ///
    /// As [`run`](Self::run).
    ///
    /// # Cancel safety
    ///
    /// As [`run`](Self::run).
    pub async fn run_under<F, Fut>(
        &self,
        parent: &CancelToken,
        op: F,
    ) -> Result<Fut::Output, TimedOut<Fut::Output>>
    where
        F: FnOnce(CancelToken) -> Fut,
        Fut: Future,
    {
        self.run_in(Some(parent), op).await
    }

    async fn run_in<F, Fut>(
        &self,
        parent: Option<&CancelToken>,
        op: F,
    ) -> Result<Fut::Output, TimedOut<Fut::Output>>
    where
        F: FnOnce(CancelToken) -> Fut,
        Fut: Future,
    {
        let deadline = self.deadline_from(crate::clock::fast_now());
        let token = match parent {
            Some(parent) => parent.child_with_deadline(deadline),
            None => CancelToken::with_deadline(deadline),
        };
        self.drive(deadline, op, token.clone(), || {
            token.cancel_with(CancelCause::deadline_exceeded());
        })
        .await
    }

    /// Runs a pipeline attempt: its token is made only if the operation asks for it or the
    /// deadline fires (see [`attempt`](crate::attempt)), so a call that finishes in time and
    /// never looks at its token costs one clock read and no allocation.
    pub(crate) async fn run_attempt<F, Fut>(
        &self,
        number: u32,
        parent: Option<&CancelToken>,
        op: F,
    ) -> Result<Fut::Output, TimedOut<Fut::Output>>
    where
        F: FnOnce(Attempt) -> Fut,
        Fut: Future,
    {
        let deadline = self.deadline_from(crate::clock::fast_now());
        let slot = SlotGuard::take();
        let attempt = Attempt::timed(number, parent.cloned(), deadline, slot.share());
        self.drive(deadline, op, attempt, || slot.cancel(parent, deadline))
            .await
    }

    /// The deadline of a call that starts at `start` (`start` itself should that overflow, which
    /// [`Timeout::MAX`] rules out in practice).
    fn deadline_from(&self, start: Instant) -> Instant {
        start.checked_add(self.inner.duration).unwrap_or(start)
    }

    /// Steps 2–4 of the protocol: polls `op(arg)` against `deadline`, calls `expire` when the
    /// deadline fires, then allows the grace.
    ///
    /// The operation's future is made here, in place, rather than passed in: these futures are
    /// large, and each move is a copy on every call.
    async fn drive<A, F, Fut>(
        &self,
        deadline: Instant,
        op: F,
        arg: A,
        expire: impl FnOnce(),
    ) -> Result<Fut::Output, TimedOut<Fut::Output>>
    where
        F: FnOnce(A) -> Fut,
        Fut: Future,
    {
        let inner = &*self.inner;
        let mut fut = pin!(op(arg));
        // Made only once the operation returns `Pending`: an operation that is ready at once
        // never reads the clock again nor touches the timer.
        let mut sleep = pin!(None::<Sleep>);
        let in_time = poll_fn(|cx| {
            if let Poll::Ready(v) = fut.as_mut().poll(cx) {
                return Poll::Ready(Some(v));
            }
            if sleep.is_none() {
                sleep.set(Some(spectrum_rt::time::sleep_until(deadline)));
            }
            let sleep = sleep.as_mut().as_pin_mut().expect("set above");
            sleep.poll(cx).map(|()| None)
        })
        .await;
        let waited = sleep.is_some();
        if let Some(v) = in_time {
            // The token carries the deadline, so an operation may notice it (and finish) in the
            // same instant the timer fires: finishing at or after the deadline is a cooperative
            // stop, not success. (A first-poll completion never read the clock: it is in time.)
            if waited && crate::clock::now() >= deadline {
                inner.cooperative.inc();
                return Err(TimedOut {
                    timeout: inner.duration,
                    forced: false,
                    late: Some(v),
                });
            }
            inner.completed.inc();
            return Ok(v);
        }
        expire();
        if !inner.grace.is_zero() {
            let mut sleep = sleep.as_mut().as_pin_mut().expect("the deadline fired");
            sleep.as_mut().reset(deadline + inner.grace);
            let late = poll_fn(|cx| {
                if let Poll::Ready(v) = fut.as_mut().poll(cx) {
                    return Poll::Ready(Some(v));
                }
                sleep.as_mut().poll(cx).map(|()| None)
            })
            .await;
            if let Some(v) = late {
                inner.cooperative.inc();
                return Err(TimedOut {
                    timeout: inner.duration,
                    forced: false,
                    late: Some(v),
                });
            }
        }
        inner.forced.inc();
        // `fut` is dropped as this function returns, before the caller sees the error.
        Err(TimedOut {
            timeout: inner.duration,
            forced: true,
            late: None,
        })
    }

    /// This policy's counters: `calls`, `completed`, `timed_out_cooperative`,
    /// `timed_out_forced`.
    pub fn metrics(&self) -> PolicySnapshot {
        self.inner.snapshot()
    }
}

impl Metered for Inner {
    fn snapshot(&self) -> PolicySnapshot {
        PolicySnapshot::new(&self.name, PolicyKind::Timeout)
            .counter_value(
                "calls",
                self.completed.get() + self.cooperative.get() + self.forced.get(),
            )
            .counter_value("completed", self.completed.get())
            .counter_value("timed_out_cooperative", self.cooperative.get())
            .counter_value("timed_out_forced", self.forced.get())
    }
}

impl fmt::Debug for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("name", &self.inner.name)
            .field("duration", &self.inner.duration)
            .field("grace", &self.inner.grace)
            .finish()
    }
}
