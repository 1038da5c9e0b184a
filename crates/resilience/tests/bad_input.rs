//! Bad input: zero or absurd limits and zero durations get a clear error from `build`, never a
//! panic deep inside a call.

use std::time::Duration;

use spectrum_resilience::{
    Backoff, Bulkhead, Chaos, CircuitBreaker, Hedge, HedgeMode, Jitter, KeyedRateLimiter, Quota,
    RateLimiter, Retry, RetryBudget, Timeout,
};

fn msg<T: std::fmt::Debug>(r: Result<T, spectrum_resilience::ConfigError>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn each_policy_names_what_is_wrong() {
    assert_eq!(
        msg(Timeout::new(Duration::ZERO)),
        "invalid timeout configuration: duration must be non-zero"
    );
    assert!(msg(Timeout::new(Duration::MAX)).contains("must be at most"));
    assert_eq!(
        msg(Retry::<(), ()>::builder().max_attempts(0).build()),
        "invalid retry configuration: max_attempts must be in 1..=1000, got 0"
    );
    assert!(msg(Retry::<(), ()>::builder()
        .max_elapsed(Duration::ZERO)
        .build())
    .contains("max_elapsed"));
    assert!(msg(Retry::<(), ()>::builder()
        .backoff(Backoff::exponential(Duration::from_secs(1)).factor(0.5))
        .build())
    .contains("factor"));
    assert!(msg(Retry::<(), ()>::builder()
        .backoff(Backoff::constant(Duration::from_secs(5)).cap(Duration::from_secs(1)))
        .build())
    .contains("below the initial delay"));
    assert!(msg(Retry::<(), ()>::builder()
        .backoff(Backoff::constant(Duration::ZERO).jitter(Jitter::Decorrelated))
        .build())
    .contains("decorrelated"));
    assert!(msg(CircuitBreaker::builder()
        .failure_rate_threshold(0.0)
        .build())
    .contains("(0, 100]"));
    assert!(msg(CircuitBreaker::builder()
        .failure_rate_threshold(f64::NAN)
        .build())
    .contains("(0, 100]"));
    assert!(msg(CircuitBreaker::builder().count_window(0).build()).contains("count_window"));
    assert!(msg(CircuitBreaker::builder()
        .time_window(10, Duration::ZERO)
        .build())
    .contains("width"));
    assert!(msg(CircuitBreaker::builder().permitted_probes(0).build()).contains("permitted_probes"));
    assert!(msg(CircuitBreaker::builder()
        .probe_timeout(Duration::ZERO)
        .build())
    .contains("probe_timeout"));
    assert!(msg(CircuitBreaker::builder()
        .open_duration(Duration::ZERO)
        .build())
    .contains("open duration"));
    assert!(msg(Bulkhead::builder().max_concurrent(0).build()).contains("max_concurrent"));
    assert!(msg(Bulkhead::builder().max_wait(Duration::ZERO).build()).contains("max_queue(0)"));
    assert!(msg(RateLimiter::new(Quota::per_second(0))).contains("count must be non-zero"));
    assert!(msg(RateLimiter::new(Quota::per_second(5).burst(0))).contains("burst"));
    assert!(msg(RateLimiter::new(Quota::new(1, Duration::ZERO))).contains("period"));
    assert!(msg(RateLimiter::new(Quota::new(
        u32::MAX,
        Duration::from_nanos(1)
    )))
    .contains("nanosecond"));
    assert!(msg(RateLimiter::new(
        Quota::with_interval(Duration::from_secs(86_400 * 365 * 100)).burst(u32::MAX)
    ))
    .contains("overflows"));
    assert!(msg(KeyedRateLimiter::<u32>::builder(Quota::per_second(1))
        .max_keys(0)
        .build())
    .contains("max_keys"));
    assert!(msg(KeyedRateLimiter::<u32>::builder(Quota::per_second(1))
        .max_keys(4)
        .shards(8)
        .build())
    .contains("shards"));
    assert!(msg(RetryBudget::builder().ratio(-1.0).build()).contains("ratio"));
    assert!(msg(RetryBudget::builder().ratio(0.0).min_per_second(0).build()).contains("no retry"));
    assert!(msg(Hedge::builder(HedgeMode::Latency(Duration::ZERO)).build()).contains("Parallel"));
    assert!(
        msg(Hedge::builder(HedgeMode::Parallel).max_attempts(0).build()).contains("max_attempts")
    );
    assert!(msg(Chaos::<(), ()>::builder().fault(2.0, || ()).build()).contains("[0, 1]"));
    assert!(msg(Chaos::<(), ()>::builder()
        .latency(0.5, Duration::from_secs(86_400))
        .build())
    .contains("hour"));
}

#[test]
fn extreme_but_valid_settings_do_not_overflow() {
    let b = Backoff::exponential(Duration::from_secs(1));
    assert_eq!(b.base_delay(u32::MAX), Backoff::DEFAULT_CAP);
    let l = Backoff::linear(Duration::from_secs(1), Duration::from_secs(u64::MAX / 2));
    assert_eq!(l.base_delay(u32::MAX), Backoff::DEFAULT_CAP);
    let r = RateLimiter::new(Quota::per_second(1_000_000_000).burst(u32::MAX)).unwrap();
    assert!(r.check().is_ok());
}
