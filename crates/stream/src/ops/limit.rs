//! Operators that cut a stream short or skip its start: `take`, `skip`, `take_while`.
//!
//! - `take(n)` is Reactor 3.5's `take(n)` (= `take(n, limitRequest = true)`): it never asks
//!   upstream for more than `n` items in total, whatever the downstream requests, then cancels
//!   the upstream and completes after the `n`-th item. `take(0)` completes at once.
//! - `skip(n)` drops the first `n` items and requests one more in place of each.
//! - `take_while(p)` relays items while `p` holds; at the first that fails it cancels the
//!   upstream and completes (the failing item is not emitted), as Reactor's `takeWhile`.

use std::sync::Arc;

use spectrum_sync::atomic::{AtomicU64, Ordering::*};

use crate::drain::opaque_debug;
use crate::spec::{Publisher, Subscriber, Subscription};
use crate::{Flux, StreamError};

/// The publisher of [`Flux::take`].
#[derive(Clone, Debug)]
pub struct Take<P> {
    source: P,
    n: u64,
}

struct TakeSubscriber<S> {
    s: S,
    remaining: u64,
    upstream: Option<Arc<dyn Subscription>>,
    done: bool,
}

/// Caps the total requested from upstream at `n`.
struct TakeSubscription {
    upstream: Arc<dyn Subscription>,
    left_to_request: AtomicU64,
}

impl Subscription for TakeSubscription {
    fn request(&self, n: u64) {
        if n == 0 {
            self.upstream.request(0);
            return;
        }
        let mut cur = self.left_to_request.load(Relaxed);
        loop {
            if cur == 0 {
                return;
            }
            let give = cur.min(n);
            match self
                .left_to_request
                .compare_exchange_weak(cur, cur - give, AcqRel, Relaxed)
            {
                Ok(_) => {
                    self.upstream.request(give);
                    return;
                }
                Err(actual) => cur = actual,
            }
        }
    }
    fn cancel(&self) {
        self.upstream.cancel()
    }
}

impl<P: Publisher> Publisher for Take<P> {
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item>>(&self, s: S) {
        self.source.subscribe(TakeSubscriber {
            s,
            remaining: self.n,
            upstream: None,
            done: false,
        })
    }
}

impl<T: Send + 'static, S: Subscriber<T>> Subscriber<T> for TakeSubscriber<S> {
    fn on_subscribe(&mut self, up: Arc<dyn Subscription>) {
        if self.remaining == 0 {
            up.cancel();
            self.done = true;
            self.s.on_subscribe(Arc::new(crate::ops::NoopSubscription));
            self.s.on_complete();
            return;
        }
        self.upstream = Some(up.clone());
        self.s.on_subscribe(Arc::new(TakeSubscription {
            upstream: up,
            left_to_request: AtomicU64::new(self.remaining),
        }));
    }
    fn on_next(&mut self, v: T) {
        if self.done {
            return;
        }
        self.remaining -= 1;
        self.s.on_next(v);
        if self.remaining == 0 && !self.done {
            self.done = true;
            if let Some(up) = self.upstream.take() {
                up.cancel();
            }
            self.s.on_complete();
        }
    }
    fn on_error(&mut self, e: StreamError) {
        if !self.done {
            self.done = true;
            self.s.on_error(e)
        }
    }
    fn on_complete(&mut self) {
        if !self.done {
            self.done = true;
            self.s.on_complete()
        }
    }
}

/// The publisher of [`Flux::skip`].
#[derive(Clone, Debug)]
pub struct Skip<P> {
    source: P,
    n: u64,
}

struct SkipSubscriber<S> {
    s: S,
    remaining: u64,
    upstream: Option<Arc<dyn Subscription>>,
}

impl<P: Publisher> Publisher for Skip<P> {
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item>>(&self, s: S) {
        self.source.subscribe(SkipSubscriber {
            s,
            remaining: self.n,
            upstream: None,
        })
    }
}

impl<T: Send + 'static, S: Subscriber<T>> Subscriber<T> for SkipSubscriber<S> {
    fn on_subscribe(&mut self, up: Arc<dyn Subscription>) {
        self.upstream = Some(up.clone());
        self.s.on_subscribe(up)
    }
    fn on_next(&mut self, v: T) {
        if self.remaining > 0 {
            self.remaining -= 1;
            if let Some(up) = &self.upstream {
                up.request(1);
            }
            return;
        }
        self.s.on_next(v)
    }
    fn on_error(&mut self, e: StreamError) {
        self.s.on_error(e)
    }
    fn on_complete(&mut self) {
        self.s.on_complete()
    }
}

/// The publisher of [`Flux::take_while`].
pub struct TakeWhile<P, F> {
    source: P,
    f: Arc<F>,
}
opaque_debug!(TakeWhile<P, F>);
impl<P: Clone, F> Clone for TakeWhile<P, F> {
    fn clone(&self) -> Self {
        TakeWhile {
            source: self.source.clone(),
            f: self.f.clone(),
        }
    }
}

struct TakeWhileSubscriber<S, F> {
    s: S,
    f: Arc<F>,
    upstream: Option<Arc<dyn Subscription>>,
    done: bool,
}

impl<P, F> Publisher for TakeWhile<P, F>
where
    P: Publisher,
    F: Fn(&P::Item) -> bool + Send + Sync + 'static,
{
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item>>(&self, s: S) {
        self.source.subscribe(TakeWhileSubscriber {
            s,
            f: self.f.clone(),
            upstream: None,
            done: false,
        })
    }
}

impl<T, S, F> Subscriber<T> for TakeWhileSubscriber<S, F>
where
    T: Send + 'static,
    S: Subscriber<T>,
    F: Fn(&T) -> bool + Send + Sync + 'static,
{
    fn on_subscribe(&mut self, up: Arc<dyn Subscription>) {
        self.upstream = Some(up.clone());
        self.s.on_subscribe(up)
    }
    fn on_next(&mut self, v: T) {
        if self.done {
            return;
        }
        if (self.f)(&v) {
            self.s.on_next(v)
        } else {
            self.done = true;
            if let Some(up) = self.upstream.take() {
                up.cancel();
            }
            self.s.on_complete()
        }
    }
    fn on_error(&mut self, e: StreamError) {
        if !self.done {
            self.done = true;
            self.s.on_error(e)
        }
    }
    fn on_complete(&mut self) {
        if !self.done {
            self.done = true;
            self.s.on_complete()
        }
    }
}

impl<P: Publisher> Flux<P> {
    /// The first `n` items, then complete; upstream demand is capped at `n` (Reactor's
    /// `take(n)`, limitRequest mode).
    pub fn take(self, n: u64) -> Flux<Take<P>> {
        crate::flux::wrap(Take {
            source: self.inner,
            n,
        })
    }

    /// Drops the first `n` items (Reactor's `skip`).
    pub fn skip(self, n: u64) -> Flux<Skip<P>> {
        crate::flux::wrap(Skip {
            source: self.inner,
            n,
        })
    }

    /// Relays items while `f` holds, then cancels upstream and completes (Reactor's
    /// `takeWhile`).
    pub fn take_while<F>(self, f: F) -> Flux<TakeWhile<P, F>>
    where
        F: Fn(&P::Item) -> bool + Send + Sync + 'static,
    {
        crate::flux::wrap(TakeWhile {
            source: self.inner,
            f: Arc::new(f),
        })
    }
}
