//! Resident memory per parked fiber, with 10k and 30k fibers parked on a channel receive.
//! Each measurement runs in a fresh child process (this binary, re-run with arguments): VmRSS
//! (and VmPTE, the page tables, which VmRSS does not include) before and after parking N units,
//! divided by N. Peers in the same run: `may` coroutines, Spectrum async tasks, and Go
//! goroutines when `go` is installed.
//!
//! `cargo bench -p spectrum-fiber --bench memory`

#[path = "harness/mod.rs"]
mod harness;

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use spectrum_rt::{Runtime, Wait};

fn wait_for(counter: &AtomicUsize, n: usize) {
    while counter.load(SeqCst) < n {
        std::thread::sleep(Duration::from_millis(5));
    }
    // Let the last ones reach their suspension point.
    std::thread::sleep(Duration::from_millis(100));
}

/// Child process: parks `n` units of `kind`, prints "rss_kib pte_kib" deltas.
fn child(kind: &str, n: usize) {
    let started = Arc::new(AtomicUsize::new(0));
    match kind {
        "fiber" | "task" => {
            let rt = Runtime::builder().workers(2).build().unwrap();
            let _g = rt.enter();
            let (tx, rx) = spectrum_chan::bounded::<()>(0);
            // Warm up: threads, allocator arenas, stack pool code paths.
            spectrum_fiber::spawn(|| ()).wait().unwrap();
            spectrum_rt::spawn(async {}).wait().unwrap();
            std::thread::sleep(Duration::from_millis(50));
            let (rss0, pte0) = (harness::status_kib("VmRSS"), harness::status_kib("VmPTE"));
            let mut handles = Vec::with_capacity(n);
            for _ in 0..n {
                let rx = rx.clone();
                let started = started.clone();
                if kind == "fiber" {
                    handles.push(spectrum_fiber::spawn(move || {
                        started.fetch_add(1, SeqCst);
                        let _ = rx.recv().wait();
                    }));
                } else {
                    handles.push(spectrum_rt::spawn(async move {
                        started.fetch_add(1, SeqCst);
                        let _ = rx.recv().await;
                    }));
                }
            }
            wait_for(&started, n);
            let (rss1, pte1) = (harness::status_kib("VmRSS"), harness::status_kib("VmPTE"));
            println!("{} {}", rss1 - rss0, pte1.saturating_sub(pte0));
            tx.close();
            for h in handles {
                h.wait().unwrap();
            }
        }
        "may" => {
            may::config().set_workers(2);
            let (tx, rx) = may::sync::mpmc::channel::<()>();
            may::go!(|| ()).join().unwrap();
            std::thread::sleep(Duration::from_millis(50));
            let (rss0, pte0) = (harness::status_kib("VmRSS"), harness::status_kib("VmPTE"));
            let mut handles = Vec::with_capacity(n);
            for _ in 0..n {
                let rx = rx.clone();
                let started = started.clone();
                handles.push(may::go!(move || {
                    started.fetch_add(1, SeqCst);
                    let _ = rx.recv();
                }));
            }
            wait_for(&started, n);
            let (rss1, pte1) = (harness::status_kib("VmRSS"), harness::status_kib("VmPTE"));
            println!("{} {}", rss1 - rss0, pte1.saturating_sub(pte0));
            drop(tx);
            for h in handles {
                let _ = h.join();
            }
        }
        _ => unreachable!(),
    }
}

fn measure(kind: &str, n: usize) -> Option<(f64, f64)> {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--child", kind, &n.to_string()])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8_lossy(&out.stdout);
    let mut it = s
        .split_whitespace()
        .map(|v| v.parse::<f64>().unwrap_or(f64::NAN));
    let rss = it.next()?;
    let pte = it.next()?;
    Some((rss * 1024.0 / n as f64, pte * 1024.0 / n as f64))
}

const GO_PARKED: &str = r#"
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

func status(field string) int {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field+":") {
			f := strings.Fields(l)
			v, _ := strconv.Atoi(f[1])
			return v
		}
	}
	return 0
}

func main() {
	n, _ := strconv.Atoi(os.Args[1])
	runtime.GOMAXPROCS(2)
	ch := make(chan struct{})
	var started int64
	time.Sleep(50 * time.Millisecond)
	rss0 := status("VmRSS")
	for i := 0; i < n; i++ {
		go func() { atomic.AddInt64(&started, 1); <-ch }()
	}
	for atomic.LoadInt64(&started) < int64(n) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	rss1 := status("VmRSS")
	fmt.Printf("%.0f\n", float64(rss1-rss0)*1024/float64(n))
	close(ch)
}
"#;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(&args[i + 1], args[i + 2].parse().unwrap());
        return;
    }
    println!("\nresident memory per parked unit (VmRSS delta / N, fresh child process each)");
    println!(
        "  {:<34} {:>14} {:>14} {:>16}",
        "", "N = 10 000", "N = 30 000", "page tables (30k)"
    );
    for (kind, name) in [
        ("fiber", "spectrum fibers"),
        ("may", "may coroutines"),
        ("task", "spectrum async tasks"),
    ] {
        let a = measure(kind, 10_000);
        let b = measure(kind, 30_000);
        let fmt = |m: Option<(f64, f64)>| match m {
            Some((rss, _)) => format!("{:.0} B", rss),
            None => "failed".to_string(),
        };
        let pte = b.map_or("-".to_string(), |(_, p)| format!("{p:.0} B"));
        println!("  {:<34} {:>14} {:>14} {:>16}", name, fmt(a), fmt(b), pte);
    }
    if harness::go_available() {
        let a = harness::run_go("parked", GO_PARKED, &["10000"]);
        let b = harness::run_go("parked", GO_PARKED, &["30000"]);
        println!(
            "  {:<34} {:>14} {:>14}",
            "go goroutines",
            a.map_or("failed".into(), |s| format!("{} B", s.trim())),
            b.map_or("failed".into(), |s| format!("{} B", s.trim()))
        );
    } else {
        harness::no_go();
    }
    println!(
        "  (target: <= 8 KiB per parked fiber; one 4 KiB stack page is the floor with guard pages)"
    );
}
