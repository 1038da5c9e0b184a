//! The four Reactive Streams interfaces, in Rust: [`Publisher`], [`Subscriber`],
//! [`Subscription`], [`Processor`].
//!
//! # The contract (rules 1.1–4.2 of Reactive Streams 1.0.4, `shared/reference/reactive-streams-rules.md`)
//!
//! 1. A subscriber receives `on_subscribe` exactly once, first; then at most as many `on_next`
//!    as it has requested in total; then at most one of `on_error` / `on_complete`. Signals are
//!    serial: never two at once, each happens-before the next (rules 1.1, 1.3, 1.7, 1.9).
//! 2. Demand is additive `u64`. A total of [`UNBOUNDED`] (2^63−1) or more means "unbounded":
//!    it saturates, never overflows, never errors (rule 3.17). `request(0)` is a protocol error
//!    that the publisher answers with `on_error` (rule 3.9, [`StreamError::is_bad_request`]).
//! 3. `request` may be called from inside `on_next` (rule 3.2); every publisher here bounds the
//!    recursion by trampolining: the nested call only adds demand, and the emission loop already
//!    on the stack picks it up (rule 3.3). Depth 1, as the rules recommend.
//! 4. `cancel` is idempotent, thread-safe and quick; after it the publisher stops signalling and
//!    drops its reference to the subscriber (rules 3.5, 3.7, 3.12, 3.13). `request` after
//!    `cancel` does nothing (3.6).
//! 5. **Panics.** Rule 2.13 says signal methods return normally. In Rust a signal method that
//!    panics is the violation; every emission loop in this crate runs its downstream calls
//!    inside `catch_unwind`, and on a panic it cancels its upstream, delivers
//!    `on_error(StreamError::panicked(..))` once to the subscriber chain (so the terminal stage —
//!    a `for_each`, a `collect`, a processor — sees the failure), drops the subscriber and
//!    returns normally. A panic inside that `on_error` is swallowed. The worker thread and the
//!    runtime carry on.
//!
//! # Rust mapping
//!
//! - Null arguments (rules 1.9 / 2.13) cannot be expressed.
//! - The subscription is an `Arc<dyn Subscription>`: shared between the subscriber (which may
//!   hand it to other threads, e.g. to cancel) and the publisher.
//! - Signal methods take `&mut self`; a subscriber is `Send` because successive signals may come
//!   from different threads (serially).
//! - [`Publisher::subscribe`] takes `&self` and is generic over the subscriber, so operator
//!   chains monomorphise into straight-line code; [`crate::BoxPublisher`] erases the type when
//!   needed. Every publisher can be subscribed many times (rule 1.10); whether the subscribers
//!   share a run (hot) or each get their own (cold) is documented per source (rule 1.11).

use std::sync::Arc;

use crate::StreamError;

/// Total demand at or above which a subscription counts as unbounded: 2^63−1, Java's
/// `Long.MAX_VALUE` (rule 3.17).
pub const UNBOUNDED: u64 = i64::MAX as u64;

/// The link between one publisher and one subscriber: the subscriber requests items through
/// it and cancels through it.
///
/// Implementations are thread-safe: `request` and `cancel` may be called from any thread, also
/// reentrantly from inside the subscriber's own `on_next` (rules 3.2, 3.5).
pub trait Subscription: Send + Sync {
    /// Asks for `n` more items (additive, saturating at [`UNBOUNDED`]).
    ///
    /// `request(0)` makes the publisher signal `on_error` with a bad-request error (rule 3.9);
    /// after `cancel` or a terminal signal, `request` does nothing (rule 3.6).
    fn request(&self, n: u64);

    /// Asks the publisher to stop and to drop its reference to the subscriber. Idempotent.
    /// Items already in flight may still arrive (rule 2.8).
    fn cancel(&self);
}

/// Receives a stream's signals: `on_subscribe`, then `on_next`\*, then at most one of
/// `on_error` / `on_complete`.
///
/// A subscriber gets nothing until it requests items through the subscription it received in
/// [`on_subscribe`](Subscriber::on_subscribe) (rule 2.1).
pub trait Subscriber<T>: Send + 'static {
    /// The first signal: keep `subscription` to request items and to cancel.
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>);

    /// One item, never more than requested in total.
    fn on_next(&mut self, item: T);

    /// The stream failed; no further signal follows. The subscription counts as cancelled and
    /// must not be used (rule 2.3).
    fn on_error(&mut self, error: StreamError);

    /// The stream ended; no further signal follows. The subscription counts as cancelled and
    /// must not be used (rule 2.3).
    fn on_complete(&mut self);
}

impl<T, S: Subscriber<T> + ?Sized> Subscriber<T> for Box<S> {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        (**self).on_subscribe(subscription)
    }
    fn on_next(&mut self, item: T) {
        (**self).on_next(item)
    }
    fn on_error(&mut self, error: StreamError) {
        (**self).on_error(error)
    }
    fn on_complete(&mut self) {
        (**self).on_complete()
    }
}

/// A source of items that subscribers request from.
///
/// `subscribe` returns normally and calls `on_subscribe` before any other signal; a publisher
/// that cannot serve the subscriber says so with `on_error` after `on_subscribe` (rule 1.9).
pub trait Publisher: Send + Sync + 'static {
    /// What the publisher emits.
    type Item: Send + 'static;

    /// Starts a subscription for `subscriber`.
    fn subscribe<S: Subscriber<Self::Item>>(&self, subscriber: S);

    /// The single item this publisher would emit synchronously on subscription, when it is a
    /// constant (as `just`): lets `flat_map` skip the subscription (RxJava's "scalar" fast
    /// path). `None` for every other publisher.
    #[doc(hidden)]
    fn scalar(&self) -> Option<Self::Item> {
        None
    }
}

impl<P: Publisher + ?Sized> Publisher for Arc<P> {
    type Item = P::Item;
    fn subscribe<S: Subscriber<Self::Item>>(&self, subscriber: S) {
        (**self).subscribe(subscriber)
    }
    fn scalar(&self) -> Option<Self::Item> {
        (**self).scalar()
    }
}

/// A stage that is both a subscriber (of `T`) and a publisher (rule 4.1). It either recovers
/// from an upstream `on_error` (and then considers its upstream subscription cancelled) or
/// propagates it at once (rule 4.2).
pub trait Processor<T>: Subscriber<T> + Publisher {}

/// Adds `n` to a demand total, saturating at [`UNBOUNDED`] (rule 3.17).
#[inline]
pub fn add_demand(total: u64, n: u64) -> u64 {
    total.saturating_add(n).min(UNBOUNDED)
}
