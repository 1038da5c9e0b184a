#![cfg(not(loom))]
//! Operator semantics against Reactor's, one behaviour per test: bounds, order, cancellation
//! of upstreams, the group_by guard, overflow policies.

mod common;

use std::time::Duration;

use common::{eventually, settle, Manual};
use spectrum_stream::processor::Multicast;
use spectrum_stream::testing::TestSubscriber;
use spectrum_stream::{ErrorKind, Flux, Overflow, Publisher, StreamError, UNBOUNDED};

fn manual() -> (Manual, Flux<Manual>) {
    let m = Manual::default();
    (m.clone(), Flux::from_publisher(m))
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn flat_map_is_bounded_by_default() {
    let (m, f) = manual();
    let (s, _p) = TestSubscriber::<u64>::new(UNBOUNDED);
    f.flat_map(|_| Flux::<spectrum_stream::source::Terminal<u64>>::never())
        .subscribe(s);
    assert_eq!(m.requested(), 256, "Reactor's default concurrency");
    let (m, f) = manual();
    let (s, _p) = TestSubscriber::<u64>::new(UNBOUNDED);
    f.flat_map_with(
        |_| Flux::<spectrum_stream::source::Terminal<u64>>::never(),
        8,
        4,
    )
    .subscribe(s);
    assert_eq!(m.requested(), 8);
    let (m, f) = manual();
    let (s, _p) = TestSubscriber::<u64>::new(UNBOUNDED);
    f.flat_map_unbounded(|_| Flux::<spectrum_stream::source::Terminal<u64>>::never())
        .subscribe(s);
    assert_eq!(m.requested(), UNBOUNDED, "unbounded only when spelled out");
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn flat_map_prefetches_inners_and_replaces_finished_ones() {
    let inner = Manual::default();
    let inner2 = inner.clone();
    let (s, p) = TestSubscriber::<u64>::new(UNBOUNDED);
    Flux::range(0..1u64)
        .flat_map_with(move |_| Flux::from_publisher(inner2.clone()), 2, 4)
        .subscribe(s);
    assert_eq!(inner.requested(), 4, "prefetch");
    for i in 0..3 {
        inner.next(i);
    }
    assert_eq!(
        inner.requested(),
        4 + 3,
        "replenished at 75 % of the prefetch"
    );
    inner.complete();
    assert!(p.is_complete());
    assert_eq!(p.values(), [0, 1, 2]);
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn concat_map_subscribes_one_inner_at_a_time_in_order() {
    let (s, p) = TestSubscriber::<u64>::new(UNBOUNDED);
    let h = spectrum_rt::Handle::current();
    Flux::range(0..20u64)
        .concat_map(move |x| Flux::range(x * 10..x * 10 + 3).publish_on_with(Some(h.clone()), 2))
        .subscribe(s);
    assert!(eventually(|| p.is_terminated()).await);
    let want: Vec<u64> = (0..20).flat_map(|x| x * 10..x * 10 + 3).collect();
    assert_eq!(p.values(), want);
}

#[spectrum_macros::test(crate = "spectrum_rt", workers = 2)]
async fn flat_map_sequential_keeps_outer_order_with_async_inners() {
    let h = spectrum_rt::Handle::current();
    let got = Flux::range(0..200u64)
        .flat_map_sequential_with(
            move |x| Flux::range(x * 3..x * 3 + 3).publish_on_with(Some(h.clone()), 1),
            16,
            2,
        )
        .collect::<Vec<_>>()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, (0..600).collect::<Vec<_>>());
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn switch_map_follows_the_newest_inner_and_cancels_the_old() {
    let outer = Manual::default();
    let a = Manual::default();
    let b = Manual::default();
    let (a2, b2) = (a.clone(), b.clone());
    let (s, p) = TestSubscriber::<u64>::new(UNBOUNDED);
    Flux::from_publisher(outer.clone())
        .switch_map(move |x| Flux::from_publisher(if x == 0 { a2.clone() } else { b2.clone() }))
        .subscribe(s);
    outer.next(0);
    a.next(1);
    outer.next(1);
    assert_eq!(a.cancels(), 1, "the previous inner is cancelled");
    a.next(2); // stale: dropped
    b.next(3);
    outer.complete();
    assert!(!p.is_terminated(), "waits for the last inner");
    b.complete();
    assert_eq!(p.values(), [1, 3]);
    assert!(p.is_complete());
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn zip_pairs_and_completes_with_the_shorter_cancelling_the_other() {
    let long = Manual::default();
    let (s, p) = TestSubscriber::<(u64, u64)>::new(UNBOUNDED);
    Flux::zip(Flux::range(0..2u64), Flux::from_publisher(long.clone())).subscribe(s);
    long.next(10);
    long.next(11);
    assert_eq!(p.values(), [(0, 10), (1, 11)]);
    assert!(p.is_complete());
    assert_eq!(long.cancels(), 1);
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn combine_latest_combines_the_newest_of_each() {
    let (a, b) = (Manual::default(), Manual::default());
    let (s, p) = TestSubscriber::<u64>::new(UNBOUNDED);
    Flux::combine_latest(
        Flux::from_publisher(a.clone()),
        Flux::from_publisher(b.clone()),
        |x, y| x * 10 + y,
    )
    .subscribe(s);
    a.next(1); // nothing yet: b has no value
    b.next(2);
    b.next(3);
    a.next(4);
    a.complete();
    assert!(!p.is_terminated());
    b.complete();
    assert_eq!(p.values(), [12, 13, 43]);
    assert!(p.is_complete());
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn group_by_reports_instead_of_hanging_when_groups_exceed_concurrency() {
    // The classic hang: 10 keys, flat_map taking 4 groups at a time.
    let r = Flux::range(0..100u64)
        .group_by(|x| x % 10)
        .flat_map_with(|g| g.flux().count(), 4, 32)
        .collect::<Vec<_>>()
        .await;
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooManyGroups);
    assert!(e.to_string().contains("group #5"), "{e}");
    // With enough concurrency it works.
    let mut counts = Flux::range(0..100u64)
        .group_by(|x| x % 10)
        .flat_map_with(|g| g.flux().count(), 10, 32)
        .collect::<Vec<_>>()
        .await
        .unwrap()
        .unwrap();
    counts.sort();
    assert_eq!(counts, vec![10; 10]);
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn group_by_bounds_what_it_holds() {
    let (m, f) = manual();
    let (s, _p) = TestSubscriber::new(UNBOUNDED);
    f.group_by_with(|x| x % 2, 8).subscribe(s);
    assert_eq!(
        m.requested(),
        8,
        "prefetch, nothing more until groups consume"
    );
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn window_splits_by_count() {
    let windows = Flux::range(0..7u64)
        .window(3)
        .concat_map(|w| w.collect::<Vec<_>>())
        .collect::<Vec<_>>()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(windows, vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]);
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn take_caps_upstream_demand_and_cancels() {
    let (m, f) = manual();
    let (s, p) = TestSubscriber::new(UNBOUNDED);
    f.take(3).subscribe(s);
    assert_eq!(m.requested(), 3, "limitRequest: never more than n upstream");
    for i in 0..3 {
        m.next(i);
    }
    assert_eq!(m.cancels(), 1);
    assert!(p.is_complete());
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn take_while_cancels_at_the_first_failing_item() {
    let (m, f) = manual();
    let (s, p) = TestSubscriber::new(UNBOUNDED);
    f.take_while(|x| *x < 2).subscribe(s);
    for i in 0..3 {
        m.next(i);
    }
    assert_eq!(p.values(), [0, 1]);
    assert!(p.is_complete());
    assert_eq!(m.cancels(), 1);
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn limit_rate_caps_outstanding_upstream_demand() {
    let (m, f) = manual();
    let (s, p) = TestSubscriber::new(UNBOUNDED);
    f.limit_rate_with(10, 5).subscribe(s);
    assert_eq!(m.requested(), 10, "high tide");
    for i in 0..4 {
        m.next(i);
    }
    assert_eq!(m.requested(), 10, "not yet at low tide");
    m.next(4);
    assert_eq!(m.requested(), 15, "low tide: 5 more");
    assert_eq!(p.count(), 5);
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn backpressure_operators_apply_their_policies() {
    async fn run(
        build: fn(Flux<Multicast<u64>>) -> spectrum_stream::BoxFlux<u64>,
    ) -> spectrum_stream::testing::TestProbe<u64> {
        let hot = Multicast::new(Overflow::Buffer(1000));
        let (s, p) = TestSubscriber::new(1);
        build(Flux::from_publisher(hot.clone())).subscribe(s);
        for i in 0..10 {
            hot.next(i);
        }
        p.request(2);
        settle().await;
        p
    }
    let p = run(|f| f.on_backpressure_buffer(5, Overflow::Buffer(0)).boxed()).await;
    assert_eq!(p.values(), [0], "overflow of the buffer fails the stream");
    assert!(p.error().unwrap().is_overflow());
    let p = run(|f| {
        f.on_backpressure_buffer(5, Overflow::BufferDropOldest(0))
            .boxed()
    })
    .await;
    assert_eq!(
        p.values(),
        [0, 5, 6],
        "the oldest waiting items were dropped"
    );
    let p = run(|f| {
        f.on_backpressure_buffer(5, Overflow::BufferDropNewest(0))
            .boxed()
    })
    .await;
    assert_eq!(p.values(), [0, 1, 2], "the newest items were dropped");
    let p = run(|f| f.on_backpressure_drop().boxed()).await;
    assert_eq!(p.values(), [0], "items without demand dropped");
    let p = run(|f| f.on_backpressure_latest().boxed()).await;
    assert_eq!(p.values(), [0, 9], "only the newest kept");
    let p = run(|f| f.on_backpressure_error().boxed()).await;
    assert!(p.error().unwrap().is_overflow());
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn create_overflow_strategies() {
    let push10 = |o: Overflow| {
        Flux::create(o, |sink| {
            for i in 0..10u64 {
                sink.next(i);
            }
            sink.complete();
        })
    };
    let (s, p) = TestSubscriber::new(2);
    push10(Overflow::Buffer(100)).subscribe(s);
    p.request(100);
    assert_eq!(p.count(), 10);
    assert!(p.is_complete());
    let (s, p) = TestSubscriber::new(2);
    push10(Overflow::Buffer(3)).subscribe(s);
    assert!(p.error().unwrap().is_overflow(), "{:?}", p.events());
    let (s, p) = TestSubscriber::new(2);
    push10(Overflow::Drop).subscribe(s);
    assert_eq!(p.values(), [0, 1]);
    let (s, p) = TestSubscriber::new(2);
    push10(Overflow::Latest).subscribe(s);
    p.request(1);
    assert_eq!(p.values(), [0, 1, 9]);
    let (s, p) = TestSubscriber::new(2);
    push10(Overflow::Error).subscribe(s);
    assert_eq!(p.values(), [0, 1]);
    assert!(p.error().unwrap().is_overflow());
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn a_panicking_map_function_becomes_an_error_and_the_runtime_lives_on() {
    let r = Flux::range(0..10u64)
        .map(|x| if x == 3 { panic!("bad item {x}") } else { x })
        .collect::<Vec<_>>()
        .await;
    let e = r.unwrap_err();
    assert!(e.is_panic());
    assert!(e.to_string().contains("bad item 3"), "{e}");
    // A panic inside for_each is contained the same way.
    let r = Flux::range(0..10u64)
        .publish_on()
        .for_each(|x| assert!(x < 5, "for_each panics at {x}"))
        .await;
    assert!(r.unwrap_err().is_panic());
    assert_eq!(spectrum_rt::spawn(async { 1 + 1 }).await.unwrap(), 2);
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn scan_distinct_skip_filter_map() {
    let v = Flux::from_iterable(vec![1u64, 1, 2, 2, 3, 1])
        .distinct_until_changed()
        .scan(0u64, |a, x| a + x)
        .skip(1)
        .filter_map(|x| (x % 2 == 0).then_some(x * 10))
        .collect::<Vec<_>>()
        .await
        .unwrap()
        .unwrap();
    // distinct: 1 2 3 1; scan: 1 3 6 7; skip 1: 3 6 7; even ×10: 60
    assert_eq!(v, [60]);
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn merge_and_concat() {
    let mut m = Flux::merge(vec![
        Flux::range(0..3u64).boxed(),
        Flux::range(10..12).boxed(),
    ])
    .collect::<Vec<_>>()
    .await
    .unwrap()
    .unwrap();
    m.sort();
    assert_eq!(m, [0, 1, 2, 10, 11]);
    let c = Flux::concat(vec![Flux::range(5..7u64), Flux::range(0..2)])
        .collect::<Vec<_>>()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c, [5, 6, 0, 1]);
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn generate_misuse_is_an_error() {
    let r = Flux::generate(
        || (),
        |_, sink: &mut spectrum_stream::SyncSink<u8>| {
            sink.next(1);
            sink.next(2);
        },
    )
    .collect::<Vec<_>>()
    .await;
    assert!(r.unwrap_err().to_string().contains("more than once"));
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn request_zero_explains_itself() {
    let (s, p) = TestSubscriber::<u64>::new(0);
    Flux::range(0..3u64).subscribe(s);
    p.request_raw(0);
    let e = p.error().unwrap();
    assert!(e.is_bad_request());
    assert_eq!(
        e.to_string(),
        "request(0): a subscriber must request at least one item (reactive streams rule 3.9)"
    );
    let _ = StreamError::msg("x");
    let _ = Duration::ZERO;
}
