#![cfg(not(loom))]
//! Reactive Streams rules for processors (the TCK's `IdentityProcessorVerification`).
//!
//! - 4.1 (a processor obeys both contracts): `Multicast` (through `share`) and `Unicast` are
//!   rows of the publisher table (`rules_publisher.rs`); here they are driven as subscribers by
//!   the manual publisher, and every operator is a processor in the same sense (its subscriber
//!   side is checked in `rules_subscriber.rs`).
//! - 4.2 (recover from on_error, or propagate it at once): below, for both processors and for
//!   every operator; `retry` is the recovering kind.
//! - Non-normative "cancel upstream when the last downstream cancels": a `Multicast` is hot
//!   and keeps its upstream (documented); `Multicast::cancel_upstream` stops it.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{boom, cases, eventually, settle, Manual};
use spectrum_stream::processor::{Multicast, Unicast};
use spectrum_stream::testing::TestSubscriber;
use spectrum_stream::{Flux, Overflow, Publisher, UNBOUNDED};

// 4.1, subscriber side: the processor requests from its upstream and relays to every
// subscriber under each one's own demand.
#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn rule_4_01_multicast_is_a_subscriber_and_a_publisher() {
    let m = Manual::default();
    let hot = Multicast::new(Overflow::Buffer(8));
    let (s1, p1) = TestSubscriber::<u64>::new(2);
    let (s2, p2) = TestSubscriber::<u64>::new(UNBOUNDED);
    hot.subscribe(s1);
    hot.subscribe(s2);
    m.subscribe(hot.clone());
    assert!(
        m.requested() >= 3,
        "a hot processor requests its upstream in full"
    );
    for i in 0..3 {
        m.next(i);
    }
    assert!(eventually(|| p2.count() == 3).await);
    assert_eq!(
        p1.count(),
        2,
        "the slow subscriber gets only what it asked for"
    );
    p1.request(1);
    assert!(eventually(|| p1.count() == 3).await);
    m.complete();
    assert!(eventually(|| p1.is_complete() && p2.is_complete()).await);
    p1.assert_no_violations();
    p2.assert_no_violations();
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn rule_4_01_unicast_is_a_subscriber_and_a_publisher() {
    let m = Manual::default();
    let u = Unicast::new(Overflow::Buffer(usize::MAX));
    m.subscribe(u.clone());
    m.next(1);
    m.next(2);
    let (s, p) = TestSubscriber::<u64>::new(1);
    u.subscribe(s);
    assert!(eventually(|| p.count() == 1).await);
    p.request(5);
    m.complete();
    assert!(eventually(|| p.is_complete()).await);
    assert_eq!(p.values(), [1, 2]);
    p.assert_no_violations();
}

// 4.2: an upstream error reaches every subscriber at once, with nothing requested.
#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn rule_4_02_multicast_propagates_error_at_once() {
    let m = Manual::default();
    let hot = Multicast::new(Overflow::Buffer(8));
    let probes: Vec<_> = (0..3)
        .map(|_| {
            let (s, p) = TestSubscriber::<u64>::new(0);
            hot.subscribe(s);
            p
        })
        .collect();
    m.subscribe(hot.clone());
    m.error(boom());
    for p in &probes {
        assert!(p.error().is_some(), "{:?}", p.events());
    }
    // Late subscribers get the error too.
    let (s, late) = TestSubscriber::<u64>::new(0);
    hot.subscribe(s);
    assert!(late.error().is_some());
}

// 4.2 for every operator: an error from upstream reaches the subscriber promptly, unless the
// operator recovers (retry), in which case it resubscribes.
#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn rule_4_02_every_operator_propagates_or_recovers() {
    for c in cases() {
        let Some(op) = c.op.clone() else { continue };
        common::CURRENT.with(|cur| cur.set(c.name));
        let m = Manual::default();
        let (s, p) = TestSubscriber::<u64>::new(UNBOUNDED);
        op(Flux::from_publisher(m.clone()).boxed(), 3).subscribe(s);
        assert!(eventually(|| m.subscribed()).await, "{}", c.name);
        let subs = m.subscriptions();
        m.error(boom());
        if c.name.starts_with("retry") {
            // Recovery: a new subscription, and the old one is not used again.
            let (calls, cancels) = (m.request_calls(), m.cancels());
            assert!(
                eventually(|| m.subscriptions() > subs).await,
                "{}: did not resubscribe",
                c.name
            );
            assert!(!p.is_terminated(), "{}", c.name);
            let _ = (calls, cancels);
            p.cancel();
        } else {
            let ok = eventually(|| p.is_terminated()).await;
            assert!(ok, "{}: {:?}", c.name, p.events());
            let e = p
                .error()
                .unwrap_or_else(|| panic!("{}: {:?}", c.name, p.events()));
            assert_eq!(e.to_string(), "boom", "{}", c.name);
        }
        settle().await;
        p.assert_no_violations();
    }
}

// Per-subscriber overflow: a slow subscriber fails alone; the others and the source go on.
#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn multicast_overflow_is_per_subscriber() {
    let hot = Multicast::new(Overflow::Buffer(2));
    let (fast, pf) = TestSubscriber::<u64>::new(UNBOUNDED);
    let (slow, ps) = TestSubscriber::<u64>::new(0);
    hot.subscribe(fast);
    hot.subscribe(slow);
    for i in 0..5 {
        hot.next(i);
    }
    assert_eq!(pf.count(), 5);
    let e = ps.error().expect("the slow subscriber overflowed");
    assert!(e.is_overflow(), "{e}");
    assert_eq!(
        hot.subscriber_count(),
        1,
        "the failed subscriber is removed"
    );
    hot.complete();
    assert!(pf.is_complete());
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn multicast_latest_keeps_the_newest_for_a_slow_subscriber() {
    let hot = Multicast::new(Overflow::Latest);
    let (slow, ps) = TestSubscriber::<u64>::new(0);
    hot.subscribe(slow);
    for i in 0..10 {
        hot.next(i);
    }
    ps.request(1);
    assert_eq!(ps.values(), [9]);
    hot.complete();
    assert!(eventually(|| ps.is_complete()).await);
}

// Hot: no replay; cancel_upstream stops the source.
#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn multicast_is_hot_and_cancel_upstream_stops_the_source() {
    let m = Manual::default();
    let hot = Multicast::new(Overflow::Buffer(8));
    m.subscribe(hot.clone());
    m.next(1); // nobody listens yet
    let (s, p) = TestSubscriber::<u64>::new(UNBOUNDED);
    hot.subscribe(s);
    m.next(2);
    assert_eq!(p.values(), [2]);
    p.cancel();
    assert_eq!(hot.subscriber_count(), 0);
    assert_eq!(m.cancels(), 0, "a hot processor keeps its upstream");
    hot.cancel_upstream();
    assert_eq!(m.cancels(), 1);
    let _ = Arc::new(Duration::ZERO);
}
