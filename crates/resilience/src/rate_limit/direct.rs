//! `RateLimiter`: one GCRA state shared by every clone.
//!
//! # Invariants
//!
//! - `tat` (nanoseconds since `epoch` on the limiter clock, see the [module docs](super)) is
//!   only changed by a compare-and-swap from a value the swapper read, so concurrent checks
//!   linearize: each allowed cell advanced `tat` by exactly `T` from the state it saw. Hence
//!   no over-admission under contention: `n` allowed cells moved `tat` forward by `n·T`.
//! - Clones share `Inner`; there is no per-handle state (the tower/axum complaint that a cloned
//!   limiter gets a fresh budget does not apply).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use spectrum_sync::atomic::{AtomicU64, Ordering::*};
use spectrum_sync::CachePadded;

use super::{CheckNError, Gcra, Quota, RateLimited};
use crate::clock::Epoch;
use crate::metrics::{self, Counter, Metered, PolicyKind, PolicySnapshot};
use crate::rng::{random_seed, SharedRng};
use crate::ConfigError;

/// A GCRA rate limiter; clones share one state.
///
/// ```
/// # spectrum_rt::Runtime::builder().start_paused(true).build().unwrap().block_on(async {
/// use std::time::Duration;
/// use spectrum_resilience::{Quota, RateLimiter};
///
/// let limiter = RateLimiter::new(Quota::per_second(10).burst(2)).unwrap();
/// let other = limiter.clone(); // same budget
/// assert!(limiter.check().is_ok());
/// assert!(other.check().is_ok());
/// let err = limiter.check().unwrap_err();
/// assert_eq!(err.retry_after, Duration::from_millis(100));
/// limiter.until_ready().await; // sleeps 100 ms (instantly, under the paused clock)
/// # });
/// ```
#[derive(Clone)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    gcra: Gcra,
    epoch: Epoch,
    tat: CachePadded<AtomicU64>,
    jitter: Duration,
    rng: SharedRng,
    name: String,
    limited: Counter,
    waits: Counter,
}

/// Builds a [`RateLimiter`].
#[derive(Clone, Debug)]
pub struct RateLimiterBuilder {
    quota: Quota,
    jitter: Duration,
    seed: Option<u64>,
    name: String,
}

impl RateLimiterBuilder {
    /// Names the policy (shown in metrics and dumps).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Adds a uniformly random `[0, max)` to every wait in [`until_ready`](RateLimiter::until_ready),
    /// so that many waiters released at once do not stampede (governor's `Jitter`).
    pub fn jitter(mut self, max: Duration) -> Self {
        self.jitter = max;
        self
    }

    /// Seeds the jitter (for reproducible tests).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Builds the limiter.
    ///
    /// # Errors
    ///
    /// A zero count, period or burst, a rate above one cell per nanosecond, or a burst whose
    /// tolerance overflows the time range.
    pub fn build(self) -> Result<RateLimiter, ConfigError> {
        let gcra = self.quota.gcra("rate limiter")?;
        if self.jitter > Duration::from_secs(3600) {
            return Err(ConfigError::new(
                "rate limiter",
                format!("jitter {:?} is above one hour", self.jitter),
            ));
        }
        let inner = Arc::new(Inner {
            gcra,
            epoch: Epoch::now(),
            tat: CachePadded::new(AtomicU64::new(0)),
            jitter: self.jitter,
            rng: SharedRng::new(self.seed.unwrap_or_else(random_seed)),
            name: self.name,
            limited: Counter::default(),
            waits: Counter::default(),
        });
        metrics::register(&inner);
        Ok(RateLimiter { inner })
    }
}

impl RateLimiter {
    /// A limiter for `quota`.
    ///
    /// # Errors
    ///
    /// See [`RateLimiterBuilder::build`].
    pub fn new(quota: Quota) -> Result<RateLimiter, ConfigError> {
        Self::builder(quota).build()
    }

    /// Starts building a limiter for `quota`.
    pub fn builder(quota: Quota) -> RateLimiterBuilder {
        RateLimiterBuilder {
            quota,
            jitter: Duration::ZERO,
            seed: None,
            name: String::new(),
        }
    }

