//! Task dumps: what every worker and every live task is doing, as a tree of tasks and scopes.
//!
//! `Runtime::dump()` (or `Handle::dump()`) snapshots the registry (every live task: name, spawn
//! site, parent, scope, state, age, polls, what it waits on, a lost-waker flag), the live scopes,
//! each worker's activity, and the watchdog's poll-time samples. The snapshot is racy by nature
//! (tasks move while it is taken) but each task's entry is consistent.
//!
//! Poll time is *sampled*, not measured: timing every poll would put two clock reads on the
//! hottest path. The long-poll watchdog already looks at every worker a few hundred times a
//! second; each look attributes one interval to the task being polled, so a task's polling time
//! is `samples × interval` (a sampling profiler's estimate, good in aggregate), and its longest
//! poll is the longest stall the watchdog saw (resolution: one interval).
//!
//! The text form is a tree (tasks under the task that spawned them, scope children under their
//! scope); [`Dump::to_json`] is the same data for tools.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::time::Duration;

use crate::scope::ScopeInfo;
use crate::task::{TaskId, TaskInfo, WaitOn};
use crate::waitgraph::Cycle;

/// Poll-time samples of one task, from the watchdog.
#[derive(Clone, Copy, Debug, Default)]
pub struct PollSamples {
    /// Watchdog looks that found this task being polled.
    pub samples: u32,
    /// The longest single poll the watchdog saw (one sampling interval of resolution).
    pub longest: Duration,
    /// The watchdog tick that last saw it (for pruning).
    pub(crate) last_seen: u64,
}

/// What a worker was doing when the dump was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WorkerActivity {
    /// Polling this task.
    Polling(TaskId),
    /// Parked: nothing to do.
    Parked,
    /// Between polls, or searching for work.
    Busy,
    /// The worker has exited.
    Stopped,
}

/// One worker in a dump.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct WorkerDump {
    /// The worker's index.
    pub index: usize,
    /// What it was doing.
    pub activity: WorkerActivity,
    /// Tasks in its run queue (approximate).
    pub queued: usize,
}

/// One task in a dump.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TaskDump {
    /// Everything `live_tasks` reports.
    pub info: TaskInfo,
    /// Estimated time spent polling (samples × interval), if the watchdog runs.
    pub polling: Option<Duration>,
    /// The longest poll the watchdog saw.
    pub longest_poll: Option<Duration>,
    /// For a timer wait: how long until it fires.
    pub timer_in: Option<Duration>,
}

/// A snapshot of a runtime: workers, live tasks and scopes.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Dump {
    /// Every worker slot that runs (spares included).
    pub workers: Vec<WorkerDump>,
    /// Every live task, sorted by id.
    pub tasks: Vec<TaskDump>,
    /// Every live scope.
    pub scopes: Vec<ScopeInfo>,
    /// Tasks waiting in the global queue.
    pub injected: usize,
    /// Cycles in the wait-for graph: tasks waiting for each other through Spectrum's primitives
    /// (see [`crate::waitgraph`]).
    pub deadlocks: Vec<Cycle>,
}

impl Dump {
    /// Tasks that nothing can ever wake (see `TaskInfo::lost_waker`).
    pub fn lost_wakers(&self) -> impl Iterator<Item = &TaskDump> {
        self.tasks.iter().filter(|t| t.info.lost_waker)
    }

