//! The tour's five workloads: their sizes per profile, what each measures, and the record a child
//! process prints for one (model, workload) run.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::measure::Point;

/// The workloads, in the order the tour runs and prints them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// 1. A request handler calls 10 simulated backends and combines the answers.
    FanOut,
    /// 2. N TCP clients over loopback to an echo server written in the model.
    Connections,
    /// 3. A fast producer into a slow consumer through the model's own mechanism.
    PipelineBounded,
    /// 3b. The same pipeline without a bound: the pitfall, shown growing.
    PipelineUnbounded,
    /// 4. Start N units under a scope (or the model's equivalent), cancel, time until all stopped.
    Cancel,
    /// 5a. Create and join N units.
    Spawn,
    /// 5b. N units parked at once: resident memory per unit.
    Parked,
}

impl Workload {
    pub const ALL: [Workload; 7] = [
        Workload::FanOut,
        Workload::Connections,
        Workload::PipelineBounded,
        Workload::PipelineUnbounded,
        Workload::Cancel,
        Workload::Spawn,
        Workload::Parked,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Workload::FanOut => "fan-out",
            Workload::Connections => "connections",
            Workload::PipelineBounded => "pipeline-bounded",
            Workload::PipelineUnbounded => "pipeline-unbounded",
            Workload::Cancel => "cancel",
            Workload::Spawn => "spawn",
            Workload::Parked => "parked",
        }
    }

    pub fn from_id(id: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.id() == id)
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// Every size the workloads use. Caps for fibers and threads are separate fields so the report
/// can say exactly how many of each ran.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Sizes {
    pub profile: String,
    /// Fan-out: concurrent requests (all started at once), backends per request, and the
    /// backend delay range in milliseconds (a timer; jitter is a hash of request and backend).
    pub fanout_requests: usize,
    pub fanout_backends: usize,
    pub fanout_delay_ms: (u64, u64),
    /// Fan-out, thread row: the bounded pool's size (the runtime's blocking pool bound).
    pub fanout_pool: usize,
    /// Connections: clients, echo round trips per client, bytes per message.
    pub conn_clients: usize,
    pub conn_rounds: usize,
    pub conn_bytes: usize,
    /// Pipeline: items, the bound, bytes per item, and the consumer's rate (items per ms).
    pub pipe_items: usize,
    pub pipe_cap: usize,
    pub pipe_bytes: usize,
    pub pipe_rate_per_ms: usize,
    /// Cancellation: units (fibers and threads capped).
    pub cancel_units: usize,
    pub cancel_fibers: usize,
    pub cancel_threads: usize,
    /// Spawn + join: units (fibers and threads capped).
    pub spawn_units: usize,
    pub spawn_fibers: usize,
    pub spawn_threads: usize,
    /// Parked at once: units (fibers and threads capped).
    pub parked_units: usize,
    pub parked_fibers: usize,
    pub parked_threads: usize,
}

impl Sizes {
    /// `profile`: "quick", "default" or "full"; `scale` multiplies every count (tests use a
    /// small one).
    pub fn new(profile: &str, scale: f64) -> Sizes {
        let mut s = match profile {
            "quick" => Sizes {
                profile: "quick".into(),
                fanout_requests: 2_000,
                fanout_backends: 10,
                fanout_delay_ms: (1, 5),
                fanout_pool: 512,
                conn_clients: 200,
                conn_rounds: 20,
                conn_bytes: 1024,
                pipe_items: 10_000,
                pipe_cap: 64,
                pipe_bytes: 1024,
                pipe_rate_per_ms: 100,
                cancel_units: 20_000,
                cancel_fibers: 5_000,
                cancel_threads: 200,
                spawn_units: 100_000,
                spawn_fibers: 10_000,
                spawn_threads: 1_000,
                parked_units: 20_000,
                parked_fibers: 5_000,
                parked_threads: 200,
            },
            "full" => Sizes {
                profile: "full".into(),
                fanout_requests: 100_000,
                conn_clients: 5_000,
                conn_rounds: 50,
                pipe_items: 300_000,
                cancel_units: 1_000_000,
                cancel_fibers: 30_000,
                cancel_threads: 5_000,
                // 2M: a channel unit peaks near 2 KiB, so 10M would need ~20 GB.
                spawn_units: 2_000_000,
                spawn_fibers: 1_000_000,
                spawn_threads: 50_000,
                parked_units: 1_000_000,
                parked_fibers: 30_000,
                parked_threads: 5_000,
                ..Sizes::new("default", 1.0)
            },
            _ => Sizes {
                profile: "default".into(),
                fanout_requests: 10_000,
                fanout_backends: 10,
                fanout_delay_ms: (1, 5),
                fanout_pool: 512,
                conn_clients: 2_000,
                conn_rounds: 50,
                conn_bytes: 1024,
                pipe_items: 100_000,
                pipe_cap: 64,
                pipe_bytes: 1024,
                pipe_rate_per_ms: 100,
                cancel_units: 100_000,
                cancel_fibers: 20_000,
                cancel_threads: 1_000,
                spawn_units: 1_000_000,
                spawn_fibers: 100_000,
                spawn_threads: 10_000,
                parked_units: 100_000,
                parked_fibers: 20_000,
                parked_threads: 1_000,
            },
        };
        if scale != 1.0 {
            let f = |n: &mut usize| *n = ((*n as f64 * scale).round() as usize).max(2);
            for n in [
                &mut s.fanout_requests,
                &mut s.conn_clients,
                &mut s.pipe_items,
                &mut s.cancel_units,
                &mut s.cancel_fibers,
                &mut s.cancel_threads,
                &mut s.spawn_units,
                &mut s.spawn_fibers,
                &mut s.spawn_threads,
                &mut s.parked_units,
                &mut s.parked_fibers,
                &mut s.parked_threads,
            ] {
                f(n);
            }
            s.conn_rounds = ((s.conn_rounds as f64 * scale).round() as usize).max(2);
            s.profile = format!("{} x{scale}", s.profile);
        }
        s
    }

