//! The harness of the `sync` and `sync_channels` benches: runtimes of the same width for both
//! sides, rows of two contestants run alternately, medians, the ratio.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// Workers of both runtimes.
pub const WORKERS: usize = 2;

/// Polls a future that must complete at once (nothing waits in uncontended rows).
#[inline(always)]
pub fn now<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("an uncontended operation waited"),
    }
}

pub fn spectrum_rt() -> spectrum_rt::Runtime {
    spectrum_rt::Runtime::builder()
        .workers(WORKERS)
        .build()
        .unwrap()
}

pub fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_all()
        .build()
        .unwrap()
}

/// A contestant: runs `ops` operations once and returns the elapsed time.
pub type Run = Box<dyn Fn(usize) -> Duration>;

/// A row: a name and two contestants.
pub struct Row {
    pub name: String,
    pub spectrum: Run,
    pub tokio: Run,
}

/// Repetitions and operations per repetition, for a full and a `--quick` run.
pub struct Sizes {
    pub reps: (usize, usize),
    pub ops: (usize, usize),
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Runs the rows whose name contains the first non-flag argument (all without one), each
/// warmed up, then `reps` alternating runs of `ops_for(name, ops)` operations per contestant;
/// prints the medians in ns/op and the ratio Spectrum / tokio.
pub fn run(rows: Vec<Row>, sizes: Sizes, ops_for: impl Fn(&str, usize) -> usize, note: &str) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let filter = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(|s| s.to_lowercase());
    let reps = if quick { sizes.reps.0 } else { sizes.reps.1 };
    let base = if quick { sizes.ops.0 } else { sizes.ops.1 };
    println!(
        "{:<50} {:>12} {:>12} {:>8}   (median of {reps} reps, ops per rep: {base}{note})",
        "row", "spectrum ns", "tokio ns", "ratio"
    );
    for row in rows {
        if let Some(f) = &filter {
            if !row.name.to_lowercase().contains(f.as_str()) {
                continue;
            }
        }
        let ops = ops_for(&row.name, base);
        // Warm up both, then alternate.
        (row.spectrum)(ops / 10);
        (row.tokio)(ops / 10);
        let mut s = Vec::new();
        let mut t = Vec::new();
        for _ in 0..reps {
            s.push((row.spectrum)(ops));
            t.push((row.tokio)(ops));
        }
        let (s, t) = (median(s), median(t));
        let ns = |d: Duration| d.as_nanos() as f64 / ops as f64;
        println!(
            "{:<50} {:>12.1} {:>12.1} {:>8.2}",
            row.name,
            ns(s),
            ns(t),
            ns(s) / ns(t)
        );
    }
}
