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
