//! Policies are shared across tasks and OS threads: threads block with `.wait()`, sync closures
//! go through `call_blocking`, and one state is seen by all.

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use spectrum_resilience::{Bulkhead, Error, Pipeline, Quota, RateLimiter, Timeout};
use spectrum_rt::{Runtime, Wait};

#[test]
fn threads_and_tasks_share_one_bulkhead_through_wait() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let bulkhead = Bulkhead::builder()
        .max_concurrent(2)
        .max_queue(64)
        .build()
        .unwrap();
    let pipeline = Pipeline::<u32, ()>::builder()
        .bulkhead(bulkhead.clone())
        .timeout(Timeout::new(Duration::from_secs(10)).unwrap())
        .build();
    let running = Arc::new(AtomicU32::new(0));
    let peak = Arc::new(AtomicU32::new(0));
    let body = {
        let (running, peak) = (running.clone(), peak.clone());
        move |_| {
            let (running, peak) = (running.clone(), peak.clone());
            async move {
                let now = running.fetch_add(1, SeqCst) + 1;
                peak.fetch_max(now, SeqCst);
                spectrum_rt::time::sleep(Duration::from_millis(2)).await;
                running.fetch_sub(1, SeqCst);
                Ok(1)
            }
        }
    };
    let mut threads = Vec::new();
    for _ in 0..4 {
        let (p, body, handle) = (pipeline.clone(), body.clone(), rt.handle().clone());
        threads.push(std::thread::spawn(move || {
            let _guard = handle.enter();
            (0..10)
                .map(|_| p.call(body.clone()).wait().unwrap())
                .sum::<u32>()
        }));
    }
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let (p, body) = (pipeline.clone(), body.clone());
            rt.spawn(async move {
                let mut n = 0;
                for _ in 0..10 {
                    n += p.call(body.clone()).await.unwrap();
                }
                n
            })
        })
        .collect();
    let from_threads: u32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let from_tasks: u32 = tasks.into_iter().map(|t| rt.block_on(t).unwrap()).sum();
    assert_eq!(from_threads + from_tasks, 80);
    assert!(peak.load(SeqCst) <= 2, "peak {}", peak.load(SeqCst));
    assert_eq!(bulkhead.in_use(), 0);
}

#[test]
fn a_sync_closure_runs_through_call_blocking() {
    let rt = Runtime::builder()
        .workers(1)
        .start_paused(true)
        .build()
        .unwrap();
    let _guard = rt.enter();
    let limiter = RateLimiter::new(Quota::per_second(1).burst(1)).unwrap();
    let p = Pipeline::<&str, &str>::builder()
        .rate_limiter(limiter)
        .build();
    assert_eq!(
        p.call_blocking(|a| Ok(if a.number() == 1 { "first" } else { "?" })),
        Ok("first")
    );
    assert!(matches!(
        p.call_blocking(|_| Ok("x")),
        Err(Error::RateLimited(_))
    ));
}

#[test]
fn policies_are_send_sync_and_clone() {
    fn assert_all<T: Send + Sync + Clone + 'static>() {}
    assert_all::<Pipeline<String, std::io::Error>>();
    assert_all::<spectrum_resilience::CircuitBreaker>();
    assert_all::<Bulkhead>();
    assert_all::<RateLimiter>();
    assert_all::<spectrum_resilience::KeyedRateLimiter<String>>();
    assert_all::<spectrum_resilience::Retry<String, std::io::Error>>();
    assert_all::<spectrum_resilience::RetryBudget>();
    assert_all::<spectrum_resilience::Hedge>();
    assert_all::<Timeout>();
    assert_all::<spectrum_resilience::Chaos<u8, u8>>();
    assert_all::<spectrum_resilience::Fallback<u8, u8>>();
}

#[test]
fn a_pipeline_call_is_a_send_future() {
    fn assert_send<F: std::future::Future + Send>(_: F) {}
    let p = Pipeline::<u32, String>::builder().build();
    assert_send(p.call(|_| async { Ok(1) }));
}

#[test]
fn a_pipeline_call_future_stays_small() {
    let p = Pipeline::<u64, ()>::builder().build();
    let f = p.call(|_| async { Ok(1) });
    let size = std::mem::size_of_val(&f);
    println!("pipeline call future: {size} bytes");
    assert!(size < 4096, "{size}");
}
