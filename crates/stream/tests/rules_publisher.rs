#![cfg(not(loom))]
//! Reactive Streams rules for publishers (the TCK's `PublisherVerification`), one test per
//! rule, each run against every source and every operator in `common::cases()`.
//!
//! Not automated, and why:
//! - 1.9 "null subscriber ⇒ NPE": a Rust subscriber cannot be null (type-level).
//! - 1.11 MAY (unicast or multicast): a choice, documented per source; multicast is exercised
//!   in `rules_processor.rs`.
//! - 3.4 "request SHOULD return quickly", 3.10 / 3.11 MAY: not observable as pass/fail. Every
//!   request here returns after emitting at most the requested items; 3.10 is what the
//!   synchronous sources do and the tests below rely on it.
//! - 3.14 MAY (cancel shuts down a stateful publisher): `Multicast::cancel_upstream` is
//!   explicit instead.
//! - 3.15 / 3.16 "return normally": Rust has no checked exceptions; a panic inside `cancel` or
//!   `request` would fail every test here, so all of them cover these two rules.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{await_count, await_terminal, boom, cases, eventually, settle, Case};
use spectrum_stream::testing::{Behavior, TestSubscriber};
use spectrum_stream::{Publisher, UNBOUNDED};

macro_rules! rules_test {
    ($name:ident, $body:expr) => {
        #[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
        async fn $name() {
            let mut ran = 0;
            for c in cases() {
                let f: fn(Case) -> _ = $body;
                common::CURRENT.with(|cur| cur.set(c.name));
                if std::env::var_os("RULES_TRACE").is_some() {
                    eprintln!("{}: {}", stringify!($name), c.name);
                }
                if let Some(fut) = f(c.clone()) {
                    fut.await;
                    ran += 1;
                }
            }
            assert!(ran > 0, "no case ran");
        }
    };
}

type Check = std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;

fn elements(c: &Case, want: u64) -> Option<u64> {
    (c.max >= 1).then(|| want.min(c.max))
}

async fn quiet() {
    settle().await;
    for _ in 0..5 {
        spectrum_rt::time::sleep(Duration::from_millis(1)).await;
    }
    settle().await;
}

// 1.1: total on_next ≤ total requested, at all times; spec101: the right number of items.
rules_test!(rule_1_01_never_more_than_requested, |c| {
    let n = elements(&c, 10)?;
    Some(Box::pin(async move {
        let (s, p) = TestSubscriber::<u64>::new(0);
        c.make(n).subscribe(s);
        for i in 1..=n {
            p.request(1);
            await_count(&p, i).await;
            assert!(p.count() <= p.requested(), "{}: {p:?}", c.name);
        }
        p.request(1);
        quiet().await;
        if c.exact {
            assert_eq!(p.count(), n, "{}", c.name);
            await_terminal(&p).await;
            assert!(p.is_complete(), "{}: {:?}", c.name, p.events());
        }
        p.assert_no_violations();
    }) as Check)
});

// 1.2 / spec102: may signal fewer than requested, then terminate.
rules_test!(rule_1_02_fewer_than_requested_then_terminate, |c| {
    let n = elements(&c, 5)?;
    c.exact.then_some(())?;
    Some(Box::pin(async move {
        let (s, p) = TestSubscriber::<u64>::new(n + 10);
        c.make(n).subscribe(s);
        await_terminal(&p).await;
        assert_eq!(p.count(), n, "{}", c.name);
        assert!(p.is_complete(), "{}: {:?}", c.name, p.events());
        p.assert_no_violations();
    }) as Check)
});

