//! Aggregates and terminal operations: `reduce`, `collect`, `count`, `last` (each a
//! single-value [`Mono`]) and `for_each` (a future).
//!
//! The aggregates request the whole upstream (`request(UNBOUNDED)`, as Reactor's `reduce` and
//! `collectList` do: they hold one accumulator, not the items) and emit the result after the
//! upstream completes, when the downstream has requested it (Reactor's "deferred scalar").
//! `for_each` also requests everything and runs the function on the thread that emits; put a
//! `publish_on` before it to move the work onto a task.
//!
//! # Cancel safety
//!
//! Dropping a [`ForEach`] (or a [`MonoFuture`](crate::MonoFuture)) before it completes
//! cancels the subscription; the function is not called again after the drop returns, except
//! for a call already running on another thread.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use spectrum_sync::{AtomicWaker, Mutex};

use crate::drain::{opaque_debug, UpstreamSlot};
use crate::source::pull::subscribe_pull;
use crate::source::{FluxSink, Overflow};
use crate::spec::{Publisher, Subscriber, Subscription, UNBOUNDED};
use crate::{Flux, Mono, StreamError};

/// Subscribes `s` to a fresh sink (a buffered push source) and returns the sink: the way
/// operators that produce items on their own schedule (aggregates, timers) hand them to a
/// subscriber with demand and serial signals taken care of.
pub(crate) fn sink_for<T: Send + 'static, S: Subscriber<T>>(
    overflow: Overflow,
    name: &'static str,
    s: S,
) -> FluxSink<T> {
    let sink = FluxSink::new(overflow, name);
    attach(&sink, s);
    sink
}

/// Subscribes `s` to an existing sink's queue.
pub(crate) fn attach<T: Send + 'static, S: Subscriber<T>>(sink: &FluxSink<T>, s: S) {
    let sub = subscribe_pull(sink.source(), s);
    sink.attach(sub);
}

/// The publisher of [`Flux::reduce`], [`Flux::collect`], [`Flux::count`] and [`Flux::last`]:
/// folds every item into one value.
pub struct Reduce<P, I, F> {
    source: P,
    init: Arc<I>,
    f: Arc<F>,
}
opaque_debug!(Reduce<P, I, F>);
impl<P: Clone, I, F> Clone for Reduce<P, I, F> {
    fn clone(&self) -> Self {
        Reduce {
            source: self.source.clone(),
            init: self.init.clone(),
            f: self.f.clone(),
        }
    }
}

struct ReduceSubscriber<A, F> {
    sink: FluxSink<A>,
    acc: Option<A>,
    f: Arc<F>,
}

impl<P, I, A, F> Publisher for Reduce<P, I, F>
where
    P: Publisher,
    I: Fn() -> A + Send + Sync + 'static,
    A: Send + 'static,
    F: Fn(A, P::Item) -> A + Send + Sync + 'static,
{
    type Item = A;
    fn subscribe<S: Subscriber<A>>(&self, s: S) {
        let sink = sink_for(Overflow::Buffer(1), "reduce", s);
        self.source.subscribe(ReduceSubscriber {
            sink,
            acc: Some((self.init)()),
            f: self.f.clone(),
        })
    }
}

impl<T, A, F> Subscriber<T> for ReduceSubscriber<A, F>
where
    A: Send + 'static,
    F: Fn(A, T) -> A + Send + Sync + 'static,
{
    fn on_subscribe(&mut self, up: Arc<dyn Subscription>) {
        if self.sink.set_upstream(up.clone()) {
            up.request(UNBOUNDED);
        }
    }
    #[inline]
    fn on_next(&mut self, v: T) {
        if let Some(acc) = self.acc.take() {
            self.acc = Some((self.f)(acc, v));
        }
    }
    fn on_error(&mut self, e: StreamError) {
        self.acc = None;
        self.sink.clear_on_cancel();
        self.sink.error(e)
    }
    fn on_complete(&mut self) {
        self.sink.clear_on_cancel();
        if let Some(acc) = self.acc.take() {
            self.sink.next(acc);
        }
        self.sink.complete()
    }
}

/// The publisher of [`Flux::last`]: the last item, or nothing for an empty stream.
#[derive(Clone, Debug)]
pub struct Last<P> {
    source: P,
}

struct LastSubscriber<T> {
    sink: FluxSink<T>,
    last: Option<T>,
}

impl<P: Publisher> Publisher for Last<P> {
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item>>(&self, s: S) {
        let sink = sink_for(Overflow::Buffer(1), "last", s);
        self.source.subscribe(LastSubscriber { sink, last: None })
    }
}

impl<T: Send + 'static> Subscriber<T> for LastSubscriber<T> {
    fn on_subscribe(&mut self, up: Arc<dyn Subscription>) {
        if self.sink.set_upstream(up.clone()) {
            up.request(UNBOUNDED);
        }
    }
    fn on_next(&mut self, v: T) {
        self.last = Some(v);
    }
    fn on_error(&mut self, e: StreamError) {
        self.sink.clear_on_cancel();
        self.sink.error(e)
    }
    fn on_complete(&mut self) {
        self.sink.clear_on_cancel();
        if let Some(v) = self.last.take() {
            self.sink.next(v);
        }
        self.sink.complete()
    }
}

/// One subscription's outcome, shared between a subscriber and the future waiting for it.
pub(crate) struct Outcome<T> {
    pub(crate) result: Mutex<Option<Result<T, StreamError>>>,
    pub(crate) waker: AtomicWaker,
    pub(crate) upstream: UpstreamSlot,
}

