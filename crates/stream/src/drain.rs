//! The building blocks every emission loop shares: demand counters, the panic guard, and the
//! serializer for stages with more than one signal source.
//!
//! # The drain protocol (RxJava's "queue-drain", used by every asynchronous stage)
//!
//! A stage keeps its state in atomics and queues and has one counter, `wip` ("work in
//! progress"). Whoever changes the state (a new item, a request, a cancel, a timer) then:
//!
//! 1. increments `wip`; if it was not zero, someone else is draining and will see the change:
//!    return at once (this is what bounds reentrant `request` → `on_next` recursion to depth 1,
//!    rule 3.3);
//! 2. otherwise it is the drainer: it delivers what the state allows (items up to the demand,
//!    then a terminal signal), then subtracts what it saw from `wip` and loops while the result
//!    is not zero.
//!
//! Only the drainer touches the downstream subscriber, so signals are serial (rule 1.3); the
//! `AcqRel` on `wip` orders each drainer's work before the next one's (happens-before between
//! signals, rules 1.3 and 2.11).
//!
//! # Panics
//!
//! A drainer calls downstream through [`guard`]: a panic is caught there, turned into
//! [`StreamError::panicked`], the stage cancels its upstream and delivers that error instead
//! (see `spec` rule 2.13). A drainer never unwinds with `wip` held.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use spectrum_sync::atomic::{AtomicU64, Ordering::*};
use spectrum_sync::Mutex;

use crate::spec::{add_demand, Subscriber, Subscription, UNBOUNDED};
use crate::StreamError;

/// Runs `f`, turning a panic into [`StreamError::panicked`].
#[inline]
pub(crate) fn guard<R>(f: impl FnOnce() -> R) -> Result<R, StreamError> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| StreamError::panicked(&*p))
}

/// Delivers `on_error` to a subscriber that may be broken (it just panicked): a second panic is
/// swallowed.
pub(crate) fn error_quietly<T, S: Subscriber<T>>(s: &mut S, e: StreamError) {
    let _ = guard(|| s.on_error(e));
}

/// Adds `n` to an outstanding-demand counter, saturating at [`UNBOUNDED`]; returns the previous
/// value. AcqRel: pairs with the drainer's `Acquire` loads and `produced`.
#[inline]
pub(crate) fn request_add(counter: &AtomicU64, n: u64) -> u64 {
    let mut cur = counter.load(Relaxed);
    loop {
        if cur >= UNBOUNDED {
            return cur;
        }
        let next = add_demand(cur, n);
        match counter.compare_exchange_weak(cur, next, AcqRel, Relaxed) {
            Ok(prev) => return prev,
            Err(actual) => cur = actual,
        }
    }
}

/// Subtracts `e` emitted items from an outstanding-demand counter unless it is unbounded;
/// returns the new value.
#[inline]
pub(crate) fn produced(counter: &AtomicU64, e: u64) -> u64 {
    let mut cur = counter.load(Relaxed);
    loop {
        if cur >= UNBOUNDED {
            return cur;
        }
        let next = cur.saturating_sub(e);
        match counter.compare_exchange_weak(cur, next, AcqRel, Relaxed) {
            Ok(_) => return next,
            Err(actual) => cur = actual,
        }
    }
}

/// The replenishment threshold for a prefetch window: request more once 75 % of it has been
/// consumed (Reactor's `Queues.replenishLimit`: `prefetch - prefetch / 4`).
#[inline]
pub(crate) fn replenish_limit(prefetch: usize) -> u64 {
    if prefetch as u64 >= UNBOUNDED {
        UNBOUNDED
    } else {
        (prefetch - (prefetch >> 2)).max(1) as u64
    }
}

/// One signal, queued.
pub(crate) enum Signal<T> {
    Subscribe(Arc<dyn Subscription>),
    Next(T),
    Error(StreamError),
    Complete,
}

struct SerState<T> {
    emitting: bool,
    terminated: bool,
    queue: VecDeque<Signal<T>>,
}

/// Serializes signals from several sources (an upstream and a timer, say) onto one subscriber,
/// without blocking: a caller that finds another emitting queues its signal, and the emitter
/// delivers it before it lets go (RxJava's `SerializedSubscriber`, emitter-loop variant).
///
/// After a terminal signal everything else is dropped (rule 1.7); after a panic in the
/// subscriber, it gets one `on_error` and is dropped.
pub(crate) struct Serialized<T, S> {
    state: Mutex<SerState<T>>,
    sub: Mutex<Option<S>>,
}

