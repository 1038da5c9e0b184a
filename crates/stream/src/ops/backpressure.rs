//! `on_backpressure_buffer` / `_drop` / `_latest` / `_error`: decoupling a source that cannot
//! slow down from a subscriber that can.
//!
//! Each requests everything from upstream (Reactor does the same: these operators exist for
//! sources that ignore demand, such as `Flux::interval` in Reactor, or a hot processor) and
//! keeps what the downstream has not asked for yet according to an [`Overflow`] policy:
//!
//! | operator | Reactor | an item beyond the downstream's demand |
//! |---|---|---|
//! | `on_backpressure_buffer(max, Overflow::Buffer(_))` | `onBackpressureBuffer(max)` | buffered; the `max + 1`-th waiting item fails the stream (overflow error) and cancels upstream |
//! | `on_backpressure_buffer(max, Overflow::BufferDropOldest(_))` | `onBackpressureBuffer(max, DROP_OLDEST)` | buffered; the oldest waiting item is dropped |
//! | `on_backpressure_buffer(max, Overflow::BufferDropNewest(_))` | `onBackpressureBuffer(max, DROP_LATEST)` | dropped when `max` are waiting |
//! | `on_backpressure_drop()` | `onBackpressureDrop()` | dropped |
//! | `on_backpressure_latest()` | `onBackpressureLatest()` | replaces the one waiting item |
//! | `on_backpressure_error()` | `onBackpressureError()` | fails the stream (overflow error) |
//!
//! There is no unbounded buffer unless spelled `on_backpressure_buffer(usize::MAX, ..)`.

use std::sync::Arc;

use super::terminal::sink_for;
use crate::source::{FluxSink, Overflow};
use crate::spec::{Publisher, Subscriber, Subscription, UNBOUNDED};
use crate::{Flux, StreamError};

/// The publisher of the `on_backpressure_*` operators.
#[derive(Clone, Debug)]
pub struct OnBackpressure<P> {
    source: P,
    overflow: Overflow,
    name: &'static str,
}

pub(crate) struct SinkSubscriber<T> {
    pub(crate) sink: FluxSink<T>,
}

impl<T: Send + 'static> Subscriber<T> for SinkSubscriber<T> {
    fn on_subscribe(&mut self, up: Arc<dyn Subscription>) {
        if self.sink.set_upstream(up.clone()) {
            up.request(UNBOUNDED);
        }
    }
    #[inline]
    fn on_next(&mut self, v: T) {
        self.sink.next(v);
    }
    fn on_error(&mut self, e: StreamError) {
        self.sink.clear_on_cancel();
        self.sink.error(e)
    }
    fn on_complete(&mut self) {
        self.sink.clear_on_cancel();
        self.sink.complete()
    }
}

impl<P: Publisher> Publisher for OnBackpressure<P> {
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item>>(&self, s: S) {
        let sink = sink_for(self.overflow, self.name, s);
        self.source.subscribe(SinkSubscriber { sink })
    }
}

impl<P: Publisher> Flux<P> {
    fn on_backpressure(self, overflow: Overflow, name: &'static str) -> Flux<OnBackpressure<P>> {
        crate::flux::wrap(OnBackpressure {
            source: self.inner,
            overflow,
            name,
        })
    }

    /// Buffers up to `max` items beyond the downstream's demand; `overflow` says what happens
    /// past that: `Overflow::Buffer(_)` (fail; Reactor's default), `BufferDropOldest(_)`,
    /// `BufferDropNewest(_)` (the number inside is ignored: `max` counts), or `Drop`,
    /// `Latest`, `Error` as the operators of those names.
    pub fn on_backpressure_buffer(self, max: usize, overflow: Overflow) -> Flux<OnBackpressure<P>> {
        let policy = match overflow {
            Overflow::Buffer(_) => Overflow::Buffer(max),
            Overflow::BufferDropOldest(_) => Overflow::BufferDropOldest(max),
            Overflow::BufferDropNewest(_) => Overflow::BufferDropNewest(max),
            other => other,
        };
        self.on_backpressure(policy, "on_backpressure_buffer")
    }

    /// Drops items the downstream has not requested (Reactor's `onBackpressureDrop`).
    pub fn on_backpressure_drop(self) -> Flux<OnBackpressure<P>> {
        self.on_backpressure(Overflow::Drop, "on_backpressure_drop")
    }

    /// Keeps only the newest item the downstream has not requested (Reactor's
    /// `onBackpressureLatest`).
    pub fn on_backpressure_latest(self) -> Flux<OnBackpressure<P>> {
        self.on_backpressure(Overflow::Latest, "on_backpressure_latest")
    }

    /// Fails with an overflow error when an item arrives without demand (Reactor's
    /// `onBackpressureError`).
    pub fn on_backpressure_error(self) -> Flux<OnBackpressure<P>> {
        self.on_backpressure(Overflow::Error, "on_backpressure_error")
    }
}
