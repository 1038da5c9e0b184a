#![cfg(not(loom))]
//! `RwLock`: many readers or one writer, FIFO fairness (a queued writer holds later readers
//! back, readers behind a writer enter together), `max_readers`, downgrade, owned guards, and
//! cancel safety of a queued writer that had collected read permits.

mod common;

use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;

use common::poll_once;
use spectrum_chan::sync::{RwLock, RwLockWriteGuard, MAX_READS};

static GLOBAL: RwLock<u8> = RwLock::const_with_max_readers(3, 2);

#[test]
fn readers_share_writers_exclude() {
    let l = RwLock::new(1);
    let r1 = l.try_read().unwrap();
    let r2 = l.read().wait();
    assert_eq!(*r1 + *r2, 2);
    assert!(l.try_write().is_err());
    drop((r1, r2));
    let mut w = l.try_write().unwrap();
    *w = 5;
    assert!(l.try_read().is_err());
    drop(w);
    assert_eq!(*l.try_read().unwrap(), 5);
}

#[test]
fn queued_writer_holds_later_readers_back() {
    let l = RwLock::new(0);
    let r = l.try_read().unwrap();
    let mut w = pin!(l.write());
    assert!(poll_once(w.as_mut()).is_pending());
    // A reader arriving after the writer queues behind it (no writer starvation).
    assert!(l.try_read().is_err());
    let mut r2 = pin!(l.read());
    assert!(poll_once(r2.as_mut()).is_pending());
    drop(r);
    let Poll::Ready(mut wg) = poll_once(w.as_mut()) else {
        panic!("the writer is next")
    };
    *wg = 1;
    assert!(poll_once(r2.as_mut()).is_pending());
    drop(wg);
    let Poll::Ready(rg) = poll_once(r2.as_mut()) else {
        panic!("the reader follows the writer")
    };
    assert_eq!(*rg, 1);
}

#[test]
fn readers_behind_a_writer_enter_together() {
    let l = RwLock::new(());
    let w = l.try_write().unwrap();
    let mut readers: Vec<_> = (0..4).map(|_| Box::pin(l.read())).collect();
    for r in &mut readers {
        assert!(poll_once(r.as_mut()).is_pending());
    }
    drop(w);
    let guards: Vec<_> = readers
        .iter_mut()
        .map(|r| match poll_once(r.as_mut()) {
            Poll::Ready(g) => g,
            Poll::Pending => panic!("all queued readers enter at once"),
        })
        .collect();
    assert_eq!(guards.len(), 4);
}

#[test]
fn cancelled_writer_passes_collected_read_permits_on() {
    let l = RwLock::with_max_readers((), 3);
    let r1 = l.try_read().unwrap();
    let r2 = l.try_read().unwrap();
    let mut w = Box::pin(l.write());
    assert!(poll_once(w.as_mut()).is_pending()); // took the one free permit, waits for two
    let mut r3 = pin!(l.read());
    assert!(poll_once(r3.as_mut()).is_pending()); // behind the writer
    drop(r1); // the writer now holds 2 of 3
    drop(w); // cancelled: its 2 permits go to r3 (1) and back to the count (1)
    let Poll::Ready(g3) = poll_once(r3.as_mut()) else {
        panic!("r3 got a permit from the cancelled writer")
    };
    assert!(
        l.try_read().is_ok(),
        "the writer's other permit went back to the count"
    );
    drop(r2);
    // All 3 permits are back once r3's guard goes.
    drop(g3);
    let w = l.try_write();
    assert!(w.is_ok(), "a permit leaked");
}

#[test]
fn max_readers_bounds_concurrent_readers() {
    let r1 = GLOBAL.try_read().unwrap();
    let r2 = GLOBAL.try_read().unwrap();
    assert!(GLOBAL.try_read().is_err());
    assert_eq!(GLOBAL.max_readers(), 2);
    drop((r1, r2));
    assert_eq!(*GLOBAL.try_write().unwrap(), 3);
    assert_eq!(RwLock::new(()).max_readers(), MAX_READS);
}

#[test]
#[should_panic(expected = "max_reads must be between 1 and MAX_READS")]
fn zero_max_readers_is_rejected() {
    let _ = RwLock::with_max_readers((), 0);
}

#[test]
#[should_panic(expected = "max_reads must be between 1 and MAX_READS")]
fn too_many_max_readers_is_rejected() {
    let _ = RwLock::with_max_readers((), MAX_READS + 1);
}

#[test]
fn downgrade_keeps_writers_out_and_lets_queued_readers_in() {
    let l = RwLock::new(0);
    let mut w = l.try_write().unwrap();
    *w = 7;
    let mut r = pin!(l.read());
    assert!(poll_once(r.as_mut()).is_pending());
    let d = RwLockWriteGuard::downgrade(w);
    assert_eq!(*d, 7);
    assert!(l.try_write().is_err());
    assert!(
        poll_once(r.as_mut()).is_ready(),
        "queued reader joins the downgraded guard"
    );
    drop(d);
}

#[test]
fn owned_guards_and_downgrade() {
    let l = Arc::new(RwLock::new(vec![1]));
    let mut w = l.clone().write_owned().wait();
    w.push(2);
    let r = spectrum_chan::sync::OwnedRwLockWriteGuard::downgrade(w);
    let r2 = l.clone().try_read_owned().unwrap();
    let t = std::thread::spawn(move || r.len());
    assert_eq!(t.join().unwrap(), 2);
    assert_eq!(*r2, vec![1, 2]);
    drop(r2);
    assert!(l.clone().try_write_owned().is_ok());
}

#[test]
fn threads_and_tasks_read_and_write_consistently() {
    let rt = spectrum_rt::Runtime::builder().workers(2).build().unwrap();
    // Invariant: both halves are always equal when seen under a read lock.
    let l = Arc::new(RwLock::new((0u64, 0u64)));
    let writers: Vec<_> = (0..3)
        .map(|_| {
            let l = l.clone();
            std::thread::spawn(move || {
                for _ in 0..300 {
                    let mut g = l.write().wait();
                    g.0 += 1;
                    std::hint::black_box(&mut *g);
                    g.1 += 1;
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..6)
        .map(|_| {
            let l = l.clone();
            rt.spawn(async move {
                for _ in 0..300 {
                    let g = l.read().await;
                    assert_eq!(g.0, g.1, "a reader saw a half-done write");
                    spectrum_rt::yield_now().await;
                }
            })
        })
        .collect();
    rt.block_on(async {
        for r in readers {
            r.await.unwrap();
        }
    });
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(*l.try_read().unwrap(), (900, 900));
}
