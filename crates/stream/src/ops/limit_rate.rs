//! `limit_rate(high, low)`: caps how much demand reaches the upstream at once (Reactor's
//! `limitRate(highTide, lowTide)`).
//!
//! However much the downstream requests (even unbounded), at most `high` items are
//! outstanding upstream; more is requested in batches of at least `low` as items arrive
//! (`limit_rate(n)` uses `low = 75 % of n`, Reactor's default). Unlike Reactor's version,
//! which is a `publishOn` on the immediate scheduler and so keeps a queue, this one is a
//! pure demand filter: items pass straight through, never more than the downstream asked
//! for, and nothing is buffered. A fast source under a slow subscriber therefore holds at
//! most `high` items in flight: the memory benchmark shows it.

use std::sync::Arc;

use spectrum_sync::Mutex;

use crate::spec::{add_demand, Publisher, Subscriber, Subscription};
use crate::{Flux, StreamError};

/// The publisher of [`Flux::limit_rate`].
#[derive(Clone, Debug)]
pub struct LimitRate<P> {
    source: P,
    high: u64,
    low: u64,
}

struct Gate {
    upstream: Arc<dyn Subscription>,
    st: Mutex<(u64, u64)>, // (wanted by downstream, not yet forwarded; outstanding upstream)
    high: u64,
    low: u64,
}

impl Gate {
    /// Forwards what the limits allow; call with the lock released.
    fn top_up(&self) {
        let give = {
            let mut g = self.st.lock();
            let (wanted, outstanding) = *g;
            let room = self.high - outstanding.min(self.high);
            if wanted == 0 || room == 0 || (outstanding > 0 && room < self.low) {
                0
            } else {
                let give = wanted.min(room);
                *g = (wanted - give, outstanding + give);
                give
            }
        };
        if give > 0 {
            self.upstream.request(give);
        }
    }

    fn arrived(&self) {
        {
            let mut g = self.st.lock();
            g.1 = g.1.saturating_sub(1);
        }
        self.top_up();
    }
}

impl Subscription for Gate {
    fn request(&self, n: u64) {
        if n == 0 {
            self.upstream.request(0);
            return;
        }
        {
            let mut g = self.st.lock();
            g.0 = add_demand(g.0, n);
        }
        self.top_up();
    }
    fn cancel(&self) {
        self.upstream.cancel()
    }
}

struct LimitSubscriber<S> {
    s: S,
    gate: Option<Arc<Gate>>,
    high: u64,
    low: u64,
}

impl<T: Send + 'static, S: Subscriber<T>> Subscriber<T> for LimitSubscriber<S> {
    fn on_subscribe(&mut self, up: Arc<dyn Subscription>) {
        let gate = Arc::new(Gate {
            upstream: up,
            st: Mutex::new((0, 0)),
            high: self.high,
            low: self.low,
        });
        self.gate = Some(gate.clone());
        self.s.on_subscribe(gate);
    }
    #[inline]
    fn on_next(&mut self, v: T) {
        self.s.on_next(v);
        if let Some(g) = &self.gate {
            g.arrived();
        }
    }
    fn on_error(&mut self, e: StreamError) {
        self.s.on_error(e)
    }
    fn on_complete(&mut self) {
        self.s.on_complete()
    }
}

impl<P: Publisher> Publisher for LimitRate<P> {
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item>>(&self, s: S) {
        self.source.subscribe(LimitSubscriber {
            s,
            gate: None,
            high: self.high,
            low: self.low,
        })
    }
}

impl<P: Publisher> Flux<P> {
    /// At most `n` items requested upstream at once, replenished by 75 % of `n`.
    ///
    /// # Panics
    ///
    /// If `n` is zero.
    pub fn limit_rate(self, n: u64) -> Flux<LimitRate<P>> {
        let low = (n - n / 4).max(1);
        self.limit_rate_with(n, low)
    }

    /// At most `high` items requested upstream at once, more requested in batches of at
    /// least `low` (clamped to `1..=high`).
    ///
    /// # Panics
    ///
    /// If `high` is zero.
    pub fn limit_rate_with(self, high: u64, low: u64) -> Flux<LimitRate<P>> {
        assert!(high > 0, "limit_rate: high must be at least 1");
        crate::flux::wrap(LimitRate {
            source: self.inner,
            high,
            low: low.clamp(1, high),
        })
    }
}
