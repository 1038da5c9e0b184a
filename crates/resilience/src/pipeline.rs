//! `Pipeline`: the policies composed in one documented order.
//!
//! # Order
//!
//! ```text
//! call ─▶ fallback ─▶ retry ─▶ circuit breaker ─▶ rate limiter ─▶ timeout ─▶ bulkhead ─▶ chaos ─▶ operation
//!         (outermost)                                                                  (innermost)
//! ```
//!
//! The order is fixed whatever order the builder methods are called in, because each position
//! has a reason (the same reasoning as resilience4j's and Polly's recommended order):
//!
//! 1. **Fallback** outermost: it sees the final failure, whichever policy produced it.
//! 2. **Retry** around everything else: each retry is a whole new pass through breaker, limiter,
//!    timeout and bulkhead, and a rejection by any of them is not retried unless the retry says
//!    so ([`RetryBuilder::retry_rejections`](crate::RetryBuilder::retry_rejections)).
//! 3. **Circuit breaker** outside the limiter and timeout: it records timeouts as failures, and
//!    its rejections cost nothing downstream. Rejections by the inner policies do not count
//!    (the permit is dropped unrecorded): a full bulkhead says nothing about the dependency.
//! 4. **Rate limiter** before the timeout: waiting for a cell (if `rate_limiter_wait` allows
//!    it) does not eat into the call's time.
//! 5. **Timeout** around the bulkhead: queueing for a permit counts against the call's deadline,
//!    so a caller never waits longer than it asked for.
//! 6. **Bulkhead** innermost of the protections: the permit is held exactly while the operation
//!    runs.
//! 7. **Chaos** right at the operation, so injected faults and latency travel through the whole
//!    stack like real ones.
//!
//! Every policy is a shareable handle: build it once, hand clones to several pipelines, tasks,
//! fibers or threads; they share one state (one breaker, one bulkhead, one budget).
//!
//! # Cost
//!
//! No allocation on a successful call: the attempt's cancel token is made only if the operation
//! asks for it or its timeout fires (see [`Attempt`]). At most one read of the
//! runtime clock (the timeout's start) and one of the limiter's counter clock per attempt;
//! every policy's hot path is a few atomic operations (see the README's benchmark table).

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use spectrum_rt::cancel::CancelToken;

use crate::retry::{Step, Verdict};
use crate::{
    Attempt, Bulkhead, Chaos, CircuitBreaker, Error, Fallback, RateLimited, RateLimiter, Retry,
    Timeout,
};

type Pred<E> = Box<dyn Fn(&E) -> bool + Send + Sync>;

/// Policies composed in the [documented order](self), called as one.
///
/// ```
/// # spectrum_rt::Runtime::builder().start_paused(true).build().unwrap().block_on(async {
/// use std::time::Duration;
/// use spectrum_resilience::{Backoff, Bulkhead, CircuitBreaker, Pipeline, Retry, Timeout};
///
/// let pipeline = Pipeline::<String, std::io::Error>::builder()
///     .retry(
///         Retry::builder()
///             .max_attempts(3)
///             .backoff(Backoff::exponential(Duration::from_millis(50)))
///             .build()
///             .unwrap(),
///     )
///     .breaker(CircuitBreaker::builder().build().unwrap())
///     .timeout(Timeout::new(Duration::from_secs(2)).unwrap())
///     .bulkhead(Bulkhead::builder().max_concurrent(32).build().unwrap())
///     .build();
///
/// let body = pipeline
///     .call(|attempt| async move {
///         // `attempt.token()` fires at the timeout; `attempt.number()` counts retries.
///         Ok(format!("answered on attempt {}", attempt.number()))
///     })
///     .await
///     .unwrap();
/// assert_eq!(body, "answered on attempt 1");
/// # });
/// ```
pub struct Pipeline<T, E> {
    inner: Arc<Inner<T, E>>,
}

