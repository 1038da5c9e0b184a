#![cfg(not(loom))]
//! `OnceCell`: set once, `set` errors, initializers serialized, a cancelled, failing or
//! panicking initializer lets the next caller try (nothing wedges), value dropped exactly once.

mod common;

use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::Poll;

use common::{count, counter, poll_once, Token};
use spectrum_chan::sync::{OnceCell, SetError};
use spectrum_rt::Wait;

static CELL: OnceCell<u32> = OnceCell::const_new();
static FULL: OnceCell<u32> = OnceCell::const_new_with(9);

#[test]
fn statics() {
    assert_eq!(*CELL.get_or_init(|| async { 1 }).wait(), 1);
    assert_eq!(*CELL.get_or_init(|| async { 2 }).wait(), 1);
    assert_eq!(FULL.get(), Some(&9));
    assert!(FULL.set(1).unwrap_err().is_already_init_err());
}

#[test]
fn set_once_then_errors_give_the_value_back() {
    let c = OnceCell::new();
    assert!(!c.initialized());
    assert_eq!(c.get(), None);
    c.set(1).unwrap();
    assert!(c.initialized());
    let e = c.set(2).unwrap_err();
    assert!(e.is_already_init_err());
    assert_eq!(e.into_inner(), 2);
}

#[test]
fn set_while_initializing_is_an_initializing_error() {
    let c = OnceCell::<u32>::new();
    let mut init = pin!(c.get_or_init(std::future::pending));
    assert!(poll_once(init.as_mut()).is_pending()); // holds the permit, runs forever
    match c.set(5) {
        Err(SetError::InitializingError(5)) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn cancelled_lone_initializer_leaves_the_cell_empty_and_usable() {
    let c = OnceCell::<u32>::new();
    {
        let mut init = pin!(c.get_or_init(std::future::pending));
        assert!(poll_once(init.as_mut()).is_pending());
    }
    assert!(!c.initialized());
    assert_eq!(*c.get_or_init(|| async { 3 }).wait(), 3);
}

#[test]
fn waiter_behind_a_cancelled_initializer_runs_its_own() {
    let c = OnceCell::<u32>::new();
    let mut first = Box::pin(c.get_or_init(std::future::pending));
    assert!(poll_once(first.as_mut()).is_pending());
    let mut second = pin!(c.get_or_init(|| async { 2 }));
    assert!(poll_once(second.as_mut()).is_pending());
    drop(first);
    let Poll::Ready(v) = poll_once(second.as_mut()) else {
        panic!("second runs its initializer once first is gone")
    };
    assert_eq!(*v, 2);
}

#[test]
fn failing_initializer_lets_the_next_caller_try() {
    let c = OnceCell::<u32>::new();
    let r: Result<&u32, &str> = c.get_or_try_init(|| async { Err("no") }).wait();
    assert_eq!(r, Err("no"));
    assert!(!c.initialized());
    let r: Result<&u32, &str> = c.get_or_try_init(|| async { Ok(4) }).wait();
    assert_eq!(r, Ok(&4));
}

#[test]
fn panicking_initializer_does_not_wedge_the_cell() {
    let c = Arc::new(OnceCell::<u32>::new());
    let c2 = c.clone();
    let r = std::thread::spawn(move || {
        c2.get_or_init(|| async { panic!("init failed") }).wait();
    })
    .join();
    assert!(r.is_err());
    assert!(!c.initialized());
    assert_eq!(*c.get_or_init(|| async { 5 }).wait(), 5);

    // The same inside a runtime task: the task fails, the cell stays usable.
    let rt = spectrum_rt::Runtime::new().unwrap();
    let c = Arc::new(OnceCell::<u32>::new());
    let c2 = c.clone();
    let failed = rt.block_on(rt.spawn(async move {
        c2.get_or_init(|| async { panic!("init failed in a task") })
            .await;
    }));
    assert!(failed.is_err());
    assert_eq!(*rt.block_on(c.get_or_init(|| async { 6 })), 6);
}

#[test]
fn concurrent_initializers_run_one_at_a_time_and_one_wins() {
    let rt = spectrum_rt::Runtime::builder().workers(2).build().unwrap();
    let c = Arc::new(OnceCell::<usize>::new());
    let running = Arc::new(AtomicUsize::new(0));
    let runs = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let (c, running, runs) = (c.clone(), running.clone(), runs.clone());
            rt.spawn(async move {
                *c.get_or_init(|| async move {
                    assert_eq!(running.fetch_add(1, SeqCst), 0, "two initializers at once");
                    runs.fetch_add(1, SeqCst);
                    spectrum_rt::yield_now().await;
                    running.fetch_sub(1, SeqCst);
                    i
                })
                .await
            })
        })
        .collect();
    let got: Vec<usize> = rt.block_on(async {
        let mut v = Vec::new();
        for t in tasks {
            v.push(t.await.unwrap());
        }
        v
    });
    assert_eq!(
        runs.load(SeqCst),
        1,
        "the first initializer to finish wins; no other runs"
    );
    assert!(got.iter().all(|&v| v == got[0]));
}

#[test]
fn value_is_dropped_exactly_once() {
    let drops = counter();
    {
        let c = OnceCell::new();
        c.set(Token::new(1, &drops)).unwrap();
        let e = c.set(Token::new(2, &drops)).unwrap_err();
        drop(e);
        assert_eq!(count(&drops), 1);
    }
    assert_eq!(count(&drops), 2);
    let mut c = OnceCell::new();
    c.set(Token::new(3, &drops)).unwrap();
    let t = c.take().unwrap();
    assert_eq!(t.id, 3);
    assert!(!c.initialized());
    c.set(Token::new(4, &drops)).unwrap(); // usable again after take
    assert_eq!(c.into_inner().map(|t| t.id), Some(4)); // 4 moved out, then dropped
    assert_eq!(count(&drops), 3); // 3 is still alive in `t`
    drop(t);
    assert_eq!(count(&drops), 4);
}

#[test]
fn clone_eq_debug() {
    let c = OnceCell::new_with(Some(3));
    let d = c.clone();
    assert_eq!(c, d);
    assert_ne!(c, OnceCell::new());
    assert!(format!("{c:?}").contains("Some(3)"));
    let mut e = OnceCell::from(1);
    *e.get_mut().unwrap() += 1;
    assert_eq!(e.get(), Some(&2));
}
