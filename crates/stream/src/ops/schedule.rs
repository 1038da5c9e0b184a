//! `publish_on` and `subscribe_on`: moving a stream onto Spectrum's scheduler.
//!
//! An asynchronous boundary in a stream is a task (DESIGN.md §3.1), so it shows in task dumps
//! and leak checks like any other.
//!
//! - **`publish_on(prefetch)`** (Reactor's `publishOn(scheduler, prefetch)`): the upstream
//!   pushes into a bounded lock-free queue of `prefetch` slots (crossbeam's `ArrayQueue`, a
//!   Vyukov-style bounded MPMC ring); a consumer task delivers the items downstream. The
//!   upstream is asked for `prefetch` items first and for 75 % of that again each time that
//!   many have been delivered, so the queue never overflows. Signals downstream come from the
//!   consumer task, in order.
//! - **`subscribe_on`** (Reactor's `subscribeOn(scheduler)`, with requests routed to the
//!   worker as in Reactor's default `requestOnSeparateThread = true`): the upstream is
//!   subscribed from a new task, and every `request` from downstream is handed to that task,
//!   so a synchronous source (a `range`, an iterator) produces on that task, not on the thread
//!   that requested.
//!
//! `range.subscribe_on().publish_on()` thus puts producer and consumer on two tasks, which the
//! work-stealing scheduler spreads over two workers: the thread boundary that the benchmarks
//! measure.
//!
//! # The wake-up protocol (queue-drain with a task as the drainer)
//!
//! 1. Every producer of work (an item, a terminal signal, a request, a cancel) changes the
//!    state, then increments `wip`; the one that moves it from 0 wakes the task.
//! 2. The task reads `wip` (`missed`), does everything the state allows, then subtracts
//!    `missed`; if the result is not zero, more work arrived and it loops, otherwise it returns
//!    `Pending` (its waker is registered before the first read, so a later 0 → 1 finds it).
//! 3. After [`YIELD_AFTER`] items in one poll it wakes itself and yields, leaving `wip`
//!    non-zero so that producers do not wake it again meanwhile.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crossbeam_queue::ArrayQueue;
use spectrum_rt::Handle;
use spectrum_sync::atomic::{AtomicU64, AtomicU8, Ordering::*};
use spectrum_sync::{AtomicWaker, Mutex};

use crate::drain::{error_quietly, guard, produced, replenish_limit, request_add, UpstreamSlot};
use crate::spec::{Publisher, Subscriber, Subscription, UNBOUNDED};
use crate::{ErrorKind, Flux, StreamError};

/// Items a consumer task delivers in one poll before it yields its worker.
pub const YIELD_AFTER: u32 = 4096;

/// The largest `publish_on` prefetch (the queue is allocated up front).
pub const MAX_PREFETCH: usize = 1 << 20;

const CANCELLED: u8 = 1;
const BAD_REQUEST: u8 = 2;
const UP_DONE: u8 = 4;

fn no_runtime(what: &str) -> StreamError {
    StreamError::with_kind(
        ErrorKind::NoRuntime,
        format!("{what}: no Spectrum runtime: subscribe inside one, or pass a Handle"),
    )
}

/// The publisher of [`Flux::publish_on`].
#[derive(Clone, Debug)]
pub struct PublishOn<P> {
    source: P,
    handle: Option<Handle>,
    prefetch: usize,
}

struct PoShared<T> {
    queue: ArrayQueue<T>,
    requested: AtomicU64,
    wip: AtomicU64,
    flags: AtomicU8,
    error: Mutex<Option<StreamError>>,
    waker: AtomicWaker,
    upstream: UpstreamSlot,
}

impl<T> PoShared<T> {
    #[inline]
    fn signal(&self) {
        // AcqRel: publishes the state change (queue push, flag) to the task's drain pass.
        if self.wip.fetch_add(1, AcqRel) == 0 {
            self.waker.wake();
        }
    }
}

