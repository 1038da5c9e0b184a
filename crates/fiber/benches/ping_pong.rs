//! Resume/suspend round trip of a fiber through the scheduler: two fibers ping-pong a value over
//! a pair of rendezvous channels (`spectrum_chan::bounded(0)`), each side `.wait()`ing. Peers in
//! the same run: `may` coroutines over its channels, Spectrum async tasks on the same channels,
//! and Go goroutines over unbuffered channels when `go` is installed.
//!
//! `cargo bench -p spectrum-fiber --bench ping_pong`

#[path = "harness/mod.rs"]
mod harness;

use std::time::{Duration, Instant};

use harness::Contender;
use spectrum_rt::{Runtime, Wait};

const ROUND_TRIPS: u64 = 100_000;
/// Fewer for the cross-worker case: each hop wakes a parked worker thread.
const CROSS_ROUND_TRIPS: u64 = 10_000;

/// The smallest one-way handoff there is (an atomic slot and an `AtomicWaker`): isolates the cost
/// of suspending and resuming from the cost of a full channel.
mod slot {
    use std::sync::Arc;
    use std::task::Poll;

    use spectrum_sync::atomic::{AtomicU64, Ordering::*};
    use spectrum_sync::AtomicWaker;

    pub struct Slot {
        value: AtomicU64,
        waker: AtomicWaker,
    }

    pub fn new() -> Arc<Slot> {
        Arc::new(Slot {
            value: AtomicU64::new(0),
            waker: AtomicWaker::new(),
        })
    }

    impl Slot {
        pub fn put(&self, v: u64) {
            // Release: pairs with the Acquire swap in `take`.
            self.value.store(v + 1, Release);
            self.waker.wake();
        }

        pub async fn take(&self) -> u64 {
            std::future::poll_fn(|cx| {
                // Acquire: pairs with the Release store in `put`.
                let v = self.value.swap(0, Acquire);
                if v != 0 {
                    return Poll::Ready(v - 1);
                }
                self.waker.register(cx.waker());
                let v = self.value.swap(0, Acquire);
                if v != 0 {
                    Poll::Ready(v - 1)
                } else {
                    Poll::Pending
                }
            })
            .await
        }
    }
}

fn fibers_slot(rt: &Runtime) -> Duration {
    let _g = rt.enter();
    spectrum_fiber::spawn(move || {
        let (ping, pong) = (slot::new(), slot::new());
        let (ping2, pong2) = (ping.clone(), pong.clone());
        let other = spectrum_fiber::spawn_local(move || loop {
            let v = ping2.take().wait();
            pong2.put(v);
            if v == u64::MAX - 1 {
                break;
            }
        });
        let start = Instant::now();
        for i in 0..ROUND_TRIPS {
            ping.put(i);
            pong.take().wait();
        }
        let t = start.elapsed();
        ping.put(u64::MAX - 1);
        other.wait().unwrap();
        t
    })
    .wait()
    .unwrap()
}

fn tasks_slot(rt: &Runtime, pinned: bool) -> Duration {
    rt.block_on(async {
        spectrum_rt::spawn(async move {
            let (ping, pong) = (slot::new(), slot::new());
            let (ping2, pong2) = (ping.clone(), pong.clone());
            let body = async move {
                loop {
                    let v = ping2.take().await;
                    pong2.put(v);
                    if v == u64::MAX - 1 {
                        break;
                    }
                }
            };
            let other = if pinned {
                spectrum_rt::spawn_local(body)
            } else {
                spectrum_rt::spawn(body)
            };
            let start = Instant::now();
            for i in 0..ROUND_TRIPS {
                ping.put(i);
                pong.take().await;
            }
            let t = start.elapsed();
            ping.put(u64::MAX - 1);
            other.await.unwrap();
            t
        })
        .await
        .unwrap()
    })
}

fn fibers(rt: &Runtime, local: bool) -> Duration {
    let rounds = if local {
        ROUND_TRIPS
    } else {
        CROSS_ROUND_TRIPS
    };
    let _g = rt.enter();
    let (ping_tx, ping_rx) = spectrum_chan::bounded::<u64>(0);
    let (pong_tx, pong_rx) = spectrum_chan::bounded::<u64>(0);
    let body = move || {
        while let Ok(v) = ping_rx.recv().wait() {
            pong_tx.send(v).wait().unwrap();
        }
    };
    // Two workers: both fibers spawned from this thread, outside the runtime, which queues them
    // round-robin (a fiber spawned from a fiber is queued on its own worker).
    let (mut body, mut remote) = (Some(body), None);
    if !local {
        remote = body.take().map(spectrum_fiber::spawn);
    }
    spectrum_fiber::spawn(move || {
        let other = match (body, remote) {
            (Some(body), _) => spectrum_fiber::spawn_local(body),
            (None, Some(other)) => other,
            (None, None) => unreachable!(),
        };
        let start = Instant::now();
        for i in 0..rounds {
            ping_tx.send(i).wait().unwrap();
            pong_rx.recv().wait().unwrap();
        }
        let t = start.elapsed();
        drop(ping_tx);
        other.wait().unwrap();
        t
    })
    .wait()
    .unwrap()
}

