//! Circuit breaker half-open: N probes, judging them, and the probe timeout that keeps half-open
//! from wedging.

use std::time::Duration;

use spectrum_resilience::{CircuitBreaker, CircuitState};
use spectrum_rt::time::advance;

fn tripped(probes: u32, probe_timeout: Duration) -> CircuitBreaker {
    let b = CircuitBreaker::builder()
        .count_window(1)
        .minimum_calls(1)
        .failure_rate_threshold(50.0)
        .open_duration(Duration::from_secs(10))
        .permitted_probes(probes)
        .probe_timeout(probe_timeout)
        .build()
        .unwrap();
    b.acquire().unwrap().record_failure();
    assert_eq!(b.state(), CircuitState::Open);
    b
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn exactly_n_probes_are_permitted() {
    let b = tripped(3, Duration::from_secs(60));
    advance(Duration::from_millis(9_999)).await;
    assert_eq!(b.state(), CircuitState::Open, "not a millisecond early");
    advance(Duration::from_millis(1)).await;
    let probes: Vec<_> = (0..3).map(|_| b.acquire().unwrap()).collect();
    let err = b.acquire().unwrap_err();
    assert_eq!(err.state, CircuitState::HalfOpen);
    assert_eq!(err.retry_after, None);
    // Two successes and a failure: 33 % < 50 % → closed.
    let mut it = probes.into_iter();
    it.next().unwrap().record_success();
    assert_eq!(
        b.state(),
        CircuitState::HalfOpen,
        "judged only when all are in"
    );
    it.next().unwrap().record_failure();
    it.next().unwrap().record_success();
    assert_eq!(b.state(), CircuitState::Closed);
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn failing_probes_reopen() {
    let b = tripped(2, Duration::from_secs(60));
    advance(Duration::from_secs(10)).await;
    let (p1, p2) = (b.acquire().unwrap(), b.acquire().unwrap());
    p1.record_failure();
    p2.record_success(); // 50 % >= 50 %
    assert_eq!(b.state(), CircuitState::Open);
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn a_hung_probe_cannot_wedge_half_open() {
    let b = tripped(1, Duration::from_secs(5));
    advance(Duration::from_secs(10)).await;
    let hung = b.acquire().unwrap(); // never reports
    assert!(b.acquire().is_err());
    advance(Duration::from_millis(4_999)).await;
    assert_eq!(b.state(), CircuitState::HalfOpen);
    advance(Duration::from_millis(1)).await;
    assert_eq!(b.state(), CircuitState::Open, "probe timeout reopens");
    // The hung probe's late outcome belongs to an old generation and is ignored.
    hung.record_success();
    assert_eq!(b.state(), CircuitState::Open);
    // And the breaker probes again after the next open duration.
    advance(Duration::from_secs(10)).await;
    b.acquire().unwrap().record_success();
    assert_eq!(b.state(), CircuitState::Closed);
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn a_dropped_probe_gives_its_slot_back() {
    let b = tripped(1, Duration::from_secs(60));
    advance(Duration::from_secs(10)).await;
    let p = b.acquire().unwrap();
    assert!(b.acquire().is_err());
    drop(p); // cancelled: says nothing about the dependency
    assert_eq!(b.state(), CircuitState::HalfOpen);
    b.acquire().unwrap().record_success();
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(b.metrics().counter("ignored"), Some(1));
}
