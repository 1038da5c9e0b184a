//! [`TestSubscriber`]: a subscriber that records every signal and checks the subscriber-side
//! view of the rules as it goes (the TCK's `ManualSubscriber` plus its probes).
//!
//! The subscriber is moved into the publisher; its [`TestProbe`] stays with the test to request,
//! cancel, wait for signals and read what happened. Violations of the publisher rules seen from
//! the subscriber are recorded, not panicked on (a panic would be caught and contained by the
//! publisher): a signal before `on_subscribe` or after a terminal one (1.7, 1.9), two
//! `on_subscribe` (2.12), more items than requested (1.1), two signals at once (1.3).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use spectrum_sync::atomic::{AtomicU32, Ordering::*};
use spectrum_sync::Mutex;

use crate::spec::{add_demand, Subscriber, Subscription, UNBOUNDED};
use crate::StreamError;

/// One recorded signal.
#[derive(Clone, Debug, PartialEq)]
pub enum Event<T> {
    /// `on_next`.
    Next(T),
    /// `on_error`.
    Error(String),
    /// `on_complete`.
    Complete,
}

/// What to do from inside `on_next`, to exercise reentrancy (rules 3.2, 3.3, 2.8).
#[derive(Clone, Copy, Debug, Default)]
pub struct Behavior {
    /// Request this many more from inside every `on_next`.
    pub request_in_on_next: u64,
    /// Cancel from inside the `on_next` of the item with this 1-based index.
    pub cancel_at: Option<usize>,
    /// Panic inside the `on_next` of the item with this 1-based index.
    pub panic_at: Option<usize>,
}

struct Record<T> {
    events: Vec<Event<T>>,
    error: Option<StreamError>,
    subscribed: u32,
    nexts: u64,
    requested: u64,
    terminated: bool,
    violations: Vec<String>,
    wakers: Vec<Waker>,
    /// Requested (and cancelled) through the probe before `on_subscribe` arrived.
    early: u64,
    early_zero: bool,
    early_cancel: bool,
}

struct Probe<T> {
    rec: Mutex<Record<T>>,
    subscription: Mutex<Option<Arc<dyn Subscription>>>,
    /// The thread inside a signal, and how deep (a signal nested in another on the same
    /// thread is reentrancy through `request`; one from another thread is an overlap).
    inside: Mutex<(Option<std::thread::ThreadId>, u32)>,
    max_depth: AtomicU32,
}

/// The test's handle on a [`TestSubscriber`]: request, cancel, wait, inspect.
pub struct TestProbe<T> {
    probe: Arc<Probe<T>>,
}

impl<T> Clone for TestProbe<T> {
    fn clone(&self) -> Self {
        TestProbe {
            probe: self.probe.clone(),
        }
    }
}

impl<T> fmt::Debug for TestProbe<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.probe.rec.lock();
        f.debug_struct("TestProbe")
            .field("events", &r.events.len())
            .field("requested", &r.requested)
            .field("violations", &r.violations)
            .finish()
    }
}

/// A recording subscriber; see the [module docs](crate::testing).
pub struct TestSubscriber<T> {
    probe: Arc<Probe<T>>,
    initial: u64,
    behavior: Behavior,
}

impl<T> fmt::Debug for TestSubscriber<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestSubscriber")
            .field("initial", &self.initial)
            .finish()
    }
}

impl<T: Send + 'static> TestSubscriber<T> {
    /// A subscriber that requests `initial` items in `on_subscribe` (0: none).
    pub fn new(initial: u64) -> (TestSubscriber<T>, TestProbe<T>) {
        Self::with_behavior(initial, Behavior::default())
    }

    /// A subscriber with reentrant behaviour inside `on_next`.
    pub fn with_behavior(initial: u64, behavior: Behavior) -> (TestSubscriber<T>, TestProbe<T>) {
        let probe = Arc::new(Probe {
            rec: Mutex::new(Record {
                events: Vec::new(),
                error: None,
                subscribed: 0,
                nexts: 0,
                requested: 0,
                terminated: false,
                violations: Vec::new(),
                wakers: Vec::new(),
                early: 0,
                early_zero: false,
                early_cancel: false,
            }),
            subscription: Mutex::new(None),
            inside: Mutex::new((None, 0)),
            max_depth: AtomicU32::new(0),
        });
        (
            TestSubscriber {
                probe: probe.clone(),
                initial,
                behavior,
            },
            TestProbe { probe },
        )
    }
}

/// Marks a signal in progress: detects overlapping signals from two threads (rule 1.3) and
/// measures nesting on one thread (rule 3.3).
struct Entered<'a, T> {
    probe: &'a Probe<T>,
    overlapped: bool,
}

