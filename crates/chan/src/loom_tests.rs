//! loom models of the channel core, the lock-free buffers, the waiter protocol and select's
//! commit.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p spectrum-chan --release --lib`. Capacities are
//! shrunk to 0, 1 and 2 (and the list's blocks to 3 slots) so that full, empty, hand-off and
//! block-boundary states are all reachable within the preemption bound (`spectrum_sync::model`,
//! 3 unless `LOOM_MAX_PREEMPTIONS` says otherwise).
//!
//! What the lock-free paths add, and which model checks it:
//! - ring push/pop racing on the counters and stamps: `ring_lock_free_push_pop_race`;
//! - the lost-wake-up windows between a lock-free operation and a waiter parking on the other
//!   side (a claim racing `announce`'s read-modify-write of the counters, and a waiter finding
//!   a slot still being written or read, on which it must not park):
//!   `recv_parks_while_a_lock_free_push_lands`,
//!   `send_parks_while_a_lock_free_pop_frees_the_slot`, `ring_fifo_capacity_one`;
//! - close racing a sender blocked on a full ring, and a value still being written when the
//!   channel closes: `close_races_a_sender_blocked_on_a_full_ring`,
//!   `value_in_flight_at_close_is_received_before_closed`;
//! - a permit sending into a slot still being read (the `back` queue):
//!   `reservation_granted_by_a_lock_free_pop`;
//! - the list across a block boundary: `list_crosses_a_block_boundary`.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};

use loom::future::block_on;
use spectrum_sync::thread;

use crate::{bounded, RecvError, Select, TryRecvError};

/// `spectrum_sync::model` with a preemption bound of at most 2 (`LOOM_MAX_PREEMPTIONS` may
/// lower it): for the model with three threads that all park, whose bound-3 state space takes
/// minutes to explore (2 still covers every interleaving with up to two preemptions).
fn model_bound_2<F: Fn() + Sync + Send + 'static>(f: F) {
    let mut builder = loom::model::Builder::new();
    // At most 2, whatever LOOM_MAX_PREEMPTIONS says: at 3 the busy-slot retries of two
    // producers exceed loom's branch limit (and take minutes).
    builder.preemption_bound = Some(builder.preemption_bound.map_or(2, |b| b.min(2)));
    builder.check(f);
}

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

