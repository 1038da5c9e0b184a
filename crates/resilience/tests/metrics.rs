//! Metrics: every policy's counters and state through one snapshot API, as a dump reads them.

use std::time::Duration;

use spectrum_resilience::{metrics, CircuitBreaker, PolicyKind, Quota, RateLimiter, Timeout};

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn snapshot_all_lists_live_named_policies_with_their_state() {
    let breaker = CircuitBreaker::builder()
        .name("metrics-test-payments")
        .count_window(1)
        .minimum_calls(1)
        .build()
        .unwrap();
    let limiter = RateLimiter::builder(Quota::per_second(1))
        .name("metrics-test-limiter")
        .build()
        .unwrap();
    breaker.acquire().unwrap().record_failure();
    let _ = limiter.check();
    let _ = limiter.check();

    let all = metrics::snapshot_all();
    let b = all
        .iter()
        .find(|s| s.name == "metrics-test-payments")
        .unwrap();
    assert_eq!(b.kind, PolicyKind::CircuitBreaker);
    assert_eq!(b.state, Some("open"));
    assert_eq!(b.counter("failed"), Some(1));
    assert_eq!(b.gauge_value("failure_rate"), Some(100.0));
    let l = all
        .iter()
        .find(|s| s.name == "metrics-test-limiter")
        .unwrap();
    assert_eq!(l.counter("limited"), Some(1));

    let dump = metrics::dump();
    assert!(
        dump.lines().any(
            |l| l.starts_with("circuit_breaker \"metrics-test-payments\" state=open")
                && l.contains("failed=1")
        ),
        "{dump}"
    );
    drop(breaker);
    assert!(!metrics::snapshot_all()
        .iter()
        .any(|s| s.name == "metrics-test-payments"));
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn clones_share_counters() {
    let t = Timeout::builder(Duration::from_secs(1))
        .name("metrics-test-timeout")
        .build()
        .unwrap();
    let t2 = t.clone();
    t.run(|_| async {}).await.unwrap();
    t2.run(|_| async {}).await.unwrap();
    assert_eq!(t.metrics().counter("calls"), Some(2));
    assert_eq!(t.metrics(), t2.metrics());
}
