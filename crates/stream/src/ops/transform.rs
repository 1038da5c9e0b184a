//! Item-by-item operators: `map`, `filter`, `filter_map`, `scan`, `distinct_until_changed`.
//!
//! These run inside the upstream's emission loop: no queue, no task, no lock. The subscription
//! is passed through unchanged, so demand reaches the source as the subscriber wrote it; an
//! operator that swallows an item (`filter`, `filter_map`, `distinct_until_changed`) requests
//! one more in its place, as Reactor does, so the downstream gets what it asked for. A request
//! that finds the source already unbounded costs one atomic load.
//!
//! The functions are `Fn + Send + Sync` and shared by every subscription (Reactor's lambdas
//! are shared the same way); per-subscription state (`scan`'s accumulator, the last item of
//! `distinct_until_changed`) lives in the subscriber. A panic in a function reaches the
//! nearest emission loop upstream, which cancels the source and delivers
//! `on_error(Panicked)` downstream: Reactor's "an operator function that throws signals
//! `onError`".

use std::sync::Arc;

use crate::drain::opaque_debug;
use crate::spec::{Publisher, Subscriber, Subscription};
use crate::{Flux, StreamError};

macro_rules! forward_terminal {
    () => {
        #[inline]
        fn on_error(&mut self, e: StreamError) {
            self.s.on_error(e)
        }
        #[inline]
        fn on_complete(&mut self) {
            self.s.on_complete()
        }
    };
}

/// The publisher of [`Flux::map`].
pub struct Map<P, F> {
    source: P,
    f: Arc<F>,
}
opaque_debug!(Map<P, F>);
impl<P: Clone, F> Clone for Map<P, F> {
    fn clone(&self) -> Self {
        Map {
            source: self.source.clone(),
            f: self.f.clone(),
        }
    }
}

struct MapSubscriber<S, F> {
    s: S,
    f: Arc<F>,
}

impl<P, F, U> Publisher for Map<P, F>
where
    P: Publisher,
    F: Fn(P::Item) -> U + Send + Sync + 'static,
    U: Send + 'static,
{
    type Item = U;
    fn subscribe<S: Subscriber<U>>(&self, s: S) {
        self.source.subscribe(MapSubscriber {
            s,
            f: self.f.clone(),
        })
    }
    fn scalar(&self) -> Option<U> {
        self.source.scalar().map(|v| (self.f)(v))
    }
}

impl<T, U, S, F> Subscriber<T> for MapSubscriber<S, F>
where
    S: Subscriber<U>,
    F: Fn(T) -> U + Send + Sync + 'static,
{
    #[inline]
    fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
        self.s.on_subscribe(s)
    }
    #[inline]
    fn on_next(&mut self, v: T) {
        self.s.on_next((self.f)(v))
    }
    forward_terminal!();
}

/// The publisher of [`Flux::filter`] and [`Flux::filter_map`].
pub struct FilterMap<P, F> {
    source: P,
    f: Arc<F>,
}
opaque_debug!(FilterMap<P, F>);
impl<P: Clone, F> Clone for FilterMap<P, F> {
    fn clone(&self) -> Self {
        FilterMap {
            source: self.source.clone(),
            f: self.f.clone(),
        }
    }
}

struct FilterMapSubscriber<S, F> {
    s: S,
    f: Arc<F>,
    upstream: Option<Arc<dyn Subscription>>,
}

impl<P, F, U> Publisher for FilterMap<P, F>
where
    P: Publisher,
    F: Fn(P::Item) -> Option<U> + Send + Sync + 'static,
    U: Send + 'static,
{
    type Item = U;
    fn subscribe<S: Subscriber<U>>(&self, s: S) {
        self.source.subscribe(FilterMapSubscriber {
            s,
            f: self.f.clone(),
            upstream: None,
        })
    }
}

impl<T, U, S, F> Subscriber<T> for FilterMapSubscriber<S, F>
where
    S: Subscriber<U>,
    F: Fn(T) -> Option<U> + Send + Sync + 'static,
{
    fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
        self.upstream = Some(s.clone());
        self.s.on_subscribe(s)
    }
    #[inline]
    fn on_next(&mut self, v: T) {
        match (self.f)(v) {
            Some(u) => self.s.on_next(u),
            None => {
                if let Some(up) = &self.upstream {
                    up.request(1);
                }
            }
        }
    }
    forward_terminal!();
}

/// The publisher of [`Flux::scan`].
pub struct Scan<P, A, F> {
    source: P,
    init: A,
    f: Arc<F>,
}
opaque_debug!(Scan<P, A, F>);
impl<P: Clone, A: Clone, F> Clone for Scan<P, A, F> {
    fn clone(&self) -> Self {
        Scan {
            source: self.source.clone(),
            init: self.init.clone(),
            f: self.f.clone(),
        }
    }
}

