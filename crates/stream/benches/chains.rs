//! Operator chains, Spectrum and its peers in the same run: items/s and ratios.
//!
//! `cargo bench -p spectrum-stream --bench chains` (`SPECTRUM_BENCH_REPS`, default 5: the
//! median of that many alternating runs; `SPECTRUM_BENCH_SCALE`, default 1.0, multiplies the
//! item counts).
//!
//! | row | Spectrum | peer |
//! |---|---|---|
//! | sync `range.map.filter.reduce` | `Flux` on the caller's thread | the same `futures::stream` chain on tokio's current-thread runtime; rxRust 1.0.0-rc.6 (`Local`: `Rc`/`RefCell`, and `Shared`: `Arc`/`Mutex`; no backpressure); a plain iterator (the floor) |
//! | `range.flat_map(just)` | `Flux::flat_map(Flux::just)` | `futures::stream::iter(..).flat_map(stream::once)`; rxRust `flat_map(of)` |
//! | thread boundary | `range.subscribe_on().publish_on().reduce` on 2 workers | tokio `mpsc(256)` between two tasks on tokio's 2-worker runtime (`ReceiverStream`-style) |

use std::hint::black_box;
use std::time::{Duration, Instant};

use futures::StreamExt;
use spectrum_stream::Flux;

