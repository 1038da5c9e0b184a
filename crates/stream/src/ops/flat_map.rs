//! `flat_map`, `flat_map_sequential`, `concat_map`, `merge`, `concat`: one engine that
//! subscribes to an inner publisher per outer item and merges the inners' items.
//!
//! # Semantics (Reactor's)
//!
//! | operator | inners at once | order of items | Reactor |
//! |---|---|---|---|
//! | `flat_map(f)` | 256 | as they arrive | `flatMap(f)`: concurrency 256, prefetch 32 |
//! | `flat_map_with(f, c, p)` | `c` | as they arrive | `flatMap(f, c, p)` |
//! | `flat_map_unbounded(f)` | unbounded | as they arrive | `flatMap(f, Integer.MAX_VALUE)` |
//! | `flat_map_sequential(f)` | 256 | outer order (later inners are buffered) | `flatMapSequential` |
//! | `concat_map(f)` | 1 | outer order | `concatMap(f)` |
//! | `Flux::merge(v)` | all | as they arrive | `Flux.merge` |
//! | `Flux::concat(v)` | 1 | source order | `Flux.concat` |
//!
//! **Bounded by default** (the "flatMap exploding" pitfall): the outer publisher is asked for
//! `concurrency` items up front and for one more each time an inner completes; each inner is
//! asked for `prefetch` items and replenished by 75 % of that as they are emitted. So at most
//! `concurrency × prefetch` items are buffered. Unbounded concurrency has to be spelled
//! `flat_map_unbounded`. The first error (outer or inner) cancels everything else and is
//! delivered at once (Reactor's default, not `delayError`).
//!
//! # Design (RxJava's `FlowableFlatMap`, simplified)
//!
//! One drain loop ([`crate::drain`]) owns the downstream subscriber and the list of active
//! inners (`DrainState`, locked only by the drainer). Inner subscribers push into their own
//! queue and call `drain`; the outer subscriber hands new inners over through `pending`.
//! *Scalar* inners (publishers that know their one item, like `just`) are not subscribed at
//! all: if nobody is draining and there is demand, the item is emitted straight away from the
//! outer `on_next` (the fast path that makes `flat_map(just)` cheap); otherwise it waits in
//! `scalars`. In sequential mode a scalar becomes a finished inner holding one item, so that
//! order is kept.

use std::collections::VecDeque;
use std::sync::Arc;

use spectrum_sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering::*};
use spectrum_sync::Mutex;

use crate::drain::UpstreamSlot;
use crate::drain::{error_quietly, guard, opaque_debug, produced, replenish_limit, request_add};
use crate::spec::{Publisher, Subscriber, Subscription, UNBOUNDED};
use crate::{Flux, StreamError};

/// Reactor's default `flatMap` concurrency (`Queues.SMALL_BUFFER_SIZE`).
pub const DEFAULT_CONCURRENCY: usize = 256;
/// Reactor's default inner prefetch (`Queues.XS_BUFFER_SIZE`).
pub const DEFAULT_PREFETCH: usize = 32;

const CANCELLED: u8 = 1;
const BAD_REQUEST: u8 = 2;
const OUTER_DONE: u8 = 4;

/// The publisher of the `flat_map` family.
pub struct FlatMap<P, F> {
    source: P,
    f: Arc<F>,
    concurrency: usize,
    prefetch: usize,
    ordered: bool,
}
opaque_debug!(FlatMap<P, F>);
impl<P: Clone, F> Clone for FlatMap<P, F> {
    fn clone(&self) -> Self {
        FlatMap {
            source: self.source.clone(),
            f: self.f.clone(),
            concurrency: self.concurrency,
            prefetch: self.prefetch,
            ordered: self.ordered,
        }
    }
}

struct Inner<U> {
    queue: Mutex<VecDeque<U>>,
    done: AtomicBool,
    sub: UpstreamSlot,
}

impl<U> Inner<U> {
    fn new() -> Self {
        Inner {
            queue: Mutex::new(VecDeque::new()),
            done: AtomicBool::new(false),
            sub: UpstreamSlot::new(),
        }
    }
}

struct ActiveInner<U> {
    inner: Arc<Inner<U>>,
    consumed: u64,
}

struct DrainState<S, U> {
    s: Option<S>,
    active: VecDeque<ActiveInner<U>>,
    cursor: usize,
    outer_consumed: u64,
}

