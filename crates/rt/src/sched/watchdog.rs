//! The long-poll watchdog: finds polls that block their worker (seed pitfall 1).
//!
//! A task that calls `std::thread::sleep`, blocks in a system call or loops without an `.await`
//! holds its worker: every other task queued there waits. The watchdog thread samples each
//! worker's [`Progress`](super::Progress) every quarter of the threshold (between 1 and 10 ms); a
//! sequence number that stays odd and unchanged means one poll has been running since the first
//! sample that saw it. Past the threshold it reports the task (name, id, spawn site, how long)
//! once per stall and applies the runtime's [`BlockingPolicy`]: `Compensate` marks the worker
//! blocked and starts a spare thread that steals its queue (Go's sysmon hands off a P the same
//! way), `Panic` makes `block_on` fail with the report.
//!
//! Cost to the workers: a few plain stores per poll on their own cache line; the watchdog itself
//! wakes a few hundred times a second while tasks run (about 100 times a second once every
//! worker is idle) and reads one word per worker.
//!
//! The same thread runs the deadlock check (every `detect_deadlocks` interval, one second by
//! default): when some primitive has registered in the wait-for graph, it builds the graph from
//! the idle tasks' wait notes and reports each new cycle once (see [`crate::waitgraph`]).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use spectrum_sync::atomic::Ordering::*;

use super::Shared;
use crate::runtime::{BlockingPolicy, Diagnostic};

#[derive(Clone, Copy)]
struct Watch {
    seq: u32,
    since: Instant,
    reported: bool,
    compensated: bool,
}

/// The sampling interval for a long-poll threshold: a quarter of it, between 1 and 10 ms.
pub(crate) fn tick_for(threshold: Duration) -> Duration {
    (threshold / 4).clamp(Duration::from_millis(1), Duration::from_millis(10))
}

/// The longest sampling interval, reached while every worker stays idle.
const IDLE_TICK: Duration = Duration::from_millis(10);

/// Samples kept at most; past this, tasks not seen for a while are forgotten.
const MAX_SAMPLED_TASKS: usize = 16_384;

