//! Timeout variants: `Err(Elapsed)` past the deadline with every input dropped; `all_settled`'s
//! variant keeps what settled in time.
#![cfg(not(loom))]

mod common;

use std::time::Duration;

use common::Canaries;
use spectrum_promise::{
    all, all_settled, all_settled_timeout, all_timeout, any_timeout, race_timeout, Promise,
};

fn sleeper(canaries: &Canaries, ms: u64) -> impl std::future::Future<Output = Result<u64, u64>> {
    canaries.watch(async move {
        spectrum_rt::time::sleep(Duration::from_millis(ms)).await;
        Ok(ms)
    })
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn all_timeout_elapses_and_cancels_everything() {
    let canaries = Canaries::new();
    let inputs = [10, 50, 200].map(|ms| sleeper(&canaries, ms));
    assert!(all_timeout(inputs, Duration::from_millis(100))
        .await
        .is_err());
    assert_eq!(canaries.finished(), 2);
    assert_eq!(canaries.cancelled(), 1);
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn all_within_the_deadline_is_ok() {
    let canaries = Canaries::new();
    let inputs = [10, 20].map(|ms| sleeper(&canaries, ms));
    let out = all(inputs).timeout(Duration::from_millis(100)).await;
    assert_eq!(out, Ok(Ok(vec![10, 20])));
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn race_and_any_timeouts() {
    let canaries = Canaries::new();
    let late = [500, 600].map(|ms| sleeper(&canaries, ms));
    assert!(race_timeout(late, Duration::from_millis(100))
        .await
        .is_err());
    let early = [500, 60].map(|ms| sleeper(&canaries, ms));
    assert_eq!(
        any_timeout(early, Duration::from_millis(100)).await,
        Ok(Ok(60))
    );
    assert_eq!(canaries.cancelled(), 3);
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn all_settled_timeout_keeps_what_settled_in_time() {
    let canaries = Canaries::new();
    let inputs = [10, 500, 30, 700].map(|ms| sleeper(&canaries, ms));
    let out = all_settled_timeout(inputs, Duration::from_millis(100)).await;
    assert_eq!(out, vec![Some(Ok(10)), None, Some(Ok(30)), None]);
    assert_eq!(canaries.cancelled(), 2);
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn all_settled_timeout_counts_inputs_never_started() {
    let (slow, _r) = Promise::<u32, ()>::with_resolver();
    let inputs = std::iter::once(slow).chain((0..3).map(Promise::resolved));
    let out = all_settled(inputs)
        .limit(1)
        .timeout(Duration::from_millis(10))
        .await;
    assert_eq!(out.len(), 4);
    assert!(out.iter().all(Option::is_none), "{out:?}");
}
