//! `buffer(count)`, `buffer_timeout(count, period)` (count or time, whichever first) and
//! `buffer_time(period)`: items gathered into `Vec`s.
//!
//! - `buffer(n)` is Reactor's `buffer(int)`: a request for `k` buffers becomes a request for
//!   `k × n` items upstream; the last, partial buffer is emitted on completion.
//! - `buffer_timeout(n, d)` is Reactor's `bufferTimeout(n, d)` with its `fairBackpressure`
//!   mode: a buffer is emitted when it holds `n` items or `d` after its first item, whichever
//!   comes first, and only when the downstream has demand for it (if it has none when the time
//!   is up, the buffer keeps filling up to `n` and the timer re-arms). The upstream is asked for
//!   `n` items up front and for as many again as each emitted buffer held, so at most `n`
//!   items are ever held: bounded whatever the downstream does.
//! - `buffer_time(d)` is Reactor's `buffer(Duration)`: the items of each period `d` (from the
//!   first item); it requests the whole upstream, as Reactor's does: bound it with
//!   `buffer_timeout` when the source can outrun the period.
//!
//! Time is the runtime's clock, so a paused test clock drives these deterministically.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use spectrum_rt::time::{self, Instant, Sleep};
use spectrum_sync::atomic::{AtomicBool, Ordering::*};
use spectrum_sync::{AtomicWaker, Mutex};

use super::terminal::sink_for;
use crate::drain::UpstreamSlot;
use crate::source::{FluxSink, Overflow};
use crate::spec::{Publisher, Subscriber, Subscription, UNBOUNDED};
use crate::{Flux, StreamError};

/// The publisher of [`Flux::buffer`].
#[derive(Clone, Debug)]
pub struct Buffer<P> {
    source: P,
    count: usize,
}

/// Multiplies every request by `factor` (saturating): `k` buffers or windows of `n` need
/// `k × n` items.
pub(crate) struct ScaledSubscription {
    pub(crate) upstream: Arc<dyn Subscription>,
    pub(crate) factor: u64,
}

impl Subscription for ScaledSubscription {
    fn request(&self, n: u64) {
        self.upstream.request(n.saturating_mul(self.factor))
    }
    fn cancel(&self) {
        self.upstream.cancel()
    }
}

struct BufferSubscriber<S, T> {
    s: S,
    buf: Vec<T>,
    count: usize,
}

impl<T: Send + 'static, S: Subscriber<Vec<T>>> Subscriber<T> for BufferSubscriber<S, T> {
    fn on_subscribe(&mut self, up: Arc<dyn Subscription>) {
        self.s.on_subscribe(Arc::new(ScaledSubscription {
            upstream: up,
            factor: self.count as u64,
        }))
    }
    fn on_next(&mut self, v: T) {
        self.buf.push(v);
        if self.buf.len() == self.count {
            let full = std::mem::replace(&mut self.buf, Vec::with_capacity(self.count));
            self.s.on_next(full);
        }
    }
    fn on_error(&mut self, e: StreamError) {
        self.buf.clear();
        self.s.on_error(e)
    }
    fn on_complete(&mut self) {
        if !self.buf.is_empty() {
            let rest = std::mem::take(&mut self.buf);
            self.s.on_next(rest);
        }
        self.s.on_complete()
    }
}

impl<P: Publisher> Publisher for Buffer<P> {
    type Item = Vec<P::Item>;
    fn subscribe<S: Subscriber<Vec<P::Item>>>(&self, s: S) {
        self.source.subscribe(BufferSubscriber {
            s,
            buf: Vec::with_capacity(self.count.min(1024)),
            count: self.count,
        })
    }
}

/// The publisher of [`Flux::buffer_timeout`] and [`Flux::buffer_time`].
#[derive(Clone, Debug)]
pub struct BufferTimeout<P> {
    source: P,
    count: usize,
    period: Duration,
}

struct TimedState<T> {
    buf: Vec<T>,
    deadline: Option<Instant>,
    done: bool,
}

struct Timed<T> {
    st: Mutex<TimedState<T>>,
    sink: FluxSink<Vec<T>>,
    upstream: UpstreamSlot,
    waker: AtomicWaker,
    stop: AtomicBool,
    /// Demand arrived while the state was locked (so the buffer may be flushable now): whoever
    /// holds the lock checks this after releasing it.
    demand_missed: AtomicBool,
    count: usize,
    period: Duration,
    clock: super::time::Clock,
}

