//! Memory under overload: a fast source into a slow subscriber, bounded by `limit_rate` versus
//! an unbounded buffer, peak RSS for each (one child process per run, so peaks do not mix).
//!
//! `cargo bench -p spectrum-stream --bench overload`
//!
//! The source (`range` mapped to 1 KiB items) produces on its own task (`subscribe_on`) as
//! fast as demand allows; the subscriber consumes on another (`publish_on`) and spends about
//! 2 µs per item. With `limit_rate(256)` the source never has more than 256 items of demand,
//! so memory stays flat whatever the item count. With `on_backpressure_buffer(usize::MAX, ..)`
//! (the unbounded variant, spelled out) the buffer requests everything and the source fills
//! it at full speed: memory grows with the item count.

use std::process::Command;
use std::time::{Duration, Instant};

use spectrum_stream::{Flux, Overflow};

const ITEM: usize = 1024;

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn slow(v: &[u8]) {
    let t = Instant::now();
    std::hint::black_box(v);
    while t.elapsed() < Duration::from_micros(2) {
        std::hint::spin_loop();
    }
}

fn child(variant: &str, n: u64) {
    let rt = spectrum_rt::Runtime::builder().workers(2).build().unwrap();
    let start = Instant::now();
    let count = rt.block_on(async move {
        let source = Flux::range(0..n)
            .map(|i| vec![i as u8; ITEM])
            .subscribe_on();
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let s2 = seen.clone();
        let r = match variant {
            "limit_rate" => {
                source
                    .limit_rate(256)
                    .publish_on()
                    .for_each(move |v| {
                        slow(&v);
                        s2.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    })
                    .await
            }
            "unbounded" => {
                source
                    .on_backpressure_buffer(usize::MAX, Overflow::Buffer(0))
                    .publish_on()
                    .for_each(move |v| {
                        slow(&v);
                        s2.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    })
                    .await
            }
            other => panic!("unknown variant {other}"),
        };
        r.unwrap();
        seen.load(std::sync::atomic::Ordering::Relaxed)
    });
    assert_eq!(count, n);
    println!(
        "{variant} {n} {} {:.2}",
        peak_rss_kib(),
        start.elapsed().as_secs_f64()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "child") {
        child(&args[i + 1], args[i + 2].parse().unwrap());
        return;
    }
    let exe = std::env::current_exe().unwrap();
    println!("| variant | items (1 KiB each) | peak RSS | time |");
    println!("|---|---|---|---|");
    for n in [25_000u64, 100_000, 400_000] {
        for variant in ["limit_rate", "unbounded"] {
            let out = Command::new(&exe)
                .args(["child", variant, &n.to_string()])
                .output()
                .expect("run the child");
            let text = String::from_utf8_lossy(&out.stdout);
            let line = text.lines().last().unwrap_or("");
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() == 4 {
                let kib: f64 = f[2].parse().unwrap_or(0.0);
                println!(
                    "| `{}` | {} | {:.1} MiB | {} s |",
                    if variant == "limit_rate" {
                        "subscribe_on.limit_rate(256).publish_on"
                    } else {
                        "subscribe_on.on_backpressure_buffer(usize::MAX).publish_on"
                    },
                    f[1],
                    kib / 1024.0,
                    f[3]
                );
            } else {
                println!(
                    "| {variant} | {n} | failed: {} |",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
}
