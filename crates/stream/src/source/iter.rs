//! Cold synchronous sources: `from_iter`, `range`, `just`, `empty`, `error`, `never`.
//!
//! Each subscription gets its own run (cold, rule 1.11): the iterable is cloned per
//! subscription. Items are produced inside `request` on the requesting thread, as many as were
//! requested; a `request` from inside `on_next` only adds demand (rule 3.3). Reactor's
//! `Flux.fromIterable` / `range` / `just` / `empty` / `error` / `never`, with the same eager
//! completion: an iterator found exhausted completes without waiting for a request (the
//! iterator is peeked one item ahead to find out).

use std::iter::Peekable;

use super::pull::{subscribe_pull, Pull, PullSource};
use crate::drain::opaque_debug;
use crate::spec::{Publisher, Subscriber};
use crate::StreamError;

/// The publisher of [`Flux::from_iterable`](crate::Flux::from_iterable) and
/// [`Flux::range`](crate::Flux::range).
#[derive(Clone)]
pub struct Iter<I> {
    iter: I,
}

opaque_debug!(Iter<I>);

impl<I> Iter<I> {
    pub(crate) fn new(iter: I) -> Self {
        Iter { iter }
    }
}

pub(crate) struct IterSource<I: Iterator> {
    iter: Peekable<I>,
}

impl<I> PullSource for IterSource<I>
where
    I: Iterator + Send + 'static,
    I::Item: Send + 'static,
{
    type Item = I::Item;

    #[inline]
    fn pull(&mut self) -> Pull<I::Item> {
        match self.iter.next() {
            Some(v) => Pull::Item(v),
            None => Pull::Done,
        }
    }

    fn poll_terminal(&mut self) -> Option<Pull<I::Item>> {
        match self.iter.peek() {
            None => Some(Pull::Done),
            Some(_) => None,
        }
    }
}

impl<I> Publisher for Iter<I>
where
    I: IntoIterator + Clone + Send + Sync + 'static,
    I::IntoIter: Send + 'static,
    I::Item: Send + 'static,
{
    type Item = I::Item;

    fn subscribe<S: Subscriber<I::Item>>(&self, s: S) {
        let source = IterSource {
            iter: self.iter.clone().into_iter().peekable(),
        };
        subscribe_pull(source, s);
    }
}

/// The publisher of [`Flux::just`](crate::Flux::just): one item (a clone per subscriber).
#[derive(Clone, Debug)]
pub struct Just<T> {
    value: T,
}

impl<T> Just<T> {
    pub(crate) fn new(value: T) -> Self {
        Just { value }
    }
}

pub(crate) struct JustSource<T> {
    value: Option<T>,
}

impl<T: Send + 'static> PullSource for JustSource<T> {
    type Item = T;
    fn pull(&mut self) -> Pull<T> {
        match self.value.take() {
            Some(v) => Pull::Item(v),
            None => Pull::Done,
        }
    }
    fn poll_terminal(&mut self) -> Option<Pull<T>> {
        self.value.is_none().then_some(Pull::Done)
    }
}

impl<T: Clone + Send + Sync + 'static> Publisher for Just<T> {
    type Item = T;
    fn subscribe<S: Subscriber<T>>(&self, s: S) {
        subscribe_pull(
            JustSource {
                value: Some(self.value.clone()),
            },
            s,
        );
    }
    fn scalar(&self) -> Option<T> {
        Some(self.value.clone())
    }
}

/// The publisher of [`Flux::empty`](crate::Flux::empty), [`Flux::error`](crate::Flux::error)
/// and [`Flux::never`](crate::Flux::never): no item; complete, fail, or nothing at all.
pub struct Terminal<T> {
    end: Option<Option<StreamError>>,
    _item: std::marker::PhantomData<fn() -> T>,
}

opaque_debug!(Terminal<T>);

impl<T> Clone for Terminal<T> {
    fn clone(&self) -> Self {
        Terminal {
            end: self.end.clone(),
            _item: std::marker::PhantomData,
        }
    }
}

impl<T> Terminal<T> {
    pub(crate) fn empty() -> Self {
        Terminal {
            end: Some(None),
            _item: std::marker::PhantomData,
        }
    }
    pub(crate) fn error(e: StreamError) -> Self {
        Terminal {
            end: Some(Some(e)),
            _item: std::marker::PhantomData,
        }
    }
    pub(crate) fn never() -> Self {
        Terminal {
            end: None,
            _item: std::marker::PhantomData,
        }
    }
}

pub(crate) struct TerminalSource<T> {
    end: Option<Option<StreamError>>,
    _item: std::marker::PhantomData<fn() -> T>,
}

impl<T: Send + 'static> PullSource for TerminalSource<T> {
    type Item = T;
    fn pull(&mut self) -> Pull<T> {
        self.poll_terminal().unwrap_or(Pull::Pending)
    }
    fn poll_terminal(&mut self) -> Option<Pull<T>> {
        match self.end.take() {
            None => None,
            Some(None) => Some(Pull::Done),
            Some(Some(e)) => Some(Pull::Error(e)),
        }
    }
}

impl<T: Send + 'static> Publisher for Terminal<T> {
    type Item = T;
    fn subscribe<S: Subscriber<T>>(&self, s: S) {
        subscribe_pull(
            TerminalSource {
                end: self.end.clone(),
                _item: std::marker::PhantomData,
            },
            s,
        );
    }
}

/// The iterator source as the loom models drive it, without a publisher around it.
#[cfg(all(test, loom))]
pub(crate) type IterSourceFor<I> = IterSource<I>;

#[cfg(all(test, loom))]
pub(crate) fn iter_source<I: Iterator>(iter: I) -> IterSource<I> {
    IterSource {
        iter: iter.peekable(),
    }
}
