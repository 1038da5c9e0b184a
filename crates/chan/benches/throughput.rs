//! Channel throughput: Spectrum against crossbeam-channel, flume, kanal, async-channel and
//! tokio::mpsc, in the same process, alternating, several repetitions; prints the median msgs/s
//! of each and the ratio Spectrum / best peer.
//!
//! ```text
//! cargo bench -p spectrum-chan --bench throughput            # all workloads
//! cargo bench -p spectrum-chan --bench throughput -- spsc    # names containing "spsc"
//! SPECTRUM_BENCH_REPS=9 SPECTRUM_BENCH_MSGS=2000000 cargo bench ...
//! ```
//!
//! Async workloads run every channel on the same executor (a 2-worker Spectrum runtime), so the
//! comparison is between channels, not executors.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use spectrum_rt::{Runtime, Wait};

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// One contestant of a workload: a name and a function that runs `msgs` messages once and
/// returns the elapsed time.
struct Entry {
    name: &'static str,
    run: Box<dyn Fn(usize) -> Duration>,
}

fn threads<S, R>(
    producers: usize,
    consumers: usize,
    msgs: usize,
    make: impl Fn() -> (S, R),
    produce: impl Fn(S, usize) + Send + Sync + Copy + 'static,
    consume: impl Fn(R) -> usize + Send + Sync + Copy + 'static,
) -> Duration
where
    S: Clone + Send + 'static,
    R: Clone + Send + 'static,
{
    let (tx, rx) = make();
    let per = msgs / producers;
    let start = Instant::now();
    let ps: Vec<_> = (0..producers)
        .map(|_| {
            let tx = tx.clone();
            std::thread::spawn(move || produce(tx, per))
        })
        .collect();
    drop(tx);
    let cs: Vec<_> = (0..consumers)
        .map(|_| {
            let rx = rx.clone();
            std::thread::spawn(move || consume(rx))
        })
        .collect();
    drop(rx);
    for p in ps {
        p.join().unwrap();
    }
    let got: usize = cs.into_iter().map(|c| c.join().unwrap()).sum();
    let elapsed = start.elapsed();
    assert_eq!(got, per * producers, "lost messages");
    elapsed
}

#[allow(clippy::too_many_arguments)]
fn tasks<S, R>(
    rt: &Runtime,
    producers: usize,
    consumers: usize,
    msgs: usize,
    make: impl Fn() -> (S, R),
    produce: impl Fn(S, usize) -> BoxFut<()>,
    consume: impl Fn(R) -> BoxFut<usize>,
) -> Duration
where
    S: Clone + Send + 'static,
    R: Clone + Send + 'static,
{
    let (tx, rx) = make();
    let per = msgs / producers;
    let (elapsed, got) = rt.block_on(async {
        let start = Instant::now();
        let ps: Vec<_> = (0..producers)
            .map(|_| spectrum_rt::spawn(produce(tx.clone(), per)))
            .collect();
        drop(tx);
        let cs: Vec<_> = (0..consumers)
            .map(|_| spectrum_rt::spawn(consume(rx.clone())))
            .collect();
        drop(rx);
        for p in ps {
            p.await.unwrap();
        }
        let mut got = 0;
        for c in cs {
            got += c.await.unwrap();
        }
        (start.elapsed(), got)
    });
    assert_eq!(got, per * producers, "lost messages");
    elapsed
}

