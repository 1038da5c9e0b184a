//! [`Flux`]: the fluent face of a publisher, with Reactor's vocabulary.
//!
//! `Flux<P>` wraps a publisher `P` the way an iterator adapter wraps an iterator: every operator
//! returns a new `Flux` around a new concrete publisher type, so a chain such as
//! `range.map.filter.reduce` compiles to one monomorphic loop. [`Flux::boxed`] erases the type
//! when a chain must be named or stored.
//!
//! Every `Flux` is cold unless its source says otherwise: each subscription runs the chain
//! anew (rule 1.11). The constructors live here; each operator is documented in the module
//! that implements it, against Reactor's semantics.

use std::ops::Range;

use crate::boxed::BoxPublisher;
use crate::source::{Create, FluxSink, Generate, Iter, Just, Overflow, SyncSink, Terminal};
use crate::spec::{Publisher, Subscriber};
use crate::StreamError;

/// A stream of items with demand, built from a source and operators (Reactor's `Flux`).
///
/// ```
/// use spectrum_stream::Flux;
/// # spectrum_rt::Runtime::new().unwrap().block_on(async {
/// let sum = Flux::range(0..1_000)
///     .map(|x: u64| x * 3)
///     .filter(|x| x % 2 == 0)
///     .reduce(0, |acc, x| acc + x)
///     .await
///     .unwrap();
/// assert_eq!(sum, Some((0..1_000u64).map(|x| x * 3).filter(|x| x % 2 == 0).sum()));
/// # });
/// ```
#[derive(Clone, Debug)]
#[must_use = "a Flux does nothing until it is subscribed"]
pub struct Flux<P> {
    pub(crate) inner: P,
}

/// A type-erased [`Flux`].
pub type BoxFlux<T> = Flux<BoxPublisher<T>>;

impl<P: Publisher> Publisher for Flux<P> {
    type Item = P::Item;
    #[inline]
    fn subscribe<S: Subscriber<P::Item>>(&self, subscriber: S) {
        self.inner.subscribe(subscriber)
    }
    #[inline]
    fn scalar(&self) -> Option<P::Item> {
        self.inner.scalar()
    }
}

impl<P> Flux<P> {
    /// Wraps any publisher.
    pub fn from_publisher(publisher: P) -> Self {
        Flux { inner: publisher }
    }

    /// The publisher inside.
    pub fn into_inner(self) -> P {
        self.inner
    }
}

/// Wraps an operator's publisher.
#[inline]
pub(crate) fn wrap<Q>(inner: Q) -> Flux<Q> {
    Flux { inner }
}

impl<P: Publisher> Flux<P> {
    /// Erases the publisher's type (one virtual call per signal).
    pub fn boxed(self) -> BoxFlux<P::Item> {
        Flux {
            inner: BoxPublisher::new(self.inner),
        }
    }
}

impl<I> Flux<Iter<I>>
where
    I: IntoIterator + Clone + Send + Sync + 'static,
    I::IntoIter: Send + 'static,
    I::Item: Send + 'static,
{
    /// Emits the items of `iterable`, cloned per subscription (Reactor's `fromIterable`).
    /// Items are produced on the thread that requests them, only as many as requested.
    ///
    /// ```
    /// # spectrum_rt::Runtime::new().unwrap().block_on(async {
    /// use spectrum_stream::Flux;
    /// let v = Flux::from_iterable(vec!["a", "b"]).collect::<Vec<_>>().await.unwrap();
    /// assert_eq!(v, Some(vec!["a", "b"]));
    /// # });
    /// ```
    pub fn from_iterable(iterable: I) -> Self {
        Flux {
            inner: Iter::new(iterable),
        }
    }
}

impl<T> Flux<Iter<Range<T>>>
where
    Range<T>: Iterator<Item = T> + Clone + Send + Sync + 'static,
    T: Send + 'static,
{
    /// Emits every value of `range` (Reactor's `Flux.range`, for any integer type).
    pub fn range(range: Range<T>) -> Self {
        Flux {
            inner: Iter::new(range),
        }
    }
}

impl<T: Clone + Send + Sync + 'static> Flux<Just<T>> {
    /// Emits one item (a clone per subscription), then completes (Reactor's `Flux.just`).
    pub fn just(value: T) -> Self {
        Flux {
            inner: Just::new(value),
        }
    }
}

impl<T: Send + 'static> Flux<Terminal<T>> {
    /// Completes at once, without waiting for a request (Reactor's `Flux.empty`).
    pub fn empty() -> Self {
        Flux {
            inner: Terminal::empty(),
        }
    }

    /// Fails at once with `error`, without waiting for a request (Reactor's `Flux.error`).
    pub fn error(error: StreamError) -> Self {
        Flux {
            inner: Terminal::error(error),
        }
    }

    /// Never signals anything but `on_subscribe` (Reactor's `Flux.never`).
    pub fn never() -> Self {
        Flux {
            inner: Terminal::never(),
        }
    }
}

impl<I, F, T> Flux<Generate<I, F, T>> {
    /// A synchronous, stateful source called once per requested item (Reactor's
    /// `Flux.generate`): `init` makes the state of each subscription, `f` emits at most one
    /// item into the [`SyncSink`] per call and may end the stream.
    ///
    /// ```
    /// # spectrum_rt::Runtime::new().unwrap().block_on(async {
    /// use spectrum_stream::Flux;
    /// let fib = Flux::generate(|| (0u64, 1u64), |s, sink| {
    ///     sink.next(s.0);
    ///     *s = (s.1, s.0 + s.1);
    ///     if s.0 > 50 { sink.complete(); }
    /// });
    /// let v = fib.collect::<Vec<_>>().await.unwrap().unwrap();
    /// assert_eq!(v, [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]);
    /// # });
    /// ```
    pub fn generate<St>(init: I, f: F) -> Self
    where
        I: Fn() -> St + Send + Sync + 'static,
        F: Fn(&mut St, &mut SyncSink<T>) + Send + Sync + 'static,
    {
        Flux {
            inner: Generate::new(init, f),
        }
    }
}

impl<F, T> Flux<Create<F, T>>
where
    T: Send + 'static,
    F: Fn(FluxSink<T>) + Send + Sync + 'static,
{
    /// A push source (Reactor's `Flux.create`): `f` runs once per subscription, right after
    /// `on_subscribe`, with a [`FluxSink`] it may move to other threads or tasks. Items pushed
    /// beyond the subscriber's demand are handled by `overflow` ([`Overflow`]).
    ///
    /// ```
    /// # spectrum_rt::Runtime::new().unwrap().block_on(async {
    /// use spectrum_stream::{Flux, Overflow};
    /// let events = Flux::create(Overflow::Buffer(1024), |sink| {
    ///     std::thread::spawn(move || {
    ///         for i in 0..10 {
    ///             sink.next(i);
    ///         }
    ///         sink.complete();
    ///     });
    /// });
    /// assert_eq!(events.count().await.unwrap(), Some(10));
    /// # });
    /// ```
    pub fn create(overflow: Overflow, f: F) -> Self {
        Flux {
            inner: Create::new(overflow, f),
        }
    }
}
