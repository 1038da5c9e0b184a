//! Time operators: `timeout`, `sample`, `debounce`, `throttle`.
//!
//! | operator | Reactor | behaviour |
//! |---|---|---|
//! | `timeout(d)` | `timeout(Duration)` | fails with [`StreamError::is_timeout`] if the first item, or any next item, or the completion, takes longer than `d`; the upstream is cancelled. Demand passes through. |
//! | `sample(d)` | `sample(Duration)` | every `d`, emits the newest item of the period, if any; on completion, emits the pending one. |
//! | `debounce(d)` | `sampleTimeout` / RxJava `debounce` | emits an item only once `d` has passed without a newer one; on completion, emits the pending one at once. |
//! | `throttle(d)` | `sampleFirst(Duration)` (RxJava `throttleFirst`) | emits an item, then drops the items of the next `d`. |
//!
//! `sample` and `debounce` drop items by design, so they request the whole upstream (as
//! Reactor's do). Where Reactor fails with "could not emit value due to lack of requests",
//! these keep only the newest unrequested value (an `Overflow::Latest` sink) and deliver it when
//! the downstream asks. `throttle` drops in place and asks for one more item per dropped item,
//! so its upstream demand follows the downstream's.
//!
//! Every timer is a task on the runtime's timer wheel and every clock read uses the runtime's
//! clock, so under a paused clock (`start_paused`, `time::advance`) these operators are tested
//! instantly and deterministically. The timer tasks end with the subscription.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use spectrum_rt::time::{self, Instant, Sleep};
use spectrum_sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use spectrum_sync::{AtomicWaker, Mutex};

use super::terminal::sink_for;
use crate::drain::{Serialized, UpstreamSlot};
use crate::source::{FluxSink, Overflow};
use crate::spec::{Publisher, Subscriber, Subscription, UNBOUNDED};
use crate::{ErrorKind, Flux, StreamError};

/// The runtime's clock as seen by an operator: captured at subscription, so that items pushed
/// from threads that have not entered the runtime are timed on the same (possibly paused,
/// virtual) clock as the operator's timers.
#[derive(Clone, Debug)]
pub(crate) struct Clock(Option<spectrum_rt::Handle>);

impl Clock {
    pub(crate) fn capture() -> Self {
        Clock(spectrum_rt::Handle::try_current().ok())
    }

    pub(crate) fn now(&self) -> Instant {
        if let Some(t) = time::try_now() {
            return t;
        }
        if let Some(h) = &self.0 {
            let _entered = h.enter();
            if let Some(t) = time::try_now() {
                return t;
            }
        }
        Instant::now()
    }
}

fn spawn_timer<F: Future<Output = ()> + Send + 'static>(name: &'static str, f: F) -> bool {
    match spectrum_rt::Handle::try_current() {
        Ok(h) => {
            spectrum_rt::task::Builder::new()
                .name(name)
                .spawn_on(f, &h)
                .detach();
            true
        }
        Err(_) => false,
    }
}

fn no_runtime(what: &str) -> StreamError {
    StreamError::with_kind(
        ErrorKind::NoRuntime,
        format!("{what}: needs a Spectrum runtime for its timer"),
    )
}

/// A sleep that is re-armed when its deadline changes.
struct Alarm {
    sleep: Option<(Instant, Pin<Box<Sleep>>)>,
}

impl Alarm {
    fn poll_at(&mut self, deadline: Instant, cx: &mut Context<'_>) -> Poll<()> {
        if self.sleep.as_ref().map(|s| s.0) != Some(deadline) {
            self.sleep = Some((deadline, Box::pin(time::sleep_until(deadline))));
        }
        self.sleep.as_mut().expect("just set").1.as_mut().poll(cx)
    }
}

// ----- timeout -------------------------------------------------------------------------------

/// The publisher of [`Flux::timeout`].
#[derive(Clone, Debug)]
pub struct Timeout<P> {
    source: P,
    period: Duration,
}

struct ToShared<T, S> {
    ser: Serialized<T, S>,
    index: AtomicU64,
    last: Mutex<Instant>,
    done: AtomicBool,
    waker: AtomicWaker,
    upstream: UpstreamSlot,
    period: Duration,
    clock: Clock,
}

impl<T, S> ToShared<T, S> {
    fn stop(&self) {
        self.done.store(true, Release);
        self.waker.wake();
    }
}

struct ToSubscription<T, S> {
    shared: Arc<ToShared<T, S>>,
}

impl<T: Send + 'static, S: Subscriber<T>> Subscription for ToSubscription<T, S> {
    fn request(&self, n: u64) {
        self.shared.upstream.request(n)
    }
    fn cancel(&self) {
        self.shared.stop();
        self.shared.upstream.cancel();
        self.shared.ser.drop_subscriber();
    }
}

struct ToSubscriber<T, S> {
    shared: Arc<ToShared<T, S>>,
}

