//! Hedging: start more attempts when the first is slow or fails; keep the first success.

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use spectrum_rt::cancel::{CancelCause, CancelToken};

use crate::metrics::{self, Counter, Metered, PolicyKind, PolicySnapshot};
use crate::{Attempt, ConfigError};

/// When a [`Hedge`] starts another attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HedgeMode {
    /// After each `delay` without a success (and at once after a failure).
    Latency(Duration),
    /// Only after the previous attempt failed.
    Fallback,
    /// All attempts at once.
    Parallel,
}

/// Races extra attempts against a slow or failing one.
///
/// # Modes (Polly v8's hedging strategy)
///
/// - **Latency** (`HedgeMode::Latency(d)`): start the primary; every `d` without a success,
///   start another attempt, up to `max_attempts` in flight or done. A failed attempt starts the
///   next one at once. This cuts tail latency ("The Tail at Scale", Dean and Barroso, CACM 2013).
/// - **Fallback** (`HedgeMode::Fallback`): one attempt at a time; the next starts only when the
///   previous failed (failover across replicas).
/// - **Parallel** (`HedgeMode::Parallel`): start all attempts at once.
///
/// # Protocol
///
/// 1. Each attempt gets its own [`Attempt`] with a child of the caller's token (the current
///    scope's, or one passed to [`Hedge::run_under`]), and is polled in place by the hedge
///    future: no task is spawned, so nothing needs `'static` or `Send`.
/// 2. The first `Ok` wins. If every attempt fails, the last failure is returned.
/// 3. **Losers are cancelled and awaited**: each loser's token is cancelled with the cause
///    "hedging: another attempt won", then the hedge keeps polling the losers until they have all
///    finished or `grace` has passed, and drops whatever is left. Only then does it return, so a
///    loser never outlives the call that started it.
///
/// ```
/// # spectrum_rt::Runtime::builder().start_paused(true).build().unwrap().block_on(async {
/// use std::time::Duration;
/// use spectrum_resilience::{Hedge, HedgeMode};
///
/// let hedge = Hedge::builder(HedgeMode::Latency(Duration::from_millis(10)))
///     .max_attempts(2)
///     .build()
///     .unwrap();
/// let winner = hedge
///     .run(|attempt| async move {
///         let ms = if attempt.number() == 1 { 1000 } else { 5 }; // the primary is slow
///         spectrum_rt::time::sleep(Duration::from_millis(ms)).await;
///         Ok::<_, ()>(attempt.number())
///     })
///     .await;
/// assert_eq!(winner, Ok(2));
/// # });
/// ```
#[derive(Clone)]
pub struct Hedge {
    inner: Arc<Inner>,
}

struct Inner {
    mode: HedgeMode,
    max_attempts: u32,
    grace: Duration,
    name: String,
    calls: Counter,
    hedged: Counter,
    primary_won: Counter,
    hedge_won: Counter,
    all_failed: Counter,
    losers_cancelled: Counter,
    losers_dropped: Counter,
}

/// Builds a [`Hedge`].
#[derive(Clone, Debug)]
pub struct HedgeBuilder {
    mode: HedgeMode,
    max_attempts: u32,
    grace: Duration,
    name: String,
}

impl HedgeBuilder {
    /// Names the policy (shown in metrics and dumps).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Total attempts, the primary included (default 2).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }

    /// How long losers get to finish after their token fires before they are dropped
    /// (default 100 ms).
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Builds the policy.
    ///
    /// # Errors
    ///
    /// `max_attempts` outside `1..=64`, a zero latency delay (use `HedgeMode::Parallel`), or a
    /// grace above one hour.
    pub fn build(self) -> Result<Hedge, ConfigError> {
        const P: &str = "hedge";
        if self.max_attempts == 0 || self.max_attempts > 64 {
            return Err(ConfigError::new(
                P,
                format!("max_attempts must be in 1..=64, got {}", self.max_attempts),
            ));
        }
        if self.mode == HedgeMode::Latency(Duration::ZERO) {
            return Err(ConfigError::new(
                P,
                "latency delay must be non-zero (use HedgeMode::Parallel to start all at once)",
            ));
        }
        if self.grace > Duration::from_secs(3600) {
            return Err(ConfigError::new(P, "grace must be at most one hour"));
        }
        let inner = Arc::new(Inner {
            mode: self.mode,
            max_attempts: self.max_attempts,
            grace: self.grace,
            name: self.name,
            calls: Counter::default(),
            hedged: Counter::default(),
            primary_won: Counter::default(),
            hedge_won: Counter::default(),
            all_failed: Counter::default(),
            losers_cancelled: Counter::default(),
            losers_dropped: Counter::default(),
        });
        metrics::register(&inner);
        Ok(Hedge { inner })
    }
}

struct Running<Fut> {
    number: u32,
    token: CancelToken,
    fut: Pin<Box<Fut>>,
}

impl Hedge {
    /// Starts building a hedge in `mode`.
    pub fn builder(mode: HedgeMode) -> HedgeBuilder {
        HedgeBuilder {
            mode,
            max_attempts: 2,
            grace: Duration::from_millis(100),
            name: String::new(),
        }
    }

