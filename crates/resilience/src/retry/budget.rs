//! `RetryBudget`: a token bucket, shared across calls, that bounds retries to a fraction of
//! traffic.
//!
//! Per-call retry limits multiply under an outage: three attempts per call triples the load on a
//! dependency that is already failing. A budget bounds the *total* instead (the idea of
//! Finagle's `RetryBudget` and tower's `retry::budget`): every call deposits `ratio` tokens, every
//! retry withdraws one, so retries stay below `ratio × calls` however many calls fail. A small
//! time-based reserve (`min_per_second`, a GCRA limiter) lets low-traffic clients retry at all.
//!
//! Deposits are capped at `max_tokens` so a long healthy period cannot bank an unbounded retry
//! storm for the next outage (tower bounds it with a time-to-live instead).
//!
//! Balances are kept in milli-tokens in one atomic word, updated by compare-and-swap.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use spectrum_sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::metrics::{self, Counter, Metered, PolicyKind, PolicySnapshot};
use crate::{ConfigError, Quota, RateLimiter};

/// A shared token bucket that bounds retries to a fraction of calls.
///
/// ```
/// use spectrum_resilience::RetryBudget;
///
/// let budget = RetryBudget::builder().ratio(0.5).min_per_second(0).build().unwrap();
/// for _ in 0..4 {
///     budget.deposit(); // four calls
/// }
/// assert!(budget.try_withdraw());
/// assert!(budget.try_withdraw()); // two retries = 0.5 × 4
/// assert!(!budget.try_withdraw());
/// ```
#[derive(Clone)]
pub struct RetryBudget {
    inner: Arc<Inner>,
}

struct Inner {
    deposit_milli: u64,
    max_milli: u64,
    balance: AtomicU64,
    reserve: Option<RateLimiter>,
    name: String,
    withdrawn: Counter,
    denied: Counter,
}

/// Builds a [`RetryBudget`].
#[derive(Clone, Debug)]
pub struct RetryBudgetBuilder {
    ratio: f64,
    min_per_second: u32,
    max_tokens: u32,
    name: String,
}

impl RetryBudgetBuilder {
    /// Names the budget (shown in metrics and dumps).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Retries allowed per call, on average (default 0.2, tower's 20 %).
    pub fn ratio(mut self, ratio: f64) -> Self {
        self.ratio = ratio;
        self
    }

    /// Retries always allowed per second, whatever the traffic (default 10, as tower).
    pub fn min_per_second(mut self, n: u32) -> Self {
        self.min_per_second = n;
        self
    }

    /// The most tokens deposits can bank (default 100).
    pub fn max_tokens(mut self, n: u32) -> Self {
        self.max_tokens = n;
        self
    }

    /// Builds the budget.
    ///
    /// # Errors
    ///
    /// A ratio that is negative, not finite or above 1000, zero `max_tokens` with a non-zero
    /// ratio, or a budget that allows no retry at all (zero ratio and zero minimum).
    pub fn build(self) -> Result<RetryBudget, ConfigError> {
        const P: &str = "retry budget";
        if !self.ratio.is_finite() || !(0.0..=1000.0).contains(&self.ratio) {
            return Err(ConfigError::new(
                P,
                format!("ratio must be in [0, 1000], got {}", self.ratio),
            ));
        }
        if self.ratio == 0.0 && self.min_per_second == 0 {
            return Err(ConfigError::new(
                P,
                "a zero ratio and zero min_per_second allow no retry at all",
            ));
        }
        if self.ratio > 0.0 && self.max_tokens == 0 {
            return Err(ConfigError::new(P, "max_tokens must be non-zero"));
        }
        let reserve = match self.min_per_second {
            0 => None,
            n => Some(
                RateLimiter::builder(Quota::per_second(n))
                    .name(format!("{}:reserve", self.name))
                    .build()?,
            ),
        };
        let inner = Arc::new(Inner {
            deposit_milli: (self.ratio * 1000.0).round() as u64,
            max_milli: u64::from(self.max_tokens) * 1000,
            balance: AtomicU64::new(0),
            reserve,
            name: self.name,
            withdrawn: Counter::default(),
            denied: Counter::default(),
        });
        metrics::register(&inner);
        Ok(RetryBudget { inner })
    }
}

impl RetryBudget {
    /// Starts building a budget (tower's defaults: 20 % and 10 per second).
    pub fn builder() -> RetryBudgetBuilder {
        RetryBudgetBuilder {
            ratio: 0.2,
            min_per_second: 10,
            max_tokens: 100,
            name: String::new(),
        }
    }

    /// Records a call: deposits `ratio` tokens (up to the cap).
    #[inline]
    pub fn deposit(&self) {
        let inner = &*self.inner;
        if inner.deposit_milli == 0 {
            return;
        }
        // Relaxed: the balance is a number, not a guard for other memory.
        let _ = inner.balance.fetch_update(Relaxed, Relaxed, |b| {
            (b < inner.max_milli).then(|| (b + inner.deposit_milli).min(inner.max_milli))
        });
    }

    /// Asks to retry: withdraws one token (or uses the per-second reserve). `false` means the
    /// budget is exhausted and the call must not retry.
    pub fn try_withdraw(&self) -> bool {
        let inner = &*self.inner;
        // Relaxed: see `deposit`.
        let ok = inner
            .balance
            .fetch_update(Relaxed, Relaxed, |b| b.checked_sub(1000))
            .is_ok()
            || inner.reserve.as_ref().is_some_and(|r| r.check().is_ok());
        if ok {
            inner.withdrawn.inc();
        } else {
            inner.denied.inc();
        }
        ok
    }

    /// Whole tokens banked now (not counting the reserve).
    pub fn balance(&self) -> u64 {
        // Relaxed: a gauge.
        self.inner.balance.load(Relaxed) / 1000
    }

    /// The reserve's interval, if it has one.
    pub fn reserve_interval(&self) -> Option<Duration> {
        self.inner.reserve.as_ref().map(RateLimiter::interval)
    }

    /// Counters `withdrawn`, `denied`; gauge `balance`.
    pub fn metrics(&self) -> PolicySnapshot {
        self.inner.snapshot()
    }
}

impl Metered for Inner {
    fn snapshot(&self) -> PolicySnapshot {
        PolicySnapshot::new(&self.name, PolicyKind::RetryBudget)
            .counter_value("withdrawn", self.withdrawn.get())
            .counter_value("denied", self.denied.get())
            // Relaxed: a gauge.
            .gauge("balance", self.balance.load(Relaxed) as f64 / 1000.0)
    }
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudget")
            .field("name", &self.inner.name)
            .field("balance", &self.balance())
            .finish()
    }
}
