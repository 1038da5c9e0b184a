#![cfg(not(loom))]
//! `Semaphore`: permits counted exactly, FIFO (a large `acquire_many` at the head is never
//! overtaken by smaller requests), `try_*` never overtakes, `close`, `add_permits`, `forget`,
//! owned permits, merge/split, bad input, and cancel safety of partly served requests.

mod common;

use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;

use common::{poll_once, poll_with, CountingWaker};
use spectrum_chan::sync::{AcquireError, Semaphore, TryAcquireError};

static LIMIT: Semaphore = Semaphore::const_new(2);

#[test]
fn const_new_in_a_static() {
    let a = LIMIT.try_acquire().unwrap();
    let _b = LIMIT.try_acquire().unwrap();
    assert_eq!(LIMIT.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    drop(a);
    assert_eq!(LIMIT.available_permits(), 1);
}

#[test]
fn permits_are_counted_and_returned() {
    let s = Semaphore::new(3);
    let a = s.try_acquire_many(2).unwrap();
    assert_eq!(a.num_permits(), 2);
    assert_eq!(s.available_permits(), 1);
    assert!(s.try_acquire_many(2).is_err());
    drop(a);
    assert_eq!(s.available_permits(), 3);
    let p = s.acquire_many(3).wait().unwrap();
    assert_eq!(s.available_permits(), 0);
    drop(p);
    assert_eq!(s.available_permits(), 3);
}

#[test]
fn big_request_at_the_head_is_not_overtaken() {
    let s = Semaphore::new(2);
    let held = s.try_acquire_many(2).unwrap();
    let mut big = pin!(s.acquire_many(3));
    assert!(poll_once(big.as_mut()).is_pending());
    let mut small = pin!(s.acquire());
    assert!(poll_once(small.as_mut()).is_pending());
    s.add_permits(2); // 2 go to `big` (needs 3): `small` must not get one
    assert!(poll_once(small.as_mut()).is_pending(), "small overtook big");
    assert_eq!(s.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    drop(held); // 1 more completes big; the other goes to small
    let Poll::Ready(Ok(b)) = poll_once(big.as_mut()) else {
        panic!("big has its 3")
    };
    assert_eq!(b.num_permits(), 3);
    let Poll::Ready(Ok(p)) = poll_once(small.as_mut()) else {
        panic!("small got the 4th permit")
    };
    assert_eq!(s.available_permits(), 0);
    drop((b, p));
    assert_eq!(s.available_permits(), 4);
}

#[test]
fn cancelled_partial_request_gives_its_permits_on() {
    let s = Semaphore::new(1);
    let mut big = Box::pin(s.acquire_many(3)); // takes the 1, waits for 2
    assert!(poll_once(big.as_mut()).is_pending());
    assert_eq!(s.available_permits(), 0);
    let (wakes, waker) = CountingWaker::new();
    let mut small = pin!(s.acquire());
    assert!(poll_with(small.as_mut(), &waker).is_pending());
    drop(big); // its 1 permit goes to `small`
    assert_eq!(wakes.wakes(), 1);
    let Poll::Ready(Ok(p)) = poll_once(small.as_mut()) else {
        panic!("small got big's permit")
    };
    drop(p);
    assert_eq!(s.available_permits(), 1, "no permit lost or made up");
}

#[test]
fn granted_but_cancelled_acquire_returns_the_permits() {
    let s = Semaphore::new(0);
    let mut a = Box::pin(s.acquire_many(2));
    assert!(poll_once(a.as_mut()).is_pending());
    s.add_permits(2); // granted
    assert_eq!(s.available_permits(), 0);
    drop(a); // never returned them
    assert_eq!(s.available_permits(), 2);
}

#[test]
fn close_fails_waiters_and_later_acquires_but_keeps_held_permits() {
    let s = Arc::new(Semaphore::new(1));
    let held = s.clone().try_acquire_owned().unwrap();
    let s2 = s.clone();
    let t = std::thread::spawn(move || s2.acquire().wait().map(|_| ()));
    while s.available_permits() != 0 || !format!("{s:?}").contains("waiters: true") {
        std::thread::yield_now();
    }
    s.close();
    let err: AcquireError = t.join().unwrap().unwrap_err();
    assert_eq!(err.to_string(), "the semaphore is closed");
    assert!(s.is_closed());
    assert_eq!(s.try_acquire().unwrap_err(), TryAcquireError::Closed);
    assert!(s.acquire().wait().is_err());
    assert_eq!(held.num_permits(), 1);
    drop(held);
    assert_eq!(s.available_permits(), 1, "held permits return after close");
    assert!(s.try_acquire().unwrap_err().is_closed());
}

#[test]
fn zero_permit_requests_succeed_unless_closed() {
    let s = Semaphore::new(0);
    assert!(s.try_acquire_many(0).is_ok());
    assert!(s.acquire_many(0).wait().is_ok());
    s.close();
    assert!(s.try_acquire_many(0).unwrap_err().is_closed());
    assert!(s.acquire_many(0).wait().is_err());
}

#[test]
fn forget_and_forget_permits() {
    let s = Semaphore::new(5);
    s.try_acquire_many(2).unwrap().forget();
    assert_eq!(s.available_permits(), 3);
    assert_eq!(s.forget_permits(10), 3);
    assert_eq!(s.available_permits(), 0);
    assert_eq!(s.forget_permits(1), 0);
}

#[test]
fn merge_and_split() {
    let s = Arc::new(Semaphore::new(4));
    let mut a = s.try_acquire().unwrap();
    let b = s.try_acquire_many(2).unwrap();
    a.merge(b);
    assert_eq!(a.num_permits(), 3);
    let c = a.split(2).unwrap();
    assert!(a.split(5).is_none());
    assert_eq!((a.num_permits(), c.num_permits()), (1, 2));
    assert!(std::ptr::eq(c.semaphore(), &*s));
    drop((a, c));
    assert_eq!(s.available_permits(), 4);
    let mut o = s.clone().try_acquire_many_owned(1).unwrap();
    o.merge(s.clone().acquire_many_owned(3).wait().unwrap());
    assert_eq!(s.available_permits(), 0);
    let o2 = o.split(4).unwrap();
    assert_eq!(o.num_permits(), 0);
    drop(o);
    drop(o2);
    assert_eq!(s.available_permits(), 4);
}

#[test]
#[should_panic(expected = "different semaphores")]
fn merge_across_semaphores_panics() {
    let (s1, s2) = (Semaphore::new(1), Semaphore::new(1));
    let mut a = s1.try_acquire().unwrap();
    a.merge(s2.try_acquire().unwrap());
}

#[test]
#[should_panic(expected = "at most MAX_PERMITS")]
fn absurd_initial_permits_panic() {
    let _ = Semaphore::new(Semaphore::MAX_PERMITS + 1);
}

#[test]
fn add_permits_past_max_panics_and_adds_nothing() {
    let s = Semaphore::new(Semaphore::MAX_PERMITS - 1);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.add_permits(2)));
    assert!(r.is_err());
    assert_eq!(s.available_permits(), Semaphore::MAX_PERMITS - 1);
    s.add_permits(1);
    assert_eq!(s.available_permits(), Semaphore::MAX_PERMITS);
}

