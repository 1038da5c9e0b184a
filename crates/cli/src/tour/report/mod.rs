//! Turning a [`Report`] into tables: the same cells for the terminal and the HTML page.

pub mod html;
mod svg;
pub mod terminal;

use super::workload::{metric, Sample, Workload};
use super::{Report, RowInfo};

/// One table: a title, a line saying what it is, a header and rows of cells.
#[derive(Debug)]
pub struct Table {
    pub title: String,
    pub about: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// A formatted metric, or why there is none.
pub fn cell(r: &Report, model: &str, w: Workload, key: &str) -> String {
    match r.sample(model, w) {
        None => "—".into(),
        Some(s) if s.error.is_some() => "failed".into(),
        Some(s) => match (s.metric(key), metric(w, key)) {
            (Some(v), Some(m)) => m.unit.format(v),
            _ => "—".into(),
        },
    }
}

/// "N units" where a cap made the count differ from the other rows'.
fn units(r: &Report, model: &str, w: Workload) -> String {
    r.sample(model, w)
        .filter(|s| s.error.is_none())
        .map_or("—".into(), |s| thousands(s.units))
}

pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn available(r: &Report) -> impl Iterator<Item = &RowInfo> {
    r.rows.iter().filter(|row| row.available)
}

fn not_yet(row: &RowInfo) -> Vec<String> {
    vec![row.name.clone(), "not yet available".into()]
}

/// The seed's cheat sheet with measured columns.
pub fn cheat_sheet(r: &Report) -> Table {
    let s = &r.sizes;
    let rows = r
        .rows
        .iter()
        .map(|row| {
            if !row.available {
                return vec![
                    row.name.clone(),
                    "not yet available".into(),
                    row.sync_style.value.clone(),
                    format!("{} (not yet available)", row.cancellation.value),
                    format!("{} (not yet available)", row.backpressure.value),
                ];
            }
            let id = row.id.as_str();
            vec![
                row.name.clone(),
                format!(
                    "{} ({} parked)",
                    cell(r, id, Workload::Parked, "bytes_per_unit"),
                    units(r, id, Workload::Parked)
                ),
                row.sync_style.value.clone(),
                format!(
                    "{}: {} units stopped in {}",
                    row.cancellation.value,
                    units(r, id, Workload::Cancel),
                    cell(r, id, Workload::Cancel, "cancel_ms")
                ),
                format!(
                    "{}: peak {} bounded vs {} unbounded",
                    row.backpressure.value,
                    cell(r, id, Workload::PipelineBounded, "peak_bytes"),
                    cell(r, id, Workload::PipelineUnbounded, "peak_bytes")
                ),
            ]
        })
        .collect();
    Table {
        title: "The cheat sheet, measured".into(),
        about: format!(
            "The seed's cheat sheet; the numbers come from this run ({} sizes). Stack cost = \
             resident memory per parked unit; cancellation = time from the cancel until every unit \
             has stopped and dropped its state; backpressure = peak memory of a fast producer into \
             a slow consumer ({} items of {} B), with and without the model's bound.",
            s.profile, s.pipe_items, s.pipe_bytes
        ),
        header: [
            "Model",
            "Stack cost (memory / parked unit)",
            "Sync-style code",
            "Cancellation",
            "Backpressure",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    }
}

/// Models ranked by a metric (best first), as "name value" strings.
fn ranked(r: &Report, w: Workload, key: &str, higher_is_better: bool) -> String {
    let mut v: Vec<(f64, &str)> = available(r)
        .filter_map(|row| r.metric(&row.id, w, key).map(|m| (m, row.name.as_str())))
        .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    if higher_is_better {
        v.reverse();
    }
    let unit = metric(w, key).map(|m| m.unit);
    v.iter()
        .map(|(m, n)| format!("{n} {}", unit.map_or(String::new(), |u| u.format(*m))))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// The seed's "Picking a model" table with what this run measured for each need.
pub fn picking(r: &Report) -> Table {
    let has = |id: &str| r.rows.iter().any(|row| row.id == id && row.available);
    // Why a row has no figures: its crate had not landed, or `--models` left it out.
    let missing = |id: &str| {
        if r.rows.iter().any(|row| row.id == id) {
            "not yet available"
        } else {
            "not in this run"
        }
    };
    let rows = vec![
        vec![
            "Server that fans out to many backends".into(),
            "async/await or coroutines".into(),
            format!(
                "fan-out throughput: {}",
                ranked(r, Workload::FanOut, "throughput", true)
            ),
        ],
        vec![
            "Highly concurrent connection-per-user (chat, WS)".into(),
            "coroutines or virtual threads".into(),
            format!(
                "memory / connection: {}",
                ranked(r, Workload::Connections, "bytes_per_conn", false)
            ),
        ],
        vec![
            "Pipeline with backpressure".into(),
            "reactive streams".into(),
            format!(
                "bounded pipeline peak memory: {}{}",
                ranked(r, Workload::PipelineBounded, "peak_bytes", false),
                if has("streams") {
                    String::new()
                } else {
                    format!(" (reactive streams: {})", missing("streams"))
                }
            ),
        ],
        vec![
            "Isolated, supervised processes".into(),
            "actors".into(),
            if has("actors") {
                format!(
                    "actor row: memory / idle actor {}; a scope of {} actors stopped in {}; \
                     supervision is tested, not timed (see the actor row's tests)",
                    cell(r, "actors", Workload::Parked, "bytes_per_unit"),
                    units(r, "actors", Workload::Cancel),
                    cell(r, "actors", Workload::Cancel, "cancel_ms")
                )
            } else {
                format!("actors: {}", missing("actors"))
            },
        ],
        vec![
            "Simple CRUD with low concurrency".into(),
            "threads + blocking is fine".into(),
            format!(
                "thread row: fan-out p50 {} (best {}) at {} concurrent requests; spawn + join {} \
                 per thread",
                cell(r, "threads", Workload::FanOut, "p50_ms"),
                ranked(r, Workload::FanOut, "p50_ms", false)
                    .split(" · ")
                    .next()
                    .unwrap_or("—"),
                thousands(r.sizes.fanout_requests),
                cell(r, "threads", Workload::Spawn, "ns_per_unit"),
            ),
        ],
    ];
    Table {
        title: "Picking a model, measured".into(),
        about: "The seed's table, with this run's figures for each need (best first).".into(),
        header: ["Need", "Seed's pick", "Measured (best first)"]
            .map(String::from)
            .to_vec(),
        rows,
    }
}

/// The detailed table of one workload section.
pub fn section(r: &Report, which: usize) -> Table {
    let s = &r.sizes;
    let (title, cols): (String, Vec<(Workload, &str)>) = match which {
        1 => (
            format!(
                "1. Fan-out server: {} requests × {} backends ({}–{} ms timers)",
                thousands(s.fanout_requests),
                s.fanout_backends,
                s.fanout_delay_ms.0,
                s.fanout_delay_ms.1
            ),
            vec![
                (Workload::FanOut, "throughput"),
                (Workload::FanOut, "p50_ms"),
                (Workload::FanOut, "p99_ms"),
                (Workload::FanOut, "peak_bytes"),
                (Workload::FanOut, "bytes_per_inflight"),
                (Workload::FanOut, "max_inflight"),
            ],
        ),
        2 => (
            format!(
                "2. Connection per user: {} TCP clients × {} echo round trips of {} B",
                thousands(s.conn_clients),
                s.conn_rounds,
                s.conn_bytes
            ),
            vec![
                (Workload::Connections, "bytes_per_conn"),
                (Workload::Connections, "roundtrips"),
                (Workload::Connections, "connect_ms"),
            ],
        ),
        3 => (
            format!(
                "3. Pipeline with backpressure: {} items × {} B, consumer {} items/ms, bound {}",
                thousands(s.pipe_items),
                s.pipe_bytes,
                s.pipe_rate_per_ms,
                s.pipe_cap
            ),
            vec![
                (Workload::PipelineBounded, "peak_bytes"),
                (Workload::PipelineBounded, "max_queued"),
                (Workload::PipelineBounded, "items_per_s"),
                (Workload::PipelineUnbounded, "peak_bytes"),
                (Workload::PipelineUnbounded, "max_queued"),
                (Workload::PipelineUnbounded, "items_per_s"),
            ],
        ),
        4 => (
            format!(
                "4. Cancellation: {} units (fibers ≤ {}, threads ≤ {})",
                thousands(s.cancel_units),
                thousands(s.cancel_fibers),
                thousands(s.cancel_threads)
            ),
            vec![
                (Workload::Cancel, "units"),
                (Workload::Cancel, "cancel_ms"),
                (Workload::Cancel, "bytes_per_unit"),
                (Workload::Cancel, "left"),
            ],
        ),
        _ => (
            format!(
                "5. Spawn cost and stack cost: {} units (fibers ≤ {}, threads ≤ {}); {} parked",
                thousands(s.spawn_units),
                thousands(s.spawn_fibers),
                thousands(s.spawn_threads),
                thousands(s.parked_units)
            ),
            vec![
                (Workload::Spawn, "units"),
                (Workload::Spawn, "ns_per_unit"),
                (Workload::Spawn, "peak_bytes_per_unit"),
                (Workload::Parked, "units"),
                (Workload::Parked, "bytes_per_unit"),
            ],
        ),
    };
    let mut header = vec!["Model".to_string()];
    for (w, key) in &cols {
        let prefix = match w {
            Workload::PipelineBounded => "bounded: ",
            Workload::PipelineUnbounded => "unbounded: ",
            Workload::Parked => "parked: ",
            _ => "",
        };
        let label = if *key == "units" {
            "units".to_string()
        } else {
            metric(*w, key).map_or(key.to_string(), |m| m.label.to_string())
        };
        header.push(format!("{prefix}{label}"));
    }
    let rows = r
        .rows
        .iter()
        .map(|row| {
            if !row.available {
                return not_yet(row);
            }
            let mut cells = vec![row.name.clone()];
            for (w, key) in &cols {
                cells.push(if *key == "units" {
                    units(r, &row.id, *w)
                } else {
                    cell(r, &row.id, *w, key)
                });
            }
            cells
        })
        .collect();
    Table {
        title,
        about: String::new(),
        header,
        rows,
    }
}

/// The workloads a section's table shows.
pub fn section_workloads(which: usize) -> &'static [Workload] {
    match which {
        1 => &[Workload::FanOut],
        2 => &[Workload::Connections],
        3 => &[Workload::PipelineBounded, Workload::PipelineUnbounded],
        4 => &[Workload::Cancel],
        _ => &[Workload::Spawn, Workload::Parked],
    }
}

/// Whether this run measured anything for section `which` (a run may select workloads).
pub fn has_section(r: &Report, which: usize) -> bool {
    section_workloads(which)
        .iter()
        .any(|w| r.samples.iter().any(|s| s.workload == w.id()))
}

/// Failed runs, for a note under the tables.
pub fn failures(r: &Report) -> Vec<&Sample> {
    r.samples.iter().filter(|s| s.error.is_some()).collect()
}
