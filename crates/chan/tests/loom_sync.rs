#![cfg(loom)]
//! loom models of the sync primitives' state machines: the semaphore under `Mutex`, `RwLock`,
//! `Semaphore` and `OnceCell` (lock-free fast path vs the queue, cancellation of a queued or
//! granted waiter racing a release), `Notify` (a lock-free `notify_one` racing a waiter that
//! links, a cancelled waiter passing its notification on, `notify_waiters` reaching a future made
//! before it), `Barrier` and `OnceCell`.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test --release -p spectrum-chan --test loom_sync`
//! (`scripts/loom.sh`). A lost wake-up leaves `block_on` parked forever, which loom reports as a
//! deadlock; a missing happens-before edge shows up as a stale `Relaxed` read in the counters
//! that critical sections update with a plain load + store.

use std::future::Future;
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};

use loom::future::block_on;
use spectrum_chan::sync::{Barrier, Mutex, Notify, OnceCell, RwLock, Semaphore};
use spectrum_sync::atomic::{AtomicUsize, Ordering::*};
use spectrum_sync::{thread, Arc};

/// `spectrum_sync::model` with the preemption bound capped at `max` (for models with three
/// threads, whose bound-3 state space takes minutes).
fn model_bound<F: Fn() + Sync + Send + 'static>(max: usize, f: F) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(builder.preemption_bound.map_or(max, |b| b.min(max)));
    builder.check(f);
}

fn poll_once<F: Future>(f: Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

/// A critical-section update that only adds up if the lock orders the sections (a plain
/// `Relaxed` load and store: without happens-before, loom lets the load see a stale value).
fn bump(c: &AtomicUsize) {
    let v = c.load(Relaxed);
    c.store(v + 1, Relaxed);
}

/// Two acquirers of a one-permit mutex: one takes the lock-free path, the other may queue;
/// the hand-over carries the first section's writes to the second.
#[test]
fn mutex_hand_over_orders_critical_sections() {
    spectrum_sync::model(|| {
        let m = Arc::new(Mutex::new(()));
        let c = Arc::new(AtomicUsize::new(0));
        let t = thread::spawn({
            let (m, c) = (m.clone(), c.clone());
            move || {
                let _g = block_on(m.lock());
                bump(&c);
            }
        });
        {
            let _g = block_on(m.lock());
            bump(&c);
        }
        t.join().unwrap();
        assert_eq!(c.load(Relaxed), 2);
        assert!(m.try_lock().is_ok());
    });
}

/// Three contenders (one queued behind another, the hand-over chain lock -> queue -> queue):
/// all three sections counted, mutex free at the end. Preemption bound 2 (three threads).
#[test]
fn mutex_three_contenders() {
    model_bound(2, || {
        let m = Arc::new(Mutex::new(()));
        let c = Arc::new(AtomicUsize::new(0));
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let (m, c) = (m.clone(), c.clone());
                thread::spawn(move || {
                    let _g = block_on(m.lock());
                    bump(&c);
                })
            })
            .collect();
        {
            let _g = block_on(m.lock());
            bump(&c);
        }
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(c.load(Relaxed), 3);
        assert!(m.try_lock().is_ok());
    });
}

/// A release racing an acquirer that is about to queue (the lock-free CAS vs the `QUEUED` CAS):
/// the acquirer is never left waiting for a permit that came back.
#[test]
fn sem_release_races_an_acquirer_that_queues() {
    spectrum_sync::model(|| {
        let s = Arc::new(Semaphore::new(1));
        let held = s.try_acquire().unwrap();
        let t = thread::spawn({
            let s = s.clone();
            move || {
                let p = block_on(s.acquire_many(1)).unwrap();
                drop(p);
            }
        });
        drop(held);
        t.join().unwrap();
        assert_eq!(s.available_permits(), 1);
    });
}

/// A queued acquisition cancelled while a release hands it the permit: the permit goes back
/// (cancel after the grant) or stays in the count (cancel before): never lost, never doubled.
#[test]
fn sem_cancelled_waiter_races_a_release() {
    spectrum_sync::model(|| {
        let s = Arc::new(Semaphore::new(1));
        let held = s.try_acquire().unwrap();
        let t = thread::spawn({
            let s = s.clone();
            move || {
                let mut f = pin!(s.acquire());
                // Queued (or, if the release came first, granted at once).
                if let Poll::Ready(p) = poll_once(f.as_mut()) {
                    drop(p.unwrap());
                }
                // Dropped here: queued, granted-but-unpolled, or done.
            }
        });
        drop(held);
        t.join().unwrap();
        assert_eq!(s.available_permits(), 1, "a permit was lost or made up");
    });
}

/// A request for two permits at the head collects them from two releases, while a cancelled
/// request behind it must not take any: all permits end up accounted for.
#[test]
fn sem_acquire_many_collects_permits_across_releases() {
    spectrum_sync::model(|| {
        let s = Arc::new(Semaphore::new(0));
        let t = thread::spawn({
            let s = s.clone();
            move || {
                let p = block_on(s.acquire_many(2)).unwrap();
                assert_eq!(p.num_permits(), 2);
            }
        });
        s.add_permits(1);
        s.add_permits(1);
        t.join().unwrap();
        assert_eq!(s.available_permits(), 2);
    });
}