    /// The dump as JSON (an object with `workers`, `tasks`, `scopes`, `injected`, `deadlocks`).
    pub fn to_json(&self) -> String {
        let mut o = String::with_capacity(256 + 256 * self.tasks.len());
        o.push_str("{\"workers\":[");
        for (i, w) in self.workers.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            let (activity, task) = match w.activity {
                WorkerActivity::Polling(t) => ("polling", Some(t.as_u64())),
                WorkerActivity::Parked => ("parked", None),
                WorkerActivity::Busy => ("busy", None),
                WorkerActivity::Stopped => ("stopped", None),
            };
            let _ = write!(o, "{{\"index\":{},\"activity\":\"{activity}\"", w.index);
            if let Some(t) = task {
                let _ = write!(o, ",\"task\":{t}");
            }
            let _ = write!(o, ",\"queued\":{}}}", w.queued);
        }
        let _ = write!(o, "],\"injected\":{},\"tasks\":[", self.injected);
        for (i, t) in self.tasks.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            let info = &t.info;
            let _ = write!(o, "{{\"id\":{}", info.id.as_u64());
            if let Some(n) = &info.name {
                o.push_str(",\"name\":");
                json_str(&mut o, n);
            }
            o.push_str(",\"spawned_at\":");
            json_str(&mut o, &info.location.to_string());
            let _ = write!(
                o,
                ",\"kind\":\"{:?}\",\"state\":\"{:?}\",\"age_ms\":{},\"polls\":{}",
                info.kind,
                info.state,
                info.age.as_millis(),
                info.polls
            );
            if let Some(p) = info.parent {
                let _ = write!(o, ",\"parent\":{}", p.as_u64());
            }
            if let Some(s) = info.scope {
                let _ = write!(o, ",\"scope\":{s}");
            }
            if let Some(w) = &info.waiting_on {
                o.push_str(",\"waiting_on\":");
                json_str(&mut o, &w.to_string());
                let _ = write!(o, ",\"waiting_on_kind\":\"{}\"", w.kind_name());
                if let Some(id) = w.object() {
                    let _ = write!(o, ",\"waiting_on_id\":{id}");
                }
            }
            if let Some(d) = t.timer_in {
                let _ = write!(o, ",\"timer_in_ms\":{}", d.as_millis());
            }
            if let Some(d) = t.polling {
                let _ = write!(o, ",\"polling_ms\":{}", d.as_millis());
            }
            if let Some(d) = t.longest_poll {
                let _ = write!(o, ",\"longest_poll_ms\":{}", d.as_millis());
            }
            let _ = write!(o, ",\"lost_waker\":{}}}", info.lost_waker);
        }
        o.push_str("],\"scopes\":[");
        for (i, s) in self.scopes.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            let _ = write!(o, "{{\"id\":{}", s.id);
            if let Some(owner) = s.owner {
                let _ = write!(o, ",\"owner\":{}", owner.as_u64());
            }
            o.push_str(",\"opened_at\":");
            json_str(&mut o, &s.location.to_string());
            let _ = write!(o, ",\"supervised\":{}}}", s.supervised);
        }
        o.push_str("],\"deadlocks\":[");
        for (i, c) in self.deadlocks.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            let _ = write!(o, "{{\"certain\":{},\"edges\":[", c.is_certain());
            for (k, e) in c.edges.iter().enumerate() {
                if k > 0 {
                    o.push(',');
                }
                let _ = write!(
                    o,
                    "{{\"from\":{},\"to\":{},\"certain\":{},\"via\":",
                    e.from.as_u64(),
                    e.to.as_u64(),
                    e.certain
                );
                json_str(&mut o, &e.via.to_string());
                o.push('}');
            }
            o.push_str("]}");
        }
        o.push_str("]}");
        o
    }

    fn write_task(&self, f: &mut fmt::Formatter<'_>, t: &TaskDump) -> fmt::Result {
        let i = &t.info;
        write!(f, "task {}", i.id)?;
        if let Some(n) = &i.name {
            write!(f, " \"{n}\"")?;
        }
        write!(f, " [{:?}, {:?}]", i.kind, i.state)?;
        match (&i.waiting_on, t.timer_in) {
            (Some(WaitOn::Timer { .. }), Some(d)) => {
                write!(f, " waiting on a timer (in {})", Rounded(d))?;
            }
            (Some(w), _) => write!(f, " waiting on {w}")?,
            (None, _) => {}
        }
        write!(f, ", age {}, {} polls", Rounded(i.age), i.polls)?;
        if let Some(p) = t.polling.filter(|p| !p.is_zero()) {
            write!(f, ", ~{} polling", Rounded(p))?;
        }
        if let Some(l) = t.longest_poll.filter(|l| !l.is_zero()) {
            write!(f, ", longest poll ~{}", Rounded(l))?;
        }
        if i.lost_waker {
            f.write_str(", LOST WAKER (nothing can wake it)")?;
        }
        writeln!(f, " — spawned at {}", i.location)?;
        Ok(())
    }

    fn write_children(
        &self,
        f: &mut fmt::Formatter<'_>,
        parent: Option<u64>,
        prefix: &str,
        index: &Index<'_>,
    ) -> fmt::Result {
        let tasks = index
            .child_tasks
            .get(&parent)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let scopes = index
            .child_scopes
            .get(&parent)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let total = tasks.len() + scopes.len();
        let mut n = 0;
        for s in scopes {
            n += 1;
            let last = n == total;
            let (branch, cont) = if last {
                ("└─ ", "   ")
            } else {
                ("├─ ", "│  ")
            };
            write!(
                f,
                "{prefix}{branch}scope #{} [{}]",
                s.id,
                if s.supervised {
                    "supervised"
                } else {
                    "fail-fast"
                }
            )?;
            writeln!(f, " opened at {}", s.location)?;
            let inner = format!("{prefix}{cont}");
            let members = index
                .scope_members
                .get(&s.id)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            for (k, t) in members.iter().enumerate() {
                let last_member = k + 1 == members.len();
                let (b, c) = if last_member {
                    ("└─ ", "   ")
                } else {
                    ("├─ ", "│  ")
                };
                write!(f, "{inner}{b}")?;
                self.write_task(f, t)?;
                self.write_children(f, Some(t.info.id.as_u64()), &format!("{inner}{c}"), index)?;
            }
        }
        for t in tasks {
            n += 1;
            let last = n == total;
            let (branch, cont) = if last {
                ("└─ ", "   ")
            } else {
                ("├─ ", "│  ")
            };
            write!(f, "{prefix}{branch}")?;
            self.write_task(f, t)?;
            self.write_children(
                f,
                Some(t.info.id.as_u64()),
                &format!("{prefix}{cont}"),
                index,
            )?;
        }
        Ok(())
    }
}

