//! [`Unicast`]: a processor with one subscriber and a queue (Reactor's
//! `Sinks.many().unicast().onBackpressureBuffer()`); the windows of `window` and the groups of
//! `group_by` are unicast processors.
//!
//! Items pushed before the subscriber arrives, or beyond its demand, wait in the queue under
//! the processor's [`Overflow`] policy. A second subscriber is rejected with `on_error`
//! (rule 1.9); a unicast processor is hot: it does not replay for anyone.

use std::sync::Arc;

use spectrum_sync::atomic::{AtomicBool, Ordering::*};

use crate::ops::terminal::attach;
use crate::source::{FluxSink, Overflow};
use crate::spec::{Processor, Publisher, Subscriber, Subscription};
use crate::{ErrorKind, StreamError};

/// A single-subscriber processor: push with [`Unicast::next`] (or subscribe it to a
/// publisher), read by subscribing once.
pub struct Unicast<T> {
    sink: FluxSink<T>,
    subscribed: Arc<AtomicBool>,
}

impl<T> Clone for Unicast<T> {
    fn clone(&self) -> Self {
        Unicast {
            sink: self.sink.clone(),
            subscribed: self.subscribed.clone(),
        }
    }
}

impl<T> std::fmt::Debug for Unicast<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unicast")
            .field("subscribed", &self.subscribed.load(Relaxed))
            .finish()
    }
}

impl<T: Send + 'static> Unicast<T> {
    /// A processor that keeps what its subscriber has not requested under `overflow`.
    pub fn new(overflow: Overflow) -> Self {
        Unicast {
            sink: FluxSink::new(overflow, "unicast"),
            subscribed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The producer side.
    pub fn sink(&self) -> &FluxSink<T> {
        &self.sink
    }

    /// Pushes an item; see [`FluxSink::next`].
    pub fn next(&self, item: T) -> bool {
        self.sink.next(item)
    }

    /// Completes once the queue is delivered.
    pub fn complete(&self) {
        self.sink.complete()
    }

    /// Fails once the queue is delivered.
    pub fn error(&self, e: StreamError) {
        self.sink.error(e)
    }

    pub(crate) fn set_on_pull(&self, f: Arc<dyn Fn() + Send + Sync>) {
        self.sink.set_on_pull(f)
    }
}

impl<T: Send + 'static> Publisher for Unicast<T> {
    type Item = T;
    fn subscribe<S: Subscriber<T>>(&self, s: S) {
        if self.subscribed.swap(true, AcqRel) {
            return crate::ops::reject(
                s,
                StreamError::with_kind(
                    ErrorKind::Rejected,
                    "unicast: this publisher allows one subscriber only",
                ),
            );
        }
        attach(&self.sink, s);
    }
}

impl<T: Send + 'static> Subscriber<T> for Unicast<T> {
    fn on_subscribe(&mut self, up: Arc<dyn Subscription>) {
        if self.sink.set_upstream(up.clone()) {
            up.request(crate::UNBOUNDED);
        }
    }
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

impl<T: Send + 'static> Processor<T> for Unicast<T> {}
