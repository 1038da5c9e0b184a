//! loom models of the channel core, the waiter protocol and select's commit.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p spectrum-chan --release`. Capacities are
//! shrunk to 0 and 1 so that full, empty and hand-off states are all reachable within the
//! preemption bound (`spectrum_sync::model`, 3 unless `LOOM_MAX_PREEMPTIONS` says otherwise).

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};

use loom::future::block_on;
use spectrum_sync::thread;

use crate::{bounded, RecvError, Select, TryRecvError};

/// Polls `f` once with a no-op waker.
fn poll_once<F: Future>(f: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(std::task::Waker::noop()))
}

/// The bounded ring at capacity 1: a producer that must wait for room, values in order, and
/// no lost wake-up (a missed one would leave `block_on` parked forever, which loom reports as a
/// deadlock).
#[test]
fn ring_fifo_capacity_one() {
    spectrum_sync::model(|| {
        let (tx, rx) = bounded::<u32>(1);
        let a = thread::spawn(move || {
            block_on(tx.send(1)).unwrap();
            block_on(tx.send(2)).unwrap();
        });
        assert_eq!(block_on(rx.recv()), Ok(1));
        assert_eq!(block_on(rx.recv()), Ok(2));
        a.join().unwrap();
        assert_eq!(block_on(rx.recv()), Err(RecvError::Closed));
    });
}

/// Two producers race for the one slot: both values arrive exactly once.
#[test]
fn ring_two_producers_capacity_one() {
    spectrum_sync::model(|| {
        let (tx, rx) = bounded::<u32>(1);
        let tx2 = tx.clone();
        let a = thread::spawn(move || block_on(tx.send(1)).unwrap());
        let b = thread::spawn(move || block_on(tx2.send(2)).unwrap());
        let mut got = [block_on(rx.recv()).unwrap(), block_on(rx.recv()).unwrap()];
        a.join().unwrap();
        b.join().unwrap();
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
    });
}

/// The rendezvous hand-off: the send completes only once the receiver has the value, and the
/// receiver gets exactly that value.
#[test]
fn rendezvous_hand_off() {
    spectrum_sync::model(|| {
        let (tx, rx) = bounded::<u32>(0);
        let t = thread::spawn(move || {
            block_on(tx.send(7)).unwrap();
        });
        assert_eq!(block_on(rx.recv()), Ok(7));
        t.join().unwrap();
    });
}

/// Close racing a blocked rendezvous send: the sender either delivered (and the receiver has
/// the value) or got its value back; never both, never neither.
#[test]
fn close_races_a_blocked_send() {
    spectrum_sync::model(|| {
        let (tx, rx) = bounded::<u32>(0);
        let rx2 = rx.clone();
        let t = thread::spawn(move || block_on(tx.send(5)));
        let c = thread::spawn(move || {
            rx2.close();
        });
        let got = rx.try_recv();
        let sent = t.join().unwrap();
        c.join().unwrap();
        match (sent, got) {
            (Ok(()), Ok(5)) => {}
            (Err(e), Err(_)) => assert_eq!(e.0, 5),
            other => panic!("value lost or duplicated: {other:?}"),
        }
    });
}

/// Waiter registration and cancellation: a receive parks, then is dropped while a sender
/// delivers. The value is received by the future (and given back on drop) or stays in the
/// channel: either way it is received exactly once afterwards.
#[test]
fn parked_receive_dropped_during_delivery() {
    spectrum_sync::model(|| {
        let (tx, rx) = bounded::<u32>(1);
        let t = thread::spawn(move || {
            tx.try_send(3).unwrap();
            tx
        });
        {
            let mut fut = pin!(rx.recv());
            if let Poll::Ready(v) = poll_once(fut.as_mut()) {
                assert_eq!(v, Ok(3));
                let _tx = t.join().unwrap();
                return;
            }
            // Parked; dropped here, possibly while the sender completes it.
        }
        let _tx = t.join().unwrap();
        assert_eq!(rx.try_recv(), Ok(3));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    });
}

/// A parked send withdrawn (dropped) while a receiver takes from the queue: the value ends up
/// either received or dropped unsent, exactly once.
#[test]
fn parked_send_dropped_during_receive() {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    struct Token(std::sync::Arc<AtomicUsize>);
    impl Drop for Token {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }
    spectrum_sync::model(|| {
        let drops = std::sync::Arc::new(AtomicUsize::new(0));
        let (tx, rx) = bounded::<Token>(0);
        let t = thread::spawn(move || rx.try_recv().is_ok());
        {
            let mut fut = pin!(tx.send(Token(drops.clone())));
            let _ = poll_once(fut.as_mut());
        }
        let received = t.join().unwrap();
        assert_eq!(drops.load(SeqCst), 1, "received: {received}");
    });
}

/// Select commit: a select parked on two channels while two senders fill both. Exactly one
/// case wins; the other value stays in its channel.
#[test]
fn select_commits_exactly_one_case() {
    spectrum_sync::model(|| {
        let (tx1, rx1) = bounded::<u32>(1);
        let (tx2, rx2) = bounded::<u32>(1);
        let a = thread::spawn(move || {
            tx1.try_send(1).unwrap();
            tx1
        });
        let b = thread::spawn(move || {
            tx2.try_send(2).unwrap();
            tx2
        });
        let mut sel = Select::new();
        let i1 = sel.recv(&rx1);
        let _i2 = sel.recv(&rx2);
        let (won, v) = {
            let op = block_on(sel.select());
            let i = op.index();
            let v = if i == i1 {
                op.recv(&rx1)
            } else {
                op.recv(&rx2)
            };
            (i, v.unwrap())
        };
        drop(sel);
        let _tx1 = a.join().unwrap();
        let _tx2 = b.join().unwrap();
        let left: Vec<u32> = [rx1.try_recv(), rx2.try_recv()]
            .into_iter()
            .filter_map(Result::ok)
            .collect();
        assert_eq!(left.len(), 1, "won {won} ({v}), left {left:?}");
        assert_ne!(left[0], v);
    });
}

/// Select with a send and a receive case on the same rendezvous channel, against a plain
/// receiver: the select never matches with itself, and its send is received by the other side.
#[test]
fn select_send_case_meets_a_receiver() {
    spectrum_sync::model(|| {
        let (tx, rx) = bounded::<u32>(0);
        let rx2 = rx.clone();
        let t = thread::spawn(move || block_on(rx2.recv()));
        let mut sel = Select::new();
        let s = sel.send(&tx, 4);
        let r = sel.recv(&rx);
        let op = block_on(sel.select());
        assert_eq!(op.index(), s, "a select matched with itself");
        assert_ne!(op.index(), r);
        op.send(&tx).unwrap();
        drop(sel);
        assert_eq!(t.join().unwrap(), Ok(4));
    });
}
