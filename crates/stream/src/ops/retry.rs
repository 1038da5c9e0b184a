//! `retry(n)` and `retry_when(spec)`: resubscribe to the source after an error.
//!
//! - `retry(n)` is Reactor's `retry(long)`: up to `n` resubscriptions, at once.
//! - `retry_when(RetrySpec::backoff(n, min))` is Reactor's `retryWhen(Retry.backoff(n, min))`:
//!   up to `n` resubscriptions, the `k`-th after `min × 2^k` (capped by `max_backoff`), moved by
//!   a random jitter of up to `jitter × delay` either way (default 0.5, as Reactor), never below
//!   `min` nor above `max_backoff`. A `filter` decides which errors are retried. The delay runs
//!   on the runtime's timer, so a paused test clock makes it instant.
//!
//! When the attempts are used up the last error is delivered as is.
//!
//! # Demand across attempts
//!
//! The downstream keeps one subscription for the whole life of the stream (Reactor's
//! `MultiSubscriptionSubscriber`): it records the outstanding demand, and each new attempt's
//! subscription is asked for what is still outstanding. Items emitted by an attempt before it
//! failed are not emitted again by the operator; a cold source replays them, as in Reactor.
//!
//! Immediate resubscriptions are trampolined: a source that fails synchronously on subscribe
//! does not grow the stack by one frame per attempt.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use spectrum_rt::time;
use spectrum_sync::atomic::{AtomicU64, Ordering::*};
use spectrum_sync::{AtomicWaker, Mutex};

use crate::drain::{error_quietly, guard};
use crate::spec::{add_demand, Publisher, Subscriber, Subscription, UNBOUNDED};
use crate::{Flux, StreamError};

/// Which errors a [`RetrySpec`] retries.
type ErrorFilter = Arc<dyn Fn(&StreamError) -> bool + Send + Sync>;

/// When and how often [`Flux::retry_when`] resubscribes.
#[derive(Clone)]
pub struct RetrySpec {
    max_attempts: u64,
    min_backoff: Duration,
    max_backoff: Duration,
    jitter: f64,
    filter: Option<ErrorFilter>,
}

impl std::fmt::Debug for RetrySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetrySpec")
            .field("max_attempts", &self.max_attempts)
            .field("min_backoff", &self.min_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("jitter", &self.jitter)
            .finish()
    }
}

impl RetrySpec {
    /// Up to `n` immediate resubscriptions (Reactor's `Retry.max(n)`).
    pub fn max(n: u64) -> Self {
        RetrySpec {
            max_attempts: n,
            min_backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
            jitter: 0.0,
            filter: None,
        }
    }

    /// Up to `n` resubscriptions with exponential backoff from `min` and a jitter of 0.5
    /// (Reactor's `Retry.backoff(n, min)`).
    pub fn backoff(n: u64, min: Duration) -> Self {
        RetrySpec {
            max_attempts: n,
            min_backoff: min,
            max_backoff: Duration::MAX,
            jitter: 0.5,
            filter: None,
        }
    }

    /// Caps each delay.
    pub fn max_backoff(mut self, max: Duration) -> Self {
        self.max_backoff = max;
        self
    }

    /// Jitter factor in `0.0..=1.0` (clamped).
    pub fn jitter(mut self, factor: f64) -> Self {
        self.jitter = factor.clamp(0.0, 1.0);
        self
    }

    /// Retries only the errors for which `f` is true.
    pub fn filter(mut self, f: impl Fn(&StreamError) -> bool + Send + Sync + 'static) -> Self {
        self.filter = Some(Arc::new(f));
        self
    }

    /// The delay before resubscription number `attempt` (0-based), with `random` in `[0, 1)`.
    pub fn delay(&self, attempt: u64, random: f64) -> Duration {
        if self.min_backoff.is_zero() {
            return Duration::ZERO;
        }
        let factor = 2u32.saturating_pow(attempt.min(31) as u32);
        let base = self
            .min_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
            .max(self.min_backoff);
        let spread = base.as_secs_f64() * self.jitter;
        let lo = (self.min_backoff.as_secs_f64() - base.as_secs_f64()).max(-spread);
        let hi = (self.max_backoff.as_secs_f64() - base.as_secs_f64()).min(spread);
        let offset = lo + (hi - lo) * random;
        Duration::try_from_secs_f64((base.as_secs_f64() + offset).max(0.0)).unwrap_or(base)
    }

