//! A promise settles once: the first settlement wins, later ones get their value back.
#![cfg(not(loom))]

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier};

use spectrum_promise::{AlreadySettled, Promise, PromiseError};
use spectrum_rt::Wait;

#[test]
fn a_second_resolve_gives_the_value_back() {
    let (p, r) = Promise::<String, String>::with_resolver();
    let (r2, r3, r4) = (r.clone(), r.clone(), r.clone());
    r.resolve("first".into()).unwrap();
    let AlreadySettled(back) = r2.resolve("second".into()).unwrap_err();
    assert_eq!(back, "second");
    assert_eq!(r3.reject("late".into()).unwrap_err().into_inner(), "late");
    assert_eq!(
        r4.settle(Ok("third".into())).unwrap_err().0,
        Ok("third".to_string())
    );
    assert_eq!(p.wait().unwrap(), "first");
}

#[test]
fn a_reject_then_a_resolve_keeps_the_rejection() {
    let (p, r) = Promise::<u32, &str>::with_resolver();
    let late = r.clone();
    r.reject("no").unwrap();
    assert_eq!(late.resolve(1), Err(AlreadySettled(1)));
    assert_eq!(p.wait(), Err(PromiseError::Rejected("no")));
}

#[test]
fn a_second_settle_through_the_same_resolver_does_not_compile() {
    // `resolve` consumes the resolver (as `oneshot::Sender::send`): settling twice through one
    // resolver is a compile error, and through clones an `AlreadySettled`.
    let (_p, r) = Promise::<u32, ()>::with_resolver();
    r.resolve(1).unwrap();
}

#[test]
fn the_settled_value_outlives_a_late_resolver() {
    let (p, r) = Promise::<u32, ()>::with_resolver();
    let late = r.clone();
    r.resolve(1).unwrap();
    drop(late); // the last resolver: it must not abandon a settled promise
    assert_eq!(p.wait(), Ok(1));
}

#[test]
fn already_settled_displays_in_lowercase() {
    assert_eq!(AlreadySettled(1).to_string(), "promise already settled");
}

#[test]
fn racing_resolvers_on_many_threads_settle_exactly_once() {
    for _ in 0..50 {
        let (p, r) = Promise::<usize, ()>::with_resolver();
        let wins = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(Barrier::new(4));
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let (r, wins, start) = (r.clone(), wins.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    if r.resolve(i).is_ok() {
                        wins.fetch_add(1, SeqCst);
                    }
                })
            })
            .collect();
        drop(r);
        let winner = p.wait().unwrap();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(wins.load(SeqCst), 1);
        assert!(winner < 4);
    }
}

#[test]
fn a_settled_promise_is_not_abandoned_by_the_last_drop() {
    let (p, r) = Promise::<u32, ()>::with_resolver();
    let r2 = r.clone();
    r.resolve(1).unwrap();
    drop(r2);
    assert_eq!(p.wait(), Ok(1));
}