impl<T, E> Clone for Pipeline<T, E> {
    fn clone(&self) -> Self {
        Pipeline {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<T, E> {
    fallback: Option<Fallback<T, Error<E>>>,
    retry: Option<Retry<T, E>>,
    breaker: Option<CircuitBreaker>,
    breaker_failure_if: Option<Pred<E>>,
    limiter: Option<(RateLimiter, Option<Duration>)>,
    timeout: Option<Timeout>,
    bulkhead: Option<Bulkhead>,
    chaos: Option<Chaos<T, E>>,
}

/// Builds a [`Pipeline`]; the call order of these methods does not matter.
pub struct PipelineBuilder<T, E> {
    inner: Inner<T, E>,
}

impl<T, E> PipelineBuilder<T, E> {
    /// Adds a fallback (outermost).
    pub fn fallback(mut self, fallback: Fallback<T, Error<E>>) -> Self {
        self.inner.fallback = Some(fallback);
        self
    }

    /// Adds a retry policy.
    pub fn retry(mut self, retry: Retry<T, E>) -> Self {
        self.inner.retry = Some(retry);
        self
    }

    /// Adds a circuit breaker; every operation error counts as a failure.
    pub fn breaker(mut self, breaker: CircuitBreaker) -> Self {
        self.inner.breaker = Some(breaker);
        self
    }

    /// Counts an operation error as a breaker failure only if `f` says so (others are
    /// recorded as successes: a 404 says the dependency is healthy).
    pub fn breaker_failure_if(mut self, f: impl Fn(&E) -> bool + Send + Sync + 'static) -> Self {
        self.inner.breaker_failure_if = Some(Box::new(f));
        self
    }

    /// Adds a rate limiter that rejects a call when no cell is free.
    pub fn rate_limiter(mut self, limiter: RateLimiter) -> Self {
        self.inner.limiter = Some((limiter, None));
        self
    }

    /// Adds a rate limiter that waits up to `max_wait` for a cell before rejecting.
    pub fn rate_limiter_wait(mut self, limiter: RateLimiter, max_wait: Duration) -> Self {
        self.inner.limiter = Some((limiter, Some(max_wait)));
        self
    }

    /// Adds a timeout.
    pub fn timeout(mut self, timeout: Timeout) -> Self {
        self.inner.timeout = Some(timeout);
        self
    }

    /// Adds a bulkhead.
    pub fn bulkhead(mut self, bulkhead: Bulkhead) -> Self {
        self.inner.bulkhead = Some(bulkhead);
        self
    }

    /// Adds a chaos policy (innermost).
    pub fn chaos(mut self, chaos: Chaos<T, E>) -> Self {
        self.inner.chaos = Some(chaos);
        self
    }

    /// Builds the pipeline (each policy was validated when it was built).
    pub fn build(self) -> Pipeline<T, E> {
        Pipeline {
            inner: Arc::new(self.inner),
        }
    }
}

impl<T, E> Pipeline<T, E> {
    /// Starts building a pipeline with no policies.
    pub fn builder() -> PipelineBuilder<T, E> {
        PipelineBuilder {
            inner: Inner {
                fallback: None,
                retry: None,
                breaker: None,
                breaker_failure_if: None,
                limiter: None,
                timeout: None,
                bulkhead: None,
                chaos: None,
            },
        }
    }

    /// Calls `op` through every policy, in the [documented order](self).
    ///
    /// `op` is called once per attempt with an [`Attempt`] (number and cancel token).
    ///
    /// # Errors
    ///
    /// [`Error::Inner`] with the operation's last error, or the error of the policy that
    /// rejected or cut short the last attempt — unless the fallback replaced it.
    ///
    /// # Panics
    ///
    /// Outside a Spectrum runtime when a policy needs a timer (timeout, backoff, queueing).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the attempt in flight (its permits are released, the breaker
    /// records nothing); no later attempt starts.
    pub async fn call<F, Fut>(&self, op: F) -> Result<T, Error<E>>
    where
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.call_in(CancelToken::current(), op).await
    }

    /// [`call`](Self::call), with each attempt's token a child of `parent` (a hedge's attempt
    /// token, a request's token).
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    ///
    /// # Panics
    ///
    /// As [`call`](Self::call).
    ///
    /// # Cancel safety
    ///
    /// As [`call`](Self::call).
    pub async fn call_under<F, Fut>(&self, parent: &CancelToken, op: F) -> Result<T, Error<E>>
    where
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.call_in(Some(parent.clone()), op).await
    }

    /// Calls a synchronous `op` through the pipeline and blocks on the result with
    /// [`Wait`](spectrum_rt::Wait): inside a fiber the fiber suspends during waits (backoff,
    /// queueing), on a thread the thread parks.
    ///
    /// A synchronous body cannot be dropped mid-run, so a timeout can only *cooperate* with it:
    /// the body should check `attempt.token()` at its safe points.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    ///
    /// # Panics
    ///
    /// As [`call`](Self::call).
    #[track_caller]
    pub fn call_blocking<F>(&self, mut op: F) -> Result<T, Error<E>>
    where
        F: FnMut(Attempt) -> Result<T, E>,
    {
        spectrum_rt::wait::wait(self.call(|a| std::future::ready(op(a))))
    }

    async fn call_in<F, Fut>(&self, parent: Option<CancelToken>, mut op: F) -> Result<T, Error<E>>
    where
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let inner = &*self.inner;
        let out = match &inner.retry {
            None => self.attempt(1, parent.as_ref(), &mut op).await,
            Some(retry) => {
                let mut run = retry.begin();
                loop {
                    let out = self.attempt(run.attempt(), parent.as_ref(), &mut op).await;
                    let verdict = classify(retry, &out);
                    match run.next(out.is_ok(), verdict) {
                        Step::Stop => break out,
                        Step::Wait(delay) => {
                            drop(out);
                            run.wait(delay).await;
                        }
                    }
                }
            }
        };
        match (out, &inner.fallback) {
            (Err(e), Some(fallback)) => fallback.recover(e).await,
            (out, _) => out,
        }
    }

