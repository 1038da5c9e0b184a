#![cfg(not(loom))]
//! The watch channel: versions (a change is never missed and never reported twice), close
//! semantics, `send` variants, `wait_for`, `Sender::closed`, cancel safety, panics in user
//! closures, threads blocking with `.wait()`, and a stress run with random cancellation.

mod common;

use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use common::{poll_once, poll_with, CountingWaker, MaybeCancel, Rng};
use spectrum_chan::sync::watch::{self, RecvError, SendError};
use spectrum_rt::{Runtime, Wait};

fn runtime(workers: usize) -> Runtime {
    Runtime::builder().workers(workers).build().unwrap()
}

#[test]
fn borrow_sees_the_latest_value_and_changed_reports_one_change_per_look() {
    let (tx, mut rx) = watch::channel(0);
    assert_eq!(*rx.borrow(), 0);
    assert!(!rx.borrow().has_changed());
    assert_eq!(rx.has_changed(), Ok(false));
    assert!(poll_once(pin!(rx.changed())).is_pending());

    tx.send(1).unwrap();
    tx.send(2).unwrap();
    assert_eq!(rx.has_changed(), Ok(true));
    let r = rx.borrow();
    assert!(r.has_changed());
    assert_eq!(*r, 2);
    drop(r);
    // `borrow` marks nothing: the change is still pending.
    assert_eq!(rx.changed().wait(), Ok(()));
    assert_eq!(*rx.borrow(), 2);
    // Reported once only.
    assert_eq!(rx.has_changed(), Ok(false));
    assert!(poll_once(pin!(rx.changed())).is_pending());
}

#[test]
fn borrow_and_update_marks_the_value_seen() {
    let (tx, mut rx) = watch::channel("a");
    tx.send("b").unwrap();
    let r = rx.borrow_and_update();
    assert!(r.has_changed());
    assert_eq!(*r, "b");
    drop(r);
    assert_eq!(rx.has_changed(), Ok(false));
    let r = rx.borrow_and_update();
    assert!(!r.has_changed());
    drop(r);
    assert!(poll_once(pin!(rx.changed())).is_pending());
}

#[test]
fn mark_changed_and_mark_unchanged() {
    let (tx, mut rx) = watch::channel(0);
    rx.mark_changed();
    assert_eq!(rx.has_changed(), Ok(true));
    assert_eq!(rx.changed().wait(), Ok(()));
    assert_eq!(rx.has_changed(), Ok(false));
    tx.send(5).unwrap();
    rx.mark_unchanged();
    assert_eq!(rx.has_changed(), Ok(false));
    assert!(poll_once(pin!(rx.changed())).is_pending());
    assert_eq!(*rx.borrow(), 5);
}

#[test]
fn after_the_sender_goes_an_unseen_change_is_reported_once_then_errors() {
    let (tx, mut rx) = watch::channel(0);
    let mut quiet = rx.clone();
    tx.send(1).unwrap();
    quiet.mark_unchanged();
    drop(tx);
    // has_changed reports the close (as tokio does) ...
    assert_eq!(rx.has_changed(), Err(rx_err()));
    // ... but changed still delivers the unseen change first.
    assert_eq!(rx.changed().wait(), Ok(()));
    assert_eq!(rx.changed().wait(), Err(rx_err()));
    assert_eq!(rx.changed().wait(), Err(rx_err()));
    assert_eq!(quiet.changed().wait(), Err(rx_err()));
    assert_eq!(*rx.borrow(), 1, "the last value stays readable");
    assert_eq!(rx_err().to_string(), "the watch channel's sender is gone");

    fn rx_err() -> RecvError {
        let (tx, mut rx) = watch::channel(());
        drop(tx);
        rx.changed().wait().unwrap_err()
    }
}

#[test]
fn the_channel_closes_when_the_last_sender_goes() {
    let (tx, mut rx) = watch::channel(0);
    let tx2 = tx.clone();
    assert_eq!(tx.sender_count(), 2);
    drop(tx);
    assert_eq!(rx.has_changed(), Ok(false), "a sender remains");
    tx2.send(1).unwrap();
    assert_eq!(rx.changed().wait(), Ok(()));
    drop(tx2);
    assert!(rx.changed().wait().is_err());
}

