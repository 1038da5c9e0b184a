#![cfg(not(loom))]
//! Stress: `publish_on` / `subscribe_on` / `flat_map` across two workers and an extra thread,
//! with cancellation at random points (inside `on_next`, or from another thread at a random
//! moment). Checks, every round: no item duplicated, none reordered where order is promised
//! (`publish_on`, `flat_map_sequential`), none lost before the cancellation point, and a
//! complete run when nothing cancels.
//!
//! `SPECTRUM_STRESS_ITERS` (default 60) sets the rounds, `SPECTRUM_STRESS_SEED` replays one.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::eventually;
use spectrum_stream::testing::{Behavior, TestProbe, TestSubscriber};
use spectrum_stream::{BoxFlux, Flux, Publisher, UNBOUNDED};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn iters() -> u64 {
    std::env::var("SPECTRUM_STRESS_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60)
}

fn seed() -> u64 {
    std::env::var("SPECTRUM_STRESS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        })
}

const N: u64 = 2_000;

fn ordered(h: &spectrum_rt::Handle) -> BoxFlux<u64> {
    let h2 = h.clone();
    Flux::range(0..N)
        .subscribe_on_handle(Some(h.clone()))
        .publish_on_with(Some(h.clone()), 16)
        .flat_map_sequential_with(
            move |x| Flux::just(x).publish_on_with(Some(h2.clone()), 1),
            8,
            2,
        )
        .publish_on_with(Some(h.clone()), 32)
        .boxed()
}

fn unordered(h: &spectrum_rt::Handle) -> BoxFlux<u64> {
    let h2 = h.clone();
    Flux::range(0..N)
        .subscribe_on_handle(Some(h.clone()))
        .flat_map_with(
            move |x| Flux::range(x * 2..x * 2 + 2).publish_on_with(Some(h2.clone()), 2),
            16,
            2,
        )
        .limit_rate(64)
        .boxed()
}

/// Waits for the end of a round: the terminal signal, or at least `target` items (the cancel
/// point), for up to 10 s (a stall fails the round); then, after a cancel, for the items in
/// flight to drain (no new item for 20 ms).
async fn settle_round(p: &TestProbe<u64>, target: Option<u64>) {
    let start = std::time::Instant::now();
    while !p.is_terminated()
        && target.is_none_or(|t| p.count() < t)
        && start.elapsed() < Duration::from_secs(10)
    {
        spectrum_rt::time::sleep(Duration::from_millis(1)).await;
    }
    if target.is_none() {
        return;
    }
    let mut last = u64::MAX;
    while !p.is_terminated() && p.count() != last {
        last = p.count();
        spectrum_rt::time::sleep(Duration::from_millis(20)).await;
    }
}

fn check_prefix(round: u64, values: &[u64], at_least: u64) {
    for (i, v) in values.iter().enumerate() {
        assert_eq!(
            *v, i as u64,
            "round {round}: out of order, duplicated or lost at {i}"
        );
    }
    assert!(
        values.len() as u64 >= at_least,
        "round {round}: only {} items before the cancel at {at_least}",
        values.len()
    );
}

#[spectrum_macros::test(crate = "spectrum_rt", workers = 2)]
async fn ordered_pipeline_with_random_cancel() {
    let h = spectrum_rt::Handle::current();
    let seed = seed();
    let mut rng = Rng(seed);
    eprintln!("SPECTRUM_STRESS_SEED={seed}");
    for round in 0..iters() {
        let mode = rng.below(3);
        let cancel_at = 1 + rng.below(N);
        let behavior = Behavior {
            cancel_at: (mode == 1).then_some(cancel_at as usize),
            request_in_on_next: if rng.below(2) == 0 { 1 } else { 0 },
            ..Behavior::default()
        };
        let initial = if behavior.request_in_on_next == 1 {
            1
        } else {
            UNBOUNDED
        };
        let (s, p) = TestSubscriber::with_behavior(initial, behavior);
        ordered(&h).subscribe(s);
        let mut at_least = N;
        if mode == 1 {
            at_least = cancel_at;
        } else if mode == 2 {
            // Cancel from another thread at a random moment.
            let delay = rng.below(300);
            let p2 = p.clone();
            let t = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_micros(delay));
                let seen = p2.count();
                p2.cancel();
                seen
            });
            at_least = t.join().unwrap();
        }
        settle_round(&p, (mode != 0).then_some(at_least)).await;
        let values = p.values();
        check_prefix(round, &values, at_least);
        if mode == 0 {
            assert!(
                p.is_complete(),
                "round {round}: {} items, not complete",
                values.len()
            );
            assert_eq!(values.len() as u64, N);
        }
        p.assert_no_violations();
    }
}

#[spectrum_macros::test(crate = "spectrum_rt", workers = 2)]
async fn unordered_flat_map_with_random_cancel() {
    let h = spectrum_rt::Handle::current();
    let seed = seed();
    let mut rng = Rng(seed.wrapping_mul(3) | 1);
    eprintln!("SPECTRUM_STRESS_SEED={seed}");
    for round in 0..iters() {
        let cancel = rng.below(2) == 1;
        let cancel_at = 1 + rng.below(2 * N);
        let (s, p) = TestSubscriber::with_behavior(
            UNBOUNDED,
            Behavior {
                cancel_at: cancel.then_some(cancel_at as usize),
                ..Behavior::default()
            },
        );
        unordered(&h).subscribe(s);
        settle_round(&p, cancel.then_some(cancel_at)).await;
        let values = p.values();
        let set: HashSet<u64> = values.iter().copied().collect();
        assert_eq!(set.len(), values.len(), "round {round}: duplicates");
        assert!(
            values.iter().all(|v| *v < 2 * N),
            "round {round}: unknown items"
        );
        // Each inner's two items stay in order.
        let mut pos = std::collections::HashMap::new();
        for (i, v) in values.iter().enumerate() {
            pos.insert(*v, i);
        }
        for v in values.iter().filter(|v| *v % 2 == 1) {
            if let Some(first) = pos.get(&(v - 1)) {
                assert!(*first < pos[v], "round {round}: inner items reordered");
            }
        }
        if cancel {
            assert!(
                values.len() as u64 >= cancel_at,
                "round {round}: lost before cancel"
            );
        } else {
            assert!(
                p.is_complete(),
                "round {round}: not complete ({} items)",
                values.len()
            );
            assert_eq!(set.len() as u64, 2 * N, "round {round}: lost items");
        }
        p.assert_no_violations();
    }
    assert!(eventually(|| true).await);
}
