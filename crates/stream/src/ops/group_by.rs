//! `group_by(key)`: one [`GroupedFlux`] per distinct key, each receiving the items with that
//! key (Reactor's `groupBy(keyMapper, prefetch)`).
//!
//! # Demand
//!
//! The upstream is asked for `prefetch` items (256 by default) and, as the groups' subscribers
//! take items out of their groups, for as many again in batches of 75 %. So at most `prefetch`
//! items wait in groups at any time. A group is a [`Unicast`] processor: subscribe to it once.
//!
//! # The guard
//!
//! Reactor's most reported `groupBy` pitfall is a silent hang: with `flatMap(concurrency = c)`
//! downstream and more than `c` distinct keys, the `c + 1`-th group can never be emitted (the
//! downstream asked for `c` groups and completes none until the upstream completes), the
//! upstream is never asked for more, and nothing moves. Here, when an item opens a new group
//! and the downstream has no demand for another group, the stream **fails** with
//! [`ErrorKind::TooManyGroups`](crate::ErrorKind), naming the count, instead
//! of hanging. Raise the downstream's concurrency to the number of keys (or use fewer keys).
//!
//! A group whose subscriber cancels is forgotten: a later item with its key opens a new
//! group. Cancelling the outer stream cancels the upstream once no group is being consumed.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use spectrum_sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use spectrum_sync::Mutex;

use super::terminal::sink_for;
use crate::drain::{opaque_debug, replenish_limit, UpstreamSlot};
use crate::processor::Unicast;
use crate::source::{FluxSink, Overflow};
use crate::spec::{Publisher, Subscriber, Subscription};
use crate::{ErrorKind, Flux, StreamError};

/// The items of one key: a single-subscriber publisher with its key.
pub struct GroupedFlux<K, T> {
    key: K,
    inner: Unicast<T>,
}

impl<K: Clone, T> Clone for GroupedFlux<K, T> {
    fn clone(&self) -> Self {
        GroupedFlux {
            key: self.key.clone(),
            inner: self.inner.clone(),
        }
    }
}

impl<K: std::fmt::Debug, T> std::fmt::Debug for GroupedFlux<K, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupedFlux")
            .field("key", &self.key)
            .finish()
    }
}

impl<K, T> GroupedFlux<K, T> {
    /// The key shared by this group's items.
    pub fn key(&self) -> &K {
        &self.key
    }
}

impl<K: Send + Sync + 'static, T: Send + 'static> Publisher for GroupedFlux<K, T> {
    type Item = T;
    fn subscribe<S: Subscriber<T>>(&self, s: S) {
        self.inner.subscribe(s)
    }
}

impl<K: Send + Sync + 'static, T: Send + 'static> GroupedFlux<K, T> {
    /// The full operator set over this group.
    pub fn flux(self) -> Flux<Self> {
        Flux::from_publisher(self)
    }
}

/// The publisher of [`Flux::group_by`].
pub struct GroupBy<P, F> {
    source: P,
    key: Arc<F>,
    prefetch: usize,
}
opaque_debug!(GroupBy<P, F>);
impl<P: Clone, F> Clone for GroupBy<P, F> {
    fn clone(&self) -> Self {
        GroupBy {
            source: self.source.clone(),
            key: self.key.clone(),
            prefetch: self.prefetch,
        }
    }
}

struct GbShared<K, T> {
    groups: Mutex<HashMap<K, Unicast<T>>>,
    upstream: UpstreamSlot,
    consumed: AtomicU64,
    limit: u64,
    outer_cancelled: AtomicBool,
    opened: AtomicU64,
}

impl<K: Hash + Eq, T> GbShared<K, T> {
    fn consumed_one(&self) {
        // A CAS loop so that exactly one caller completes each batch of `limit`.
        let mut cur = self.consumed.load(Relaxed);
        loop {
            let (next, batch) = if cur + 1 >= self.limit {
                (cur + 1 - self.limit, true)
            } else {
                (cur + 1, false)
            };
            match self
                .consumed
                .compare_exchange_weak(cur, next, AcqRel, Relaxed)
            {
                Ok(_) => {
                    if batch {
                        self.upstream.request(self.limit);
                    }
                    return;
                }
                Err(actual) => cur = actual,
            }
        }
    }

    fn group_gone(&self, key: &K) {
        let empty = {
            let mut g = self.groups.lock();
            g.remove(key);
            g.is_empty()
        };
        if empty && self.outer_cancelled.load(Acquire) {
            self.upstream.cancel();
        }
    }
}

struct GbSubscriber<K, T, F> {
    shared: Arc<GbShared<K, T>>,
    outer: FluxSink<GroupedFlux<K, T>>,
    key: Arc<F>,
    prefetch: u64,
    done: bool,
}