    /// The backend delay for `(request, backend)`: a fixed pseudo-random jitter in
    /// `fanout_delay_ms`, identical for every model.
    pub fn backend_delay(&self, request: usize, backend: usize) -> std::time::Duration {
        let (lo, hi) = self.fanout_delay_ms;
        let mut h = (request as u64) << 8 | backend as u64;
        // splitmix64's finalizer: a cheap, well-mixed hash.
        h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        h ^= h >> 31;
        std::time::Duration::from_millis(lo + h % (hi - lo + 1))
    }

    /// A backend's answer; the handler returns their sum, checked against [`Sizes::expected_sum`].
    pub fn backend_answer(request: usize, backend: usize) -> u64 {
        (request * 16 + backend) as u64
    }

    pub fn expected_sum(&self, request: usize) -> u64 {
        (0..self.fanout_backends)
            .map(|b| Sizes::backend_answer(request, b))
            .sum()
    }
}

/// Memory around one run, in bytes: `VmRSS` just before the workload started (runtime built),
/// the process's `VmHWM` (peak) at the end, and `VmRSS` at the end.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Mem {
    pub baseline: u64,
    pub peak: u64,
    pub end: u64,
}

/// What a child prints (one JSON line) for one (model, workload) run.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Sample {
    pub model: String,
    pub workload: String,
    /// How many units actually ran (after the fiber and thread caps).
    pub units: usize,
    /// Named figures; [`METRICS`] says what each is.
    pub metrics: BTreeMap<String, f64>,
    pub mem: Mem,
    /// `[ms, VmRSS bytes, gauge]` over time (pipelines: the gauge is items queued).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<Point>,
    /// Anything the reader needs to interpret the numbers (caps, approximations).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    /// Wall time of the child's workload.
    pub wall_s: f64,
    /// Set when the run failed; the parent fills it from the child's exit and stderr too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Sample {
    pub fn metric(&self, key: &str) -> Option<f64> {
        self.metrics.get(key).copied().filter(|v| v.is_finite())
    }
}

/// A metric's meaning, for the tables and the report.
#[derive(Debug)]
pub struct Metric {
    pub key: &'static str,
    pub label: &'static str,
    pub unit: Unit,
    pub what: &'static str,
}

/// How a metric's value prints.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unit {
    PerSecond,
    Millis,
    Nanos,
    Bytes,
    Count,
}

impl Unit {
    pub fn format(self, v: f64) -> String {
        if !v.is_finite() {
            return "—".into();
        }
        match self {
            Unit::PerSecond if v >= 1e6 => format!("{:.2} M/s", v / 1e6),
            Unit::PerSecond if v >= 1e4 => format!("{:.0} k/s", v / 1e3),
            Unit::PerSecond if v >= 1e3 => format!("{:.1} k/s", v / 1e3),
            Unit::PerSecond => format!("{v:.0} /s"),
            Unit::Millis if v >= 1000.0 => format!("{:.2} s", v / 1e3),
            Unit::Millis if v >= 10.0 => format!("{v:.0} ms"),
            Unit::Millis if v >= 1.0 => format!("{v:.1} ms"),
            Unit::Millis => format!("{v:.2} ms"),
            Unit::Nanos if v >= 10_000.0 => format!("{:.1} µs", v / 1e3),
            Unit::Nanos => format!("{v:.0} ns"),
            Unit::Bytes => format_bytes(v),
            Unit::Count => format!("{v:.0}"),
        }
    }
}

