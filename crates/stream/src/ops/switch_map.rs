//! `switch_map(f)`: each outer item starts an inner publisher and cancels the previous one; only
//! the newest inner's items are emitted (Reactor's `switchMap`).
//!
//! The outer is requested in full (Reactor does the same: an outer item is only a signal to
//! switch). Each inner is asked for `prefetch` (32) items and replenished at 75 % as its items
//! are taken by the downstream, so a slow downstream holds at most one prefetch of the current
//! inner. Items of a cancelled inner that are still waiting are dropped (Reactor's
//! behaviour). The stream completes when the outer has completed and the last inner has too;
//! an error from the outer or the current inner cancels the rest and is delivered.
//!
//! Items travel through a buffered sink tagged with their inner's generation; a stage in front
//! of the subscriber drops the stale ones (and asks for one more in their place).

use std::sync::Arc;

use spectrum_sync::atomic::{AtomicU64, Ordering::*};
use spectrum_sync::Mutex;

use super::terminal::sink_for;
use crate::drain::{opaque_debug, replenish_limit, UpstreamSlot};
use crate::source::{FluxSink, Overflow};
use crate::spec::{Publisher, Subscriber, Subscription, UNBOUNDED};
use crate::{Flux, StreamError};

const PREFETCH: u64 = 32;

/// The publisher of [`Flux::switch_map`].
pub struct SwitchMap<P, F> {
    source: P,
    f: Arc<F>,
}
opaque_debug!(SwitchMap<P, F>);
impl<P: Clone, F> Clone for SwitchMap<P, F> {
    fn clone(&self) -> Self {
        SwitchMap {
            source: self.source.clone(),
            f: self.f.clone(),
        }
    }
}

struct SwState {
    current: Option<Arc<dyn Subscription>>,
    active: Option<u64>,
    outer_done: bool,
}

struct Shared<U> {
    gen: Arc<AtomicU64>,
    st: Mutex<SwState>,
    outer: UpstreamSlot,
    consumed: AtomicU64,
    sink: FluxSink<(u64, U)>,
}

impl<U: Send + 'static> Shared<U> {
    fn pulled(&self) {
        let limit = replenish_limit(PREFETCH as usize);
        let c = self.consumed.fetch_add(1, AcqRel) + 1;
        if c % limit == 0 {
            let cur = self.st.lock().current.clone();
            if let Some(s) = cur {
                s.request(limit);
            }
        }
    }
}

/// Drops items of stale generations before the subscriber sees them.
struct Strip<S> {
    s: S,
    gen: Arc<AtomicU64>,
    upstream: Option<Arc<dyn Subscription>>,
}

impl<U: Send + 'static, S: Subscriber<U>> Subscriber<(u64, U)> for Strip<S> {
    fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
        self.upstream = Some(s.clone());
        self.s.on_subscribe(s)
    }
    fn on_next(&mut self, (g, v): (u64, U)) {
        if g == self.gen.load(Acquire) {
            self.s.on_next(v)
        } else if let Some(up) = &self.upstream {
            up.request(1);
        }
    }
    fn on_error(&mut self, e: StreamError) {
        self.s.on_error(e)
    }
    fn on_complete(&mut self) {
        self.s.on_complete()
    }
}

struct Outer<U, F> {
    shared: Arc<Shared<U>>,
    f: Arc<F>,
}

struct InnerSub<U> {
    shared: Arc<Shared<U>>,
    gen: u64,
}

impl<U: Send + 'static> Subscriber<U> for InnerSub<U> {
    fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
        let mut st = self.shared.st.lock();
        if st.active == Some(self.gen) && st.current.is_none() {
            st.current = Some(s.clone());
            drop(st);
            s.request(PREFETCH);
        } else {
            drop(st);
            s.cancel();
        }
    }
    fn on_next(&mut self, v: U) {
        if self.shared.gen.load(Acquire) == self.gen {
            self.shared.sink.next((self.gen, v));
        }
    }
    fn on_error(&mut self, e: StreamError) {
        let current = {
            let mut st = self.shared.st.lock();
            if st.active != Some(self.gen) {
                return;
            }
            st.active = None;
            st.current = None;
            true
        };
        if current {
            self.shared.outer.cancel();
            self.shared.sink.error(e);
        }
    }
    fn on_complete(&mut self) {
        let finish = {
            let mut st = self.shared.st.lock();
            if st.active != Some(self.gen) {
                return;
            }
            st.active = None;
            st.current = None;
            st.outer_done
        };
        if finish {
            self.shared.sink.complete();
        }
    }
}

impl<T, U, F, Q> Subscriber<T> for Outer<U, F>
where
    T: Send + 'static,
    U: Send + 'static,
    F: Fn(T) -> Q + Send + Sync + 'static,
    Q: Publisher<Item = U>,
{
    fn on_subscribe(&mut self, up: Arc<dyn Subscription>) {
        if self.shared.outer.set(up.clone()) {
            up.request(UNBOUNDED);
        }
    }
    fn on_next(&mut self, t: T) {
        let q = (self.f)(t);
        let g = self.shared.gen.fetch_add(1, AcqRel) + 1;
        let previous = {
            let mut st = self.shared.st.lock();
            st.active = Some(g);
            st.current.take()
        };
        if let Some(p) = previous {
            p.cancel();
        }
        q.subscribe(InnerSub {
            shared: self.shared.clone(),
            gen: g,
        });
    }
    fn on_error(&mut self, e: StreamError) {
        self.shared.outer.clear();
        let cur = {
            let mut st = self.shared.st.lock();
            st.active = None;
            st.current.take()
        };
        if let Some(c) = cur {
            c.cancel();
        }
        self.shared.sink.error(e)
    }
    fn on_complete(&mut self) {
        self.shared.outer.clear();
        let finish = {
            let mut st = self.shared.st.lock();
            st.outer_done = true;
            st.active.is_none()
        };
        if finish {
            self.shared.sink.complete();
        }
    }
}

impl<P, F, Q> Publisher for SwitchMap<P, F>
where
    P: Publisher,
    F: Fn(P::Item) -> Q + Send + Sync + 'static,
    Q: Publisher,
{
    type Item = Q::Item;
    fn subscribe<S: Subscriber<Q::Item>>(&self, s: S) {
        let gen = Arc::new(AtomicU64::new(0));
        let strip = Strip {
            s,
            gen: gen.clone(),
            upstream: None,
        };
        let sink = sink_for(Overflow::Buffer(usize::MAX), "switch_map", strip);
        let shared = Arc::new(Shared {
            gen,
            st: Mutex::new(SwState {
                current: None,
                active: None,
                outer_done: false,
            }),
            outer: UpstreamSlot::new(),
            consumed: AtomicU64::new(0),
            sink: sink.clone(),
        });
        let p = shared.clone();
        sink.set_on_pull(Arc::new(move || p.pulled()));
        let c = shared.clone();
        sink.on_cancel(move || {
            c.outer.cancel();
            let cur = c.st.lock().current.take();
            if let Some(cur) = cur {
                cur.cancel();
            }
        });
        self.source.subscribe(Outer {
            shared,
            f: self.f.clone(),
        });
    }
}

impl<P: Publisher> Flux<P> {
    /// Maps each item to a publisher and follows only the newest one (Reactor's
    /// `switchMap`).
    pub fn switch_map<Q, F>(self, f: F) -> Flux<SwitchMap<P, F>>
    where
        F: Fn(P::Item) -> Q + Send + Sync + 'static,
        Q: Publisher,
    {
        crate::flux::wrap(SwitchMap {
            source: self.inner,
            f: Arc::new(f),
        })
    }
}
