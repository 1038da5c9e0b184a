//! Keyed rate limiter: per-key state, bounded memory, lossless eviction of idle keys.

use std::time::Duration;

use spectrum_resilience::{KeyedError, KeyedRateLimiter, Quota};
use spectrum_rt::time::advance;

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn each_key_has_its_own_budget() {
    let l = KeyedRateLimiter::new(Quota::per_second(10).burst(2)).unwrap();
    l.check(&"a").unwrap();
    l.check(&"a").unwrap();
    assert!(
        matches!(l.check(&"a"), Err(KeyedError::RateLimited(r)) if r.retry_after == Duration::from_millis(100))
    );
    l.check(&"b").unwrap();
    assert_eq!(l.len(), 2);
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn a_full_limiter_evicts_idle_keys_and_refuses_when_none_is_idle() {
    let l = KeyedRateLimiter::builder(Quota::per_second(10).burst(1))
        .max_keys(3)
        .build()
        .unwrap();
    for k in 0..3u32 {
        l.check(&k).unwrap();
    }
    // Every key is still limited (tat = now + 100 ms): a fourth key cannot be tracked.
    assert_eq!(l.check(&3), Err(KeyedError::TooManyKeys { max_keys: 3 }));
    assert_eq!(l.len(), 3);
    // 100 ms later they are all idle, hence evictable without changing any decision.
    advance(Duration::from_millis(100)).await;
    l.check(&3).unwrap();
    assert_eq!(l.len(), 1);
    let m = l.metrics();
    assert_eq!(m.counter("evicted"), Some(3));
    assert_eq!(m.counter("too_many_keys"), Some(1));
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn eviction_is_lossless() {
    let l = KeyedRateLimiter::builder(Quota::per_second(10).burst(2))
        .max_keys(1)
        .build()
        .unwrap();
    l.check(&"a").unwrap();
    l.check(&"a").unwrap(); // tat = now + 200 ms
    advance(Duration::from_millis(100)).await;
    // "a" is not idle yet (one cell back, not two): it must not be evicted.
    assert_eq!(l.check(&"b"), Err(KeyedError::TooManyKeys { max_keys: 1 }));
    l.check(&"a").unwrap();
    assert!(l.check(&"a").is_err(), "a's state was kept");
    advance(Duration::from_millis(200)).await;
    assert_eq!(l.retain_recent(), 1);
    // A re-created "a" behaves exactly like the old one would have: full burst of 2.
    l.check(&"a").unwrap();
    l.check(&"a").unwrap();
    assert!(l.check(&"a").is_err());
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn memory_stays_bounded_under_many_distinct_keys() {
    let l = KeyedRateLimiter::builder(Quota::per_second(1000).burst(1))
        .max_keys(4096)
        .build()
        .unwrap();
    // 100 000 distinct keys, 1000 per millisecond: each key goes idle 1 ms after its check, so
    // every new key finds room by evicting idle ones, and memory stays at the bound.
    for i in 0..100_000u64 {
        l.check(&i).unwrap();
        if i % 997 == 0 {
            assert!(l.len() <= 4096, "{}", l.len());
        }
        if i % 1000 == 999 {
            advance(Duration::from_millis(1)).await;
        }
    }
    let evicted = l.metrics().counter("evicted").unwrap();
    assert!(evicted >= 100_000 - 4096, "{evicted}");
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn until_ready_waits_for_the_key() {
    let l = KeyedRateLimiter::new(Quota::per_second(2).burst(1)).unwrap();
    let start = spectrum_rt::time::now();
    l.until_ready(&1).await.unwrap();
    l.until_ready(&1).await.unwrap();
    l.until_ready(&2).await.unwrap();
    assert_eq!(spectrum_rt::time::now() - start, Duration::from_millis(500));
}