pub fn format_bytes(v: f64) -> String {
    let a = v.abs();
    if a >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2} GiB", v / (1024.0 * 1024.0 * 1024.0))
    } else if a >= 10.0 * 1024.0 * 1024.0 {
        format!("{:.0} MiB", v / (1024.0 * 1024.0))
    } else if a >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", v / (1024.0 * 1024.0))
    } else if a >= 10.0 * 1024.0 {
        format!("{:.0} KiB", v / 1024.0)
    } else if a >= 1024.0 {
        format!("{:.1} KiB", v / 1024.0)
    } else {
        format!("{v:.0} B")
    }
}

/// Every metric a child may report, by workload.
pub const METRICS: &[(Workload, Metric)] = &[
    (Workload::FanOut, Metric { key: "throughput", label: "throughput", unit: Unit::PerSecond, what: "requests completed per second of wall time, all requests started at once" }),
    (Workload::FanOut, Metric { key: "p50_ms", label: "p50 latency", unit: Unit::Millis, what: "median time from a request's start to its combined answer" }),
    (Workload::FanOut, Metric { key: "p99_ms", label: "p99 latency", unit: Unit::Millis, what: "99th percentile of the same" }),
    (Workload::FanOut, Metric { key: "peak_bytes", label: "peak memory", unit: Unit::Bytes, what: "VmHWM (peak resident memory) minus VmRSS just before the workload" }),
    (Workload::FanOut, Metric { key: "bytes_per_inflight", label: "memory / in-flight request", unit: Unit::Bytes, what: "peak memory divided by the most requests in flight at once" }),
    (Workload::FanOut, Metric { key: "max_inflight", label: "max in flight", unit: Unit::Count, what: "most requests started and not yet answered at one time" }),
    (Workload::Connections, Metric { key: "bytes_per_conn", label: "memory / connection", unit: Unit::Bytes, what: "server process VmRSS with every client connected and idle, minus VmRSS before the first, per connection (the clients run in another process)" }),
    (Workload::Connections, Metric { key: "roundtrips", label: "throughput", unit: Unit::PerSecond, what: "echo round trips per second, all clients at once" }),
    (Workload::Connections, Metric { key: "connect_ms", label: "connect all", unit: Unit::Millis, what: "time for every client to connect and complete a first round trip" }),
    (Workload::PipelineBounded, Metric { key: "peak_bytes", label: "peak memory", unit: Unit::Bytes, what: "VmHWM minus VmRSS just before the pipeline started" }),
    (Workload::PipelineBounded, Metric { key: "max_queued", label: "max queued", unit: Unit::Count, what: "most items produced and not yet consumed at one time" }),
    (Workload::PipelineBounded, Metric { key: "items_per_s", label: "throughput", unit: Unit::PerSecond, what: "items through the consumer per second" }),
    (Workload::PipelineUnbounded, Metric { key: "peak_bytes", label: "peak memory", unit: Unit::Bytes, what: "VmHWM minus VmRSS just before the pipeline started" }),
    (Workload::PipelineUnbounded, Metric { key: "max_queued", label: "max queued", unit: Unit::Count, what: "most items produced and not yet consumed at one time" }),
    (Workload::PipelineUnbounded, Metric { key: "items_per_s", label: "throughput", unit: Unit::PerSecond, what: "items through the consumer per second" }),
    (Workload::Cancel, Metric { key: "cancel_ms", label: "cancel → all stopped", unit: Unit::Millis, what: "from the cancel call until every unit has stopped and dropped its state (a drop counter reaches 0)" }),
    (Workload::Cancel, Metric { key: "bytes_per_unit", label: "memory / running unit", unit: Unit::Bytes, what: "VmRSS with every unit started, minus VmRSS before, per unit" }),
    (Workload::Cancel, Metric { key: "left", label: "units left", unit: Unit::Count, what: "units whose state was not dropped 10 s after the cancel (should be 0)" }),
    (Workload::Spawn, Metric { key: "ns_per_unit", label: "spawn + join", unit: Unit::Nanos, what: "wall time to create every unit and then join every one, per unit" }),
    (Workload::Spawn, Metric { key: "peak_bytes_per_unit", label: "peak memory / unit", unit: Unit::Bytes, what: "VmHWM minus baseline, per unit (all were alive at once before the joins)" }),
    (Workload::Parked, Metric { key: "bytes_per_unit", label: "memory / parked unit", unit: Unit::Bytes, what: "VmRSS with every unit parked (waiting on something that never happens), minus VmRSS before, per unit; first thing in a fresh process" }),
];