/// Thread-workload entries for a channel of capacity `cap` (0 = rendezvous), P producers and C
/// consumers.
fn thread_entries(cap: usize, p: usize, c: usize) -> Vec<Entry> {
    let mut v = vec![
        Entry {
            name: "spectrum",
            run: Box::new(move |n| {
                threads(
                    p,
                    c,
                    n,
                    || spectrum_chan::bounded::<usize>(cap),
                    |tx, k| {
                        for i in 0..k {
                            tx.send(i).wait().unwrap();
                        }
                    },
                    |rx| {
                        let mut n = 0;
                        while rx.recv().wait().is_ok() {
                            n += 1;
                        }
                        n
                    },
                )
            }),
        },
        Entry {
            name: "crossbeam",
            run: Box::new(move |n| {
                threads(
                    p,
                    c,
                    n,
                    || crossbeam_channel::bounded::<usize>(cap),
                    |tx, k| {
                        for i in 0..k {
                            tx.send(i).unwrap();
                        }
                    },
                    |rx| rx.iter().count(),
                )
            }),
        },
        Entry {
            name: "flume",
            run: Box::new(move |n| {
                threads(
                    p,
                    c,
                    n,
                    || flume::bounded::<usize>(cap),
                    |tx, k| {
                        for i in 0..k {
                            tx.send(i).unwrap();
                        }
                    },
                    |rx| rx.iter().count(),
                )
            }),
        },
        Entry {
            name: "kanal",
            run: Box::new(move |n| {
                threads(
                    p,
                    c,
                    n,
                    || kanal::bounded::<usize>(cap),
                    |tx, k| {
                        for i in 0..k {
                            tx.send(i).unwrap();
                        }
                    },
                    |rx| {
                        let mut n = 0;
                        while rx.recv().is_ok() {
                            n += 1;
                        }
                        n
                    },
                )
            }),
        },
    ];
    if cap > 0 {
        // async-channel has no rendezvous flavor.
        v.push(Entry {
            name: "async-channel",
            run: Box::new(move |n| {
                threads(
                    p,
                    c,
                    n,
                    || async_channel::bounded::<usize>(cap),
                    |tx, k| {
                        for i in 0..k {
                            tx.send_blocking(i).unwrap();
                        }
                    },
                    |rx| {
                        let mut n = 0;
                        while rx.recv_blocking().is_ok() {
                            n += 1;
                        }
                        n
                    },
                )
            }),
        });
    }
    v
}