#[test]
fn a_parked_changed_is_woken_by_a_send_and_by_the_close() {
    let (tx, mut rx) = watch::channel(0);
    let (wakes, waker) = CountingWaker::new();
    {
        let mut f = pin!(rx.changed());
        assert!(poll_with(f.as_mut(), &waker).is_pending());
        tx.send(1).unwrap();
        assert_eq!(wakes.wakes(), 1);
        assert_eq!(poll_with(f.as_mut(), &waker), Poll::Ready(Ok(())));
    }
    {
        let mut f = pin!(rx.changed());
        assert!(poll_with(f.as_mut(), &waker).is_pending());
        drop(tx);
        assert_eq!(wakes.wakes(), 2);
        assert!(matches!(poll_with(f.as_mut(), &waker), Poll::Ready(Err(_))));
    }
}

#[test]
fn send_without_receivers_fails_and_stores_nothing_but_send_replace_stores() {
    let (tx, rx) = watch::channel(1);
    drop(rx);
    assert!(tx.is_closed());
    assert_eq!(tx.receiver_count(), 0);
    assert_eq!(tx.send(2), Err(SendError(2)));
    assert_eq!(*tx.borrow(), 1, "a failed send stores nothing");
    assert_eq!(
        SendError(0).to_string(),
        "the watch channel has no receivers"
    );
    assert_eq!(tx.send_replace(3), 1);
    assert_eq!(*tx.borrow(), 3);
    // A new receiver starts with the current value seen.
    let mut rx = tx.subscribe();
    assert_eq!(tx.receiver_count(), 1);
    assert_eq!(rx.has_changed(), Ok(false));
    assert_eq!(*rx.borrow(), 3);
    tx.send(4).unwrap();
    assert_eq!(rx.changed().wait(), Ok(()));
    assert_eq!(*rx.borrow_and_update(), 4);
    assert!(tx.same_channel(&rx));
}

#[test]
fn sender_new_has_no_receiver_until_subscribe() {
    let tx = watch::Sender::new(0u8);
    assert!(tx.send(1).is_err());
    let rx = tx.subscribe();
    tx.send(2).unwrap();
    assert_eq!(*rx.borrow(), 2);
}

#[test]
fn send_modify_and_send_if_modified() {
    let (tx, mut rx) = watch::channel(vec![1]);
    tx.send_modify(|v| v.push(2));
    assert_eq!(rx.changed().wait(), Ok(()));
    assert_eq!(*rx.borrow_and_update(), [1, 2]);
    // Not modified: no change for the receivers, nothing woken.
    let (wakes, waker) = CountingWaker::new();
    let mut f = pin!(rx.changed());
    assert!(poll_with(f.as_mut(), &waker).is_pending());
    assert!(!tx.send_if_modified(|v| v.len() > 5));
    assert_eq!(wakes.wakes(), 0);
    assert!(poll_with(f.as_mut(), &waker).is_pending());
    assert!(tx.send_if_modified(|v| {
        v.clear();
        true
    }));
    assert_eq!(wakes.wakes(), 1);
    assert_eq!(poll_with(f.as_mut(), &waker), Poll::Ready(Ok(())));
}

#[test]
fn a_panicking_send_modify_publishes_the_change_and_does_not_wedge_the_channel() {
    let (tx, mut rx) = watch::channel(0);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tx.send_modify(|v| {
            *v = 1;
            panic!("half-way");
        })
    }));
    assert!(r.is_err());
    // The partial change was published ...
    assert_eq!(rx.has_changed(), Ok(true));
    assert_eq!(rx.changed().wait(), Ok(()));
    assert_eq!(*rx.borrow(), 1);
    // ... and everything still works.
    tx.send(2).unwrap();
    assert_eq!(rx.changed().wait(), Ok(()));
    assert_eq!(*rx.borrow_and_update(), 2);
    assert_eq!(tx.send_replace(3), 2);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tx.send_if_modified(|_| panic!("before any change"))
    }));
    assert!(r.is_err());
    assert_eq!(*tx.borrow(), 3);
}

