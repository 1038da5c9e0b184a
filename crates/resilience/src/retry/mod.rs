//! Retry: try again, later, within limits.
//!
//! # Protocol
//!
//! For each call:
//!
//! 1. Deposit into the shared [`RetryBudget`], if there is one (every call earns retries).
//! 2. Run attempt `n` (from 1). Classify its outcome: an `Ok` is final unless the result
//!    predicate says to retry it; an `Err` is retried if the error predicate says so (default:
//!    every error). Inside a [`Pipeline`](crate::Pipeline), a timeout is retried unless
//!    `retry_timeouts(false)`, and a rejection by a circuit breaker, bulkhead or rate limiter is
//!    **never** retried unless `retry_rejections(true)`: retrying a "circuit open" only adds load
//!    to what is protecting the dependency.
//! 3. Stop with the last outcome if `max_attempts` are used up.
//! 4. Choose the wait: the error's `retry_after` hint if the hint function gives one (a 429's
//!    `Retry-After`, a rate limiter's `retry_after`), else the [`Backoff`]'s `n`-th delay with
//!    its jitter.
//! 5. Stop if the wait would end past `max_elapsed` since the call began, or if the budget has
//!    no token for it.
//! 6. Sleep, and go to 2.
//!
//! The outcome returned when giving up is the last attempt's own (`Err(e)`, or the `Ok` the
//! result predicate disliked): nothing is wrapped, so a retry is transparent to the caller. The
//! metrics say why it stopped.

mod budget;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use budget::{RetryBudget, RetryBudgetBuilder};

use crate::metrics::{self, Counter, Metered, PolicyKind, PolicySnapshot};
use crate::rng::{random_seed, SharedRng};
use crate::{Backoff, ConfigError, Jitter};

type Pred<X> = Box<dyn Fn(&X) -> bool + Send + Sync>;
type OnRetry = Box<dyn Fn(&RetryEvent) + Send + Sync>;
type Hint<E> = Box<dyn Fn(&E) -> Option<Duration> + Send + Sync>;

/// What the classifier says about one attempt's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Done,
    Retry(Option<Duration>),
}

/// Delivered to the `on_retry` hook before each wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryEvent {
    /// The attempt that just failed (1 for the first call).
    pub attempt: u32,
    /// How long the retry will wait before the next attempt.
    pub delay: Duration,
}

/// Retries an operation with backoff, predicates, hints and a shared budget.
///
/// `T` and `E` are the operation's success and error types (the predicates look at them).
/// Cheap to clone; clones share their budget, random stream and metrics.
///
/// ```
/// # spectrum_rt::Runtime::builder().start_paused(true).build().unwrap().block_on(async {
/// use std::time::Duration;
/// use spectrum_resilience::{Backoff, Retry};
///
/// let retry = Retry::<u32, &str>::builder()
///     .max_attempts(4)
///     .backoff(Backoff::constant(Duration::from_millis(10)))
///     .retry_if(|e| *e != "fatal")
///     .build()
///     .unwrap();
///
/// let out = retry
///     .run(|attempt| async move { if attempt < 3 { Err("flaky") } else { Ok(attempt) } })
///     .await;
/// assert_eq!(out, Ok(3));
/// assert_eq!(retry.run(|_| async { Err::<u32, _>("fatal") }).await, Err("fatal"));
/// # });
/// ```
pub struct Retry<T, E> {
    inner: Arc<Inner<T, E>>,
}