    /// One attempt: breaker, limiter, timeout, bulkhead, chaos, operation.
    async fn attempt<F, Fut>(
        &self,
        number: u32,
        parent: Option<&CancelToken>,
        op: &mut F,
    ) -> Result<T, Error<E>>
    where
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let inner = &*self.inner;
        let permit = match &inner.breaker {
            Some(b) => Some(b.acquire().map_err(Error::CircuitOpen)?),
            None => None,
        };
        if let Some((limiter, max_wait)) = &inner.limiter {
            // The waiting future is made only when there is no cell now.
            if let Err(r) = limiter.check() {
                admit(limiter, r, *max_wait).await?;
            }
        }
        // The timeout starts after any wait for a cell: that wait is not the call's time.
        let out = match &inner.timeout {
            Some(t) => match t
                .run_attempt(number, parent, |attempt| self.guarded(attempt, op))
                .await
            {
                Ok(out) => out,
                Err(e) => Err(Error::TimedOut(e.without_output())),
            },
            None => {
                self.guarded(Attempt::lazy(number, parent.cloned()), op)
                    .await
            }
        };
        if let Some(p) = permit {
            match &out {
                Ok(_) => p.record_success(),
                Err(Error::Inner(e)) => {
                    p.record(inner.breaker_failure_if.as_ref().is_none_or(|f| f(e)))
                }
                Err(Error::TimedOut(_)) => p.record_failure(),
                Err(_) => p.ignore(),
            }
        }
        out
    }

    /// The bulkhead, chaos and the operation.
    async fn guarded<F, Fut>(&self, attempt: Attempt, op: &mut F) -> Result<T, Error<E>>
    where
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let inner = &*self.inner;
        // `try_acquire` first: the queueing future is made (and copied into place) only when
        // the bulkhead is full; `acquire` tries the same fast path first anyway.
        let _permit = match &inner.bulkhead {
            Some(b) => match b.try_acquire() {
                Some(p) => Some(p),
                None => Some(b.acquire().await.map_err(Error::BulkheadFull)?),
            },
            None => None,
        };
        let fut = op(attempt);
        match &inner.chaos {
            Some(c) => c.run(fut).await,
            None => fut.await,
        }
        .map_err(Error::Inner)
    }
}

/// Takes a cell after `first` said there was none, waiting up to `max_wait` if allowed.
async fn admit<E>(
    limiter: &RateLimiter,
    first: RateLimited,
    max_wait: Option<Duration>,
) -> Result<(), Error<E>> {
    let mut waited = Duration::ZERO;
    let mut refused = first;
    loop {
        match max_wait {
            Some(max) if waited + refused.retry_after <= max => {
                spectrum_rt::time::sleep(refused.retry_after).await;
                waited += refused.retry_after;
            }
            _ => return Err(Error::RateLimited(refused)),
        }
        match limiter.check() {
            Ok(()) => return Ok(()),
            Err(r) => refused = r,
        }
    }
}

/// The retry's view of a pipeline outcome (protocol step 2 in [`retry`](crate::retry)).
fn classify<T, E>(retry: &Retry<T, E>, out: &Result<T, Error<E>>) -> Verdict {
    match out {
        Ok(t) => retry.classify_ok(t),
        Err(Error::Inner(e)) => retry.classify_err(e),
        Err(Error::TimedOut(_)) if retry.retries_timeouts() => Verdict::Retry(None),
        Err(e) if e.is_rejection() && retry.retries_rejections() => Verdict::Retry(e.retry_after()),
        Err(_) => Verdict::Done,
    }
}

impl<T, E> fmt::Debug for Pipeline<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &*self.inner;
        f.debug_struct("Pipeline")
            .field("fallback", &i.fallback)
            .field("retry", &i.retry)
            .field("breaker", &i.breaker)
            .field("rate_limiter", &i.limiter)
            .field("timeout", &i.timeout)
            .field("bulkhead", &i.bulkhead)
            .field("chaos", &i.chaos)
            .finish()
    }
}

impl<T, E> fmt::Debug for PipelineBuilder<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineBuilder").finish_non_exhaustive()
    }
}