fn reps() -> usize {
    std::env::var("SPECTRUM_BENCH_REPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
}

fn scale(n: u64) -> u64 {
    let s: f64 = std::env::var("SPECTRUM_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    ((n as f64) * s).max(1000.0) as u64
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Runs each contender `reps` times, alternating, and returns the median time of each.
fn compare(contenders: &mut [(&str, &mut dyn FnMut() -> u64)]) -> Vec<Duration> {
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); contenders.len()];
    let mut check: Option<u64> = None;
    for _ in 0..reps() {
        for (i, (name, f)) in contenders.iter_mut().enumerate() {
            let t = Instant::now();
            let r = black_box(f());
            times[i].push(t.elapsed());
            match check {
                None => check = Some(r),
                Some(c) => assert_eq!(c, r, "{name} computed a different result"),
            }
        }
    }
    times.into_iter().map(median).collect()
}

fn mps(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64() / 1e6
}

fn row(workload: &str, n: u64, names: &[&str], times: &[Duration]) {
    let ours = times[0];
    let mut line = format!("| {workload} | {:.0} M/s |", mps(n, ours));
    for (name, t) in names.iter().zip(times).skip(1) {
        line += &format!(
            " {name} {:.0} M/s ({:.2}×) |",
            mps(n, *t),
            t.as_secs_f64() / ours.as_secs_f64()
        );
    }
    println!("{line}");
}

/// rxRust's chains, in a module of their own so that its prelude's traits do not meet
/// `futures::StreamExt`.
mod rx {
    use rxrust::prelude::*;

    pub fn chain_local(n: u64) -> u64 {
        let mut out = 0u64;
        Local::from_iter(0..n)
            .map(|x| x * 3)
            .filter(|x| x % 2 == 0)
            .reduce(|a: u64, x| a.wrapping_add(x))
            .subscribe(|v| out = v);
        out
    }

    pub fn chain_shared(n: u64) -> u64 {
        let out = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let o = out.clone();
        Shared::from_iter(0..n)
            .map(|x| x * 3)
            .filter(|x| x % 2 == 0)
            .reduce(|a: u64, x| a.wrapping_add(x))
            .subscribe(move |v| o.store(v, std::sync::atomic::Ordering::Relaxed));
        out.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn flat_map_local(n: u64) -> u64 {
        let mut out = 0u64;
        Local::from_iter(0..n)
            .flat_map(Local::of)
            .reduce(|a: u64, x| a.wrapping_add(x))
            .subscribe(|v| out = v);
        out
    }
}

fn main() {
    let srt = spectrum_rt::Runtime::builder().workers(1).build().unwrap();
    let srt2 = spectrum_rt::Runtime::builder().workers(2).build().unwrap();
    let trt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let trt2 = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    println!("| workload | spectrum | peers (peer items/s, spectrum speed-up = peer time / spectrum time) |");
    println!("|---|---|---|");

    // 1. Synchronous chain.
    let n = scale(100_000_000);
    let times = compare(&mut [
        ("spectrum", &mut || {
            srt.block_on(async move {
                Flux::range(0..n)
                    .map(|x| x * 3)
                    .filter(|x| x % 2 == 0)
                    .reduce(0u64, |a, x| a.wrapping_add(x))
                    .await
                    .unwrap()
                    .unwrap()
            })
        }),
        ("futures::stream", &mut || {
            trt.block_on(async move {
                futures::stream::iter(0..n)
                    .map(|x| x * 3)
                    .filter(|x| std::future::ready(x % 2 == 0))
                    .fold(0u64, |a, x| std::future::ready(a.wrapping_add(x)))
                    .await
            })
        }),
        ("rxrust Local", &mut || rx::chain_local(n)),
        ("rxrust Shared", &mut || rx::chain_shared(n)),
        ("iterator", &mut || {
            black_box(0..n)
                .map(|x| x * 3)
                .filter(|x| x % 2 == 0)
                .fold(0u64, |a, x| a.wrapping_add(x))
        }),
    ]);
    row(
        "sync `range.map.filter.reduce`",
        n,
        &[
            "spectrum",
            "futures::stream",
            "rxRust Local",
            "rxRust Shared",
            "iterator (floor)",
        ],
        &times,
    );

    // 2. flat_map to a single item.
    let n = scale(30_000_000);
    let times = compare(&mut [
        ("spectrum", &mut || {
            srt.block_on(async move {
                Flux::range(0..n)
                    .flat_map(Flux::just)
                    .reduce(0u64, |a, x| a.wrapping_add(x))
                    .await
                    .unwrap()
                    .unwrap()
            })
        }),
        ("futures::stream", &mut || {
            trt.block_on(async move {
                futures::stream::iter(0..n)
                    .flat_map(|x| futures::stream::once(std::future::ready(x)))
                    .fold(0u64, |a, x| std::future::ready(a.wrapping_add(x)))
                    .await
            })
        }),
        ("rxrust Local", &mut || rx::flat_map_local(n)),
    ]);
    row(
        "`range.flat_map(just)`",
        n,
        &["spectrum", "futures::stream", "rxRust Local"],
        &times,
    );

    // 3. Across a thread boundary: the producer runs on one runtime's worker (subscribe_on),
    // the consumer on another's (publish_on), so every item crosses threads.
    let producer_rt = spectrum_rt::Runtime::builder().workers(1).build().unwrap();
    let ph = producer_rt.handle().clone();
    let n = scale(20_000_000);
    let times = compare(&mut [
        ("spectrum", &mut || {
            let ph = ph.clone();
            srt.block_on(async move {
                Flux::range(0..n)
                    .subscribe_on_handle(Some(ph))
                    .publish_on()
                    .reduce(0u64, |a, x| a.wrapping_add(x))
                    .await
                    .unwrap()
                    .unwrap()
            })
        }),
        ("spectrum, one 2-worker runtime", &mut || {
            srt2.block_on(async move {
                Flux::range(0..n)
                    .subscribe_on()
                    .publish_on()
                    .reduce(0u64, |a, x| a.wrapping_add(x))
                    .await
                    .unwrap()
                    .unwrap()
            })
        }),
        ("tokio mpsc(256)", &mut || {
            trt2.block_on(async move {
                let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(256);
                let producer = tokio::spawn(async move {
                    for i in 0..n {
                        if tx.send(i).await.is_err() {
                            break;
                        }
                    }
                });
                let mut acc = 0u64;
                while let Some(v) = rx.recv().await {
                    acc = acc.wrapping_add(v);
                }
                producer.await.unwrap();
                acc
            })
        }),
    ]);
    row(
        "thread boundary `subscribe_on(rt A).publish_on(rt B)`",
        n,
        &[
            "spectrum",
            "spectrum, one 2-worker runtime",
            "tokio mpsc(256)",
        ],
        &times,
    );
    println!(
        "\nthread boundary: {:.1} ns per item (spectrum, two runtimes), {:.1} ns (one 2-worker runtime), {:.1} ns (tokio mpsc)",
        times[0].as_nanos() as f64 / n as f64,
        times[1].as_nanos() as f64 / n as f64,
        times[2].as_nanos() as f64 / n as f64
    );

    // Did the items really cross threads? The producer's thread is recorded with each item.
    let n = scale(2_000_000);
    for (label, rt, producer) in [
        ("two runtimes", &srt, Some(ph.clone())),
        ("one 2-worker runtime", &srt2, None),
    ] {
        let crossed = rt.block_on(async move {
            Flux::range(0..n)
                .map(|x| (x, thread_key()))
                .subscribe_on_handle(producer.or_else(|| spectrum_rt::Handle::try_current().ok()))
                .publish_on()
                .reduce(0u64, |a, (_, t)| a + u64::from(t != thread_key()))
                .await
                .unwrap()
                .unwrap()
        });
        println!(
            "items produced on one thread and consumed on another ({label}): {:.1} %",
            100.0 * crossed as f64 / n as f64
        );
    }

    // Latency of one item across the boundary, one at a time (prefetch 1: each item wakes the
    // consumer task on the other thread).
    let n = scale(200_000);
    let total_ns = srt.block_on(async move {
        Flux::range(0..n)
            .map(|_| Instant::now())
            .subscribe_on_handle(Some(ph))
            .publish_on_with(None, 1)
            .reduce(0u128, |a, t| a + t.elapsed().as_nanos())
            .await
            .unwrap()
            .unwrap()
    });
    println!(
        "one item at a time across the boundary (prefetch 1): {:.0} ns mean latency per item",
        total_ns as f64 / n as f64
    );
}

fn thread_key() -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::thread::current().id().hash(&mut h);
    h.finish()
}
