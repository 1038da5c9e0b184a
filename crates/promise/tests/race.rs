//! `race`: the first input to settle wins, success or failure; the losers are cancelled.
#![cfg(not(loom))]

mod common;

use std::time::Duration;

use common::Canaries;
use spectrum_promise::{race, Promise, PromiseError};

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn the_fastest_wins_and_the_losers_are_dropped() {
    let canaries = Canaries::new();
    let inputs: Vec<_> = [30u64, 10, 20]
        .into_iter()
        .map(|ms| {
            canaries.watch(async move {
                spectrum_rt::time::sleep(Duration::from_millis(ms)).await;
                ms
            })
        })
        .collect();
    assert_eq!(race(inputs).await, Some(10));
    assert_eq!(canaries.finished(), 1);
    assert_eq!(canaries.cancelled(), 2);
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn a_failure_can_win() {
    let (slow, _r) = Promise::<u32, &str>::with_resolver();
    assert_eq!(
        race([slow, Promise::rejected("first")]).await,
        Some(Err(PromiseError::Rejected("first")))
    );
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn among_ready_inputs_the_earliest_wins() {
    let out = race([
        Promise::<u32, ()>::resolved(1),
        Promise::resolved(2),
        Promise::resolved(3),
    ])
    .await;
    assert_eq!(out, Some(Ok(1)));
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn a_promise_settled_later_from_a_thread_wins() {
    let (a, _ra) = Promise::<u32, ()>::with_resolver();
    let (b, rb) = Promise::<u32, ()>::with_resolver();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(5));
        rb.resolve(2).unwrap();
    });
    assert_eq!(race([a, b]).await, Some(Ok(2)));
    t.join().unwrap();
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn losing_spawned_promises_cancel_their_tasks() {
    let canaries = Canaries::new();
    let mut inputs: Vec<_> = (0..3)
        .map(|_| {
            spectrum_promise::spawn(
                canaries.watch(async { std::future::pending::<Result<u32, ()>>().await }),
            )
        })
        .collect();
    inputs.push(Promise::resolved(9));
    assert_eq!(race(inputs).await, Some(Ok(9)));
    common::eventually("losers cancelled", || canaries.cancelled() == 3);
}
