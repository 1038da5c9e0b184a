//! Retry: exact schedules under the paused clock, jitter bounds with a seeded generator,
//! predicates, the retry-after hint, and the elapsed budget.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use spectrum_resilience::{Backoff, Jitter, Retry, Rng};
use spectrum_rt::time::{self, Instant};

const MS: fn(u64) -> Duration = Duration::from_millis;

/// Runs `retry` over an operation that fails `fails` times, returning when each attempt began
/// (relative to the start) and the outcome.
async fn attempt_times(
    retry: &Retry<u32, &'static str>,
    fails: u32,
) -> (Vec<Duration>, Result<u32, &'static str>) {
    let start = time::now();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let out = retry
        .run(|n| {
            s.lock().unwrap().push(time::now() - start);
            async move {
                if n <= fails {
                    Err("fail")
                } else {
                    Ok(n)
                }
            }
        })
        .await;
    let v = seen.lock().unwrap().clone();
    (v, out)
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn constant_linear_and_exponential_schedules_are_exact() {
    for (backoff, expect) in [
        (Backoff::constant(MS(50)), [0, 50, 100, 150]),
        (Backoff::linear(MS(10), MS(20)), [0, 10, 40, 90]),
        (Backoff::exponential(MS(100)), [0, 100, 300, 700]),
        (
            Backoff::exponential(MS(100)).factor(3.0).cap(MS(250)),
            [0, 100, 350, 600],
        ),
    ] {
        let retry = Retry::builder()
            .max_attempts(4)
            .backoff(backoff)
            .build()
            .unwrap();
        let (times, out) = attempt_times(&retry, 3).await;
        assert_eq!(out, Ok(4), "{backoff:?}");
        assert_eq!(times, expect.map(MS), "{backoff:?}");
    }
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn gives_up_after_max_attempts_with_the_last_error() {
    let retry = Retry::builder()
        .max_attempts(3)
        .backoff(Backoff::constant(MS(1)))
        .build()
        .unwrap();
    let (times, out) = attempt_times(&retry, 10).await;
    assert_eq!(out, Err("fail"));
    assert_eq!(times.len(), 3);
    let m = retry.metrics();
    assert_eq!(m.counter("retries"), Some(2));
    assert_eq!(m.counter("exhausted_attempts"), Some(1));
}

#[test]
fn jitter_stays_within_its_bounds() {
    let base = Backoff::exponential(MS(100)).cap(MS(5_000));
    let mut rng = Rng::seeded(0x5EED);
    for n in 0..12 {
        let temp = base.base_delay(n);
        for _ in 0..200 {
            let full = base.jitter(Jitter::Full).delay(n, Duration::ZERO, &mut rng);
            assert!(full <= temp, "full {full:?} > {temp:?}");
            let equal = base
                .jitter(Jitter::Equal)
                .delay(n, Duration::ZERO, &mut rng);
            assert!(
                equal >= temp / 2 && equal <= temp,
                "equal {equal:?} vs {temp:?}"
            );
        }
    }
    // Decorrelated: in [base, 3 × previous], capped.
    let d = base.jitter(Jitter::Decorrelated);
    let mut prev = Duration::ZERO;
    for n in 0..200 {
        let next = d.delay(n, prev, &mut rng);
        let hi = (prev.max(MS(100)) * 3).min(MS(5_000));
        assert!(
            next >= MS(100) && next <= hi,
            "{next:?} not in [100ms, {hi:?}]"
        );
        prev = next;
    }
}

#[test]
fn jitter_actually_spreads_and_a_seed_reproduces_it() {
    let b = Backoff::constant(MS(1000)).jitter(Jitter::Full);
    let a: Vec<_> = b.schedule(50, &mut Rng::seeded(7));
    assert_eq!(a, b.schedule(50, &mut Rng::seeded(7)));
    assert_ne!(a, b.schedule(50, &mut Rng::seeded(8)));
    let mean = a.iter().sum::<Duration>() / 50;
    assert!(
        mean > MS(300) && mean < MS(700),
        "mean {mean:?} of uniform [0, 1s]"
    );
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn a_seeded_retry_waits_exactly_its_drawn_delays() {
    let delays = Arc::new(Mutex::new(Vec::new()));
    let d = delays.clone();
    let retry = Retry::<u32, &str>::builder()
        .max_attempts(5)
        .backoff(Backoff::exponential(MS(100)).jitter(Jitter::Equal))
        .seed(42)
        .on_retry(move |e| d.lock().unwrap().push(e.delay))
        .build()
        .unwrap();
    let start = time::now();
    let _ = retry.run(|_| async { Err::<u32, _>("x") }).await;
    let delays = delays.lock().unwrap().clone();
    assert_eq!(delays.len(), 4);
    for (n, d) in delays.iter().enumerate() {
        let temp = MS(100 * (1 << n));
        assert!(*d >= temp / 2 && *d <= temp);
    }
    // The timer has millisecond resolution and never fires early.
    let total: Duration = delays.iter().sum();
    let took = time::now() - start;
    assert!(
        took >= total && took <= total + MS(4),
        "{took:?} vs {total:?}"
    );
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn predicates_on_error_and_result() {
    let retry = Retry::<u32, &str>::builder()
        .max_attempts(5)
        .backoff(Backoff::constant(MS(1)))
        .retry_if(|e| *e == "transient")
        .retry_if_result(|v| *v == 503)
        .build()
        .unwrap();
    let calls = Arc::new(Mutex::new(0));
    let c = calls.clone();
    let out = retry
        .run(|n| {
            *c.lock().unwrap() += 1;
            async move {
                match n {
                    1 => Err("transient"),
                    2 => Ok(503),
                    _ => Ok(200),
                }
            }
        })
        .await;
    assert_eq!(out, Ok(200));
    assert_eq!(*calls.lock().unwrap(), 3);
    assert_eq!(
        retry.run(|_| async { Err::<u32, _>("fatal") }).await,
        Err("fatal")
    );
    assert_eq!(retry.metrics().counter("not_retryable"), Some(1));
    // A result the predicate dislikes to the end is returned as it is.
    assert_eq!(retry.run(|_| async { Ok::<_, &str>(503) }).await, Ok(503));
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn the_retry_after_hint_replaces_the_backoff() {
    let retry = Retry::<u32, (u64, &str)>::builder()
        .max_attempts(3)
        .backoff(Backoff::constant(Duration::from_secs(60)))
        .retry_after(|e| (e.0 > 0).then(|| MS(e.0)))
        .build()
        .unwrap();
    let start: Instant = time::now();
    let out = retry
        .run(|n| async move {
            if n < 3 {
                Err((250, "429"))
            } else {
                Ok(n)
            }
        })
        .await;
    assert_eq!(out, Ok(3));
    assert_eq!(
        time::now() - start,
        MS(500),
        "two hinted waits of 250 ms, not 60 s"
    );
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn the_elapsed_budget_stops_before_a_wait_that_would_overrun_it() {
    let retry = Retry::<u32, &str>::builder()
        .max_attempts(100)
        .max_elapsed(MS(1000))
        .backoff(Backoff::constant(MS(300)))
        .build()
        .unwrap();
    let start = time::now();
    let (times, out) = attempt_times(&retry, 100).await;
    assert_eq!(out, Err("fail"));
    // Attempts at 0, 300, 600, 900; the next wait would end at 1200 > 1000.
    assert_eq!(times, [0, 300, 600, 900].map(MS));
    assert_eq!(time::now() - start, MS(900));
    assert_eq!(retry.metrics().counter("exhausted_elapsed"), Some(1));
}
