//! Resilience patterns for every Spectrum model: cooperative timeouts, retries with budgets,
//! circuit breakers, bulkheads, GCRA rate limiters, hedging, fallback and chaos, composable in one
//! order.
//!
//! Calls to other services fail, hang and overload. The patterns here are the standard answers,
//! after resilience4j, Polly v8, Failsafe and tower, with the gaps their users keep asking about
//! filled in: a timeout that asks the operation to stop before it drops it, retries that cannot
//! multiply an outage (a shared budget, no retrying of rejections), a half-open state that can
//! never wedge, a keyed rate limiter with bounded memory whose clones share state, and hedging
//! whose losers are cancelled *and* awaited.
//!
//! ```
//! # spectrum_rt::Runtime::builder().start_paused(true).build().unwrap().block_on(async {
//! use std::time::Duration;
//! use spectrum_resilience::{
//!     Backoff, Bulkhead, CircuitBreaker, Error, Jitter, Pipeline, Quota, RateLimiter, Retry,
//!     Timeout,
//! };
//!
//! let pipeline = Pipeline::<u32, String>::builder()
//!     .retry(
//!         Retry::builder()
//!             .max_attempts(3)
//!             .backoff(Backoff::exponential(Duration::from_millis(100)).jitter(Jitter::Full))
//!             .build()?,
//!     )
//!     .breaker(CircuitBreaker::builder().failure_rate_threshold(50.0).build()?)
//!     .rate_limiter(RateLimiter::new(Quota::per_second(1000))?)
//!     .timeout(Timeout::new(Duration::from_secs(1))?)
//!     .bulkhead(Bulkhead::builder().max_concurrent(64).build()?)
//!     .build();
//!
//! let answer = pipeline
//!     .call(|attempt| async move {
//!         if attempt.number() < 2 { Err("flaky".to_string()) } else { Ok(42) }
//!     })
//!     .await;
//! assert_eq!(answer, Ok(42));
//!
//! // Sync-style code (fibers, threads) blocks on the same pipeline with `.wait()`:
//! // `pipeline.call(...).wait()` or `pipeline.call_blocking(|attempt| ...)`.
//! # let _: Option<Error<String>> = None;
//! # Ok::<(), spectrum_resilience::ConfigError>(())
//! # }).unwrap();
//! ```
//!
//! # The patterns
//!
//! | policy | what it is for |
//! |---|---|
//! | [`Timeout`] | bound a call in time: its token fires first, then after a grace the call is dropped |
//! | [`Retry`] | ride out transient failures: attempts, elapsed budget, backoff + jitter, hints, a shared [`RetryBudget`] |
//! | [`CircuitBreaker`] | stop calling what is failing, probe it, recover |
//! | [`Bulkhead`] | bound concurrency so one dependency cannot take every task |
//! | [`RateLimiter`], [`KeyedRateLimiter`] | bound the rate of calls (GCRA), globally or per key |
//! | [`Hedge`] | cut tail latency or fail over by racing extra attempts |
//! | [`Fallback`] | replace a failure with a substitute |
//! | [`Chaos`] | inject faults, latency and outcomes to test the rest |
//! | [`Pipeline`] | all of the above in one [documented order](pipeline) |
//!
//! Every policy is a cheap `Clone` handle to shared state, usable from async tasks, from fibers
//! and threads through `spectrum_rt::Wait::wait`, and (feature `tower`) as a `tower::Layer`.
//! Every policy reports counters and state through [`metrics`].
//!
//! # Time
//!
//! Policies read the entered runtime's clock (`spectrum_rt::time::now`), or the OS clock on a
//! thread with no runtime, and sleep on the runtime's timer wheel. Under a paused test clock
//! (`start_paused = true`) every state machine here is deterministic and instant.
//!
//! Two hot paths read a cheaper clock while the runtime's clock is not paused: the rate
//! limiters measure time with the CPU's time-stamp counter (through `quanta`, as `governor`
//! does), and a timeout's start is that counter's reading anchored to the OS clock (re-anchored
//! every millisecond, so it stays within a microsecond of the OS clock). Under a paused
//! clock both read the runtime's virtual time, so tests stay exact.
#![forbid(unsafe_code)]

mod attempt;
mod backoff;
mod breaker;
mod bulkhead;
mod chaos;
mod clock;
mod config;
mod error;
mod fallback;
mod hedge;
pub mod metrics;
pub mod pipeline;
pub mod rate_limit;
pub mod retry;
mod rng;
mod timeout;
#[cfg(feature = "tower")]
pub mod tower;

pub use attempt::Attempt;
pub use backoff::{Backoff, Jitter};
pub use breaker::{
    BreakerPermit, CircuitBreaker, CircuitBreakerBuilder, CircuitOpen, CircuitState, StateChange,
    TransitionReason,
};
pub use bulkhead::{Bulkhead, BulkheadBuilder, BulkheadFull, BulkheadPermit, BulkheadRejection};
pub use chaos::{Chaos, ChaosBuilder};
pub use config::ConfigError;
pub use error::Error;
pub use fallback::{Fallback, FallbackBuilder};
pub use hedge::{Hedge, HedgeBuilder, HedgeMode};
pub use metrics::{PolicyKind, PolicySnapshot};
pub use pipeline::{Pipeline, PipelineBuilder};
pub use rate_limit::{
    CheckNError, KeyedError, KeyedRateLimiter, KeyedRateLimiterBuilder, Quota, RateLimited,
    RateLimiter, RateLimiterBuilder,
};
pub use retry::{Retry, RetryBudget, RetryBudgetBuilder, RetryBuilder, RetryEvent};
pub use rng::Rng;
pub use timeout::{TimedOut, Timeout, TimeoutBuilder};
