//! A shared promise: every clone reads a clone of the one outcome, on any thread.
#![cfg(not(loom))]

use std::sync::Arc;
use std::time::Duration;

use spectrum_promise::{Promise, PromiseError};
use spectrum_rt::Wait;

#[test]
fn every_reader_on_every_thread_gets_the_value() {
    let (p, r) = Promise::<Arc<String>, ()>::with_resolver();
    let shared = p.shared();
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let s = shared.clone();
            std::thread::spawn(move || s.wait().unwrap())
        })
        .collect();
    std::thread::sleep(Duration::from_millis(5));
    r.resolve(Arc::new("v".into())).unwrap();
    for t in readers {
        assert_eq!(*t.join().unwrap(), "v");
    }
    assert_eq!(*shared.wait().unwrap(), "v");
}

#[spectrum_macros::test(crate = "spectrum_rt", workers = 2)]
async fn tasks_read_it_too_and_reading_twice_is_fine() {
    let (p, r) = Promise::<u32, &str>::with_resolver();
    let a = p.shared();
    let tasks: Vec<_> = (0..4).map(|_| spectrum_rt::spawn(a.clone())).collect();
    r.reject("no").unwrap();
    for t in tasks {
        assert_eq!(t.await.unwrap(), Err(PromiseError::Rejected("no")));
    }
    let mut again = a.clone();
    assert_eq!((&mut again).await, Err(PromiseError::Rejected("no")));
    assert_eq!((&mut again).await, Err(PromiseError::Rejected("no")));
    assert_eq!(a.peek(), Some(Err(PromiseError::Rejected("no"))));
}

#[test]
fn peek_and_reader_count() {
    let (p, r) = Promise::<u32, ()>::with_resolver();
    let a = p.shared();
    assert_eq!(a.peek(), None);
    let b = a.clone();
    assert_eq!(a.reader_count(), 2);
    drop(b);
    assert_eq!(a.reader_count(), 1);
    r.resolve(2).unwrap();
    assert_eq!(a.peek(), Some(Ok(2)));
    assert!(a.is_settled());
}

#[test]
fn a_dropped_pending_reader_unregisters() {
    let (p, r) = Promise::<u32, ()>::with_resolver();
    let a = p.shared();
    {
        let b = a.clone();
        let mut b = std::pin::pin!(b);
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        assert!(std::future::Future::poll(b.as_mut(), &mut cx).is_pending());
    }
    r.resolve(1).unwrap();
    assert_eq!(a.wait(), Ok(1));
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn a_panic_reaches_every_reader_with_its_message() {
    let shared = Promise::<u32, ()>::resolved(1)
        .map(|_| -> u32 { panic!("exploded") })
        .shared();
    let a = shared.clone().await.unwrap_err();
    let b = shared.await.unwrap_err();
    assert_eq!(a.panic_message(), Some("exploded"));
    assert_eq!(b.panic_message(), Some("exploded"));
}
