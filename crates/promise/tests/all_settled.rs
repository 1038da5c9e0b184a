//! `all_settled`: every outcome in input order; nothing is cancelled by a failure.
#![cfg(not(loom))]

mod common;

use std::time::Duration;

use common::Canaries;
use spectrum_promise::{all_settled, Promise, PromiseError};

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn every_outcome_in_input_order() {
    let (slow, r) = Promise::<u32, &str>::with_resolver();
    let (abandoned, gone) = Promise::<u32, &str>::with_resolver();
    drop(gone);
    let combined = spectrum_rt::spawn(all_settled([
        slow,
        Promise::rejected("no"),
        Promise::resolved(3),
        abandoned,
    ]));
    spectrum_rt::time::sleep(Duration::from_millis(2)).await;
    r.resolve(1).unwrap();
    let out = combined.await.unwrap();
    assert_eq!(out.len(), 4);
    assert_eq!(out[0], Ok(1));
    assert_eq!(out[1], Err(PromiseError::Rejected("no")));
    assert_eq!(out[2], Ok(3));
    assert!(out[3].as_ref().unwrap_err().is_abandoned());
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn a_failure_cancels_nothing() {
    let canaries = Canaries::new();
    let inputs: Vec<_> = (0..4u64)
        .map(|i| {
            canaries.watch(async move {
                spectrum_rt::time::sleep(Duration::from_millis(i * 2)).await;
                if i == 0 {
                    Err(i)
                } else {
                    Ok(i)
                }
            })
        })
        .collect();
    let out = all_settled(inputs).await;
    assert_eq!(out, vec![Err(0), Ok(1), Ok(2), Ok(3)]);
    assert_eq!(canaries.finished(), 4);
    assert_eq!(canaries.cancelled(), 0);
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn any_output_type_works() {
    let out = all_settled((0..3).map(|i| async move { i * 2 })).await;
    assert_eq!(out, vec![0, 2, 4]);
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn dropping_it_cancels_the_inputs() {
    let canaries = Canaries::new();
    let inputs: Vec<_> = (0..3)
        .map(|_| canaries.watch(std::future::pending::<()>()))
        .collect();
    let fut = spectrum_rt::spawn(all_settled(inputs));
    spectrum_rt::time::sleep(Duration::from_millis(2)).await;
    fut.cancel();
    assert!(fut.await.unwrap_err().is_cancelled());
    assert_eq!(canaries.cancelled(), 3);
}
