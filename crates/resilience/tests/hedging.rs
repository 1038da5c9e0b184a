//! Hedging: latency, fallback and parallel modes; losers are cancelled and awaited, verified by
//! drop counters.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use spectrum_resilience::{Hedge, HedgeMode};
use spectrum_rt::time::{self, sleep};

const MS: fn(u64) -> Duration = Duration::from_millis;

#[derive(Clone, Default)]
struct Counts {
    started: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
    cleaned_up: Arc<AtomicUsize>,
    causes: Arc<Mutex<Vec<String>>>,
}

struct Guard(Arc<AtomicUsize>);
impl Drop for Guard {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn latency_mode_starts_a_hedge_after_the_delay_and_cancels_and_awaits_the_loser() {
    let hedge = Hedge::builder(HedgeMode::Latency(MS(50)))
        .max_attempts(3)
        .grace(MS(100))
        .build()
        .unwrap();
    let c = Counts::default();
    let start = time::now();
    let c2 = c.clone();
    let out = hedge
        .run(move |attempt| {
            let c = c2.clone();
            async move {
                c.started.fetch_add(1, SeqCst);
                let _g = Guard(c.dropped.clone());
                let work = if attempt.number() == 1 { 1000 } else { 20 };
                tokio_like_race(attempt.token().clone(), work, &c).await
            }
        })
        .await;
    assert_eq!(out, Ok(2), "the hedge started at 50 ms wins at 70 ms");
    // The primary saw its token fire, cleaned up for 10 ms, and was awaited.
    assert_eq!(time::now() - start, MS(80));
    assert_eq!(c.started.load(SeqCst), 2, "the third was never needed");
    assert_eq!(
        c.dropped.load(SeqCst),
        2,
        "winner and loser both gone when run returns"
    );
    assert_eq!(c.cleaned_up.load(SeqCst), 1);
    assert_eq!(*c.causes.lock().unwrap(), ["hedging: another attempt won"]);
    let m = hedge.metrics();
    assert_eq!(m.counter("hedge_won"), Some(1));
    assert_eq!(m.counter("losers_cancelled"), Some(1));
    assert_eq!(m.counter("losers_dropped"), Some(0));
}

/// Works for `ms`, or, if cancelled first, records the cause and cleans up for 10 ms.
async fn tokio_like_race(
    token: spectrum_rt::cancel::CancelToken,
    ms: u64,
    c: &Counts,
) -> Result<u32, &'static str> {
    let n = c.started.load(SeqCst) as u32;
    match token.run_until_cancelled(sleep(MS(ms))).await {
        Ok(()) => Ok(n),
        Err(cause) => {
            c.causes.lock().unwrap().push(cause.to_string());
            sleep(MS(10)).await;
            c.cleaned_up.fetch_add(1, SeqCst);
            Err("cancelled")
        }
    }
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn a_loser_that_ignores_its_token_is_dropped_after_the_grace() {
    let hedge = Hedge::builder(HedgeMode::Parallel)
        .max_attempts(3)
        .grace(MS(30))
        .build()
        .unwrap();
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    let start = time::now();
    let out = hedge
        .run(move |attempt| {
            let g = Guard(d.clone());
            async move {
                let _g = g;
                if attempt.number() == 2 {
                    sleep(MS(5)).await;
                    Ok::<_, ()>("fast")
                } else {
                    sleep(Duration::from_secs(3600)).await; // deaf to its token
                    Ok("slow")
                }
            }
        })
        .await;
    assert_eq!(out, Ok("fast"));
    assert_eq!(time::now() - start, MS(35), "5 ms to win + 30 ms grace");
    assert_eq!(
        dropped.load(SeqCst),
        3,
        "all three dropped before run returned"
    );
    assert_eq!(hedge.metrics().counter("losers_dropped"), Some(2));
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn fallback_mode_starts_the_next_only_after_a_failure() {
    let hedge = Hedge::builder(HedgeMode::Fallback)
        .max_attempts(3)
        .build()
        .unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let start = time::now();
    let out = hedge
        .run(move |attempt| {
            let l = l.clone();
            async move {
                l.lock().unwrap().push((attempt.number(), time::now()));
                sleep(MS(100)).await;
                if attempt.number() < 3 {
                    Err(attempt.number())
                } else {
                    Ok("third")
                }
            }
        })
        .await;
    assert_eq!(out, Ok("third"));
    let starts: Vec<_> = log
        .lock()
        .unwrap()
        .iter()
        .map(|(n, t)| (*n, *t - start))
        .collect();
    assert_eq!(starts, [(1, MS(0)), (2, MS(100)), (3, MS(200))]);
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn when_every_attempt_fails_the_last_failure_is_returned() {
    let hedge = Hedge::builder(HedgeMode::Parallel)
        .max_attempts(3)
        .build()
        .unwrap();
    let out: Result<(), u32> = hedge
        .run(|attempt| async move {
            sleep(MS(10 * u64::from(attempt.number()))).await;
            Err(attempt.number())
        })
        .await;
    assert_eq!(out, Err(3));
    assert_eq!(hedge.metrics().counter("all_failed"), Some(1));
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn the_primary_winning_early_starts_no_hedge() {
    let hedge = Hedge::builder(HedgeMode::Latency(MS(50)))
        .max_attempts(5)
        .build()
        .unwrap();
    let started = Arc::new(AtomicUsize::new(0));
    let s = started.clone();
    let out = hedge
        .run(move |_| {
            s.fetch_add(1, SeqCst);
            async {
                sleep(MS(49)).await;
                Ok::<_, ()>(1)
            }
        })
        .await;
    assert_eq!(out, Ok(1));
    assert_eq!(started.load(SeqCst), 1);
    assert_eq!(hedge.metrics().counter("primary_won"), Some(1));
}
