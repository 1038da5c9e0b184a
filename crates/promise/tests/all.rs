//! `all`: values in input order; the first failure cancels the rest and is returned.
#![cfg(not(loom))]

mod common;

use std::time::Duration;

use common::Canaries;
use spectrum_promise::{all, Promise, PromiseError};

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn values_come_back_in_input_order_not_settle_order() {
    let (promises, resolvers): (Vec<_>, Vec<_>) = (0..5)
        .map(|_| Promise::<usize, ()>::with_resolver())
        .unzip();
    let combined = spectrum_rt::spawn(all(promises));
    for (i, r) in resolvers.into_iter().enumerate().rev() {
        r.resolve(i * 10).unwrap();
        spectrum_rt::task::yield_now().await;
    }
    assert_eq!(combined.await.unwrap(), Ok(vec![0, 10, 20, 30, 40]));
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn the_first_failure_is_returned_and_the_others_are_cancelled() {
    let canaries = Canaries::new();
    let inputs: Vec<_> = (0..4)
        .map(|i| {
            canaries.watch(async move {
                if i == 2 {
                    spectrum_rt::time::sleep(Duration::from_millis(5)).await;
                    Err(format!("input {i} failed"))
                } else {
                    std::future::pending::<Result<u32, String>>().await
                }
            })
        })
        .collect();
    let out = all(inputs).await;
    assert_eq!(out, Err("input 2 failed".to_string()));
    assert_eq!(
        canaries.cancelled(),
        3,
        "the three pending inputs were dropped"
    );
    assert_eq!(canaries.finished(), 1);
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn cancelled_promise_inputs_cancel_their_tasks() {
    let canaries = Canaries::new();
    let slow: Vec<_> = (0..3)
        .map(|_| {
            spectrum_promise::spawn(
                canaries.watch(async { std::future::pending::<Result<u32, &str>>().await }),
            )
        })
        .collect();
    let mut inputs = slow;
    inputs.push(Promise::rejected("fast failure"));
    assert_eq!(
        all(inputs).await,
        Err(PromiseError::Rejected("fast failure"))
    );
    // The tasks behind the dropped promises are cancelled at their next poll.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while canaries.cancelled() < 3 {
        assert!(std::time::Instant::now() < deadline, "tasks not cancelled");
        spectrum_rt::time::sleep(Duration::from_millis(1)).await;
    }
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn inputs_after_an_early_failure_are_never_started() {
    let canaries = Canaries::new();
    let inputs = (0..5).map(|i| {
        canaries.watch(async move {
            if i == 1 {
                Err("second fails at once")
            } else {
                Ok(i)
            }
        })
    });
    assert_eq!(all(inputs).await, Err("second fails at once"));
    assert_eq!(canaries.finished(), 2, "inputs 0 and 1 ran");
    assert_eq!(canaries.cancelled(), 0, "inputs 2.. were never created");
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn many_inputs_settled_from_another_thread() {
    let (promises, resolvers): (Vec<_>, Vec<_>) = (0..10_000)
        .map(|_| Promise::<usize, ()>::with_resolver())
        .unzip();
    let t = std::thread::spawn(move || {
        for (i, r) in resolvers.into_iter().enumerate() {
            r.resolve(i).unwrap();
        }
    });
    let out = all(promises).await.unwrap();
    t.join().unwrap();
    assert_eq!(out.len(), 10_000);
    assert!(out.iter().enumerate().all(|(i, v)| i == *v));
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn abandoned_inputs_fail_the_whole() {
    let (p, r) = Promise::<u32, ()>::with_resolver();
    drop(r);
    let out = all([Promise::resolved(1), p]).await;
    assert!(out.unwrap_err().is_abandoned());
}

#[test]
fn works_under_the_futures_executor() {
    let inputs = (0..100).map(|i| async move { Ok::<_, ()>(i) });
    let out = futures::executor::block_on(all(inputs)).unwrap();
    assert_eq!(out, (0..100).collect::<Vec<_>>());
}
