//! Stress: 8 OS threads spawn, wake and cancel 1M tasks at random on a 2-worker runtime. Every
//! task ends exactly once — with its output or cancelled — and every future, output and waker is
//! dropped exactly once.
//!
//! `SPECTRUM_STRESS_TASKS` overrides the task count (default 1,000,000).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use spectrum_rt::{JoinError, Runtime, Wait};

struct Counter(Arc<AtomicUsize>);
impl Drop for Counter {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Pending until `go` is set (or it has been woken `spins` times), parking its waker in a shared
/// board where other threads wake it at random.
struct Work {
    id: u64,
    go: Arc<AtomicBool>,
    board: Arc<Board>,
    spins: u32,
    _alive: Counter,
}

struct Board {
    slots: Vec<Mutex<Vec<Waker>>>,
}

impl Future for Work {
    type Output = u64;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u64> {
        if self.spins == 0 || self.go.load(SeqCst) {
            return Poll::Ready(self.id);
        }
        self.spins -= 1;
        let slot = (self.id as usize) % self.board.slots.len();
        self.board.slots[slot]
            .lock()
            .unwrap()
            .push(cx.waker().clone());
        if self.spins % 3 == 0 {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

fn xorshift(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

#[test]
fn eight_threads_spawn_wake_and_cancel_a_million_tasks() {
    let total: u64 = std::env::var("SPECTRUM_STRESS_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let rt = Runtime::builder().workers(2).build().unwrap();
    let board = Arc::new(Board {
        slots: (0..1024).map(|_| Mutex::new(Vec::new())).collect(),
    });
    let go = Arc::new(AtomicBool::new(false));
    let polls_done = Arc::new(AtomicUsize::new(0));
    let stop_wakers = Arc::new(AtomicBool::new(false));

    // Two threads wake random board slots the whole time.
    let wakers: Vec<_> = (0..2u64)
        .map(|t| {
            let board = board.clone();
            let stop = stop_wakers.clone();
            std::thread::spawn(move || {
                let mut seed = 0x9E37_79B9 + t;
                while !stop.load(SeqCst) {
                    let i = (xorshift(&mut seed) as usize) % board.slots.len();
                    let ws = std::mem::take(&mut *board.slots[i].lock().unwrap());
                    ws.into_iter().for_each(Waker::wake);
                }
            })
        })
        .collect();

    let spawners = 8u64;
    let per = total / spawners;
    let results: Vec<_> = (0..spawners)
        .map(|t| {
            let handle = rt.handle().clone();
            let board = board.clone();
            let go = go.clone();
            let done = polls_done.clone();
            std::thread::spawn(move || {
                let mut seed = 0xDEAD_BEEF + t * 7919;
                let mut ok = 0u64;
                let mut cancelled = 0u64;
                let mut joined = 0u64;
                let mut pending = Vec::with_capacity(256);
                for i in 0..per {
                    let id = t * per + i;
                    let r = xorshift(&mut seed);
                    let work = Work {
                        id,
                        go: go.clone(),
                        board: board.clone(),
                        spins: (r % 5) as u32,
                        _alive: Counter(done.clone()),
                    };
                    let h = handle.spawn(work);
                    match r % 10 {
                        // Cancel explicitly right away, racing the first poll.
                        0 => {
                            h.cancel();
                            pending.push((id, h));
                        }
                        // Drop the handle: cancel and never look again.
                        // (accounted for by the future drop counter below)
                        1 => drop(h),
                        // Detach: it must still run and be dropped exactly once.
                        2 => h.detach(),
                        _ => pending.push((id, h)),
                    }
                    if pending.len() >= 256 || i + 1 == per {
                        // Cancel a random few of the batch from this thread, then join them all.
                        for (_, h) in pending.iter().filter(|_| xorshift(&mut seed) % 7 == 0) {
                            h.cancel();
                        }
                        for (id, h) in pending.drain(..) {
                            joined += 1;
                            match h.wait() {
                                Ok(got) => {
                                    assert_eq!(got, id, "each handle gets its own task's output");
                                    ok += 1;
                                }
                                Err(JoinError::Cancelled(_)) => cancelled += 1,
                                Err(e) => panic!("unexpected {e}"),
                            }
                        }
                    }
                }
                assert_eq!(
                    ok + cancelled,
                    joined,
                    "every joined task reported exactly once"
                );
                (ok, cancelled)
            })
        })
        .collect();

    let mut ok = 0;
    let mut cancelled = 0;
    for r in results {
        let (o, c) = r.join().unwrap();
        ok += o;
        cancelled += c;
    }
    // Let detached and dropped-handle tasks finish or be cancelled.
    go.store(true, SeqCst);
    for slot in &board.slots {
        std::mem::take(&mut *slot.lock().unwrap())
            .into_iter()
            .for_each(Waker::wake);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while polls_done.load(SeqCst) < (per * spawners) as usize {
        assert!(std::time::Instant::now() < deadline, "tasks never finished");
        for slot in &board.slots {
            std::mem::take(&mut *slot.lock().unwrap())
                .into_iter()
                .for_each(Waker::wake);
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    stop_wakers.store(true, SeqCst);
    for w in wakers {
        w.join().unwrap();
    }
    // Every future was dropped exactly once (a second drop would push the count past `total`).
    let futures_dropped = polls_done.load(SeqCst) as u64;
    drop(rt);
    assert_eq!(
        futures_dropped,
        per * spawners,
        "each future dropped exactly once"
    );
    assert_eq!(
        polls_done.load(SeqCst) as u64,
        per * spawners,
        "no late drops after shutdown"
    );
    assert!(
        ok > 0 && cancelled > 0,
        "both outcomes were exercised: ok={ok} cancelled={cancelled}"
    );
}