struct Shared<U, S> {
    wip: AtomicU64,
    requested: AtomicU64,
    flags: AtomicU8,
    error: Mutex<Option<StreamError>>,
    upstream: UpstreamSlot,
    pending: Mutex<Vec<Arc<Inner<U>>>>,
    scalars: Mutex<VecDeque<U>>,
    /// `scalars.len()`, readable without the lock (the fast path's "nothing queued ahead").
    scalar_count: AtomicU64,
    state: Mutex<DrainState<S, U>>,
    outer_limit: u64,
    prefetch: u64,
    inner_limit: u64,
    ordered: bool,
}

impl<U: Send + 'static, S: Subscriber<U>> Shared<U, S> {
    fn drain(&self) {
        if self.wip.fetch_add(1, AcqRel) != 0 {
            return;
        }
        self.drain_loop(1);
    }

    fn drain_loop(&self, mut missed: u64) {
        let mut st = self.state.lock();
        loop {
            if st.s.is_some() {
                if let Err(e) = guard(|| self.pass(&mut st)) {
                    self.flags.fetch_or(CANCELLED, Relaxed);
                    if let Some(s) = st.s.as_mut() {
                        error_quietly(s, e);
                    }
                    self.cleanup(&mut st);
                }
            }
            missed = self.wip.fetch_sub(missed, AcqRel) - missed;
            if missed == 0 {
                return;
            }
        }
    }

    /// Cancels everything and drops the subscriber.
    fn cleanup(&self, st: &mut DrainState<S, U>) {
        st.s = None;
        self.upstream.cancel();
        for a in st.active.drain(..) {
            a.inner.sub.cancel();
        }
        for i in self.pending.lock().drain(..) {
            i.sub.cancel();
        }
        let mut q = self.scalars.lock();
        self.scalar_count.fetch_sub(q.len() as u64, Relaxed);
        q.clear();
    }

    fn replenish_outer(&self, st: &mut DrainState<S, U>, n: u64) {
        if self.outer_limit >= UNBOUNDED {
            return;
        }
        st.outer_consumed += n;
        if st.outer_consumed >= self.outer_limit {
            let k = st.outer_consumed;
            st.outer_consumed = 0;
            self.upstream.request(k);
        }
    }

    /// One drain pass. Work that arrives meanwhile (including items that the replenishing
    /// requests below produce synchronously) bumps `wip`, so `drain_loop` runs another pass.
    fn pass(&self, st: &mut DrainState<S, U>) {
        {
            let flags = self.flags.load(Acquire);
            if flags & CANCELLED != 0 {
                self.cleanup(st);
                return;
            }
            if flags & BAD_REQUEST != 0 {
                self.flags.fetch_or(CANCELLED, Relaxed);
                st.s.as_mut().unwrap().on_error(StreamError::bad_request());
                self.cleanup(st);
                return;
            }
            let err = self.error.lock().take();
            if let Some(e) = err {
                self.flags.fetch_or(CANCELLED, Relaxed);
                st.s.as_mut().unwrap().on_error(e);
                self.cleanup(st);
                return;
            }
            {
                let mut p = self.pending.lock();
                for inner in p.drain(..) {
                    st.active.push_back(ActiveInner { inner, consumed: 0 });
                }
            }
            let r = self.requested.load(Acquire);
            let mut e = 0u64;
            let mut replenish = 0u64;
            // Scalars (unordered mode only).
            while e < r && self.scalar_count.load(Acquire) > 0 {
                let Some(v) = self.scalars.lock().pop_front() else {
                    break;
                };
                self.scalar_count.fetch_sub(1, Relaxed);
                st.s.as_mut().unwrap().on_next(v);
                e += 1;
                replenish += 1;
                if self.flags.load(Relaxed) & CANCELLED != 0 {
                    break;
                }
            }
            // Inners.
            let mut i = if self.ordered { 0 } else { st.cursor };
            let mut visited = 0;
            while visited < st.active.len() && self.flags.load(Relaxed) & CANCELLED == 0 {
                if i >= st.active.len() {
                    i = 0;
                }
                let (done, empty) = {
                    let a = &mut st.active[i];
                    let inner = a.inner.clone();
                    let mut got = 0u64;
                    while e < r {
                        let Some(v) = inner.queue.lock().pop_front() else {
                            break;
                        };
                        st.s.as_mut().unwrap().on_next(v);
                        e += 1;
                        got += 1;
                        if self.flags.load(Relaxed) & CANCELLED != 0 {
                            break;
                        }
                    }
                    let a = &mut st.active[i];
                    a.consumed += got;
                    if a.consumed >= self.inner_limit && self.inner_limit < UNBOUNDED {
                        let k = a.consumed;
                        a.consumed = 0;
                        a.inner.sub.request(k);
                    }
                    // Acquire: pairs with the Release store in on_complete, so the queue
                    // holds every item the inner sent.
                    let done = a.inner.done.load(Acquire);
                    (done, a.inner.queue.lock().is_empty())
                };
                if done && empty {
                    st.active.remove(i);
                    replenish += 1;
                    continue; // same index now holds the next inner
                }
                if self.ordered {
                    break; // only the head may emit
                }
                i += 1;
                visited += 1;
            }
            st.cursor = i;
            if e > 0 {
                produced(&self.requested, e);
            }
            if replenish > 0 {
                self.replenish_outer(st, replenish);
            }
            if self.flags.load(Acquire) & CANCELLED != 0 {
                self.cleanup(st);
                return;
            }
            // Completion: the outer is done and nothing is left anywhere. Acquire on the flag
            // makes every push the outer made before `on_complete` visible.
            if self.flags.load(Acquire) & OUTER_DONE != 0
                && st.active.is_empty()
                && self.pending.lock().is_empty()
                && self.scalar_count.load(Acquire) == 0
            {
                st.s.as_mut().unwrap().on_complete();
                st.s = None;
                self.upstream.clear();
            }
        }
    }

    fn set_error(&self, e: StreamError) {
        let mut g = self.error.lock();
        if g.is_none() {
            *g = Some(e);
        }
    }
}

