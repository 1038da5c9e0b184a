//! Bulkhead: a bound on concurrent calls, with an asynchronous, bounded, time-limited queue.
//!
//! # State
//!
//! One atomic word: the low 32 bits are free permits, the high 32 bits are queued waiters. A
//! FIFO of waiters sits behind a mutex.
//!
//! # Invariants
//!
//! 1. The queued count changes only while the queue mutex is held, together with the push or
//!    removal of a waiter, so under the lock it equals the queue's length.
//! 2. A free permit and a waiting caller never coexist for long: `release` hands its permit
//!    straight to the front waiter when the queued count is non-zero, and an arriving caller may
//!    take a free permit only when nobody is queued (FIFO: no barging).
//! 3. A waiter that gives up (max wait, or its future dropped) after being granted a permit
//!    passes that permit on, so permits are never lost.
//!
//! # Protocols
//!
//! *Acquire*: (1) fast path: CAS one free permit if nobody is queued; (2) otherwise lock the
//! queue and CAS again: take a free permit, or reject if `max_queue` waiters are queued, or count
//! ourselves in and push a waiter; (3) await the grant, racing the max-wait timer. Waiting parks
//! the calling *task* (or fiber, or thread via `.wait()`), never a worker thread.
//!
//! *Release*: (1) if nobody is queued, CAS a permit back; (2) otherwise lock the queue, pop the
//! front waiter, count it out, mark it granted (Release: pairs with its Acquire load) and wake
//! it; if the queue turned out empty, put the permit back.

use std::collections::VecDeque;
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Duration;

use spectrum_sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use spectrum_sync::{CachePadded, Mutex};

use crate::metrics::{self, Counter, Metered, PolicyKind, PolicySnapshot};
use crate::ConfigError;

const PERMITS: u64 = 0xFFFF_FFFF;
const ONE_QUEUED: u64 = 1 << 32;

/// Why a [`Bulkhead`] turned a call away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BulkheadRejection {
    /// Every permit was in use and the queue was full (or disabled).
    QueueFull,
    /// The call waited in the queue for the maximum time.
    MaxWaitElapsed(Duration),
}

/// The bulkhead rejected a call; the limits are included so the error explains itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BulkheadFull {
    /// The bulkhead's concurrency limit.
    pub max_concurrent: u32,
    /// Its queue bound.
    pub max_queue: u32,
    /// Why this call was rejected.
    pub reason: BulkheadRejection,
}

impl fmt::Display for BulkheadFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bulkhead full: {} concurrent calls allowed, {} may queue",
            self.max_concurrent, self.max_queue
        )?;
        match self.reason {
            BulkheadRejection::QueueFull => f.write_str(" (queue full)"),
            BulkheadRejection::MaxWaitElapsed(d) => write!(f, " (waited {d:?})"),
        }
    }
}

impl std::error::Error for BulkheadFull {}

/// Limits concurrent calls; extra calls wait in a bounded FIFO queue for at most `max_wait`.
///
/// ```
/// # spectrum_rt::Runtime::new().unwrap().block_on(async {
/// use spectrum_resilience::{Bulkhead, BulkheadRejection};
///
/// let bulkhead = Bulkhead::builder().max_concurrent(1).max_queue(0).build().unwrap();
/// let held = bulkhead.try_acquire().unwrap();
/// let err = bulkhead.call(async { 1 }).await.unwrap_err();
/// assert_eq!(err.reason, BulkheadRejection::QueueFull);
/// drop(held);
/// assert_eq!(bulkhead.call(async { 1 }).await, Ok(1));
/// # });
/// ```
#[derive(Clone)]
pub struct Bulkhead {
    inner: Arc<Inner>,
}

struct Inner {
    state: CachePadded<AtomicU64>,
    queue: Mutex<VecDeque<Arc<Waiter>>>,
    max_concurrent: u32,
    max_queue: u32,
    max_wait: Option<Duration>,
    name: String,
    admitted: Counter,
    queued: Counter,
    rejected_queue_full: Counter,
    rejected_max_wait: Counter,
}

struct Waiter {
    granted: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

/// Builds a [`Bulkhead`].
#[derive(Clone, Debug)]
pub struct BulkheadBuilder {
    max_concurrent: u32,
    max_queue: u32,
    max_wait: Option<Duration>,
    name: String,
}

impl BulkheadBuilder {
    /// Names the policy (shown in metrics and dumps).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Calls allowed at once (default 25, resilience4j's default).
    pub fn max_concurrent(mut self, n: u32) -> Self {
        self.max_concurrent = n;
        self
    }

    /// Calls allowed to wait for a permit (default 0: reject at once when full).
    pub fn max_queue(mut self, n: u32) -> Self {
        self.max_queue = n;
        self
    }

    /// The longest a queued call waits (default: until a permit frees up).
    pub fn max_wait(mut self, d: Duration) -> Self {
        self.max_wait = Some(d);
        self
    }