fn task_entries(rt: &'static Runtime, cap: usize, p: usize, c: usize) -> Vec<Entry> {
    let mut v = vec![
        Entry {
            name: "spectrum",
            run: Box::new(move |n| {
                tasks(
                    rt,
                    p,
                    c,
                    n,
                    || spectrum_chan::bounded::<usize>(cap),
                    |tx, k| {
                        Box::pin(async move {
                            for i in 0..k {
                                tx.send(i).await.unwrap();
                            }
                        })
                    },
                    |rx| {
                        Box::pin(async move {
                            let mut n = 0;
                            while rx.recv().await.is_ok() {
                                n += 1;
                            }
                            n
                        })
                    },
                )
            }),
        },
        Entry {
            name: "flume",
            run: Box::new(move |n| {
                tasks(
                    rt,
                    p,
                    c,
                    n,
                    || flume::bounded::<usize>(cap),
                    |tx, k| {
                        Box::pin(async move {
                            for i in 0..k {
                                tx.send_async(i).await.unwrap();
                            }
                        })
                    },
                    |rx| {
                        Box::pin(async move {
                            let mut n = 0;
                            while rx.recv_async().await.is_ok() {
                                n += 1;
                            }
                            n
                        })
                    },
                )
            }),
        },
        Entry {
            name: "kanal",
            run: Box::new(move |n| {
                tasks(
                    rt,
                    p,
                    c,
                    n,
                    || kanal::bounded_async::<usize>(cap),
                    |tx, k| {
                        Box::pin(async move {
                            for i in 0..k {
                                tx.send(i).await.unwrap();
                            }
                        })
                    },
                    |rx| {
                        Box::pin(async move {
                            let mut n = 0;
                            while rx.recv().await.is_ok() {
                                n += 1;
                            }
                            n
                        })
                    },
                )
            }),
        },
    ];
    if cap > 0 {
        v.push(Entry {
            name: "async-channel",
            run: Box::new(move |n| {
                tasks(
                    rt,
                    p,
                    c,
                    n,
                    || async_channel::bounded::<usize>(cap),
                    |tx, k| {
                        Box::pin(async move {
                            for i in 0..k {
                                tx.send(i).await.unwrap();
                            }
                        })
                    },
                    |rx| {
                        Box::pin(async move {
                            let mut n = 0;
                            while rx.recv().await.is_ok() {
                                n += 1;
                            }
                            n
                        })
                    },
                )
            }),
        });
    }
    if cap > 0 && c == 1 {
        // tokio::mpsc is single-consumer.
        v.push(Entry {
            name: "tokio-mpsc",
            run: Box::new(move |n| {
                let per = n / p;
                rt.block_on(async move {
                    let (tx, mut rx) = tokio::sync::mpsc::channel::<usize>(cap);
                    let start = Instant::now();
                    let ps: Vec<_> = (0..p)
                        .map(|_| {
                            let tx = tx.clone();
                            spectrum_rt::spawn(async move {
                                for i in 0..per {
                                    tx.send(i).await.unwrap();
                                }
                            })
                        })
                        .collect();
                    drop(tx);
                    let c = spectrum_rt::spawn(async move {
                        let mut n = 0;
                        while rx.recv().await.is_some() {
                            n += 1;
                        }
                        n
                    });
                    for p in ps {
                        p.await.unwrap();
                    }
                    assert_eq!(c.await.unwrap(), per * p);
                    start.elapsed()
                })
            }),
        });
    }
    v
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn run_workload(name: &str, msgs: usize, reps: usize, mut entries: Vec<Entry>) {
    // SPECTRUM_BENCH_ONLY=spectrum,kanal keeps those contestants (for profiling one of them).
    if let Ok(only) = std::env::var("SPECTRUM_BENCH_ONLY") {
        entries.retain(|e| only.split(',').any(|o| o == e.name));
    }
    if entries.is_empty() {
        return;
    }
    // Warm up each once, then alternate.
    for e in &entries {
        (e.run)(msgs / 10);
    }
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); entries.len()];
    for _ in 0..reps {
        for (i, e) in entries.iter().enumerate() {
            let d = (e.run)(msgs);
            rates[i].push(msgs as f64 / d.as_secs_f64());
        }
    }
    let med: Vec<f64> = rates.into_iter().map(median).collect();
    let best_peer = med.iter().skip(1).cloned().fold(0.0, f64::max);
    let best_name = entries[1..]
        .iter()
        .zip(&med[1..])
        .find(|(_, &m)| m == best_peer)
        .map(|(e, _)| e.name)
        .unwrap_or("-");
    let cells: Vec<String> = entries
        .iter()
        .zip(&med)
        .map(|(e, m)| format!("{}={:.2}M", e.name, m / 1e6))
        .collect();
    println!(
        "{name:<28} {}  | spectrum/best-peer({best_name}) = {:.2}x",
        cells.join(" "),
        med[0] / best_peer
    );
}

fn main() {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let msgs = env("SPECTRUM_BENCH_MSGS", 1_000_000);
    let reps = env("SPECTRUM_BENCH_REPS", 5);
    let rt: &'static Runtime = Box::leak(Box::new(
        Runtime::builder().workers(2).build().expect("runtime"),
    ));
    println!(
        "median of {reps} alternating runs, {msgs} usize messages each, M msgs/s; async peers run \
         on the same 2-worker Spectrum runtime"
    );
    type Workload = (&'static str, usize, Box<dyn Fn() -> Vec<Entry>>);
    let workloads: Vec<Workload> = vec![
        (
            "threads spsc bounded(1024)",
            msgs,
            Box::new(|| thread_entries(1024, 1, 1)),
        ),
        (
            "threads mpmc 4x4 bounded(1024)",
            msgs,
            Box::new(|| thread_entries(1024, 4, 4)),
        ),
        (
            "threads rendezvous spsc",
            msgs / 10,
            Box::new(|| thread_entries(0, 1, 1)),
        ),
        (
            "tasks spsc bounded(1024)",
            msgs,
            Box::new(move || task_entries(rt, 1024, 1, 1)),
        ),
        (
            "tasks mpmc 4x4 bounded(1024)",
            msgs,
            Box::new(move || task_entries(rt, 1024, 4, 4)),
        ),
        (
            "tasks rendezvous spsc",
            msgs / 4,
            Box::new(move || task_entries(rt, 0, 1, 1)),
        ),
    ];
    for (name, n, make) in workloads {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        run_workload(name, n, reps, make());
    }
}
