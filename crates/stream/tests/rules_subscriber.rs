#![cfg(not(loom))]
//! Reactive Streams rules for subscribers (the TCK's `SubscriberWhiteboxVerification`): the
//! subscriber under test is each operator's upstream-facing subscriber, driven by a manual
//! publisher (`common::Manual`) that records every request and cancel, with a recording
//! subscriber downstream. Every operator in `common::cases()` runs through every rule.
//!
//! Not automated, and why:
//! - 2.2 (SHOULD dispatch asynchronously when processing is heavy): a design choice; the
//!   asynchronous boundaries are `publish_on` / `subscribe_on`.
//! - 2.6 (SHOULD cancel when no longer needed): covered where observable (`take`,
//!   `take_while`, `timeout`, `zip` cancel their upstreams: `operators.rs`).
//! - 2.7 (request/cancel serial from the subscriber): internal to each operator (its drain
//!   loop calls upstream request), not observable from outside without instrumenting every
//!   operator; the publisher rules' overlap detector would catch the consequences.
//! - 2.11 (happens-before of signal processing): a memory-model property; the drain
//!   protocol's orderings are documented at each atomic and the stress tests exercise them.
//! - 2.12 (on_subscribe at most once, "object equality"): the same as 2.5 in Rust (a
//!   subscriber is moved into exactly one `subscribe` call): tested below as 2.5.
//! - 2.13 "null arguments": not expressible. Panics in signal methods are the 2.13 test of
//!   `rules_publisher.rs`.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use common::{boom, cases, eventually, settle, Case, Manual, Op, Recorder};
use spectrum_stream::testing::{TestProbe, TestSubscriber};
use spectrum_stream::{Publisher, UNBOUNDED};

fn op_cases() -> Vec<(Case, Op)> {
    cases()
        .into_iter()
        .filter_map(|c| c.op.clone().map(|op| (c, op)))
        .collect()
}

async fn setup(op: &Op, initial: u64) -> (Manual, TestProbe<u64>) {
    let m = Manual::default();
    let (s, p) = TestSubscriber::<u64>::new(initial);
    op(spectrum_stream::Flux::from_publisher(m.clone()).boxed(), 3).subscribe(s);
    (m, p)
}

async fn quiet() {
    settle().await;
    for _ in 0..3 {
        spectrum_rt::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    settle().await;
}

// 2.1: a subscriber signals demand before it expects items.
#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn rule_2_01_requests_before_receiving() {
    for (c, op) in op_cases() {
        common::CURRENT.with(|cur| cur.set(c.name));
        let (m, p) = setup(&op, 0).await;
        p.request(1);
        let ok = eventually(|| m.subscribed() && m.requested() >= 1).await;
        assert!(ok, "{}: never requested from upstream", c.name);
        m.next(0); // exactly what was requested (the manual publisher obeys rule 1.1)
        m.complete();
        p.request(UNBOUNDED);
        quiet().await;
        p.assert_no_violations();
    }
}

// 2.3: on_complete / on_error do not call the subscription (nor, after them, anything else
// of the operator: 2.4).
#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn rule_2_03_and_2_04_nothing_called_after_terminal() {
    for (c, op) in op_cases() {
        for fail in [false, true] {
            common::CURRENT.with(|cur| cur.set(c.name));
            let (m, p) = setup(&op, UNBOUNDED).await;
            let ok = eventually(|| m.subscribed()).await;
            assert!(ok, "{}: not subscribed", c.name);
            quiet().await;
            let before = (m.request_calls(), m.cancels());
            if fail {
                m.error(boom());
            } else {
                m.complete();
            }
            quiet().await;
            // Operators that resubscribe (retry) or wait for more sources are excused by
            // their own re-subscription: count only while the same subscriber is attached.
            let after = (m.request_calls(), m.cancels());
            if !c.name.starts_with("retry") {
                assert_eq!(
                    after,
                    before,
                    "{}: request/cancel after on_{} (calls, cancels)",
                    c.name,
                    if fail { "error" } else { "complete" }
                );
            }
            let _ = p;
        }
    }
}

// 2.5 (and 2.12): a second on_subscribe gets its subscription cancelled.
#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn rule_2_05_second_subscription_is_cancelled() {
    for (c, op) in op_cases() {
        common::CURRENT.with(|cur| cur.set(c.name));
        let (m, p) = setup(&op, 1).await;
        let ok = eventually(|| m.subscribed()).await;
        assert!(ok, "{}: not subscribed", c.name);
        let second = Arc::new(Recorder::default());
        m.subscribe_again(second.clone());
        let cancelled = eventually(|| second.cancelled.load(Ordering::SeqCst)).await;
        assert!(cancelled, "{}: a second subscription was kept", c.name);
        p.cancel();
        quiet().await;
    }
}

// 2.8: items in flight after cancel are accepted (not a panic, not delivered as a violation).
#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn rule_2_08_accepts_items_after_cancel() {
    for (c, op) in op_cases() {
        common::CURRENT.with(|cur| cur.set(c.name));
        let (m, p) = setup(&op, 2).await;
        eventually(|| m.subscribed()).await;
        p.cancel();
        quiet().await;
        let seen = p.count();
        m.next(7);
        m.next(8);
        m.complete();
        quiet().await;
        assert!(p.count() <= seen + 2, "{}", c.name);
        p.assert_no_violations();
    }
}

// 2.9: on_complete is accepted without any request.
#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn rule_2_09_complete_without_request() {
    for (c, op) in op_cases() {
        common::CURRENT.with(|cur| cur.set(c.name));
        let (m, p) = setup(&op, 0).await;
        if !common::eventually_within(std::time::Duration::from_millis(50), || m.subscribed()).await
        {
            // Sources behind a demand-driven boundary (into_stream, concat after a range)
            // only subscribe on demand.
            p.request(1);
            assert!(eventually(|| m.subscribed()).await, "{}", c.name);
        }
        m.complete();
        p.request(UNBOUNDED); // aggregates emit their result on demand
        let ok = eventually(|| p.is_terminated()).await;
        assert!(ok, "{}: {:?}", c.name, p.events());
        assert!(p.error().is_none(), "{}: {:?}", c.name, p.error());
        p.assert_no_violations();
    }
}

// 2.10: on_error is accepted without any request.
#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn rule_2_10_error_without_request() {
    for (c, op) in op_cases() {
        common::CURRENT.with(|cur| cur.set(c.name));
        let (m, p) = setup(&op, 0).await;
        if !common::eventually_within(std::time::Duration::from_millis(50), || m.subscribed()).await
        {
            p.request(1);
            assert!(eventually(|| m.subscribed()).await, "{}", c.name);
        }
        // retry resubscribes (after a backoff): fail every attempt.
        for _ in 0..4 {
            let subs = m.subscriptions();
            m.error(boom());
            common::eventually_within(std::time::Duration::from_millis(100), || {
                p.is_terminated() || m.subscriptions() > subs
            })
            .await;
            if p.is_terminated() || m.subscriptions() == subs {
                break;
            }
        }
        if !p.is_terminated() {
            // Demand-driven bridges hand the error on when asked for the next item.
            p.request(1);
        }
        let ok = eventually(|| p.is_terminated()).await;
        assert!(ok, "{}: {:?}", c.name, p.events());
        assert!(p.error().is_some(), "{}: {:?}", c.name, p.events());
        p.assert_no_violations();
    }
}
