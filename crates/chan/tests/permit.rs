#![cfg(not(loom))]
//! Two-phase sends: `reserve` / `try_reserve` then `Permit::send`, on buffered and rendezvous
//! channels, and the `Sink` adapter built on them.

use std::thread;
use std::time::Duration;

use futures::SinkExt;
use spectrum_chan::{bounded, SendError, TryRecvError, TrySendError};
use spectrum_rt::Wait;

#[test]
fn a_permit_holds_a_slot_until_used_or_dropped() {
    let (tx, rx) = bounded::<u8>(2);
    let p1 = tx.try_reserve().unwrap();
    let p2 = tx.reserve().wait().unwrap();
    assert_eq!(
        tx.try_send(9),
        Err(TrySendError::Full(9)),
        "both slots are reserved"
    );
    assert!(tx.try_reserve().unwrap_err().is_full());
    p1.send(1).unwrap();
    drop(p2);
    tx.try_send(2).unwrap();
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Ok(2));
}

#[test]
fn reserve_waits_for_room_then_never_waits_to_send() {
    let (tx, rx) = bounded::<u8>(1);
    tx.try_send(0).unwrap();
    let t = thread::spawn(move || {
        let permit = tx.reserve().wait().unwrap();
        permit.send(1).unwrap();
    });
    thread::sleep(Duration::from_millis(20));
    assert_eq!(rx.recv().wait(), Ok(0));
    assert_eq!(rx.recv().wait(), Ok(1));
    t.join().unwrap();
}

#[test]
fn permit_send_after_close_returns_the_value() {
    let (tx, rx) = bounded::<String>(1);
    let p = tx.try_reserve().unwrap();
    rx.close();
    assert_eq!(p.send("late".into()), Err(SendError("late".into())));
    assert!(tx.reserve().wait().is_err());
    assert!(tx.try_reserve().unwrap_err().is_closed());
}

#[test]
fn rendezvous_permit_is_granted_while_a_receiver_waits() {
    let (tx, rx) = bounded::<u8>(0);
    assert!(tx.try_reserve().unwrap_err().is_full(), "no receiver waits");
    let r = thread::spawn(move || rx.recv().wait());
    let permit = tx.reserve().wait().unwrap();
    permit.send(5).unwrap();
    assert_eq!(r.join().unwrap(), Ok(5));
}

#[test]
fn rendezvous_permit_keeps_the_value_if_its_receiver_left() {
    let (tx, rx) = bounded::<u8>(0);
    // A receiver parks through a plain recv future and is dropped after the grant.
    let permit = {
        let mut f = std::pin::pin!(rx.recv());
        let waker = std::task::Waker::noop();
        assert!(f
            .as_mut()
            .poll(&mut std::task::Context::from_waker(waker))
            .is_pending());
        tx.try_reserve().unwrap()
    };
    permit.send(6).unwrap();
    assert_eq!(rx.try_recv(), Ok(6), "kept for the next receiver, not lost");
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

use std::future::Future;

#[test]
fn sink_delivers_everything_with_backpressure() {
    let (tx, rx) = bounded::<u32>(2);
    let consumer = thread::spawn(move || {
        let mut got = Vec::new();
        while let Ok(v) = rx.recv().wait() {
            got.push(v);
        }
        got
    });
    async {
        let mut sink = tx.into_sink();
        for i in 0..100 {
            sink.send(i).await.unwrap();
        }
        sink.close().await.unwrap();
        assert!(sink.get_ref().is_none());
    }
    .wait();
    assert_eq!(consumer.join().unwrap(), (0..100).collect::<Vec<_>>());
}

#[test]
fn sink_reports_a_closed_channel() {
    let (tx, rx) = bounded::<u32>(1);
    drop(rx);
    let err = async { tx.into_sink().send(1).await }.wait().unwrap_err();
    assert_eq!(err, SendError(None));
}

/// Regression (found by `stress.rs`): a permit whose value goes straight to a waiting receiver
/// frees its slot, and a reservation waiting for room must get it.
#[test]
fn permit_sent_to_a_waiting_receiver_frees_the_slot_for_waiting_reservations() {
    let (tx, rx) = bounded::<u8>(1);
    let permit = tx.try_reserve().unwrap();
    let noop = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(noop);
    let mut reserve = std::pin::pin!(tx.reserve());
    assert!(
        reserve.as_mut().poll(&mut cx).is_pending(),
        "the only slot is reserved"
    );
    let mut recv = std::pin::pin!(rx.recv());
    assert!(
        recv.as_mut().poll(&mut cx).is_pending(),
        "empty: the receiver parks"
    );
    permit.send(1).unwrap();
    assert_eq!(recv.as_mut().poll(&mut cx), std::task::Poll::Ready(Ok(1)));
    match reserve.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(Ok(p)) => p.send(2).unwrap(),
        other => panic!(
            "the freed slot was not granted: {:?}",
            other.map(|r| r.is_ok())
        ),
    }
    assert_eq!(rx.try_recv(), Ok(2));
}