// 1.3: signals are serial even when requests come from several threads at once.
rules_test!(rule_1_03_serial_signals_under_concurrent_requests, |c| {
    let n = elements(&c, 400)?;
    Some(Box::pin(async move {
        let (s, p) = TestSubscriber::<u64>::new(0);
        c.make(n).subscribe(s);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let p = p.clone();
                std::thread::spawn(move || {
                    for _ in 0..n / 4 + 1 {
                        p.request(1);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        if c.exact {
            await_terminal(&p).await;
            assert_eq!(p.count(), n, "{}", c.name);
        } else {
            quiet().await;
        }
        p.assert_no_violations();
    }) as Check)
});

// 1.4 / spec104: a failing publisher signals on_error.
rules_test!(rule_1_04_failure_signals_on_error, |c| {
    let failed = c.failed()?;
    Some(Box::pin(async move {
        let (s, p) = TestSubscriber::<u64>::new(1);
        failed.subscribe(s);
        await_terminal(&p).await;
        assert!(p.error().is_some(), "{}: {:?}", c.name, p.events());
        p.assert_no_violations();
    }) as Check)
});

// 1.4 also with no demand at all: the error needs no request (2.10 from the other side).
rules_test!(rule_1_04_failure_without_request, |c| {
    c.eager_failure.then_some(())?;
    let failed = c.failed()?;
    Some(Box::pin(async move {
        let (s, p) = TestSubscriber::<u64>::new(0);
        failed.subscribe(s);
        await_terminal(&p).await;
        assert!(p.error().is_some(), "{}: {:?}", c.name, p.events());
        assert_eq!(p.count(), 0);
        p.assert_no_violations();
    }) as Check)
});

// 1.5 / spec105: a finite stream signals on_complete.
rules_test!(rule_1_05_finite_stream_completes, |c| {
    let n = elements(&c, 3).unwrap_or(0);
    Some(Box::pin(async move {
        let (s, p) = TestSubscriber::<u64>::new(UNBOUNDED);
        c.make(n).subscribe(s);
        await_terminal(&p).await;
        assert!(p.is_complete(), "{}: {:?}", c.name, p.events());
        if c.exact {
            assert_eq!(p.count(), n, "{}", c.name);
        }
        p.assert_no_violations();
    }) as Check)
});

// 1.6 / 1.7 / spec107: nothing after a terminal signal, whatever is requested.
rules_test!(rule_1_07_no_signals_after_terminal, |c| {
    let n = elements(&c, 2).unwrap_or(0);
    Some(Box::pin(async move {
        let (s, p) = TestSubscriber::<u64>::new(UNBOUNDED);
        c.make(n).subscribe(s);
        await_terminal(&p).await;
        let seen = p.events().len();
        p.request(10);
        p.cancel();
        p.request(1);
        quiet().await;
        assert_eq!(p.events().len(), seen, "{}: {:?}", c.name, p.events());
        p.assert_no_violations();
    }) as Check)
});

// 1.8 / 3.12 / spec312: after cancel, signals stop.
rules_test!(rule_1_08_and_3_12_cancel_stops_signals, |c| {
    let n = elements(&c, 20)?;
    Some(Box::pin(async move {
        let (s, p) = TestSubscriber::<u64>::new(0);
        c.make(n).subscribe(s);
        p.request(1);
        await_count(&p, 1).await;
        p.cancel();
        quiet().await;
        let seen = p.count();
        p.request(n);
        quiet().await;
        assert_eq!(p.count(), seen, "{}: items after cancel", c.name);
        assert!(seen <= 1 || !c.exact, "{}: more than requested", c.name);
        p.assert_no_violations();
    }) as Check)
});

// 1.9 / spec109: on_subscribe first (and once), subscribe returns normally.
rules_test!(rule_1_09_on_subscribe_first, |c| {
    let n = elements(&c, 3).unwrap_or(0);
    Some(Box::pin(async move {
        let (s, p) = TestSubscriber::<u64>::new(UNBOUNDED);
        c.make(n).subscribe(s);
        await_terminal(&p).await;
        assert_eq!(p.subscribe_count(), 1, "{}: on_subscribe once", c.name);
        p.assert_no_violations();
    }) as Check)
});

// 1.9: a publisher that rejects a subscriber does so with on_error after on_subscribe.
#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn rule_1_09_rejection_is_on_error_after_on_subscribe() {
    let mut ran = 0;
    for c in cases().into_iter().filter(|c| !c.resubscribable) {
        let publisher = c.make(2);
        let (s1, p1) = TestSubscriber::<u64>::new(UNBOUNDED);
        publisher.subscribe(s1);
        await_terminal(&p1).await;
        let (s2, p2) = TestSubscriber::<u64>::new(UNBOUNDED);
        publisher.subscribe(s2);
        await_terminal(&p2).await;
        assert_eq!(p2.subscribe_count(), 1, "{}", c.name);
        // A single-use source rejects the second subscriber; a hot one that already ended
        // gives it the terminal signal. Either way: on_subscribe, then a terminal signal.
        assert!(p2.count() == 0, "{}: {:?}", c.name, p2.events());
        p2.assert_no_violations();
        ran += 1;
    }
    assert!(ran >= 4);
}

// 1.10 / spec110: subscribe may be called many times, with different subscribers; a cold
// publisher gives each its own run.
rules_test!(rule_1_10_many_subscribers_cold, |c| {
    c.resubscribable.then_some(())?;
    c.exact.then_some(())?;
    let n = elements(&c, 4)?;
    Some(Box::pin(async move {
        let publisher = c.make(n);
        let probes: Vec<_> = (0..3)
            .map(|_| {
                let (s, p) = TestSubscriber::<u64>::new(UNBOUNDED);
                publisher.subscribe(s);
                p
            })
            .collect();
        for p in probes {
            await_terminal(&p).await;
            assert_eq!(p.count(), n, "{}: {:?}", c.name, p.events());
            p.assert_no_violations();
        }
    }) as Check)
});

// 2.13 (publisher side): a subscriber that panics in on_next is contained: the publisher
// stops, the subscriber gets on_error(panicked), and the runtime lives on.
rules_test!(rule_2_13_panicking_subscriber_is_contained, |c| {
    let n = elements(&c, 5)?;
    (n >= 2 && c.exact).then_some(())?;
    Some(Box::pin(async move {
        let (s, p) = TestSubscriber::<u64>::with_behavior(
            UNBOUNDED,
            Behavior {
                panic_at: Some(2),
                ..Behavior::default()
            },
        );
        let token = Arc::new(());
        let weak = Arc::downgrade(&token);
        c.make(n).subscribe(Holding { s, _token: token });
        await_terminal(&p).await;
        let e = p
            .error()
            .unwrap_or_else(|| panic!("{}: {:?}", c.name, p.events()));
        assert!(e.is_panic(), "{}: {e}", c.name);
        assert_eq!(p.count(), 2, "{}: nothing after the panic", c.name);
        p.forget_subscription();
        let dropped = eventually(|| weak.strong_count() == 0).await;
        assert!(
            dropped,
            "{}: the panicked subscriber is still referenced",
            c.name
        );
    }) as Check)
});

// 3.2 / spec302: request may be called synchronously from on_next.
rules_test!(rule_3_02_request_from_on_next, |c| {
    let n = elements(&c, 50)?;
    c.exact.then_some(())?;
    Some(Box::pin(async move {
        let (s, p) = TestSubscriber::<u64>::with_behavior(
            1,
            Behavior {
                request_in_on_next: 1,
                ..Behavior::default()
            },
        );
        c.make(n).subscribe(s);
        await_terminal(&p).await;
        assert_eq!(p.count(), n, "{}", c.name);
        assert!(p.is_complete(), "{}", c.name);
        p.assert_no_violations();
    }) as Check)
});

// 3.3 / spec303: the recursion request → on_next → request is bounded (depth 1 here).
rules_test!(rule_3_03_bounded_recursion, |c| {
    let n = elements(&c, 1000)?;
    Some(Box::pin(async move {
        let (s, p) = TestSubscriber::<u64>::with_behavior(
            1,
            Behavior {
                request_in_on_next: 1,
                ..Behavior::default()
            },
        );
        c.make(n).subscribe(s);
        if c.exact {
            await_terminal(&p).await;
        } else {
            quiet().await;
        }
        assert_eq!(
            p.max_depth(),
            1,
            "{}: signals nested inside signals",
            c.name
        );
        p.assert_no_violations();
    }) as Check)
});

// 3.5 / 3.7: cancel is idempotent and thread-safe.
rules_test!(rule_3_05_and_3_07_cancel_idempotent_and_thread_safe, |c| {
    let n = elements(&c, 100)?;
    Some(Box::pin(async move {
        let (s, p) = TestSubscriber::<u64>::new(0);
        c.make(n).subscribe(s);
        p.request(1);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let p = p.clone();
                std::thread::spawn(move || {
                    for _ in 0..10 {
                        p.cancel();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        p.cancel();
        quiet().await;
        let seen = p.count();
        p.request(5);
        quiet().await;
        assert_eq!(p.count(), seen, "{}", c.name);
        p.assert_no_violations();
    }) as Check)
});

// 3.6 / spec306: after cancel, request is a no-op.
rules_test!(rule_3_06_request_after_cancel_is_noop, |c| {
    let n = elements(&c, 10)?;
    Some(Box::pin(async move {
        let (s, p) = TestSubscriber::<u64>::new(0);
        c.make(n).subscribe(s);
        p.cancel();
        p.request(n);
        p.request(UNBOUNDED);
        quiet().await;
        assert_eq!(p.count(), 0, "{}: {:?}", c.name, p.events());
        if c.exact {
            assert!(p.error().is_none(), "{}", c.name);
        }
        p.assert_no_violations();
    }) as Check)
});

// 3.8 / spec308 (additive demand): request(2) then request(3) is five items.
rules_test!(rule_3_08_demand_is_additive, |c| {
    c.exact.then_some(())?;
    (c.max >= 6).then_some(())?;
    Some(Box::pin(async move {
        let (s, p) = TestSubscriber::<u64>::new(0);
        c.make(6).subscribe(s);
        p.request(2);
        p.request(3);
        await_count(&p, 5).await;
        quiet().await;
        assert_eq!(p.count(), 5, "{}", c.name);
        assert!(!p.is_terminated(), "{}", c.name);
        p.request(1);
        await_count(&p, 6).await;
        p.request(1); // a source may need one more request to find out it is done (TCK's requestEndOfStream)
        await_terminal(&p).await;
        assert_eq!(p.count(), 6);
        p.assert_no_violations();
    }) as Check)
});

// 3.9 / spec309: request(0) signals on_error with a message that says why.
rules_test!(rule_3_09_request_zero_is_an_error, |c| {
    let n = elements(&c, 3)?;
    c.exact.then_some(())?;
    Some(Box::pin(async move {
        let (s, p) = TestSubscriber::<u64>::new(0);
        c.make(n).subscribe(s);
        p.request_raw(0);
        await_terminal(&p).await;
        let e = p
            .error()
            .unwrap_or_else(|| panic!("{}: {:?}", c.name, p.events()));
        assert!(e.is_bad_request(), "{}: {e}", c.name);
        assert!(e.to_string().contains("3.9"), "{}: {e}", c.name);
        p.assert_no_violations();
    }) as Check)
});

// 3.13 / spec313: cancel makes the publisher drop its references to the subscriber.
rules_test!(rule_3_13_cancel_drops_the_subscriber, |c| {
    let n = elements(&c, 10)?;
    Some(Box::pin(async move {
        let token = Arc::new(());
        let weak = Arc::downgrade(&token);
        let (s, p) = TestSubscriber::<u64>::new(0);
        c.make(n).subscribe(Holding { s, _token: token });
        p.request(1);
        await_count(&p, 1).await;
        p.cancel();
        p.forget_subscription();
        let dropped = eventually(|| weak.strong_count() == 0).await;
        assert!(
            dropped,
            "{}: the subscriber is still referenced after cancel",
            c.name
        );
    }) as Check)
});

/// A subscriber that holds a token, to see when the publisher drops it.
struct Holding<S> {
    s: S,
    _token: Arc<()>,
}

impl<S: spectrum_stream::Subscriber<u64>> spectrum_stream::Subscriber<u64> for Holding<S> {
    fn on_subscribe(&mut self, s: Arc<dyn spectrum_stream::Subscription>) {
        self.s.on_subscribe(s)
    }
    fn on_next(&mut self, v: u64) {
        self.s.on_next(v)
    }
    fn on_error(&mut self, e: spectrum_stream::StreamError) {
        self.s.on_error(e)
    }
    fn on_complete(&mut self) {
        self.s.on_complete()
    }
}

// 3.17 / spec317: demand up to 2^63−1, single and cumulative, never overflows or errors.
rules_test!(rule_3_17_unbounded_demand_saturates, |c| {
    let n = elements(&c, 5)?;
    Some(Box::pin(async move {
        let (s, p) = TestSubscriber::<u64>::new(0);
        c.make(n).subscribe(s);
        p.request(UNBOUNDED - 1);
        p.request(2);
        p.request(u64::MAX);
        p.request(UNBOUNDED);
        if c.exact {
            await_terminal(&p).await;
            assert!(p.is_complete(), "{}: {:?}", c.name, p.events());
            assert_eq!(p.count(), n, "{}", c.name);
        } else {
            quiet().await;
            assert!(
                p.error().is_none_or(|e| !e.is_bad_request()),
                "{}: {:?}",
                c.name,
                p.error()
            );
        }
        p.assert_no_violations();
    }) as Check)
});

#[test]
fn the_table_covers_every_operator_and_source() {
    let names: Vec<&str> = cases().iter().map(|c| c.name).collect();
    for must in [
        "range",
        "from_iterable",
        "just",
        "empty",
        "error",
        "generate",
        "create(Buffer)",
        "create(Drop)",
        "create(Latest)",
        "create(Error)",
        "from_stream",
        "from_receiver",
        "Mono::from_future",
        "interval",
        "Unicast",
        "Multicast.share",
        "map",
        "filter",
        "filter_map",
        "scan",
        "take",
        "skip",
        "take_while",
        "distinct_until_changed",
        "flat_map(just)",
        "flat_map_sequential",
        "concat_map",
        "switch_map",
        "merge",
        "concat",
        "zip",
        "combine_latest",
        "buffer",
        "buffer_timeout",
        "buffer_time",
        "window",
        "group_by",
        "retry",
        "retry_when(backoff)",
        "timeout",
        "on_backpressure_buffer",
        "on_backpressure_drop",
        "on_backpressure_latest",
        "on_backpressure_error",
        "limit_rate",
        "publish_on",
        "subscribe_on",
        "sample",
        "debounce",
        "throttle",
        "reduce",
        "collect",
        "count",
        "last",
        "into_stream",
        "send_to/from_receiver",
    ] {
        assert!(names.contains(&must), "{must} missing from the rules table");
    }
    let _ = boom();
}
