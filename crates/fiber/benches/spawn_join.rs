//! Spawn + join 100k fibers (spawn them all, then join them all, from inside a fiber, as Go's
//! `go` + `WaitGroup` benchmark does from a goroutine). Peers in the same run: `may` coroutines,
//! Spectrum async tasks, and Go goroutines when `go` is installed.
//!
//! `cargo bench -p spectrum-fiber --bench spawn_join`

#[path = "harness/mod.rs"]
mod harness;

use std::time::{Duration, Instant};

use harness::Contender;
use spectrum_rt::{Runtime, Wait};

const N: u64 = 100_000;
/// may maps every coroutine's guarded stack at spawn, so 100k at once exceed
/// `vm.max_map_count` (its spawn panics with ENOMEM); the batched rows use 10 x 10k.
const BATCH: u64 = 10_000;

fn fibers(rt: &Runtime, local: bool, batch: u64) -> Duration {
    let _g = rt.enter();
    spectrum_fiber::spawn(move || {
        let start = Instant::now();
        for b in 0..N / batch {
            let handles: Vec<_> = (b * batch..(b + 1) * batch)
                .map(|i| {
                    if local {
                        spectrum_fiber::spawn_local(move || i)
                    } else {
                        spectrum_fiber::spawn(move || i)
                    }
                })
                .collect();
            for (h, i) in handles.into_iter().zip(b * batch..) {
                assert_eq!(h.wait().unwrap(), i);
            }
        }
        start.elapsed()
    })
    .wait()
    .unwrap()
}

fn tasks(rt: &Runtime, batch: u64) -> Duration {
    rt.block_on(async move {
        spectrum_rt::spawn(async move {
            let start = Instant::now();
            for b in 0..N / batch {
                let handles: Vec<_> = (b * batch..(b + 1) * batch)
                    .map(|i| spectrum_rt::spawn(async move { i }))
                    .collect();
                for (h, i) in handles.into_iter().zip(b * batch..) {
                    assert_eq!(h.await.unwrap(), i);
                }
            }
            start.elapsed()
        })
        .await
        .unwrap()
    })
}

/// The shape of Go's `WaitGroup` benchmark: spawn every fiber into a `fiber::scope`, drop the
/// handles, and let the scope wait for all of them at once.
fn fiber_scope(rt: &Runtime) -> Duration {
    let _g = rt.enter();
    spectrum_fiber::spawn(move || {
        let start = Instant::now();
        let mut results = vec![0u64; N as usize];
        spectrum_fiber::scope(|s| {
            for (i, r) in results.iter_mut().enumerate() {
                s.spawn(move || *r = i as u64);
            }
        });
        assert!(results.iter().enumerate().all(|(i, r)| *r == i as u64));
        start.elapsed()
    })
    .wait()
    .unwrap()
}

fn may_coroutines(batch: u64) -> Duration {
    may::go!(move || {
        let start = Instant::now();
        for b in 0..N / batch {
            let handles: Vec<_> = (b * batch..(b + 1) * batch)
                .map(|i| may::go!(move || i))
                .collect();
            for (h, i) in handles.into_iter().zip(b * batch..) {
                assert_eq!(h.join().unwrap(), i);
            }
        }
        start.elapsed()
    })
    .join()
    .unwrap()
}

const GO_SPAWN: &str = r#"
package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"time"
)

// One warm-up run, then the median of 5: the statistic the Rust harness reports.
func main() {
	n, _ := strconv.Atoi(os.Args[1])
	runtime.GOMAXPROCS(2)
	var runs []float64
	for r := 0; r < 6; r++ {
		start := time.Now()
		var wg sync.WaitGroup
		results := make([]int, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) { results[i] = i; wg.Done() }(i)
		}
		wg.Wait()
		el := float64(time.Since(start).Nanoseconds()) / float64(n)
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
    let mut all = [
        Contender {
            name: "spectrum fibers (spawn, 2 workers)",
            run: Box::new(|| fibers(&rt, false, N)),
        },
        Contender {
            name: "spectrum fibers (spawn_local)",
            run: Box::new(|| fibers(&rt, true, N)),
        },
        Contender {
            name: "spectrum fibers (fiber::scope, handles dropped)",
            run: Box::new(|| fiber_scope(&rt)),
        },
        Contender {
            name: "spectrum async tasks (spawn)",
            run: Box::new(|| tasks(&rt, N)),
        },
    ];
    let m = harness::compare("spawn 100k, then join 100k", N, 5, &mut all);
    println!("  may coroutines                               cannot: 100k stacks mapped at spawn exceed vm.max_map_count (ENOMEM panic)");
    if harness::go_available() {
        match harness::run_go("spawn", GO_SPAWN, &[&N.to_string()]) {
            Some(out) => harness::extra_row(
                "go goroutines (go + WaitGroup, median of 5)",
                out.trim().parse().unwrap_or(f64::NAN),
                all[0].name,
                m[0],
            ),
            None => println!("  (Go: build or run failed)"),
        }
    } else {
        harness::no_go();
    }
    let mut batched = [
        Contender {
            name: "spectrum fibers (spawn), 10 x 10k",
            run: Box::new(|| fibers(&rt, false, BATCH)),
        },
        Contender {
            name: "spectrum fibers (spawn_local), 10 x 10k",
            run: Box::new(|| fibers(&rt, true, BATCH)),
        },
        Contender {
            name: "may coroutines (go!, 2 workers), 10 x 10k",
            run: Box::new(|| may_coroutines(BATCH)),
        },
        Contender {
            name: "spectrum async tasks (spawn), 10 x 10k",
            run: Box::new(|| tasks(&rt, BATCH)),
        },
    ];
    harness::compare("spawn + join 100k in batches of 10k", N, 5, &mut batched);
    let s = spectrum_fiber::stack_stats();
    println!(
        "  (stack pool: {} stacks mapped after {} fibers, {} fresh mmaps in total)",
        s.mapped,
        N * 36,
        s.fresh_maps
    );
}
