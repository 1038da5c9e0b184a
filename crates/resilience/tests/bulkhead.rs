//! Bulkhead: the concurrency bound, the bounded FIFO queue, the max wait, rejection errors with
//! the limits, and permits never lost to cancelled waiters.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use spectrum_resilience::{Bulkhead, BulkheadFull, BulkheadRejection};
use spectrum_rt::time::{self, sleep};

const MS: fn(u64) -> Duration = Duration::from_millis;

/// Lets the worker run spawned tasks until `cond` holds (the test body runs on the
/// `block_on` thread, beside the worker).
async fn settle(cond: impl Fn() -> bool) {
    for _ in 0..1_000_000 {
        if cond() {
            return;
        }
        spectrum_rt::task::yield_now().await;
        std::thread::yield_now();
    }
    panic!("condition never held");
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn at_most_max_concurrent_calls_run_and_the_rest_queue_in_order() {
    let b = Bulkhead::builder()
        .max_concurrent(2)
        .max_queue(10)
        .build()
        .unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let peak = Arc::new(Mutex::new((0u32, 0u32)));
    let mut tasks = Vec::new();
    for i in 0..6 {
        let (bh, order, peak) = (b.clone(), order.clone(), peak.clone());
        tasks.push(spectrum_rt::spawn(async move {
            bh.call(async {
                order.lock().unwrap().push(i);
                {
                    let mut p = peak.lock().unwrap();
                    p.0 += 1;
                    p.1 = p.1.max(p.0);
                }
                sleep(MS(10)).await;
                peak.lock().unwrap().0 -= 1;
            })
            .await
            .unwrap();
        }));
        // Spawn the next only once this one is running or queued, so arrival order is known.
        settle(|| b.in_use() + b.queued() == i + 1).await;
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(peak.lock().unwrap().1, 2);
    assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4, 5], "FIFO");
    assert_eq!(b.in_use(), 0);
    assert_eq!(b.metrics().counter("admitted"), Some(6));
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn a_full_queue_rejects_with_the_limits() {
    let b = Bulkhead::builder()
        .max_concurrent(1)
        .max_queue(1)
        .build()
        .unwrap();
    let _held = b.try_acquire().unwrap();
    let b2 = b.clone();
    let waiter = spectrum_rt::spawn(async move { b2.acquire().await.map(drop) });
    settle(|| b.queued() == 1).await;
    let err = b.acquire().await.unwrap_err();
    assert_eq!(
        err,
        BulkheadFull {
            max_concurrent: 1,
            max_queue: 1,
            reason: BulkheadRejection::QueueFull
        }
    );
    assert_eq!(
        err.to_string(),
        "bulkhead full: 1 concurrent calls allowed, 1 may queue (queue full)"
    );
    waiter.cancel();
    let _ = waiter.await;
    assert_eq!(b.queued(), 0);
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn a_queued_call_gives_up_after_the_max_wait() {
    let b = Bulkhead::builder()
        .max_concurrent(1)
        .max_queue(5)
        .max_wait(MS(30))
        .build()
        .unwrap();
    let _held = b.try_acquire().unwrap();
    let start = time::now();
    let err = b.acquire().await.unwrap_err();
    assert_eq!(err.reason, BulkheadRejection::MaxWaitElapsed(MS(30)));
    assert_eq!(time::now() - start, MS(30));
    assert_eq!(b.queued(), 0, "the waiter left the queue");
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn a_permit_granted_to_a_waiter_that_left_is_passed_on() {
    let b = Bulkhead::builder()
        .max_concurrent(1)
        .max_queue(5)
        .build()
        .unwrap();
    let held = b.try_acquire().unwrap();
    let (b1, b2) = (b.clone(), b.clone());
    let first = spectrum_rt::spawn(async move { b1.acquire().await.map(drop) });
    settle(|| b.queued() == 1).await;
    let second = spectrum_rt::spawn(async move {
        let _p = b2.acquire().await.unwrap();
        "second got it"
    });
    settle(|| b.queued() == 2).await;
    // Release (granting `first`), then cancel `first` before it runs: the permit must move on.
    drop(held);
    first.cancel();
    let _ = first.await;
    assert_eq!(second.await.unwrap(), "second got it");
    assert_eq!(b.in_use(), 0);
    assert_eq!(b.queued(), 0);
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn no_barging_past_queued_callers() {
    let b = Bulkhead::builder()
        .max_concurrent(1)
        .max_queue(1)
        .build()
        .unwrap();
    let held = b.try_acquire().unwrap();
    let b1 = b.clone();
    let queued = spectrum_rt::spawn(async move {
        let _p = b1.acquire().await.unwrap();
        sleep(MS(10)).await;
    });
    settle(|| b.queued() == 1).await;
    drop(held); // handed straight to the queued caller
    assert!(
        b.try_acquire().is_none(),
        "a newcomer must not take the handed-off permit"
    );
    queued.await.unwrap();
    assert!(b.try_acquire().is_some());
}