impl<T, E> Clone for Retry<T, E> {
    fn clone(&self) -> Self {
        Retry {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<T, E> {
    max_attempts: u32,
    max_elapsed: Option<Duration>,
    backoff: Backoff,
    retry_if: Option<Pred<E>>,
    retry_if_result: Option<Pred<T>>,
    retry_after: Option<Hint<E>>,
    on_retry: Option<OnRetry>,
    budget: Option<RetryBudget>,
    retry_timeouts: bool,
    retry_rejections: bool,
    rng: SharedRng,
    name: String,
    calls: Counter,
    retries: Counter,
    succeeded_after_retry: Counter,
    exhausted_attempts: Counter,
    exhausted_elapsed: Counter,
    exhausted_budget: Counter,
    not_retryable: Counter,
}

/// Builds a [`Retry`].
pub struct RetryBuilder<T, E> {
    max_attempts: u32,
    max_elapsed: Option<Duration>,
    backoff: Backoff,
    retry_if: Option<Pred<E>>,
    retry_if_result: Option<Pred<T>>,
    retry_after: Option<Hint<E>>,
    on_retry: Option<OnRetry>,
    budget: Option<RetryBudget>,
    retry_timeouts: bool,
    retry_rejections: bool,
    seed: Option<u64>,
    name: String,
}

impl<T, E> RetryBuilder<T, E> {
    /// Names the policy (shown in metrics and dumps).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Total attempts including the first (default 3; 1 means never retry).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }

    /// Gives up rather than wait past `d` from the start of the call.
    pub fn max_elapsed(mut self, d: Duration) -> Self {
        self.max_elapsed = Some(d);
        self
    }

    /// The wait schedule (default: exponential from 100 ms, capped at 10 s, full jitter).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Retries an error only if `f` says so (default: every error).
    pub fn retry_if(mut self, f: impl Fn(&E) -> bool + Send + Sync + 'static) -> Self {
        self.retry_if = Some(Box::new(f));
        self
    }

    /// Retries a *successful* result if `f` says so (e.g. a response with status 503).
    pub fn retry_if_result(mut self, f: impl Fn(&T) -> bool + Send + Sync + 'static) -> Self {
        self.retry_if_result = Some(Box::new(f));
        self
    }

    /// Reads a wait hint from an error (a `Retry-After` header); it replaces the backoff delay.
    pub fn retry_after(
        mut self,
        f: impl Fn(&E) -> Option<Duration> + Send + Sync + 'static,
    ) -> Self {
        self.retry_after = Some(Box::new(f));
        self
    }

    /// Calls `f` before each wait.
    pub fn on_retry(mut self, f: impl Fn(&RetryEvent) + Send + Sync + 'static) -> Self {
        self.on_retry = Some(Box::new(f));
        self
    }

    /// Shares a retry budget with other calls and policies.
    pub fn budget(mut self, budget: RetryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// In a pipeline, whether a timed-out attempt is retried (default true).
    pub fn retry_timeouts(mut self, yes: bool) -> Self {
        self.retry_timeouts = yes;
        self
    }

    /// In a pipeline, whether a rejection (circuit open, bulkhead full, rate limited) is retried
    /// (default false), waiting for its own hint when it has one.
    pub fn retry_rejections(mut self, yes: bool) -> Self {
        self.retry_rejections = yes;
        self
    }

    /// Seeds the jitter (for reproducible tests): the n-th call's waits are then a fixed
    /// sequence.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Builds the policy.
    ///
    /// # Errors
    ///
    /// Zero or more than 1000 `max_attempts`, a zero `max_elapsed`, or a bad backoff.
    pub fn build(self) -> Result<Retry<T, E>, ConfigError>
    where
        T: 'static,
        E: 'static,
    {
        const P: &str = "retry";
        if self.max_attempts == 0 || self.max_attempts > 1000 {
            return Err(ConfigError::new(
                P,
                format!(
                    "max_attempts must be in 1..=1000, got {}",
                    self.max_attempts
                ),
            ));
        }
        if self.max_elapsed == Some(Duration::ZERO) {
            return Err(ConfigError::new(P, "max_elapsed must be non-zero"));
        }
        self.backoff.validate(P)?;
        let inner = Arc::new(Inner {
            max_attempts: self.max_attempts,
            max_elapsed: self.max_elapsed,
            backoff: self.backoff,
            retry_if: self.retry_if,
            retry_if_result: self.retry_if_result,
            retry_after: self.retry_after,
            on_retry: self.on_retry,
            budget: self.budget,
            retry_timeouts: self.retry_timeouts,
            retry_rejections: self.retry_rejections,
            rng: SharedRng::new(self.seed.unwrap_or_else(random_seed)),
            name: self.name,
            calls: Counter::default(),
            retries: Counter::default(),
            succeeded_after_retry: Counter::default(),
            exhausted_attempts: Counter::default(),
            exhausted_elapsed: Counter::default(),
            exhausted_budget: Counter::default(),
            not_retryable: Counter::default(),
        });
        metrics::register(&inner);
        Ok(Retry { inner })
    }
}

impl<T, E> fmt::Debug for RetryBuilder<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBuilder")
            .field("max_attempts", &self.max_attempts)
            .field("max_elapsed", &self.max_elapsed)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

impl<T: 'static, E: 'static> Retry<T, E> {
    /// Starts building a retry policy.
    pub fn builder() -> RetryBuilder<T, E> {
        RetryBuilder {
            max_attempts: 3,
            max_elapsed: None,
            backoff: Backoff::exponential(Duration::from_millis(100))
                .cap(Duration::from_secs(10))
                .jitter(Jitter::Full),
            retry_if: None,
            retry_if_result: None,
            retry_after: None,
            on_retry: None,
            budget: None,
            retry_timeouts: true,
            retry_rejections: false,
            seed: None,
            name: String::new(),
        }
    }
}

impl<T, E> Retry<T, E> {
    /// Runs `op(attempt)` (attempt numbers start at 1) until it succeeds or the policy gives up;
    /// see the [module docs](self).
    ///
    /// # Errors
    ///
    /// The last attempt's error, unchanged.
    ///
    /// # Panics
    ///
    /// Outside a Spectrum runtime, when it has to wait a non-zero delay.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the attempt in flight (or the wait); no later attempt starts.
    pub async fn run<F, Fut>(&self, op: F) -> Result<T, E>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut op = op;
        let mut run = self.begin();
        loop {
            let out = op(run.attempt()).await;
            let verdict = match &out {
                Ok(t) => self.classify_ok(t),
                Err(e) => self.classify_err(e),
            };
            match run.next(out.is_ok(), verdict) {
                Step::Stop => return out,
                Step::Wait(delay) => {
                    drop(out);
                    run.wait(delay).await;
                }
            }
        }
    }

    pub(crate) fn classify_ok(&self, t: &T) -> Verdict {
        match &self.inner.retry_if_result {
            Some(p) if p(t) => Verdict::Retry(None),
            _ => Verdict::Done,
        }
    }

    pub(crate) fn classify_err(&self, e: &E) -> Verdict {
        let inner = &*self.inner;
        if inner.retry_if.as_ref().is_some_and(|p| !p(e)) {
            return Verdict::Done;
        }
        Verdict::Retry(inner.retry_after.as_ref().and_then(|h| h(e)))
    }

    pub(crate) fn retries_timeouts(&self) -> bool {
        self.inner.retry_timeouts
    }

    pub(crate) fn retries_rejections(&self) -> bool {
        self.inner.retry_rejections
    }

    /// Starts the bookkeeping of one call (the pipeline drives the loop itself, so that its
    /// attempts can borrow the operation).
    pub(crate) fn begin(&self) -> RetryRun<'_, T, E> {
        let inner = &*self.inner;
        inner.calls.inc();
        if let Some(b) = &inner.budget {
            b.deposit();
        }
        RetryRun {
            retry: self,
            start: inner.max_elapsed.map(|_| crate::clock::now()),
            rng: None,
            prev: Duration::ZERO,
            attempt: 1,
        }
    }

    /// The configured backoff.
    pub fn backoff(&self) -> &Backoff {
        &self.inner.backoff
    }

    /// Counters `calls`, `retries`, `succeeded_after_retry`, `not_retryable`,
    /// `exhausted_attempts`, `exhausted_elapsed`, `exhausted_budget`.
    pub fn metrics(&self) -> PolicySnapshot {
        self.inner.snapshot()
    }
}

/// What to do after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    Stop,
    Wait(Duration),
}

/// The state of one call's retry loop: steps 2–6 of the protocol.
pub(crate) struct RetryRun<'a, T, E> {
    retry: &'a Retry<T, E>,
    start: Option<std::time::Instant>,
    rng: Option<crate::Rng>,
    prev: Duration,
    attempt: u32,
}

