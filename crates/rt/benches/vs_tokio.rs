//! Spectrum's runtime against tokio, in the same process, printing Spectrum/tokio ratios.
//!
//! `cargo bench -p spectrum-rt --bench vs_tokio [-- FILTER] [--quick] [--reps N] [--workers 1,2]`
//!
//! Each row runs both runtimes alternately (`REPS` times each, or `--reps N`) and reports the
//! median wall time; a ratio below 1.0 means Spectrum was faster. Configurations: Spectrum
//! `workers(1)` against tokio's current-thread runtime (its fastest single-threaded flavor),
//! and Spectrum `workers(2)` against tokio's multi-thread runtime with 2 workers. Both sides run
//! identical workload code; where a synchronization primitive is needed, both use the same one
//! (`Signal` below, or `futures::channel::oneshot`), so the scheduler is what differs. Memory
//! rows run each runtime in a fresh child process and read `VmRSS`.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use futures::task::AtomicWaker;

const REPS: usize = 5;

/// A reusable one-slot notification, identical for both runtimes.
#[derive(Default)]
struct Signal {
    set: AtomicBool,
    waker: AtomicWaker,
}

impl Signal {
    fn notify(&self) {
        self.set.store(true, Release);
        self.waker.wake();
    }

    fn wait(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| {
            if self.set.swap(false, Acquire) {
                return Poll::Ready(());
            }
            self.waker.register(cx.waker());
            if self.set.swap(false, Acquire) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }
}

/// Spectrum `workers(1)` against tokio's current-thread runtime, or Spectrum `workers(n)` against
/// tokio's multi-thread runtime with `n` workers.
#[derive(Clone, Copy, PartialEq)]
enum Flavor {
    One,
    Multi(usize),
}

impl Flavor {
    fn spectrum(self) -> spectrum_rt::Runtime {
        let n = match self {
            Flavor::One => 1,
            Flavor::Multi(n) => n,
        };
        let mut b = spectrum_rt::Runtime::builder().workers(n);
        if std::env::var_os("SPECTRUM_BENCH_NO_DIAGNOSTICS").is_some() {
            // Profiling aid: the same runtime without the watchdog thread.
            b = b.long_poll_threshold(None).detect_deadlocks(None);
        }
        b.build().unwrap()
    }

    fn tokio(self) -> tokio::runtime::Runtime {
        match self {
            Flavor::One => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build(),
            Flavor::Multi(n) => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(n)
                .enable_all()
                .build(),
        }
        .unwrap()
    }

    fn label(self) -> String {
        match self {
            Flavor::One => "1 worker (tokio current_thread)".into(),
            Flavor::Multi(n) => format!("{n} workers (tokio multi_thread)"),
        }
    }
}

/// The same workload against both runtimes, as an async body run inside a spawned root task.
trait Workload {
    fn name(&self) -> String;
    /// Runs once on Spectrum; returns the measured duration (excluding runtime start-up).
    fn spectrum(&self, rt: &spectrum_rt::Runtime) -> Duration;
    fn tokio(&self, rt: &tokio::runtime::Runtime) -> Duration;
    /// Units per run, for per-unit figures.
    fn units(&self) -> f64;
    fn unit(&self) -> &'static str {
        "ns/op"
    }
}

macro_rules! workload {
    ($ty:ident, $name:expr, $units:expr, |$n:ident| $body:block) => {
        struct $ty(u64);
        impl Workload for $ty {
            fn name(&self) -> String {
                format!($name, self.0)
            }
            fn units(&self) -> f64 {
                let $n = self.0;
                let _ = $n;
                $units as f64
            }
            fn spectrum(&self, rt: &spectrum_rt::Runtime) -> Duration {
                #[allow(unused_imports)]
                use spectrum_rt::{spawn, task::yield_now, time::sleep};
                let $n = self.0;
                rt.block_on(async move {
                    spectrum_rt::spawn(async move {
                        let start = Instant::now();
                        $body;
                        start.elapsed()
                    })
                    .await
                    .unwrap()
                })
            }
            fn tokio(&self, rt: &tokio::runtime::Runtime) -> Duration {
                #[allow(unused_imports)]
                use tokio::{spawn, task::yield_now, time::sleep};
                let $n = self.0;
                rt.block_on(async move {
                    tokio::spawn(async move {
                        let start = Instant::now();
                        $body;
                        start.elapsed()
                    })
                    .await
                    .unwrap()
                })
            }
        }
    };
}

