//! `zip` and `combine_latest`: two sources, one stream of combinations.
//!
//! - **`zip(a, b)`** (Reactor's `Flux.zip`): pairs the `n`-th item of `a` with the `n`-th of
//!   `b`. Each source is asked for `prefetch` (32) items and replenished at 75 % as pairs are
//!   emitted. It completes as soon as one source has completed and its queue is empty (the
//!   other is cancelled); the first error cancels both and is delivered at once.
//! - **`combine_latest(a, b, f)`** (Reactor's `Flux.combineLatest`): each time either source
//!   emits, `f(latest_a, latest_b)` is emitted once both have emitted at least once.
//!   Combinations wait for demand in a queue; a source item is replenished when its combination
//!   has been emitted (or at once if it made none), so at most `2 × prefetch` combinations wait.
//!   It completes when both sources have completed, or at once when one completes without
//!   having emitted anything (no combination can ever come).
//!
//! Both use the drain protocol of [`crate::drain`]: source subscribers only queue and call
//! `drain`; the drainer alone signals downstream.

use std::collections::VecDeque;
use std::sync::Arc;

use spectrum_sync::atomic::{AtomicU64, AtomicU8, Ordering::*};
use spectrum_sync::Mutex;

use crate::drain::{
    error_quietly, guard, opaque_debug, produced, replenish_limit, request_add, UpstreamSlot,
};
use crate::spec::{Publisher, Subscriber, Subscription};
use crate::{Flux, StreamError};

const CANCELLED: u8 = 1;
const BAD_REQUEST: u8 = 2;
const PREFETCH: u64 = 32;

/// Which source a signal came from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    A,
    B,
}

/// What the two kinds of combination keep between signals.
trait Combiner: Send + 'static {
    type A: Send + 'static;
    type B: Send + 'static;
    type Out: Send + 'static;
    fn push_a(&mut self, v: Self::A) -> u64;
    fn push_b(&mut self, v: Self::B) -> u64;
    /// The next output, and the sides it consumed.
    fn pop(&mut self) -> Option<(Self::Out, bool, bool)>;
    /// Whether the stream is over given which sources are done.
    fn finished(&self, done_a: bool, done_b: bool) -> bool;
}

struct State<C> {
    comb: C,
    done_a: bool,
    done_b: bool,
    error: Option<StreamError>,
}

struct Down<S> {
    s: Option<S>,
    cons_a: u64,
    cons_b: u64,
}

struct Shared<C, S> {
    wip: AtomicU64,
    requested: AtomicU64,
    flags: AtomicU8,
    st: Mutex<State<C>>,
    down: Mutex<Down<S>>,
    up_a: UpstreamSlot,
    up_b: UpstreamSlot,
    limit: u64,
}

impl<C: Combiner, S: Subscriber<C::Out>> Shared<C, S> {
    fn drain(&self) {
        if self.wip.fetch_add(1, AcqRel) != 0 {
            return;
        }
        self.drain_loop(1);
    }

    fn drain_loop(&self, mut missed: u64) {
        let mut d = self.down.lock();
        loop {
            if d.s.is_some() {
                if let Err(e) = guard(|| self.pass(&mut d)) {
                    if let Some(s) = d.s.as_mut() {
                        error_quietly(s, e);
                    }
                    self.cleanup(&mut d);
                }
            }
            missed = self.wip.fetch_sub(missed, AcqRel) - missed;
            if missed == 0 {
                return;
            }
        }
    }

    fn cleanup(&self, d: &mut Down<S>) {
        self.flags.fetch_or(CANCELLED, Relaxed);
        d.s = None;
        self.up_a.cancel();
        self.up_b.cancel();
    }

    fn pass(&self, d: &mut Down<S>) {
        let flags = self.flags.load(Acquire);
        if flags & CANCELLED != 0 {
            self.cleanup(d);
            return;
        }
        if flags & BAD_REQUEST != 0 {
            d.s.as_mut().unwrap().on_error(StreamError::bad_request());
            self.cleanup(d);
            return;
        }
        let r = self.requested.load(Acquire);
        let mut e = 0;
        loop {
            let (next, finished) = {
                let mut st = self.st.lock();
                if let Some(err) = st.error.take() {
                    drop(st);
                    d.s.as_mut().unwrap().on_error(err);
                    self.cleanup(d);
                    return;
                }
                let next = if e < r { st.comb.pop() } else { None };
                let finished = next.is_none() && st.comb.finished(st.done_a, st.done_b);
                (next, finished)
            };
            match next {
                Some((v, used_a, used_b)) => {
                    d.s.as_mut().unwrap().on_next(v);
                    e += 1;
                    if used_a {
                        d.cons_a += 1;
                        if d.cons_a == self.limit {
                            d.cons_a = 0;
                            self.up_a.request(self.limit);
                        }
                    }
                    if used_b {
                        d.cons_b += 1;
                        if d.cons_b == self.limit {
                            d.cons_b = 0;
                            self.up_b.request(self.limit);
                        }
                    }
                    if self.flags.load(Relaxed) & CANCELLED != 0 {
                        self.cleanup(d);
                        return;
                    }
                }
                None => {
                    if finished {
                        d.s.as_mut().unwrap().on_complete();
                        self.cleanup(d);
                        return;
                    }
                    break;
                }
            }
        }
        if e > 0 {
            produced(&self.requested, e);
        }
    }
}

