#![cfg(not(loom))]
//! Property/stress test: N producers and M consumers (threads and async tasks mixed), random
//! capacities, random drops of `send`/`recv`/`select` futures, random `close`.
//!
//! Properties checked per round:
//! - every value whose send succeeded is received exactly once;
//! - a value is received at most once, and only if its send succeeded or was cancelled midway
//!   (a send future dropped while parked may have been delivered just before the drop);
//! - every failed send returned exactly the value it was given, and that value is never
//!   received.
//!
//! `SPECTRUM_STRESS_ITERS` sets the number of rounds (default 12, about a second);
//! `SPECTRUM_STRESS_SEED` replays one round.

mod common;

use std::collections::HashMap;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use common::poll_once;
use spectrum_chan::{bounded, select, unbounded, Receiver, Sender};
use spectrum_rt::{Runtime, Wait};

/// xorshift64*: deterministic per seed.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Default)]
struct Log {
    sent: Vec<u64>,
    maybe: Vec<u64>,
    failed: Vec<u64>,
    received: Vec<u64>,
}

type Shared = Arc<Mutex<Log>>;

enum SendOutcome {
    Sent,
    Maybe,
    Failed(u64),
    Busy,
}

/// One send attempt of `v` by a thread, chosen at random.
fn thread_send(tx: &Sender<u64>, v: u64, rng: &mut Rng) -> SendOutcome {
    match rng.below(5) {
        0 => match tx.send(v).wait() {
            Ok(()) => SendOutcome::Sent,
            Err(e) => SendOutcome::Failed(e.0),
        },
        1 => match tx.try_send(v) {
            Ok(()) => SendOutcome::Sent,
            Err(e) if e.is_full() => SendOutcome::Busy,
            Err(e) => SendOutcome::Failed(e.into_inner()),
        },
        2 => {
            // Poll once, then drop: a cancelled send.
            let mut f = pin!(tx.send(v));
            match poll_once(f.as_mut()) {
                Poll::Ready(Ok(())) => SendOutcome::Sent,
                Poll::Ready(Err(e)) => SendOutcome::Failed(e.0),
                Poll::Pending => SendOutcome::Maybe,
            }
        }
        3 => match tx.reserve().wait() {
            Ok(p) => match p.send(v) {
                Ok(()) => SendOutcome::Sent,
                Err(e) => SendOutcome::Failed(e.0),
            },
            Err(_) => SendOutcome::Failed(v),
        },
        _ => select! {
            wait;
            send(tx, v) -> r => match r {
                Ok(()) => SendOutcome::Sent,
                Err(e) => SendOutcome::Failed(e.0),
            },
            default => SendOutcome::Busy,
        },
    }
}

/// One send attempt of `v` by a task.
async fn task_send(tx: &Sender<u64>, v: u64, choice: u64) -> SendOutcome {
    match choice % 4 {
        0 => match tx.send(v).await {
            Ok(()) => SendOutcome::Sent,
            Err(e) => SendOutcome::Failed(e.0),
        },
        1 => match tx.send_timeout(v, Duration::from_micros(200)).await {
            Ok(()) => SendOutcome::Sent,
            Err(spectrum_chan::SendTimeoutError::Timeout(back)) => {
                assert_eq!(back, v);
                SendOutcome::Busy
            }
            Err(spectrum_chan::SendTimeoutError::Closed(back)) => SendOutcome::Failed(back),
        },
        2 => {
            let mut f = pin!(tx.send(v));
            match futures::poll!(f.as_mut()) {
                Poll::Ready(Ok(())) => SendOutcome::Sent,
                Poll::Ready(Err(e)) => SendOutcome::Failed(e.0),
                Poll::Pending => SendOutcome::Maybe,
            }
        }
        _ => select! {
            send(tx, v) -> r => match r {
                Ok(()) => SendOutcome::Sent,
                Err(e) => SendOutcome::Failed(e.0),
            },
            timeout(Duration::from_micros(300)) => SendOutcome::Busy,
        },
    }
}

fn record(log: &Shared, v: u64, out: SendOutcome) -> bool {
    let mut l = log.lock().unwrap();
    match out {
        SendOutcome::Sent => l.sent.push(v),
        SendOutcome::Maybe => l.maybe.push(v),
        SendOutcome::Failed(back) => {
            assert_eq!(back, v, "a failed send returned another value");
            l.failed.push(v);
            return false;
        }
        SendOutcome::Busy => {}
    }
    true
}

enum RecvOutcome {
    Got(u64),
    Nothing,
    Closed,
}

fn thread_recv(rx: &Receiver<u64>, rng: &mut Rng) -> RecvOutcome {
    let r = match rng.below(4) {
        0 => rx.recv().wait().ok(),
        1 => match rx.try_recv() {
            Ok(v) => Some(v),
            Err(spectrum_chan::TryRecvError::Empty) => return RecvOutcome::Nothing,
            Err(_) => None,
        },
        2 => {
            let mut f = pin!(rx.recv());
            match poll_once(f.as_mut()) {
                Poll::Ready(r) => r.ok(),
                Poll::Pending => return RecvOutcome::Nothing,
            }
        }
        _ => {
            let other = spectrum_chan::never::<u64>();
            select! {
                wait;
                recv(rx) -> v => v.ok(),
                recv(other) -> _ => unreachable!(),
            }
        }
    };
    match r {
        Some(v) => RecvOutcome::Got(v),
        None => RecvOutcome::Closed,
    }
}

