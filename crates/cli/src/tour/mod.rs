//! `spectrum tour`: the seed's cheat sheet, measured.
//!
//! The parent process runs every (model, workload) pair in a child process of its own (this same
//! executable, hidden subcommand `__tour-child`), collects the children's JSON lines, prints the
//! cheat sheet with measured columns and the per-workload tables, and writes a self-contained
//! HTML report (tables and inline SVG charts) plus the JSON beside it.
//!
//! Files: `workload.rs` (sizes, metrics, the child's record), `model.rs` (the trait every model
//! implements, the rows), `models/` (one file per model), `child.rs` and `client.rs` (the
//! child processes), `measure.rs` (memory and timing), `report/` (terminal, HTML, SVG).

pub mod child;
pub mod client;
mod measure;
pub mod model;
mod models;
mod report;
pub mod workload;

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use spectrum::scope::BoxError;

use model::{Row, ROWS};
use workload::{Sample, Sizes, Workload};

/// How the tour was asked to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// "quick", "default" or "full".
    pub profile: String,
    /// Multiplies every count (hidden; tests use a small one).
    pub scale: f64,
    /// Print the report as JSON on stdout instead of the tables.
    pub json: bool,
    /// Where the HTML report goes (the JSON goes beside it).
    pub out: Option<PathBuf>,
    /// Only these model ids (all when empty).
    pub models: Vec<String>,
    /// Only these workload ids (all when empty).
    pub workloads: Vec<String>,
    /// Render from this report's JSON instead of running.
    pub from_json: Option<PathBuf>,
}

/// Everything one tour measured: what the JSON file holds and the HTML shows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub spectrum_version: String,
    pub command: String,
    pub machine: Machine,
    pub sizes: Sizes,
    pub took_s: f64,
    pub rows: Vec<RowInfo>,
    pub samples: Vec<Sample>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    pub cpus: usize,
    pub os: String,
    /// `/proc/loadavg`'s 1-minute load when the run started and when it ended: the machine is
    /// shared, and other work on it skews every figure.
    #[serde(default)]
    pub load: (f64, f64),
}

fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// A row's cheat-sheet properties and what each of its workload versions does.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RowInfo {
    pub id: String,
    pub name: String,
    pub surface: String,
    pub available: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub why_not: String,
    pub stack_cost: String,
    pub sync_style: Property,
    pub cancellation: Property,
    pub backpressure: Property,
    /// Workload id → what this model's version does.
    pub does: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Property {
    pub value: String,
    pub tests: Vec<String>,
}

impl Report {
    pub fn sample(&self, model: &str, w: Workload) -> Option<&Sample> {
        self.samples
            .iter()
            .find(|s| s.model == model && s.workload == w.id())
    }

    pub fn metric(&self, model: &str, w: Workload, key: &str) -> Option<f64> {
        self.sample(model, w)
            .filter(|s| s.error.is_none())
            .and_then(|s| s.metric(key))
    }
}

fn row_info(r: &Row) -> RowInfo {
    match r {
        Row::Ready(m) => {
            let i = m.info();
            let prop = |p: &model::Prop| Property {
                value: p.value.into(),
                tests: p.tests.iter().map(|t| t.to_string()).collect(),
            };
            RowInfo {
                id: i.id.into(),
                name: i.name.into(),
                surface: i.surface.into(),
                available: true,
                why_not: String::new(),
                stack_cost: i.stack_cost.into(),
                sync_style: prop(&i.sync_style),
                cancellation: prop(&i.cancellation),
                backpressure: prop(&i.backpressure),
                does: Workload::ALL
                    .iter()
                    .map(|w| (w.id().to_string(), i.does(*w).to_string()))
                    .collect(),
            }
        }
        Row::NotYet {
            id,
            name,
            surface,
            why,
            sync_style,
            cancellation,
            backpressure,
        } => {
            let p = |v: &str| Property {
                value: v.into(),
                tests: Vec::new(),
            };
            RowInfo {
                id: id.to_string(),
                name: name.to_string(),
                surface: surface.to_string(),
                available: false,
                why_not: why.to_string(),
                stack_cost: "small".into(),
                sync_style: p(sync_style),
                cancellation: p(cancellation),
                backpressure: p(backpressure),
                does: Default::default(),
            }
        }
    }
}

/// Runs the tour (or renders a saved report again).
pub fn run(opts: &Options) -> Result<(), BoxError> {
    let report = match &opts.from_json {
        Some(path) => serde_json::from_str(&std::fs::read_to_string(path)?)?,
        None => measure(opts)?,
    };
    output(opts, &report)
}

