//! `generate`: a synchronous, stateful, demand-driven source (Reactor's `Flux.generate`).
//!
//! The generator is called once per requested item, with the per-subscription state and a
//! [`SyncSink`] on which it calls `next` at most once, and may call `complete` or `error`.
//! Because the generator is only called when there is demand, `generate` needs no overflow
//! policy; for sources that push whether or not there is demand, use
//! [`Flux::create`](crate::Flux::create).

use std::sync::Arc;

use super::pull::{subscribe_pull, Pull, PullSource};
use crate::drain::opaque_debug;
use crate::spec::{Publisher, Subscriber};
use crate::StreamError;

/// What a [`Flux::generate`](crate::Flux::generate) generator emits into: at most one item per
/// call, and possibly the end.
pub struct SyncSink<T> {
    item: Option<T>,
    end: Option<Option<StreamError>>,
    misuse: bool,
}

impl<T> std::fmt::Debug for SyncSink<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncSink")
            .field("has_item", &self.item.is_some())
            .field("ended", &self.end.is_some())
            .finish()
    }
}

impl<T> SyncSink<T> {
    /// Emits the item of this call. A second call in the same generator call fails the stream
    /// (as Reactor's "More than one call to onNext").
    pub fn next(&mut self, item: T) {
        if self.item.is_some() || self.end.is_some() {
            self.misuse = true;
        } else {
            self.item = Some(item);
        }
    }

    /// Ends the stream after the item of this call, if any.
    pub fn complete(&mut self) {
        if self.end.is_none() {
            self.end = Some(None);
        }
    }

    /// Fails the stream after the item of this call, if any.
    pub fn error(&mut self, error: StreamError) {
        if self.end.is_none() {
            self.end = Some(Some(error));
        }
    }
}

/// The publisher of [`Flux::generate`](crate::Flux::generate).
pub struct Generate<I, F, T> {
    init: Arc<I>,
    f: Arc<F>,
    _item: std::marker::PhantomData<fn() -> T>,
}

opaque_debug!(Generate<I, F, T>);

impl<I, F, T> Clone for Generate<I, F, T> {
    fn clone(&self) -> Self {
        Generate {
            init: self.init.clone(),
            f: self.f.clone(),
            _item: std::marker::PhantomData,
        }
    }
}

impl<I, F, T> Generate<I, F, T> {
    pub(crate) fn new(init: I, f: F) -> Self {
        Generate {
            init: Arc::new(init),
            f: Arc::new(f),
            _item: std::marker::PhantomData,
        }
    }
}

struct GenerateSource<St, F, T> {
    state: St,
    f: Arc<F>,
    end: Option<Option<StreamError>>,
    _item: std::marker::PhantomData<fn() -> T>,
}

impl<St, F, T> PullSource for GenerateSource<St, F, T>
where
    St: Send + 'static,
    T: Send + 'static,
    F: Fn(&mut St, &mut SyncSink<T>) + Send + Sync + 'static,
{
    type Item = T;

    fn pull(&mut self) -> Pull<T> {
        if let Some(end) = self.end.take() {
            return match end {
                None => Pull::Done,
                Some(e) => Pull::Error(e),
            };
        }
        let mut sink = SyncSink {
            item: None,
            end: None,
            misuse: false,
        };
        (self.f)(&mut self.state, &mut sink);
        if sink.misuse {
            return Pull::Error(StreamError::msg(
                "generate: the generator called next more than once in one call",
            ));
        }
        match (sink.item, sink.end) {
            (Some(v), end) => {
                self.end = end;
                Pull::Item(v)
            }
            (None, Some(None)) => Pull::Done,
            (None, Some(Some(e))) => Pull::Error(e),
            (None, None) => Pull::Error(StreamError::msg(
                "generate: the generator returned without calling next, complete or error",
            )),
        }
    }

    fn poll_terminal(&mut self) -> Option<Pull<T>> {
        match self.end.take() {
            None => None,
            Some(None) => Some(Pull::Done),
            Some(Some(e)) => Some(Pull::Error(e)),
        }
    }
}

impl<St, I, F, T> Publisher for Generate<I, F, T>
where
    St: Send + 'static,
    T: Send + 'static,
    I: Fn() -> St + Send + Sync + 'static,
    F: Fn(&mut St, &mut SyncSink<T>) + Send + Sync + 'static,
{
    type Item = T;

    fn subscribe<S: Subscriber<T>>(&self, s: S) {
        let source = GenerateSource {
            state: (self.init)(),
            f: self.f.clone(),
            end: None,
            _item: std::marker::PhantomData,
        };
        subscribe_pull(source, s);
    }
}