    /// Takes one cell if one is available now.
    ///
    /// # Errors
    ///
    /// [`RateLimited`] with the time until a cell is available.
    #[inline]
    pub fn check(&self) -> Result<(), RateLimited> {
        let inner = &*self.inner;
        let now = inner.epoch.elapsed_nanos();
        // Relaxed: `tat` publishes nothing but itself, and the CAS below orders the updates.
        let mut tat = inner.tat.load(Relaxed);
        loop {
            match inner.gcra.decide(tat, now, 1) {
                Ok(new_tat) => {
                    // Relaxed on both sides: the CAS alone makes concurrent checks linearize
                    // on `tat` (it pairs with nothing); no other data is published with it.
                    match inner
                        .tat
                        .compare_exchange_weak(tat, new_tat, Relaxed, Relaxed)
                    {
                        Ok(_) => return Ok(()),
                        Err(actual) => tat = actual,
                    }
                }
                Err(at) => {
                    inner.limited.inc();
                    return Err(RateLimited {
                        retry_after: Duration::from_nanos(at - now),
                    });
                }
            }
        }
    }

    /// Takes `n` cells at once if they are available now.
    ///
    /// # Errors
    ///
    /// [`CheckNError::InsufficientCapacity`] if `n` exceeds the burst (it could never pass), else
    /// [`CheckNError::RateLimited`] with the time until it would.
    pub fn check_n(&self, n: u32) -> Result<(), CheckNError> {
        let inner = &*self.inner;
        if n > inner.gcra.burst() {
            return Err(CheckNError::InsufficientCapacity {
                burst: inner.gcra.burst(),
            });
        }
        let now = inner.epoch.elapsed_nanos();
        // Relaxed: see `check`.
        let mut tat = inner.tat.load(Relaxed);
        loop {
            match inner.gcra.decide(tat, now, n) {
                Ok(new_tat) => {
                    match inner
                        .tat
                        .compare_exchange_weak(tat, new_tat, Relaxed, Relaxed)
                    {
                        Ok(_) => return Ok(()),
                        Err(actual) => tat = actual,
                    }
                }
                Err(at) => {
                    inner.limited.inc();
                    return Err(CheckNError::RateLimited(RateLimited {
                        retry_after: Duration::from_nanos(at - now),
                    }));
                }
            }
        }
    }

    /// Waits until a cell is available and takes it (plus the configured jitter on each wait).
    ///
    /// # Panics
    ///
    /// Outside a Spectrum runtime, if it has to wait.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: no cell is reserved while waiting, so dropping the future loses nothing.
    pub async fn until_ready(&self) {
        loop {
            match self.check() {
                Ok(()) => return,
                Err(e) => {
                    self.inner.waits.inc();
                    spectrum_rt::time::sleep(e.retry_after + self.jitter_sample()).await;
                }
            }
        }
    }

    fn jitter_sample(&self) -> Duration {
        let j = self.inner.jitter;
        if j.is_zero() {
            return Duration::ZERO;
        }
        Duration::from_nanos(self.inner.rng.next_u64() % (j.as_nanos() as u64).max(1))
    }

    /// The emission interval (time per cell).
    pub fn interval(&self) -> Duration {
        self.inner.gcra.interval()
    }

    /// The burst size.
    pub fn burst(&self) -> u32 {
        self.inner.gcra.burst()
    }

    /// This limiter's counters: `limited`, `waits`.
    pub fn metrics(&self) -> PolicySnapshot {
        self.inner.snapshot()
    }
}

impl Metered for Inner {
    fn snapshot(&self) -> PolicySnapshot {
        PolicySnapshot::new(&self.name, PolicyKind::RateLimiter)
            .counter_value("limited", self.limited.get())
            .counter_value("waits", self.waits.get())
    }
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("name", &self.inner.name)
            .field("interval", &self.inner.gcra.interval())
            .field("burst", &self.inner.gcra.burst())
            .finish()
    }
}
