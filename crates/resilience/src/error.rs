//! `Error<E>`: the outcome of a call through a [`Pipeline`](crate::Pipeline).
//!
//! A pipeline can fail because the operation failed (`Inner`) or because one of its policies
//! turned the call away or cut it short. Each variant holds the small error of the policy that
//! produced it, so the limits and hints travel with it. Standalone policies return their own
//! small errors; this enum exists only where several policies meet.

use std::fmt;
use std::time::Duration;

use crate::{BulkheadFull, CircuitOpen, RateLimited, TimedOut};

/// Why a call through a pipeline failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error<E> {
    /// The operation's own error.
    Inner(E),
    /// The timeout elapsed (the late output of a cooperative stop is dropped here).
    TimedOut(TimedOut),
    /// The circuit breaker did not permit the call.
    CircuitOpen(CircuitOpen),
    /// The bulkhead was full.
    BulkheadFull(BulkheadFull),
    /// The rate limiter refused the call.
    RateLimited(RateLimited),
}

impl<E> Error<E> {
    /// True for a policy's rejection (circuit open, bulkhead full, rate limited): the operation
    /// never ran.
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            Error::CircuitOpen(_) | Error::BulkheadFull(_) | Error::RateLimited(_)
        )
    }

    /// The operation's own error, if that is what this is.
    pub fn inner(&self) -> Option<&E> {
        match self {
            Error::Inner(e) => Some(e),
            _ => None,
        }
    }

    /// Unwraps the operation's own error.
    pub fn into_inner(self) -> Option<E> {
        match self {
            Error::Inner(e) => Some(e),
            _ => None,
        }
    }

    /// When a retry could succeed, if the rejecting policy knows.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::CircuitOpen(c) => c.retry_after,
            Error::RateLimited(r) => Some(r.retry_after),
            _ => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Inner(e) => e.fmt(f),
            Error::TimedOut(e) => e.fmt(f),
            Error::CircuitOpen(e) => e.fmt(f),
            Error::BulkheadFull(e) => e.fmt(f),
            Error::RateLimited(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for Error<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Inner(e) => Some(e),
            Error::TimedOut(e) => Some(e),
            Error::CircuitOpen(e) => Some(e),
            Error::BulkheadFull(e) => Some(e),
            Error::RateLimited(e) => Some(e),
        }
    }
}