pub(crate) fn run(shared: Arc<Shared>) {
    let threshold = shared.config.long_poll_threshold;
    let deadlock_every = shared.config.deadlock_check;
    let tick = match (threshold, deadlock_every) {
        (Some(t), _) => tick_for(t),
        (None, Some(d)) => d,
        (None, None) => return,
    };
    let mut ticks: u64 = 0;
    let start = Instant::now();
    let mut deadlocks = DeadlockCheck {
        last: start,
        reported: HashSet::new(),
        probable: HashSet::new(),
    };
    let mut watches = vec![
        Watch {
            seq: 0,
            since: start,
            reported: false,
            compensated: false
        };
        shared.remotes.len()
    ];
    // While every worker is idle, the sampling interval doubles up to `IDLE_TICK` (Go's sysmon
    // backs off the same way), so an idle runtime wakes ~100 times a second, not ~400; the first
    // sample that sees a poll goes back to `tick`. A stall that starts during a long sleep is
    // first seen (and timed from) at most `IDLE_TICK` late.
    let idle_tick = tick.max(IDLE_TICK);
    let mut sleep = tick;
    while !shared.is_shutdown() {
        std::thread::sleep(sleep);
        ticks += 1;
        let mut busy = false;
        let now = Instant::now();
        if let Some(every) = deadlock_every {
            if now - deadlocks.last >= every {
                deadlocks.last = now;
                deadlocks.check(&shared);
            }
        }
        let Some(threshold) = threshold else { continue };
        for (index, (remote, w)) in shared.remotes.iter().zip(watches.iter_mut()).enumerate() {
            let (seq, task) = remote.progress.sample();
            let in_poll = seq % 2 == 1 && !remote.progress.is_stopped();
            busy |= in_poll || seq != w.seq;
            if in_poll {
                // A sampling profiler: this interval is attributed to the task being polled.
                let mut samples = shared.poll_samples.lock();
                if samples.len() >= MAX_SAMPLED_TASKS {
                    samples.retain(|_, s| ticks - s.last_seen < 1000);
                }
                let s = samples.entry(task).or_default();
                s.samples += 1;
                s.last_seen = ticks;
                // A poll seen by consecutive samples has lasted at least since the first of them.
                if seq == w.seq {
                    s.longest = s.longest.max(now - w.since);
                }
            }
            if seq != w.seq || !in_poll {
                if w.compensated {
                    // The stall is over: the spare retires once it runs out of stolen work.
                    // Release: pairs with the spares' Acquire loads.
                    remote.blocked.store(false, Release);
                }
                *w = Watch {
                    seq,
                    since: now,
                    reported: false,
                    compensated: false,
                };
                continue;
            }
            let running_for = now - w.since;
            if w.reported || running_for < threshold {
                continue;
            }
            // Acquire: pairs with the Release store in `block_in_place`. A worker that declared
            // it blocks has already handed its queue over: not a stall to report.
            if remote.blocked.load(Acquire) && !w.compensated {
                w.reported = true;
                continue;
            }
            w.reported = true;
            let policy = shared.config.blocking_policy;
            if policy == BlockingPolicy::Compensate {
                // Release: a spare that sees `blocked` steals this worker's ring.
                remote.blocked.store(true, Release);
                super::worker::start_spare(&shared);
                w.compensated = true;
            }
            let info = shared.find_task(task, index, remote.progress.shard());
            let diagnostic = Diagnostic::LongPoll {
                task: info
                    .as_ref()
                    .map_or_else(|| crate::task::TaskId::from_raw(task), |t| t.id),
                name: info.as_ref().and_then(|t| t.name.clone()),
                spawned_at: info.as_ref().map(|t| t.location),
                worker: index,
                running_for,
                compensated: w.compensated,
            };
            if policy == BlockingPolicy::Panic {
                shared.fail(diagnostic.to_string());
            }
            shared.diagnose(diagnostic);
        }
        sleep = if busy {
            tick
        } else {
            (sleep * 2).min(idle_tick)
        };
    }
}

struct DeadlockCheck {
    last: Instant,
    /// Cycles already reported (their sorted task ids).
    reported: HashSet<Vec<u64>>,
    /// Probable cycles (with a likely edge) seen by the previous check: one is reported only
    /// when the next check still sees it, so a guess about a channel handle that has just moved
    /// to a busy task does not report a deadlock that resolves itself a moment later.
    probable: HashSet<Vec<u64>>,
}

impl DeadlockCheck {
    fn check(&mut self, shared: &Shared) {
        if crate::waitgraph::nothing_registered() {
            return;
        }
        // Only idle tasks' notes: whole task infos are built for a report alone.
        let edges = crate::waitgraph::edges(shared.waiting_tasks());
        let cycles = crate::waitgraph::cycles(&edges);
        // Forget cycles that are gone, so a new one among the same tasks is reported again.
        let live: HashSet<Vec<u64>> = cycles.iter().map(crate::waitgraph::Cycle::key).collect();
        self.reported.retain(|k| live.contains(k));
        let seen_before = core::mem::take(&mut self.probable);
        let mut new = Vec::new();
        for cycle in cycles {
            let key = cycle.key();
            if !cycle.is_certain() && !seen_before.contains(&key) {
                self.probable.insert(key);
            } else if self.reported.insert(key) {
                new.push(cycle);
            }
        }
        if new.is_empty() {
            return;
        }
        let tasks = shared.live_tasks();
        for cycle in new {
            let members: Vec<_> = cycle
                .tasks()
                .filter_map(|id| tasks.iter().find(|t| t.id == id).cloned())
                .collect();
            shared.diagnose(Diagnostic::Deadlock {
                cycle,
                tasks: members,
            });
        }
    }
}
