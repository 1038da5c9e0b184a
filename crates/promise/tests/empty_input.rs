//! Empty inputs settle at once, with the documented results.
#![cfg(not(loom))]

use std::future::Ready;
use std::time::Duration;

use spectrum_promise::{all, all_settled, all_settled_timeout, any, race, race_timeout};
use spectrum_rt::Wait;

type Input = Ready<Result<u32, String>>;

#[test]
fn all_of_nothing_is_an_empty_vec() {
    assert_eq!(all(Vec::<Input>::new()).wait(), Ok(vec![]));
}

#[test]
fn all_settled_of_nothing_is_an_empty_vec() {
    assert!(all_settled(Vec::<Input>::new()).wait().is_empty());
}

#[test]
fn race_of_nothing_is_none_not_a_hang() {
    assert_eq!(race(Vec::<Input>::new()).wait(), None);
}

#[test]
fn any_of_nothing_fails_with_no_errors_as_in_js() {
    let err = any(Vec::<Input>::new()).wait().unwrap_err();
    assert!(err.errors.is_empty());
    assert_eq!(
        err.to_string(),
        "no input to succeed: `any` was given nothing"
    );
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn timeout_variants_of_nothing_settle_at_once() {
    let start = spectrum_rt::time::now();
    assert_eq!(
        race_timeout(Vec::<Input>::new(), Duration::from_secs(60)).await,
        Ok(None)
    );
    assert!(
        all_settled_timeout(Vec::<Input>::new(), Duration::from_secs(60))
            .await
            .is_empty()
    );
    assert!(spectrum_rt::time::now() - start < Duration::from_secs(60));
}
