//! Spectrum's `broadcast` and `watch` channels against `tokio::sync::broadcast` / `watch`, in the
//! same process, alternating, several repetitions; prints the median ns/op of each and the ratio
//! Spectrum / tokio (below 1.0: Spectrum is faster).
//!
//! ```text
//! cargo bench -p spectrum-chan --bench sync_channels                # all rows
//! cargo bench -p spectrum-chan --bench sync_channels -- broadcast   # rows containing "broadcast"
//! cargo bench -p spectrum-chan --bench sync_channels -- --quick     # fewer reps and ops
//! ```
//!
//! - Uncontended rows poll on the bench thread with a no-op waker (nothing waits): the cost of
//!   the operations alone. One op = one send plus what the row names.
//! - `broadcast 1->N` rows: one sender task sends `ops` values to N receiver tasks, each of which
//!   receives all of them (the ring holds `ops` values, so nobody lags and both channels do the
//!   same work); one op = one value sent (and received N times). Spectrum's channel runs on a
//!   Spectrum runtime and tokio's on a tokio multi-thread runtime with the same worker count;
//!   the `(tokio rt)` row runs Spectrum's channel on the tokio runtime, to separate the channel
//!   from the executor.
//! - `watch ping-pong`: two tasks bounce a counter through two watch channels (`send` then
//!   `changed`); one op = one round trip. Both tasks are spawned on the runtime (the bench
//!   thread only waits for them), as in the `sync` bench's notify ping-pong.
//!
//! Each runtime is built once and reused by every repetition.

#[cfg(not(loom))]
mod common;

#[cfg(not(loom))]
mod imp {
    use std::future::Future;
    use std::rc::Rc;
    use std::time::{Duration, Instant};

    use spectrum_chan::sync::{broadcast, watch};

    use crate::common::{now, spectrum_rt, tokio_rt, Row, Sizes, WORKERS};

