#![cfg(loom)]
//! loom models of the `broadcast` and `watch` channels: the races between a send (or a close)
//! and a receiver registering to wait, the slot reader-writer protocol under a concurrent
//! overwrite (lag), and the close racing a waiting receiver.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test --release -p spectrum-chan --test
//! loom_sync_channels` (`scripts/loom.sh` does). A lost wake-up leaves `block_on` parked forever,
//! which loom reports as a deadlock; a read of a slot racing its overwrite is a causality
//! violation loom reports on the slot's `UnsafeCell`s. Capacities are 1 so that every send
//! overwrites and every receiver can lag.

use loom::future::block_on;
use loom::thread;
use spectrum_chan::sync::{broadcast, watch};

/// `spectrum_sync::model` (preemption bound 3 unless `LOOM_MAX_PREEMPTIONS` says otherwise),
/// capped at `bound` for the models with more threads.
fn model_bound(bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(builder.preemption_bound.map_or(bound, |b| b.min(bound)));
    builder.check(f);
}

/// A receiver parks while a send lands: it must be woken and get the value.
#[test]
fn broadcast_send_vs_recv_registration() {
    model_bound(3, || {
        let (tx, mut rx) = broadcast::channel::<u32>(1);
        let t = thread::spawn(move || {
            assert_eq!(tx.send(1), Ok(1));
            tx
        });
        assert_eq!(block_on(rx.recv()), Ok(1));
        drop(t.join().unwrap());
        assert_eq!(block_on(rx.recv()), Err(broadcast::RecvError::Closed));
    });
}

/// Two sends into a ring of one while the receiver reads: whatever interleaving, it sees an
/// increasing sequence of values, a lag reported with the exact count of values lost, and the
/// close last. The reader's clone racing the overwrite is what the slot protocol must order.
#[test]
fn broadcast_lag_under_a_concurrent_send() {
    model_bound(3, || {
        let (tx, mut rx) = broadcast::channel::<u32>(1);
        tx.send(0).unwrap();
        let t = thread::spawn(move || {
            tx.send(1).unwrap();
            tx.send(2).unwrap();
        });
        let mut received = Vec::new();
        let mut lagged = 0;
        loop {
            match block_on(rx.recv()) {
                Ok(v) => received.push(v),
                Err(broadcast::RecvError::Lagged(n)) => lagged += n,
                Err(broadcast::RecvError::Closed) => break,
            }
        }
        t.join().unwrap();
        assert!(received.windows(2).all(|w| w[0] < w[1]), "{received:?}");
        assert_eq!(
            received.len() as u64 + lagged,
            3,
            "{received:?} lagged {lagged}"
        );
        assert_eq!(received.last(), Some(&2), "the last value is retained");
    });
}

/// The last sender goes while a receiver waits: it drains what was sent, then sees the close
/// (never parks forever, never misses the value sent before the close).
#[test]
fn broadcast_close_vs_recv() {
    model_bound(3, || {
        let (tx, mut rx) = broadcast::channel::<u32>(1);
        let t = thread::spawn(move || {
            tx.send(7).unwrap();
            drop(tx);
        });
        assert_eq!(block_on(rx.recv()), Ok(7));
        assert_eq!(block_on(rx.recv()), Err(broadcast::RecvError::Closed));
        t.join().unwrap();
    });
}

/// A receiver dropped while a send lands: the send counts it or not, and either way the value
/// is dropped exactly when its last reader is done (here: by the other receiver or the ring).
#[test]
fn broadcast_receiver_drop_vs_send() {
    model_bound(2, || {
        let (tx, mut rx1) = broadcast::channel::<loom::sync::Arc<()>>(1);
        let rx2 = tx.subscribe();
        let v = loom::sync::Arc::new(());
        let sent = v.clone();
        let t = thread::spawn(move || drop(rx2));
        tx.send(sent).unwrap();
        t.join().unwrap();
        drop(block_on(rx1.recv()).unwrap());
        // rx1 read it and rx2 is gone: nobody holds it any more.
        assert_eq!(loom::sync::Arc::strong_count(&v), 1);
        drop(tx);
    });
}

/// Two receivers clone the value of a slot while the sender overwrites it: the writer waits
/// for both readers, the last reader of the first value drops it, and each receiver accounts
/// for both values (received or lagged).
#[test]
fn broadcast_two_readers_vs_overwrite() {
    model_bound(2, || {
        let (tx, rx1) = broadcast::channel::<loom::sync::Arc<u32>>(1);
        let rx2 = tx.subscribe();
        let first = loom::sync::Arc::new(1);
        tx.send(first.clone()).unwrap();
        let reader = |mut rx: broadcast::Receiver<loom::sync::Arc<u32>>| {
            thread::spawn(move || {
                let mut seen = 0;
                loop {
                    match block_on(rx.recv()) {
                        Ok(v) => seen += *v,
                        Err(broadcast::RecvError::Lagged(n)) => seen += n as u32 * 100,
                        Err(broadcast::RecvError::Closed) => return seen,
                    }
                }
            })
        };
        let (a, b) = (reader(rx1), reader(rx2));
        tx.send(loom::sync::Arc::new(2)).unwrap();
        drop(tx);
        for t in [a, b] {
            let seen = t.join().unwrap();
            // 1 + 2 received, or the first lost (100) and 2 received.
            assert!(seen == 3 || seen == 102, "{seen}");
        }
        assert_eq!(
            loom::sync::Arc::strong_count(&first),
            1,
            "dropped by its last reader or the overwrite"
        );
    });
}

/// A `changed` parks while a send lands: it completes, and the value borrowed is the new one.
#[test]
fn watch_send_vs_changed_registration() {
    model_bound(3, || {
        let (tx, mut rx) = watch::channel(0u32);
        let t = thread::spawn(move || {
            tx.send(1).unwrap();
            tx
        });
        assert_eq!(block_on(rx.changed()), Ok(()));
        assert_eq!(*rx.borrow_and_update(), 1);
        let tx = t.join().unwrap();
        assert_eq!(rx.has_changed(), Ok(false), "the change is reported once");
        drop(tx);
    });
}

/// The sender sends and goes while a receiver waits: the change is reported, then the close;
/// the receiver never parks forever and never misses the last value.
#[test]
fn watch_sender_drop_vs_changed() {
    model_bound(3, || {
        let (tx, mut rx) = watch::channel(0u32);
        let t = thread::spawn(move || {
            tx.send(1).unwrap();
            drop(tx);
        });
        assert_eq!(block_on(rx.changed()), Ok(()));
        assert!(block_on(rx.changed()).is_err());
        assert_eq!(*rx.borrow(), 1);
        t.join().unwrap();
    });
}

/// The last receiver goes while `Sender::closed` parks: it completes.
#[test]
fn watch_closed_vs_receiver_drop() {
    model_bound(3, || {
        let (tx, rx) = watch::channel(0u32);
        let t = thread::spawn(move || drop(rx));
        block_on(tx.closed());
        assert!(tx.send(1).is_err());
        t.join().unwrap();
    });
}
