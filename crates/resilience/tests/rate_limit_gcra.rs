//! GCRA exactness: the burst, the steady rate, `check_n`, `until_ready` and shared clones.

use std::time::Duration;

use spectrum_resilience::{CheckNError, Quota, RateLimiter};
use spectrum_rt::time::{self, advance};

const MS: fn(u64) -> Duration = Duration::from_millis;

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn a_fresh_limiter_allows_exactly_the_burst() {
    let l = RateLimiter::new(Quota::per_second(10).burst(5)).unwrap();
    for _ in 0..5 {
        l.check().unwrap();
    }
    assert_eq!(l.check().unwrap_err().retry_after, MS(100));
    assert_eq!(l.metrics().counter("limited"), Some(1));
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn the_steady_rate_is_one_cell_per_interval_exactly() {
    let l = RateLimiter::new(Quota::per_second(10).burst(1)).unwrap();
    l.check().unwrap();
    for _ in 0..50 {
        advance(MS(99)).await;
        assert_eq!(
            l.check().unwrap_err().retry_after,
            MS(1),
            "not a millisecond early"
        );
        advance(MS(1)).await;
        l.check().unwrap();
    }
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn over_a_long_run_the_count_is_burst_plus_rate_times_time() {
    let l = RateLimiter::new(Quota::per_second(100).burst(20)).unwrap();
    let mut allowed = 0;
    for _ in 0..1000 {
        // 1000 × 1 ms = 1 s, trying 5 times per millisecond.
        for _ in 0..5 {
            allowed += u32::from(l.check().is_ok());
        }
        advance(MS(1)).await;
    }
    // The burst of 20 plus one cell per 10 ms over the second (the cell at t = 1 s is not taken).
    assert_eq!(allowed, 20 + 99);
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn idle_time_refills_up_to_the_burst_only() {
    let l = RateLimiter::new(Quota::per_second(10).burst(3)).unwrap();
    for _ in 0..3 {
        l.check().unwrap();
    }
    advance(Duration::from_secs(3600)).await;
    for _ in 0..3 {
        l.check().unwrap();
    }
    assert!(
        l.check().is_err(),
        "an hour idle still refills only the burst"
    );
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn check_n_takes_cells_atomically() {
    let l = RateLimiter::new(Quota::per_second(10).burst(4)).unwrap();
    l.check_n(3).unwrap();
    match l.check_n(2) {
        Err(CheckNError::RateLimited(r)) => assert_eq!(r.retry_after, MS(100)),
        other => panic!("{other:?}"),
    }
    l.check_n(1).unwrap(); // the failed request took nothing
    assert_eq!(
        l.check_n(5),
        Err(CheckNError::InsufficientCapacity { burst: 4 })
    );
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn clones_share_one_state() {
    let a = RateLimiter::new(Quota::per_second(1).burst(2)).unwrap();
    let b = a.clone();
    a.check().unwrap();
    b.check().unwrap();
    assert!(a.check().is_err() && b.check().is_err());
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn until_ready_waits_exactly_and_jitter_only_adds() {
    let l = RateLimiter::new(Quota::per_second(4).burst(1)).unwrap();
    let start = time::now();
    for _ in 0..5 {
        l.until_ready().await;
    }
    assert_eq!(time::now() - start, MS(1000), "4 waits of 250 ms");

    let j = RateLimiter::builder(Quota::per_second(4).burst(1))
        .jitter(MS(50))
        .seed(9)
        .build()
        .unwrap();
    let start = time::now();
    for _ in 0..5 {
        j.until_ready().await;
    }
    let took = time::now() - start;
    assert!(took >= MS(1000) && took < MS(1000 + 4 * 51), "{took:?}");
    assert_eq!(j.metrics().counter("waits"), Some(4));
}

#[test]
fn check_works_on_a_plain_thread_without_a_runtime() {
    let l = RateLimiter::new(Quota::per_second(1).burst(1)).unwrap();
    std::thread::spawn(move || {
        l.check().unwrap();
        assert!(l.check().is_err());
    })
    .join()
    .unwrap();
}
