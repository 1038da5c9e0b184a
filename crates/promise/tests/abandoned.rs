//! Dropping every resolver settles the promise as `Abandoned`, naming where the resolver was made.
#![cfg(not(loom))]

use std::time::Duration;

use spectrum_promise::{Origin, Promise, PromiseError};
use spectrum_rt::Wait;

#[test]
fn dropping_the_only_resolver_abandons() {
    let line = line!() + 1;
    let (p, r) = Promise::<u32, &str>::with_resolver();
    drop(r);
    let err = p.wait().unwrap_err();
    let PromiseError::Abandoned(a) = &err else {
        panic!("expected an abandonment, got {err:?}")
    };
    assert_eq!(a.origin(), Origin::Resolver);
    assert_eq!(a.created_at().file(), file!());
    assert_eq!(a.created_at().line(), line);
    assert!(err
        .to_string()
        .starts_with("promise abandoned: every resolver (created at "));
}

#[test]
fn the_promise_waits_for_the_last_clone() {
    let (p, r) = Promise::<u32, ()>::with_resolver();
    let clones: Vec<_> = (0..3).map(|_| r.clone()).collect();
    drop(r);
    for c in clones.iter().skip(1) {
        drop(c.clone());
    }
    assert!(!p.is_settled(), "live clones keep it pending");
    let last = clones.into_iter().last().unwrap();
    last.resolve(4).unwrap();
    assert_eq!(p.wait(), Ok(4));
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn abandonment_wakes_a_waiting_task() {
    let (p, r) = Promise::<u32, ()>::with_resolver();
    let reader = spectrum_rt::spawn(p);
    spectrum_rt::time::sleep(Duration::from_millis(5)).await;
    assert!(!reader.is_finished());
    std::thread::spawn(move || drop(r)).join().unwrap();
    assert!(reader.await.unwrap().unwrap_err().is_abandoned());
}

#[test]
fn resolvers_see_when_nobody_reads() {
    let (p, r) = Promise::<u32, ()>::with_resolver();
    assert!(!r.is_closed());
    drop(p);
    assert!(r.is_closed());
    r.resolve(1).unwrap(); // still allowed; the value is dropped
}

#[test]
fn a_shared_promise_closes_with_its_last_reader() {
    let (p, r) = Promise::<u32, ()>::with_resolver();
    let a = p.shared();
    let b = a.clone();
    drop(a);
    assert!(!r.is_closed());
    drop(b);
    assert!(r.is_closed());
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn runtime_shutdown_abandons_a_chained_promise_with_origin_task() {
    let rt = spectrum_rt::Runtime::builder().workers(1).build().unwrap();
    let (upstream, _keep) = Promise::<u32, ()>::with_resolver();
    let chained = {
        let _enter = rt.enter();
        upstream.map(|v| v + 1)
    };
    drop(rt); // cancels the chain's task
    let err = chained.await.unwrap_err();
    match err {
        PromiseError::Abandoned(a) => assert_eq!(a.origin(), Origin::Task),
        other => panic!("expected an abandonment, got {other:?}"),
    }
}
