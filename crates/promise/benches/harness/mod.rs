//! A small comparing harness: every side of a comparison runs in this process, in alternating
//! order, repetition after repetition; medians and ratios are printed. Absolute numbers on a
//! shared machine mean little, ratios measured this way mean more.
#![allow(dead_code)]

use std::time::Duration;

/// One side of a comparison: a name and a closure that runs `ops` operations and returns the
/// time they took (measured inside, so setup is excluded).
pub struct Side<'a> {
    pub name: &'a str,
    pub run: Box<dyn FnMut() -> Duration + 'a>,
}

impl<'a> Side<'a> {
    pub fn new(name: &'a str, run: impl FnMut() -> Duration + 'a) -> Self {
        Side {
            name,
            run: Box::new(run),
        }
    }
}

/// Repetitions per side (odd, for a true median); `SPECTRUM_BENCH_REPS` overrides.
pub fn reps() -> usize {
    std::env::var("SPECTRUM_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15)
}

/// Runs every side `reps` times, rotating which goes first, after one warm-up round; returns
/// the median nanoseconds per operation of each side, in `sides` order.
pub fn compare(ops: usize, sides: &mut [Side<'_>]) -> Vec<f64> {
    let reps = reps();
    for side in sides.iter_mut() {
        (side.run)();
    }
    let n = sides.len();
    let mut samples = vec![Vec::with_capacity(reps); n];
    for rep in 0..reps {
        for k in 0..n {
            let i = (rep + k) % n;
            let took = (sides[i].run)();
            samples[i].push(took.as_nanos() as f64 / ops as f64);
        }
    }
    samples.into_iter().map(median).collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Prints one table row: the scenario, each side's median, and the ratio of the first side to
/// each of the others.
pub fn row(scenario: &str, sides: &[Side<'_>], medians: &[f64]) {
    let mut line = format!("| {scenario} |");
    for (s, m) in sides.iter().zip(medians) {
        line += &format!(" {}: {} |", s.name, fmt_ns(*m));
    }
    for (s, m) in sides.iter().zip(medians).skip(1) {
        line += &format!(" {:.2}x vs {} |", medians[0] / m, s.name);
    }
    println!("{line}");
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 10_000.0 {
        format!("{:.1} µs", ns / 1000.0)
    } else {
        format!("{ns:.1} ns")
    }
}
