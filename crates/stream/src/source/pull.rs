//! The subscription of every synchronous source: a pull-able [`PullSource`] driven by demand.
//!
//! # Invariants
//!
//! 1. `state` holds the source and the subscriber until the subscription ends (complete, error,
//!    cancel, panic); then it is `None`, so the subscriber is dropped (rule 3.13).
//! 2. `state` is locked only by the drainer (the caller that moved `wip` from 0), so the lock is
//!    never contended for long and signals are serial (see [`crate::drain`]).
//! 3. `requested` is outstanding demand: added by `request`, subtracted by the drainer after it
//!    emitted, never below zero; at [`UNBOUNDED`] it stays there (the fast path: no counting).
//! 4. `flags` carries `CANCELLED` and `BAD_REQUEST`; one `Relaxed` load per item is all the fast
//!    path pays for cancellation. Relaxed is enough there: the flag is a hint that stops the
//!    loop early; the `wip` increment that follows every `cancel` makes the drainer loop once
//!    more with an `AcqRel` edge, and that pass sees it for sure.
//!
//! # Protocol
//!
//! *Subscribe:* allocate with `wip = 1` (the subscribing thread is the drainer), call
//! `on_subscribe` under the state lock (a `request` inside it only adds demand), then drain.
//!
//! *Drain pass:* stop if cancelled; signal the bad request if any; emit while `e < requested`;
//! when the demand is met, ask the source whether it is finished anyway (an exhausted iterator
//! completes without waiting for a request, as Reactor's `fromIterable` does); subtract `e`.

use std::sync::Arc;

use spectrum_sync::atomic::{AtomicU64, AtomicU8, Ordering::*};
use spectrum_sync::Mutex;

use crate::drain::{error_quietly, guard, produced, request_add};
use crate::spec::{Subscriber, Subscription, UNBOUNDED};
use crate::StreamError;

/// What a source has next.
pub(crate) enum Pull<T> {
    Item(T),
    Done,
    Error(StreamError),
    /// Nothing now; the source will call [`Drainer::drain`] when it has something.
    Pending,
}

/// A source that produces items on demand.
pub(crate) trait PullSource: Send + 'static {
    type Item: Send + 'static;

    /// The next item (called only when there is demand).
    fn pull(&mut self) -> Pull<Self::Item>;

    /// With no demand left: `Some(Done)` / `Some(Error)` if the source has ended anyway.
    fn poll_terminal(&mut self) -> Option<Pull<Self::Item>> {
        None
    }
}

const CANCELLED: u8 = 1;
const BAD_REQUEST: u8 = 2;

/// The demand side of a pull subscription, for sources that push (`create`): they wake the
/// drainer and read the outstanding demand.
pub(crate) trait Drainer: Send + Sync {
    fn drain(&self);
    fn outstanding(&self) -> u64;
    fn is_cancelled(&self) -> bool;
}

pub(crate) struct PullSubscription<G, S> {
    requested: AtomicU64,
    wip: AtomicU64,
    flags: AtomicU8,
    state: Mutex<Option<(G, S)>>,
}

/// Subscribes `s` to `source`: `on_subscribe` first, then items as demanded.
pub(crate) fn subscribe_pull<G: PullSource, S: Subscriber<G::Item>>(
    source: G,
    s: S,
) -> Arc<PullSubscription<G, S>> {
    let sub = Arc::new(PullSubscription {
        requested: AtomicU64::new(0),
        wip: AtomicU64::new(1),
        flags: AtomicU8::new(0),
        state: Mutex::new(Some((source, s))),
    });
    sub.start();
    sub
}

impl<G: PullSource, S: Subscriber<G::Item>> PullSubscription<G, S> {
    fn start(self: &Arc<Self>) {
        let mut g = self.state.lock();
        let me: Arc<dyn Subscription> = self.clone();
        if let Some((_, s)) = g.as_mut() {
            if let Err(e) = guard(|| s.on_subscribe(me)) {
                self.flags.fetch_or(CANCELLED, Relaxed);
                error_quietly(s, e);
                *g = None;
            }
        }
        self.drain_loop(g);
    }

