//! `spectrum demo`: the runtime core on real work, measured.

use std::io::{self, IsTerminal};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use spectrum::cancel::CancelCause;
use spectrum::net::{TcpListener, TcpStream};
use spectrum::scope::{self, BoxError};
use spectrum::time;

struct Row {
    workload: String,
    result: String,
    detail: String,
}

pub fn run(quick: bool, workers: Option<usize>) -> Result<(), BoxError> {
    let mut b = spectrum::Runtime::builder();
    if let Some(w) = workers {
        b = b.workers(w);
    }
    let rt = b.build()?;
    let scale = if quick { 10 } else { 1 };
    println!(
        "spectrum demo: the runtime core on real work ({} workers{})\n",
        rt.handle().num_workers(),
        if quick { ", --quick sizes" } else { "" }
    );
    let mut rows = Vec::new();
    type Step<'a> = Box<dyn Fn() -> Result<Row, BoxError> + 'a>;
    let steps: Vec<(&str, Step<'_>)> = vec![
        // First, while the allocator holds no freed memory to hide the cost in.
        ("parked tasks", Box::new(|| parked(&rt, 100_000 / scale))),
        (
            "spawn + join",
            Box::new(|| spawn_join(&rt, 1_000_000 / scale)),
        ),
        (
            "chained spawn",
            Box::new(|| chained(&rt, 1_000_000 / scale)),
        ),
        ("fan-out server", Box::new(|| fan_out(&rt, 10_000 / scale))),
        (
            "structured cancellation",
            Box::new(|| cancellation(&rt, 100_000 / scale)),
        ),
        ("timers", Box::new(|| timers(&rt, 100_000 / scale))),
        ("TCP echo", Box::new(|| tcp_echo(&rt, 100, 2_000 / scale))),
    ];
    let progress = io::stderr().is_terminal();
    for (name, step) in steps {
        if progress {
            eprint!("  running {name:<26}\r");
        }
        rows.push(step()?);
    }
    if progress {
        eprint!("{:<40}\r", "");
    }
    println!("| {:<44} | {:>18} | details", "workload", "measured");
    println!("|{:-<46}|{:-<20}|{:-<40}", "", "", "");
    for r in &rows {
        println!("| {:<44} | {:>18} | {}", r.workload, r.result, r.detail);
    }
    println!(
        "\nRatios against tokio: `cargo bench -p spectrum-rt --bench vs_tokio` (both runtimes in one run)."
    );
    Ok(())
}

fn per_op(d: Duration, n: usize) -> String {
    format!("{:.0} ns/op", d.as_nanos() as f64 / n as f64)
}

fn spawn_join(rt: &spectrum::Runtime, n: usize) -> Result<Row, BoxError> {
    let took = rt.block_on(async move {
        spectrum::spawn(async move {
            let start = Instant::now();
            let hs: Vec<_> = (0..n).map(|_| spectrum::spawn(async {})).collect();
            for h in hs {
                h.await.expect("empty task");
            }
            start.elapsed()
        })
        .await
    })?;
    Ok(Row {
        workload: format!("spawn + join {n} tasks"),
        result: per_op(took, n),
        detail: format!("{:.1} M tasks/s", n as f64 / took.as_secs_f64() / 1e6),
    })
}

fn chained(rt: &spectrum::Runtime, n: usize) -> Result<Row, BoxError> {
    fn hop(n: usize, done: Arc<spectrum_done::Done>) {
        if n == 0 {
            done.set();
            return;
        }
        spectrum::spawn(async move { hop(n - 1, done) }).detach();
    }
    let took = rt.block_on(async move {
        let done = Arc::new(spectrum_done::Done::default());
        let start = Instant::now();
        hop(n, done.clone());
        done.wait().await;
        start.elapsed()
    });
    Ok(Row {
        workload: format!("chained spawn, {n} hops"),
        result: per_op(took, n),
        detail: "each task spawns the next".into(),
    })
}

/// A request fans out to 10 backends (timers of 1-5 ms with jitter) under a scope with a deadline,
/// and combines the answers.
fn fan_out(rt: &spectrum::Runtime, requests: usize) -> Result<Row, BoxError> {
    let (took, mut lat) = rt.block_on(async move {
        let start = Instant::now();
        let hs: Vec<_> = (0..requests)
            .map(|i| {
                spectrum::spawn(async move {
                    let t = Instant::now();
                    let sum = scope::Builder::new()
                        .timeout(Duration::from_secs(1))
                        .run(|s| async move {
                            let calls: Vec<_> = (0..10u64)
                                .map(|b| {
                                    let jitter = (i as u64 * 31 + b * 17) % 5;
                                    s.spawn(async move {
                                        time::sleep(Duration::from_millis(1 + jitter)).await;
                                        Ok::<_, io::Error>(b)
                                    })
                                })
                                .collect::<Result<_, _>>()?;
                            let mut sum = 0;
                            for c in calls {
                                sum += c.await?;
                            }
                            Ok::<_, BoxError>(sum)
                        })
                        .await
                        .expect("fan-out");
                    assert_eq!(sum, 45);
                    t.elapsed()
                })
            })
            .collect();
        let mut lat = Vec::with_capacity(requests);
        for h in hs {
            lat.push(h.await.expect("request"));
        }
        (start.elapsed(), lat)
    });
    lat.sort();
    let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
    Ok(Row {
        workload: format!("fan-out: {requests} requests x 10 backends"),
        result: format!("{:.0} req/s", requests as f64 / took.as_secs_f64()),
        detail: format!(
            "p50 {:?}, p99 {:?} (backends: 1-5 ms timers)",
            p(0.5),
            p(0.99)
        ),
    })
}