impl<U: Send + 'static, S: Subscriber<U>> Subscription for Shared<U, S> {
    fn request(&self, n: u64) {
        if n == 0 {
            self.flags.fetch_or(BAD_REQUEST, Release);
        } else {
            request_add(&self.requested, n);
        }
        self.drain();
    }
    fn cancel(&self) {
        if self.flags.fetch_or(CANCELLED, Release) & CANCELLED == 0 {
            self.drain();
        }
    }
}

struct OuterSubscriber<U, S, F> {
    shared: Arc<Shared<U, S>>,
    f: Arc<F>,
    concurrency: u64,
    done: bool,
}

struct InnerSubscriber<U, S> {
    shared: Arc<Shared<U, S>>,
    inner: Arc<Inner<U>>,
}

impl<U: Send + 'static, S: Subscriber<U>> Subscriber<U> for InnerSubscriber<U, S> {
    fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
        if self.inner.sub.set(s.clone()) {
            s.request(self.shared.prefetch);
        }
    }
    fn on_next(&mut self, v: U) {
        self.inner.queue.lock().push_back(v);
        self.shared.drain();
    }
    fn on_error(&mut self, e: StreamError) {
        self.inner.sub.clear();
        self.shared.set_error(e);
        self.inner.done.store(true, Release);
        self.shared.drain();
    }
    fn on_complete(&mut self) {
        // Release: pairs with the drainer's Acquire load of `done`.
        self.inner.done.store(true, Release);
        self.inner.sub.clear();
        self.shared.drain();
    }
}

