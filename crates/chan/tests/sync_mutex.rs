#![cfg(not(loom))]
//! `Mutex`: mutual exclusion, FIFO hand-over, cancel safety (a cancelled `lock()` gives its
//! place up cleanly, also after the lock was handed to it), `.wait()` from OS threads, and
//! threads and tasks sharing one mutex.

mod common;

use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex as StdMutex};
use std::task::Poll;

use common::{poll_once, poll_with, CountingWaker};
use spectrum_chan::sync::Mutex;

static GLOBAL: Mutex<u32> = Mutex::new(0);
static GLOBAL2: Mutex<u32> = Mutex::const_new(7);

#[test]
fn const_new_in_a_static() {
    *GLOBAL.lock().wait() += 1;
    assert_eq!(*GLOBAL.lock().wait(), 1);
    assert_eq!(*GLOBAL2.try_lock().unwrap(), 7);
}

#[test]
fn try_lock_fails_while_held_and_never_overtakes_a_waiter() {
    let m = Mutex::new(1);
    let g = m.try_lock().unwrap();
    assert!(m.try_lock().is_err());
    let mut waiter = pin!(m.lock());
    assert!(poll_once(waiter.as_mut()).is_pending());
    drop(g);
    // The unlock handed the lock to the queued waiter: a try now must fail.
    assert!(m.try_lock().is_err(), "try_lock overtook a queued waiter");
    let Poll::Ready(g) = poll_once(waiter.as_mut()) else {
        panic!("the waiter was handed the lock")
    };
    assert_eq!(*g, 1);
}

#[test]
fn waiters_get_the_lock_in_fifo_order() {
    let m = Mutex::new(Vec::new());
    let g = m.try_lock().unwrap();
    let mut futs: Vec<_> = (0..5).map(|_| Box::pin(m.lock())).collect();
    for f in &mut futs {
        assert!(poll_once(f.as_mut()).is_pending());
    }
    drop(g);
    // Exactly the oldest waiter can complete each time.
    for i in 0..5 {
        for f in futs.iter_mut().skip(i + 1) {
            assert!(
                poll_once(f.as_mut()).is_pending(),
                "waiter {i} was overtaken"
            );
        }
        let Poll::Ready(mut g) = poll_once(futs[i].as_mut()) else {
            panic!("waiter {i} should hold the lock")
        };
        g.push(i);
    }
    drop(futs);
    assert_eq!(*m.try_lock().unwrap(), vec![0, 1, 2, 3, 4]);
}

#[test]
fn cancelled_waiter_gives_up_its_place() {
    let m = Mutex::new(());
    let g = m.try_lock().unwrap();
    let mut a = Box::pin(m.lock());
    let mut b = Box::pin(m.lock());
    assert!(poll_once(a.as_mut()).is_pending());
    assert!(poll_once(b.as_mut()).is_pending());
    drop(a); // queued, then cancelled
    drop(g);
    assert!(poll_once(b.as_mut()).is_ready(), "b is next once a left");
}

#[test]
fn cancelled_after_the_hand_over_passes_the_lock_on() {
    let m = Mutex::new(());
    let (wakes_b, waker_b) = CountingWaker::new();
    let g = m.try_lock().unwrap();
    let mut a = Box::pin(m.lock());
    let mut b = Box::pin(m.lock());
    assert!(poll_once(a.as_mut()).is_pending());
    assert!(poll_with(b.as_mut(), &waker_b).is_pending());
    drop(g); // hands the lock to `a` (its wake-up in flight)
    assert!(m.try_lock().is_err());
    drop(a); // never saw it: the drop must hand it on to `b`
    assert_eq!(wakes_b.wakes(), 1, "b was woken by the hand-over");
    assert!(poll_once(b.as_mut()).is_ready());
    drop(b);
    assert!(m.try_lock().is_ok(), "nothing leaked");
}