    fn drain_now(&self) {
        if self.wip.fetch_add(1, AcqRel) != 0 {
            return;
        }
        let g = self.state.lock();
        self.drain_loop(g);
    }

    fn drain_loop(&self, mut g: spectrum_sync::MutexGuard<'_, Option<(G, S)>>) {
        let mut missed = 1;
        loop {
            if let Some((src, s)) = g.as_mut() {
                match guard(|| self.emit(src, s)) {
                    Ok(false) => {}
                    Ok(true) => *g = None,
                    Err(e) => {
                        self.flags.fetch_or(CANCELLED, Relaxed);
                        error_quietly(s, e);
                        *g = None;
                    }
                }
            }
            // AcqRel: publishes this pass's work to the next drainer, and sees the changes of
            // everyone who incremented `wip` meanwhile.
            missed = self.wip.fetch_sub(missed, AcqRel) - missed;
            if missed == 0 {
                return;
            }
        }
    }

    /// One drain pass; `true` when the subscription is over (terminal signal sent or
    /// cancelled).
    #[inline]
    fn emit(&self, src: &mut G, s: &mut S) -> bool {
        let flags = self.flags.load(Acquire);
        if flags & CANCELLED != 0 {
            return true;
        }
        if flags & BAD_REQUEST != 0 {
            self.flags.fetch_or(CANCELLED, Relaxed);
            s.on_error(StreamError::bad_request());
            return true;
        }
        let mut r = self.requested.load(Acquire);
        loop {
            if r >= UNBOUNDED {
                // Fast path: no demand accounting.
                loop {
                    if self.flags.load(Relaxed) != 0 {
                        return self.interrupted(s);
                    }
                    match src.pull() {
                        Pull::Item(v) => s.on_next(v),
                        Pull::Done => {
                            s.on_complete();
                            return true;
                        }
                        Pull::Error(e) => {
                            s.on_error(e);
                            return true;
                        }
                        Pull::Pending => return false,
                    }
                }
            }
            let mut e = 0u64;
            let mut pending = false;
            while e < r {
                if self.flags.load(Relaxed) != 0 {
                    return self.interrupted(s);
                }
                match src.pull() {
                    Pull::Item(v) => {
                        s.on_next(v);
                        e += 1;
                    }
                    Pull::Done => {
                        s.on_complete();
                        return true;
                    }
                    Pull::Error(err) => {
                        s.on_error(err);
                        return true;
                    }
                    Pull::Pending => {
                        pending = true;
                        break;
                    }
                }
            }
            if self.flags.load(Relaxed) != 0 {
                return self.interrupted(s);
            }
            if !pending {
                match src.poll_terminal() {
                    Some(Pull::Done) => {
                        s.on_complete();
                        return true;
                    }
                    Some(Pull::Error(err)) => {
                        s.on_error(err);
                        return true;
                    }
                    _ => {}
                }
            }
            if e == 0 {
                return false;
            }
            r = produced(&self.requested, e);
            if r == 0 || pending {
                return false;
            }
        }
    }

    #[cold]
    fn interrupted(&self, s: &mut S) -> bool {
        let flags = self.flags.load(Acquire);
        if flags & CANCELLED == 0 && flags & BAD_REQUEST != 0 {
            self.flags.fetch_or(CANCELLED, Relaxed);
            s.on_error(StreamError::bad_request());
        }
        true
    }
}

impl<G: PullSource, S: Subscriber<G::Item>> Subscription for PullSubscription<G, S> {
    fn request(&self, n: u64) {
        if n == 0 {
            self.flags.fetch_or(BAD_REQUEST, Release);
        } else if request_add(&self.requested, n) >= UNBOUNDED {
            return; // already unbounded: nothing changes
        }
        self.drain_now();
    }

    fn cancel(&self) {
        if self.flags.fetch_or(CANCELLED, Release) & CANCELLED == 0 {
            self.drain_now();
        }
    }
}

impl<G: PullSource, S: Subscriber<G::Item>> Drainer for PullSubscription<G, S> {
    fn drain(&self) {
        self.drain_now();
    }
    fn outstanding(&self) -> u64 {
        self.requested.load(Acquire)
    }
    fn is_cancelled(&self) -> bool {
        self.flags.load(Acquire) & CANCELLED != 0
    }
}
