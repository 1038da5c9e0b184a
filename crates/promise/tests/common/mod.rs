//! Helpers shared by the behaviour tests: cancellation canaries and gauges.
#![allow(dead_code)]

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

/// Counts futures dropped before they finished (cancelled) and futures that finished.
#[derive(Clone, Debug, Default)]
pub struct Canaries {
    cancelled: Arc<AtomicUsize>,
    finished: Arc<AtomicUsize>,
}

impl Canaries {
    pub fn new() -> Self {
        Self::default()
    }

    /// Wraps `future`: counted as cancelled if dropped before it completes.
    pub fn watch<F: Future>(&self, future: F) -> impl Future<Output = F::Output> {
        let canary = Canary {
            cancelled: Some(self.cancelled.clone()),
        };
        let finished = self.finished.clone();
        async move {
            let out = future.await;
            canary.disarm();
            finished.fetch_add(1, SeqCst);
            out
        }
    }

    pub fn cancelled(&self) -> usize {
        self.cancelled.load(SeqCst)
    }

    pub fn finished(&self) -> usize {
        self.finished.load(SeqCst)
    }
}

struct Canary {
    cancelled: Option<Arc<AtomicUsize>>,
}

impl Canary {
    fn disarm(mut self) {
        self.cancelled = None;
    }
}

impl Drop for Canary {
    fn drop(&mut self) {
        if let Some(c) = self.cancelled.take() {
            c.fetch_add(1, SeqCst);
        }
    }
}

/// Tracks how many units are in progress at once, and the most ever seen.
#[derive(Clone, Debug, Default)]
pub struct Gauge {
    now: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
}

impl Gauge {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn enter(&self) -> GaugeGuard {
        let now = self.now.fetch_add(1, SeqCst) + 1;
        self.max.fetch_max(now, SeqCst);
        GaugeGuard(self.now.clone())
    }

    pub fn max(&self) -> usize {
        self.max.load(SeqCst)
    }

    pub fn now(&self) -> usize {
        self.now.load(SeqCst)
    }
}

pub struct GaugeGuard(Arc<AtomicUsize>);

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

/// Polls until `cond` holds, for at most 5 s of real time.
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}