workload!(SpawnJoin, "spawn + join {} empty tasks", n, |n| {
    let mut hs = Vec::with_capacity(n as usize);
    for _ in 0..n {
        hs.push(spawn(async {}));
    }
    for h in hs {
        h.await.unwrap();
    }
});

workload!(
    SpawnJoinBatched,
    "spawn + join {} tasks, batches of 1024",
    n,
    |n| {
        let mut hs = Vec::with_capacity(1024);
        for _ in 0..n / 1024 {
            for _ in 0..1024 {
                hs.push(spawn(async {}));
            }
            for h in hs.drain(..) {
                h.await.unwrap();
            }
        }
    }
);

workload!(ChainedSpawn, "chained spawn, {} hops", n, |n| {
    fn hop(n: u64, done: futures::channel::oneshot::Sender<()>) {
        if n == 0 {
            let _ = done.send(());
            return;
        }
        detach(spawn(async move { hop(n - 1, done) }));
    }
    let (tx, rx) = futures::channel::oneshot::channel();
    hop(n, tx);
    rx.await.unwrap();
});

workload!(
    PingPong,
    "ping-pong between two tasks, {} round trips",
    n,
    |n| {
        let ping = Arc::new(Signal::default());
        let pong = Arc::new(Signal::default());
        let (p2, q2) = (ping.clone(), pong.clone());
        let other = spawn(async move {
            for _ in 0..n {
                p2.wait().await;
                q2.notify();
            }
        });
        for _ in 0..n {
            ping.notify();
            pong.wait().await;
        }
        other.await.unwrap();
    }
);

workload!(Yield, "{} yield_now", n, |n| {
    for _ in 0..n {
        yield_now().await;
    }
});

workload!(TimerCancel, "{} timers set and cancelled", n, |n| {
    for _ in 0..n {
        let mut s = std::pin::pin!(sleep(Duration::from_secs(1)));
        // Register the timer (first poll), then drop it before it fires.
        assert!(futures::poll!(s.as_mut()).is_pending());
    }
});

workload!(
    TimerFire,
    "{} timers that fire (1 ms, one task each)",
    n,
    |n| {
        let mut hs = Vec::with_capacity(n as usize);
        for _ in 0..n {
            hs.push(spawn(async { sleep(Duration::from_millis(1)).await }));
        }
        for h in hs {
            h.await.unwrap();
        }
    }
);

/// Detach a handle the way each runtime spells it (Spectrum cancels on drop, tokio detaches).
trait Detach {
    fn detach_it(self);
}
impl<T> Detach for spectrum_rt::JoinHandle<T> {
    fn detach_it(self) {
        self.detach();
    }
}
impl<T> Detach for tokio::task::JoinHandle<T> {
    fn detach_it(self) {
        drop(self);
    }
}
fn detach(h: impl Detach) {
    h.detach_it();
}

/// TCP echo over loopback: `conns` clients, each `rounds` round trips of `size` bytes.
struct TcpEcho {
    conns: usize,
    rounds: usize,
    size: usize,
}

