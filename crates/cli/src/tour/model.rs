//! The contract every model of the tour implements (one file per model under `models/`), and the
//! list of rows, including the models whose crates have not landed yet.
//!
//! Adding a model is one file: implement [`Model`] for it, describe what each workload does in
//! its [`Info`], and list it in [`ROWS`].

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use spectrum::scope::BoxError;
use spectrum::Runtime;

use super::measure::{Gauge, Live};
use super::models;
use super::workload::{Sizes, Workload};

/// What a model's run gets: its runtime (already entered by the child) and the sizes.
#[derive(Debug)]
pub struct Cx<'a> {
    pub rt: &'a Runtime,
    pub sizes: &'a Sizes,
}

/// A fan-out run: each request's latency, and the wall time of the whole run.
#[derive(Debug)]
pub struct FanOutRun {
    pub latencies: Vec<Duration>,
    pub total: Duration,
}

/// A cancellation run.
#[derive(Debug)]
pub struct CancelRun {
    /// `VmRSS` once every unit had started, in bytes.
    pub rss_started: u64,
    /// From the cancel call until every unit had stopped and dropped its state.
    pub stop: Duration,
}

/// One model of the tour: the same workloads, written the way that model writes them.
///
/// Every method runs inside a child process with the model's runtime entered; memory figures
/// are taken around the calls by the child (`child.rs`).
pub trait Model: Sync {
    fn info(&self) -> &'static Info;

