//! `any`: the first success wins and cancels the rest; if all fail, every error, in input order.
#![cfg(not(loom))]

mod common;

use std::time::Duration;

use common::Canaries;
use spectrum_promise::{any, AggregateError, Promise, PromiseError};

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn the_first_success_wins_over_earlier_failures() {
    let canaries = Canaries::new();
    let inputs: Vec<_> = [(5u64, false), (10, true), (20, true), (1, false)]
        .into_iter()
        .map(|(ms, ok)| {
            canaries.watch(async move {
                spectrum_rt::time::sleep(Duration::from_millis(ms)).await;
                if ok {
                    Ok(ms)
                } else {
                    Err(ms)
                }
            })
        })
        .collect();
    assert_eq!(any(inputs).await, Ok(10));
    assert_eq!(canaries.finished(), 3, "two failures and the winner");
    assert_eq!(canaries.cancelled(), 1, "the slower success was dropped");
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn all_failures_are_collected_in_input_order() {
    let inputs: Vec<_> = [30u64, 10, 20]
        .into_iter()
        .map(|ms| async move {
            spectrum_rt::time::sleep(Duration::from_millis(ms)).await;
            Err::<(), _>(format!("{ms} ms"))
        })
        .collect();
    let err = any(inputs).await.unwrap_err();
    assert_eq!(err.errors, vec!["30 ms", "10 ms", "20 ms"]);
    assert_eq!(
        err.to_string(),
        "all 3 inputs failed: [0] 30 ms; [1] 10 ms; [2] 20 ms"
    );
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn promise_failures_keep_their_kind() {
    let (gone, r) = Promise::<u32, &str>::with_resolver();
    drop(r);
    let err: AggregateError<PromiseError<&str>> =
        any([Promise::rejected("no"), gone]).await.unwrap_err();
    assert_eq!(err.errors[0], PromiseError::Rejected("no"));
    assert!(err.errors[1].is_abandoned());
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn a_success_cancels_pending_spawned_promises() {
    let canaries = Canaries::new();
    let mut inputs: Vec<_> = (0..2)
        .map(|_| {
            spectrum_promise::spawn(
                canaries.watch(async { std::future::pending::<Result<u32, ()>>().await }),
            )
        })
        .collect();
    inputs.push(Promise::rejected(()));
    inputs.push(Promise::resolved(4));
    assert_eq!(any(inputs).await, Ok(4));
    common::eventually("pending inputs cancelled", || canaries.cancelled() == 2);
}