impl<T: Send> Subscription for PoShared<T> {
    fn request(&self, n: u64) {
        if n == 0 {
            self.flags.fetch_or(BAD_REQUEST, Release);
        } else if request_add(&self.requested, n) >= UNBOUNDED {
            return;
        }
        self.signal();
    }
    fn cancel(&self) {
        if self.flags.fetch_or(CANCELLED, Release) & CANCELLED == 0 {
            self.signal();
        }
    }
}

struct PoSubscriber<T> {
    shared: Arc<PoShared<T>>,
    prefetch: u64,
}

impl<T: Send + 'static> Subscriber<T> for PoSubscriber<T> {
    fn on_subscribe(&mut self, up: Arc<dyn Subscription>) {
        if self.shared.upstream.set(up.clone()) {
            up.request(self.prefetch);
        }
    }
    #[inline]
    fn on_next(&mut self, v: T) {
        if self.shared.queue.push(v).is_err() {
            // The upstream sent more than it was asked for (rule 1.1).
            self.shared.upstream.cancel();
            *self.shared.error.lock() = Some(StreamError::overflow(
                "publish_on",
                "the upstream emitted more than requested",
            ));
            self.shared.flags.fetch_or(UP_DONE, Release);
        }
        self.shared.signal();
    }
    fn on_error(&mut self, e: StreamError) {
        *self.shared.error.lock() = Some(e);
        self.shared.flags.fetch_or(UP_DONE, Release);
        self.shared.upstream.clear();
        self.shared.signal();
    }
    fn on_complete(&mut self) {
        self.shared.flags.fetch_or(UP_DONE, Release);
        self.shared.upstream.clear();
        self.shared.signal();
    }
}

struct Consumer<T, S> {
    shared: Arc<PoShared<T>>,
    s: Option<S>,
    consumed: u64,
    limit: u64,
}

impl<T, S> Unpin for Consumer<T, S> {}

enum Step {
    Idle,
    Yield,
    Done,
}

impl<T: Send + 'static, S: Subscriber<T>> Consumer<T, S> {
    fn finish(&mut self) {
        self.s = None;
        self.shared.upstream.cancel();
        while self.shared.queue.pop().is_some() {}
    }

    fn pass(&mut self, budget: &mut u32) -> Step {
        let sh = &*self.shared;
        let s = self.s.as_mut().expect("consumer runs until done");
        let flags = sh.flags.load(Acquire);
        if flags & CANCELLED != 0 {
            return Step::Done;
        }
        if flags & BAD_REQUEST != 0 {
            s.on_error(StreamError::bad_request());
            return Step::Done;
        }
        let r = sh.requested.load(Acquire);
        let mut e = 0u64;
        loop {
            if e == r && r < UNBOUNDED {
                break;
            }
            // Acquire before the pop: if the upstream was done before this load, every item it
            // pushed is visible to the pop below.
            let done = sh.flags.load(Acquire) & UP_DONE != 0;
            match sh.queue.pop() {
                Some(v) => {
                    s.on_next(v);
                    e += 1;
                    self.consumed += 1;
                    if self.consumed == self.limit {
                        self.consumed = 0;
                        sh.upstream.request(self.limit);
                    }
                    if sh.flags.load(Relaxed) & CANCELLED != 0 {
                        return Step::Done;
                    }
                    *budget = budget.saturating_sub(1);
                    if *budget == 0 {
                        produced(&sh.requested, e);
                        return Step::Yield;
                    }
                }
                None => {
                    if done {
                        return self.terminate();
                    }
                    break;
                }
            }
        }
        if e > 0 {
            produced(&sh.requested, e);
        }
        if sh.flags.load(Acquire) & UP_DONE != 0 && sh.queue.is_empty() {
            return self.terminate();
        }
        Step::Idle
    }

    fn terminate(&mut self) -> Step {
        let s = self.s.as_mut().expect("consumer runs until done");
        match self.shared.error.lock().take() {
            Some(e) => s.on_error(e),
            None => s.on_complete(),
        }
        Step::Done
    }
}