    /// Builds the bulkhead.
    ///
    /// # Errors
    ///
    /// `max_concurrent` of zero or above 2^31, `max_queue` above 2^31, or a zero `max_wait` (use
    /// `max_queue(0)` to reject without waiting).
    pub fn build(self) -> Result<Bulkhead, ConfigError> {
        const P: &str = "bulkhead";
        if self.max_concurrent == 0 || self.max_concurrent > 1 << 31 {
            return Err(ConfigError::new(
                P,
                format!(
                    "max_concurrent must be in 1..=2^31, got {}",
                    self.max_concurrent
                ),
            ));
        }
        if self.max_queue > 1 << 31 {
            return Err(ConfigError::new(
                P,
                format!("max_queue must be at most 2^31, got {}", self.max_queue),
            ));
        }
        if self.max_wait == Some(Duration::ZERO) {
            return Err(ConfigError::new(
                P,
                "max_wait must be non-zero (use max_queue(0) to reject without waiting)",
            ));
        }
        let inner = Arc::new(Inner {
            state: CachePadded::new(AtomicU64::new(u64::from(self.max_concurrent))),
            queue: Mutex::new(VecDeque::new()),
            max_concurrent: self.max_concurrent,
            max_queue: self.max_queue,
            max_wait: self.max_wait,
            name: self.name,
            admitted: Counter::default(),
            queued: Counter::default(),
            rejected_queue_full: Counter::default(),
            rejected_max_wait: Counter::default(),
        });
        metrics::register(&inner);
        Ok(Bulkhead { inner })
    }
}

/// A bulkhead permit; dropping it lets the next call in.
#[must_use = "the permit is released when dropped"]
pub struct BulkheadPermit<'a> {
    inner: &'a Inner,
}

impl Drop for BulkheadPermit<'_> {
    fn drop(&mut self) {
        self.inner.release();
    }
}

impl fmt::Debug for BulkheadPermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadPermit").finish_non_exhaustive()
    }
}

impl Bulkhead {
    /// Starts building a bulkhead.
    pub fn builder() -> BulkheadBuilder {
        BulkheadBuilder {
            max_concurrent: 25,
            max_queue: 0,
            max_wait: None,
            name: String::new(),
        }
    }

    /// Takes a permit if one is free and nobody is queued.
    pub fn try_acquire(&self) -> Option<BulkheadPermit<'_>> {
        self.inner.try_take().then(|| {
            self.inner.admitted.inc();
            BulkheadPermit { inner: &self.inner }
        })
    }

    fn full(&self, reason: BulkheadRejection) -> BulkheadFull {
        BulkheadFull {
            max_concurrent: self.inner.max_concurrent,
            max_queue: self.inner.max_queue,
            reason,
        }
    }

    /// Waits for a permit (FIFO), within the queue bound and the max wait.
    ///
    /// # Errors
    ///
    /// [`BulkheadFull`] if the queue is full, or the max wait passed.
    ///
    /// # Panics
    ///
    /// Outside a Spectrum runtime, if it has to wait with a max wait set.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a dropped waiter leaves the queue, and passes on a permit granted to it in
    /// the meantime.
    pub async fn acquire(&self) -> Result<BulkheadPermit<'_>, BulkheadFull> {
        if let Some(p) = self.try_acquire() {
            return Ok(p);
        }
        let inner = &*self.inner;
        let waiter = {
            let mut queue = inner.queue.lock();
            // Acquire: see `try_take`.
            let mut s = inner.state.load(Acquire);
            loop {
                let (free, queued) = (s & PERMITS, s >> 32);
                let next = if free > 0 && queued == 0 {
                    s - 1
                } else if queued >= u64::from(inner.max_queue) {
                    drop(queue);
                    inner.rejected_queue_full.inc();
                    return Err(self.full(BulkheadRejection::QueueFull));
                } else {
                    s + ONE_QUEUED
                };
                // AcqRel: taking a permit acquires the previous holder's release; counting
                // ourselves in is ordered by the queue lock.
                match inner.state.compare_exchange(s, next, AcqRel, Acquire) {
                    Ok(_) if next < s => {
                        drop(queue);
                        inner.admitted.inc();
                        return Ok(BulkheadPermit { inner });
                    }
                    Ok(_) => break,
                    Err(actual) => s = actual,
                }
            }
            let waiter = Arc::new(Waiter {
                granted: AtomicBool::new(false),
                waker: Mutex::new(None),
            });
            queue.push_back(waiter.clone());
            waiter
        };
        inner.queued.inc();
        let mut guard = QueueGuard {
            inner,
            waiter,
            done: false,
        };
        let mut timer = pin!(inner.max_wait.map(spectrum_rt::time::sleep));
        let granted = poll_fn(|cx| {
            // Acquire: pairs with the Release store in `release`.
            if guard.waiter.granted.load(Acquire) {
                return Poll::Ready(true);
            }
            *guard.waiter.waker.lock() = Some(cx.waker().clone());
            if guard.waiter.granted.load(Acquire) {
                return Poll::Ready(true);
            }
            match timer.as_mut().as_pin_mut() {
                Some(t) => t.poll(cx).map(|()| false),
                None => Poll::Pending,
            }
        })
        .await;
        if granted {
            guard.done = true;
            inner.admitted.inc();
            return Ok(BulkheadPermit { inner });
        }
        drop(guard);
        inner.rejected_max_wait.inc();
        Err(self.full(BulkheadRejection::MaxWaitElapsed(
            inner.max_wait.unwrap_or_default(),
        )))
    }

    /// Runs `fut` holding a permit.
    ///
    /// # Errors
    ///
    /// [`BulkheadFull`] as for [`acquire`](Self::acquire); `fut` is then never polled.
    ///
    /// # Cancel safety
    ///
    /// As cancel-safe as `fut`; the permit is released when the returned future is dropped.
    pub async fn call<F: Future>(&self, fut: F) -> Result<F::Output, BulkheadFull> {
        let _permit = self.acquire().await?;
        Ok(fut.await)
    }

    /// Permits in use now.
    pub fn in_use(&self) -> u32 {
        // Relaxed: a gauge.
        self.inner.max_concurrent - (self.inner.state.load(Relaxed) & PERMITS) as u32
    }

    /// Calls queued now.
    pub fn queued(&self) -> u32 {
        // Relaxed: a gauge.
        (self.inner.state.load(Relaxed) >> 32) as u32
    }

    /// The concurrency limit.
    pub fn max_concurrent(&self) -> u32 {
        self.inner.max_concurrent
    }

    /// Counters `admitted`, `queued`, `rejected_queue_full`, `rejected_max_wait`; gauges
    /// `in_use`, `waiting`.
    pub fn metrics(&self) -> PolicySnapshot {
        self.inner.snapshot()
    }
}