impl Workload for TcpEcho {
    fn name(&self) -> String {
        format!(
            "TCP echo, {} connections x {} x {} B",
            self.conns, self.rounds, self.size
        )
    }
    fn units(&self) -> f64 {
        (self.conns * self.rounds * self.size * 2) as f64
    }
    fn unit(&self) -> &'static str {
        "MB/s"
    }
    fn spectrum(&self, rt: &spectrum_rt::Runtime) -> Duration {
        use spectrum_rt::net::{TcpListener, TcpStream};
        let (conns, rounds, size) = (self.conns, self.rounds, self.size);
        rt.block_on(async move {
            spectrum_rt::spawn(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let server = spectrum_rt::spawn(async move {
                    loop {
                        let (mut c, _) = listener.accept().await.unwrap();
                        c.set_nodelay(true).unwrap();
                        spectrum_rt::spawn(async move {
                            let mut buf = vec![0; 64 * 1024];
                            loop {
                                match c.read(&mut buf).await {
                                    Ok(0) | Err(_) => return,
                                    Ok(n) => c.write_all(&buf[..n]).await.unwrap(),
                                }
                            }
                        })
                        .detach();
                    }
                });
                let start = Instant::now();
                let clients: Vec<_> = (0..conns)
                    .map(|_| {
                        spectrum_rt::spawn(async move {
                            let mut s = TcpStream::connect(addr).await.unwrap();
                            s.set_nodelay(true).unwrap();
                            let out = vec![7u8; size];
                            let mut back = vec![0u8; size];
                            for _ in 0..rounds {
                                s.write_all(&out).await.unwrap();
                                s.read_exact(&mut back).await.unwrap();
                            }
                        })
                    })
                    .collect();
                for c in clients {
                    c.await.unwrap();
                }
                let took = start.elapsed();
                drop(server);
                took
            })
            .await
            .unwrap()
        })
    }
    fn tokio(&self, rt: &tokio::runtime::Runtime) -> Duration {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        use tokio::net::{TcpListener, TcpStream};
        let (conns, rounds, size) = (self.conns, self.rounds, self.size);
        rt.block_on(async move {
            tokio::spawn(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let server = tokio::spawn(async move {
                    loop {
                        let (mut c, _) = listener.accept().await.unwrap();
                        c.set_nodelay(true).unwrap();
                        tokio::spawn(async move {
                            let mut buf = vec![0; 64 * 1024];
                            loop {
                                match c.read(&mut buf).await {
                                    Ok(0) | Err(_) => return,
                                    Ok(n) => c.write_all(&buf[..n]).await.unwrap(),
                                }
                            }
                        });
                    }
                });
                let start = Instant::now();
                let clients: Vec<_> = (0..conns)
                    .map(|_| {
                        tokio::spawn(async move {
                            let mut s = TcpStream::connect(addr).await.unwrap();
                            s.set_nodelay(true).unwrap();
                            let out = vec![7u8; size];
                            let mut back = vec![0u8; size];
                            for _ in 0..rounds {
                                s.write_all(&out).await.unwrap();
                                s.read_exact(&mut back).await.unwrap();
                            }
                        })
                    })
                    .collect();
                for c in clients {
                    c.await.unwrap();
                }
                let took = start.elapsed();
                server.abort();
                took
            })
            .await
            .unwrap()
        })
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn fmt_unit(w: &dyn Workload, d: Duration) -> String {
    match w.unit() {
        "MB/s" => format!("{:.0} MB/s", w.units() / d.as_secs_f64() / 1e6),
        _ => format!("{:.0} ns/op", d.as_nanos() as f64 / w.units()),
    }
}

fn run_row(w: &dyn Workload, flavor: Flavor, reps: usize, only: Option<&str>) {
    // Profiling aid: run just one side, print its median.
    if let Some(side) = only {
        let mut v = Vec::new();
        if side == "spectrum" {
            let rt = flavor.spectrum();
            for _ in 0..reps {
                v.push(w.spectrum(&rt));
            }
        } else {
            let rt = flavor.tokio();
            for _ in 0..reps {
                v.push(w.tokio(&rt));
            }
        }
        println!(
            "| {:<44} | {:<31} | {side}: {} |",
            w.name(),
            flavor.label(),
            fmt_unit(w, median(v))
        );
        return;
    }
    let srt = flavor.spectrum();
    let trt = flavor.tokio();
    // Warm-up of each.
    w.spectrum(&srt);
    w.tokio(&trt);
    let mut s = Vec::new();
    let mut t = Vec::new();
    for _ in 0..reps {
        s.push(w.spectrum(&srt));
        t.push(w.tokio(&trt));
    }
    let (sm, tm) = (median(s), median(t));
    // For throughput rows the ratio is still time-based: < 1.0 means Spectrum is faster.
    let ratio = sm.as_secs_f64() / tm.as_secs_f64();
    println!(
        "| {:<44} | {:<31} | {:>12} | {:>12} | {:>5.2} |",
        w.name(),
        flavor.label(),
        fmt_unit(w, sm),
        fmt_unit(w, tm),
        ratio
    );
}