impl<T: Send + 'static, S: Subscriber<T>> Future for Consumer<T, S> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.s.is_none() {
            return Poll::Ready(());
        }
        self.shared.waker.register(cx.waker());
        // One budget for the whole poll, across passes: a producer that keeps the queue busy
        // must not keep this task on its worker forever.
        let mut budget = YIELD_AFTER;
        loop {
            let missed = self.shared.wip.load(Acquire);
            match guard(|| self.pass(&mut budget)) {
                Ok(Step::Idle) => {}
                Ok(Step::Yield) => {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Ok(Step::Done) => {
                    self.finish();
                    return Poll::Ready(());
                }
                Err(e) => {
                    if let Some(s) = self.s.as_mut() {
                        error_quietly(s, e);
                    }
                    self.finish();
                    return Poll::Ready(());
                }
            }
            if missed == 0 || self.shared.wip.fetch_sub(missed, AcqRel) == missed {
                if missed == 0 && self.shared.wip.load(Acquire) != 0 {
                    continue;
                }
                return Poll::Pending;
            }
            if budget == 0 {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
    }
}

impl<P: Publisher> Publisher for PublishOn<P> {
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item>>(&self, mut s: S) {
        let handle = match self.handle.clone().map_or_else(Handle::try_current, Ok) {
            Ok(h) => h,
            Err(_) => return crate::ops::reject(s, no_runtime("publish_on")),
        };
        let shared = Arc::new(PoShared {
            queue: ArrayQueue::new(self.prefetch),
            requested: AtomicU64::new(0),
            wip: AtomicU64::new(0),
            flags: AtomicU8::new(0),
            error: Mutex::new(None),
            waker: AtomicWaker::new(),
            upstream: UpstreamSlot::new(),
        });
        let me: Arc<dyn Subscription> = shared.clone();
        if let Err(e) = guard(|| s.on_subscribe(me)) {
            error_quietly(&mut s, e);
            return;
        }
        let consumer = Consumer {
            shared: shared.clone(),
            s: Some(s),
            consumed: 0,
            limit: replenish_limit(self.prefetch),
        };
        spectrum_rt::task::Builder::new()
            .name("spectrum-stream publish_on")
            .spawn_on(consumer, &handle)
            .detach();
        self.source.subscribe(PoSubscriber {
            shared,
            prefetch: self.prefetch as u64,
        });
    }
}

/// The publisher of [`Flux::subscribe_on`].
#[derive(Clone, Debug)]
pub struct SubscribeOn<P> {
    source: P,
    handle: Option<Handle>,
}

struct SoShared {
    pending: AtomicU64,
    flags: AtomicU8,
    waker: AtomicWaker,
    upstream: UpstreamSlot,
}

impl Subscription for SoShared {
    fn request(&self, n: u64) {
        if n == 0 {
            self.flags.fetch_or(BAD_REQUEST, Release);
        } else {
            request_add(&self.pending, n);
        }
        self.waker.wake();
    }
    fn cancel(&self) {
        if self.flags.fetch_or(CANCELLED, Release) & CANCELLED == 0 {
            self.waker.wake();
        }
    }
}

struct SoSubscriber<S> {
    s: S,
    shared: Arc<SoShared>,
}

impl<T: Send + 'static, S: Subscriber<T>> Subscriber<T> for SoSubscriber<S> {
    fn on_subscribe(&mut self, up: Arc<dyn Subscription>) {
        if self.shared.upstream.set(up) {
            self.s.on_subscribe(self.shared.clone());
        }
    }
    #[inline]
    fn on_next(&mut self, v: T) {
        self.s.on_next(v)
    }
    fn on_error(&mut self, e: StreamError) {
        self.shared.flags.fetch_or(UP_DONE, Release);
        self.shared.upstream.clear();
        self.shared.waker.wake();
        self.s.on_error(e)
    }
    fn on_complete(&mut self) {
        self.shared.flags.fetch_or(UP_DONE, Release);
        self.shared.upstream.clear();
        self.shared.waker.wake();
        self.s.on_complete()
    }
}