impl<'a, T> Entered<'a, T> {
    fn new(probe: &'a Probe<T>) -> Self {
        let me = std::thread::current().id();
        let mut g = probe.inside.lock();
        let overlapped = matches!(g.0, Some(t) if t != me);
        if !overlapped {
            g.0 = Some(me);
            g.1 += 1;
            probe.max_depth.fetch_max(g.1, AcqRel);
        }
        Entered { probe, overlapped }
    }
}

impl<T> Drop for Entered<'_, T> {
    fn drop(&mut self) {
        if self.overlapped {
            return;
        }
        let mut g = self.probe.inside.lock();
        g.1 -= 1;
        if g.1 == 0 {
            g.0 = None;
        }
    }
}

impl<T> Probe<T> {
    fn push(&self, ev: Option<Event<T>>, check: impl FnOnce(&mut Record<T>)) {
        let wakers = {
            let mut r = self.rec.lock();
            check(&mut r);
            if let Some(ev) = ev {
                r.events.push(ev);
            }
            std::mem::take(&mut r.wakers)
        };
        for w in wakers {
            w.wake();
        }
    }
}

impl<T: Send + 'static> Subscriber<T> for TestSubscriber<T> {
    fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
        let g = Entered::new(&self.probe);
        let overlapped = g.overlapped;
        let mut second = false;
        self.probe.push(None, |r| {
            r.subscribed += 1;
            if r.subscribed > 1 {
                second = true;
                r.violations
                    .push("rule 2.12: on_subscribe called twice".into());
            }
            if overlapped {
                r.violations.push("rule 1.3: overlapping signals".into());
            }
        });
        if second {
            s.cancel(); // rule 2.5
            return;
        }
        *self.probe.subscription.lock() = Some(s.clone());
        let (early, zero, cancel) = {
            let mut r = self.probe.rec.lock();
            (std::mem::take(&mut r.early), r.early_zero, r.early_cancel)
        };
        if self.initial > 0 {
            {
                let mut r = self.probe.rec.lock();
                r.requested = add_demand(r.requested, self.initial);
            }
            s.request(self.initial);
        }
        if early > 0 {
            s.request(early);
        }
        if zero {
            s.request(0);
        }
        if cancel {
            s.cancel();
        }
        drop(g);
    }

    fn on_next(&mut self, v: T) {
        let g = Entered::new(&self.probe);
        let overlapped = g.overlapped;
        let mut index = 0;
        self.probe.push(Some(Event::Next(v)), |r| {
            r.nexts += 1;
            index = r.nexts as usize;
            if r.subscribed == 0 {
                r.violations
                    .push("rule 1.9: on_next before on_subscribe".into());
            }
            if r.terminated {
                r.violations
                    .push("rule 1.7: on_next after a terminal signal".into());
            }
            if r.requested < UNBOUNDED && r.nexts > r.requested {
                let msg = format!(
                    "rule 1.1: {} items delivered but only {} requested",
                    r.nexts, r.requested
                );
                r.violations.push(msg);
            }
            if overlapped {
                r.violations.push("rule 1.3: overlapping signals".into());
            }
        });
        let b = self.behavior;
        if b.panic_at == Some(index) {
            drop(g);
            panic!("TestSubscriber: panic at item {index} as asked");
        }
        if b.cancel_at == Some(index) {
            if let Some(s) = self.probe.subscription.lock().clone() {
                s.cancel();
            }
        }
        if b.request_in_on_next > 0 && b.cancel_at.is_none_or(|c| index < c) {
            {
                let mut r = self.probe.rec.lock();
                r.requested = add_demand(r.requested, b.request_in_on_next);
            }
            let s = self.probe.subscription.lock().clone();
            if let Some(s) = s {
                s.request(b.request_in_on_next);
            }
        }
        drop(g);
    }

    fn on_error(&mut self, e: StreamError) {
        let g = Entered::new(&self.probe);
        let overlapped = g.overlapped;
        let msg = e.to_string();
        self.probe.push(Some(Event::Error(msg)), |r| {
            if r.terminated {
                r.violations
                    .push("rule 1.7: on_error after a terminal signal".into());
            }
            if r.subscribed == 0 {
                r.violations
                    .push("rule 1.9: on_error before on_subscribe".into());
            }
            if overlapped {
                r.violations.push("rule 1.3: overlapping signals".into());
            }
            r.terminated = true;
            r.error = Some(e);
        });
        drop(g);
    }

    fn on_complete(&mut self) {
        let g = Entered::new(&self.probe);
        let overlapped = g.overlapped;
        self.probe.push(Some(Event::Complete), |r| {
            if r.terminated {
                r.violations
                    .push("rule 1.7: on_complete after a terminal signal".into());
            }
            if r.subscribed == 0 {
                r.violations
                    .push("rule 1.9: on_complete before on_subscribe".into());
            }
            if overlapped {
                r.violations.push("rule 1.3: overlapping signals".into());
            }
            r.terminated = true;
        });
        drop(g);
    }
}

