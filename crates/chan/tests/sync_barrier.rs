#![cfg(not(loom))]
//! `Barrier`: nobody leaves before `n` arrive, exactly one leader per round, reuse across
//! rounds, `new(0)` as `new(1)`, and a cancelled arrival withdrawn.

mod common;

use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use common::poll_once;
use spectrum_chan::sync::Barrier;

#[test]
fn nobody_leaves_early_and_one_leads() {
    let b = Barrier::new(3);
    let mut x = pin!(b.wait());
    let mut y = pin!(b.wait());
    assert!(poll_once(x.as_mut()).is_pending());
    assert!(poll_once(y.as_mut()).is_pending());
    assert!(poll_once(x.as_mut()).is_pending());
    let z = b.wait().wait();
    assert!(z.is_leader());
    let std::task::Poll::Ready(rx) = poll_once(x.as_mut()) else {
        panic!()
    };
    let std::task::Poll::Ready(ry) = poll_once(y.as_mut()) else {
        panic!()
    };
    assert!(!rx.is_leader() && !ry.is_leader());
}

#[test]
fn zero_parties_behaves_as_one() {
    let b = Barrier::new(0);
    assert_eq!(b.parties(), 1);
    assert!(b.wait().wait().is_leader());
    assert!(b.wait().wait().is_leader());
}

#[test]
fn cancelled_arrival_is_withdrawn() {
    let b = Barrier::new(2);
    {
        let mut x = pin!(b.wait());
        assert!(poll_once(x.as_mut()).is_pending());
    } // dropped before the round completed
    let mut y = pin!(b.wait());
    assert!(
        poll_once(y.as_mut()).is_pending(),
        "the withdrawn arrival does not count"
    );
    assert!(b.wait().wait().is_leader());
    assert!(poll_once(y.as_mut()).is_ready());
}

#[test]
fn rounds_with_threads_and_tasks() {
    const ROUNDS: usize = 50;
    let rt = spectrum_rt::Runtime::builder().workers(2).build().unwrap();
    let b = Arc::new(Barrier::new(6));
    let leaders = Arc::new(AtomicUsize::new(0));
    let arrived = Arc::new(AtomicUsize::new(0));
    let check = |round: usize, arrived: &AtomicUsize| {
        // Everyone of this round arrived before anyone left it.
        assert!(arrived.load(SeqCst) >= (round + 1) * 6);
    };
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let (b, leaders, arrived) = (b.clone(), leaders.clone(), arrived.clone());
            rt.spawn(async move {
                for round in 0..ROUNDS {
                    arrived.fetch_add(1, SeqCst);
                    if b.wait().await.is_leader() {
                        leaders.fetch_add(1, SeqCst);
                    }
                    check(round, &arrived);
                }
            })
        })
        .collect();
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let (b, leaders, arrived) = (b.clone(), leaders.clone(), arrived.clone());
            std::thread::spawn(move || {
                for round in 0..ROUNDS {
                    arrived.fetch_add(1, SeqCst);
                    if b.wait().wait().is_leader() {
                        leaders.fetch_add(1, SeqCst);
                    }
                    check(round, &arrived);
                }
            })
        })
        .collect();
    rt.block_on(async {
        for t in tasks {
            t.await.unwrap();
        }
    });
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(leaders.load(SeqCst), ROUNDS, "exactly one leader per round");
}
