//! Type erasure: [`BoxPublisher`], for publishers of different types in one place (the inners
//! of a `flat_map` that returns either of two chains, the windows of `window`, the groups of
//! `group_by`).
//!
//! A boxed publisher costs one virtual call per subscription and one per signal (the
//! subscriber is boxed too); the items themselves are not boxed.

use std::sync::Arc;

use crate::spec::{Publisher, Subscriber};

/// The object-safe face of a [`Publisher`].
pub trait DynPublisher<T>: Send + Sync {
    /// Subscribes a boxed subscriber.
    fn subscribe_dyn(&self, subscriber: Box<dyn Subscriber<T>>);
}

impl<P: Publisher> DynPublisher<P::Item> for P {
    fn subscribe_dyn(&self, subscriber: Box<dyn Subscriber<P::Item>>) {
        self.subscribe(subscriber)
    }
}

/// A publisher of `T` whose type is erased; cheap to clone (an `Arc`).
///
/// ```
/// use spectrum_stream::{BoxFlux, Flux};
/// let either: Vec<BoxFlux<i32>> = vec![
///     Flux::range(0..3).boxed(),
///     Flux::just(7).map(|x| x * 2).boxed(),
/// ];
/// # let _ = either;
/// ```
pub struct BoxPublisher<T> {
    inner: Arc<dyn DynPublisher<T>>,
}

impl<T> BoxPublisher<T> {
    /// Erases the type of `p`.
    pub fn new<P: Publisher<Item = T>>(p: P) -> Self {
        BoxPublisher { inner: Arc::new(p) }
    }
}

impl<T> Clone for BoxPublisher<T> {
    fn clone(&self) -> Self {
        BoxPublisher {
            inner: self.inner.clone(),
        }
    }
}

impl<T> std::fmt::Debug for BoxPublisher<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BoxPublisher")
    }
}

impl<T: Send + 'static> Publisher for BoxPublisher<T> {
    type Item = T;
    fn subscribe<S: Subscriber<T>>(&self, subscriber: S) {
        self.inner.subscribe_dyn(Box::new(subscriber))
    }
}
