//! Resolve and reject reach the reader: awaited, `.wait()`ed, across threads, under any executor.
#![cfg(not(loom))]

use std::time::Duration;

use spectrum_promise::{Promise, PromiseError};
use spectrum_rt::Wait;

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn resolve_then_await() {
    let (p, r) = Promise::<u32, String>::with_resolver();
    let watcher = r.clone();
    assert!(!p.is_settled());
    assert!(!watcher.is_settled());
    r.resolve(5).unwrap();
    assert!(p.is_settled());
    assert!(watcher.is_settled());
    assert_eq!(p.await, Ok(5));
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn await_then_resolve_from_another_thread() {
    let (p, r) = Promise::<String, ()>::with_resolver();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(10));
        r.resolve("late".into()).unwrap();
    });
    assert_eq!(p.await.unwrap(), "late");
    t.join().unwrap();
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn reject_reaches_the_reader() {
    let (p, r) = Promise::<u32, &str>::with_resolver();
    let reader = spectrum_rt::spawn(p);
    r.reject("boom").unwrap();
    let err = reader.await.unwrap().unwrap_err();
    assert!(err.is_rejected());
    assert_eq!(err.rejected(), Some(&"boom"));
    assert_eq!(err.to_string(), "promise rejected: boom");
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn settle_takes_a_result() {
    let (p, r) = Promise::<u32, &str>::with_resolver();
    r.settle(Err("no")).unwrap();
    assert_eq!(p.await, Err(PromiseError::Rejected("no")));
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn resolved_and_rejected_constructors() {
    assert_eq!(Promise::<u32, ()>::resolved(1).await, Ok(1));
    assert_eq!(
        Promise::<u32, &str>::rejected("e").await,
        Err(PromiseError::Rejected("e"))
    );
}

#[test]
fn wait_parks_a_plain_thread_without_a_runtime() {
    let (p, r) = Promise::<u32, ()>::with_resolver();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(5));
        r.resolve(9).unwrap();
    });
    assert_eq!(p.wait(), Ok(9));
    t.join().unwrap();
}

#[test]
fn works_under_the_futures_executor() {
    let (p, r) = Promise::<u32, ()>::with_resolver();
    let t = std::thread::spawn(move || r.resolve(3).unwrap());
    assert_eq!(futures::executor::block_on(p), Ok(3));
    t.join().unwrap();
}

#[test]
fn works_under_tokio() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let (p, r) = Promise::<u32, ()>::with_resolver();
        let reader = tokio::spawn(p);
        tokio::task::yield_now().await;
        r.resolve(11).unwrap();
        assert_eq!(reader.await.unwrap(), Ok(11));
    });
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn many_promises_resolved_in_reverse_order() {
    let pairs: Vec<_> = (0..100)
        .map(|_| Promise::<usize, ()>::with_resolver())
        .collect();
    let (promises, resolvers): (Vec<_>, Vec<_>) = pairs.into_iter().unzip();
    let readers: Vec<_> = promises.into_iter().map(spectrum_rt::spawn).collect();
    for (i, r) in resolvers.into_iter().enumerate().rev() {
        r.resolve(i).unwrap();
    }
    for (i, h) in readers.into_iter().enumerate() {
        assert_eq!(h.await.unwrap(), Ok(i));
    }
}

#[spectrum_macros::test(crate = "spectrum_rt")]
#[should_panic(expected = "polled after it returned its outcome")]
async fn polling_after_completion_panics() {
    let mut p = Promise::<u32, ()>::resolved(1);
    assert_eq!((&mut p).await, Ok(1));
    let _ = (&mut p).await;
}
