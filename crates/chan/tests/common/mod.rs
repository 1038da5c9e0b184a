//! Test helpers: drop-counting values and counting wakers.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// A value that counts its drops, to prove a value was dropped exactly once (or not at all).
#[derive(Debug)]
pub struct Token {
    pub id: usize,
    drops: Arc<AtomicUsize>,
}

impl Token {
    pub fn new(id: usize, drops: &Arc<AtomicUsize>) -> Token {
        Token {
            id,
            drops: drops.clone(),
        }
    }
}

impl PartialEq for Token {
    fn eq(&self, other: &Token) -> bool {
        self.id == other.id
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        self.drops.fetch_add(1, SeqCst);
    }
}

pub fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

pub fn count(c: &Arc<AtomicUsize>) -> usize {
    c.load(SeqCst)
}

/// A waker that counts its wakes.
#[derive(Default)]
pub struct CountingWaker(pub AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

impl CountingWaker {
    pub fn new() -> (Arc<CountingWaker>, Waker) {
        let c = Arc::new(CountingWaker::default());
        let w = Waker::from(c.clone());
        (c, w)
    }

    pub fn wakes(&self) -> usize {
        self.0.load(SeqCst)
    }
}

/// Polls a pinned future once with `waker`.
pub fn poll_with<F: Future + ?Sized>(f: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(waker))
}

/// Polls a pinned future once with a no-op waker.
pub fn poll_once<F: Future + ?Sized>(f: Pin<&mut F>) -> Poll<F::Output> {
    poll_with(f, Waker::noop())
}

/// A small xorshift generator for the stress tests (deterministic per seed; the seed must not
/// be 0).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Completes with `Some(output)`, or gives up on `f` (drops it: `None`) at a random pending
/// poll, one in three. A pending poll that is not given up on has registered normally.
pub struct MaybeCancel<F> {
    pub f: Pin<Box<F>>,
    pub rng: Rng,
}

impl<F: Future> Future for MaybeCancel<F> {
    type Output = Option<F::Output>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.f.as_mut().poll(cx) {
            Poll::Ready(v) => Poll::Ready(Some(v)),
            Poll::Pending if self.rng.next() % 3 == 0 => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Polls `f` every 5 ms until it gives something; panics naming `what` after 10 s.
pub fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Diagnostics a runtime reported, as its hook received them.
pub type Seen = Arc<std::sync::Mutex<Vec<spectrum_rt::runtime::Diagnostic>>>;

/// A two-worker runtime whose diagnostics land in `seen`, checking for deadlocks every 20 ms
/// when `deadlocks` is set.
pub fn diag_runtime(seen: &Seen, deadlocks: bool) -> spectrum_rt::Runtime {
    let seen = seen.clone();
    spectrum_rt::Runtime::builder()
        .workers(2)
        .detect_deadlocks(deadlocks.then_some(std::time::Duration::from_millis(20)))
        .on_diagnostic(move |d| seen.lock().unwrap().push(d.clone()))
        .build()
        .unwrap()
}