    /// A protocol error (`request(0)`) is the subscriber's bug, not a transient failure: it
    /// is never retried.
    fn retries(&self, e: &StreamError) -> bool {
        !e.is_bad_request() && self.filter.as_ref().is_none_or(|f| f(e))
    }
}

/// xorshift64*: the jitter's randomness, seeded per subscription.
fn next_random(state: &AtomicU64) -> f64 {
    let mut x = state.load(Relaxed);
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    state.store(x, Relaxed);
    (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
}

/// The publisher of [`Flux::retry`] and [`Flux::retry_when`].
pub struct RetryWhen<P> {
    source: Arc<P>,
    spec: Arc<RetrySpec>,
}

impl<P> Clone for RetryWhen<P> {
    fn clone(&self) -> Self {
        RetryWhen {
            source: self.source.clone(),
            spec: self.spec.clone(),
        }
    }
}

impl<P> std::fmt::Debug for RetryWhen<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryWhen")
            .field("spec", &self.spec)
            .finish()
    }
}

struct ArbState {
    current: Option<Arc<dyn Subscription>>,
    outstanding: u64,
    cancelled: bool,
}

/// The one subscription the downstream sees across attempts.
struct Arbiter {
    st: Mutex<ArbState>,
    waker: AtomicWaker,
}

impl Arbiter {
    fn set(&self, s: Arc<dyn Subscription>) {
        let n = {
            let mut st = self.st.lock();
            if st.cancelled {
                drop(st);
                s.cancel();
                return;
            }
            st.current = Some(s.clone());
            st.outstanding
        };
        if n > 0 {
            s.request(n);
        }
    }
    fn produced_one(&self) {
        let mut st = self.st.lock();
        if st.outstanding < UNBOUNDED {
            st.outstanding = st.outstanding.saturating_sub(1);
        }
    }
    fn detach(&self) {
        self.st.lock().current = None;
    }
    fn is_cancelled(&self) -> bool {
        self.st.lock().cancelled
    }
}

impl Subscription for Arbiter {
    fn request(&self, n: u64) {
        let cur = {
            let mut st = self.st.lock();
            if st.cancelled {
                return;
            }
            if n > 0 {
                st.outstanding = add_demand(st.outstanding, n);
            }
            st.current.clone()
        };
        if let Some(c) = cur {
            c.request(n);
        }
    }
    fn cancel(&self) {
        let cur = {
            let mut st = self.st.lock();
            st.cancelled = true;
            st.current.take()
        };
        if let Some(c) = cur {
            c.cancel();
        }
        self.waker.wake();
    }
}

struct Shared<P, S> {
    source: Arc<P>,
    spec: Arc<RetrySpec>,
    arbiter: Arc<Arbiter>,
    rng: AtomicU64,
    wip: AtomicU64,
    next: Mutex<Option<Attempt<P, S>>>,
}

struct Attempt<P, S> {
    s: Option<S>,
    shared: Arc<Shared<P, S>>,
    attempts: u64,
    first: bool,
    subscribed: bool,
}

impl<P: Publisher, S: Subscriber<P::Item>> Shared<P, S> {
    /// Subscribes `a` to the source, trampolined.
    fn resubscribe(self: &Arc<Self>, a: Attempt<P, S>) {
        *self.next.lock() = Some(a);
        if self.wip.fetch_add(1, AcqRel) != 0 {
            return;
        }
        loop {
            let next = self.next.lock().take();
            if let Some(a) = next {
                self.source.subscribe(a);
            }
            if self.wip.fetch_sub(1, AcqRel) == 1 {
                return;
            }
        }
    }
}