impl<T: Send + 'static, S: Subscriber<T>> Subscriber<T> for ToSubscriber<T, S> {
    fn on_subscribe(&mut self, up: Arc<dyn Subscription>) {
        if self.shared.upstream.set(up) {
            let me = Arc::new(ToSubscription {
                shared: self.shared.clone(),
            });
            if !self.shared.ser.on_subscribe(me) {
                self.shared.stop();
                self.shared.upstream.cancel();
            }
        }
    }
    fn on_next(&mut self, v: T) {
        if self.shared.done.load(Acquire) {
            return;
        }
        *self.shared.last.lock() = self.shared.clock.now();
        self.shared.index.fetch_add(1, AcqRel);
        if !self.shared.ser.next(v) {
            self.shared.stop();
            self.shared.upstream.cancel();
        }
    }
    fn on_error(&mut self, e: StreamError) {
        self.shared.upstream.clear();
        self.shared.stop();
        self.shared.ser.error(e);
    }
    fn on_complete(&mut self) {
        self.shared.upstream.clear();
        self.shared.stop();
        self.shared.ser.complete();
    }
}

struct ToTimer<T, S> {
    shared: Arc<ToShared<T, S>>,
    alarm: Alarm,
}

impl<T: Send + 'static, S: Subscriber<T>> Future for ToTimer<T, S> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let sh = this.shared.clone();
        sh.waker.register(cx.waker());
        loop {
            if sh.done.load(Acquire) {
                return Poll::Ready(());
            }
            let idx = sh.index.load(Acquire);
            let deadline = *sh.last.lock() + sh.period;
            if this.alarm.poll_at(deadline, cx).is_pending() {
                return Poll::Pending;
            }
            if sh.index.load(Acquire) == idx && !sh.done.swap(true, AcqRel) {
                sh.upstream.cancel();
                sh.ser.error(StreamError::timeout(sh.period));
                return Poll::Ready(());
            }
        }
    }
}

impl<P: Publisher> Publisher for Timeout<P> {
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item>>(&self, s: S) {
        let clock = Clock::capture();
        let shared = Arc::new(ToShared {
            ser: Serialized::new(s),
            index: AtomicU64::new(0),
            last: Mutex::new(clock.now()),
            clock,
            done: AtomicBool::new(false),
            waker: AtomicWaker::new(),
            upstream: UpstreamSlot::new(),
            period: self.period,
        });
        let timer = ToTimer {
            shared: shared.clone(),
            alarm: Alarm { sleep: None },
        };
        if !spawn_timer("spectrum-stream timeout", timer) {
            shared
                .ser
                .on_subscribe(Arc::new(crate::ops::NoopSubscription));
            shared.ser.error(no_runtime("timeout"));
            return;
        }
        self.source.subscribe(ToSubscriber { shared });
    }
}

// ----- sample and debounce -------------------------------------------------------------------

struct Lossy<T> {
    st: Mutex<LossyState<T>>,
    sink: FluxSink<T>,
    upstream: UpstreamSlot,
    waker: AtomicWaker,
    stop: AtomicBool,
    period: Duration,
    clock: Clock,
}

struct LossyState<T> {
    pending: Option<T>,
    deadline: Option<Instant>,
}

impl<T: Send + 'static> Lossy<T> {
    fn new(sink: FluxSink<T>, period: Duration) -> Arc<Self> {
        let me = Arc::new(Lossy {
            st: Mutex::new(LossyState {
                pending: None,
                deadline: None,
            }),
            sink: sink.clone(),
            upstream: UpstreamSlot::new(),
            waker: AtomicWaker::new(),
            stop: AtomicBool::new(false),
            period,
            clock: Clock::capture(),
        });
        let hook = me.clone();
        sink.on_cancel(move || {
            hook.upstream.cancel();
            hook.halt();
        });
        me
    }
    fn halt(&self) {
        self.stop.store(true, Release);
        self.waker.wake();
    }
}

struct LossySubscriber<T> {
    shared: Arc<Lossy<T>>,
    debounce: bool,
}

impl<T: Send + 'static> Subscriber<T> for LossySubscriber<T> {
    fn on_subscribe(&mut self, up: Arc<dyn Subscription>) {
        if self.shared.upstream.set(up.clone()) {
            up.request(UNBOUNDED);
        }
    }
    fn on_next(&mut self, v: T) {
        let sh = &*self.shared;
        let mut st = sh.st.lock();
        st.pending = Some(v);
        if self.debounce {
            st.deadline = Some(sh.clock.now() + sh.period);
            drop(st);
            sh.waker.wake();
        }
    }
    fn on_error(&mut self, e: StreamError) {
        self.shared.upstream.clear();
        self.shared.st.lock().pending = None;
        self.shared.sink.error(e);
        self.shared.halt();
    }
    fn on_complete(&mut self) {
        self.shared.upstream.clear();
        let last = self.shared.st.lock().pending.take();
        if let Some(v) = last {
            self.shared.sink.next(v);
        }
        self.shared.sink.complete();
        self.shared.halt();
    }
}

struct LossyTimer<T> {
    shared: Arc<Lossy<T>>,
    debounce: bool,
    alarm: Alarm,
    next_tick: Option<Instant>,
}

