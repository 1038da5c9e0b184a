//! Rate limiter `check` throughput against `governor`, single- and multi-threaded, in the same
//! process. Run: `cargo bench -p spectrum-resilience --bench rate_limit`.
//!
//! Both limiters get the same quota (10^9 cells per second, burst 10^9), so every check is
//! allowed and the benchmark measures the decision itself: reading the clock and one
//! compare-and-swap on a shared word (direct), or one lock and one hash lookup (keyed; governor's
//! default keyed store is a `DashMap`). Threads have no runtime entered (governor needs none);
//! both read the CPU's time-stamp counter through `quanta`. Rounds alternate; medians are
//! reported; the ratio is the median of the per-round ratios of Spectrum's throughput over
//! governor's (above 1.0 means Spectrum is faster).

use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::{Arc, Barrier};
use std::time::Instant;

use spectrum_resilience::{KeyedRateLimiter, Quota, RateLimiter};

const CHECKS: u64 = 2_000_000;
const ROUNDS: usize = 9;
const RATE: u32 = 1_000_000_000;

fn governor_quota() -> governor::Quota {
    governor::Quota::per_second(NonZeroU32::new(RATE).unwrap())
        .allow_burst(NonZeroU32::new(RATE).unwrap())
}

fn spectrum_quota() -> Quota {
    Quota::per_second(RATE).burst(RATE)
}

/// Runs `f` on `threads` threads at once; returns million checks per second, all threads
/// together.
fn throughput(threads: usize, f: impl Fn() -> u64 + Send + Sync + 'static) -> f64 {
    let f = Arc::new(f);
    let barrier = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (f, barrier) = (f.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                f()
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    let allowed: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(
        allowed,
        CHECKS * threads as u64,
        "every check must be allowed"
    );
    (CHECKS * threads as u64) as f64 / secs / 1e6
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn bench_direct(threads: usize) -> (f64, f64, f64) {
    let (mut s, mut g, mut r) = (vec![], vec![], vec![]);
    for round in 0..ROUNDS {
        let spectrum = || {
            let l = RateLimiter::new(spectrum_quota()).unwrap();
            throughput(threads, move || {
                (0..CHECKS).filter(|_| black_box(l.check()).is_ok()).count() as u64
            })
        };
        let governor = || {
            let l = governor::RateLimiter::direct(governor_quota());
            throughput(threads, move || {
                (0..CHECKS).filter(|_| black_box(l.check()).is_ok()).count() as u64
            })
        };
        let (a, b) = if round % 2 == 0 {
            let a = spectrum();
            (a, governor())
        } else {
            let b = governor();
            (spectrum(), b)
        };
        s.push(a);
        g.push(b);
        r.push(a / b);
    }
    (median(&mut s), median(&mut g), median(&mut r))
}

fn bench_keyed(threads: usize) -> (f64, f64, f64) {
    const KEYS: u64 = 1024;
    let (mut s, mut g, mut r) = (vec![], vec![], vec![]);
    for round in 0..ROUNDS {
        let spectrum = || {
            let l: KeyedRateLimiter<u64> = KeyedRateLimiter::new(spectrum_quota()).unwrap();
            throughput(threads, move || {
                (0..CHECKS)
                    .filter(|i| black_box(l.check(&(i % KEYS))).is_ok())
                    .count() as u64
            })
        };
        let governor = || {
            let l = governor::RateLimiter::keyed(governor_quota());
            throughput(threads, move || {
                (0..CHECKS)
                    .filter(|i| black_box(l.check_key(&(i % KEYS))).is_ok())
                    .count() as u64
            })
        };
        let (a, b) = if round % 2 == 0 {
            let a = spectrum();
            (a, governor())
        } else {
            let b = governor();
            (spectrum(), b)
        };
        s.push(a);
        g.push(b);
        r.push(a / b);
    }
    (median(&mut s), median(&mut g), median(&mut r))
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    println!(
        "rate limiter check throughput, M checks/s ({CHECKS} checks per thread x {ROUNDS} alternating rounds, medians; {cores} cores)"
    );
    println!("| limiter | threads | spectrum | governor | spectrum / governor |");
    println!("|---|---:|---:|---:|---:|");
    for threads in [1, 2, 4] {
        let (s, g, r) = bench_direct(threads);
        println!("| direct | {threads} | {s:.1} | {g:.1} | {r:.2}x |");
    }
    for threads in [1, 2] {
        let (s, g, r) = bench_keyed(threads);
        println!("| keyed (1024 keys) | {threads} | {s:.1} | {g:.1} | {r:.2}x |");
    }
}
