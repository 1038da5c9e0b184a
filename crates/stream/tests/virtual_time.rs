#![cfg(not(loom))]
//! Time operators under virtual time: `StepVerifier` on a paused clock, so hours pass in
//! microseconds and every run sees the same schedule.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use spectrum_stream::ops::RetrySpec;
use spectrum_stream::processor::Multicast;
use spectrum_stream::testing::StepVerifier;
use spectrum_stream::{Flux, Overflow, StreamError};

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn interval_ticks_on_virtual_time() {
    let elapsed = StepVerifier::create(Flux::interval(Duration::from_secs(3600)).take(3))
        .expect_no_event(Duration::from_secs(3599))
        .then_await(SEC)
        .expect_next(0)
        .then_await(Duration::from_secs(3600))
        .expect_next(1)
        .then_await(Duration::from_secs(3600))
        .expect_next(2)
        .expect_complete()
        .verify()
        .await;
    assert!(elapsed >= Duration::from_secs(3 * 3600), "{elapsed:?}");
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn interval_waits_for_demand_instead_of_failing() {
    StepVerifier::with_initial_request(Flux::interval(SEC).take(2), 0)
        .expect_no_event(10 * SEC)
        .then_request(1)
        .then_await(SEC)
        .expect_next(0)
        .then_request(1)
        .then_await(SEC)
        .expect_next(1)
        .expect_complete()
        .verify()
        .await;
}

fn hot() -> Multicast<u32> {
    Multicast::new(Overflow::Buffer(64))
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn timeout_fires_after_the_gap_and_cancels_upstream() {
    let h = hot();
    let h2 = h.clone();
    let h3 = h.clone();
    StepVerifier::create(Flux::from_publisher(h.clone()).timeout(100 * MS))
        .then(move || {
            h2.next(1);
        })
        .expect_next(1)
        .then_await(99 * MS)
        .then(move || {
            h3.next(2);
        })
        .expect_next(2)
        .expect_no_event(99 * MS)
        .then_await(MS)
        .expect_error_matches(|e| e.is_timeout())
        .verify()
        .await;
    assert_eq!(h.subscriber_count(), 0, "timeout cancelled its upstream");
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn sample_emits_the_newest_item_per_period() {
    let h = hot();
    let (a, b, c) = (h.clone(), h.clone(), h.clone());
    StepVerifier::create(Flux::from_publisher(h.clone()).sample(100 * MS))
        .then(move || {
            a.next(1);
            a.next(2);
        })
        .then_await(100 * MS)
        .expect_next(2)
        .expect_no_event(100 * MS) // an empty period emits nothing
        .then(move || {
            b.next(3);
        })
        .then_await(100 * MS)
        .expect_next(3)
        .then(move || {
            c.next(4);
            c.complete();
        })
        .expect_next(4) // the pending item goes out on completion
        .expect_complete()
        .verify()
        .await;
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn debounce_waits_for_quiet() {
    let h = hot();
    let (a, b, c) = (h.clone(), h.clone(), h.clone());
    StepVerifier::create(Flux::from_publisher(h.clone()).debounce(50 * MS))
        .then(move || {
            a.next(1);
        })
        .then_await(40 * MS)
        .then(move || {
            b.next(2); // restarts the quiet period
        })
        .expect_no_event(49 * MS)
        .then_await(MS)
        .expect_next(2)
        .then(move || {
            c.next(3);
            c.complete();
        })
        .expect_next(3)
        .expect_complete()
        .verify()
        .await;
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn throttle_drops_items_inside_the_window() {
    let h = hot();
    let (a, b, c) = (h.clone(), h.clone(), h.clone());
    StepVerifier::create(Flux::from_publisher(h.clone()).throttle(100 * MS))
        .then(move || {
            a.next(1);
            a.next(2);
        })
        .expect_next(1)
        .then_await(100 * MS)
        .then(move || {
            b.next(3);
            b.next(4);
        })
        .expect_next(3)
        .then(move || c.complete())
        .expect_complete()
        .verify()
        .await;
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn buffer_timeout_emits_on_count_or_on_time() {
    let h = hot();
    let (a, b) = (h.clone(), h.clone());
    StepVerifier::create(Flux::from_publisher(h.clone()).buffer_timeout(3, 100 * MS))
        .then(move || {
            for i in 0..4 {
                a.next(i);
            }
        })
        .expect_next(vec![0, 1, 2]) // count
        .expect_no_event(99 * MS)
        .then_await(MS)
        .expect_next(vec![3]) // time, from the buffer's first item
        .then(move || {
            b.next(9);
            b.complete();
        })
        .expect_next(vec![9])
        .expect_complete()
        .verify()
        .await;
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn buffer_timeout_holds_a_full_buffer_until_demand() {
    let h = hot();
    let a = h.clone();
    StepVerifier::with_initial_request(
        Flux::from_publisher(h.clone()).buffer_timeout(2, 10 * MS),
        0,
    )
    .then(move || {
        for i in 0..2 {
            a.next(i);
        }
    })
    .expect_no_event(SEC) // time passes, but nobody asked
    .then_request(1)
    .expect_next(vec![0, 1])
    .then_cancel()
    .verify()
    .await;
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn buffer_time_groups_by_period() {
    let h = hot();
    let (a, b) = (h.clone(), h.clone());
    StepVerifier::create(Flux::from_publisher(h.clone()).buffer_time(SEC))
        .then(move || {
            a.next(1);
            a.next(2);
        })
        .then_await(SEC)
        .expect_next(vec![1, 2])
        .then(move || {
            b.next(3);
            b.complete();
        })
        .expect_next(vec![3])
        .expect_complete()
        .verify()
        .await;
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn retry_backoff_waits_exponentially_with_bounded_jitter() {
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let flaky = Flux::generate(
        || (),
        move |_, sink| {
            if c.fetch_add(1, Ordering::SeqCst) < 3 {
                sink.error(StreamError::msg("flaky"));
            } else {
                sink.next(7u32);
                sink.complete();
            }
        },
    );
    let spec = RetrySpec::backoff(3, 100 * MS).jitter(0.0);
    let elapsed = StepVerifier::create(flaky.retry_when(spec))
        .expect_no_event(99 * MS)
        .then_await(MS) // first retry after 100 ms
        .expect_no_event(199 * MS)
        .then_await(MS) // second after 200 ms
        .expect_no_event(399 * MS)
        .then_await(MS) // third after 400 ms
        .expect_next(7)
        .expect_complete()
        .verify()
        .await;
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert!(elapsed >= 700 * MS, "{elapsed:?}");
}

#[test]
fn backoff_delays_follow_reactor_bounds() {
    let spec = RetrySpec::backoff(10, 100 * MS)
        .max_backoff(SEC)
        .jitter(0.5);
    for attempt in 0..10 {
        let base = (100 * MS * 2u32.pow(attempt)).min(SEC);
        for r in [0.0, 0.25, 0.5, 0.999] {
            let d = spec.delay(attempt as u64, r);
            assert!(d >= 100 * MS, "attempt {attempt}: {d:?} under the minimum");
            assert!(d <= SEC, "attempt {attempt}: {d:?} over the maximum");
            assert!(
                d.as_secs_f64() >= base.as_secs_f64() * 0.5 - 1e-9
                    && d.as_secs_f64() <= base.as_secs_f64() * 1.5 + 1e-9,
                "attempt {attempt}: {d:?} outside ±50 % of {base:?}"
            );
        }
    }
    assert_eq!(RetrySpec::max(3).delay(2, 0.7), Duration::ZERO);
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn retry_gives_up_after_the_attempts_with_the_last_error() {
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let always = Flux::generate(
        || (),
        move |_, sink: &mut spectrum_stream::SyncSink<u32>| {
            let n = c.fetch_add(1, Ordering::SeqCst);
            sink.error(StreamError::msg(format!("failure {n}")));
        },
    );
    StepVerifier::create(always.retry_when(RetrySpec::backoff(2, 10 * MS)))
        .expect_error_matches(|e| e.to_string() == "failure 2")
        .verify()
        .await;
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn retry_filter_skips_errors_it_does_not_want() {
    let spec = RetrySpec::max(5).filter(|e| e.to_string() != "fatal");
    StepVerifier::create(
        Flux::<spectrum_stream::source::Terminal<u32>>::error(StreamError::msg("fatal"))
            .retry_when(spec),
    )
    .expect_error_matches(|e| e.to_string() == "fatal")
    .verify()
    .await;
}