impl<T: Send + 'static> Future for LossyTimer<T> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let sh = this.shared.clone();
        sh.waker.register(cx.waker());
        loop {
            if sh.stop.load(Acquire) {
                return Poll::Ready(());
            }
            let deadline = if this.debounce {
                match sh.st.lock().deadline {
                    Some(d) => d,
                    None => return Poll::Pending,
                }
            } else {
                *this
                    .next_tick
                    .get_or_insert_with(|| sh.clock.now() + sh.period)
            };
            if this.alarm.poll_at(deadline, cx).is_pending() {
                return Poll::Pending;
            }
            let out = {
                let mut st = sh.st.lock();
                if this.debounce {
                    if st.deadline == Some(deadline) {
                        st.deadline = None;
                        st.pending.take()
                    } else {
                        None
                    }
                } else {
                    this.next_tick = Some(deadline + sh.period);
                    st.pending.take()
                }
            };
            if let Some(v) = out {
                sh.sink.next(v);
            }
        }
    }
}

/// The publisher of [`Flux::sample`] and [`Flux::debounce`].
#[derive(Clone, Debug)]
pub struct Sample<P> {
    source: P,
    period: Duration,
    debounce: bool,
}

impl<P: Publisher> Publisher for Sample<P> {
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item>>(&self, s: S) {
        let name = if self.debounce { "debounce" } else { "sample" };
        let sink = sink_for(Overflow::Latest, name, s);
        let shared = Lossy::new(sink.clone(), self.period);
        let timer = LossyTimer {
            shared: shared.clone(),
            debounce: self.debounce,
            alarm: Alarm { sleep: None },
            next_tick: None,
        };
        if !spawn_timer("spectrum-stream sample/debounce", timer) {
            sink.error(no_runtime(name));
            return;
        }
        self.source.subscribe(LossySubscriber {
            shared,
            debounce: self.debounce,
        });
    }
}

// ----- throttle ------------------------------------------------------------------------------

/// The publisher of [`Flux::throttle`].
#[derive(Clone, Debug)]
pub struct Throttle<P> {
    source: P,
    period: Duration,
}

struct ThrottleSubscriber<S> {
    s: S,
    clock: Clock,
    period: Duration,
    last: Option<Instant>,
    upstream: Option<Arc<dyn Subscription>>,
}

impl<T: Send + 'static, S: Subscriber<T>> Subscriber<T> for ThrottleSubscriber<S> {
    fn on_subscribe(&mut self, up: Arc<dyn Subscription>) {
        self.upstream = Some(up.clone());
        self.s.on_subscribe(up)
    }
    fn on_next(&mut self, v: T) {
        let t = self.clock.now();
        if self
            .last
            .is_none_or(|l| t.saturating_duration_since(l) >= self.period)
        {
            self.last = Some(t);
            self.s.on_next(v)
        } else if let Some(up) = &self.upstream {
            up.request(1);
        }
    }
    fn on_error(&mut self, e: StreamError) {
        self.s.on_error(e)
    }
    fn on_complete(&mut self) {
        self.s.on_complete()
    }
}

impl<P: Publisher> Publisher for Throttle<P> {
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item>>(&self, s: S) {
        self.source.subscribe(ThrottleSubscriber {
            s,
            clock: Clock::capture(),
            period: self.period,
            last: None,
            upstream: None,
        })
    }
}

impl<P: Publisher> Flux<P> {
    /// Fails if an item (or the end) takes longer than `period` to arrive (Reactor's
    /// `timeout(Duration)`).
    ///
    /// # Panics
    ///
    /// If `period` is zero.
    pub fn timeout(self, period: Duration) -> Flux<Timeout<P>> {
        assert!(!period.is_zero(), "timeout: period must be non-zero");
        crate::flux::wrap(Timeout {
            source: self.inner,
            period,
        })
    }

    /// Every `period`, the newest item of that period (Reactor's `sample(Duration)`).
    ///
    /// # Panics
    ///
    /// If `period` is zero.
    pub fn sample(self, period: Duration) -> Flux<Sample<P>> {
        assert!(!period.is_zero(), "sample: period must be non-zero");
        crate::flux::wrap(Sample {
            source: self.inner,
            period,
            debounce: false,
        })
    }

    /// Emits an item once `period` has passed without a newer one (RxJava's `debounce`,
    /// Reactor's `sampleTimeout` with a fixed delay).
    ///
    /// # Panics
    ///
    /// If `period` is zero.
    pub fn debounce(self, period: Duration) -> Flux<Sample<P>> {
        assert!(!period.is_zero(), "debounce: period must be non-zero");
        crate::flux::wrap(Sample {
            source: self.inner,
            period,
            debounce: true,
        })
    }

    /// Emits an item, then drops the items of the following `period` (Reactor's
    /// `sampleFirst`, RxJava's `throttleFirst`).
    pub fn throttle(self, period: Duration) -> Flux<Throttle<P>> {
        crate::flux::wrap(Throttle {
            source: self.inner,
            period,
        })
    }
}