impl<T, E> RetryRun<'_, T, E> {
    /// The number of the attempt about to run (from 1).
    pub(crate) fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Decides after an attempt whose outcome was `ok` and classified as `verdict`.
    pub(crate) fn next(&mut self, ok: bool, verdict: Verdict) -> Step {
        let inner = &*self.retry.inner;
        let hint = match verdict {
            Verdict::Done => {
                if ok && self.attempt > 1 {
                    inner.succeeded_after_retry.inc();
                } else if !ok {
                    inner.not_retryable.inc();
                }
                return Step::Stop;
            }
            Verdict::Retry(hint) => hint,
        };
        if self.attempt >= inner.max_attempts {
            inner.exhausted_attempts.inc();
            return Step::Stop;
        }
        let delay = match hint {
            Some(h) => h,
            None => {
                let rng = self.rng.get_or_insert_with(|| inner.rng.fork());
                inner.backoff.delay(self.attempt - 1, self.prev, rng)
            }
        };
        self.prev = delay;
        if let (Some(max), Some(start)) = (inner.max_elapsed, self.start) {
            let spent = crate::clock::now().saturating_duration_since(start);
            if spent.saturating_add(delay) > max {
                inner.exhausted_elapsed.inc();
                return Step::Stop;
            }
        }
        if let Some(b) = &inner.budget {
            if !b.try_withdraw() {
                inner.exhausted_budget.inc();
                return Step::Stop;
            }
        }
        inner.retries.inc();
        if let Some(f) = &inner.on_retry {
            f(&RetryEvent {
                attempt: self.attempt,
                delay,
            });
        }
        Step::Wait(delay)
    }

    /// Waits `delay` and moves to the next attempt.
    pub(crate) async fn wait(&mut self, delay: Duration) {
        if !delay.is_zero() {
            spectrum_rt::time::sleep(delay).await;
        }
        self.attempt += 1;
    }
}

impl<T, E> Metered for Inner<T, E> {
    fn snapshot(&self) -> PolicySnapshot {
        PolicySnapshot::new(&self.name, PolicyKind::Retry)
            .counter_value("calls", self.calls.get())
            .counter_value("retries", self.retries.get())
            .counter_value("succeeded_after_retry", self.succeeded_after_retry.get())
            .counter_value("not_retryable", self.not_retryable.get())
            .counter_value("exhausted_attempts", self.exhausted_attempts.get())
            .counter_value("exhausted_elapsed", self.exhausted_elapsed.get())
            .counter_value("exhausted_budget", self.exhausted_budget.get())
    }
}

impl<T, E> fmt::Debug for Retry<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("name", &self.inner.name)
            .field("max_attempts", &self.inner.max_attempts)
            .field("max_elapsed", &self.inner.max_elapsed)
            .field("backoff", &self.inner.backoff)
            .finish_non_exhaustive()
    }
}
