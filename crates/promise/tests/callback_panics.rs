//! A panic inside any callback is delivered as `PromiseError::Panicked`, never unwound into the
//! runtime or the resolver.
#![cfg(not(loom))]

use spectrum_promise::callback::{self, Inline};
use spectrum_promise::{Promise, PromiseError};
use spectrum_rt::Wait;

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn a_panic_in_map_rejects_with_the_message() {
    let err = Promise::<u32, String>::resolved(1)
        .map(|_| -> u32 { panic!("map blew up") })
        .await
        .unwrap_err();
    assert!(err.is_panic());
    assert_eq!(err.panic_message(), Some("map blew up"));
    assert_eq!(err.to_string(), "promise callback panicked: map blew up");
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn a_panic_flows_down_the_chain_and_catch_sees_it() {
    let p = Promise::<u32, ()>::resolved(1)
        .and_then(|_| async { panic!("async part panicked") })
        .map(|v: u32| v + 1)
        .catch(|e| match e {
            PromiseError::Panicked(p) => {
                assert_eq!(p.message(), Some("async part panicked"));
                Ok(0)
            }
            other => Err(other),
        });
    assert_eq!(p.await, Ok(0));
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn panics_in_then_catch_or_else_and_finally() {
    let then = Promise::<u32, ()>::resolved(1).then(|_| -> Result<u32, _> { panic!("then") });
    assert_eq!(then.await.unwrap_err().panic_message(), Some("then"));
    let catch = Promise::<u32, ()>::rejected(()).catch(|_| panic!("catch"));
    assert_eq!(catch.await.unwrap_err().panic_message(), Some("catch"));
    let or_else = Promise::<u32, ()>::rejected(()).or_else(|_| async { panic!("or_else") });
    assert_eq!(or_else.await.unwrap_err().panic_message(), Some("or_else"));
    let finally = Promise::<u32, ()>::resolved(1).finally(|| panic!("finally"));
    assert_eq!(finally.await.unwrap_err().panic_message(), Some("finally"));
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn a_panic_in_a_spawned_promise_is_an_error() {
    let p = spectrum_promise::spawn(async {
        if true {
            panic!("spawned");
        }
        Ok::<u32, ()>(1)
    });
    assert_eq!(p.await.unwrap_err().panic_message(), Some("spawned"));
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn a_panic_in_on_complete_reaches_the_completion() {
    let done = Promise::<u32, ()>::resolved(1).on_complete(|_| -> u32 { panic!("cb") });
    assert_eq!(done.await.unwrap_err().panic_message(), Some("cb"));
}

#[test]
fn an_inline_callback_panic_does_not_unwind_into_resolve() {
    let (p, r) = Promise::<u32, ()>::with_resolver();
    let done = p.on_complete_with(Inline, |_| -> () { panic!("inline cb") });
    r.resolve(1).unwrap(); // must not panic
    assert_eq!(done.wait().unwrap_err().panic_message(), Some("inline cb"));
}

#[test]
fn a_panicking_executor_abandons_the_completion() {
    let (p, r) = Promise::<u32, ()>::with_resolver();
    let done = p.on_complete_with(|_job: callback::Job| panic!("executor"), |_| ());
    r.resolve(1).unwrap(); // must not panic
    assert!(done.wait().unwrap_err().is_abandoned());
}

#[test]
fn a_panic_in_from_fn_rejects() {
    let p = callback::from_fn::<u32, (), _>(|_done| panic!("executor fn"));
    assert_eq!(p.wait().unwrap_err().panic_message(), Some("executor fn"));
}

#[test]
fn a_panic_after_the_callback_was_called_keeps_the_value() {
    let p = callback::from_fn::<u32, (), _>(|done| {
        done.resolve(5).unwrap();
        panic!("too late to matter");
    });
    assert_eq!(p.wait(), Ok(5));
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn resume_panic_re_raises_it() {
    let err = Promise::<u32, ()>::resolved(1)
        .map(|_| -> u32 { panic!("again") })
        .await
        .unwrap_err();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| err.resume_panic()));
    let payload = caught.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"again"));
}
