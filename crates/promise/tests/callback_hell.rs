//! The callback-hell example: its three versions agree, on success and on failure.
#![cfg(not(loom))]

#[allow(dead_code)]
#[path = "../examples/callback_hell.rs"]
mod callback_hell;

use spectrum_promise::{callback, PromiseError};
use spectrum_rt::Wait;

const EXPECTED: &str = "b.txt -> https://example.invalid/data -> 42 widgets";

#[test]
fn callbacks_version() {
    let out = callback::from_fn(|done| callback_hell::with_callbacks("a.txt", done.into_fn()));
    assert_eq!(out.wait(), Ok(EXPECTED.to_string()));
    let err = callback::from_fn(|done| callback_hell::with_callbacks("broken.txt", done.into_fn()));
    assert_eq!(
        err.wait(),
        Err(PromiseError::Rejected(
            "read: not found: missing.txt".to_string()
        ))
    );
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn promises_version() {
    assert_eq!(
        callback_hell::with_promises("a.txt").await,
        Ok(EXPECTED.to_string())
    );
    assert_eq!(
        callback_hell::with_promises("broken.txt").await,
        Err(PromiseError::Rejected(
            "read: not found: missing.txt".to_string()
        ))
    );
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn async_await_version() {
    assert_eq!(
        callback_hell::with_async("a.txt").await,
        Ok(EXPECTED.to_string())
    );
    assert_eq!(
        callback_hell::with_async("broken.txt").await,
        Err(PromiseError::Rejected(
            "read: not found: missing.txt".to_string()
        ))
    );
}

#[test]
fn async_await_version_from_a_plain_thread() {
    // No runtime needed: the promises come from callbacks, not tasks.
    assert_eq!(
        callback_hell::with_async("nope.txt").wait(),
        Err(PromiseError::Rejected(
            "read: not found: nope.txt".to_string()
        ))
    );
}
