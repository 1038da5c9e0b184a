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
//!
//! Two contended rows check that a design tuned for two cores does not collapse under
//! oversubscription: `threads mpmc 8x8` runs 16 OS threads on however many cores there are, and
//! `mixed` runs producer and consumer tasks on the runtime's workers while OS threads hammer the
//! same channel. The mixed row also prints each channel's longest single task poll: a channel
//! that spins (or sleeps) inside a poll while an OS thread holding its lock is preempted shows up
//! there, long before the runtime's 10 ms long-poll watchdog would (the figure leaves out the time
//! the OS kept the worker off the CPU, which the watchdog cannot tell apart).

// The dev-dependencies (peers, runtime helpers) are not built under `cfg(loom)`.
#[cfg(not(loom))]
mod imp {
    use std::future::Future;
    use std::pin::Pin;
    use std::time::{Duration, Instant};

    use spectrum_rt::Runtime;

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

    /// This thread's time spent runnable but not running (`run_delay` in
    /// `/proc/thread-self/schedstat`), in nanoseconds; 0 where unavailable.
    fn run_delay_ns() -> u64 {
        use std::os::unix::fs::FileExt;
        thread_local! {
            static SCHEDSTAT: Option<std::fs::File> =
                std::fs::File::open("/proc/thread-self/schedstat").ok();
        }
        SCHEDSTAT.with(|f| {
            let Some(f) = f else { return 0 };
            let mut buf = [0u8; 64];
            let n = f.read_at(&mut buf, 0).unwrap_or(0);
            std::str::from_utf8(&buf[..n])
                .ok()
                .and_then(|s| s.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        })
    }

    /// Wraps a task's future to record its longest single poll (nanoseconds) in `max`, not counting
    /// the time the OS kept the worker thread off the CPU (with more threads than cores, a worker
    /// is preempted in the middle of polls for milliseconds whatever the channel does).
    struct Timed<F> {
        fut: F,
        max: std::sync::Arc<std::sync::atomic::AtomicU64>,
    }

    impl<F: Future + Unpin> Future for Timed<F> {
        type Output = F::Output;
        fn poll(
            mut self: Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<F::Output> {
            let delay = run_delay_ns();
            let start = Instant::now();
            let r = Pin::new(&mut self.fut).poll(cx);
            let wall = start.elapsed().as_nanos() as u64;
            let ns = wall.saturating_sub(run_delay_ns().saturating_sub(delay));
            self.max.fetch_max(ns, std::sync::atomic::Ordering::Relaxed);
            r
        }
    }

    /// Producer and consumer tasks on the runtime plus producer and consumer OS threads, all on one
    /// channel: returns the elapsed time and the longest task poll.
    #[allow(clippy::too_many_arguments)]
    fn mixed<S, R>(
        rt: &Runtime,
        (task_p, task_c, thread_p, thread_c): (usize, usize, usize, usize),
        msgs: usize,
        make: impl Fn() -> (S, R),
        produce: impl Fn(S, usize) -> BoxFut<()>,
        consume: impl Fn(R) -> BoxFut<usize>,
        produce_sync: impl Fn(S, usize) + Send + Sync + Copy + 'static,
        consume_sync: impl Fn(R) -> usize + Send + Sync + Copy + 'static,
    ) -> (Duration, Duration)
    where
        S: Clone + Send + 'static,
        R: Clone + Send + 'static,
    {
        let (tx, rx) = make();
        let per = msgs / (task_p + thread_p);
        let max = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let start = Instant::now();
        let ps: Vec<_> = (0..thread_p)
            .map(|_| {
                let tx = tx.clone();
                std::thread::spawn(move || produce_sync(tx, per))
            })
            .collect();
        let cs: Vec<_> = (0..thread_c)
            .map(|_| {
                let rx = rx.clone();
                std::thread::spawn(move || consume_sync(rx))
            })
            .collect();
        let got_tasks = rt.block_on(async {
            let tps: Vec<_> = (0..task_p)
                .map(|_| {
                    spectrum_rt::spawn(Timed {
                        fut: produce(tx.clone(), per),
                        max: max.clone(),
                    })
                })
                .collect();
            drop(tx);
            let tcs: Vec<_> = (0..task_c)
                .map(|_| {
                    spectrum_rt::spawn(Timed {
                        fut: consume(rx.clone()),
                        max: max.clone(),
                    })
                })
                .collect();
            drop(rx);
            for p in tps {
                p.await.unwrap();
            }
            let mut got = 0;
            for c in tcs {
                got += c.await.unwrap();
            }
            got
        });
        for p in ps {
            p.join().unwrap();
        }
        let got: usize = got_tasks + cs.into_iter().map(|c| c.join().unwrap()).sum::<usize>();
        let elapsed = start.elapsed();
        assert_eq!(got, per * (task_p + thread_p), "lost messages");
        let longest = Duration::from_nanos(max.load(std::sync::atomic::Ordering::Relaxed));
        (elapsed, longest)
    }

    /// The longest task poll seen by each contestant of the mixed row, printed after its rates.
    static LONGEST_POLL: std::sync::Mutex<Vec<(&'static str, Duration)>> =
        std::sync::Mutex::new(Vec::new());

    fn note_poll(name: &'static str, d: Duration) {
        let mut v = LONGEST_POLL.lock().unwrap();
        match v.iter_mut().find(|(n, _)| *n == name) {
            Some((_, m)) => *m = (*m).max(d),
            None => v.push((name, d)),
        }
    }

    /// The mixed row: 2 producer + 2 consumer tasks and 4 producer + 4 consumer threads on one
    /// bounded(1024) channel. flume is left out: its blocking receivers were seen to hang here after
    /// every sender was gone (a lost wake-up when sync and async receivers share a channel).
    fn mixed_entries(rt: &'static Runtime, cap: usize) -> Vec<Entry> {
        const SHAPE: (usize, usize, usize, usize) = (2, 2, 4, 4);
        vec![
            Entry {
                name: "spectrum",
                run: Box::new(move |n| {
                    let (d, p) = mixed(
                        rt,
                        SHAPE,
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
                    );
                    note_poll("spectrum", p);
                    d
                }),
            },
            Entry {
                name: "kanal",
                run: Box::new(move |n| {
                    let (d, p) = mixed(
                        rt,
                        SHAPE,
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
                        |tx, k| {
                            let tx = tx.to_sync();
                            for i in 0..k {
                                tx.send(i).unwrap();
                            }
                        },
                        |rx| {
                            let rx = rx.to_sync();
                            let mut n = 0;
                            while rx.recv().is_ok() {
                                n += 1;
                            }
                            n
                        },
                    );
                    note_poll("kanal", p);
                    d
                }),
            },
            Entry {
                name: "async-channel",
                run: Box::new(move |n| {
                    let (d, p) = mixed(
                        rt,
                        SHAPE,
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
                    );
                    note_poll("async-channel", p);
                    d
                }),
            },
        ]
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

    pub(crate) fn main() {
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
                "threads mpmc 8x8 bounded(1024)",
                msgs,
                Box::new(|| thread_entries(1024, 8, 8)),
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
            (
                "mixed 2+2 tasks 4+4 threads",
                msgs,
                Box::new(move || mixed_entries(rt, 1024)),
            ),
        ];
        for (name, n, make) in workloads {
            if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
                continue;
            }
            run_workload(name, n, reps, make());
        }
        let polls = LONGEST_POLL.lock().unwrap();
        if !polls.is_empty() {
            let cells: Vec<String> = polls
                .iter()
                .map(|(n, d)| format!("{n}={:.0}us", d.as_secs_f64() * 1e6))
                .collect();
            println!("{:<28} {}", "  longest task poll (mixed)", cells.join(" "));
        }
    }
}

fn main() {
    #[cfg(not(loom))]
    imp::main();
}