/// Children lookups for the tree.
struct Index<'a> {
    /// Unscoped tasks by parent task (`None`: roots).
    child_tasks: HashMap<Option<u64>, Vec<&'a TaskDump>>,
    /// Scopes by owner task (`None`: roots).
    child_scopes: HashMap<Option<u64>, Vec<&'a ScopeInfo>>,
    /// Tasks by scope.
    scope_members: HashMap<u64, Vec<&'a TaskDump>>,
}

impl fmt::Display for Dump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Spectrum runtime: {} worker(s), {} live task(s), {} scope(s), {} in the global queue",
            self.workers.len(),
            self.tasks.len(),
            self.scopes.len(),
            self.injected
        )?;
        for w in &self.workers {
            let what = match w.activity {
                WorkerActivity::Polling(t) => format!("polling task {t}"),
                WorkerActivity::Parked => "parked".to_owned(),
                WorkerActivity::Busy => "between polls".to_owned(),
                WorkerActivity::Stopped => "stopped".to_owned(),
            };
            writeln!(f, "  worker {}: {what}, {} queued", w.index, w.queued)?;
        }
        let live: std::collections::HashSet<u64> =
            self.tasks.iter().map(|t| t.info.id.as_u64()).collect();
        let scope_ids: std::collections::HashSet<u64> = self.scopes.iter().map(|s| s.id).collect();
        let mut index = Index {
            child_tasks: HashMap::new(),
            child_scopes: HashMap::new(),
            scope_members: HashMap::new(),
        };
        for t in &self.tasks {
            match t.info.scope.filter(|s| scope_ids.contains(s)) {
                Some(s) => index.scope_members.entry(s).or_default().push(t),
                None => {
                    let parent = t
                        .info
                        .parent
                        .map(TaskId::as_u64)
                        .filter(|p| live.contains(p));
                    index.child_tasks.entry(parent).or_default().push(t);
                }
            }
        }
        for s in &self.scopes {
            let owner = s.owner.map(TaskId::as_u64).filter(|p| live.contains(p));
            index.child_scopes.entry(owner).or_default().push(s);
        }
        self.write_children(f, None, "", &index)?;
        for c in &self.deadlocks {
            writeln!(f, "!! {c}")?;
        }
        Ok(())
    }
}

fn json_str(o: &mut String, s: &str) {
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
}

/// A duration shown to a tenth of a millisecond (dump figures are sampled, not exact).
pub(crate) struct Rounded(pub(crate) Duration);

impl fmt::Display for Rounded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_secs_f64() * 1e3;
        if ms >= 10_000.0 {
            write!(f, "{:.1}s", ms / 1e3)
        } else if ms >= 1.0 {
            write!(f, "{ms:.1}ms")
        } else {
            write!(f, "{:.0}µs", ms * 1e3)
        }
    }
}
