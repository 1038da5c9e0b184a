//! A small benchmark harness shared by the fiber benchmarks: runs each contender in turn (A, B,
//! A, B, ... so drift on a shared machine hits both alike), keeps the median, prints ratios, and
//! runs Go programs when `go` is installed.

#![allow(dead_code)]

use std::time::Duration;

/// One contender: a name and a run that returns the time of `ops` operations.
pub struct Contender<'a> {
    pub name: &'static str,
    pub run: Box<dyn FnMut() -> Duration + 'a>,
}

/// Runs every contender `rounds` times, interleaved; returns the median ns per op of each.
///
/// `BENCH_ONLY=<substring>` runs only the matching contenders (for profiling one of them).
pub fn compare(title: &str, ops: u64, rounds: usize, contenders: &mut [Contender<'_>]) -> Vec<f64> {
    if let Ok(only) = std::env::var("BENCH_ONLY") {
        for c in contenders.iter_mut().filter(|c| c.name.contains(&only)) {
            for _ in 0..rounds {
                let t = (c.run)();
                println!("{}: {:.1} ns/op", c.name, t.as_nanos() as f64 / ops as f64);
            }
        }
        return vec![f64::NAN; contenders.len()];
    }
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); contenders.len()];
    // One warm-up round, not counted.
    for c in contenders.iter_mut() {
        (c.run)();
    }
    for _ in 0..rounds {
        for (i, c) in contenders.iter_mut().enumerate() {
            let t = (c.run)();
            samples[i].push(t.as_nanos() as f64 / ops as f64);
        }
    }
    let medians: Vec<f64> = samples
        .iter_mut()
        .map(|s| {
            s.sort_by(|a, b| a.partial_cmp(b).unwrap());
            s[s.len() / 2]
        })
        .collect();
    println!("\n{title} ({ops} ops per run, median of {rounds} interleaved runs)");
    let base = medians[0];
    for (c, m) in contenders.iter().zip(&medians) {
        println!(
            "  {:<44} {:>10.1} ns/op   {:>6.2}x of {}",
            c.name,
            m,
            m / base,
            contenders[0].name
        );
    }
    medians
}

/// Prints one more row (e.g. Go, measured by its own program) against `base`.
pub fn extra_row(name: &str, ns: f64, base_name: &str, base: f64) {
    println!(
        "  {name:<44} {ns:>10.1} ns/op   {:>6.2}x of {base_name}",
        ns / base
    );
}

/// True if a `go` toolchain is on `PATH`.
pub fn go_available() -> bool {
    std::process::Command::new("go")
        .arg("version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Builds and runs a Go program; returns its stdout.
pub fn run_go(name: &str, source: &str, args: &[&str]) -> Option<String> {
    let dir = std::env::temp_dir().join(format!("spectrum-fiber-bench-{name}"));
    std::fs::create_dir_all(&dir).ok()?;
    std::fs::write(dir.join("main.go"), source).ok()?;
    let bin = dir.join(name);
    let built = std::process::Command::new("go")
        .args(["build", "-o"])
        .arg(&bin)
        .arg("main.go")
        .current_dir(&dir)
        .env("GO111MODULE", "off")
        .status()
        .ok()?;
    if !built.success() {
        return None;
    }
    let out = std::process::Command::new(&bin).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Reads a `/proc/self/status` field in KiB (`VmRSS`, `VmPTE`, ...).
pub fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Says where a missing peer would have been.
pub fn no_go() {
    println!("  (Go: not measured, no `go` on PATH; install golang-go to add it to this table)");
}