#[test]
fn wait_for_tests_the_current_value_first_then_each_change() {
    let (tx, mut rx) = watch::channel(0);
    // Already satisfied: ready at once, even though the value is seen.
    assert_eq!(*rx.wait_for(|v| *v == 0).wait().unwrap(), 0);
    let calls = AtomicUsize::new(0);
    {
        let mut f = pin!(rx.wait_for(|v| {
            calls.fetch_add(1, SeqCst);
            *v >= 3
        }));
        assert!(poll_once(f.as_mut()).is_pending());
        tx.send(1).unwrap();
        assert!(poll_once(f.as_mut()).is_pending());
        tx.send(2).unwrap();
        tx.send(3).unwrap(); // two changes in one look: one test of the latest value
        let r = poll_once(f.as_mut());
        let Poll::Ready(Ok(r)) = r else {
            panic!("not ready");
        };
        assert_eq!(*r, 3);
        assert!(r.has_changed(), "3 was unseen when wait_for returned it");
    }
    assert_eq!(calls.load(SeqCst), 3, "tested 0, 1 and 3");
    assert_eq!(rx.has_changed(), Ok(false), "wait_for marked it seen");
}

#[test]
fn wait_for_after_the_close() {
    let (tx, mut rx) = watch::channel(0);
    tx.send(7).unwrap();
    drop(tx);
    // The last value is tested (it is unseen) ...
    assert_eq!(*rx.wait_for(|v| *v == 7).wait().unwrap(), 7);
    // ... and a predicate the last value fails errors instead of waiting forever.
    assert!(rx.wait_for(|v| *v == 8).wait().is_err());
    // A seen value that satisfies it is still returned (tokio: the current value is tested).
    let (tx, mut rx) = watch::channel(1);
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        drop(tx);
    });
    assert!(rx.wait_for(|v| *v == 2).wait().is_err());
    t.join().unwrap();
}

#[test]
fn a_panicking_wait_for_predicate_releases_the_borrow() {
    let (tx, mut rx) = watch::channel(0);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rx.wait_for(|_| panic!("predicate")).wait().map(|_| ())
    }));
    assert!(r.is_err());
    // The read lock was released: the sender can write.
    tx.send(1).unwrap();
    assert_eq!(*rx.wait_for(|v| *v == 1).wait().unwrap(), 1);
}

#[test]
fn sender_closed_resolves_when_the_last_receiver_goes() {
    let (tx, rx) = watch::channel(());
    let rx2 = rx.clone();
    let (wakes, waker) = CountingWaker::new();
    let mut f = pin!(tx.closed());
    assert!(poll_with(f.as_mut(), &waker).is_pending());
    drop(rx);
    assert_eq!(wakes.wakes(), 0);
    drop(rx2);
    assert_eq!(wakes.wakes(), 1);
    assert!(poll_with(f.as_mut(), &waker).is_ready());
    assert!(poll_once(pin!(tx.closed())).is_ready());
}

#[test]
fn a_cloned_receiver_keeps_the_seen_version() {
    let (tx, mut rx) = watch::channel(0);
    tx.send(1).unwrap();
    let mut unseen = rx.clone();
    rx.borrow_and_update();
    let seen = rx.clone();
    assert_eq!(unseen.has_changed(), Ok(true));
    assert_eq!(seen.has_changed(), Ok(false));
    assert_eq!(unseen.changed().wait(), Ok(()));
    assert_eq!(tx.receiver_count(), 3);
}

#[test]
fn dropping_a_pending_changed_loses_no_change() {
    let (tx, mut rx) = watch::channel(0);
    let (wakes, waker) = CountingWaker::new();
    {
        let mut f = pin!(rx.changed());
        assert!(poll_with(f.as_mut(), &waker).is_pending());
        tx.send(1).unwrap();
        assert_eq!(wakes.wakes(), 1);
        // Dropped after the wake, before it completed.
    }
    assert_eq!(rx.has_changed(), Ok(true));
    assert_eq!(poll_once(pin!(rx.changed())), Poll::Ready(Ok(())));
    {
        // Dropped while parked: unlinked (the send below does not wake it).
        let mut f = pin!(rx.changed());
        assert!(poll_with(f.as_mut(), &waker).is_pending());
    }
    tx.send(2).unwrap();
    assert_eq!(wakes.wakes(), 1);
    assert_eq!(rx.changed().wait(), Ok(()));
    assert_eq!(*rx.borrow(), 2);
}