/// Starts `n` tasks under a scope, cancels it, and measures until every one has stopped.
fn cancellation(rt: &spectrum::Runtime, n: usize) -> Result<Row, BoxError> {
    let alive = Arc::new(AtomicUsize::new(0));
    let a = alive.clone();
    let took = rt.block_on(async move {
        struct Unit(Arc<AtomicUsize>);
        impl Drop for Unit {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Relaxed);
            }
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let r = scope::scope(|s| async move {
            for _ in 0..n {
                a.fetch_add(1, Relaxed);
                let unit = Unit(a.clone());
                s.spawn(async move {
                    let _u = unit;
                    std::future::pending::<Result<(), io::Error>>().await
                })?;
            }
            time::sleep(Duration::from_millis(10)).await;
            tx.send(Instant::now()).expect("send");
            s.cancel_with(CancelCause::new("demo: cancel everything"));
            Ok::<_, BoxError>(())
        })
        .await;
        assert!(r.is_err());
        rx.recv().expect("start").elapsed()
    });
    let left = alive.load(Relaxed);
    Ok(Row {
        workload: format!("cancel a scope of {n} tasks"),
        result: format!("{took:.1?}"),
        detail: format!("until all stopped and dropped ({left} left)"),
    })
}

fn timers(rt: &spectrum::Runtime, n: usize) -> Result<Row, BoxError> {
    let took = rt.block_on(async move {
        let start = Instant::now();
        let hs: Vec<_> = (0..n)
            .map(|i| {
                spectrum::spawn(async move {
                    time::sleep(Duration::from_millis(1 + (i % 10) as u64)).await
                })
            })
            .collect();
        for h in hs {
            h.await.expect("timer task");
        }
        start.elapsed()
    });
    Ok(Row {
        workload: format!("{n} timers fire (1-10 ms)"),
        result: format!("{took:.1?}"),
        detail: "one task per timer, hierarchical wheel".into(),
    })
}

fn tcp_echo(rt: &spectrum::Runtime, conns: usize, rounds: usize) -> Result<Row, BoxError> {
    let took = rt.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = spectrum::spawn(async move {
            loop {
                let Ok((mut c, _)) = listener.accept().await else {
                    return;
                };
                spectrum::spawn(async move {
                    let mut buf = vec![0; 16 * 1024];
                    while let Ok(n) = c.read(&mut buf).await {
                        if n == 0 || c.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                })
                .detach();
            }
        });
        let start = Instant::now();
        let clients: Vec<_> = (0..conns)
            .map(|_| {
                spectrum::spawn(async move {
                    let mut s = TcpStream::connect(addr).await?;
                    s.set_nodelay(true)?;
                    let out = [7u8; 1024];
                    let mut back = [0u8; 1024];
                    for _ in 0..rounds {
                        s.write_all(&out).await?;
                        s.read_exact(&mut back).await?;
                    }
                    Ok::<_, io::Error>(())
                })
            })
            .collect();
        for c in clients {
            c.await.map_err(|e| io::Error::other(e.to_string()))??;
        }
        let took = start.elapsed();
        drop(server);
        Ok::<_, io::Error>(took)
    })?;
    let bytes = (conns * rounds * 1024 * 2) as f64;
    Ok(Row {
        workload: format!("TCP echo, {conns} connections x {rounds} x 1 KiB"),
        result: format!("{:.0} MB/s", bytes / took.as_secs_f64() / 1e6),
        detail: format!(
            "{:.0} round trips/s over loopback",
            (conns * rounds) as f64 / took.as_secs_f64()
        ),
    })
}

fn rss() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn parked(rt: &spectrum::Runtime, n: usize) -> Result<Row, BoxError> {
    let before = rss();
    let polled = Arc::new(AtomicUsize::new(0));
    let hs: Vec<_> = (0..n)
        .map(|_| {
            let p = polled.clone();
            rt.spawn(async move {
                p.fetch_add(1, Relaxed);
                std::future::pending::<()>().await
            })
        })
        .collect();
    while polled.load(Relaxed) < n {
        std::thread::sleep(Duration::from_millis(2));
    }
    let after = rss();
    let live = rt.live_tasks().len();
    drop(hs);
    Ok(Row {
        workload: format!("{n} parked tasks"),
        result: format!(
            "{:.0} B/task",
            after.saturating_sub(before) as f64 / n as f64
        ),
        detail: format!("resident memory; {live} listed by Runtime::live_tasks"),
    })
}

/// A one-shot completion flag (the demo uses only the runtime core, no channel crate).
mod spectrum_done {
    use std::sync::atomic::{AtomicBool, Ordering::*};
    use std::task::Poll;

    #[derive(Default)]
    pub struct Done {
        set: AtomicBool,
        waker: std::sync::Mutex<Option<std::task::Waker>>,
    }

    impl Done {
        pub fn set(&self) {
            self.set.store(true, Release);
            if let Some(w) = self.waker.lock().expect("lock").take() {
                w.wake();
            }
        }

        pub async fn wait(&self) {
            std::future::poll_fn(|cx| {
                if self.set.load(Acquire) {
                    return Poll::Ready(());
                }
                *self.waker.lock().expect("lock") = Some(cx.waker().clone());
                if self.set.load(Acquire) {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await
        }
    }
}