pub fn metric(workload: Workload, key: &str) -> Option<&'static Metric> {
    METRICS
        .iter()
        .find(|(w, m)| *w == workload && m.key == key)
        .map(|(_, m)| m)
}

/// What the workload is, in the report's words (each model's own version is in its `Info`).
pub fn describe(w: Workload, s: &Sizes) -> String {
    match w {
        Workload::FanOut => format!(
            "A request handler calls {} simulated backends concurrently (each a timer of {}–{} ms: \
             the same pseudo-random jitter per request and backend for every model) and sums their \
             answers; {} requests are started at once. The thread row blocks in `std::thread::sleep` \
             (one backend after another), the others wait on Spectrum's timer wheel.",
            s.fanout_backends, s.fanout_delay_ms.0, s.fanout_delay_ms.1, s.fanout_requests
        ),
        Workload::Connections => format!(
            "{} TCP clients (Spectrum async tasks in a separate client process, so the server's \
             memory is the server's alone) connect over loopback to an echo server written in the \
             model, each does a first round trip, then all do {} round trips of {} bytes at once.",
            s.conn_clients, s.conn_rounds, s.conn_bytes
        ),
        Workload::PipelineBounded | Workload::PipelineUnbounded => format!(
            "A producer makes {} items of {} bytes as fast as it can; the consumer takes {} items per \
             millisecond (item k no earlier than k / {} ms after the start; it sleeps whenever it \
             is 1 ms or more ahead). Bounded: the model's own mechanism holds the producer back \
             at {} items. Unbounded: the same code without the bound, the pitfall: everything \
             produced waits in memory.",
            s.pipe_items, s.pipe_bytes, s.pipe_rate_per_ms, s.pipe_rate_per_ms, s.pipe_cap
        ),
        Workload::Cancel => format!(
            "Start {} units (fibers capped at {}, threads at {}), each parked holding 64 bytes of \
             drop-counted state, under the model's scope or equivalent; once all have started, \
             cancel, and time until every unit has stopped and dropped its state.",
            s.cancel_units, s.cancel_fibers, s.cancel_threads
        ),
        Workload::Spawn => format!(
            "Create {} units (fibers capped at {}, threads at {}), each returning a number, then \
             join them all and check the sum.",
            s.spawn_units, s.spawn_fibers, s.spawn_threads
        ),
        Workload::Parked => format!(
            "Park {} units at once (fibers capped at {}, threads at {}), each waiting on something \
             that never happens, in a fresh process, and read resident memory.",
            s.parked_units, s.parked_fibers, s.parked_threads
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_workload_has_an_id_that_round_trips() {
        for w in Workload::ALL {
            assert_eq!(Workload::from_id(w.id()), Some(w));
        }
    }

    #[test]
    fn backend_delays_stay_in_range_and_vary() {
        let s = Sizes::new("default", 1.0);
        let ds: Vec<_> = (0..1000).map(|i| s.backend_delay(i, i % 10)).collect();
        assert!(ds.iter().all(|d| (1..=5).contains(&d.as_millis())));
        for ms in 1..=5 {
            assert!(
                ds.iter().any(|d| d.as_millis() == ms),
                "{ms} ms never drawn"
            );
        }
    }

    #[test]
    fn scale_shrinks_every_count() {
        let s = Sizes::new("quick", 0.1);
        assert_eq!(s.fanout_requests, 200);
        assert_eq!(s.spawn_threads, 100);
        assert!(s.profile.contains("quick"));
    }

    #[test]
    fn units_format_readably() {
        assert_eq!(Unit::Bytes.format(512.0), "512 B");
        assert_eq!(Unit::Bytes.format(4.0 * 1024.0 * 1024.0), "4.0 MiB");
        assert_eq!(Unit::Millis.format(0.5), "0.50 ms");
        assert_eq!(Unit::PerSecond.format(123_456.0), "123 k/s");
        assert_eq!(Unit::Nanos.format(f64::NAN), "—");
    }

    #[test]
    fn every_workload_has_metrics() {
        for w in Workload::ALL {
            assert!(METRICS.iter().any(|(mw, _)| *mw == w), "{w} has no metric");
        }
    }
}