async fn task_recv(rx: &Receiver<u64>, choice: u64) -> RecvOutcome {
    let r = match choice % 3 {
        0 => rx.recv().await.ok(),
        1 => match rx.recv_timeout(Duration::from_micros(300)).await {
            Ok(v) => Some(v),
            Err(spectrum_chan::RecvTimeoutError::Timeout) => return RecvOutcome::Nothing,
            Err(_) => None,
        },
        _ => select! {
            recv(rx) -> v => v.ok(),
            timeout(Duration::from_micros(200)) => return RecvOutcome::Nothing,
        },
    };
    match r {
        Some(v) => RecvOutcome::Got(v),
        None => RecvOutcome::Closed,
    }
}

fn round(rt: &Runtime, seed: u64) {
    // A round that hangs is a lost wake-up: say which seed before the harness times out.
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let done = done.clone();
        std::thread::spawn(move || {
            for _ in 0..200 {
                std::thread::sleep(Duration::from_millis(100));
                if done.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
            }
            eprintln!("stress round with SPECTRUM_STRESS_SEED={seed} is stuck after 20 s");
            std::process::abort();
        })
    };
    round_inner(rt, seed);
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    watchdog.join().unwrap();
}

fn round_inner(rt: &Runtime, seed: u64) {
    let mut rng = Rng(seed | 1);
    // 0: rendezvous; 1-64: the ring; 5000: the list with a bound; MAX: unbounded (the list).
    let cap = [0usize, 1, 2, 3, 64, 5000, usize::MAX][rng.below(7) as usize];
    let (tx, rx) = if cap == usize::MAX {
        unbounded::<u64>()
    } else {
        bounded::<u64>(cap)
    };
    let producers = 1 + rng.below(4);
    let consumers = 1 + rng.below(4);
    let per = 200 + rng.below(300);
    let close_after = (rng.below(3) == 0).then(|| Duration::from_micros(rng.below(3000)));
    let log: Shared = Arc::default();
    if std::env::var("SPECTRUM_STRESS_SEED").is_ok() {
        eprintln!(
            "cap {cap}, {producers} producers x {per}, {consumers} consumers, close {close_after:?}"
        );
    }
    let _guard = rt.enter();

    let mut threads = Vec::new();
    let mut tasks = Vec::new();
    for p in 0..producers {
        let tx = tx.clone();
        let log = log.clone();
        let mut prng = Rng(rng.next() | 1);
        let base = (p + 1) << 32;
        if p % 2 == 0 {
            threads.push(std::thread::spawn(move || {
                for i in 0..per {
                    let v = base | i;
                    if !record(&log, v, thread_send(&tx, v, &mut prng)) {
                        break;
                    }
                }
            }));
        } else {
            tasks.push(spectrum_rt::spawn(async move {
                for i in 0..per {
                    let v = base | i;
                    let choice = prng.next();
                    if !record(&log, v, task_send(&tx, v, choice).await) {
                        break;
                    }
                }
            }));
        }
    }
    drop(tx);
    for c in 0..consumers {
        let rx = rx.clone();
        let log = log.clone();
        let mut crng = Rng(rng.next() | 1);
        if c % 2 == 1 {
            threads.push(std::thread::spawn(move || loop {
                match thread_recv(&rx, &mut crng) {
                    RecvOutcome::Got(v) => log.lock().unwrap().received.push(v),
                    RecvOutcome::Nothing => std::thread::yield_now(),
                    RecvOutcome::Closed => break,
                }
            }));
        } else {
            tasks.push(spectrum_rt::spawn(async move {
                loop {
                    let choice = crng.next();
                    match task_recv(&rx, choice).await {
                        RecvOutcome::Got(v) => log.lock().unwrap().received.push(v),
                        RecvOutcome::Nothing => spectrum_rt::task::yield_now().await,
                        RecvOutcome::Closed => break,
                    }
                }
            }));
        }
    }
    if let Some(after) = close_after {
        let rx = rx.clone();
        threads.push(std::thread::spawn(move || {
            std::thread::sleep(after);
            rx.close();
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
    for t in tasks {
        t.wait().unwrap();
    }
    // Every consumer saw `Closed`, so nothing is buffered; a value given back by a cancelled
    // receive would show up here.
    while let Ok(v) = rx.try_recv() {
        log.lock().unwrap().received.push(v);
    }

    let l = log.lock().unwrap();
    let mut times: HashMap<u64, u32> = HashMap::new();
    for &v in &l.received {
        *times.entry(v).or_default() += 1;
    }
    for (&v, &n) in &times {
        assert_eq!(n, 1, "seed {seed}: value {v:#x} received {n} times");
    }
    for v in &l.sent {
        assert!(
            times.contains_key(v),
            "seed {seed}: sent value {v:#x} was lost"
        );
    }
    for v in &l.failed {
        assert!(
            !times.contains_key(v),
            "seed {seed}: failed value {v:#x} was received"
        );
    }
    let allowed = l.sent.len() + l.maybe.len();
    assert!(
        l.received.len() <= allowed,
        "seed {seed}: received values nobody sent"
    );
    for v in &l.received {
        assert!(
            l.sent.contains(v) || l.maybe.contains(v),
            "seed {seed}: received {v:#x} that was never sent"
        );
    }
}

#[test]
fn producers_consumers_random_drops_and_close() {
    let iters: u64 = std::env::var("SPECTRUM_STRESS_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let rt = Runtime::builder().workers(2).build().unwrap();
    if let Some(seed) = std::env::var("SPECTRUM_STRESS_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        round(&rt, seed);
        return;
    }
    let base = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    for i in 0..iters {
        round(
            &rt,
            base.wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        );
    }
}
