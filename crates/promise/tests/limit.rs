//! `.limit(n)`: at most n inputs started and unsettled at once, started lazily in input order.
#![cfg(not(loom))]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use common::Gauge;
use spectrum_promise::{all, all_settled, any, race};

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn all_never_runs_more_than_the_limit() {
    let gauge = Gauge::new();
    let created = Arc::new(AtomicUsize::new(0));
    let inputs = (0..50u64).map(|i| {
        created.fetch_add(1, SeqCst);
        let gauge = gauge.clone();
        async move {
            let _in = gauge.enter();
            spectrum_rt::time::sleep(Duration::from_millis(1 + i % 7)).await;
            Ok::<_, ()>(i)
        }
    });
    let out = all(inputs).limit(4).await.unwrap();
    assert_eq!(out, (0..50).collect::<Vec<_>>(), "input order is kept");
    assert_eq!(gauge.max(), 4);
    assert_eq!(created.load(SeqCst), 50);
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn the_iterator_is_consumed_lazily() {
    let created = Arc::new(AtomicUsize::new(0));
    let seen = created.clone();
    let inputs = (0..1_000_000u64).map(move |i| {
        seen.fetch_add(1, SeqCst);
        async move {
            spectrum_rt::time::sleep(Duration::from_millis(1)).await;
            if i == 10 {
                Err(i)
            } else {
                Ok(i)
            }
        }
    });
    assert_eq!(all(inputs).limit(2).await, Err(10));
    assert!(
        created.load(SeqCst) <= 12,
        "only the inputs up to the failure (plus the limit) were created, not a million: {}",
        created.load(SeqCst)
    );
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn every_combinator_takes_a_limit() {
    let gauge = Gauge::new();
    let make = |fail: bool| {
        let gauge = gauge.clone();
        (0..20u64).map(move |i| {
            let gauge = gauge.clone();
            async move {
                let _in = gauge.enter();
                spectrum_rt::time::sleep(Duration::from_millis(2)).await;
                if fail {
                    Err(i)
                } else {
                    Ok(i)
                }
            }
        })
    };
    assert_eq!(all_settled(make(false)).limit(3).await.len(), 20);
    assert_eq!(any(make(true)).limit(3).await.unwrap_err().errors.len(), 20);
    assert_eq!(race(make(false)).limit(3).await, Some(Ok(0)));
    assert_eq!(gauge.max(), 3);
}

#[test]
#[should_panic(expected = "concurrency limit must be at least 1")]
fn a_zero_limit_is_refused() {
    drop(all(Vec::<std::future::Ready<Result<(), ()>>>::new()).limit(0));
}
