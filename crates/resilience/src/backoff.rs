//! Backoff schedules and jitter, shared by retry and by the circuit breaker's open duration.
//!
//! A [`Backoff`] maps "the n-th wait" (n = 0 for the first) to a duration: constant, linear
//! (`initial + n * step`) or exponential (`initial * factor^n`), always clamped to a cap. Jitter
//! then spreads the waits of many clients so that they do not retry in lock-step. The jitter
//! formulas are those of Marc Brooker's "Exponential Backoff And Jitter" (AWS Architecture Blog,
//! 2015), with `base` the initial delay and `temp` the capped schedule value:
//!
//! - **full**: `random(0, temp)`;
//! - **equal**: `temp / 2 + random(0, temp / 2)`;
//! - **decorrelated**: `min(cap, random(base, previous * 3))`, starting from `previous = base`;
//!   it ignores the schedule's shape and depends only on the previous wait.
//!
//! Without an explicit cap, waits are clamped to [`Backoff::DEFAULT_CAP`] (one day) so that no
//! exponent can overflow. Randomness comes from a caller-supplied [`Rng`], so a seeded generator
//! makes every schedule reproducible in tests.

use std::time::Duration;

use crate::{ConfigError, Rng};

/// How randomness spreads the waits ("Exponential Backoff And Jitter", AWS, 2015).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Jitter {
    /// The schedule as computed.
    #[default]
    None,
    /// Uniform in `[0, delay]`.
    Full,
    /// Uniform in `[delay / 2, delay]`.
    Equal,
    /// Uniform in `[initial, previous * 3]`, capped.
    Decorrelated,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Shape {
    Constant(Duration),
    Linear { initial: Duration, step: Duration },
    Exponential { initial: Duration, factor: f64 },
}

/// A schedule of waits: constant, linear or exponential, with a cap and a [`Jitter`].
///
/// ```
/// use std::time::Duration;
/// use spectrum_resilience::{Backoff, Jitter, Rng};
///
/// let b = Backoff::exponential(Duration::from_millis(100))
///     .cap(Duration::from_secs(1))
///     .jitter(Jitter::None);
/// let waits: Vec<_> = (0..5).map(|n| b.base_delay(n)).collect();
/// assert_eq!(waits, [100, 200, 400, 800, 1000].map(Duration::from_millis));
///
/// // Full jitter stays within [0, schedule]:
/// let mut rng = Rng::seeded(1);
/// let j = b.jitter(Jitter::Full);
/// assert!(j.delay(3, Duration::ZERO, &mut rng) <= Duration::from_millis(800));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    shape: Shape,
    cap: Duration,
    jitter: Jitter,
}

impl Backoff {
    /// The clamp applied when no [`cap`](Self::cap) is set: one day.
    pub const DEFAULT_CAP: Duration = Duration::from_secs(86_400);

    /// The same wait every time.
    pub const fn constant(delay: Duration) -> Backoff {
        Backoff {
            shape: Shape::Constant(delay),
            cap: Self::DEFAULT_CAP,
            jitter: Jitter::None,
        }
    }

    /// `initial + n * step` for the n-th wait.
    pub const fn linear(initial: Duration, step: Duration) -> Backoff {
        Backoff {
            shape: Shape::Linear { initial, step },
            cap: Self::DEFAULT_CAP,
            jitter: Jitter::None,
        }
    }

    /// `initial * 2^n` for the n-th wait (change the base with [`factor`](Self::factor)).
    pub const fn exponential(initial: Duration) -> Backoff {
        Backoff {
            shape: Shape::Exponential {
                initial,
                factor: 2.0,
            },
            cap: Self::DEFAULT_CAP,
            jitter: Jitter::None,
        }
    }

    /// Sets the growth factor of an exponential schedule (ignored by the other shapes).
    pub fn factor(mut self, factor: f64) -> Backoff {
        if let Shape::Exponential { factor: f, .. } = &mut self.shape {
            *f = factor;
        }
        self
    }