impl Inner {
    #[inline]
    fn try_take(&self) -> bool {
        // Acquire: a permit released by a previous holder (Release in `release`) happens-before
        // this holder's critical section, as a semaphore promises.
        let mut s = self.state.load(Acquire);
        loop {
            if s & PERMITS == 0 || s >> 32 != 0 {
                return false;
            }
            match self.state.compare_exchange_weak(s, s - 1, AcqRel, Acquire) {
                Ok(_) => return true,
                Err(actual) => s = actual,
            }
        }
    }

    fn release(&self) {
        // Acquire/Release: see `try_take`.
        let mut s = self.state.load(Acquire);
        while s >> 32 == 0 {
            match self.state.compare_exchange_weak(s, s + 1, AcqRel, Acquire) {
                Ok(_) => return,
                Err(actual) => s = actual,
            }
        }
        let mut queue = self.queue.lock();
        match queue.pop_front() {
            Some(w) => {
                // AcqRel: counted out under the lock (invariant 1).
                self.state.fetch_sub(ONE_QUEUED, AcqRel);
                drop(queue);
                // Release: pairs with the Acquire loads in `acquire`'s poll.
                w.granted.store(true, Release);
                let waker = w.waker.lock().take();
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
            None => {
                // The waiters left between our load and the lock.
                self.state.fetch_add(1, AcqRel);
            }
        }
    }
}

/// Leaves the queue if the wait ends without a permit (timeout, or the future dropped).
struct QueueGuard<'a> {
    inner: &'a Inner,
    waiter: Arc<Waiter>,
    done: bool,
}

impl Drop for QueueGuard<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut queue = self.inner.queue.lock();
        // Acquire: pairs with the Release in `release`; checked under the lock, so a grant
        // cannot slip in between.
        if self.waiter.granted.load(Acquire) {
            drop(queue);
            // Granted after we gave up: pass the permit on (invariant 3).
            self.inner.release();
            return;
        }
        if let Some(i) = queue.iter().position(|w| Arc::ptr_eq(w, &self.waiter)) {
            queue.remove(i);
            // AcqRel: counted out under the lock (invariant 1).
            self.inner.state.fetch_sub(ONE_QUEUED, AcqRel);
        }
    }
}

impl Metered for Inner {
    fn snapshot(&self) -> PolicySnapshot {
        // Relaxed: gauges.
        let s = self.state.load(Relaxed);
        PolicySnapshot::new(&self.name, PolicyKind::Bulkhead)
            .counter_value("admitted", self.admitted.get())
            .counter_value("queued", self.queued.get())
            .counter_value("rejected_queue_full", self.rejected_queue_full.get())
            .counter_value("rejected_max_wait", self.rejected_max_wait.get())
            .gauge(
                "in_use",
                f64::from(self.max_concurrent - (s & PERMITS) as u32),
            )
            .gauge("waiting", (s >> 32) as f64)
    }
}

impl fmt::Debug for Bulkhead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bulkhead")
            .field("name", &self.inner.name)
            .field("max_concurrent", &self.inner.max_concurrent)
            .field("max_queue", &self.inner.max_queue)
            .field("max_wait", &self.inner.max_wait)
            .field("in_use", &self.in_use())
            .field("queued", &self.queued())
            .finish()
    }
}
