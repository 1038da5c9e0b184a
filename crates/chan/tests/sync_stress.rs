#![cfg(not(loom))]
//! Stress: many OS threads and tasks hammer a semaphore, a mutex and an rwlock while pending
//! acquisitions are cancelled at random points (never polled, queued, granted but not yet
//! polled). Checks: never more holders than permits, every completed critical section counted
//! exactly once, and every permit back at the end (none leaked, none made up).

mod common;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use common::Rng;
use spectrum_chan::sync::{Mutex, RwLock, Semaphore};

const PERMITS: usize = 5;
const THREADS: usize = 4;
const TASKS: usize = 16;
const ITERS: usize = 2_000;

/// Polls `f` up to `polls` times with a no-op waker (sleeping a little between polls so that
/// releases land in between), then drops it if it is still pending. `Some` if it completed.
fn poll_then_drop<F: Future>(f: F, polls: u64) -> Option<F::Output> {
    let mut f = Box::pin(f);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..polls {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return Some(v);
        }
        std::thread::yield_now();
    }
    None
}

struct Counts {
    inside: AtomicUsize,
    done: AtomicUsize,
    cancelled: AtomicUsize,
}

impl Counts {
    fn new() -> Arc<Counts> {
        Arc::new(Counts {
            inside: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            cancelled: AtomicUsize::new(0),
        })
    }
    fn enter(&self, k: usize, limit: usize) {
        let now = self.inside.fetch_add(k, SeqCst) + k;
        assert!(now <= limit, "{now} permits held at once, limit {limit}");
    }
    fn leave(&self, k: usize) {
        self.inside.fetch_sub(k, SeqCst);
        self.done.fetch_add(1, SeqCst);
    }
}

#[test]
fn semaphore_loses_no_permit_under_random_cancellation() {
    let rt = spectrum_rt::Runtime::builder().workers(2).build().unwrap();
    let sem = Arc::new(Semaphore::new(PERMITS));
    let c = Counts::new();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (sem, c) = (sem.clone(), c.clone());
            std::thread::spawn(move || {
                let mut rng = Rng(0x9E37_79B9 + t as u64);
                for _ in 0..ITERS {
                    let k = 1 + rng.below(3) as u32;
                    let permit = if rng.below(3) == 0 {
                        poll_then_drop(sem.acquire_many(k), rng.below(4))
                    } else {
                        Some(sem.acquire_many(k).wait())
                    };
                    match permit {
                        Some(p) => {
                            let p = p.unwrap();
                            c.enter(k as usize, PERMITS);
                            std::hint::spin_loop();
                            c.leave(k as usize);
                            drop(p);
                        }
                        None => {
                            c.cancelled.fetch_add(1, SeqCst);
                        }
                    }
                }
            })
        })
        .collect();
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (sem, c) = (sem.clone(), c.clone());
            rt.spawn(async move {
                let mut rng = Rng(0xDEAD_BEEF + t as u64);
                for _ in 0..ITERS / 4 {
                    let k = 1 + rng.below(3) as u32;
                    let wait = Duration::from_micros(rng.below(200));
                    match spectrum_rt::time::timeout(wait, sem.clone().acquire_many_owned(k)).await
                    {
                        Ok(p) => {
                            let p = p.unwrap();
                            c.enter(k as usize, PERMITS);
                            if rng.below(2) == 0 {
                                spectrum_rt::yield_now().await; // hold it across an await
                            }
                            c.leave(k as usize);
                            drop(p);
                        }
                        Err(_) => {
                            c.cancelled.fetch_add(1, SeqCst);
                        }
                    }
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
    let (done, cancelled) = (c.done.load(SeqCst), c.cancelled.load(SeqCst));
    assert_eq!(done + cancelled, THREADS * ITERS + TASKS * (ITERS / 4));
    eprintln!("semaphore: {done} critical sections, {cancelled} cancelled acquisitions");
    assert!(
        done > 0 && cancelled > 0,
        "both paths exercised: {done} / {cancelled}"
    );
    assert_eq!(c.inside.load(SeqCst), 0);
    assert_eq!(
        sem.available_permits(),
        PERMITS,
        "a permit leaked or was made up"
    );
}

#[test]
fn mutex_counts_every_critical_section_once() {
    let rt = spectrum_rt::Runtime::builder().workers(2).build().unwrap();
    let m = Arc::new(Mutex::new(0usize));
    let c = Counts::new();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (m, c) = (m.clone(), c.clone());
            std::thread::spawn(move || {
                let mut rng = Rng(0x1234_5678 + t as u64);
                for _ in 0..ITERS {
                    let g = if rng.below(2) == 0 {
                        poll_then_drop(m.lock(), rng.below(4))
                    } else {
                        Some(m.lock().wait())
                    };
                    match g {
                        Some(mut g) => {
                            c.enter(1, 1);
                            *g += 1;
                            c.leave(1);
                        }
                        None => {
                            c.cancelled.fetch_add(1, SeqCst);
                        }
                    }
                }
            })
        })
        .collect();
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (m, c) = (m.clone(), c.clone());
            rt.spawn(async move {
                let mut rng = Rng(0xABCD_0123 + t as u64);
                for _ in 0..ITERS / 4 {
                    let wait = Duration::from_micros(rng.below(100));
                    match spectrum_rt::time::timeout(wait, m.lock()).await {
                        Ok(mut g) => {
                            c.enter(1, 1);
                            let v = *g;
                            if rng.below(4) == 0 {
                                spectrum_rt::yield_now().await;
                            }
                            *g = v + 1;
                            c.leave(1);
                        }
                        Err(_) => {
                            c.cancelled.fetch_add(1, SeqCst);
                        }
                    }
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
    let (done, cancelled) = (c.done.load(SeqCst), c.cancelled.load(SeqCst));
    eprintln!("mutex: {done} critical sections, {cancelled} cancelled acquisitions");
    assert!(
        done > 0 && cancelled > 0,
        "both paths exercised: {done} / {cancelled}"
    );
    assert_eq!(done + cancelled, THREADS * ITERS + TASKS * (ITERS / 4));
    assert_eq!(*m.try_lock().expect("unlocked at the end"), done);
}

#[test]
fn rwlock_leaks_nothing_under_random_cancellation() {
    let rt = spectrum_rt::Runtime::builder().workers(2).build().unwrap();
    let l = Arc::new(RwLock::with_max_readers(0usize, 3));
    let c = Counts::new();
    let writes = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (l, c, writes) = (l.clone(), c.clone(), writes.clone());
            rt.spawn(async move {
                let mut rng = Rng(0x5555_0000 + t as u64);
                for _ in 0..ITERS / 4 {
                    let wait = Duration::from_micros(rng.below(100));
                    if rng.below(4) == 0 {
                        if let Ok(mut g) = spectrum_rt::time::timeout(wait, l.write()).await {
                            c.enter(3, 3); // a writer counts as all the read permits
                            *g += 1;
                            writes.fetch_add(1, SeqCst);
                            c.leave(3);
                        }
                    } else if let Ok(g) = spectrum_rt::time::timeout(wait, l.read()).await {
                        c.enter(1, 3);
                        std::hint::black_box(*g);
                        spectrum_rt::yield_now().await;
                        c.leave(1);
                    }
                }
            })
        })
        .collect();
    rt.block_on(async {
        for t in tasks {
            t.await.unwrap();
        }
    });
    let w = l.try_write().expect("every permit came back");
    assert_eq!(*w, writes.load(SeqCst));
}
