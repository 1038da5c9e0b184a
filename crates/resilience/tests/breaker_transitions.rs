//! Circuit breaker: closed → open at exact thresholds, minimum calls, slow calls, manual states,
//! events, stale outcomes, open duration from a backoff.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use spectrum_resilience::{Backoff, CircuitBreaker, CircuitState, StateChange, TransitionReason};
use spectrum_rt::time::{advance, sleep};

fn outcomes(b: &CircuitBreaker, fails: &[bool]) {
    for &f in fails {
        b.acquire().expect("permitted").record(f);
    }
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn opens_exactly_at_the_failure_rate_threshold() {
    let b = CircuitBreaker::builder()
        .count_window(10)
        .minimum_calls(10)
        .failure_rate_threshold(50.0)
        .build()
        .unwrap();
    // 4 failures of 10 = 40 %: stays closed.
    outcomes(
        &b,
        &[
            true, true, true, true, false, false, false, false, false, false,
        ],
    );
    assert_eq!(b.state(), CircuitState::Closed);
    // The window slides: the oldest (a failure) leaves, a failure enters: still 4/10.
    outcomes(&b, &[true]);
    assert_eq!(b.state(), CircuitState::Closed);
    // Three more failures replace failures (still 4/10); the fourth replaces the oldest success:
    // 5/10 = exactly 50 % → open.
    outcomes(&b, &[true, true, true, true]);
    let snap = b.metrics();
    assert_eq!(snap.state, Some("open"), "{snap}");
    let err = b.acquire().unwrap_err();
    assert_eq!(err.state, CircuitState::Open);
    assert_eq!(err.retry_after, Some(Duration::from_secs(60)));
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn one_below_the_threshold_stays_closed_and_one_at_it_opens() {
    let b = CircuitBreaker::builder()
        .count_window(4)
        .minimum_calls(4)
        .failure_rate_threshold(75.0)
        .build()
        .unwrap();
    outcomes(&b, &[true, true, false, false]); // 2/4 = 50 %
    assert_eq!(b.state(), CircuitState::Closed);
    outcomes(&b, &[true]); // replaces a failure: still 50 %
    outcomes(&b, &[true]); // replaces a failure: still 50 %
    assert_eq!(b.state(), CircuitState::Closed);
    outcomes(&b, &[true]); // replaces a success: 3/4 = exactly 75 %
    assert_eq!(b.state(), CircuitState::Open);
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn minimum_calls_gate_the_evaluation() {
    let b = CircuitBreaker::builder()
        .count_window(100)
        .minimum_calls(5)
        .failure_rate_threshold(50.0)
        .build()
        .unwrap();
    outcomes(&b, &[true, true, true, true]); // 100 % but only 4 calls
    assert_eq!(b.state(), CircuitState::Closed);
    outcomes(&b, &[true]);
    assert_eq!(b.state(), CircuitState::Open);
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn slow_call_rate_opens_the_breaker() {
    let b = CircuitBreaker::builder()
        .count_window(4)
        .minimum_calls(4)
        .slow_call(Duration::from_millis(100), 50.0)
        .build()
        .unwrap();
    for ms in [10u64, 100, 20, 150] {
        let p = b.acquire().unwrap();
        sleep(Duration::from_millis(ms)).await;
        p.record_success();
    }
    let snap = b.metrics();
    assert_eq!(snap.counter("slow"), Some(2));
    assert_eq!(b.state(), CircuitState::Open, "{snap}");
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn isolate_disable_and_close_are_manual_states() {
    let events = Arc::new(Mutex::new(Vec::<StateChange>::new()));
    let ev = events.clone();
    let b = CircuitBreaker::builder()
        .count_window(2)
        .minimum_calls(2)
        .on_state_change(move |e| ev.lock().unwrap().push(e.clone()))
        .build()
        .unwrap();
    b.isolate();
    assert_eq!(b.acquire().unwrap_err().state, CircuitState::ForcedOpen);
    advance(Duration::from_secs(3600)).await;
    assert_eq!(
        b.state(),
        CircuitState::ForcedOpen,
        "forced open never times out"
    );
    b.disable();
    outcomes(&b, &[true, true, true]);
    assert_eq!(b.state(), CircuitState::Disabled, "disabled never trips");
    b.close();
    assert_eq!(b.state(), CircuitState::Closed);
    let seen: Vec<_> = events
        .lock()
        .unwrap()
        .iter()
        .map(|e| (e.from, e.to, e.reason))
        .collect();
    assert_eq!(
        seen,
        [
            (
                CircuitState::Closed,
                CircuitState::ForcedOpen,
                TransitionReason::Manual
            ),
            (
                CircuitState::ForcedOpen,
                CircuitState::Disabled,
                TransitionReason::Manual
            ),
            (
                CircuitState::Disabled,
                CircuitState::Closed,
                TransitionReason::Manual
            ),
        ]
    );
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn events_report_every_automatic_transition_with_its_reason() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let ev = events.clone();
    let b = CircuitBreaker::builder()
        .count_window(2)
        .minimum_calls(2)
        .failure_rate_threshold(50.0)
        .open_duration(Duration::from_secs(5))
        .permitted_probes(1)
        .on_state_change(move |e| ev.lock().unwrap().push((e.from, e.to, e.reason)))
        .build()
        .unwrap();
    outcomes(&b, &[false, true]);
    advance(Duration::from_secs(5)).await;
    b.acquire().unwrap().record_success();
    assert_eq!(
        *events.lock().unwrap(),
        [
            (
                CircuitState::Closed,
                CircuitState::Open,
                TransitionReason::FailureRate(50.0)
            ),
            (
                CircuitState::Open,
                CircuitState::HalfOpen,
                TransitionReason::OpenDurationElapsed
            ),
            (
                CircuitState::HalfOpen,
                CircuitState::Closed,
                TransitionReason::ProbesSucceeded
            ),
        ]
    );
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn an_outcome_from_before_a_transition_is_ignored() {
    let b = CircuitBreaker::builder()
        .count_window(2)
        .minimum_calls(2)
        .failure_rate_threshold(100.0)
        .build()
        .unwrap();
    let old = b.acquire().unwrap();
    b.isolate();
    b.close();
    // `old` straddled two transitions; its failure must not count in the new window.
    old.record_failure();
    outcomes(&b, &[true]);
    assert_eq!(
        b.state(),
        CircuitState::Closed,
        "only one failure in this generation"
    );
    outcomes(&b, &[true]);
    assert_eq!(b.state(), CircuitState::Open);
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn the_open_duration_follows_the_backoff_and_resets_on_close() {
    let b = CircuitBreaker::builder()
        .count_window(1)
        .minimum_calls(1)
        .permitted_probes(1)
        .open_backoff(Backoff::exponential(Duration::from_secs(1)).cap(Duration::from_secs(3)))
        .build()
        .unwrap();
    let open_for = |b: &CircuitBreaker| b.acquire().unwrap_err().retry_after.unwrap();
    outcomes(&b, &[true]);
    assert_eq!(open_for(&b), Duration::from_secs(1));
    advance(Duration::from_secs(1)).await;
    b.acquire().unwrap().record_failure(); // probe fails: reopen, longer
    assert_eq!(open_for(&b), Duration::from_secs(2));
    advance(Duration::from_secs(2)).await;
    b.acquire().unwrap().record_failure();
    assert_eq!(open_for(&b), Duration::from_secs(3), "capped");
    advance(Duration::from_secs(3)).await;
    b.acquire().unwrap().record_success(); // closes, backoff resets
    outcomes(&b, &[true]);
    assert_eq!(open_for(&b), Duration::from_secs(1));
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn call_records_err_as_failure_and_rejects_when_open() {
    let b = CircuitBreaker::builder()
        .count_window(2)
        .minimum_calls(2)
        .build()
        .unwrap();
    assert_eq!(b.call(async { Err::<(), _>("x") }).await, Ok(Err("x")));
    assert_eq!(b.call(async { Err::<(), _>("y") }).await, Ok(Err("y")));
    let polled = std::cell::Cell::new(false);
    let r = b
        .call(async {
            polled.set(true);
            Ok::<(), ()>(())
        })
        .await;
    assert!(r.is_err());
    assert!(!polled.get(), "a rejected call is never polled");
    assert_eq!(b.metrics().counter("not_permitted"), Some(1));
}