impl<T, U, S, F, Q> Subscriber<T> for OuterSubscriber<U, S, F>
where
    T: Send + 'static,
    U: Send + 'static,
    S: Subscriber<U>,
    F: Fn(T) -> Q + Send + Sync + 'static,
    Q: Publisher<Item = U>,
{
    fn on_subscribe(&mut self, up: Arc<dyn Subscription>) {
        if self.shared.upstream.set(up.clone()) {
            up.request(self.concurrency);
        }
    }

    #[inline]
    fn on_next(&mut self, t: T) {
        if self.done {
            return;
        }
        let q = (self.f)(t);
        let sh = &*self.shared;
        if let Some(v) = q.scalar() {
            // Fast path: nobody draining, demand, nothing queued ahead of it.
            if sh.wip.compare_exchange(0, 1, AcqRel, Relaxed).is_ok() {
                let mut st = sh.state.lock();
                let ahead = if sh.ordered {
                    !st.active.is_empty() || !sh.pending.lock().is_empty()
                } else {
                    sh.scalar_count.load(Acquire) > 0
                };
                if st.s.is_some() && !ahead && sh.requested.load(Acquire) > 0 {
                    let r = guard(|| st.s.as_mut().unwrap().on_next(v));
                    match r {
                        Ok(()) => {
                            produced(&sh.requested, 1);
                            sh.replenish_outer(&mut st, 1);
                        }
                        Err(e) => {
                            sh.flags.fetch_or(CANCELLED, Relaxed);
                            if let Some(s) = st.s.as_mut() {
                                error_quietly(s, e);
                            }
                            sh.cleanup(&mut st);
                        }
                    }
                } else {
                    self.enqueue_scalar(v);
                }
                drop(st);
                if sh.wip.fetch_sub(1, AcqRel) != 1 {
                    sh.drain_loop(1);
                }
                return;
            }
            self.enqueue_scalar(v);
            sh.drain();
            return;
        }
        let inner = Arc::new(Inner::new());
        sh.pending.lock().push(inner.clone());
        q.subscribe(InnerSubscriber {
            shared: self.shared.clone(),
            inner,
        });
        sh.drain();
    }

    fn on_error(&mut self, e: StreamError) {
        if self.done {
            return;
        }
        self.done = true;
        self.shared.set_error(e);
        self.shared.flags.fetch_or(OUTER_DONE, Release);
        self.shared.upstream.clear();
        self.shared.drain();
    }

    fn on_complete(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        self.shared.flags.fetch_or(OUTER_DONE, Release);
        self.shared.upstream.clear();
        self.shared.drain();
    }
}

impl<U: Send + 'static, S: Subscriber<U>, F> OuterSubscriber<U, S, F> {
    fn enqueue_scalar(&self, v: U) {
        let sh = &*self.shared;
        if sh.ordered {
            let inner = Arc::new(Inner::new());
            inner.queue.lock().push_back(v);
            inner.done.store(true, Release);
            sh.pending.lock().push(inner);
        } else {
            sh.scalars.lock().push_back(v);
            // Release: the item is in the queue before the count says so.
            sh.scalar_count.fetch_add(1, Release);
        }
    }
}

impl<P, F, Q> Publisher for FlatMap<P, F>
where
    P: Publisher,
    F: Fn(P::Item) -> Q + Send + Sync + 'static,
    Q: Publisher,
{
    type Item = Q::Item;

    fn subscribe<S: Subscriber<Q::Item>>(&self, s: S) {
        let concurrency = if self.concurrency as u64 >= UNBOUNDED {
            UNBOUNDED
        } else {
            self.concurrency as u64
        };
        let shared = Arc::new(Shared {
            wip: AtomicU64::new(1),
            requested: AtomicU64::new(0),
            flags: AtomicU8::new(0),
            error: Mutex::new(None),
            upstream: UpstreamSlot::new(),
            pending: Mutex::new(Vec::new()),
            scalars: Mutex::new(VecDeque::new()),
            scalar_count: AtomicU64::new(0),
            state: Mutex::new(DrainState {
                s: Some(s),
                active: VecDeque::new(),
                cursor: 0,
                outer_consumed: 0,
            }),
            outer_limit: replenish_limit(self.concurrency),
            prefetch: self.prefetch as u64,
            inner_limit: replenish_limit(self.prefetch),
            ordered: self.ordered,
        });
        // `wip` starts at 1: we are the drainer while the subscriber gets `on_subscribe`.
        {
            let mut st = shared.state.lock();
            let me: Arc<dyn Subscription> = shared.clone();
            let r = guard(|| st.s.as_mut().unwrap().on_subscribe(me));
            if let Err(e) = r {
                shared.flags.fetch_or(CANCELLED, Relaxed);
                if let Some(s) = st.s.as_mut() {
                    error_quietly(s, e);
                }
                shared.cleanup(&mut st);
            }
        }
        shared.drain_loop(1);
        self.source.subscribe(OuterSubscriber {
            shared,
            f: self.f.clone(),
            concurrency,
            done: false,
        });
    }
}

fn check(concurrency: usize, prefetch: usize, what: &str) {
    assert!(
        concurrency > 0 && prefetch > 0,
        "{what}: concurrency and prefetch must be at least 1 (got {concurrency} and {prefetch})"
    );
}

