//! [`Mono`]: a publisher of at most one item (Reactor's `Mono`), awaitable.
//!
//! `Mono<P>` wraps a publisher that emits zero or one item. It is what aggregates return
//! (`reduce`, `collect`, `count`, `last`) and what a future becomes
//! ([`Mono::from_future`]). `.await` on it subscribes, requests the item and resolves to
//! `Ok(Some(item))`, `Ok(None)` for an empty `Mono`, or the error. [`Mono::flux`] gives the full
//! operator set.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::ops::terminal::Outcome;
use crate::source::{Just, Terminal};
use crate::spec::{Publisher, Subscriber, Subscription, UNBOUNDED};
use crate::{Flux, StreamError};

/// A publisher of at most one item; `.await` it for the item.
///
/// ```
/// # spectrum_rt::Runtime::new().unwrap().block_on(async {
/// use spectrum_stream::Mono;
/// let m = Mono::from_future(async { 6 * 7 }).map(|x| x + 1);
/// assert_eq!(m.await.unwrap(), Some(43));
/// # });
/// ```
#[derive(Clone, Debug)]
#[must_use = "a Mono does nothing until it is subscribed or awaited"]
pub struct Mono<P> {
    pub(crate) inner: P,
}

impl<P: Publisher> Publisher for Mono<P> {
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item>>(&self, subscriber: S) {
        self.inner.subscribe(subscriber)
    }
    fn scalar(&self) -> Option<P::Item> {
        self.inner.scalar()
    }
}

impl<P> Mono<P> {
    pub(crate) fn wrap(inner: P) -> Self {
        Mono { inner }
    }

    /// Treats `publisher` as a `Mono`: only its first item counts.
    pub fn from_publisher(publisher: P) -> Self {
        Mono { inner: publisher }
    }

    /// The full operator set.
    pub fn flux(self) -> Flux<P> {
        Flux::from_publisher(self.inner)
    }
}

impl<T: Clone + Send + Sync + 'static> Mono<Just<T>> {
    /// One item (Reactor's `Mono.just`).
    pub fn just(value: T) -> Self {
        Mono {
            inner: Just::new(value),
        }
    }
}

impl<T: Send + 'static> Mono<Terminal<T>> {
    /// No item (Reactor's `Mono.empty`).
    pub fn empty() -> Self {
        Mono {
            inner: Terminal::empty(),
        }
    }

    /// Fails with `error` (Reactor's `Mono.error`).
    pub fn error(error: StreamError) -> Self {
        Mono {
            inner: Terminal::error(error),
        }
    }
}

impl<P: Publisher> Mono<P> {
    /// Transforms the item (Reactor's `Mono.map`).
    pub fn map<U, F>(self, f: F) -> Mono<crate::ops::Map<P, F>>
    where
        F: Fn(P::Item) -> U + Send + Sync + 'static,
        U: Send + 'static,
    {
        Mono {
            inner: Flux::from_publisher(self.inner).map(f).inner,
        }
    }
}

impl<P: Publisher> IntoFuture for Mono<P> {
    type Output = Result<Option<P::Item>, StreamError>;
    type IntoFuture = MonoFuture<P>;
    fn into_future(self) -> MonoFuture<P> {
        MonoFuture {
            source: Some(self.inner),
            outcome: Outcome::new(),
            done: false,
        }
    }
}

/// The future of an awaited [`Mono`].
///
/// # Cancel safety
///
/// Dropping it before it resolves cancels the subscription.
#[must_use = "futures do nothing unless polled"]
pub struct MonoFuture<P: Publisher> {
    source: Option<P>,
    outcome: Arc<Outcome<Option<P::Item>>>,
    done: bool,
}

impl<P: Publisher> std::fmt::Debug for MonoFuture<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MonoFuture")
    }
}

impl<P: Publisher> Unpin for MonoFuture<P> {}

struct MonoSubscriber<T> {
    value: Option<T>,
    outcome: Arc<Outcome<Option<T>>>,
}

impl<T: Send + 'static> Subscriber<T> for MonoSubscriber<T> {
    fn on_subscribe(&mut self, up: Arc<dyn Subscription>) {
        if self.outcome.upstream.set(up.clone()) {
            up.request(UNBOUNDED);
        }
    }
    fn on_next(&mut self, v: T) {
        if self.value.is_none() {
            self.value = Some(v);
        }
    }
    fn on_error(&mut self, e: StreamError) {
        self.outcome.finish(Err(e))
    }
    fn on_complete(&mut self) {
        self.outcome.finish(Ok(self.value.take()))
    }
}

impl<P: Publisher> Future for MonoFuture<P> {
    type Output = Result<Option<P::Item>, StreamError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(p) = self.source.take() {
            self.outcome.waker.register(cx.waker());
            p.subscribe(MonoSubscriber {
                value: None,
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

impl<P: Publisher> Drop for MonoFuture<P> {
    fn drop(&mut self) {
        if !self.done {
            self.outcome.upstream.cancel();
        }
    }
}
