//! Pipeline composition: fallback → retry → breaker → rate limiter → timeout → bulkhead → chaos
//! → call, whatever order the builder was given.

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use spectrum_resilience::{
    Backoff, Bulkhead, BulkheadRejection, Chaos, CircuitBreaker, CircuitState, Error, Fallback,
    Pipeline, Quota, RateLimiter, Retry, Timeout,
};
use spectrum_rt::time::{self, sleep};

const MS: fn(u64) -> Duration = Duration::from_millis;

fn retry(n: u32) -> Retry<u32, &'static str> {
    Retry::builder()
        .max_attempts(n)
        .backoff(Backoff::constant(MS(10)))
        .build()
        .unwrap()
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn retry_wraps_the_breaker_and_stops_at_its_rejection() {
    let breaker = CircuitBreaker::builder()
        .count_window(3)
        .minimum_calls(3)
        .failure_rate_threshold(100.0)
        .build()
        .unwrap();
    let p = Pipeline::builder()
        .breaker(breaker.clone())
        .retry(retry(10))
        .build();
    let calls = AtomicU32::new(0);
    let out = p
        .call(|_| {
            calls.fetch_add(1, SeqCst);
            async { Err::<u32, _>("down") }
        })
        .await;
    // Three failures open the breaker; the fourth attempt is rejected and not retried.
    assert_eq!(calls.load(SeqCst), 3);
    assert!(matches!(out, Err(Error::CircuitOpen(c)) if c.state == CircuitState::Open));
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn rejections_are_retried_only_when_asked_and_then_honour_their_hint() {
    let limiter = RateLimiter::new(Quota::per_second(10).burst(1)).unwrap();
    let retrying = Retry::<u32, &str>::builder()
        .max_attempts(3)
        .backoff(Backoff::constant(Duration::from_secs(60)))
        .retry_rejections(true)
        .build()
        .unwrap();
    let p = Pipeline::builder()
        .rate_limiter(limiter.clone())
        .retry(retrying)
        .build();
    limiter.check().unwrap(); // use the only cell
    let start = time::now();
    assert_eq!(p.call(|a| async move { Ok(a.number()) }).await, Ok(2));
    assert_eq!(
        time::now() - start,
        MS(100),
        "waited the limiter's hint, not 60 s"
    );

    let strict = Pipeline::builder()
        .rate_limiter(limiter.clone())
        .retry(retry(3))
        .build();
    assert!(matches!(
        strict.call(|_| async { Ok(1) }).await,
        Err(Error::RateLimited(r)) if r.retry_after == MS(100)
    ));
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn the_timeout_covers_bulkhead_queueing_and_the_breaker_counts_it() {
    let bulkhead = Bulkhead::builder()
        .max_concurrent(1)
        .max_queue(5)
        .build()
        .unwrap();
    let breaker = CircuitBreaker::builder()
        .count_window(1)
        .minimum_calls(1)
        .build()
        .unwrap();
    let p = Pipeline::<u32, &str>::builder()
        .bulkhead(bulkhead.clone())
        .timeout(Timeout::new(MS(50)).unwrap())
        .breaker(breaker.clone())
        .build();
    let _held = bulkhead.try_acquire().unwrap();
    let start = time::now();
    let out = p.call(|_| async { Ok(1) }).await;
    assert!(matches!(out, Err(Error::TimedOut(t)) if t.timeout == MS(50) && t.forced));
    assert_eq!(
        time::now() - start,
        MS(50),
        "queueing counted against the timeout"
    );
    assert_eq!(bulkhead.queued(), 0);
    assert_eq!(
        breaker.state(),
        CircuitState::Open,
        "a timeout is a breaker failure"
    );
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn inner_rejections_do_not_count_as_breaker_failures() {
    let bulkhead = Bulkhead::builder()
        .max_concurrent(1)
        .max_queue(0)
        .build()
        .unwrap();
    let breaker = CircuitBreaker::builder()
        .count_window(1)
        .minimum_calls(1)
        .build()
        .unwrap();
    let p = Pipeline::<u32, &str>::builder()
        .breaker(breaker.clone())
        .bulkhead(bulkhead.clone())
        .build();
    let _held = bulkhead.try_acquire().unwrap();
    for _ in 0..5 {
        let out = p.call(|_| async { Ok(1) }).await;
        assert!(
            matches!(out, Err(Error::BulkheadFull(b)) if b.reason == BulkheadRejection::QueueFull)
        );
    }
    assert_eq!(breaker.state(), CircuitState::Closed);
    assert_eq!(breaker.metrics().counter("ignored"), Some(5));
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn fallback_is_outermost_and_sees_the_final_error_once() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let fallback = Fallback::new(move |e: Error<&'static str>| {
        s.lock().unwrap().push(e.clone());
        async { Ok(0) }
    });
    let p = Pipeline::builder()
        .fallback(fallback)
        .retry(retry(3))
        .build();
    let attempts = AtomicU32::new(0);
    let out = p
        .call(|_| {
            attempts.fetch_add(1, SeqCst);
            async { Err::<u32, _>("down") }
        })
        .await;
    assert_eq!(out, Ok(0));
    assert_eq!(attempts.load(SeqCst), 3);
    assert_eq!(*seen.lock().unwrap(), [Error::Inner("down")]);
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn chaos_is_innermost_so_injected_faults_are_retried_and_recorded() {
    let chaos = Chaos::<u32, &str>::builder()
        .fault(1.0, || "injected")
        .build()
        .unwrap();
    let breaker = CircuitBreaker::builder()
        .count_window(10)
        .minimum_calls(10)
        .build()
        .unwrap();
    let p = Pipeline::builder()
        .chaos(chaos.clone())
        .breaker(breaker.clone())
        .retry(retry(4))
        .build();
    let ran = AtomicU32::new(0);
    let out = p
        .call(|_| {
            ran.fetch_add(1, SeqCst);
            async { Ok(1) }
        })
        .await;
    assert_eq!(out, Err(Error::Inner("injected")));
    assert_eq!(
        ran.load(SeqCst),
        4,
        "the op is created but chaos answers instead of it"
    );
    assert_eq!(chaos.metrics().counter("faults"), Some(4));
    assert_eq!(breaker.metrics().counter("failed"), Some(4));
    chaos.disable();
    assert_eq!(p.call(|_| async { Ok(1) }).await, Ok(1));
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn the_rate_limiter_wait_happens_before_the_timeout_starts() {
    let limiter = RateLimiter::new(Quota::per_second(10).burst(1)).unwrap();
    let p = Pipeline::<u32, &str>::builder()
        .timeout(Timeout::new(MS(30)).unwrap())
        .rate_limiter_wait(limiter.clone(), MS(500))
        .build();
    limiter.check().unwrap();
    let start = time::now();
    let out = p
        .call(|_| async {
            sleep(MS(20)).await;
            Ok(5)
        })
        .await;
    assert_eq!(
        out,
        Ok(5),
        "100 ms waiting for a cell did not eat the 30 ms timeout"
    );
    assert_eq!(time::now() - start, MS(120));
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn builder_order_does_not_matter() {
    async fn run(p: &Pipeline<u32, &'static str>) -> Vec<String> {
        let log = Arc::new(Mutex::new(Vec::new()));
        let l = log.clone();
        let out = p
            .call(move |a| {
                let l = l.clone();
                async move {
                    l.lock().unwrap().push(format!("attempt {}", a.number()));
                    sleep(MS(100)).await;
                    Ok(1)
                }
            })
            .await;
        let mut v = log.lock().unwrap().clone();
        v.push(format!("{out:?}"));
        v
    }
    let make = || {
        (
            retry(2),
            Timeout::new(MS(50)).unwrap(),
            Bulkhead::builder().max_concurrent(1).build().unwrap(),
        )
    };
    let (r, t, b) = make();
    let a = Pipeline::builder().retry(r).timeout(t).bulkhead(b).build();
    let (r, t, b) = make();
    let z = Pipeline::builder().bulkhead(b).timeout(t).retry(r).build();
    let expected = [
        "attempt 1",
        "attempt 2",
        "Err(TimedOut(TimedOut { timeout: 50ms, forced: true, late: false }))",
    ];
    assert_eq!(run(&a).await, expected);
    assert_eq!(run(&z).await, expected);
}