impl<C: Combiner, S: Subscriber<C::Out>> Subscription for Shared<C, S> {
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

struct SideSubscriber<C, S> {
    shared: Arc<Shared<C, S>>,
    side: Side,
}

impl<C: Combiner, S: Subscriber<C::Out>> SideSubscriber<C, S> {
    fn slot(&self) -> &UpstreamSlot {
        match self.side {
            Side::A => &self.shared.up_a,
            Side::B => &self.shared.up_b,
        }
    }
    fn push(&self, f: impl FnOnce(&mut C) -> u64) {
        let immediate = f(&mut self.shared.st.lock().comb);
        if immediate > 0 {
            self.slot().request(immediate);
        }
        self.shared.drain();
    }
    fn on_subscribe_side(&self, up: Arc<dyn Subscription>) {
        if self.slot().set(up.clone()) {
            up.request(PREFETCH);
        }
    }
    fn end(&self, e: Option<StreamError>) {
        {
            let mut st = self.shared.st.lock();
            match self.side {
                Side::A => st.done_a = true,
                Side::B => st.done_b = true,
            }
            if let Some(e) = e {
                if st.error.is_none() {
                    st.error = Some(e);
                }
            }
        }
        self.slot().clear();
        self.shared.drain();
    }
}

/// Wraps a side subscriber so that each side has its own item type.
struct ASide<C, S>(SideSubscriber<C, S>);
struct BSide<C, S>(SideSubscriber<C, S>);

impl<C: Combiner, S: Subscriber<C::Out>> Subscriber<C::A> for ASide<C, S> {
    fn on_subscribe(&mut self, up: Arc<dyn Subscription>) {
        self.0.on_subscribe_side(up)
    }
    fn on_next(&mut self, v: C::A) {
        self.0.push(|c| c.push_a(v))
    }
    fn on_error(&mut self, e: StreamError) {
        self.0.end(Some(e))
    }
    fn on_complete(&mut self) {
        self.0.end(None)
    }
}

impl<C: Combiner, S: Subscriber<C::Out>> Subscriber<C::B> for BSide<C, S> {
    fn on_subscribe(&mut self, up: Arc<dyn Subscription>) {
        self.0.on_subscribe_side(up)
    }
    fn on_next(&mut self, v: C::B) {
        self.0.push(|c| c.push_b(v))
    }
    fn on_error(&mut self, e: StreamError) {
        self.0.end(Some(e))
    }
    fn on_complete(&mut self) {
        self.0.end(None)
    }
}

fn run<C, S, PA, PB>(comb: C, a: &PA, b: &PB, mut s: S)
where
    C: Combiner,
    S: Subscriber<C::Out>,
    PA: Publisher<Item = C::A>,
    PB: Publisher<Item = C::B>,
{
    let shared = Arc::new(Shared {
        wip: AtomicU64::new(0),
        requested: AtomicU64::new(0),
        flags: AtomicU8::new(0),
        st: Mutex::new(State {
            comb,
            done_a: false,
            done_b: false,
            error: None,
        }),
        down: Mutex::new(Down {
            s: None,
            cons_a: 0,
            cons_b: 0,
        }),
        up_a: UpstreamSlot::new(),
        up_b: UpstreamSlot::new(),
        limit: replenish_limit(PREFETCH as usize),
    });
    // Hold `wip` while the subscriber gets `on_subscribe`, so its requests only add demand.
    shared.wip.store(1, Relaxed);
    let me: Arc<dyn Subscription> = shared.clone();
    if let Err(e) = guard(|| s.on_subscribe(me)) {
        error_quietly(&mut s, e);
        shared.flags.fetch_or(CANCELLED, Relaxed);
        return;
    }
    shared.down.lock().s = Some(s);
    shared.drain_loop(1);
    a.subscribe(ASide(SideSubscriber {
        shared: shared.clone(),
        side: Side::A,
    }));
    b.subscribe(BSide(SideSubscriber {
        shared,
        side: Side::B,
    }));
}

struct ZipComb<A, B> {
    qa: VecDeque<A>,
    qb: VecDeque<B>,
}

impl<A: Send + 'static, B: Send + 'static> Combiner for ZipComb<A, B> {
    type A = A;
    type B = B;
    type Out = (A, B);
    fn push_a(&mut self, v: A) -> u64 {
        self.qa.push_back(v);
        0
    }
    fn push_b(&mut self, v: B) -> u64 {
        self.qb.push_back(v);
        0
    }
    fn pop(&mut self) -> Option<((A, B), bool, bool)> {
        if self.qa.is_empty() || self.qb.is_empty() {
            return None;
        }
        Some(((self.qa.pop_front()?, self.qb.pop_front()?), true, true))
    }
    fn finished(&self, done_a: bool, done_b: bool) -> bool {
        (done_a && self.qa.is_empty()) || (done_b && self.qb.is_empty())
    }
}

struct LatestComb<A, B, F, O> {
    la: Option<A>,
    lb: Option<B>,
    f: Arc<F>,
    queue: VecDeque<(O, Side)>,
}

impl<A, B, F, O> Combiner for LatestComb<A, B, F, O>
where
    A: Send + 'static,
    B: Send + 'static,
    O: Send + 'static,
    F: Fn(&A, &B) -> O + Send + Sync + 'static,
{
    type A = A;
    type B = B;
    type Out = O;
    fn push_a(&mut self, v: A) -> u64 {
        self.la = Some(v);
        match (&self.la, &self.lb) {
            (Some(a), Some(b)) => {
                self.queue.push_back(((self.f)(a, b), Side::A));
                0
            }
            _ => 1,
        }
    }
    fn push_b(&mut self, v: B) -> u64 {
        self.lb = Some(v);
        match (&self.la, &self.lb) {
            (Some(a), Some(b)) => {
                self.queue.push_back(((self.f)(a, b), Side::B));
                0
            }
            _ => 1,
        }
    }
    fn pop(&mut self) -> Option<(O, bool, bool)> {
        let (o, side) = self.queue.pop_front()?;
        Some((o, side == Side::A, side == Side::B))
    }
    fn finished(&self, done_a: bool, done_b: bool) -> bool {
        (done_a && self.la.is_none())
            || (done_b && self.lb.is_none())
            || (done_a && done_b && self.queue.is_empty())
    }
}

/// The publisher of [`Flux::zip`].
#[derive(Clone, Debug)]
pub struct Zip<PA, PB> {
    a: PA,
    b: PB,
}

impl<PA: Publisher, PB: Publisher> Publisher for Zip<PA, PB> {
    type Item = (PA::Item, PB::Item);
    fn subscribe<S: Subscriber<Self::Item>>(&self, s: S) {
        run(
            ZipComb {
                qa: VecDeque::new(),
                qb: VecDeque::new(),
            },
            &self.a,
            &self.b,
            s,
        )
    }
}

/// The publisher of [`Flux::combine_latest`].
pub struct CombineLatest<PA, PB, F> {
    a: PA,
    b: PB,
    f: Arc<F>,
}
opaque_debug!(CombineLatest<PA, PB, F>);
impl<PA: Clone, PB: Clone, F> Clone for CombineLatest<PA, PB, F> {
    fn clone(&self) -> Self {
        CombineLatest {
            a: self.a.clone(),
            b: self.b.clone(),
            f: self.f.clone(),
        }
    }
}

impl<PA, PB, F, O> Publisher for CombineLatest<PA, PB, F>
where
    PA: Publisher,
    PB: Publisher,
    O: Send + 'static,
    F: Fn(&PA::Item, &PB::Item) -> O + Send + Sync + 'static,
{
    type Item = O;
    fn subscribe<S: Subscriber<O>>(&self, s: S) {
        run(
            LatestComb {
                la: None,
                lb: None,
                f: self.f.clone(),
                queue: VecDeque::new(),
            },
            &self.a,
            &self.b,
            s,
        )
    }
}

impl<PA: Publisher, PB: Publisher> Flux<Zip<PA, PB>> {
    /// Pairs the items of `a` and `b` one to one (Reactor's `Flux.zip`).
    ///
    /// ```
    /// # spectrum_rt::Runtime::new().unwrap().block_on(async {
    /// use spectrum_stream::Flux;
    /// let z = Flux::zip(Flux::range(0..3), Flux::from_iterable(vec!["a", "b", "c", "d"]));
    /// let v = z.collect::<Vec<_>>().await.unwrap().unwrap();
    /// assert_eq!(v, [(0, "a"), (1, "b"), (2, "c")]);
    /// # });
    /// ```
    pub fn zip(a: PA, b: PB) -> Self {
        crate::flux::wrap(Zip { a, b })
    }
}

impl<PA, PB, F, O> Flux<CombineLatest<PA, PB, F>>
where
    PA: Publisher,
    PB: Publisher,
    O: Send + 'static,
    F: Fn(&PA::Item, &PB::Item) -> O + Send + Sync + 'static,
{
    /// Emits `f(latest a, latest b)` whenever either emits, once both have (Reactor's
    /// `Flux.combineLatest`).
    pub fn combine_latest(a: PA, b: PB, f: F) -> Self {
        crate::flux::wrap(CombineLatest {
            a,
            b,
            f: Arc::new(f),
        })
    }
}

impl<P: Publisher> Flux<P> {
    /// Pairs this stream's items with `other`'s (see [`Flux::zip`]).
    pub fn zip_with<Q: Publisher>(self, other: Q) -> Flux<Zip<P, Q>> {
        crate::flux::wrap(Zip {
            a: self.inner,
            b: other,
        })
    }
}