/// Close racing a queued acquisition: it either got the permit or an error, and the count is
/// whole afterwards.
#[test]
fn sem_close_races_a_waiter() {
    spectrum_sync::model(|| {
        let s = Arc::new(Semaphore::new(0));
        let t = thread::spawn({
            let s = s.clone();
            move || block_on(s.acquire()).map(|p| p.forget()).is_ok()
        });
        s.add_permits(1);
        s.close();
        let got = t.join().unwrap();
        assert_eq!(s.available_permits(), usize::from(!got));
    });
}

/// A writer and a reader: never both inside, and the reader sees either none or all of the
/// writer's section.
#[test]
fn rwlock_writer_and_reader_exclude() {
    spectrum_sync::model(|| {
        let l = Arc::new(RwLock::with_max_readers((), 2));
        let c = Arc::new(AtomicUsize::new(0));
        let t = thread::spawn({
            let (l, c) = (l.clone(), c.clone());
            move || {
                let _w = block_on(l.write());
                bump(&c);
                bump(&c);
            }
        });
        {
            let _r = block_on(l.read());
            let v = c.load(Relaxed);
            assert!(v == 0 || v == 2, "a reader saw half a write: {v}");
        }
        t.join().unwrap();
        assert!(l.try_write().is_ok());
    });
}

/// A lock-free `notify_one` racing a waiter that links itself: the waiter always wakes (the
/// permit is stored before it looks, or it is served from the queue).
#[test]
fn notify_one_races_registration() {
    spectrum_sync::model(|| {
        let n = Arc::new(Notify::new());
        let t = thread::spawn({
            let n = n.clone();
            move || block_on(n.notified())
        });
        n.notify_one();
        t.join().unwrap();
    });
}

/// A waiter polled once and dropped, racing a `notify_one`: if the notification was handed to
/// it (or it consumed the permit), the drop passes it on, so the main thread's wait always
/// ends. (A waiter that *returned* `Ready` consumed it; it relays it explicitly.)
#[test]
fn notify_cancelled_waiter_passes_the_notification_on() {
    spectrum_sync::model(|| {
        let n = Arc::new(Notify::new());
        let a = thread::spawn({
            let n = n.clone();
            move || {
                let mut f = pin!(n.notified());
                if poll_once(f.as_mut()).is_ready() {
                    n.notify_one(); // consumed it: relay
                }
            }
        });
        let c = thread::spawn({
            let n = n.clone();
            move || n.notify_one()
        });
        block_on(n.notified());
        a.join().unwrap();
        c.join().unwrap();
    });
}

/// `notify_waiters` racing the first poll of a future made before it: the future completes.
#[test]
fn notify_waiters_reaches_a_future_made_before_it() {
    spectrum_sync::model(|| {
        // std's `Arc`: the owned futures take one (loom's `Arc` is a different type).
        let n = std::sync::Arc::new(Notify::new());
        let f = n.clone().notified_owned();
        let t = thread::spawn(move || block_on(f));
        n.notify_waiters();
        t.join().unwrap();
    });
}

/// Two parties: both go on, exactly one leads, and each sees the other's write from before
/// the barrier.
#[test]
fn barrier_two_parties() {
    spectrum_sync::model(|| {
        let b = Arc::new(Barrier::new(2));
        let x = Arc::new(AtomicUsize::new(0));
        let y = Arc::new(AtomicUsize::new(0));
        let t = thread::spawn({
            let (b, x, y) = (b.clone(), x.clone(), y.clone());
            move || {
                x.store(1, Relaxed);
                let leader = block_on(b.wait()).is_leader();
                assert_eq!(y.load(Relaxed), 1);
                leader
            }
        });
        y.store(1, Relaxed);
        let leader = block_on(b.wait()).is_leader();
        assert_eq!(x.load(Relaxed), 1);
        assert_ne!(leader, t.join().unwrap(), "exactly one leader");
    });
}

/// Two initializers race: one runs, both get its value, and the value is published to the
/// other thread (loom's `UnsafeCell` checks the access).
#[test]
fn once_cell_initializers_race() {
    spectrum_sync::model(|| {
        let c = Arc::new(OnceCell::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let t = thread::spawn({
            let (c, runs) = (c.clone(), runs.clone());
            move || {
                *block_on(c.get_or_init(|| async {
                    runs.fetch_add(1, Relaxed);
                    1
                }))
            }
        });
        let mine = *block_on(c.get_or_init(|| async {
            runs.fetch_add(1, Relaxed);
            2
        }));
        let theirs = t.join().unwrap();
        assert_eq!(mine, theirs);
        assert_eq!(runs.load(Relaxed), 1);
    });
}

/// An initializer cancelled while another caller waits behind it: the waiter runs its own.
#[test]
fn once_cell_cancelled_initializer_lets_the_next_try() {
    spectrum_sync::model(|| {
        let c = Arc::new(OnceCell::<u32>::new());
        let t = thread::spawn({
            let c = c.clone();
            move || {
                let mut f = pin!(c.get_or_init(std::future::pending));
                let _ = poll_once(f.as_mut());
            }
        });
        assert_eq!(*block_on(c.get_or_init(|| async { 2 })), 2);
        t.join().unwrap();
    });
}