impl<T: Send + 'static> Timed<T> {
    /// Emits the buffer if there is demand for it. Call with the state locked, so buffers
    /// leave in order; returns how many items to request again upstream, which the caller
    /// does after unlocking (the upstream may emit synchronously into `on_next`).
    fn flush(&self, st: &mut TimedState<T>) -> Option<u64> {
        if st.buf.is_empty() || self.sink.requested() == 0 {
            return None;
        }
        let out = std::mem::take(&mut st.buf);
        let n = out.len() as u64;
        st.deadline = None;
        self.sink.next(out);
        Some(if self.count == usize::MAX { 0 } else { n })
    }

    fn replenish(&self, n: Option<u64>) {
        if let Some(n @ 1..) = n {
            self.upstream.request(n);
        }
    }

    /// New demand: flush a held-back buffer (full, or past its deadline), now or as soon as
    /// the current holder of the state lets go of it.
    fn demand_arrived(&self) {
        self.demand_missed.store(true, Release);
        self.after_unlock();
    }

    /// Call after releasing the state lock: serves demand that arrived meanwhile.
    fn after_unlock(&self) {
        while self.demand_missed.load(Acquire) {
            // If someone holds the lock, they call this after releasing it.
            let Some(mut st) = self.st.try_lock() else {
                return;
            };
            self.demand_missed.store(false, Release);
            let full = st.buf.len() >= self.count;
            let overdue = st.deadline.is_some_and(|d| d <= self.clock.now());
            let n = if full || overdue {
                self.flush(&mut st)
            } else {
                None
            };
            drop(st);
            self.replenish(n);
        }
    }
}

struct TimedSubscriber<T> {
    shared: Arc<Timed<T>>,
}

impl<T: Send + 'static> Subscriber<T> for TimedSubscriber<T> {
    fn on_subscribe(&mut self, up: Arc<dyn Subscription>) {
        if self.shared.upstream.set(up.clone()) {
            let first = if self.shared.count == usize::MAX {
                UNBOUNDED
            } else {
                self.shared.count as u64
            };
            up.request(first);
        }
    }
    fn on_next(&mut self, v: T) {
        let sh = &*self.shared;
        let mut st = sh.st.lock();
        if st.done {
            return;
        }
        if st.buf.is_empty() {
            st.deadline = Some(sh.clock.now() + sh.period);
            sh.waker.wake();
        }
        st.buf.push(v);
        let n = if st.buf.len() >= sh.count {
            sh.flush(&mut st)
        } else {
            None
        };
        drop(st);
        sh.replenish(n);
        sh.after_unlock();
    }
    fn on_error(&mut self, e: StreamError) {
        let sh = &*self.shared;
        sh.upstream.clear();
        let mut st = sh.st.lock();
        st.done = true;
        st.buf.clear();
        sh.sink.error(e);
        drop(st);
        sh.stop.store(true, Release);
        sh.waker.wake();
    }
    fn on_complete(&mut self) {
        let sh = &*self.shared;
        sh.upstream.clear();
        let mut st = sh.st.lock();
        st.done = true;
        if !st.buf.is_empty() {
            let rest = std::mem::take(&mut st.buf);
            sh.sink.next(rest); // waits in the sink for demand
        }
        sh.sink.complete();
        drop(st);
        sh.stop.store(true, Release);
        sh.waker.wake();
    }
}

/// The timer: sleeps until the current buffer's deadline, flushes it, and waits for the next.
struct Timer<T> {
    shared: Arc<Timed<T>>,
    sleep: Option<(Instant, Pin<Box<Sleep>>)>,
}

