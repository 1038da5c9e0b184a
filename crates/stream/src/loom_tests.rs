//! loom models of the drain protocol (`drain`, `source::pull`, `source::create`): the part of
//! the crate that is lock-free.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p spectrum-stream --release --lib`. Sources are
//! shrunk to 2–3 items so every interleaving of the `wip` counter, the demand counter and the
//! flags is reachable within the preemption bound (`spectrum_sync::model`).
//!
//! What each model checks:
//! - `concurrent_requests_deliver_each_item_once_in_order`: two threads request at once; the
//!   subscriber sees every item once, in order, never two signals at a time (rule 1.3), never
//!   more than requested (1.1), then `on_complete`.
//! - `cancel_racing_emission_stops_and_drops_the_subscriber`: a cancel racing a request; what
//!   arrives is a prefix, and the subscriber is dropped once both calls return (3.12, 3.13).
//! - `push_racing_request_is_delivered_once`: `create`'s sink pushing while another thread
//!   requests: the item is delivered exactly once, with no lost wake-up.
//! - `bad_request_racing_request_errors_once`: `request(0)` racing a request: exactly one
//!   `on_error`, nothing after it (3.9, 1.7).

use std::sync::Arc;

use spectrum_sync::atomic::{AtomicBool, Ordering::*};
use spectrum_sync::{thread, Mutex};

use crate::source::pull::subscribe_pull;
use crate::source::{FluxSink, Overflow};
use crate::spec::{Subscriber, Subscription};
use crate::StreamError;

#[derive(Debug, PartialEq)]
enum Ev {
    Next(u32),
    Error,
    Complete,
}

struct Rec {
    events: Mutex<Vec<Ev>>,
    sub: Mutex<Option<Arc<dyn Subscription>>>,
    inside: AtomicBool,
    dropped: AtomicBool,
}

impl Rec {
    fn new() -> Arc<Rec> {
        Arc::new(Rec {
            events: Mutex::new(Vec::new()),
            sub: Mutex::new(None),
            inside: AtomicBool::new(false),
            dropped: AtomicBool::new(false),
        })
    }
    fn request(&self, n: u64) {
        let s = self.sub.lock().clone();
        if let Some(s) = s {
            s.request(n);
        }
    }
    fn cancel(&self) {
        let s = self.sub.lock().clone();
        if let Some(s) = s {
            s.cancel();
        }
    }
}

struct Probe(Arc<Rec>);

impl Probe {
    fn signal(&self, ev: Ev) {
        assert!(!self.0.inside.swap(true, AcqRel), "two signals at once");
        self.0.events.lock().push(ev);
        self.0.inside.store(false, Release);
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.0.dropped.store(true, Release);
    }
}

impl Subscriber<u32> for Probe {
    fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
        *self.0.sub.lock() = Some(s);
    }
    fn on_next(&mut self, v: u32) {
        self.signal(Ev::Next(v));
    }
    fn on_error(&mut self, _: StreamError) {
        self.signal(Ev::Error);
    }
    fn on_complete(&mut self) {
        self.signal(Ev::Complete);
    }
}

fn range(n: u32) -> crate::source::iter::IterSourceFor<std::ops::Range<u32>> {
    crate::source::iter::iter_source(0..n)
}

#[test]
fn concurrent_requests_deliver_each_item_once_in_order() {
    spectrum_sync::model(|| {
        let rec = Rec::new();
        subscribe_pull(range(3), Probe(rec.clone()));
        let r2 = rec.clone();
        let t = thread::spawn(move || r2.request(1));
        rec.request(2);
        t.join().unwrap();
        let ev = rec.events.lock();
        assert_eq!(*ev, [Ev::Next(0), Ev::Next(1), Ev::Next(2), Ev::Complete]);
        drop(ev);
        assert!(
            rec.dropped.load(Acquire),
            "completed: the subscriber is dropped"
        );
    });
}

#[test]
fn cancel_racing_emission_stops_and_drops_the_subscriber() {
    spectrum_sync::model(|| {
        let rec = Rec::new();
        subscribe_pull(range(2), Probe(rec.clone()));
        let r2 = rec.clone();
        let t = thread::spawn(move || r2.cancel());
        rec.request(2);
        t.join().unwrap();
        let ev = rec.events.lock();
        let items: Vec<&Ev> = ev.iter().filter(|e| matches!(e, Ev::Next(_))).collect();
        for (i, e) in items.iter().enumerate() {
            assert_eq!(**e, Ev::Next(i as u32), "a prefix, in order");
        }
        assert!(!ev.contains(&Ev::Error));
        drop(ev);
        assert!(rec.dropped.load(Acquire), "cancelled or completed: dropped");
    });
}

#[test]
fn push_racing_request_is_delivered_once() {
    spectrum_sync::model(|| {
        let rec = Rec::new();
        let sink = FluxSink::<u32>::new(Overflow::Buffer(1), "create");
        let sub = subscribe_pull(sink.source(), Probe(rec.clone()));
        sink.attach(sub);
        let s2 = sink.clone();
        let t = thread::spawn(move || {
            s2.next(7);
        });
        rec.request(1);
        t.join().unwrap();
        assert_eq!(*rec.events.lock(), [Ev::Next(7)]);
        sink.complete();
        assert_eq!(*rec.events.lock(), [Ev::Next(7), Ev::Complete]);
    });
}

#[test]
fn bad_request_racing_request_errors_once() {
    spectrum_sync::model(|| {
        let rec = Rec::new();
        subscribe_pull(range(3), Probe(rec.clone()));
        let r2 = rec.clone();
        let t = thread::spawn(move || r2.request(0));
        rec.request(1);
        t.join().unwrap();
        let ev = rec.events.lock();
        assert_eq!(ev.iter().filter(|e| **e == Ev::Error).count(), 1);
        assert_eq!(ev.last(), Some(&Ev::Error), "nothing after the error");
        assert!(ev.len() <= 2);
    });
}
