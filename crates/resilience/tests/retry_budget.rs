//! Retry budget: a shared token bucket bounds retries to a fraction of calls.

use std::time::Duration;

use spectrum_resilience::{Backoff, Retry, RetryBudget};
use spectrum_rt::time::advance;

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn retries_stop_when_the_shared_budget_is_exhausted() {
    let budget = RetryBudget::builder()
        .ratio(0.5)
        .min_per_second(0)
        .build()
        .unwrap();
    let retry = Retry::<(), &str>::builder()
        .max_attempts(10)
        .backoff(Backoff::constant(Duration::ZERO))
        .budget(budget.clone())
        .build()
        .unwrap();
    // Ten successful calls deposit 5 tokens.
    for _ in 0..10 {
        retry.run(|_| async { Ok(()) }).await.unwrap();
    }
    assert_eq!(budget.balance(), 5);
    // A failing call deposits 0.5 more and may retry 5 times (5.5 tokens), not 9.
    let mut attempts = 0;
    let _ = retry
        .run(|_| {
            attempts += 1;
            async { Err::<(), _>("down") }
        })
        .await;
    assert_eq!(attempts, 6);
    assert_eq!(retry.metrics().counter("exhausted_budget"), Some(1));
    // The next failing call finds the half token left over plus its own half: one retry.
    let mut attempts = 0;
    let _ = retry
        .run(|_| {
            attempts += 1;
            async { Err::<(), _>("down") }
        })
        .await;
    assert_eq!(attempts, 2);
    assert_eq!(budget.balance(), 0);
    assert_eq!(budget.metrics().counter("denied"), Some(2));
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn the_reserve_allows_a_few_retries_per_second_and_refills() {
    let budget = RetryBudget::builder()
        .ratio(0.0)
        .min_per_second(2)
        .build()
        .unwrap();
    assert!(budget.try_withdraw());
    assert!(budget.try_withdraw());
    assert!(!budget.try_withdraw());
    advance(Duration::from_millis(500)).await;
    assert!(budget.try_withdraw(), "one token refilled after 1/2 s");
    assert!(!budget.try_withdraw());
}

#[test]
fn deposits_are_capped() {
    let budget = RetryBudget::builder()
        .ratio(1.0)
        .max_tokens(3)
        .min_per_second(0)
        .build()
        .unwrap();
    for _ in 0..100 {
        budget.deposit();
    }
    assert_eq!(budget.balance(), 3);
    assert!((0..3).all(|_| budget.try_withdraw()));
    assert!(!budget.try_withdraw());
}