/// Two producers race for the one slot, both parking when they find the ring full: both values
/// arrive exactly once (preemption bound 2, see `model_bound_2`).
#[test]
fn ring_two_producers_capacity_one() {
    model_bound_2(|| {
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

/// A parked receive polled again with a different waker while a sender completes it (the
/// `CLAIMED` window of `waiter`'s owner rules). A poll that returns `Pending` must leave its own
/// waker to be woken: if the send went through, the second waker was woken.
#[test]
fn parked_receive_repolled_with_a_new_waker_is_woken() {
    use loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::sync::Arc;
    use std::task::{Wake, Waker};
    struct Flag(AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, SeqCst);
        }
    }
    spectrum_sync::model(|| {
        let (tx, rx) = bounded::<u32>(0);
        let (first, second) = (
            Arc::new(Flag(AtomicBool::new(false))),
            Arc::new(Flag(AtomicBool::new(false))),
        );
        let mut fut = pin!(rx.recv());
        let w1 = Waker::from(first.clone());
        if fut.as_mut().poll(&mut Context::from_waker(&w1)).is_ready() {
            return;
        }
        let t = thread::spawn(move || tx.try_send(7).is_ok());
        let w2 = Waker::from(second.clone());
        let pending = fut
            .as_mut()
            .poll(&mut Context::from_waker(&w2))
            .is_pending();
        let sent = t.join().unwrap();
        if pending && sent {
            assert!(
                second.0.load(SeqCst),
                "the waker of the last poll was not woken"
            );
            assert_eq!(poll_once(fut.as_mut()), Poll::Ready(Ok(7)));
        }
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

/// Two lock-free senders race on the ring's tail while a receiver pops: each value arrives
/// exactly once, whatever the interleaving of the counters' CASes and the stamps.
#[test]
fn ring_lock_free_push_pop_race() {
    spectrum_sync::model(|| {
        let (tx, rx) = bounded::<u32>(2);
        let tx2 = tx.clone();
        let a = thread::spawn(move || tx.try_send(1).is_ok());
        let b = thread::spawn(move || tx2.try_send(2).is_ok());
        let mut got = Vec::new();
        if let Ok(v) = rx.try_recv() {
            got.push(v);
        }
        let sent_a = a.join().unwrap();
        let sent_b = b.join().unwrap();
        assert!(sent_a && sent_b, "two values fit in a ring of two");
        while let Ok(v) = rx.try_recv() {
            got.push(v);
        }
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
    });
}

/// A receive parks on an empty ring while a lock-free push lands: either the push claimed its
/// slot first and the receive's second try sees it (written, or still being written: then the
/// receive retries instead of parking), or the claim fails on the `SLOW` bit and the push hands
/// the value over under the lock (a lost wake-up would leave `block_on` parked forever, which
/// loom reports as a deadlock).
#[test]
fn recv_parks_while_a_lock_free_push_lands() {
    spectrum_sync::model(|| {
        let (tx, rx) = bounded::<u32>(1);
        let t = thread::spawn(move || {
            tx.try_send(7).unwrap();
            tx
        });
        assert_eq!(block_on(rx.recv()), Ok(7));
        let _tx = t.join().unwrap();
    });
}

/// A send parks on a full ring while a lock-free pop frees the slot: the sender's second try
/// finds the room (or the slot still being read, and retries), or the pop fails on the `SLOW`
/// bit and, under the lock, moves the parked value into the freed slot.
#[test]
fn send_parks_while_a_lock_free_pop_frees_the_slot() {
    spectrum_sync::model(|| {
        let (tx, rx) = bounded::<u32>(1);
        tx.try_send(1).unwrap();
        let t = thread::spawn(move || {
            block_on(tx.send(2)).unwrap();
        });
        assert_eq!(rx.try_recv().or_else(|_| block_on(rx.recv())), Ok(1));
        assert_eq!(block_on(rx.recv()), Ok(2));
        t.join().unwrap();
    });
}

/// Close racing a sender blocked on a full ring: the sender either got its value into the
/// channel (and it is received after the first) or got it back; never both, never neither.
#[test]
fn close_races_a_sender_blocked_on_a_full_ring() {
    spectrum_sync::model(|| {
        let (tx, rx) = bounded::<u32>(1);
        tx.try_send(1).unwrap();
        let rx2 = rx.clone();
        let t = thread::spawn(move || block_on(tx.send(2)));
        rx2.close();
        assert_eq!(rx.try_recv(), Ok(1));
        let sent = t.join().unwrap();
        let second = rx.try_recv();
        match (sent, second) {
            (Ok(()), Ok(2)) | (Err(_), Err(TryRecvError::Closed)) => {}
            other => panic!("value lost or duplicated: {other:?}"),
        }
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    });
}

/// A value still being written when the channel closes, with a receiver parked: the receiver
/// gets the value if its send succeeded (and `Closed` only after), never `Closed` first.
#[test]
fn value_in_flight_at_close_is_received_before_closed() {
    spectrum_sync::model(|| {
        let (tx, rx) = bounded::<u32>(1);
        let closer = tx.clone();
        let t = thread::spawn(move || tx.try_send(5).is_ok());
        let c = thread::spawn(move || {
            closer.close();
        });
        let got = block_on(rx.recv());
        let sent = t.join().unwrap();
        c.join().unwrap();
        if sent {
            assert_eq!(got, Ok(5), "a sent value must come before Closed");
        } else {
            assert_eq!(got, Err(RecvError::Closed));
        }
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    });
}

/// A reservation parked on a full ring is granted by the pop that frees a slot, and the
/// permit's value lands even if the slot is still being read (it waits in `back`).
#[test]
fn reservation_granted_by_a_lock_free_pop() {
    spectrum_sync::model(|| {
        let (tx, rx) = bounded::<u32>(1);
        tx.try_send(1).unwrap();
        let t = thread::spawn(move || rx.try_recv().ok().map(|v| (v, rx)));
        let permit = block_on(tx.reserve()).unwrap();
        permit.send(2).unwrap();
        let (first, rx) = t
            .join()
            .unwrap()
            .expect("the reservation waited for this pop");
        assert_eq!(first, 1);
        assert_eq!(rx.try_recv(), Ok(2));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    });
}

/// The list (unbounded) across a block boundary (3 slots per block under loom): a sender
/// installs the next block while a receiver follows, values in order, blocks freed once.
#[test]
fn list_crosses_a_block_boundary() {
    spectrum_sync::model(|| {
        let (tx, rx) = crate::unbounded::<u32>();
        let t = thread::spawn(move || {
            for i in 0..3 {
                tx.try_send(i).unwrap();
            }
        });
        for i in 0..3 {
            assert_eq!(block_on(rx.recv()), Ok(i));
        }
        t.join().unwrap();
        assert_eq!(block_on(rx.recv()), Err(RecvError::Closed));
    });
}