    /// Runs `op` hedged; see [`Hedge`]'s docs.
    ///
    /// # Errors
    ///
    /// The last failure, if every attempt failed.
    ///
    /// # Panics
    ///
    /// Outside a Spectrum runtime, when it needs a timer (latency mode, or losers to await).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops every attempt in flight at once.
    pub async fn run<T, E, F, Fut>(&self, op: F) -> Result<T, E>
    where
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run_in(CancelToken::current(), op).await
    }

    /// [`run`](Self::run), with each attempt's token a child of `parent`.
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
    pub async fn run_under<T, E, F, Fut>(&self, parent: &CancelToken, op: F) -> Result<T, E>
    where
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run_in(Some(parent.clone()), op).await
    }

    async fn run_in<T, E, F, Fut>(&self, parent: Option<CancelToken>, mut op: F) -> Result<T, E>
    where
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let inner = &*self.inner;
        inner.calls.inc();
        let mut running: Vec<Running<Fut>> = Vec::with_capacity(inner.max_attempts as usize);
        let mut launched = 0u32;
        let mut launch = |running: &mut Vec<Running<Fut>>| {
            launched += 1;
            if launched > 1 {
                inner.hedged.inc();
            }
            let token = parent
                .as_ref()
                .map_or_else(CancelToken::new, CancelToken::child);
            let fut = Box::pin(op(Attempt::new(launched, token.clone())));
            running.push(Running {
                number: launched,
                token,
                fut,
            });
            launched
        };
        let initial = match inner.mode {
            HedgeMode::Parallel => inner.max_attempts,
            _ => 1,
        };
        for _ in 0..initial {
            launch(&mut running);
        }
        let delay = match inner.mode {
            HedgeMode::Latency(d) => Some(d),
            _ => None,
        };
        let mut timer = pin!(delay.map(spectrum_rt::time::sleep));
        let mut last_err = None;
        let mut total = initial;
        let outcome = poll_fn(|cx| loop {
            let mut i = 0;
            let mut progressed = false;
            while i < running.len() {
                match running[i].fut.as_mut().poll(cx) {
                    Poll::Ready(Ok(v)) => {
                        let won = running.swap_remove(i).number;
                        return Poll::Ready(Ok((won, v)));
                    }
                    Poll::Ready(Err(e)) => {
                        running.swap_remove(i);
                        last_err = Some(e);
                        if total < inner.max_attempts {
                            total = launch(&mut running);
                            progressed = true;
                        }
                    }
                    Poll::Pending => i += 1,
                }
            }
            if progressed {
                continue;
            }
            if running.is_empty() {
                return Poll::Ready(Err(()));
            }
            if total < inner.max_attempts {
                if let Some(mut t) = timer.as_mut().as_pin_mut() {
                    if t.as_mut().poll(cx).is_ready() {
                        total = launch(&mut running);
                        let next = t.deadline() + delay.unwrap_or_default();
                        t.reset(next);
                        continue;
                    }
                }
            }
            return Poll::Pending;
        })
        .await;
        // Step 3: cancel the losers, then await them within the grace.
        if !running.is_empty() {
            let cause = CancelCause::new("hedging: another attempt won");
            for r in &running {
                r.token.cancel_with(cause.clone());
                inner.losers_cancelled.inc();
            }
            if !inner.grace.is_zero() {
                let mut grace = pin!(spectrum_rt::time::sleep(inner.grace));
                poll_fn(|cx| {
                    running.retain_mut(|r| r.fut.as_mut().poll(cx).is_pending());
                    if running.is_empty() || grace.as_mut().poll(cx).is_ready() {
                        Poll::Ready(())
                    } else {
                        Poll::Pending
                    }
                })
                .await;
            }
            for _ in 0..running.len() {
                inner.losers_dropped.inc();
            }
            running.clear();
        }
        match outcome {
            Ok((1, v)) => {
                inner.primary_won.inc();
                Ok(v)
            }
            Ok((_, v)) => {
                inner.hedge_won.inc();
                Ok(v)
            }
            Err(()) => {
                inner.all_failed.inc();
                Err(last_err.expect("every attempt failed, so there is a last error"))
            }
        }
    }

    /// Counters `calls`, `hedged` (extra attempts started), `primary_won`, `hedge_won`,
    /// `all_failed`, `losers_cancelled`, `losers_dropped` (still running after the grace).
    pub fn metrics(&self) -> PolicySnapshot {
        self.inner.snapshot()
    }
}

impl Metered for Inner {
    fn snapshot(&self) -> PolicySnapshot {
        PolicySnapshot::new(&self.name, PolicyKind::Hedge)
            .counter_value("calls", self.calls.get())
            .counter_value("hedged", self.hedged.get())
            .counter_value("primary_won", self.primary_won.get())
            .counter_value("hedge_won", self.hedge_won.get())
            .counter_value("all_failed", self.all_failed.get())
            .counter_value("losers_cancelled", self.losers_cancelled.get())
            .counter_value("losers_dropped", self.losers_dropped.get())
    }
}

impl fmt::Debug for Hedge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hedge")
            .field("name", &self.inner.name)
            .field("mode", &self.inner.mode)
            .field("max_attempts", &self.inner.max_attempts)
            .field("grace", &self.inner.grace)
            .finish()
    }
}