impl<P: Publisher, S: Subscriber<P::Item>> Subscriber<P::Item> for Attempt<P, S> {
    fn on_subscribe(&mut self, up: Arc<dyn Subscription>) {
        if std::mem::replace(&mut self.subscribed, true) {
            up.cancel(); // rule 2.5
            return;
        }
        if self.first {
            self.first = false;
            if let Some(s) = self.s.as_mut() {
                s.on_subscribe(self.shared.arbiter.clone());
            }
        }
        self.shared.arbiter.set(up);
    }
    fn on_next(&mut self, v: P::Item) {
        self.shared.arbiter.produced_one();
        if let Some(s) = self.s.as_mut() {
            // A panic downstream is not a failure of the source: it must not be retried.
            if let Err(e) = guard(|| s.on_next(v)) {
                error_quietly(s, e);
                self.s = None;
                self.shared.arbiter.cancel();
            }
        }
    }
    fn on_error(&mut self, e: StreamError) {
        let Some(mut s) = self.s.take() else { return };
        let sh = &self.shared;
        sh.arbiter.detach();
        if sh.arbiter.is_cancelled() {
            return;
        }
        if self.attempts >= sh.spec.max_attempts || !sh.spec.retries(&e) {
            return s.on_error(e);
        }
        let delay = sh.spec.delay(self.attempts, next_random(&sh.rng));
        let next = Attempt {
            s: Some(s),
            shared: sh.clone(),
            attempts: self.attempts + 1,
            first: false,
            subscribed: false,
        };
        if delay.is_zero() {
            sh.resubscribe(next);
            return;
        }
        match spectrum_rt::Handle::try_current() {
            Ok(h) => {
                let shared = sh.clone();
                spectrum_rt::task::Builder::new()
                    .name("spectrum-stream retry backoff")
                    .spawn_on(
                        async move {
                            let woke = CancellableSleep {
                                sleep: Box::pin(time::sleep(delay)),
                                arbiter: shared.arbiter.clone(),
                            }
                            .await;
                            if woke {
                                shared.resubscribe(next);
                            }
                        },
                        &h,
                    )
                    .detach();
            }
            Err(_) => {
                // No timer without a runtime: retry at once rather than not at all.
                sh.resubscribe(next);
            }
        }
    }
    fn on_complete(&mut self) {
        if let Some(mut s) = self.s.take() {
            self.shared.arbiter.detach();
            s.on_complete()
        }
    }
}

/// Sleeps unless the subscription is cancelled first; `true` if the sleep ran out.
struct CancellableSleep {
    sleep: Pin<Box<time::Sleep>>,
    arbiter: Arc<Arbiter>,
}

impl Future for CancellableSleep {
    type Output = bool;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        self.arbiter.waker.register(cx.waker());
        if self.arbiter.is_cancelled() {
            return Poll::Ready(false);
        }
        self.sleep.as_mut().poll(cx).map(|_| true)
    }
}

impl<P: Publisher> Publisher for RetryWhen<P> {
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item>>(&self, s: S) {
        let seed = {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0x9E37_79B9_7F4A_7C15);
            (t ^ (&s as *const S as usize as u64)) | 1
        };
        let shared = Arc::new(Shared {
            source: self.source.clone(),
            spec: self.spec.clone(),
            arbiter: Arc::new(Arbiter {
                st: Mutex::new(ArbState {
                    current: None,
                    outstanding: 0,
                    cancelled: false,
                }),
                waker: AtomicWaker::new(),
            }),
            rng: AtomicU64::new(seed),
            wip: AtomicU64::new(0),
            next: Mutex::new(None),
        });
        let first = Attempt {
            s: Some(s),
            shared: shared.clone(),
            attempts: 0,
            first: true,
            subscribed: false,
        };
        shared.resubscribe(first);
    }
}

impl<P: Publisher> Flux<P> {
    /// Resubscribes up to `n` times after an error (Reactor's `retry(n)`).
    pub fn retry(self, n: u64) -> Flux<RetryWhen<P>> {
        self.retry_when(RetrySpec::max(n))
    }

    /// Resubscribes after an error as `spec` says: attempts, exponential backoff with jitter,
    /// a filter (Reactor's `retryWhen(Retry.backoff(..))`).
    ///
    /// ```
    /// # spectrum_rt::Runtime::new().unwrap().block_on(async {
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use spectrum_stream::{ops::RetrySpec, Flux, StreamError};
    ///
    /// let calls = Arc::new(AtomicU32::new(0));
    /// let c = calls.clone();
    /// let flaky = Flux::generate(|| (), move |_, sink| {
    ///     if c.fetch_add(1, Ordering::SeqCst) < 2 {
    ///         sink.error(StreamError::msg("flaky"));
    ///     } else {
    ///         sink.next(42);
    ///         sink.complete();
    ///     }
    /// });
    /// let got = flaky
    ///     .retry_when(RetrySpec::backoff(3, Duration::from_millis(2)))
    ///     .collect::<Vec<_>>()
    ///     .await
    ///     .unwrap();
    /// assert_eq!(got, Some(vec![42]));
    /// # });
    /// ```
    pub fn retry_when(self, spec: RetrySpec) -> Flux<RetryWhen<P>> {
        crate::flux::wrap(RetryWhen {
            source: Arc::new(self.inner),
            spec: Arc::new(spec),
        })
    }
}