/// Runs every selected (model, workload) pair in its own child process.
fn measure(opts: &Options) -> Result<Report, BoxError> {
    let sizes = Sizes::new(&opts.profile, opts.scale);
    let exe = std::env::current_exe()?;
    let selected = |id: &str, list: &[String]| list.is_empty() || list.iter().any(|x| x == id);
    for m in &opts.models {
        if !ROWS.iter().any(|r| r.id() == m) {
            return Err(format!("no model `{m}` (models: {})", ids()).into());
        }
    }
    for w in &opts.workloads {
        if Workload::from_id(w).is_none() {
            return Err(format!("no workload `{w}`").into());
        }
    }
    let jobs: Vec<(&'static str, Workload)> = Workload::ALL
        .iter()
        .filter(|w| selected(w.id(), &opts.workloads))
        .flat_map(|w| {
            ROWS.iter()
                .filter(|r| matches!(r, Row::Ready(_)) && selected(r.id(), &opts.models))
                .map(move |r| (r.id(), *w))
        })
        .collect();
    let sizes_json = serde_json::to_string(&sizes)?;
    let progress = Progress::new(jobs.len());
    let limit = if sizes.profile.starts_with("full") {
        Duration::from_secs(600)
    } else {
        Duration::from_secs(180)
    };
    let started = Instant::now();
    let load_start = loadavg();
    let mut samples = Vec::with_capacity(jobs.len());
    for (i, (model, w)) in jobs.iter().enumerate() {
        progress.show(i, model, *w);
        samples.push(run_child(&exe, model, *w, &sizes_json, limit));
    }
    progress.clear();
    let report = Report {
        spectrum_version: env!("CARGO_PKG_VERSION").into(),
        command: command_line(),
        machine: Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            os: os(),
            load: (load_start, loadavg()),
        },
        sizes,
        took_s: started.elapsed().as_secs_f64(),
        rows: ROWS
            .iter()
            .filter(|r| selected(r.id(), &opts.models))
            .map(row_info)
            .collect(),
        samples,
    };
    Ok(report)
}

/// Prints the tables (or the JSON) and writes the HTML and JSON files.
fn output(opts: &Options, report: &Report) -> Result<(), BoxError> {
    let html_path = opts.out.clone().unwrap_or_else(|| {
        std::env::temp_dir()
            .join("spectrum-tour")
            .join("report.html")
    });
    if let Some(dir) = html_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let json_path = html_path.with_extension("json");
    let json = serde_json::to_string_pretty(report)?;
    std::fs::write(&html_path, report::html::render(report))?;
    std::fs::write(&json_path, &json)?;
    let failed = report.samples.iter().filter(|s| s.error.is_some()).count();
    if opts.json {
        println!("{json}");
        eprintln!(
            "spectrum tour: report {} (JSON {}); {:.0} s{}",
            html_path.display(),
            json_path.display(),
            report.took_s,
            if failed > 0 {
                format!(", {failed} runs failed")
            } else {
                String::new()
            }
        );
    } else {
        print!("{}", report::terminal::render(report));
        println!(
            "\nReport: {}\nJSON:   {}\n(took {:.0} s)",
            html_path.display(),
            json_path.display(),
            report.took_s
        );
    }
    if failed > 0 {
        return Err(format!(
            "{failed} of {} runs failed (see the report)",
            report.samples.len()
        )
        .into());
    }
    Ok(())
}

fn ids() -> String {
    ROWS.iter().map(Row::id).collect::<Vec<_>>().join(", ")
}

fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("spectrum {}", args.join(" "))
}

fn os() -> String {
    std::fs::read_to_string("/proc/version")
        .ok()
        .and_then(|v| v.split_whitespace().nth(2).map(|r| format!("Linux {r}")))
        .unwrap_or_else(|| std::env::consts::OS.to_string())
}

/// Runs one child with a time limit and turns what it printed into a sample.
fn run_child(
    exe: &std::path::Path,
    model: &str,
    w: Workload,
    sizes: &str,
    limit: Duration,
) -> Sample {
    let failed = |e: String| Sample {
        model: model.into(),
        workload: w.id().into(),
        error: Some(e),
        ..Sample::default()
    };
    let child = Command::new(exe)
        .args([
            "__tour-child",
            "--model",
            model,
            "--workload",
            w.id(),
            "--sizes",
            sizes,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return failed(format!("could not start the child: {e}")),
    };
    // Drain both pipes on threads so a chatty child never blocks on a full pipe.
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                let _ = r.read_to_string(&mut s);
            }
            s
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return failed(format!("waiting for the child: {e}")),
        }
    };
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    let tail = |s: &str| {
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(6)..].join("\n")
    };
    let Some(status) = status else {
        return failed(format!("timed out after {limit:?}; stderr: {}", tail(&err)));
    };
    match out.lines().rev().find(|l| l.starts_with('{')) {
        Some(line) => match serde_json::from_str::<Sample>(line) {
            Ok(mut s) => {
                if !status.success() && s.error.is_none() {
                    s.error = Some(format!("exited with {status}"));
                }
                if let Some(e) = &mut s.error {
                    if !err.trim().is_empty() {
                        e.push_str(&format!("; stderr: {}", tail(&err)));
                    }
                }
                s
            }
            Err(e) => failed(format!("unreadable sample ({e}): {line}")),
        },
        None => failed(format!(
            "exited with {status} and no sample; stderr: {}",
            tail(&err)
        )),
    }
}

/// A one-line progress bar on stderr, only when stderr is a terminal.
struct Progress {
    total: usize,
    on: bool,
    started: Instant,
}

impl Progress {
    fn new(total: usize) -> Progress {
        Progress {
            total,
            on: std::io::stderr().is_terminal(),
            started: Instant::now(),
        }
    }

    fn show(&self, done: usize, model: &str, w: Workload) {
        if !self.on {
            return;
        }
        const WIDTH: usize = 30;
        let filled = WIDTH * done / self.total.max(1);
        let mut e = std::io::stderr().lock();
        let _ = write!(
            e,
            "\r\x1b[2K[{}{}] {done}/{} {:>4.0}s  {w} · {model}",
            "#".repeat(filled),
            ".".repeat(WIDTH - filled),
            self.total,
            self.started.elapsed().as_secs_f64()
        );
        let _ = e.flush();
    }

    fn clear(&self) {
        if self.on {
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\r\x1b[2K");
            let _ = e.flush();
        }
    }
}