struct ScanSubscriber<S, A, F> {
    s: S,
    acc: A,
    f: Arc<F>,
}

impl<P, A, F> Publisher for Scan<P, A, F>
where
    P: Publisher,
    A: Clone + Send + Sync + 'static,
    F: Fn(&A, P::Item) -> A + Send + Sync + 'static,
{
    type Item = A;
    fn subscribe<S: Subscriber<A>>(&self, s: S) {
        self.source.subscribe(ScanSubscriber {
            s,
            acc: self.init.clone(),
            f: self.f.clone(),
        })
    }
}

impl<T, A, S, F> Subscriber<T> for ScanSubscriber<S, A, F>
where
    S: Subscriber<A>,
    A: Clone + Send + 'static,
    F: Fn(&A, T) -> A + Send + Sync + 'static,
{
    fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
        self.s.on_subscribe(s)
    }
    #[inline]
    fn on_next(&mut self, v: T) {
        self.acc = (self.f)(&self.acc, v);
        self.s.on_next(self.acc.clone())
    }
    forward_terminal!();
}

/// The publisher of [`Flux::distinct_until_changed`].
#[derive(Clone, Debug)]
pub struct DistinctUntilChanged<P> {
    source: P,
}

struct DistinctSubscriber<S, T> {
    s: S,
    last: Option<T>,
    upstream: Option<Arc<dyn Subscription>>,
}

impl<P> Publisher for DistinctUntilChanged<P>
where
    P: Publisher,
    P::Item: PartialEq + Clone,
{
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item>>(&self, s: S) {
        self.source.subscribe(DistinctSubscriber {
            s,
            last: None,
            upstream: None,
        })
    }
}

impl<T, S> Subscriber<T> for DistinctSubscriber<S, T>
where
    S: Subscriber<T>,
    T: PartialEq + Clone + Send + 'static,
{
    fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
        self.upstream = Some(s.clone());
        self.s.on_subscribe(s)
    }
    fn on_next(&mut self, v: T) {
        if self.last.as_ref() == Some(&v) {
            if let Some(up) = &self.upstream {
                up.request(1);
            }
            return;
        }
        self.last = Some(v.clone());
        self.s.on_next(v)
    }
    forward_terminal!();
}

impl<P: Publisher> Flux<P> {
    /// Transforms each item (Reactor's `map`).
    pub fn map<U, F>(self, f: F) -> Flux<Map<P, F>>
    where
        F: Fn(P::Item) -> U + Send + Sync + 'static,
        U: Send + 'static,
    {
        crate::flux::wrap(Map {
            source: self.inner,
            f: Arc::new(f),
        })
    }

    /// Keeps the items for which `f` is true (Reactor's `filter`); each item dropped is
    /// requested again from upstream.
    #[allow(clippy::type_complexity)]
    pub fn filter<F>(
        self,
        f: F,
    ) -> Flux<FilterMap<P, impl Fn(P::Item) -> Option<P::Item> + Send + Sync + 'static>>
    where
        F: Fn(&P::Item) -> bool + Send + Sync + 'static,
    {
        self.filter_map(move |v| if f(&v) { Some(v) } else { None })
    }

    /// Maps each item to an optional item and keeps the `Some`s (Reactor's `mapNotNull`
    /// / `handle`).
    pub fn filter_map<U, F>(self, f: F) -> Flux<FilterMap<P, F>>
    where
        F: Fn(P::Item) -> Option<U> + Send + Sync + 'static,
        U: Send + 'static,
    {
        crate::flux::wrap(FilterMap {
            source: self.inner,
            f: Arc::new(f),
        })
    }

    /// Emits the running accumulation `f(&acc, item)` after each item.
    ///
    /// Reactor's `scan(initial, accumulator)` emits `initial` first; this one does not (it
    /// is `scan` followed by `skip(1)` in Reactor terms), so that demand passes through
    /// unchanged. Prepend the seed with `concat` where it is wanted.
    pub fn scan<A, F>(self, init: A, f: F) -> Flux<Scan<P, A, F>>
    where
        A: Clone + Send + Sync + 'static,
        F: Fn(&A, P::Item) -> A + Send + Sync + 'static,
    {
        crate::flux::wrap(Scan {
            source: self.inner,
            init,
            f: Arc::new(f),
        })
    }

    /// Drops items equal to the one before (Reactor's `distinctUntilChanged`).
    pub fn distinct_until_changed(self) -> Flux<DistinctUntilChanged<P>>
    where
        P::Item: PartialEq + Clone,
    {
        crate::flux::wrap(DistinctUntilChanged { source: self.inner })
    }
}
