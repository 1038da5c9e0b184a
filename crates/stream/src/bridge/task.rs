//! Asynchronous sources run as a Spectrum task per subscription: the bridge from `Future` and
//! `Stream` land into demand land.
//!
//! # Invariants
//!
//! 1. The task owns the subscriber; only the task signals it (after the `on_subscribe` that
//!    `subscribe` delivers on the caller's thread before spawning: the spawn is the
//!    happens-before edge).
//! 2. `requested` is the *cumulative* demand (saturating at [`UNBOUNDED`]); the task counts what
//!    it emitted and polls the source only while `emitted < requested`. A source is never
//!    polled without demand, so a bounded channel behind it fills up and its senders wait:
//!    backpressure crosses the bridge.
//! 3. `request` and `cancel` change the atomics and then wake the task through `waker`; the
//!    task registers its waker before it reads them, so no wake-up is lost.
//! 4. The task yields after [`BATCH`] items in one poll so that a ready source cannot hold a
//!    worker (Spectrum's cooperative budget idea).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use spectrum_sync::atomic::{AtomicU64, AtomicU8, Ordering::*};
use spectrum_sync::AtomicWaker;

use crate::drain::{error_quietly, guard, request_add};
use crate::spec::{Subscriber, Subscription, UNBOUNDED};
use crate::{ErrorKind, StreamError};

/// Items delivered in one poll before the task yields.
pub(crate) const BATCH: u32 = 256;

const CANCELLED: u8 = 1;
const BAD_REQUEST: u8 = 2;

/// Something the task can poll for items.
pub(crate) trait AsyncSource: Send + 'static {
    type Item: Send + 'static;
    /// `Ready(None)` ends the stream.
    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Self::Item, StreamError>>>;
}

pub(crate) struct TaskDemand {
    requested: AtomicU64,
    flags: AtomicU8,
    waker: AtomicWaker,
}

impl Subscription for TaskDemand {
    fn request(&self, n: u64) {
        if n == 0 {
            self.flags.fetch_or(BAD_REQUEST, Release);
        } else if request_add(&self.requested, n) >= UNBOUNDED {
            return;
        }
        self.waker.wake();
    }
    fn cancel(&self) {
        if self.flags.fetch_or(CANCELLED, Release) & CANCELLED == 0 {
            self.waker.wake();
        }
    }
}

/// Subscribes `s` to `source`, driven by a task spawned on the current Spectrum runtime.
/// Without a runtime the subscriber gets `on_error(NoRuntime)` after `on_subscribe`.
pub(crate) fn spawn_source<A: AsyncSource, S: Subscriber<A::Item>>(source: A, mut s: S) {
    let demand = Arc::new(TaskDemand {
        requested: AtomicU64::new(0),
        flags: AtomicU8::new(0),
        waker: AtomicWaker::new(),
    });
    if let Err(e) = guard(|| s.on_subscribe(demand.clone())) {
        error_quietly(&mut s, e);
        return;
    }
    let handle = match spectrum_rt::Handle::try_current() {
        Ok(h) => h,
        Err(_) => {
            if demand.flags.load(Acquire) & CANCELLED == 0 {
                error_quietly(
                    &mut s,
                    StreamError::with_kind(
                        ErrorKind::NoRuntime,
                        "this source runs as a Spectrum task: subscribe inside a Spectrum runtime",
                    ),
                );
            }
            return;
        }
    };
    let task = SourceTask {
        source,
        s: Some(s),
        demand,
        emitted: 0,
    };
    spectrum_rt::task::Builder::new()
        .name("spectrum-stream source")
        .spawn_on(task, &handle)
        .detach();
}

struct SourceTask<A, S> {
    source: A,
    s: Option<S>,
    demand: Arc<TaskDemand>,
    emitted: u64,
}

impl<A, S> Unpin for SourceTask<A, S> {}

impl<A: AsyncSource, S: Subscriber<A::Item>> Future for SourceTask<A, S> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let Some(s) = this.s.as_mut() else {
            return Poll::Ready(());
        };
        this.demand.waker.register(cx.waker());
        let mut budget = BATCH;
        loop {
            let flags = this.demand.flags.load(Acquire);
            if flags & CANCELLED != 0 {
                this.s = None;
                return Poll::Ready(());
            }
            if flags & BAD_REQUEST != 0 {
                this.demand.flags.fetch_or(CANCELLED, Relaxed);
                error_quietly(s, StreamError::bad_request());
                this.s = None;
                return Poll::Ready(());
            }
            let r = this.demand.requested.load(Acquire);
            if r < UNBOUNDED && this.emitted >= r {
                return Poll::Pending;
            }
            if budget == 0 {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            budget -= 1;
            let polled = guard(|| this.source.poll_item(cx));
            let step = match polled {
                Ok(Poll::Pending) => return Poll::Pending,
                Ok(Poll::Ready(Some(Ok(v)))) => guard(|| s.on_next(v)).map(|_| false),
                Ok(Poll::Ready(Some(Err(e)))) => {
                    error_quietly(s, e);
                    Ok(true)
                }
                Ok(Poll::Ready(None)) => {
                    let _ = guard(|| s.on_complete());
                    Ok(true)
                }
                Err(e) => {
                    // The source itself panicked.
                    error_quietly(s, e);
                    Ok(true)
                }
            };
            match step {
                Ok(false) => this.emitted += 1,
                Ok(true) => {
                    this.s = None;
                    return Poll::Ready(());
                }
                Err(e) => {
                    this.demand.flags.fetch_or(CANCELLED, Relaxed);
                    error_quietly(s, e);
                    this.s = None;
                    return Poll::Ready(());
                }
            }
        }
    }
}
