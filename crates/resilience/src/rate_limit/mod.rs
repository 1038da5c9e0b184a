//! Rate limiting with GCRA, direct and keyed.
//!
//! # Algorithm
//!
//! The Generic Cell Rate Algorithm (ATM Forum UNI 3.1 / ITU-T I.371, the "virtual scheduling"
//! form; the same algorithm as the `governor` crate and Brandur Leach's "Rate limiting, cells and
//! GCRA") keeps one number per limiter: the **theoretical arrival time** `tat` of the next cell.
//! With emission interval `T = period / count` and burst `B`, a request for `n` cells at time
//! `now` is allowed iff
//!
//! ```text
//! new_tat = max(tat, now) + n·T      and      new_tat − now ≤ B·T
//! ```
//!
//! and then `tat = new_tat`; otherwise it may retry at `new_tat − B·T`. From a fresh state exactly
//! `B` cells pass at once (the burst) and then one every `T` (the steady rate), with no
//! per-window counters, no refill task, and state that is a single `u64` updated by
//! compare-and-swap.
//!
//! A state with `tat ≤ now` is indistinguishable from a fresh one. The keyed limiter uses that to
//! evict idle keys **losslessly**: forgetting such a key changes no future decision.
//!
//! Times are nanoseconds since the limiter's creation. They are read from the CPU's time-stamp
//! counter (through `quanta`, as `governor` does: a few nanoseconds where `clock_gettime`
//! costs tens) except while the entered runtime's clock is paused: then from that (virtual)
//! clock, so the paused test clock makes every decision exact and reproducible. See the
//! [crate docs](crate#time).

mod direct;
mod keyed;
mod prehashed;

use std::fmt;
use std::time::Duration;

pub use direct::{RateLimiter, RateLimiterBuilder};
pub use keyed::{KeyedError, KeyedRateLimiter, KeyedRateLimiterBuilder};

use crate::ConfigError;

/// How many cells per period, and how many at once.
///
/// ```
/// use std::time::Duration;
/// use spectrum_resilience::Quota;
///
/// let q = Quota::per_second(100).burst(10);
/// assert_eq!(q.interval(), Some(Duration::from_millis(10)));
/// assert_eq!(q.burst_size(), 10);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    per: Duration,
    count: u32,
    burst: Option<u32>,
}

impl Quota {
    /// `count` cells per second; the burst defaults to `count`.
    pub const fn per_second(count: u32) -> Quota {
        Quota::new(count, Duration::from_secs(1))
    }

    /// `count` cells per minute; the burst defaults to `count`.
    pub const fn per_minute(count: u32) -> Quota {
        Quota::new(count, Duration::from_secs(60))
    }

    /// `count` cells per `period`; the burst defaults to `count`.
    pub const fn new(count: u32, period: Duration) -> Quota {
        Quota {
            per: period,
            count,
            burst: None,
        }
    }

    /// One cell every `interval`, burst 1.
    pub const fn with_interval(interval: Duration) -> Quota {
        Quota {
            per: interval,
            count: 1,
            burst: Some(1),
        }
    }

    /// Sets how many cells may pass at once after an idle period.
    pub const fn burst(mut self, burst: u32) -> Quota {
        self.burst = Some(burst);
        self
    }

    /// The emission interval `T` (time per cell), if the quota is valid.
    pub fn interval(&self) -> Option<Duration> {
        if self.count == 0 || self.per.is_zero() {
            return None;
        }
        Some(self.per / self.count)
    }

    /// The burst size `B`.
    pub fn burst_size(&self) -> u32 {
        self.burst.unwrap_or(self.count)
    }

    pub(crate) fn gcra(&self, policy: &'static str) -> Result<Gcra, ConfigError> {
        if self.count == 0 {
            return Err(ConfigError::new(policy, "quota count must be non-zero"));
        }
        if self.per.is_zero() {
            return Err(ConfigError::new(policy, "quota period must be non-zero"));
        }
        let burst = self.burst_size();
        if burst == 0 {
            return Err(ConfigError::new(policy, "quota burst must be non-zero"));
        }
        let t = (self.per / self.count).as_nanos();
        if t == 0 {
            return Err(ConfigError::new(
                policy,
                format!(
                    "quota of {} per {:?} is faster than one cell per nanosecond",
                    self.count, self.per
                ),
            ));
        }
        // Cap B·T at ~292 years of nanoseconds with room for `now` on top.
        let tau = t
            .checked_mul(u128::from(burst))
            .filter(|tau| *tau <= u128::from(u64::MAX / 4))
            .ok_or_else(|| {
                ConfigError::new(
                    policy,
                    format!("burst {burst} × interval {t} ns overflows the time range"),
                )
            })?;
        Ok(Gcra {
            t: t as u64,
            tau: tau as u64,
            burst,
        })
    }
}

/// The GCRA parameters: emission interval and delay tolerance, in nanoseconds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Gcra {
    /// `T`: nanoseconds per cell.
    t: u64,
    /// `τ = B·T`.
    tau: u64,
    burst: u32,
}

impl Gcra {
    /// The new `tat` if `n` cells are allowed at `now`, else the time at which they would be.
    #[inline]
    pub(crate) fn decide(&self, tat: u64, now: u64, n: u32) -> Result<u64, u64> {
        let new_tat = tat.max(now) + self.t * u64::from(n);
        if new_tat - now <= self.tau {
            Ok(new_tat)
        } else {
            Err(new_tat - self.tau)
        }
    }

    pub(crate) fn burst(&self) -> u32 {
        self.burst
    }

    pub(crate) fn interval(&self) -> Duration {
        Duration::from_nanos(self.t)
    }
}

/// The limiter refused a request; it may be retried after `retry_after`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimited {
    /// How long until the same request would be allowed.
    pub retry_after: Duration,
}

impl fmt::Display for RateLimited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rate limited; retry after {:?}", self.retry_after)
    }
}

impl std::error::Error for RateLimited {}

/// [`RateLimiter::check_n`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckNError {
    /// Not now; `retry_after` says when.
    RateLimited(RateLimited),
    /// More cells than the burst: this request can never pass.
    InsufficientCapacity {
        /// The limiter's burst size.
        burst: u32,
    },
}

impl fmt::Display for CheckNError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckNError::RateLimited(r) => r.fmt(f),
            CheckNError::InsufficientCapacity { burst } => {
                write!(
                    f,
                    "request exceeds the burst size of {burst} and can never pass"
                )
            }
        }
    }
}

impl std::error::Error for CheckNError {}