#[test]
fn fifo_among_many_waiters() {
    let s = Semaphore::new(0);
    let mut futs: Vec<_> = (1..=4).map(|n| Box::pin(s.acquire_many(n))).collect();
    for f in &mut futs {
        assert!(poll_once(f.as_mut()).is_pending());
    }
    for (i, n) in (1..=4u32).enumerate() {
        s.add_permits(n as usize - 1);
        assert!(poll_once(futs[i].as_mut()).is_pending() || n == 1);
        s.add_permits(1);
        let Poll::Ready(Ok(p)) = poll_once(futs[i].as_mut()) else {
            panic!("request {i} complete")
        };
        p.forget();
        for f in futs.iter_mut().skip(i + 1) {
            assert!(poll_once(f.as_mut()).is_pending());
        }
    }
}

#[test]
fn tasks_respect_the_limit() {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    let rt = spectrum_rt::Runtime::builder().workers(2).build().unwrap();
    let s = Arc::new(Semaphore::new(3));
    let inside = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (s, inside, peak) = (s.clone(), inside.clone(), peak.clone());
            rt.spawn(async move {
                let _p = s.acquire_owned().await.unwrap();
                let now = inside.fetch_add(1, SeqCst) + 1;
                peak.fetch_max(now, SeqCst);
                spectrum_rt::yield_now().await;
                inside.fetch_sub(1, SeqCst);
            })
        })
        .collect();
    rt.block_on(async {
        for t in tasks {
            t.await.unwrap();
        }
    });
    assert!(peak.load(SeqCst) <= 3);
    assert_eq!(s.available_permits(), 3);
}