/// Resident memory of this process, from /proc/self/status (Linux).
fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Child-process body: park `n` tasks on `which` runtime and print bytes per task.
fn parked_memory(which: &str, n: usize) {
    let polled = Arc::new(AtomicUsize::new(0));
    let before;
    let after;
    match which {
        "spectrum" => {
            let rt = spectrum_rt::Runtime::builder().workers(1).build().unwrap();
            before = rss_bytes();
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
                std::thread::sleep(Duration::from_millis(5));
            }
            after = rss_bytes();
            std::mem::forget(hs);
            std::mem::forget(rt);
        }
        _ => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let rt = Box::leak(Box::new(rt));
            before = rss_bytes();
            let hs: Vec<_> = (0..n)
                .map(|_| {
                    let p = polled.clone();
                    rt.spawn(async move {
                        p.fetch_add(1, Relaxed);
                        std::future::pending::<()>().await
                    })
                })
                .collect();
            // A current-thread runtime runs tasks only inside block_on.
            rt.block_on(async {
                while polled.load(Relaxed) < n {
                    tokio::task::yield_now().await;
                }
            });
            after = rss_bytes();
            std::mem::forget(hs);
        }
    }
    println!("{}", (after.saturating_sub(before)) as f64 / n as f64);
}

fn memory_row(n: usize) {
    let exe = std::env::current_exe().unwrap();
    let measure = |which: &str| -> f64 {
        let out = std::process::Command::new(&exe)
            .args(["--parked-memory", which, &n.to_string()])
            .output()
            .expect("child process");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(f64::NAN)
    };
    let s = measure("spectrum");
    let t = measure("tokio");
    println!(
        "| {:<44} | {:<31} | {:>10.0} B | {:>10.0} B | {:>5.2} |",
        format!("RSS per parked task ({n} tasks)"),
        "1 worker (tokio current_thread)",
        s,
        t,
        s / t
    );
}