impl<P: Publisher> Flux<P> {
    /// Maps each item to a publisher and merges their items as they arrive (Reactor's
    /// `flatMap`): at most 256 inners at once, 32 items prefetched from each.
    pub fn flat_map<Q, F>(self, f: F) -> Flux<FlatMap<P, F>>
    where
        F: Fn(P::Item) -> Q + Send + Sync + 'static,
        Q: Publisher,
    {
        self.flat_map_with(f, DEFAULT_CONCURRENCY, DEFAULT_PREFETCH)
    }

    /// [`flat_map`](Flux::flat_map) with explicit bounds: at most `concurrency` inners
    /// subscribed at once, `prefetch` items requested from each.
    ///
    /// # Panics
    ///
    /// If `concurrency` or `prefetch` is zero.
    pub fn flat_map_with<Q, F>(
        self,
        f: F,
        concurrency: usize,
        prefetch: usize,
    ) -> Flux<FlatMap<P, F>>
    where
        F: Fn(P::Item) -> Q + Send + Sync + 'static,
        Q: Publisher,
    {
        check(concurrency, prefetch, "flat_map_with");
        crate::flux::wrap(FlatMap {
            source: self.inner,
            f: Arc::new(f),
            concurrency,
            prefetch,
            ordered: false,
        })
    }

    /// [`flat_map`](Flux::flat_map) with **no bound** on the number of inners subscribed at
    /// once: the outer publisher is requested in full. Only for sources known to be small.
    pub fn flat_map_unbounded<Q, F>(self, f: F) -> Flux<FlatMap<P, F>>
    where
        F: Fn(P::Item) -> Q + Send + Sync + 'static,
        Q: Publisher,
    {
        self.flat_map_with(f, usize::MAX, DEFAULT_PREFETCH)
    }

    /// Like [`flat_map`](Flux::flat_map), but emits the inners' items in the order of the
    /// outer items (Reactor's `flatMapSequential`): up to 256 inners run at once and the
    /// later ones are buffered (up to their prefetch) until the earlier ones complete.
    pub fn flat_map_sequential<Q, F>(self, f: F) -> Flux<FlatMap<P, F>>
    where
        F: Fn(P::Item) -> Q + Send + Sync + 'static,
        Q: Publisher,
    {
        self.flat_map_sequential_with(f, DEFAULT_CONCURRENCY, DEFAULT_PREFETCH)
    }

    /// [`flat_map_sequential`](Flux::flat_map_sequential) with explicit bounds.
    ///
    /// # Panics
    ///
    /// If `concurrency` or `prefetch` is zero.
    pub fn flat_map_sequential_with<Q, F>(
        self,
        f: F,
        concurrency: usize,
        prefetch: usize,
    ) -> Flux<FlatMap<P, F>>
    where
        F: Fn(P::Item) -> Q + Send + Sync + 'static,
        Q: Publisher,
    {
        check(concurrency, prefetch, "flat_map_sequential_with");
        crate::flux::wrap(FlatMap {
            source: self.inner,
            f: Arc::new(f),
            concurrency,
            prefetch,
            ordered: true,
        })
    }

    /// Maps each item to a publisher and emits their items one publisher after the other,
    /// subscribing to the next only when the previous completed (Reactor's `concatMap`).
    pub fn concat_map<Q, F>(self, f: F) -> Flux<FlatMap<P, F>>
    where
        F: Fn(P::Item) -> Q + Send + Sync + 'static,
        Q: Publisher,
    {
        self.flat_map_sequential_with(f, 1, DEFAULT_PREFETCH)
    }
}

/// The publisher of [`Flux::merge`] and [`Flux::concat`].
pub type Merge<Q> = FlatMap<crate::source::Iter<Vec<Q>>, fn(Q) -> Q>;

impl<Q: Publisher + Clone> Flux<Merge<Q>> {
    /// Merges the items of `sources` as they arrive, all subscribed at once (Reactor's
    /// `Flux.merge`). Use [`BoxPublisher`](crate::BoxPublisher) for sources of different
    /// types.
    pub fn merge(sources: Vec<Q>) -> Self {
        let n = sources.len().max(1);
        Flux::from_iterable(sources).flat_map_with(
            std::convert::identity as fn(Q) -> Q,
            n,
            DEFAULT_PREFETCH,
        )
    }

    /// Emits the items of each source in turn, subscribing to the next when the previous
    /// completes (Reactor's `Flux.concat`).
    pub fn concat(sources: Vec<Q>) -> Self {
        Flux::from_iterable(sources).concat_map(std::convert::identity as fn(Q) -> Q)
    }
}