impl<T: Send + 'static> Future for Timer<T> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        this.shared.waker.register(cx.waker());
        loop {
            if this.shared.stop.load(Acquire) {
                return Poll::Ready(());
            }
            let deadline = this.shared.st.lock().deadline;
            // Every release of the state lock serves demand that arrived meanwhile.
            this.shared.after_unlock();
            let Some(deadline) = deadline else {
                this.sleep = None;
                return Poll::Pending;
            };
            if this.sleep.as_ref().map(|s| s.0) != Some(deadline) {
                this.sleep = Some((deadline, Box::pin(time::sleep_until(deadline))));
            }
            let (_, sleep) = this.sleep.as_mut().expect("just set");
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let sh = &*this.shared;
            let mut st = sh.st.lock();
            if st.deadline == Some(deadline) {
                let n = sh.flush(&mut st);
                if n.is_none() {
                    // No demand yet: try again one period later.
                    st.deadline = Some(deadline + sh.period);
                }
                drop(st);
                sh.replenish(n);
            } else {
                drop(st);
            }
            sh.after_unlock();
        }
    }
}

impl<P: Publisher> Publisher for BufferTimeout<P> {
    type Item = Vec<P::Item>;
    fn subscribe<S: Subscriber<Vec<P::Item>>>(&self, s: S) {
        let sink = sink_for(Overflow::Buffer(usize::MAX), "buffer_timeout", s);
        let shared = Arc::new(Timed {
            st: Mutex::new(TimedState {
                buf: Vec::new(),
                deadline: None,
                done: false,
            }),
            sink: sink.clone(),
            upstream: UpstreamSlot::new(),
            waker: AtomicWaker::new(),
            stop: AtomicBool::new(false),
            demand_missed: AtomicBool::new(false),
            count: self.count,
            period: self.period,
            clock: super::time::Clock::capture(),
        });
        // Demand arriving for a buffer that was held back (full, or overdue) flushes it. The
        // hook may run inside a push made under the state lock: it never blocks on it.
        let on_demand = Arc::downgrade(&shared);
        sink.set_on_demand(Arc::new(move || {
            if let Some(sh) = on_demand.upgrade() {
                sh.demand_arrived();
            }
        }));
        let on_cancel = shared.clone();
        sink.on_cancel(move || {
            on_cancel.upstream.cancel();
            on_cancel.stop.store(true, Release);
            on_cancel.waker.wake();
        });
        match spectrum_rt::Handle::try_current() {
            Ok(h) => spectrum_rt::task::Builder::new()
                .name("spectrum-stream buffer_timeout")
                .spawn_on(
                    Timer {
                        shared: shared.clone(),
                        sleep: None,
                    },
                    &h,
                )
                .detach(),
            Err(_) => {
                sink.error(StreamError::with_kind(
                    crate::ErrorKind::NoRuntime,
                    "buffer_timeout: needs a Spectrum runtime for its timer",
                ));
                return;
            }
        }
        self.source.subscribe(TimedSubscriber { shared });
    }
}

impl<P: Publisher> Flux<P> {
    /// Gathers items into `Vec`s of `count` (the last may be shorter) (Reactor's
    /// `buffer(int)`).
    ///
    /// # Panics
    ///
    /// If `count` is zero.
    pub fn buffer(self, count: usize) -> Flux<Buffer<P>> {
        assert!(count > 0, "buffer: count must be at least 1");
        crate::flux::wrap(Buffer {
            source: self.inner,
            count,
        })
    }

    /// Emits a `Vec` when it holds `count` items or `period` after its first item, whichever
    /// comes first (Reactor's `bufferTimeout`, fair-backpressure mode). At most `count` items
    /// are held.
    ///
    /// # Panics
    ///
    /// If `count` is zero or `period` is zero.
    pub fn buffer_timeout(self, count: usize, period: Duration) -> Flux<BufferTimeout<P>> {
        assert!(count > 0, "buffer_timeout: count must be at least 1");
        assert!(!period.is_zero(), "buffer_timeout: period must be non-zero");
        crate::flux::wrap(BufferTimeout {
            source: self.inner,
            count,
            period,
        })
    }

    /// Emits the items of each `period`, counted from the first item of each buffer
    /// (Reactor's `buffer(Duration)`); requests the whole upstream.
    ///
    /// # Panics
    ///
    /// If `period` is zero.
    pub fn buffer_time(self, period: Duration) -> Flux<BufferTimeout<P>> {
        assert!(!period.is_zero(), "buffer_time: period must be non-zero");
        crate::flux::wrap(BufferTimeout {
            source: self.inner,
            count: usize::MAX,
            period,
        })
    }
}