impl<T: Clone + Send + 'static> TestProbe<T> {
    /// Requests `n` more (recorded, so rule 1.1 can be checked). Before `on_subscribe` has
    /// arrived (an asynchronous `subscribe_on`), the request is kept and made then.
    pub fn request(&self, n: u64) {
        let s = {
            let sub = self.probe.subscription.lock();
            let mut r = self.probe.rec.lock();
            r.requested = add_demand(r.requested, n);
            if sub.is_none() {
                r.early = add_demand(r.early, n);
                return;
            }
            sub.clone()
        };
        if let Some(s) = s {
            s.request(n);
        }
    }

    /// Requests `n` without recording it (for `request(0)`, rule 3.9).
    pub fn request_raw(&self, n: u64) {
        let s = {
            let sub = self.probe.subscription.lock();
            if sub.is_none() {
                let mut r = self.probe.rec.lock();
                if n == 0 {
                    r.early_zero = true;
                } else {
                    r.early = add_demand(r.early, n);
                }
                return;
            }
            sub.clone()
        };
        if let Some(s) = s {
            s.request(n);
        }
    }

    /// Cancels the subscription (at once, or as soon as it arrives).
    pub fn cancel(&self) {
        let s = {
            let sub = self.probe.subscription.lock();
            let mut r = self.probe.rec.lock();
            if sub.is_none() {
                r.early_cancel = true;
                return;
            }
            sub.clone()
        };
        if let Some(s) = s {
            s.cancel();
        }
    }

    /// Forgets the subscription (so only the publisher holds references, rule 3.13).
    pub fn forget_subscription(&self) {
        *self.probe.subscription.lock() = None;
    }

    /// The subscription received, if any.
    pub fn subscription(&self) -> Option<Arc<dyn Subscription>> {
        self.probe.subscription.lock().clone()
    }

    /// Every signal so far (after `on_subscribe`).
    pub fn events(&self) -> Vec<Event<T>> {
        self.probe.rec.lock().events.clone()
    }

    /// The items so far.
    pub fn values(&self) -> Vec<T> {
        self.probe
            .rec
            .lock()
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Next(v) => Some(v.clone()),
                _ => None,
            })
            .collect()
    }

    /// Items received so far.
    pub fn count(&self) -> u64 {
        self.probe.rec.lock().nexts
    }

    /// Total requested through this probe and the subscriber's own requests.
    pub fn requested(&self) -> u64 {
        self.probe.rec.lock().requested
    }

    /// True once `on_complete` arrived.
    pub fn is_complete(&self) -> bool {
        self.probe
            .rec
            .lock()
            .events
            .iter()
            .any(|e| matches!(e, Event::Complete))
    }

    /// The error, once `on_error` arrived.
    pub fn error(&self) -> Option<StreamError> {
        self.probe.rec.lock().error.clone()
    }

    /// True once a terminal signal arrived.
    pub fn is_terminated(&self) -> bool {
        self.probe.rec.lock().terminated
    }

    /// How many times `on_subscribe` was called.
    pub fn subscribe_count(&self) -> u32 {
        self.probe.rec.lock().subscribed
    }

    /// The deepest nesting of signals seen (1 = no signal inside another; rule 3.3).
    pub fn max_depth(&self) -> u32 {
        self.probe.max_depth.load(Acquire)
    }

    /// Rule violations seen so far.
    pub fn violations(&self) -> Vec<String> {
        self.probe.rec.lock().violations.clone()
    }

    /// Panics with the violations, if any.
    #[track_caller]
    pub fn assert_no_violations(&self) {
        let v = self.violations();
        assert!(v.is_empty(), "rule violations: {v:?}");
    }

    /// Waits until `cond` holds on the probe.
    pub fn wait_until<F: Fn(&TestProbe<T>) -> bool>(&self, cond: F) -> WaitUntil<'_, T, F> {
        WaitUntil { probe: self, cond }
    }

    /// Waits for `n` items in total.
    pub async fn await_count(&self, n: u64) {
        self.wait_until(move |p| p.count() >= n || p.is_terminated())
            .await
    }

    /// Waits for a terminal signal.
    pub async fn await_terminal(&self) {
        self.wait_until(|p| p.is_terminated()).await
    }
}

/// The future of [`TestProbe::wait_until`].
#[must_use = "futures do nothing unless polled"]
pub struct WaitUntil<'a, T, F> {
    probe: &'a TestProbe<T>,
    cond: F,
}

impl<T, F> fmt::Debug for WaitUntil<'_, T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WaitUntil")
    }
}

impl<T, F> Unpin for WaitUntil<'_, T, F> {}

impl<T: Clone + Send + 'static, F: Fn(&TestProbe<T>) -> bool> Future for WaitUntil<'_, T, F> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if (self.cond)(self.probe) {
            return Poll::Ready(());
        }
        self.probe.probe.rec.lock().wakers.push(cx.waker().clone());
        if (self.cond)(self.probe) {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}