#[test]
fn threads_block_with_wait_and_never_overlap() {
    let m = Arc::new(Mutex::new(0u64));
    let inside = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let (m, inside) = (m.clone(), inside.clone());
            std::thread::spawn(move || {
                for _ in 0..2_000 {
                    let mut g = m.lock().wait();
                    assert_eq!(inside.fetch_add(1, SeqCst), 0, "two holders at once");
                    *g += 1;
                    inside.fetch_sub(1, SeqCst);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*m.lock().wait(), 12_000);
}

#[test]
fn threads_and_tasks_share_one_mutex() {
    let rt = spectrum_rt::Runtime::builder().workers(2).build().unwrap();
    let m = Arc::new(Mutex::new(0u64));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let m = m.clone();
            rt.spawn(async move {
                for _ in 0..500 {
                    let mut g = m.lock().await;
                    let v = *g;
                    spectrum_rt::yield_now().await; // hold it across an await
                    *g = v + 1;
                }
            })
        })
        .collect();
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let m = m.clone();
            std::thread::spawn(move || {
                for _ in 0..500 {
                    let mut g = m.clone().lock_owned().wait();
                    *g += 1;
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
    assert_eq!(*m.try_lock().unwrap(), 8 * 500 + 3 * 500);
}

#[test]
fn owned_guard_moves_into_another_thread() {
    let m = Arc::new(Mutex::new(String::from("a")));
    let mut g = m.clone().try_lock_owned().unwrap();
    assert!(Arc::ptr_eq(
        spectrum_chan::sync::OwnedMutexGuard::mutex(&g),
        &m
    ));
    g.push('b');
    std::thread::spawn(move || {
        let mut g = g;
        g.push('c');
    })
    .join()
    .unwrap();
    assert_eq!(*m.try_lock().unwrap(), "abc");
}

#[test]
fn mapped_guard_unlocks_once() {
    let m = Mutex::new((1, String::from("x")));
    {
        let g = m.lock().wait();
        let mut s = spectrum_chan::sync::MutexGuard::map(g, |v| &mut v.1);
        s.push('y');
        assert!(m.try_lock().is_err());
    }
    let g = m.try_lock().unwrap();
    let r =
        spectrum_chan::sync::MutexGuard::try_map(
            g,
            |v| if v.0 == 2 { Some(&mut v.0) } else { None },
        );
    let g = r.expect_err("map refused: guard comes back");
    assert_eq!(g.1, "xy");
}

#[test]
fn debug_shows_the_value_or_locked() {
    let m = Mutex::new(5);
    assert!(format!("{m:?}").contains("data: 5"));
    let _g = m.try_lock().unwrap();
    assert!(format!("{m:?}").contains("<locked>"));
}

#[test]
fn panicking_holder_does_not_wedge_the_mutex() {
    let m = Arc::new(Mutex::new(0));
    let m2 = m.clone();
    let r = std::thread::spawn(move || {
        let _g = m2.lock().wait();
        panic!("boom");
    })
    .join();
    assert!(r.is_err());
    // No poisoning (tokio's policy): the guard unlocked while unwinding.
    assert_eq!(*m.try_lock().unwrap(), 0);
}

#[test]
fn many_waiters_cancelled_at_random_leave_the_mutex_usable() {
    let log = Arc::new(StdMutex::new(Vec::new()));
    let m = Mutex::new(());
    let g = m.try_lock().unwrap();
    let mut futs: Vec<_> = (0..20).map(|_| Some(Box::pin(m.lock()))).collect();
    for f in futs.iter_mut().flatten() {
        assert!(poll_once(f.as_mut()).is_pending());
    }
    for i in (0..20).step_by(3) {
        futs[i] = None;
    }
    drop(g);
    for (i, f) in futs.iter_mut().enumerate() {
        if let Some(f) = f {
            let Poll::Ready(g) = poll_once(f.as_mut()) else {
                panic!("waiter {i} should be next")
            };
            log.lock().unwrap().push(i);
            drop(g);
        }
    }
    let got = log.lock().unwrap().clone();
    let want: Vec<_> = (0..20).filter(|i| i % 3 != 0).collect();
    assert_eq!(got, want);
}