#[test]
fn a_thread_blocks_in_changed_wait() {
    let (tx, mut rx) = watch::channel(0);
    let t = std::thread::spawn(move || {
        let start = Instant::now();
        rx.changed().wait().unwrap();
        (*rx.borrow(), start.elapsed())
    });
    std::thread::sleep(Duration::from_millis(50));
    tx.send(9).unwrap();
    let (v, waited) = t.join().unwrap();
    assert_eq!(v, 9);
    assert!(waited >= Duration::from_millis(40));
}

#[test]
fn a_task_waiting_on_changed_names_a_signal_in_the_dump() {
    let rt = runtime(1);
    let (tx, mut rx) = watch::channel(0u8);
    let t = rt.spawn(async move { rx.changed().await });
    let start = Instant::now();
    loop {
        let dump = rt.dump();
        let kind = dump
            .tasks
            .iter()
            .find(|x| x.info.id == t.id())
            .and_then(|x| x.info.waiting_on)
            .map(|w| w.kind_name());
        if kind == Some("signal") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no wait note: {kind:?}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    tx.send(1).unwrap();
    assert_eq!(rt.block_on(t).unwrap(), Ok(()));
}

#[test]
fn handles_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<watch::Sender<u8>>();
    check::<watch::Receiver<u8>>();
    fn send<T: Send>(_: &T) {}
    let (_tx, mut rx) = watch::channel(0u8);
    send(&rx.changed());
    send(&rx.wait_for(|_| true));
}

/// Each receiver loops on `changed` (randomly cancelled) and `borrow_and_update`: the values it
/// sees strictly increase (a change is never reported twice, and values never go back), and the
/// last one it sees is the final value (no change is missed at the end).
#[test]
fn stress_receivers_never_see_a_change_twice_and_always_see_the_final_value() {
    const N: u64 = 20_000;
    let rt = runtime(2);
    let (tx, rx) = watch::channel(0u64);
    let cancelled = Arc::new(AtomicUsize::new(0));
    let check = |seen: &mut Option<u64>, v: u64| {
        assert!(seen.is_none_or(|s| v > s), "{v} after {seen:?}");
        *seen = Some(v);
    };
    let mut tasks = Vec::new();
    let mut threads = Vec::new();
    for i in 0..8u64 {
        let mut rx = rx.clone();
        let cancelled = cancelled.clone();
        let mut rng = Rng(0x2545_F491_4F6C_DD1D ^ ((i + 1) * 104_729));
        if i % 2 == 0 {
            tasks.push(rt.spawn(async move {
                let mut seen = None;
                let mut looks = 0u64;
                loop {
                    let fut = MaybeCancel {
                        f: Box::pin(rx.changed()),
                        rng: Rng(rng.next() | 1),
                    };
                    match fut.await {
                        Some(Ok(())) => {
                            let v = *rx.borrow_and_update();
                            check(&mut seen, v);
                            looks += 1;
                        }
                        Some(Err(_)) => break,
                        None => {
                            cancelled.fetch_add(1, SeqCst);
                        }
                    }
                }
                (seen, looks)
            }));
        } else {
            threads.push(std::thread::spawn(move || {
                let mut seen = None;
                let mut looks = 0u64;
                loop {
                    let r = if rng.next() % 4 == 0 {
                        let mut f = Box::pin(rx.changed());
                        match poll_once(f.as_mut()) {
                            Poll::Ready(r) => r,
                            Poll::Pending => {
                                cancelled.fetch_add(1, SeqCst);
                                continue;
                            }
                        }
                    } else {
                        rx.changed().wait()
                    };
                    if r.is_err() {
                        break;
                    }
                    let v = *rx.borrow_and_update();
                    check(&mut seen, v);
                    looks += 1;
                }
                (seen, looks)
            }));
        }
    }
    drop(rx);
    for v in 1..=N {
        tx.send(v).unwrap();
        if v % 64 == 0 {
            std::thread::yield_now();
        }
    }
    drop(tx);
    let mut results = Vec::new();
    for t in tasks {
        results.push(rt.block_on(t).unwrap());
    }
    for t in threads {
        results.push(t.join().unwrap());
    }
    for (seen, looks) in results {
        assert_eq!(seen, Some(N), "the final value is always observed");
        assert!(looks <= N);
    }
    assert!(cancelled.load(SeqCst) > 0);
}