    /// Clamps every wait to `cap`.
    pub fn cap(mut self, cap: Duration) -> Backoff {
        self.cap = cap;
        self
    }

    /// Sets the jitter.
    pub fn jitter(mut self, jitter: Jitter) -> Backoff {
        self.jitter = jitter;
        self
    }

    /// The configured cap.
    pub fn max_delay(&self) -> Duration {
        self.cap
    }

    /// The configured jitter.
    pub fn jitter_kind(&self) -> Jitter {
        self.jitter
    }

    fn initial(&self) -> Duration {
        match self.shape {
            Shape::Constant(d) => d,
            Shape::Linear { initial, .. } | Shape::Exponential { initial, .. } => initial,
        }
    }

    /// Checks the schedule; builders call this for you.
    ///
    /// # Errors
    ///
    /// A cap of zero or below the initial delay, an exponential factor that is not a finite
    /// number `>= 1`, or decorrelated jitter with a zero initial delay (it could never grow).
    pub fn validate(&self, policy: &'static str) -> Result<(), ConfigError> {
        let initial = self.initial();
        if self.cap.is_zero() && !initial.is_zero() {
            return Err(ConfigError::new(policy, "backoff cap must be non-zero"));
        }
        if self.cap < initial {
            return Err(ConfigError::new(
                policy,
                format!(
                    "backoff cap ({:?}) is below the initial delay ({initial:?})",
                    self.cap
                ),
            ));
        }
        if let Shape::Exponential { factor, .. } = self.shape {
            if !factor.is_finite() || factor < 1.0 {
                return Err(ConfigError::new(
                    policy,
                    format!(
                        "exponential backoff factor must be a finite number >= 1, got {factor}"
                    ),
                ));
            }
        }
        if self.jitter == Jitter::Decorrelated && initial.is_zero() {
            return Err(ConfigError::new(
                policy,
                "decorrelated jitter needs a non-zero initial delay",
            ));
        }
        Ok(())
    }

    /// The n-th wait (n = 0 first) before jitter, clamped to the cap.
    pub fn base_delay(&self, n: u32) -> Duration {
        let raw = match self.shape {
            Shape::Constant(d) => d,
            Shape::Linear { initial, step } => step
                .checked_mul(n)
                .and_then(|s| s.checked_add(initial))
                .unwrap_or(self.cap),
            Shape::Exponential { initial, factor } => {
                let secs = initial.as_secs_f64() * factor.powi(n.min(i32::MAX as u32) as i32);
                if secs.is_finite() && secs < self.cap.as_secs_f64() {
                    Duration::from_secs_f64(secs)
                } else {
                    self.cap
                }
            }
        };
        raw.min(self.cap)
    }

    /// The n-th wait with jitter applied. `previous` is the wait returned for `n - 1` (only
    /// decorrelated jitter uses it; pass `Duration::ZERO` for the first).
    pub fn delay(&self, n: u32, previous: Duration, rng: &mut Rng) -> Duration {
        let temp = self.base_delay(n);
        match self.jitter {
            Jitter::None => temp,
            Jitter::Full => rng.duration_between(Duration::ZERO, temp),
            Jitter::Equal => rng.duration_between(temp / 2, temp),
            Jitter::Decorrelated => {
                let base = self.initial();
                let prev = previous.max(base);
                let hi = prev.checked_mul(3).unwrap_or(self.cap);
                rng.duration_between(base, hi).min(self.cap)
            }
        }
    }

    /// The first `count` waits of this schedule, drawn with `rng`.
    pub fn schedule(&self, count: u32, rng: &mut Rng) -> Vec<Duration> {
        let mut prev = Duration::ZERO;
        (0..count)
            .map(|n| {
                prev = self.delay(n, prev, rng);
                prev
            })
            .collect()
    }
}
