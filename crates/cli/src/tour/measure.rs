//! What a tour child measures with: resident memory from `/proc/self/status`, a sampler thread
//! that records memory and an in-flight gauge over time, drop-counted units, and percentiles.
//!
//! Every figure of the tour is one of these, taken inside the child process that ran one
//! (model, workload) pair, so no other model's memory is in it.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One line of `/proc/self/status`, in bytes (the kernel writes it in kB). 0 where unavailable
/// (not Linux): the report then shows memory as unmeasured.
fn status_field(name: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Resident set size now (`VmRSS`), in bytes.
pub fn rss() -> u64 {
    status_field("VmRSS:")
}

/// The process's peak resident set size so far (`VmHWM`), in bytes.
pub fn hwm() -> u64 {
    status_field("VmHWM:")
}

/// A counter that can go up and down, and remembers its maximum (e.g. requests in flight, items
/// queued between a producer and a consumer).
#[derive(Debug, Default)]
pub struct Gauge {
    now: AtomicI64,
    max: AtomicI64,
}

impl Gauge {
    pub fn add(&self, n: i64) {
        // Relaxed: a statistic; nothing is published through it.
        let v = self.now.fetch_add(n, Relaxed) + n;
        self.max.fetch_max(v, Relaxed);
    }

    pub fn get(&self) -> i64 {
        self.now.load(Relaxed)
    }

    pub fn max(&self) -> i64 {
        self.max.load(Relaxed)
    }
}

/// Counts live [`Unit`]s: each unit of work in the cancellation and parking workloads holds one,
/// so "every unit has stopped and released its memory" is `live() == 0`.
#[derive(Clone, Debug, Default)]
pub struct Live(Arc<AtomicUsize>);

impl Live {
    pub fn unit(&self) -> Unit {
        // Relaxed: the count is read after a join or by polling; the drops it counts are
        // published by the runtime's own synchronization (join, scope exit).
        self.0.fetch_add(1, Relaxed);
        Unit {
            live: self.0.clone(),
            _state: [0; 8],
        }
    }

    pub fn live(&self) -> usize {
        self.0.load(Relaxed)
    }

    /// Polls until no unit is live, or `limit` passes; returns how long it took.
    pub fn wait_zero(&self, limit: Duration) -> Duration {
        let start = Instant::now();
        while self.live() > 0 && start.elapsed() < limit {
            std::thread::sleep(Duration::from_micros(50));
        }
        start.elapsed()
    }
}

/// A unit's state: 64 bytes, counted while alive.
#[derive(Debug)]
pub struct Unit {
    live: Arc<AtomicUsize>,
    _state: [u64; 8],
}

impl Drop for Unit {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Relaxed);
    }
}

/// One sample: milliseconds since the sampler started, resident bytes, gauge value.
pub type Point = [f64; 3];

/// Samples `VmRSS` and a gauge every `every` on its own thread until stopped.
#[derive(Debug)]
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<Point>>>,
}

impl Sampler {
    pub fn start(every: Duration, gauge: Arc<Gauge>) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let start = Instant::now();
            let mut points = Vec::new();
            loop {
                let done = s.load(Relaxed);
                points.push([
                    start.elapsed().as_secs_f64() * 1e3,
                    rss() as f64,
                    gauge.get() as f64,
                ]);
                if done {
                    return points;
                }
                std::thread::sleep(every);
            }
        });
        Sampler {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops sampling (after one last sample) and returns the series.
    pub fn finish(mut self) -> Vec<Point> {
        self.stop.store(true, Relaxed);
        self.thread
            .take()
            .map(|t| t.join().unwrap_or_default())
            .unwrap_or_default()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
    }
}

/// The `q` quantile (0..=1) of sorted durations, in milliseconds (nearest rank).
pub fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e3
}

/// Polls `done` every 100 µs until it is true or `limit` passes.
pub fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_nearest_rank() {
        let d: Vec<_> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(quantile_ms(&d, 0.5), 50.0);
        assert_eq!(quantile_ms(&d, 0.99), 99.0);
        assert_eq!(quantile_ms(&d, 1.0), 100.0);
        assert!(quantile_ms(&[], 0.5).is_nan());
    }

    #[test]
    fn live_counts_units() {
        let live = Live::default();
        let units: Vec<_> = (0..3).map(|_| live.unit()).collect();
        assert_eq!(live.live(), 3);
        drop(units);
        assert_eq!(live.live(), 0);
    }

    #[test]
    fn gauge_remembers_its_maximum() {
        let g = Gauge::default();
        g.add(3);
        g.add(-2);
        g.add(1);
        assert_eq!((g.get(), g.max()), (2, 3));
    }

    #[test]
    fn memory_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            // RSS first: the high-water mark read after it can only be higher (other tests in
            // this process allocate meanwhile).
            let r = rss();
            let h = hwm();
            assert!(r > 0 && h >= r, "rss {r}, hwm {h}");
        }
    }
}
