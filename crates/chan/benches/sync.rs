//! Spectrum's locks and coordination primitives against `tokio::sync`, in the same process,
//! alternating, several repetitions; prints the median ns/op of each and the ratio
//! Spectrum / tokio (below 1.0: Spectrum is faster).
//!
//! ```text
//! cargo bench -p spectrum-chan --bench sync                  # all rows
//! cargo bench -p spectrum-chan --bench sync -- mutex         # rows whose name contains "mutex"
//! cargo bench -p spectrum-chan --bench sync -- --quick       # fewer reps and ops
//! ```
//!
//! Uncontended rows poll the futures directly on the bench thread (a no-op waker: nothing ever
//! waits), so they measure the primitive alone. Contended rows run Spectrum's primitives on a
//! Spectrum runtime and tokio's on a tokio multi-thread runtime with the same number of workers
//! (the primitive and its executor together, as a user would pick them); the `(tokio rt)` row
//! runs both primitives on the same tokio runtime, to separate the primitive from the executor.

#[cfg(not(loom))]
mod common;

#[cfg(not(loom))]
mod imp {
    use std::sync::Arc;
    use std::time::Instant;

    use crate::common::{now, spectrum_rt, tokio_rt, Row, Sizes};

    const TASKS: usize = 8;

    fn rows() -> Vec<Row> {
        let srt = Arc::new(spectrum_rt());
        let trt = Arc::new(tokio_rt());
        let mut rows = Vec::new();

        rows.push(Row {
            name: "mutex uncontended lock/unlock".into(),
            spectrum: Box::new(|ops| {
                let m = spectrum_chan::sync::Mutex::new(0u64);
                let start = Instant::now();
                for _ in 0..ops {
                    *now(m.lock()) += 1;
                }
                std::hint::black_box(&m);
                start.elapsed()
            }),
            tokio: Box::new(|ops| {
                let m = tokio::sync::Mutex::new(0u64);
                let start = Instant::now();
                for _ in 0..ops {
                    *now(m.lock()) += 1;
                }
                std::hint::black_box(&m);
                start.elapsed()
            }),
        });

        rows.push(Row {
            name: "mutex uncontended try_lock".into(),
            spectrum: Box::new(|ops| {
                let m = spectrum_chan::sync::Mutex::new(0u64);
                let start = Instant::now();
                for _ in 0..ops {
                    *m.try_lock().unwrap() += 1;
                }
                std::hint::black_box(&m);
                start.elapsed()
            }),
            tokio: Box::new(|ops| {
                let m = tokio::sync::Mutex::new(0u64);
                let start = Instant::now();
                for _ in 0..ops {
                    *m.try_lock().unwrap() += 1;
                }
                std::hint::black_box(&m);
                start.elapsed()
            }),
        });

        macro_rules! contended_mutex {
            ($rt:expr, $m:expr) => {{
                let rt = $rt;
                move |ops: usize| {
                    let m = Arc::new($m);
                    let per = ops / TASKS;
                    let start = Instant::now();
                    rt.block_on(async {
                        let tasks: Vec<_> = (0..TASKS)
                            .map(|_| {
                                let m = m.clone();
                                rt.spawn(async move {
                                    for _ in 0..per {
                                        *m.lock().await += 1;
                                    }
                                })
                            })
                            .collect();
                        for t in tasks {
                            t.await.unwrap();
                        }
                    });
                    let e = start.elapsed();
                    assert_eq!(*m.try_lock().unwrap(), per * TASKS);
                    e
                }
            }};
        }
        rows.push(Row {
            name: "mutex contended, 8 tasks / 2 workers".into(),
            spectrum: Box::new(contended_mutex!(
                srt.clone(),
                spectrum_chan::sync::Mutex::new(0)
            )),
            tokio: Box::new(contended_mutex!(trt.clone(), tokio::sync::Mutex::new(0))),
        });
        rows.push(Row {
            name: "mutex contended (tokio rt)".into(),
            spectrum: Box::new(contended_mutex!(
                trt.clone(),
                spectrum_chan::sync::Mutex::new(0)
            )),
            tokio: Box::new(contended_mutex!(trt.clone(), tokio::sync::Mutex::new(0))),
        });

        macro_rules! rwlock_read_heavy {
            ($rt:expr, $l:expr) => {{
                let rt = $rt;
                move |ops: usize| {
                    let l = Arc::new($l);
                    let per = ops / TASKS;
                    let start = Instant::now();
                    rt.block_on(async {
                        let tasks: Vec<_> = (0..TASKS)
                            .map(|t| {
                                let l = l.clone();
                                rt.spawn(async move {
                                    let mut sum = 0u64;
                                    for i in 0..per {
                                        // One write in 16.
                                        if (i + t) % 16 == 0 {
                                            *l.write().await += 1;
                                        } else {
                                            sum += *l.read().await;
                                        }
                                    }
                                    std::hint::black_box(sum);
                                })
                            })
                            .collect();
                        for t in tasks {
                            t.await.unwrap();
                        }
                    });
                    start.elapsed()
                }
            }};
        }
        rows.push(Row {
            name: "rwlock read-heavy (1/16 writes), 8 tasks".into(),
            spectrum: Box::new(rwlock_read_heavy!(
                srt.clone(),
                spectrum_chan::sync::RwLock::new(0u64)
            )),
            tokio: Box::new(rwlock_read_heavy!(
                trt.clone(),
                tokio::sync::RwLock::new(0u64)
            )),
        });
        rows.push(Row {
            name: "rwlock read-heavy (tokio rt)".into(),
            spectrum: Box::new(rwlock_read_heavy!(
                trt.clone(),
                spectrum_chan::sync::RwLock::new(0u64)
            )),
            tokio: Box::new(rwlock_read_heavy!(
                trt.clone(),
                tokio::sync::RwLock::new(0u64)
            )),
        });
        rows.push(Row {
            name: "rwlock uncontended read".into(),
            spectrum: Box::new(|ops| {
                let l = spectrum_chan::sync::RwLock::new(1u64);
                let start = Instant::now();
                let mut s = 0;
                for _ in 0..ops {
                    s += *now(l.read());
                }
                std::hint::black_box(s);
                start.elapsed()
            }),
            tokio: Box::new(|ops| {
                let l = tokio::sync::RwLock::new(1u64);
                let start = Instant::now();
                let mut s = 0;
                for _ in 0..ops {
                    s += *now(l.read());
                }
                std::hint::black_box(s);
                start.elapsed()
            }),
        });

        rows.push(Row {
            name: "semaphore uncontended acquire/release".into(),
            spectrum: Box::new(|ops| {
                let s = spectrum_chan::sync::Semaphore::new(4);
                let start = Instant::now();
                for _ in 0..ops {
                    drop(now(s.acquire()).unwrap());
                }
                start.elapsed()
            }),
            tokio: Box::new(|ops| {
                let s = tokio::sync::Semaphore::new(4);
                let start = Instant::now();
                for _ in 0..ops {
                    drop(now(s.acquire()).unwrap());
                }
                start.elapsed()
            }),
        });

        macro_rules! contended_sem {
            ($rt:expr, $s:expr) => {{
                let rt = $rt;
                move |ops: usize| {
                    let s = Arc::new($s);
                    let per = ops / TASKS;
                    let start = Instant::now();
                    rt.block_on(async {
                        let tasks: Vec<_> = (0..TASKS)
                            .map(|_| {
                                let s = s.clone();
                                rt.spawn(async move {
                                    for _ in 0..per {
                                        let p = s.acquire().await.unwrap();
                                        std::hint::black_box(&p);
                                    }
                                })
                            })
                            .collect();
                        for t in tasks {
                            t.await.unwrap();
                        }
                    });
                    start.elapsed()
                }
            }};
        }
        rows.push(Row {
            name: "semaphore(2) contended, 8 tasks".into(),
            spectrum: Box::new(contended_sem!(
                srt.clone(),
                spectrum_chan::sync::Semaphore::new(2)
            )),
            tokio: Box::new(contended_sem!(trt.clone(), tokio::sync::Semaphore::new(2))),
        });

        macro_rules! ping_pong {
            ($rt:expr, $n:expr) => {{
                let rt = $rt;
                move |ops: usize| {
                    let ping = Arc::new($n);
                    let pong = Arc::new($n);
                    let start = Instant::now();
                    rt.block_on(async {
                        let echo = rt.spawn({
                            let (ping, pong) = (ping.clone(), pong.clone());
                            async move {
                                for _ in 0..ops {
                                    ping.notified().await;
                                    pong.notify_one();
                                }
                            }
                        });
                        let main = rt.spawn(async move {
                            for _ in 0..ops {
                                ping.notify_one();
                                pong.notified().await;
                            }
                        });
                        main.await.unwrap();
                        echo.await.unwrap();
                    });
                    start.elapsed()
                }
            }};
        }
        rows.push(Row {
            name: "notify ping-pong (round trip)".into(),
            spectrum: Box::new(ping_pong!(srt.clone(), spectrum_chan::sync::Notify::new())),
            tokio: Box::new(ping_pong!(trt.clone(), tokio::sync::Notify::new())),
        });
        rows.push(Row {
            name: "notify_one + notified, stored permit".into(),
            spectrum: Box::new(|ops| {
                let n = spectrum_chan::sync::Notify::new();
                let start = Instant::now();
                for _ in 0..ops {
                    n.notify_one();
                    now(n.notified());
                }
                start.elapsed()
            }),
            tokio: Box::new(|ops| {
                let n = tokio::sync::Notify::new();
                let start = Instant::now();
                for _ in 0..ops {
                    n.notify_one();
                    now(n.notified());
                }
                start.elapsed()
            }),
        });
        rows
    }

    pub fn main() {
        let sizes = Sizes {
            reps: (3, 7),
            ops: (40_000, 400_000),
        };
        let ops_for = |name: &str, ops: usize| {
            if name.contains("ping-pong") {
                ops / 8
            } else {
                ops
            }
        };
        crate::common::run(rows(), sizes, ops_for, ", contended ops / 8 for ping-pong");
    }
}

fn main() {
    #[cfg(not(loom))]
    imp::main();
}
