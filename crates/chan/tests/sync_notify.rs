#![cfg(not(loom))]
//! `Notify`: tokio's semantics rule by rule (one stored permit, `notify_waiters` stores none and
//! reaches futures made before it even if unpolled, FIFO, `notify_last` LIFO, `enable`), and
//! cancel safety: a cancelled waiter that had been picked by `notify_one` passes it on.

mod common;

use std::pin::pin;
use std::sync::Arc;

use common::{poll_once, poll_with, CountingWaker};
use spectrum_chan::sync::Notify;

static GLOBAL: Notify = Notify::const_new();

#[test]
fn notify_one_with_nobody_waiting_stores_one_permit() {
    let n = Notify::new();
    n.notify_one();
    n.notify_one(); // still one permit
    assert!(poll_once(pin!(n.notified())).is_ready());
    assert!(
        poll_once(pin!(n.notified())).is_pending(),
        "only one permit is stored"
    );
}

#[test]
fn static_notify_works() {
    GLOBAL.notify_one();
    GLOBAL.notified().wait();
}

#[test]
fn notify_waiters_wakes_everyone_and_stores_nothing() {
    let n = Notify::new();
    let (wakes, waker) = CountingWaker::new();
    let mut a = pin!(n.notified());
    let mut b = pin!(n.notified());
    assert!(poll_with(a.as_mut(), &waker).is_pending());
    assert!(poll_with(b.as_mut(), &waker).is_pending());
    n.notify_waiters();
    assert_eq!(wakes.wakes(), 2);
    assert!(poll_once(a.as_mut()).is_ready());
    assert!(poll_once(b.as_mut()).is_ready());
    assert!(
        poll_once(pin!(n.notified())).is_pending(),
        "no permit stored"
    );
}

#[test]
fn notify_waiters_reaches_a_future_made_before_it_even_unpolled() {
    let n = Notify::new();
    let mut early = pin!(n.notified());
    n.notify_waiters();
    let mut late = pin!(n.notified());
    assert!(poll_once(early.as_mut()).is_ready());
    assert!(poll_once(late.as_mut()).is_pending());
}

#[test]
fn notify_waiters_leaves_a_stored_permit() {
    let n = Notify::new();
    n.notify_one();
    n.notify_waiters();
    assert!(poll_once(pin!(n.notified())).is_ready());
}

#[test]
fn notify_one_wakes_waiters_in_fifo_order_and_notify_last_in_lifo() {
    let n = Notify::new();
    let mut futs: Vec<_> = (0..4).map(|_| Box::pin(n.notified())).collect();
    for f in &mut futs {
        assert!(poll_once(f.as_mut()).is_pending());
    }
    n.notify_one();
    let ready: Vec<bool> = futs
        .iter_mut()
        .map(|f| poll_once(f.as_mut()).is_ready())
        .collect();
    assert_eq!(ready, [true, false, false, false]);
    n.notify_last();
    assert!(poll_once(futs[3].as_mut()).is_ready());
    assert!(poll_once(futs[1].as_mut()).is_pending());
    assert!(poll_once(futs[2].as_mut()).is_pending());
}

#[test]
fn cancelled_waiter_picked_by_notify_one_passes_it_on() {
    let n = Notify::new();
    let mut a = Box::pin(n.notified());
    let (wakes_b, waker_b) = CountingWaker::new();
    let mut b = pin!(n.notified());
    assert!(poll_once(a.as_mut()).is_pending());
    assert!(poll_with(b.as_mut(), &waker_b).is_pending());
    n.notify_one(); // picks a
    assert_eq!(wakes_b.wakes(), 0);
    drop(a); // a never returned: b gets it
    assert_eq!(wakes_b.wakes(), 1);
    assert!(poll_once(b.as_mut()).is_ready());
}

#[test]
fn cancelled_picked_waiter_with_nobody_behind_stores_the_permit() {
    let n = Notify::new();
    let mut a = Box::pin(n.notified());
    assert!(poll_once(a.as_mut()).is_pending());
    n.notify_one();
    drop(a);
    assert!(
        poll_once(pin!(n.notified())).is_ready(),
        "the notification was kept"
    );
}

#[test]
fn cancelled_waiter_woken_by_notify_waiters_passes_nothing_on() {
    let n = Notify::new();
    let mut a = Box::pin(n.notified());
    assert!(poll_once(a.as_mut()).is_pending());
    n.notify_waiters();
    drop(a);
    assert!(poll_once(pin!(n.notified())).is_pending());
}

#[test]
fn cancelled_unpicked_waiter_just_leaves() {
    let n = Notify::new();
    let mut a = Box::pin(n.notified());
    let mut b = pin!(n.notified());
    assert!(poll_once(a.as_mut()).is_pending());
    assert!(poll_once(b.as_mut()).is_pending());
    drop(a);
    n.notify_one();
    assert!(poll_once(b.as_mut()).is_ready());
    // Nothing left behind: no permit stored, nobody queued.
    assert!(format!("{n:?}").contains("waiters: false, permit: false"));
}

#[test]
fn enable_registers_without_polling() {
    let n = Notify::new();
    let mut a = pin!(n.notified());
    assert!(!a.as_mut().enable());
    n.notify_one(); // goes to the enabled future, not to the permit
    assert!(poll_once(pin!(n.notified())).is_pending());
    assert!(a.as_mut().enable());
    assert!(poll_once(a.as_mut()).is_ready());
    // enable consuming a stored permit, then dropped: the permit comes back.
    n.notify_one();
    {
        let mut b = pin!(n.notified());
        assert!(b.as_mut().enable());
    }
    assert!(poll_once(pin!(n.notified())).is_ready());
}

#[test]
fn threads_and_tasks_ping_pong() {
    let rt = spectrum_rt::Runtime::builder().workers(2).build().unwrap();
    let ping = Arc::new(Notify::new());
    let pong = Arc::new(Notify::new());
    let task = rt.spawn({
        let (ping, pong) = (ping.clone(), pong.clone());
        async move {
            for _ in 0..1_000 {
                ping.notified().await;
                pong.notify_one();
            }
        }
    });
    for _ in 0..1_000 {
        ping.notify_one();
        pong.clone().notified_owned().wait();
    }
    rt.block_on(task).unwrap();
}

#[test]
fn no_wake_up_is_lost_between_threads() {
    // Each round: the waiter makes its future, the notifier notifies at any moment; the waiter
    // must always complete (a lost wake-up hangs the test).
    let n = Arc::new(Notify::new());
    let done = Arc::new(Notify::new());
    let n2 = n.clone();
    let done2 = done.clone();
    let t = std::thread::spawn(move || {
        for _ in 0..5_000 {
            n2.notified().wait();
            done2.notify_one();
        }
    });
    for _ in 0..5_000 {
        n.notify_one();
        done.notified().wait();
    }
    t.join().unwrap();
}