/// `--diagnostics`: the cost of the guardrails that run by default (the long-poll watchdog and
/// the deadlock check) on spawn and ping-pong, Spectrum with them against Spectrum without them,
/// in one process. Each round runs the two back to back, in alternating order (so neither side
/// always inherits the other's allocator state and caches), plus a second runtime without them:
/// the ratio is the median over rounds of on / off, and the control column the median of
/// off' / off, two identical configurations, so the noise this machine adds to the ratio can be
/// read off the same run.
fn diagnostics_rows(flavors: &[Flavor], scale: u64, reps: usize) {
    println!("Spectrum with its default diagnostics (watchdog, deadlock check) vs with them off ({reps} rounds; on and off: medians; ratio: median of the rounds' on / off, the cost is ratio - 1; control: the same for a second runtime with them off, the noise floor)");
    println!();
    println!(
        "| {:<44} | {:<8} | {:>12} | {:>12} | {:>5} | {:>7} |",
        "workload", "workers", "on", "off", "ratio", "control"
    );
    println!(
        "|{:-<46}|{:-<10}|{:-<14}|{:-<14}|{:-<7}|{:-<9}|",
        "", "", "", "", "", ""
    );
    // Shorter runs than the main table, and more rounds: the spread of one run (stealing on two
    // workers is bimodal here) shrinks in the median with the number of rounds.
    let rows: Vec<Box<dyn Workload>> = vec![
        Box::new(SpawnJoin(250_000 / scale)),
        Box::new(PingPong(250_000 / scale)),
    ];
    let build = |n: usize, on: bool| {
        let b = spectrum_rt::Runtime::builder().workers(n);
        if on {
            b.long_poll_threshold(Some(Duration::from_millis(10)))
        } else {
            b.long_poll_threshold(None).detect_deadlocks(None)
        }
        .build()
        .unwrap()
    };
    let median_ratio = |a: &[Duration], b: &[Duration]| {
        let mut r: Vec<f64> = a
            .iter()
            .zip(b)
            .map(|(x, y)| x.as_secs_f64() / y.as_secs_f64())
            .collect();
        r.sort_by(f64::total_cmp);
        r[r.len() / 2]
    };
    for w in &rows {
        for &flavor in flavors {
            let n = match flavor {
                Flavor::One => 1,
                Flavor::Multi(n) => n,
            };
            let mut times: [Vec<Duration>; 3] = Default::default();
            for i in 0..reps {
                // Fresh runtimes every round: on this VM a thread sometimes runs at half speed
                // for as long as it lives (seen once as a 1.83 ratio with a 0.99 control, every
                // round of one configuration), so no runtime's threads may outlive a round.
                let runtimes = [build(n, true), build(n, false), build(n, false)];
                // Rotate the order each round.
                for k in 0..3 {
                    let j = (i + k) % 3;
                    times[j].push(w.spectrum(&runtimes[j]));
                }
            }
            let ratio = median_ratio(&times[0], &times[1]);
            let control = median_ratio(&times[2], &times[1]);
            let [on, off, _] = times;
            println!(
                "| {:<44} | {:<8} | {:>12} | {:>12} | {:>5.3} | {:>7.3} |",
                w.name(),
                n,
                fmt_unit(&**w, median(on)),
                fmt_unit(&**w, median(off)),
                ratio,
                control
            );
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--parked-memory") {
        parked_memory(&args[i + 1], args[i + 2].parse().unwrap());
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let only = args
        .iter()
        .position(|a| a == "--only")
        .map(|i| args[i + 1].clone());
    let one_flavor = args.iter().any(|a| a == "--one-worker");
    // `--workers 1,2,4,8,16`: a scaling run (Spectrum workers(n) vs tokio multi_thread(n)).
    let flavors: Vec<Flavor> = match args.iter().position(|a| a == "--workers") {
        Some(i) => args[i + 1]
            .split(',')
            .map(
                |n| match n.trim().parse::<usize>().expect("--workers takes numbers") {
                    1 if !args.iter().any(|a| a == "--multi") => Flavor::One,
                    n => Flavor::Multi(n),
                },
            )
            .collect(),
        None if one_flavor => vec![Flavor::One],
        None => vec![Flavor::One, Flavor::Multi(2)],
    };
    let filter = args
        .iter()
        .enumerate()
        .skip(1)
        .find(|(i, a)| {
            !a.starts_with("--")
                && !["--only", "--workers", "--reps"].contains(&args[i - 1].as_str())
        })
        .map(|(_, a)| a.clone());
    let scale = if quick { 10 } else { 1 };
    // `--reps N`: more alternations for a row whose ratio sits near 1.0 (TCP echo).
    let reps = match args.iter().position(|a| a == "--reps") {
        Some(i) => args
            .get(i + 1)
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&n| n > 0)
            .expect("--reps takes a positive number"),
        None if quick => 3,
        None => REPS,
    };
    if args.iter().any(|a| a == "--diagnostics") {
        diagnostics_rows(&flavors, scale, if quick { 5 } else { 61 });
        return;
    }
    let rows: Vec<Box<dyn Workload>> = vec![
        Box::new(SpawnJoin(1_000_000 / scale)),
        Box::new(SpawnJoinBatched(1_048_576 / scale)),
        Box::new(ChainedSpawn(1_000_000 / scale)),
        Box::new(PingPong(1_000_000 / scale)),
        Box::new(Yield(1_000_000 / scale)),
        Box::new(TimerCancel(1_000_000 / scale)),
        Box::new(TimerFire(100_000 / scale)),
        Box::new(TcpEcho {
            conns: 100,
            rounds: 2000 / scale as usize,
            size: 1024,
        }),
    ];
    println!("Spectrum vs tokio (same process, median of {reps} alternating runs; ratio = Spectrum time / tokio time, < 1.0 is faster)");
    println!();
    println!(
        "| {:<44} | {:<31} | {:>12} | {:>12} | {:>5} |",
        "workload", "configuration", "Spectrum", "tokio", "ratio"
    );
    println!(
        "|{:-<46}|{:-<33}|{:-<14}|{:-<14}|{:-<7}|",
        "", "", "", "", ""
    );
    for w in &rows {
        if let Some(f) = &filter {
            if !w.name().contains(f.as_str()) {
                continue;
            }
        }
        for &flavor in &flavors {
            run_row(&**w, flavor, reps, only.as_deref());
        }
    }
    if only.is_none() && filter.as_deref().is_none_or(|f| "memory".contains(f)) {
        memory_row(1_000_000 / scale as usize);
    }
}