struct Requester<P, S> {
    start: Option<(P, S)>,
    shared: Arc<SoShared>,
}

impl<P, S> Unpin for Requester<P, S> {}

impl<P: Publisher, S: Subscriber<P::Item>> Future for Requester<P, S> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.shared.waker.register(cx.waker());
        if let Some((p, s)) = self.start.take() {
            p.subscribe(SoSubscriber {
                s,
                shared: self.shared.clone(),
            });
        }
        let sh = &*self.shared;
        loop {
            let flags = sh.flags.load(Acquire);
            if flags & CANCELLED != 0 {
                sh.upstream.cancel();
                return Poll::Ready(());
            }
            if flags & UP_DONE != 0 {
                return Poll::Ready(());
            }
            if flags & BAD_REQUEST != 0 {
                sh.flags.fetch_and(!BAD_REQUEST, AcqRel);
                sh.upstream.request(0); // the upstream reports it (rule 3.9)
                continue;
            }
            let n = sh.pending.swap(0, AcqRel);
            if n == 0 {
                return Poll::Pending;
            }
            sh.upstream.request(n);
        }
    }
}

impl<P: Publisher + Clone> Publisher for SubscribeOn<P> {
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item>>(&self, s: S) {
        let handle = match self.handle.clone().map_or_else(Handle::try_current, Ok) {
            Ok(h) => h,
            Err(_) => return crate::ops::reject(s, no_runtime("subscribe_on")),
        };
        let shared = Arc::new(SoShared {
            pending: AtomicU64::new(0),
            flags: AtomicU8::new(0),
            waker: AtomicWaker::new(),
            upstream: UpstreamSlot::new(),
        });
        spectrum_rt::task::Builder::new()
            .name("spectrum-stream subscribe_on")
            .spawn_on(
                Requester {
                    start: Some((self.source.clone(), s)),
                    shared,
                },
                &handle,
            )
            .detach();
    }
}

impl<P: Publisher> Flux<P> {
    /// Delivers the items from a task on the current Spectrum runtime (the one entered where
    /// `publish_on` is called, else the one entered where it is subscribed), with a queue of
    /// 256 (Reactor's `publishOn(scheduler)`, prefetch `Queues.SMALL_BUFFER_SIZE`).
    pub fn publish_on(self) -> Flux<PublishOn<P>> {
        self.publish_on_with(Handle::try_current().ok(), 256)
    }

    /// [`publish_on`](Flux::publish_on) onto `handle`'s runtime (or the current one), with a
    /// queue of `prefetch` items, replenished at 75 %.
    ///
    /// # Panics
    ///
    /// If `prefetch` is zero or above [`MAX_PREFETCH`].
    pub fn publish_on_with(self, handle: Option<Handle>, prefetch: usize) -> Flux<PublishOn<P>> {
        assert!(
            (1..=MAX_PREFETCH).contains(&prefetch),
            "publish_on: prefetch must be in 1..={MAX_PREFETCH} (got {prefetch})"
        );
        crate::flux::wrap(PublishOn {
            source: self.inner,
            handle,
            prefetch,
        })
    }

    /// Subscribes to the upstream from a task on the current runtime (as for
    /// [`publish_on`](Flux::publish_on)), and runs every request there (Reactor's
    /// `subscribeOn`).
    pub fn subscribe_on(self) -> Flux<SubscribeOn<P>>
    where
        P: Clone,
    {
        self.subscribe_on_handle(spectrum_rt::Handle::try_current().ok())
    }

    /// [`subscribe_on`](Flux::subscribe_on) onto `handle`'s runtime (or the current one).
    pub fn subscribe_on_handle(self, handle: Option<Handle>) -> Flux<SubscribeOn<P>>
    where
        P: Clone,
    {
        crate::flux::wrap(SubscribeOn {
            source: self.inner,
            handle,
        })
    }
}
