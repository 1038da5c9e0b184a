//! `ConfigError`: what a builder says about bad input.
//!
//! Every policy is built through a builder whose `build` checks the whole configuration once
//! (zero or absurd limits, zero durations where zero means nothing, rates outside their range)
//! and returns this error naming the policy, the setting and the value. Nothing is checked again
//! on the hot path, and nothing panics deep inside a call because of a bad setting.

use std::fmt;

/// A policy's configuration was rejected by its builder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    policy: &'static str,
    message: String,
}

impl ConfigError {
    pub(crate) fn new(policy: &'static str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            policy,
            message: message.into(),
        }
    }

    /// The policy whose configuration was rejected ("retry", "circuit breaker", ...).
    pub fn policy(&self) -> &'static str {
        self.policy
    }

    /// What was wrong, naming the setting and the value.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {} configuration: {}", self.policy, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Parts per million from a fraction in `[0, 1]`, or an error naming `what`.
pub(crate) fn fraction_to_ppm(
    policy: &'static str,
    what: &str,
    value: f64,
) -> Result<u32, ConfigError> {
    if !(0.0..=1.0).contains(&value) {
        return Err(ConfigError::new(
            policy,
            format!("{what} must be a fraction in [0, 1], got {value}"),
        ));
    }
    Ok((value * 1_000_000.0).round() as u32)
}