impl<T> Outcome<T> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Outcome {
            result: Mutex::new(None),
            waker: AtomicWaker::new(),
            upstream: UpstreamSlot::new(),
        })
    }

    pub(crate) fn finish(&self, r: Result<T, StreamError>) {
        {
            let mut g = self.result.lock();
            if g.is_none() {
                *g = Some(r);
            }
        }
        self.upstream.clear();
        self.waker.wake();
    }

    pub(crate) fn poll_result(&self, cx: &mut Context<'_>) -> Poll<Result<T, StreamError>> {
        if let Some(r) = self.result.lock().take() {
            return Poll::Ready(r);
        }
        self.waker.register(cx.waker());
        match self.result.lock().take() {
            Some(r) => Poll::Ready(r),
            None => Poll::Pending,
        }
    }
}

/// The future of [`Flux::for_each`].
#[must_use = "futures do nothing unless polled"]
pub struct ForEach<P, F> {
    source: Option<P>,
    f: Option<F>,
    outcome: Arc<Outcome<()>>,
    done: bool,
}
opaque_debug!(ForEach<P, F>);

impl<P, F> Unpin for ForEach<P, F> {}

struct ForEachSubscriber<F> {
    f: F,
    outcome: Arc<Outcome<()>>,
}

impl<T, F> Subscriber<T> for ForEachSubscriber<F>
where
    F: FnMut(T) + Send + 'static,
{
    fn on_subscribe(&mut self, up: Arc<dyn Subscription>) {
        if self.outcome.upstream.set(up.clone()) {
            up.request(UNBOUNDED);
        }
    }
    #[inline]
    fn on_next(&mut self, v: T) {
        (self.f)(v)
    }
    fn on_error(&mut self, e: StreamError) {
        self.outcome.finish(Err(e))
    }
    fn on_complete(&mut self) {
        self.outcome.finish(Ok(()))
    }
}

impl<P, F> Future for ForEach<P, F>
where
    P: Publisher,
    F: FnMut(P::Item) + Send + 'static,
{
    type Output = Result<(), StreamError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let (Some(p), Some(f)) = (self.source.take(), self.f.take()) {
            self.outcome.waker.register(cx.waker());
            p.subscribe(ForEachSubscriber {
                f,
                outcome: self.outcome.clone(),
            });
        }
        let r = self.outcome.poll_result(cx);
        if r.is_ready() {
            self.done = true;
        }
        r
    }
}

impl<P, F> Drop for ForEach<P, F> {
    fn drop(&mut self) {
        if !self.done {
            self.outcome.upstream.cancel();
        }
    }
}

impl<P: Publisher> Flux<P> {
    /// Folds every item into `init` with `f` and emits the result once the upstream completes
    /// (Reactor's `reduce(initial, accumulator)`). Requests everything from upstream.
    #[allow(clippy::type_complexity)]
    pub fn reduce<A, F>(
        self,
        init: A,
        f: F,
    ) -> Mono<Reduce<P, impl Fn() -> A + Send + Sync + 'static, F>>
    where
        A: Clone + Send + Sync + 'static,
        F: Fn(A, P::Item) -> A + Send + Sync + 'static,
    {
        self.reduce_with(move || init.clone(), f)
    }

    /// As [`reduce`](Flux::reduce), with the initial value made by `init` for each
    /// subscription (Reactor's `reduceWith`).
    pub fn reduce_with<A, I, F>(self, init: I, f: F) -> Mono<Reduce<P, I, F>>
    where
        I: Fn() -> A + Send + Sync + 'static,
        A: Send + 'static,
        F: Fn(A, P::Item) -> A + Send + Sync + 'static,
    {
        Mono::wrap(Reduce {
            source: self.inner,
            init: Arc::new(init),
            f: Arc::new(f),
        })
    }

    /// Collects every item into a `C` (Reactor's `collectList`, for any `Default + Extend`
    /// collection).
    #[allow(clippy::type_complexity)]
    pub fn collect<C>(
        self,
    ) -> Mono<Reduce<P, fn() -> C, impl Fn(C, P::Item) -> C + Send + Sync + 'static>>
    where
        C: Default + Extend<P::Item> + Send + 'static,
    {
        self.reduce_with(C::default as fn() -> C, |mut c: C, v| {
            c.extend(std::iter::once(v));
            c
        })
    }

    /// Counts the items (Reactor's `count`).
    #[allow(clippy::type_complexity)]
    pub fn count(
        self,
    ) -> Mono<Reduce<P, fn() -> u64, impl Fn(u64, P::Item) -> u64 + Send + Sync + 'static>> {
        self.reduce_with((|| 0) as fn() -> u64, |n, _| n + 1)
    }

    /// The last item, or nothing for an empty stream (Reactor's `last`, without the error on
    /// empty).
    pub fn last(self) -> Mono<Last<P>> {
        Mono::wrap(Last { source: self.inner })
    }

    /// Runs `f` on every item, requesting everything (Reactor's `subscribe(consumer)`), and
    /// resolves when the stream ends.
    ///
    /// # Errors
    ///
    /// The stream's error; a panic in `f` arrives as [`StreamError::is_panic`].
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels the subscription.
    pub fn for_each<F>(self, f: F) -> ForEach<P, F>
    where
        F: FnMut(P::Item) + Send + 'static,
    {
        ForEach {
            source: Some(self.inner),
            f: Some(f),
            outcome: Outcome::new(),
            done: false,
        }
    }
}