impl<T, S: Subscriber<T>> Serialized<T, S> {
    pub(crate) fn new(sub: S) -> Self {
        Serialized {
            state: Mutex::new(SerState {
                emitting: false,
                terminated: false,
                queue: VecDeque::new(),
            }),
            sub: Mutex::new(Some(sub)),
        }
    }

    /// Delivers (or queues) `sig`. Returns `false` when the subscriber panicked during this
    /// call (the caller should cancel its upstream).
    pub(crate) fn signal(&self, sig: Signal<T>) -> bool {
        {
            let mut st = self.state.lock();
            if st.terminated {
                return true;
            }
            if matches!(sig, Signal::Error(_) | Signal::Complete) {
                st.terminated = true;
            }
            if st.emitting {
                st.queue.push_back(sig);
                return true;
            }
            st.emitting = true;
        }
        let mut ok = true;
        let mut next = Some(sig);
        let mut slot = self.sub.lock();
        loop {
            if let Some(sig) = next.take() {
                if let Some(s) = slot.as_mut() {
                    let terminal = matches!(sig, Signal::Error(_) | Signal::Complete);
                    let r = guard(|| match sig {
                        Signal::Subscribe(sub) => s.on_subscribe(sub),
                        Signal::Next(v) => s.on_next(v),
                        Signal::Error(e) => s.on_error(e),
                        Signal::Complete => s.on_complete(),
                    });
                    if let Err(e) = r {
                        ok = false;
                        if !terminal {
                            error_quietly(s, e);
                        }
                        *slot = None;
                        self.state.lock().terminated = true;
                    } else if terminal {
                        *slot = None;
                    }
                }
            }
            let mut st = self.state.lock();
            match st.queue.pop_front() {
                Some(s) => next = Some(s),
                None => {
                    st.emitting = false;
                    if st.terminated {
                        *slot = None;
                    }
                    return ok;
                }
            }
        }
    }

    pub(crate) fn on_subscribe(&self, s: Arc<dyn Subscription>) -> bool {
        self.signal(Signal::Subscribe(s))
    }
    pub(crate) fn next(&self, v: T) -> bool {
        self.signal(Signal::Next(v))
    }
    pub(crate) fn error(&self, e: StreamError) -> bool {
        self.signal(Signal::Error(e))
    }
    pub(crate) fn complete(&self) -> bool {
        self.signal(Signal::Complete)
    }

    /// Drops the subscriber without a signal (after cancel, rule 3.13). A signal in progress
    /// finishes first.
    pub(crate) fn drop_subscriber(&self) {
        self.state.lock().terminated = true;
        if let Some(mut slot) = self.sub.try_lock() {
            *slot = None;
        }
        // Otherwise the emitter holds it: it sees `terminated` when it is done and the queue
        // holds nothing more for it; the subscriber is dropped with the stage.
    }
}

/// A slot for an upstream subscription that may be set after a cancel was requested: setting
/// it then cancels the newcomer at once.
pub(crate) struct UpstreamSlot {
    inner: Mutex<(Option<Arc<dyn Subscription>>, bool)>,
}

impl UpstreamSlot {
    pub(crate) fn new() -> Self {
        UpstreamSlot {
            inner: Mutex::new((None, false)),
        }
    }

    /// Stores `s`; returns `false` (and cancels `s`) if the slot was cancelled or already set
    /// (rule 2.5).
    pub(crate) fn set(&self, s: Arc<dyn Subscription>) -> bool {
        let mut g = self.inner.lock();
        if g.1 || g.0.is_some() {
            drop(g);
            s.cancel();
            return false;
        }
        g.0 = Some(s);
        true
    }

    pub(crate) fn get(&self) -> Option<Arc<dyn Subscription>> {
        self.inner.lock().0.clone()
    }

    pub(crate) fn request(&self, n: u64) {
        let s = self.get();
        if let Some(s) = s {
            s.request(n);
        }
    }

    /// Cancels the stored subscription (now or when it arrives) and forgets it.
    pub(crate) fn cancel(&self) {
        let s = {
            let mut g = self.inner.lock();
            g.1 = true;
            g.0.take()
        };
        if let Some(s) = s {
            s.cancel();
        }
    }

    /// Forgets the subscription without cancelling it (after the upstream terminated).
    pub(crate) fn clear(&self) {
        let mut g = self.inner.lock();
        g.1 = true;
        g.0 = None;
    }
}

/// Defines a `Debug` impl that prints only the type's name, for operator structs that hold
/// closures.
macro_rules! opaque_debug {
    ($name:ident $(< $($g:ident),* >)?) => {
        impl $(< $($g),* >)? ::std::fmt::Debug for $name $(< $($g),* >)? {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(stringify!($name))
            }
        }
    };
}
pub(crate) use opaque_debug;