impl<K, T, F> Subscriber<T> for GbSubscriber<K, T, F>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    T: Send + 'static,
    F: Fn(&T) -> K + Send + Sync + 'static,
{
    fn on_subscribe(&mut self, up: Arc<dyn Subscription>) {
        if self.shared.upstream.set(up.clone()) {
            up.request(self.prefetch);
        }
    }

    fn on_next(&mut self, v: T) {
        if self.done {
            return;
        }
        let sh = &self.shared;
        let k = (self.key)(&v);
        let existing = sh.groups.lock().get(&k).cloned();
        let group = match existing {
            Some(g) => g,
            None => {
                if sh.outer_cancelled.load(Acquire) {
                    sh.consumed_one();
                    return;
                }
                let open = sh.groups.lock().len();
                if self.outer.requested() == 0 {
                    self.fail_guard(open);
                    return;
                }
                let g = Unicast::new(Overflow::Buffer(usize::MAX));
                let on_pull = sh.clone();
                g.set_on_pull(Arc::new(move || on_pull.consumed_one()));
                let gone = sh.clone();
                let gone_key = k.clone();
                g.sink().on_cancel(move || gone.group_gone(&gone_key));
                sh.groups.lock().insert(k.clone(), g.clone());
                sh.opened.fetch_add(1, Relaxed);
                self.outer.next(GroupedFlux {
                    key: k,
                    inner: g.clone(),
                });
                g
            }
        };
        if !group.next(v) {
            sh.consumed_one();
        }
    }

    fn on_error(&mut self, e: StreamError) {
        if self.done {
            return;
        }
        self.done = true;
        self.shared.upstream.clear();
        let groups: Vec<_> = self.shared.groups.lock().drain().map(|(_, g)| g).collect();
        for g in groups {
            g.error(e.clone());
        }
        self.outer.error(e)
    }

    fn on_complete(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        self.shared.upstream.clear();
        let groups: Vec<_> = self.shared.groups.lock().drain().map(|(_, g)| g).collect();
        for g in groups {
            g.complete();
        }
        self.outer.complete()
    }
}

impl<K, T, F> GbSubscriber<K, T, F>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    T: Send + 'static,
{
    fn fail_guard(&mut self, open: usize) {
        self.done = true;
        self.shared.upstream.cancel();
        let opened = self.shared.opened.load(Relaxed);
        let e = StreamError::with_kind(
            ErrorKind::TooManyGroups,
            format!(
                "group_by: group #{} arrived but the downstream has no demand for another group \
                 ({opened} opened, {open} still open): more groups than the downstream takes at \
                 once (a flat_map concurrency below the number of keys?) would hang; raise that \
                 concurrency or use fewer keys",
                opened + 1
            ),
        );
        let groups: Vec<_> = self.shared.groups.lock().drain().map(|(_, g)| g).collect();
        for g in groups {
            g.error(e.clone());
        }
        self.outer.error(e);
    }
}

impl<P, F, K> Publisher for GroupBy<P, F>
where
    P: Publisher,
    F: Fn(&P::Item) -> K + Send + Sync + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    type Item = GroupedFlux<K, P::Item>;

    fn subscribe<S: Subscriber<Self::Item>>(&self, s: S) {
        let outer = sink_for(Overflow::Buffer(0), "group_by", s);
        let shared = Arc::new(GbShared {
            groups: Mutex::new(HashMap::new()),
            upstream: UpstreamSlot::new(),
            consumed: AtomicU64::new(0),
            limit: replenish_limit(self.prefetch),
            outer_cancelled: AtomicBool::new(false),
            opened: AtomicU64::new(0),
        });
        let hook = shared.clone();
        outer.on_cancel(move || {
            hook.outer_cancelled.store(true, Release);
            if hook.groups.lock().is_empty() {
                hook.upstream.cancel();
            }
        });
        self.source.subscribe(GbSubscriber {
            shared,
            outer,
            key: self.key.clone(),
            prefetch: self.prefetch as u64,
            done: false,
        })
    }
}

impl<P: Publisher> Flux<P> {
    /// Splits the items by `key` into groups (Reactor's `groupBy`), prefetching 256 items.
    /// Fails instead of hanging when the groups outnumber what the downstream takes at once
    /// (see [the module docs](crate::ops::group_by)).
    pub fn group_by<K, F>(self, key: F) -> Flux<GroupBy<P, F>>
    where
        F: Fn(&P::Item) -> K + Send + Sync + 'static,
        K: Hash + Eq + Clone + Send + Sync + 'static,
    {
        self.group_by_with(key, 256)
    }

    /// [`group_by`](Flux::group_by) with `prefetch` items requested ahead.
    ///
    /// # Panics
    ///
    /// If `prefetch` is zero.
    pub fn group_by_with<K, F>(self, key: F, prefetch: usize) -> Flux<GroupBy<P, F>>
    where
        F: Fn(&P::Item) -> K + Send + Sync + 'static,
        K: Hash + Eq + Clone + Send + Sync + 'static,
    {
        assert!(prefetch > 0, "group_by: prefetch must be at least 1");
        crate::flux::wrap(GroupBy {
            source: self.inner,
            key: Arc::new(key),
            prefetch,
        })
    }
}