    /// Runs `sizes.fanout_requests` requests at once; each calls `sizes.fanout_backends`
    /// backends (delays from [`Sizes::backend_delay`], answers from [`Sizes::backend_answer`]),
    /// checks the sum against [`Sizes::expected_sum`], and records its latency. `inflight` is
    /// raised when a request starts and lowered when it is answered.
    fn fan_out(&self, cx: &Cx<'_>, inflight: &Arc<Gauge>) -> Result<FanOutRun, BoxError>;

    /// Starts an echo server on `listener` (blocking, already bound) and returns; the server
    /// runs until the process exits. It echoes every byte it reads, per connection.
    fn echo_server(&self, cx: &Cx<'_>, listener: std::net::TcpListener) -> Result<(), BoxError>;

    /// Pushes `sizes.pipe_items` items of `sizes.pipe_bytes` bytes from a producer to a consumer
    /// that takes `sizes.pipe_rate_per_ms` items per millisecond, bounded at `sizes.pipe_cap` by
    /// the model's own mechanism, or (`bounded == false`) without any bound. `queued` counts items
    /// produced and not yet consumed. Returns when the consumer has taken the last item.
    fn pipeline(&self, cx: &Cx<'_>, bounded: bool, queued: &Arc<Gauge>) -> Result<(), BoxError>;

    /// Starts `n` units, each holding one of `live`'s units and parked; once all have started,
    /// reads `VmRSS`, cancels them the model's way, and times until `live` is back to zero.
    fn cancel(&self, cx: &Cx<'_>, n: usize, live: &Live) -> Result<CancelRun, BoxError>;

    /// Creates `n` units that each return their index, then joins them all; checks the sum.
    fn spawn_join(&self, cx: &Cx<'_>, n: usize) -> Result<(), BoxError>;

    /// Parks `n` units (each holding one of `live`'s units) and returns once all are parked,
    /// with a guard whose drop releases them.
    fn parked(&self, cx: &Cx<'_>, n: usize, live: &Live) -> Result<Box<dyn Any>, BoxError>;
}

/// A cheat-sheet property and the tests in this repository that demonstrate it.
#[derive(Debug)]
pub struct Prop {
    pub value: &'static str,
    /// `crates/<crate>/tests/<file>.rs::<test fn>`; empty when no test demonstrates it.
    pub tests: &'static [&'static str],
}

/// A row of the cheat sheet: the model, its surface, its properties, and what its version of
/// each workload does.
#[derive(Debug)]
pub struct Info {
    pub id: &'static str,
    pub name: &'static str,
    /// The Spectrum API the row uses.
    pub surface: &'static str,
    /// The seed's "stack cost" words (the tour measures the number).
    pub stack_cost: &'static str,
    pub sync_style: Prop,
    pub cancellation: Prop,
    pub backpressure: Prop,
    pub fan_out: &'static str,
    pub connections: &'static str,
    pub pipeline_bounded: &'static str,
    pub pipeline_unbounded: &'static str,
    pub cancel: &'static str,
    pub spawn: &'static str,
    pub parked: &'static str,
}

impl Info {
    /// What this model's version of `w` does, in the report's words.
    pub fn does(&self, w: Workload) -> &'static str {
        match w {
            Workload::FanOut => self.fan_out,
            Workload::Connections => self.connections,
            Workload::PipelineBounded => self.pipeline_bounded,
            Workload::PipelineUnbounded => self.pipeline_unbounded,
            Workload::Cancel => self.cancel,
            Workload::Spawn => self.spawn,
            Workload::Parked => self.parked,
        }
    }

    /// The unit cap that applies to this model for a workload of `n` units (fibers and threads
    /// are capped; see [`Sizes`]).
    pub fn cap(&self, w: Workload, s: &Sizes) -> usize {
        let (all, fibers, threads) = match w {
            Workload::Cancel => (s.cancel_units, s.cancel_fibers, s.cancel_threads),
            Workload::Spawn => (s.spawn_units, s.spawn_fibers, s.spawn_threads),
            Workload::Parked => (s.parked_units, s.parked_fibers, s.parked_threads),
            _ => return 0,
        };
        match self.id {
            "fibers" => fibers.min(all),
            "threads" => threads.min(all),
            _ => all,
        }
    }
}

/// A row of the tour: a model that runs, or one whose crate has not landed.
#[derive(Clone, Copy)]
pub enum Row {
    Ready(&'static dyn Model),
    /// No row is one now that every model's crate has landed; kept so that a model can be
    /// listed before its crate lands (the report renders such rows, also from saved JSON).
    #[allow(dead_code)]
    NotYet {
        id: &'static str,
        name: &'static str,
        surface: &'static str,
        why: &'static str,
        /// The seed's cheat-sheet words for the row, shown until it is measured.
        sync_style: &'static str,
        cancellation: &'static str,
        backpressure: &'static str,
    },
}

impl Row {
    pub fn id(&self) -> &'static str {
        match self {
            Row::Ready(m) => m.info().id,
            Row::NotYet { id, .. } => id,
        }
    }
}

impl std::fmt::Debug for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

/// The rows, in the seed's cheat-sheet order.
pub const ROWS: &[Row] = &[
    Row::Ready(&models::threads::Threads),
    Row::Ready(&models::callbacks::Callbacks),
    Row::Ready(&models::promises::Promises),
    Row::Ready(&models::tasks::Tasks),
    Row::Ready(&models::fibers::Fibers),
    Row::Ready(&models::actors::Actors),
    Row::Ready(&models::channels::Channels),
    Row::Ready(&models::streams::Streams),
];

pub fn find(id: &str) -> Option<&'static dyn Model> {
    ROWS.iter().find_map(|r| match r {
        Row::Ready(m) if m.info().id == id => Some(*m),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every test the report links to exists in this repository, so the links stay honest.
    #[test]
    fn every_linked_test_exists() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for row in ROWS {
            let Row::Ready(m) = row else { continue };
            let i = m.info();
            for t in [&i.sync_style, &i.cancellation, &i.backpressure]
                .iter()
                .flat_map(|p| p.tests.iter())
            {
                let (path, func) = t.split_once("::").expect("path::fn");
                let src = std::fs::read_to_string(root.join(path))
                    .unwrap_or_else(|e| panic!("{}: {path}: {e}", i.id));
                // A test fn, or one generated by a macro invocation (`rules_test!(name, ..)`).
                assert!(
                    src.contains(&format!("fn {func}(")) || src.contains(&format!("!({func},")),
                    "{}: {path} has no test `{func}`",
                    i.id
                );
            }
        }
    }

    #[test]
    fn row_ids_are_unique_and_findable() {
        let ids: Vec<_> = ROWS.iter().map(Row::id).collect();
        let mut dedup = ids.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(ids.len(), dedup.len());
        for r in ROWS {
            assert_eq!(find(r.id()).is_some(), matches!(r, Row::Ready(_)));
        }
    }

    #[test]
    fn caps_apply_to_fibers_and_threads_only() {
        let s = Sizes::new("default", 1.0);
        let f = find("fibers").unwrap().info();
        let t = find("tasks").unwrap().info();
        assert_eq!(f.cap(Workload::Spawn, &s), 100_000);
        assert_eq!(t.cap(Workload::Spawn, &s), 1_000_000);
        assert_eq!(
            find("threads").unwrap().info().cap(Workload::Parked, &s),
            1_000
        );
    }
}
