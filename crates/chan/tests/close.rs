#![cfg(not(loom))]
//! Close semantics: Go's `close` from either side, Rust's disconnect, `close_and_discard`, and
//! the introspection methods on both halves.

mod common;

use std::thread;
use std::time::Duration;

use common::{count, counter, Token};
use spectrum_chan::{bounded, unbounded, RecvError, SendError, TryRecvError, TrySendError};
use spectrum_rt::Wait;

#[test]
fn close_from_either_side_is_seen_by_both() {
    for from_receiver in [false, true] {
        let (tx, rx) = bounded::<u8>(2);
        tx.try_send(1).unwrap();
        let closed = if from_receiver {
            rx.close()
        } else {
            tx.close()
        };
        assert!(closed);
        assert!(tx.is_closed() && rx.is_closed());
        assert_eq!(tx.try_send(2), Err(TrySendError::Closed(2)));
        assert_eq!(rx.try_recv(), Ok(1), "buffered values survive close");
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    }
}

#[test]
fn dropping_every_sender_closes_after_the_buffer() {
    let (tx, rx) = bounded::<u8>(4);
    let tx2 = tx.clone();
    tx.try_send(1).unwrap();
    drop(tx);
    assert!(!rx.is_closed(), "one sender is still alive");
    tx2.try_send(2).unwrap();
    drop(tx2);
    assert!(rx.is_closed());
    assert_eq!(rx.recv().wait(), Ok(1));
    assert_eq!(rx.recv().wait(), Ok(2));
    assert_eq!(rx.recv().wait(), Err(RecvError::Closed));
}

#[test]
fn dropping_every_receiver_fails_sends_and_drops_the_buffer() {
    let drops = counter();
    let (tx, rx) = bounded::<Token>(4);
    tx.try_send(Token::new(1, &drops)).unwrap();
    tx.try_send(Token::new(2, &drops)).unwrap();
    let rx2 = rx.clone();
    drop(rx);
    assert_eq!(count(&drops), 0, "a receiver is still alive");
    drop(rx2);
    assert_eq!(
        count(&drops),
        2,
        "unreachable buffered values are dropped at once"
    );
    assert!(tx.is_closed());
    let back = tx.send(Token::new(3, &drops)).wait().unwrap_err();
    assert_eq!(back.0.id, 3, "the failed send returns its value");
    assert_eq!(count(&drops), 2);
}

#[test]
fn close_and_discard_drops_buffered_values() {
    let drops = counter();
    let (tx, rx) = unbounded::<Token>();
    for i in 0..5 {
        tx.try_send(Token::new(i, &drops)).unwrap();
    }
    assert_eq!(rx.close_and_discard(), 5);
    assert_eq!(count(&drops), 5);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    assert_eq!(tx.close_and_discard(), 0);
}

#[test]
fn close_wakes_blocked_receivers_and_returns_blocked_senders_values() {
    let (tx, rx) = bounded::<String>(0);
    let receivers: Vec<_> = (0..3)
        .map(|_| {
            let rx = rx.clone();
            thread::spawn(move || rx.recv().wait())
        })
        .collect();
    thread::sleep(Duration::from_millis(30));
    tx.close();
    for r in receivers {
        assert_eq!(r.join().unwrap(), Err(RecvError::Closed));
    }

    let (tx, rx) = bounded::<String>(1);
    tx.try_send("in buffer".into()).unwrap();
    let senders: Vec<_> = (0..3)
        .map(|i| {
            let tx = tx.clone();
            thread::spawn(move || tx.send(format!("v{i}")).wait())
        })
        .collect();
    thread::sleep(Duration::from_millis(30));
    rx.close();
    let mut back: Vec<String> = senders
        .into_iter()
        .map(|s| s.join().unwrap().unwrap_err().into_inner())
        .collect();
    back.sort();
    assert_eq!(back, ["v0", "v1", "v2"]);
    assert_eq!(rx.try_recv().as_deref(), Ok("in buffer"));
}

#[test]
fn closed_future_completes_on_close_and_on_last_receiver_drop() {
    let (tx, rx) = bounded::<u8>(1);
    let t = thread::spawn({
        let tx = tx.clone();
        move || tx.closed().wait()
    });
    thread::sleep(Duration::from_millis(20));
    assert!(!t.is_finished());
    drop(rx);
    t.join().unwrap();
    tx.closed().wait();
}

#[test]
fn introspection_on_both_halves() {
    let (tx, rx) = bounded::<u8>(3);
    assert_eq!((tx.capacity(), rx.capacity()), (Some(3), Some(3)));
    assert!(tx.is_empty() && rx.is_empty());
    tx.try_send(1).unwrap();
    tx.try_send(2).unwrap();
    assert_eq!((tx.len(), rx.len()), (2, 2));
    assert!(!rx.is_empty());
    let tx2 = tx.clone();
    let rx2 = rx.clone();
    let rx3 = rx.clone();
    assert_eq!((tx.sender_count(), rx.sender_count()), (2, 2));
    assert_eq!((tx.receiver_count(), rx2.receiver_count()), (3, 3));
    drop((tx2, rx3));
    assert_eq!((tx.sender_count(), tx.receiver_count()), (1, 2));
    assert!(tx.same_channel(&tx.clone()));
    assert!(rx.same_channel(&rx2));
    assert_eq!(unbounded::<u8>().0.capacity(), None);
    assert_eq!(bounded::<u8>(0).1.capacity(), Some(0));
    assert_eq!(format!("{}", SendError(1)), "sending on a closed channel");
}