    /// `ops` values from one sender task to `n` receiver tasks of Spectrum's broadcast, on the
    /// executor `spawn` spawns onto; `block` waits for a future there.
    fn spectrum_fanout<J: Future + Send + 'static>(
        n: usize,
        ops: usize,
        spawn: &dyn Fn(std::pin::Pin<Box<dyn Future<Output = u64> + Send>>) -> J,
        block: &dyn Fn(Vec<J>) -> u64,
    ) -> Duration {
        let (tx, rx) = broadcast::channel::<u64>(ops);
        let rxs: Vec<_> = (0..n).map(|_| rx.resubscribe()).collect();
        drop(rx);
        let start = Instant::now();
        let mut handles: Vec<J> = rxs
            .into_iter()
            .map(|mut rx| {
                spawn(Box::pin(async move {
                    let mut sum = 0u64;
                    while let Ok(v) = rx.recv().await {
                        sum += v;
                    }
                    sum
                }))
            })
            .collect();
        handles.push(spawn(Box::pin(async move {
            for i in 0..ops as u64 {
                tx.send(i).unwrap();
            }
            0
        })));
        let total = block(handles);
        let elapsed = start.elapsed();
        let ops = ops as u64;
        assert_eq!(total, n as u64 * (ops * (ops - 1) / 2), "lost values");
        elapsed
    }

    /// The same with tokio's broadcast.
    fn tokio_fanout<J: Future + Send + 'static>(
        n: usize,
        ops: usize,
        spawn: &dyn Fn(std::pin::Pin<Box<dyn Future<Output = u64> + Send>>) -> J,
        block: &dyn Fn(Vec<J>) -> u64,
    ) -> Duration {
        let (tx, rx) = tokio::sync::broadcast::channel::<u64>(ops);
        let rxs: Vec<_> = (0..n).map(|_| rx.resubscribe()).collect();
        drop(rx);
        let start = Instant::now();
        let mut handles: Vec<J> = rxs
            .into_iter()
            .map(|mut rx| {
                spawn(Box::pin(async move {
                    let mut sum = 0u64;
                    while let Ok(v) = rx.recv().await {
                        sum += v;
                    }
                    sum
                }))
            })
            .collect();
        handles.push(spawn(Box::pin(async move {
            for i in 0..ops as u64 {
                tx.send(i).unwrap();
            }
            0
        })));
        let total = block(handles);
        let elapsed = start.elapsed();
        let ops = ops as u64;
        assert_eq!(total, n as u64 * (ops * (ops - 1) / 2), "lost values");
        elapsed
    }

    type BoxFut = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

    /// `ops` round trips of a counter through two of Spectrum's watch channels, between two tasks
    /// (`run` spawns both and waits for them).
    fn spectrum_ping_pong(ops: usize, run: &dyn Fn(BoxFut, BoxFut)) -> Duration {
        let (ping_tx, mut ping_rx) = watch::channel(0u64);
        let (pong_tx, mut pong_rx) = watch::channel(0u64);
        let start = Instant::now();
        run(
            Box::pin(async move {
                while ping_rx.changed().await.is_ok() {
                    let v = *ping_rx.borrow_and_update();
                    pong_tx.send(v).unwrap();
                }
            }),
            Box::pin(async move {
                for i in 1..=ops as u64 {
                    ping_tx.send(i).unwrap();
                    pong_rx.changed().await.unwrap();
                    assert_eq!(*pong_rx.borrow_and_update(), i);
                }
            }),
        );
        start.elapsed()
    }

    /// The same with tokio's watch.
    fn tokio_ping_pong(ops: usize, run: &dyn Fn(BoxFut, BoxFut)) -> Duration {
        let (ping_tx, mut ping_rx) = tokio::sync::watch::channel(0u64);
        let (pong_tx, mut pong_rx) = tokio::sync::watch::channel(0u64);
        let start = Instant::now();
        run(
            Box::pin(async move {
                while ping_rx.changed().await.is_ok() {
                    let v = *ping_rx.borrow_and_update();
                    pong_tx.send(v).unwrap();
                }
            }),
            Box::pin(async move {
                for i in 1..=ops as u64 {
                    ping_tx.send(i).unwrap();
                    pong_rx.changed().await.unwrap();
                    assert_eq!(*pong_rx.borrow_and_update(), i);
                }
            }),
        );
        start.elapsed()
    }

    /// Spawns both futures on the Spectrum runtime and waits for them.
    fn on_spectrum(rt: &spectrum_rt::Runtime) -> impl Fn(BoxFut, BoxFut) + '_ {
        move |a, b| {
            let (a, b) = (rt.spawn(a), rt.spawn(b));
            rt.block_on(async move {
                b.await.unwrap();
                a.await.unwrap();
            })
        }
    }

    /// Spawns both futures on the tokio runtime and waits for them.
    fn on_tokio(rt: &tokio::runtime::Runtime) -> impl Fn(BoxFut, BoxFut) + '_ {
        move |a, b| {
            let (a, b) = (rt.spawn(a), rt.spawn(b));
            rt.block_on(async move {
                b.await.unwrap();
                a.await.unwrap();
            })
        }
    }

    fn rows() -> Vec<Row> {
        let srt = Rc::new(spectrum_rt());
        let trt = Rc::new(tokio_rt());
        let mut rows = Vec::new();

        rows.push(Row {
            name: "broadcast send + try_recv (1 rx, uncontended)".into(),
            spectrum: Box::new(|ops| {
                let (tx, mut rx) = broadcast::channel::<u64>(16);
                let start = Instant::now();
                for i in 0..ops as u64 {
                    tx.send(i).unwrap();
                    assert_eq!(rx.try_recv(), Ok(i));
                }
                start.elapsed()
            }),
            tokio: Box::new(|ops| {
                let (tx, mut rx) = tokio::sync::broadcast::channel::<u64>(16);
                let start = Instant::now();
                for i in 0..ops as u64 {
                    tx.send(i).unwrap();
                    assert_eq!(rx.try_recv(), Ok(i));
                }
                start.elapsed()
            }),
        });

        rows.push(Row {
            name: "broadcast send + recv (4 rx, uncontended)".into(),
            spectrum: Box::new(|ops| {
                let (tx, rx) = broadcast::channel::<u64>(16);
                let mut rxs: Vec<_> = (0..4).map(|_| rx.resubscribe()).collect();
                let start = Instant::now();
                for i in 0..ops as u64 {
                    tx.send(i).unwrap();
                    for rx in &mut rxs {
                        assert_eq!(now(rx.recv()), Ok(i));
                    }
                }
                start.elapsed()
            }),
            tokio: Box::new(|ops| {
                let (tx, rx) = tokio::sync::broadcast::channel::<u64>(16);
                let mut rxs: Vec<_> = (0..4).map(|_| rx.resubscribe()).collect();
                let start = Instant::now();
                for i in 0..ops as u64 {
                    tx.send(i).unwrap();
                    for rx in &mut rxs {
                        assert_eq!(now(rx.recv()), Ok(i));
                    }
                }
                start.elapsed()
            }),
        });

        rows.push(Row {
            name: "watch send + changed + borrow (uncontended)".into(),
            spectrum: Box::new(|ops| {
                let (tx, mut rx) = watch::channel(0u64);
                let start = Instant::now();
                for i in 0..ops as u64 {
                    tx.send(i).unwrap();
                    now(rx.changed()).unwrap();
                    assert_eq!(*rx.borrow(), i);
                }
                start.elapsed()
            }),
            tokio: Box::new(|ops| {
                let (tx, mut rx) = tokio::sync::watch::channel(0u64);
                let start = Instant::now();
                for i in 0..ops as u64 {
                    tx.send(i).unwrap();
                    now(rx.changed()).unwrap();
                    assert_eq!(*rx.borrow(), i);
                }
                start.elapsed()
            }),
        });

        for n in [1usize, 4, 16] {
            rows.push(Row {
                name: format!("broadcast 1->{n} tasks ({WORKERS} workers)"),
                spectrum: Box::new({
                    let rt = srt.clone();
                    move |ops| {
                        spectrum_fanout(n, ops, &|f| rt.spawn(f), &|hs| {
                            rt.block_on(async {
                                let mut sum = 0;
                                for h in hs {
                                    sum += h.await.unwrap();
                                }
                                sum
                            })
                        })
                    }
                }),
                tokio: Box::new({
                    let rt = trt.clone();
                    move |ops| {
                        tokio_fanout(n, ops, &|f| rt.spawn(f), &|hs| {
                            rt.block_on(async {
                                let mut sum = 0;
                                for h in hs {
                                    sum += h.await.unwrap();
                                }
                                sum
                            })
                        })
                    }
                }),
            });
        }
        rows.push(Row {
            name: format!("broadcast 1->16 tasks ({WORKERS} workers, tokio rt)"),
            spectrum: Box::new({
                let rt = trt.clone();
                move |ops| {
                    spectrum_fanout(16, ops, &|f| rt.spawn(f), &|hs| {
                        rt.block_on(async {
                            let mut sum = 0;
                            for h in hs {
                                sum += h.await.unwrap();
                            }
                            sum
                        })
                    })
                }
            }),
            tokio: Box::new({
                let rt = trt.clone();
                move |ops| {
                    tokio_fanout(16, ops, &|f| rt.spawn(f), &|hs| {
                        rt.block_on(async {
                            let mut sum = 0;
                            for h in hs {
                                sum += h.await.unwrap();
                            }
                            sum
                        })
                    })
                }
            }),
        });

        rows.push(Row {
            name: format!("watch ping-pong tasks ({WORKERS} workers)"),
            spectrum: Box::new({
                let srt = srt.clone();
                move |ops| spectrum_ping_pong(ops, &on_spectrum(&srt))
            }),
            tokio: Box::new({
                let trt = trt.clone();
                move |ops| tokio_ping_pong(ops, &on_tokio(&trt))
            }),
        });
        rows.push(Row {
            name: format!("watch ping-pong tasks ({WORKERS} workers, tokio rt)"),
            spectrum: Box::new({
                let trt = trt.clone();
                move |ops| spectrum_ping_pong(ops, &on_tokio(&trt))
            }),
            tokio: Box::new({
                let trt = trt.clone();
                move |ops| tokio_ping_pong(ops, &on_tokio(&trt))
            }),
        });
        rows
    }

    pub fn main() {
        let sizes = Sizes {
            reps: (3, 9),
            ops: (20_000, 200_000),
        };
        let ops_for = |name: &str, ops: usize| {
            if name.contains("ping-pong") {
                ops / 8
            } else if name.contains("tasks") {
                ops / 4
            } else {
                ops
            }
        };
        crate::common::run(rows(), sizes, ops_for, "; tasks rows / 4, ping-pong / 8");
    }
}

fn main() {
    #[cfg(not(loom))]
    imp::main();
}
