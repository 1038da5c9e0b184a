//! Circuit breaker with a time-based sliding window: outcomes age out bucket by bucket.

use std::time::Duration;

use spectrum_resilience::{CircuitBreaker, CircuitState};
use spectrum_rt::time::advance;

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn failures_older_than_the_window_are_evicted() {
    // 10 buckets of 1 s: the last 10 s.
    let b = CircuitBreaker::builder()
        .time_window(10, Duration::from_secs(1))
        .minimum_calls(4)
        .failure_rate_threshold(50.0)
        .build()
        .unwrap();
    for _ in 0..3 {
        b.acquire().unwrap().record_failure();
    }
    assert_eq!(b.metrics().gauge_value("window_calls"), Some(3.0));
    advance(Duration::from_millis(9_999)).await;
    assert_eq!(
        b.metrics().gauge_value("window_calls"),
        Some(3.0),
        "still inside"
    );
    advance(Duration::from_millis(1)).await;
    assert_eq!(
        b.metrics().gauge_value("window_calls"),
        Some(0.0),
        "evicted at 10 s"
    );
    // The old failures no longer count: one new failure among 4 calls does not trip.
    b.acquire().unwrap().record_failure();
    for _ in 0..3 {
        b.acquire().unwrap().record_success();
    }
    assert_eq!(b.state(), CircuitState::Closed);
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn calls_spread_over_the_window_all_count() {
    let b = CircuitBreaker::builder()
        .time_window(5, Duration::from_secs(1))
        .minimum_calls(5)
        .failure_rate_threshold(60.0)
        .build()
        .unwrap();
    for fail in [true, false, true, false] {
        b.acquire().unwrap().record(fail);
        advance(Duration::from_secs(1)).await;
    }
    // 4 s later: all four are in the 5 s window (2/4); a fifth failure makes 3/5 = 60 %.
    b.acquire().unwrap().record_failure();
    assert_eq!(b.state(), CircuitState::Open);
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn a_partial_eviction_changes_the_rate() {
    let b = CircuitBreaker::builder()
        .time_window(2, Duration::from_secs(1))
        .minimum_calls(3)
        .failure_rate_threshold(100.0)
        .build()
        .unwrap();
    b.acquire().unwrap().record_success(); // epoch 0
    advance(Duration::from_secs(1)).await;
    b.acquire().unwrap().record_failure(); // epoch 1
    b.acquire().unwrap().record_failure();
    assert_eq!(b.state(), CircuitState::Closed, "2 of 3 failed");
    advance(Duration::from_secs(1)).await; // epoch 2: the success leaves
    assert_eq!(b.metrics().gauge_value("window_calls"), Some(2.0));
    b.acquire().unwrap().record_failure(); // 3 of 3
    assert_eq!(b.state(), CircuitState::Open);
}