fn tasks(rt: &Runtime) -> Duration {
    rt.block_on(async {
        spectrum_rt::spawn(async {
            let (ping_tx, ping_rx) = spectrum_chan::bounded::<u64>(0);
            let (pong_tx, pong_rx) = spectrum_chan::bounded::<u64>(0);
            let other = spectrum_rt::spawn(async move {
                while let Ok(v) = ping_rx.recv().await {
                    pong_tx.send(v).await.unwrap();
                }
            });
            let start = Instant::now();
            for i in 0..ROUND_TRIPS {
                ping_tx.send(i).await.unwrap();
                pong_rx.recv().await.unwrap();
            }
            let t = start.elapsed();
            drop(ping_tx);
            other.await.unwrap();
            t
        })
        .await
        .unwrap()
    })
}

fn may_coroutines(rounds: u64) -> Duration {
    let h = may::go!(move || {
        let (ping_tx, ping_rx) = may::sync::mpsc::channel::<u64>();
        let (pong_tx, pong_rx) = may::sync::mpsc::channel::<u64>();
        let other = may::go!(move || {
            while let Ok(v) = ping_rx.recv() {
                pong_tx.send(v).unwrap();
            }
        });
        let start = Instant::now();
        for i in 0..rounds {
            ping_tx.send(i).unwrap();
            pong_rx.recv().unwrap();
        }
        let t = start.elapsed();
        drop(ping_tx);
        other.join().unwrap();
        t
    });
    h.join().unwrap()
}

const GO_PING_PONG: &str = r#"
package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"time"
)

// One warm-up run, then the median of 7: the statistic the Rust harness reports.
func main() {
	n, _ := strconv.Atoi(os.Args[1])
	runtime.GOMAXPROCS(2)
	var runs []float64
	for r := 0; r < 8; r++ {
		ping := make(chan int)
		pong := make(chan int)
		go func() {
			for v := range ping {
				pong <- v
			}
		}()
		start := time.Now()
		for i := 0; i < n; i++ {
			ping <- i
			<-pong
		}
		el := float64(time.Since(start).Nanoseconds()) / float64(n)
		close(ping)
		if r > 0 {
			runs = append(runs, el)
		}
	}
	sort.Float64s(runs)
	fmt.Printf("%.1f\n", runs[len(runs)/2])
}
"#;

fn main() {
    may::config().set_workers(2);
    let rt = Runtime::builder().workers(2).build().unwrap();
    let mut same = [
        Contender {
            name: "spectrum fibers, one worker, spectrum_chan(0)",
            run: Box::new(|| fibers(&rt, true)),
        },
        Contender {
            name: "spectrum async tasks, spectrum_chan(0)",
            run: Box::new(|| tasks(&rt)),
        },
        Contender {
            name: "may coroutines, 2 workers, may mpsc",
            run: Box::new(|| may_coroutines(ROUND_TRIPS)),
        },
        Contender {
            name: "spectrum fibers, one worker, atomic slot",
            run: Box::new(|| fibers_slot(&rt)),
        },
        Contender {
            name: "spectrum async tasks, atomic slot",
            run: Box::new(|| tasks_slot(&rt, false)),
        },
        Contender {
            name: "spectrum pinned async task (spawn_local), slot",
            run: Box::new(|| tasks_slot(&rt, true)),
        },
    ];
    let m = harness::compare(
        "ping-pong round trip, both sides on one worker",
        ROUND_TRIPS,
        7,
        &mut same,
    );
    if harness::go_available() {
        let n = ROUND_TRIPS.to_string();
        match harness::run_go("pingpong", GO_PING_PONG, &[&n]) {
            Some(out) => harness::extra_row(
                "go goroutines (GOMAXPROCS=2, unbuffered, median of 7)",
                out.trim().parse().unwrap_or(f64::NAN),
                same[0].name,
                m[0],
            ),
            None => println!("  (Go: build or run failed)"),
        }
    } else {
        harness::no_go();
    }
    let mut cross = [
        Contender {
            name: "spectrum fibers, two workers, spectrum_chan(0)",
            run: Box::new(|| fibers(&rt, false)),
        },
        Contender {
            name: "may coroutines, 2 workers, may mpsc",
            run: Box::new(|| may_coroutines(CROSS_ROUND_TRIPS)),
        },
    ];
    println!(
        "\n(`spawn` from outside the runtime queues fibers round-robin, so a pair spawned one after the other lands on"
    );
    println!(" two workers; every hop then wakes a parked worker thread)");
    harness::compare(
        "ping-pong round trip, fibers on two workers",
        CROSS_ROUND_TRIPS,
        3,
        &mut cross,
    );
}
