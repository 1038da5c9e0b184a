//! `window(count)`: the items split into consecutive windows of `count`, each a publisher
//! (Reactor's `window(int)`).
//!
//! A request for `k` windows becomes a request for `k × count` items upstream. Each window is a
//! [`Unicast`] processor: subscribe to it once; until then (or beyond its subscriber's demand)
//! its items wait in it, at most `count`. A window is emitted when its first item arrives and
//! completes after its `count`-th; the upstream's error or completion ends the open window
//! and then the outer stream.

use std::sync::Arc;

use super::buffer::ScaledSubscription;
use crate::processor::Unicast;
use crate::source::Overflow;
use crate::spec::{Publisher, Subscriber, Subscription};
use crate::{Flux, StreamError};

/// The publisher of [`Flux::window`].
#[derive(Clone, Debug)]
pub struct Window<P> {
    source: P,
    count: usize,
}

struct WindowSubscriber<S, T> {
    s: S,
    count: usize,
    current: Option<Unicast<T>>,
    filled: usize,
}

impl<T: Send + 'static, S: Subscriber<Flux<Unicast<T>>>> Subscriber<T> for WindowSubscriber<S, T> {
    fn on_subscribe(&mut self, up: Arc<dyn Subscription>) {
        self.s.on_subscribe(Arc::new(ScaledSubscription {
            upstream: up,
            factor: self.count as u64,
        }))
    }
    fn on_next(&mut self, v: T) {
        let w = match &self.current {
            Some(w) => w.clone(),
            None => {
                let w = Unicast::new(Overflow::Buffer(usize::MAX));
                self.current = Some(w.clone());
                self.s.on_next(Flux::from_publisher(w.clone()));
                w
            }
        };
        w.next(v);
        self.filled += 1;
        if self.filled == self.count {
            self.filled = 0;
            self.current = None;
            w.complete();
        }
    }
    fn on_error(&mut self, e: StreamError) {
        if let Some(w) = self.current.take() {
            w.error(e.clone());
        }
        self.s.on_error(e)
    }
    fn on_complete(&mut self) {
        if let Some(w) = self.current.take() {
            w.complete();
        }
        self.s.on_complete()
    }
}

impl<P: Publisher> Publisher for Window<P> {
    type Item = Flux<Unicast<P::Item>>;
    fn subscribe<S: Subscriber<Self::Item>>(&self, s: S) {
        self.source.subscribe(WindowSubscriber {
            s,
            count: self.count,
            current: None,
            filled: 0,
        })
    }
}

impl<P: Publisher> Flux<P> {
    /// Splits the items into windows of `count`, each a single-subscriber publisher
    /// (Reactor's `window(int)`).
    ///
    /// # Panics
    ///
    /// If `count` is zero.
    pub fn window(self, count: usize) -> Flux<Window<P>> {
        assert!(count > 0, "window: count must be at least 1");
        crate::flux::wrap(Window {
            source: self.inner,
            count,
        })
    }
}
