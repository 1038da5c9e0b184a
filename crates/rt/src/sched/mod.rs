//! The multi-threaded work-stealing scheduler.
//!
//! # Shape
//!
//! Each worker thread owns a [`queue::Local`] ring of 256 tasks and a LIFO slot for the task it
//! just woke (Go's `runnext`); all workers share a global [`inject::Inject`] queue for tasks
//! submitted from outside and for ring overflow. An idle worker steals half of a random victim's
//! ring; at most half of the workers search at once ([`idle`]). Workers with nothing to do park,
//! one of them on the I/O + timer driver ([`park`]).
//!
//! Tasks pinned to a worker thread (`spawn_local`, `spawn_pinned`, fibers) live in that worker's
//! own, unstealable queue once started; wake-ups from other threads reach it through the
//! worker's `inbox`. They are registered in the worker's own registry so that, at shutdown, the
//! worker drops them on their own thread. A `spawn_pinned` task (fibers are ones) waits in the
//! `fresh` queue of the worker it was queued for (the spawning worker, unless that one holds
//! many more live pinned tasks than another while a worker is parked: see
//! `Shared::pinned_home`; round-robin from other threads) until a worker takes it: its own, or
//! an idle one that steals a share of it (Go's idle processors stealing goroutines that have
//! not run). Whoever takes it pins it, links it in its own registry (the spawner never takes
//! another worker's registry lock) and runs it; until then it is not listed in `live_tasks` or
//! dumps, and if its worker exits first it cancels it as it leaves.
//!
//! # Fairness
//!
//! - The LIFO slot runs at most [`MAX_LIFO_POLLS`] tasks in a row (two tasks waking each other
//!   could otherwise starve the queue), then the woken task goes to the back of the ring.
//! - Every `global_queue_interval` ticks (61, as tokio, a prime so it does not resonate with
//!   application periods) the injector is checked before the ring; every `event_interval` ticks
//!   the driver is polled for I/O and timers even when there is work.
//! - A task that wakes itself (`yield_now`, coop budget exhausted) goes to the back of the ring.
//!
//! # Threads and the runtime
//!
//! Worker threads, blocking-pool threads and `block_on` callers *enter* the runtime: a
//! thread-local pointer to [`Shared`] that `spawn`, timers and I/O use. Tasks do not hold an `Arc`
//! to the runtime; they hold an [`RtRef`] (see [`anchor`]), and threads that are not the runtime's
//! own go through it.

pub(crate) mod anchor;
mod idle;
mod inbox;
pub(crate) mod inject;
mod park;
pub(crate) mod queue;
mod rand;
pub(crate) mod watchdog;
mod worker;

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::sync::Arc;
use std::time::{Duration, Instant};

use spectrum_sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering::*};
use spectrum_sync::{CachePadded, Mutex};

pub(crate) use anchor::RtRef;
pub(crate) use worker::{block_in_place, current_worker_index};

use crate::blocking::BlockingPool;
use crate::context;
use crate::driver::{Driver, DriverHandle};
use crate::runtime::{Config, Diagnostic, UnhandledPanic};
use crate::task::{
    Header, JoinHandle, Meta, Notified, PanicPayload, RawTask, Registry, Schedule, TaskInfo,
    TaskKind,
};

/// LIFO-slot polls in a row before the woken task must queue (tokio's value).
pub(crate) const MAX_LIFO_POLLS: u32 = 3;

/// How many more live pinned tasks a spawning worker may hold than the next worker before new
/// ones go to that worker instead (`Shared::pinned_home`).
pub(crate) const RESIDENT_SLACK: usize = 16;

/// Everything the workers share.
pub(crate) struct Shared {
    pub(crate) rt: RtRef,
    /// One per worker slot, padded so one worker's progress stores never touch a neighbour's
    /// cache line.
    pub(crate) remotes: Box<[CachePadded<Remote>]>,
    pub(crate) inject: inject::Inject<Sched>,
    pub(crate) idle: idle::Idle,
    pub(crate) registry: Registry,
    pub(crate) driver: DriverHandle,
    pub(crate) driver_cell: Mutex<Option<Driver>>,
    pub(crate) blocking: BlockingPool,
    pub(crate) config: Config,
    is_shutdown: AtomicBool,
    started: Instant,
    coarse_ms: AtomicU32,
    /// Things the paused clock must wait for: `block_on` callers that are running or woken,
    /// blocking jobs queued or running. While non-zero, time does not auto-advance.
    pub(crate) inhibit_auto_advance: Arc<AtomicUsize>,
    next_pinned: AtomicUsize,
    /// Spare threads currently compensating for blocked workers.
    pub(crate) spares: AtomicUsize,
    /// Set when the runtime must make `block_on` fail (an unhandled panic with
    /// `UnhandledPanic::ShutdownRuntime`, a long poll with `BlockingPolicy::Panic`).
    pub(crate) panic_shutdown: AtomicBool,
    /// Why `block_on` must fail.
    pub(crate) fatal: Mutex<Option<String>>,
    pub(crate) threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// Live scopes, for dumps: id -> what the dump shows of it.
    pub(crate) scopes: Mutex<std::collections::HashMap<u64, crate::scope::ScopeInfo>>,
    /// Sampled poll time per task id (from the watchdog), for dumps.
    pub(crate) poll_samples: Mutex<std::collections::HashMap<u64, crate::dump::PollSamples>>,
    /// Threads parked in `block_on`, woken if the runtime shuts down under them.
    pub(crate) block_on_waiters: Mutex<Vec<std::task::Waker>>,
    pub(crate) worker_parts: Mutex<Vec<Option<worker::WorkerParts>>>,
}

/// What a watchdog reads to see a worker stuck inside one poll: a sequence number that stops
/// moving (Go's sysmon watches a P's `schedtick` the same way). It is odd while a poll runs and
/// even between polls; `task` names the task being polled, `shard` its registry shard. Plain
/// stores only, on the worker's own cache line.
#[derive(Default)]
pub(crate) struct Progress {
    seq: AtomicU32,
    /// The registry shard of `task`: a long-poll report looks the task up there alone.
    shard: AtomicU32,
    task: spectrum_sync::atomic::AtomicU64,
}

/// The sequence value of a worker that has exited.
const STOPPED: u32 = u32::MAX;

impl Progress {
    /// Set in a recorded shard for a pinned task: its shard is in the worker's own registry.
    pub(crate) const LOCAL: u32 = 1 << 31;

    #[inline]
    pub(crate) fn begin(&self, task: crate::task::TaskId, shard: u32) {
        // Relaxed: statistics for a sampling watchdog; a stale read only delays a report.
        self.task.store(task.as_u64(), Relaxed);
        // Relaxed: as above; a stale shard only makes the report's lookup miss.
        self.shard.store(shard, Relaxed);
        self.bump();
    }

    #[inline]
    pub(crate) fn end(&self) {
        self.bump();
    }

    #[inline]
    fn bump(&self) {
        // Relaxed: see `begin`. Masked so the sequence never reaches `STOPPED`; the mask keeps
        // parity (odd: in a poll).
        let next = self.seq.load(Relaxed).wrapping_add(1) & (STOPPED >> 1);
        self.seq.store(next, Relaxed);
    }

    /// `(sequence, task id)`: the sequence is odd while a poll runs.
    pub(crate) fn sample(&self) -> (u32, u64) {
        // Relaxed: see `begin`.
        (self.seq.load(Relaxed), self.task.load(Relaxed))
    }

    /// The registry shard of the task last sampled (a hint: see `begin`).
    pub(crate) fn shard(&self) -> u32 {
        // Relaxed: see `begin`.
        self.shard.load(Relaxed)
    }

    pub(crate) fn stop(&self) {
        // Release: pairs with the Acquire in `is_stopped`.
        self.seq.store(STOPPED, Release);
    }

    pub(crate) fn is_stopped(&self) -> bool {
        // Acquire: pairs with the Release in `stop`.
        self.seq.load(Acquire) == STOPPED
    }
}

/// What other threads may touch of one worker.
///
/// The fields written on hot paths sit on cache lines of their own: the inbox (written by every
/// thread that spawns or wakes a pinned task here) and the progress counters (written by the
/// worker at every poll). Sharing a line with the read-mostly fields, they made the worker miss
/// on its own registry's address after each spawn from another worker (`perf annotate` on 100k
/// fibers spread over 2 workers).
pub(crate) struct Remote {
    pub(crate) steal: queue::Steal<Notified<Sched>>,
    unpark: park::Unparker,
    /// Pinned tasks of this worker woken from other threads.
    inbox: CachePadded<inbox::Inbox<Notified<LocalSched>>>,
    /// Pinned tasks spawned for this worker that have not started: not linked in any registry
    /// yet (`Registry::allocate_unlinked`), so the worker takes them all and links them in its
    /// own, or an idle worker steals its share of them and links them in its own (Go's idle
    /// `P`s stealing goroutines that have not run). A task is pinned to the worker that first
    /// runs it.
    fresh: CachePadded<inbox::Inbox<Notified<LocalSched>>>,
    /// Pinned tasks spawned on this worker.
    pub(crate) local_registry: Registry,
    /// How many pinned tasks live in `local_registry` (started, or about to start): written by
    /// this worker as it links and releases them, read by spawners choosing a worker
    /// (`pinned_home`).
    resident: CachePadded<AtomicUsize>,
    /// Poll progress, for a watchdog that looks for stuck workers.
    pub(crate) progress: CachePadded<Progress>,
    /// True while the worker is blocked in `.wait()` (and a spare may steal its work).
    pub(crate) blocked: AtomicBool,
}

/// Restores the previously entered runtime on drop.
pub(crate) struct EnterGuard {
    prev: *const (),
    _handle: Handle,
}

/// Enters `handle`'s runtime on this thread (the thread context's `runtime` pointer) until the
/// guard drops; the guard's `Handle` keeps the `Shared` alive meanwhile.
pub(crate) fn enter(handle: Handle) -> EnterGuard {
    let ptr = Arc::as_ptr(&handle.shared) as *const ();
    let prev = context::with(|c| c.runtime.replace(ptr));
    EnterGuard {
        prev,
        _handle: handle,
    }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        context::with(|c| c.runtime.set(self.prev));
    }
}

/// The runtime recorded in a thread context.
#[inline]
pub(crate) fn runtime_of(cx: &context::Context) -> Option<&Shared> {
    let ptr = cx.runtime.get() as *const Shared;
    // SAFETY: the pointer is set by an `EnterGuard` (workers hold one too) that keeps an `Arc` to
    // the `Shared` alive for as long as it is set, and only `Shared` pointers are stored there.
    unsafe { ptr.as_ref() }
}

/// Runs `f` with the runtime this thread has entered.
#[inline]
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Shared>) -> R) -> R {
    context::with(|c| f(runtime_of(c)))
}

/// The entered runtime's reference, or a clear panic naming `what` needed it.
#[track_caller]
pub(crate) fn current_rt_or_panic(what: &str) -> RtRef {
    match with_current(|s| s.map(|s| s.rt)) {
        Some(rt) => rt,
        None => panic!(
            "`{what}` needs a Spectrum runtime: call it from a task, inside `Runtime::block_on`, \
             or after `Handle::enter()`"
        ),
    }
}

/// Runs `f` on `rt`'s shared state: directly on the runtime's own threads, through the anchor
/// from any other thread. `None` once the runtime has shut down.
#[inline]
pub(crate) fn with_shared<R>(rt: &RtRef, f: impl FnOnce(&Shared) -> R) -> Option<R> {
    let own = context::with(|c| c.runtime.get()) as *const Shared;
    // SAFETY: see `runtime_of`.
    if let Some(shared) = unsafe { own.as_ref() } {
        if shared.rt.same(rt) {
            return Some(f(shared));
        }
    }
    rt.enter().map(|entered| f(&entered))
}

impl Shared {
    pub(crate) fn is_shutdown(&self) -> bool {
        // Acquire: pairs with the Release in `begin_shutdown`.
        self.is_shutdown.load(Acquire)
    }

    pub(crate) fn begin_shutdown(&self) -> bool {
        // Release: workers that see the flag also see everything before it.
        !self.is_shutdown.swap(true, AcqRel)
    }

    /// Milliseconds since the runtime started, to the last driver turn.
    pub(crate) fn coarse_ms(&self) -> u32 {
        // Relaxed: a coarse statistic.
        self.coarse_ms.load(Relaxed)
    }

    pub(crate) fn tick_coarse_clock(&self) {
        let ms = self.started.elapsed().as_millis().min(u128::from(u32::MAX)) as u32;
        // Relaxed: a coarse statistic.
        self.coarse_ms.store(ms, Relaxed);
    }

    /// The worker a new pinned task is queued for: from any other thread, the next worker
    /// round-robin; from one of this runtime's workers, that worker (an idle worker may steal
    /// the task before it starts), unless it holds more than [`RESIDENT_SLACK`] live pinned
    /// tasks more than the next worker round-robin while some worker is parked: then that
    /// worker.
    ///
    /// A started pinned task never moves, so where long-lived ones start (a fiber per
    /// connection, spawned by one acceptor) decides the balance for good: queued all on the
    /// acceptor's worker, they ran there, and the TCP echo bench's fiber server fell from 1.02x
    /// to 0.83-0.96x the async server's throughput. Short-lived ones (spawn + join) finish
    /// before the count grows and stay with their spawner. A parked worker is the condition
    /// because the counts alone also moved a third of skynet's fibers (a tree of waiting
    /// parents, both workers busy) away from their parents, for nothing: while every worker
    /// has work, an uneven count costs no throughput, and once one idles it gets the new ones.
    pub(crate) fn pinned_home(&self) -> usize {
        if let Some(me) = worker::current_worker_index(self) {
            if me < self.num_workers() {
                // Relaxed: a load-balancing hint; a stale count misplaces one task.
                let mine = self.remotes[me].resident.load(Relaxed);
                if mine <= RESIDENT_SLACK {
                    return me;
                }
                let mut other = self.next_pinned_home();
                if other == me {
                    other = (me + 1) % self.num_workers();
                }
                // Relaxed: as above.
                let theirs = self.remotes[other].resident.load(Relaxed);
                return if mine > theirs + RESIDENT_SLACK && self.idle.any_parked() {
                    other
                } else {
                    me
                };
            }
        }
        self.next_pinned_home()
    }

    /// Counts pinned tasks linked in worker `worker`'s registry (`n` more, or one fewer).
    pub(crate) fn add_resident(&self, worker: usize, n: usize) {
        // Relaxed: a load-balancing hint, no other memory depends on it.
        self.remotes[worker].resident.fetch_add(n, Relaxed);
    }

    fn remove_resident(&self, worker: usize) {
        // Relaxed: as in `add_resident`.
        self.remotes[worker].resident.fetch_sub(1, Relaxed);
    }

    /// The next worker for a pinned task (round-robin).
    pub(crate) fn next_pinned_home(&self) -> usize {
        // Relaxed: round-robin needs no ordering.
        self.next_pinned.fetch_add(1, Relaxed) % self.num_workers()
    }

    /// An owned `Arc` to this `Shared`.
    pub(crate) fn handle_arc(&self) -> Arc<Shared> {
        // SAFETY: every `Shared` is created by `build` inside an `Arc`, and the caller holds a
        // reference into it (so the count is at least one for the duration of this call).
        unsafe {
            let ptr = self as *const Shared;
            Arc::increment_strong_count(ptr);
            Arc::from_raw(ptr)
        }
    }

    pub(crate) fn num_workers(&self) -> usize {
        self.config.workers
    }

    /// May the paused clock jump to the next timer? Only when nothing else runs.
    pub(crate) fn can_auto_advance(&self) -> bool {
        // Acquire: pairs with the Release decrements of the inhibitors.
        self.inhibit_auto_advance.load(Acquire) == 0
            && self.idle.num_unparked() == 0
            && self.inject.is_empty()
            // Acquire (in `inbox.is_empty`): pairs with the Release store in `schedule_pinned`.
            && self
                .remotes
                .iter()
                .all(|r| r.steal.is_empty() && r.inbox.is_empty() && r.fresh.is_empty())
    }

    /// Spawns a task with the given name and spawn site.
    pub(crate) fn spawn<F>(
        &self,
        future: F,
        name: Option<crate::task::TaskName>,
        location: &'static Location<'static>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        context::with(|cx| self.spawn_in(cx, future, name, location))
    }

    /// [`spawn`](Self::spawn) with the thread context already at hand: one thread-local access
    /// per spawn for the worker, the parent task and the task id.
    #[inline]
    pub(crate) fn spawn_in<F>(
        &self,
        cx: &context::Context,
        future: F,
        name: Option<crate::task::TaskName>,
        location: &'static Location<'static>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let worker = worker::worker_of(cx).filter(|w| std::ptr::eq(&*w.shared, self));
        let meta = Meta {
            location,
            name,
            parent: cx.task_id(),
            born_ms: self.coarse_ms(),
            kind: TaskKind::Async,
            scope: cx.spawn_scope.get(),
        };
        let id = crate::task::TaskId::next_in(cx);
        // The registry shard comes from the task's id, not from the spawning worker: with one
        // shard per spawner, every worker that finished a child of a busy spawner took the
        // spawner's shard lock to unlink it, against the spawner linking the next ones (on a
        // 16-core host, spawn + join 1M at 8 and 16 workers: 558-631 -> 244-312 ns, batches
        // of 1,024: 540-569 -> 252-317; two workers on the 2-core VM, batches 122-141 ->
        // 102-109). Ids come in per-thread blocks, so a spawner's tasks take the shards in turn.
        let shard = id.as_u64() as u32;
        let (join, notified) =
            self.registry
                .bind_with_id(future, Sched { rt: self.rt }, meta, shard, id);
        if let Some(task) = notified {
            let task = match worker {
                Some(w) => w.schedule_local(self, task, false).err(),
                None => Some(task),
            };
            if let Some(task) = task {
                self.schedule_remote(task);
            }
        }
        join
    }

    pub(crate) fn meta(
        &self,
        name: Option<crate::task::TaskName>,
        location: &'static Location<'static>,
        kind: TaskKind,
    ) -> Meta {
        let (parent, scope) = context::with(|cx| (cx.task_id(), cx.spawn_scope.get()));
        Meta {
            location,
            name,
            parent,
            born_ms: self.coarse_ms(),
            kind,
            scope,
        }
    }

    /// Submits a task: to this worker's queue when called on one of our workers, else to the
    /// injector.
    pub(crate) fn schedule(&self, task: Notified<Sched>, is_yield: bool) {
        if let Err(task) = worker::try_schedule_local(self, task, is_yield) {
            self.schedule_remote(task);
        }
    }

    fn schedule_remote(&self, task: Notified<Sched>) {
        match self.inject.push(task) {
            Ok(()) => self.notify_parked(),
            // Shutting down: the registry sweep cancels the task; release the queue reference.
            Err(task) => drop(task),
        }
    }

    /// Wakes a parked worker if nobody is searching for work.
    pub(crate) fn notify_parked(&self) {
        if let Some(index) = self.idle.worker_to_notify() {
            self.remotes[index].unpark.unpark(self);
        }
    }

    /// Wakes a worker if any queue holds work (every worker calls it as it parks).
    pub(crate) fn notify_if_work_pending(&self) {
        if !self.inject.is_empty() || self.remotes.iter().any(|r| !r.steal.is_empty()) {
            self.notify_parked();
        }
    }

    pub(crate) fn unpark_all(&self) {
        for r in self.remotes.iter() {
            r.unpark.unpark(self);
        }
    }

    /// Submits a pinned task to its home worker. `to_back`: not into the pinned LIFO slot (a task
    /// that woke itself, or one just spawned, waits its turn).
    fn schedule_pinned(&self, home: usize, task: Notified<LocalSched>, to_back: bool) {
        if let Err(task) = worker::try_schedule_pinned_local(self, home, task, to_back) {
            let remote = &self.remotes[home];
            // Refused when the home worker has exited: its sweep already cancelled the task, so
            // this is a stale wake-up; the reference is released (after the inbox lock).
            let pushed = remote.inbox.push_unless(task, || {
                self.is_shutdown() && worker::is_stopped(self, home)
            });
            if pushed.is_ok() {
                remote.unpark.unpark(self);
            }
        }
    }

    /// Queues a pinned task that has not started (and is not linked in any registry) for worker
    /// `home`, and wakes it, or, if this is that worker, an idle one that may steal it. Once
    /// `home` has exited, cancels the task instead (cause "shutdown"): nobody else would.
    fn submit_fresh(&self, home: usize, task: Notified<LocalSched>) {
        let remote = &self.remotes[home];
        let pushed = remote.fresh.push_unless(task, || {
            self.is_shutdown() && worker::is_stopped(self, home)
        });
        match pushed {
            Err(task) => crate::task::cancel_unlinked(task),
            Ok(()) if worker::current_worker_index(self) == Some(home) => {
                if self.num_workers() > 1 {
                    self.notify_parked();
                }
            }
            Ok(()) => remote.unpark.unpark(self),
        }
    }

    /// True if some worker other than `me` holds at least `min` pinned tasks that have not
    /// started.
    pub(crate) fn fresh_elsewhere(&self, me: usize, min: usize) -> bool {
        self.remotes
            .iter()
            .enumerate()
            .any(|(i, r)| i != me && r.fresh.len() >= min)
    }

    /// Every live task (async, pinned and blocking), sorted by id.
    pub(crate) fn live_tasks(&self) -> Vec<TaskInfo> {
        self.tick_coarse_clock();
        let now = self.coarse_ms();
        let mut all = self.registry.snapshot(now);
        for r in self.remotes.iter() {
            all.extend(r.local_registry.snapshot(now));
        }
        all.sort_by_key(|t| t.id);
        all
    }

    /// Every idle task that waits on a Spectrum primitive, with what it waits on: the input of
    /// the deadlock check.
    pub(crate) fn waiting_tasks(&self) -> Vec<(crate::task::TaskId, crate::task::WaitOn)> {
        let mut out = Vec::new();
        self.registry.waiting(&mut out);
        for r in self.remotes.iter() {
            r.local_registry.waiting(&mut out);
        }
        out
    }

    /// A snapshot of workers, tasks and scopes; see [`crate::dump`].
    pub(crate) fn dump(&self) -> crate::dump::Dump {
        use crate::dump::{TaskDump, WorkerActivity, WorkerDump};
        let infos = self.live_tasks();
        let samples = self.poll_samples.lock().clone();
        let interval = self
            .config
            .long_poll_threshold
            .map(crate::sched::watchdog::tick_for);
        let now_ms = self.driver.time.clock.now_tick();
        let deadlocks = crate::waitgraph::cycles(&crate::waitgraph::edges(self.waiting_tasks()));
        let tasks = infos
            .into_iter()
            .map(|info| {
                let s = samples.get(&info.id.as_u64());
                TaskDump {
                    polling: interval.map(|i| i * s.map_or(0, |s| s.samples)),
                    longest_poll: s.map(|s| s.longest),
                    timer_in: info.waiting_on.and_then(|w| w.remaining(now_ms)),
                    info,
                }
            })
            .collect();
        let workers = self
            .remotes
            .iter()
            .enumerate()
            .filter(|(i, r)| *i < self.num_workers() || r.progress.sample().0 != 0)
            .map(|(index, r)| {
                let (seq, task) = r.progress.sample();
                let activity = if r.progress.is_stopped() {
                    WorkerActivity::Stopped
                } else if seq % 2 == 1 {
                    WorkerActivity::Polling(crate::task::TaskId::from_raw(task))
                } else if index < self.num_workers() && self.idle.is_parked(index) {
                    WorkerActivity::Parked
                } else {
                    WorkerActivity::Busy
                };
                WorkerDump {
                    index,
                    activity,
                    queued: r.steal.len(),
                }
            })
            .collect();
        let mut scopes: Vec<_> = self.scopes.lock().values().cloned().collect();
        scopes.sort_by_key(|s| s.id);
        crate::dump::Dump {
            workers,
            tasks,
            scopes,
            injected: self.inject.len(),
            deadlocks,
        }
    }

    pub(crate) fn num_live_tasks(&self) -> usize {
        self.registry.len()
            + self
                .remotes
                .iter()
                .map(|r| r.local_registry.len())
                .sum::<usize>()
    }

    /// Makes every `block_on` on this runtime panic with `message` (the first one wins).
    pub(crate) fn fail(&self, message: String) {
        self.fatal.lock().get_or_insert(message);
        // Release: pairs with the Acquire load in `block_on`.
        self.panic_shutdown.store(true, Release);
        let waiters = std::mem::take(&mut *self.block_on_waiters.lock());
        waiters.into_iter().for_each(std::task::Waker::wake);
    }

    /// The live task `id`, polled by worker `worker` in registry shard `shard` as its
    /// `Progress` recorded (`Progress::LOCAL` set: a pinned task, in that worker's registry).
    pub(crate) fn find_task(&self, id: u64, worker: usize, shard: u32) -> Option<TaskInfo> {
        let now = self.coarse_ms();
        if shard & Progress::LOCAL != 0 {
            return self.remotes[worker]
                .local_registry
                .find(id, shard & !Progress::LOCAL, now);
        }
        self.registry.find(id, shard, now)
    }

    pub(crate) fn diagnose(&self, d: Diagnostic) {
        #[cfg(feature = "tracing")]
        tracing::warn!(target: "spectrum::diagnostic", "{d}");
        (self.config.on_diagnostic)(&d);
    }

    pub(crate) fn on_unhandled_panic(&self, task: &Header, payload: &PanicPayload) {
        if let UnhandledPanic::ShutdownRuntime = self.config.unhandled_panic {
            self.diagnose(Diagnostic::UnhandledPanic {
                task: task.id,
                name: task.meta.name.as_deref().map(str::to_owned),
                location: task.meta.location,
                message: payload.message().map(str::to_owned),
            });
            // Shut down first, then wake `block_on`: a caller that wakes sees the runtime down.
            self.begin_shutdown();
            self.unpark_all();
            self.fail(
                "the Spectrum runtime shut down because a task panicked with no JoinHandle to \
                 report to (UnhandledPanic::ShutdownRuntime)"
                    .to_owned(),
            );
        }
    }
}

/// The scheduler of ordinary tasks: any worker may run them.
#[derive(Clone, Copy)]
pub(crate) struct Sched {
    rt: RtRef,
}

impl Schedule for Sched {
    fn schedule(&self, task: Notified<Self>) {
        // Released without scheduling if the runtime is gone: the task was completed by the
        // shutdown sweep before the anchor closed (see `anchor`).
        with_shared(&self.rt, |s| s.schedule(task, false));
    }

    fn yield_now(&self, task: Notified<Self>) {
        with_shared(&self.rt, |s| s.schedule(task, true));
    }

    fn release(&self, task: RawTask) -> bool {
        with_shared(&self.rt, |s| s.registry.remove(task)).unwrap_or(false)
    }

    fn unhandled_panic(&self, task: &Header, payload: &PanicPayload) {
        with_shared(&self.rt, |s| s.on_unhandled_panic(task, payload));
    }
}

/// The scheduler of tasks pinned to one worker thread.
pub(crate) struct LocalSched {
    rt: RtRef,
    /// The worker the task is pinned to. Changed only before its first poll, by a worker that
    /// stole it from another's `fresh` queue (`rehome`), while that worker holds the task's only
    /// `Notified`: nothing else schedules a task that is already notified.
    home: AtomicUsize,
}

impl LocalSched {
    #[inline]
    fn home(&self) -> usize {
        // Acquire: pairs with the Release in `rehome` (the thief then polls the task, and any
        // other thread reaches it through what that poll published).
        self.home.load(Acquire)
    }

    /// Pins `task`, stolen before its first poll, to worker `to`.
    pub(crate) fn rehome(task: &Notified<LocalSched>, to: usize) {
        let raw = RawTask(std::ptr::NonNull::from(task.header()));
        // SAFETY: every task in a `fresh` queue was allocated with a `LocalSched`; `task` keeps
        // it alive.
        let sched = unsafe { raw.scheduler::<LocalSched>() };
        // Release: pairs with the Acquire in `home`.
        sched.home.store(to, Release);
    }
}

impl Schedule for LocalSched {
    fn schedule(&self, task: Notified<Self>) {
        with_shared(&self.rt, |s| s.schedule_pinned(self.home(), task, false));
    }

    fn yield_now(&self, task: Notified<Self>) {
        with_shared(&self.rt, |s| s.schedule_pinned(self.home(), task, true));
    }

    fn release(&self, task: RawTask) -> bool {
        with_shared(&self.rt, |s| {
            let home = self.home();
            let removed = s.remotes[home].local_registry.remove(task);
            if removed {
                s.remove_resident(home);
            }
            removed
        })
        .unwrap_or(false)
    }

    fn unhandled_panic(&self, task: &Header, payload: &PanicPayload) {
        with_shared(&self.rt, |s| s.on_unhandled_panic(task, payload));
    }
}

/// A handle to a runtime: spawn onto it, enter it, inspect it. Cheap to clone; usable from any
/// thread, also after the runtime shut down (spawns then return handles that resolve to
/// `Err(JoinError::Cancelled)` with cause "runtime shut down").
#[derive(Clone)]
pub struct Handle {
    pub(crate) shared: Arc<Shared>,
}

/// The error of [`Handle::try_current`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryCurrentError(());

impl fmt::Display for TryCurrentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no Spectrum runtime is entered on this thread")
    }
}

impl std::error::Error for TryCurrentError {}

impl Handle {
    /// The handle of the runtime this thread has entered.
    ///
    /// # Panics
    ///
    /// Outside a runtime (use [`try_current`](Self::try_current)).
    #[track_caller]
    pub fn current() -> Handle {
        match Handle::try_current() {
            Ok(h) => h,
            Err(_) => panic!(
                "no Spectrum runtime: `Handle::current` must be called from a task, inside \
                 `Runtime::block_on`, or after `Handle::enter()`"
            ),
        }
    }

    /// Whether this thread has entered a runtime: what [`try_current`](Self::try_current)
    /// checks, without taking a reference to the handle (one thread-local read).
    pub fn is_entered() -> bool {
        with_current(|s| s.is_some())
    }

    /// The handle of the runtime this thread has entered, if any.
    pub fn try_current() -> Result<Handle, TryCurrentError> {
        with_current(|s| match s {
            Some(shared) => Ok(Handle {
                shared: shared.handle_arc(),
            }),
            None => Err(TryCurrentError(())),
        })
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Spawns a task onto this runtime. See [`crate::spawn`].
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.shared.spawn(future, None, Location::caller())
    }

    /// Runs a blocking closure on the blocking pool. See [`crate::spawn_blocking`].
    #[track_caller]
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        crate::blocking::spawn_blocking_on(&self.shared, f, None, Location::caller())
    }

    /// Spawns a task pinned to one worker thread: `make` runs on that thread and builds the
    /// future there, so the future itself need not be `Send` (tokio-util's
    /// `LocalPoolHandle::spawn_pinned`). Pinned tasks never migrate once started. The task is
    /// queued on the calling worker (round-robin from other threads; on another worker when the
    /// calling one holds many more live pinned tasks while a worker is idle); an idle worker may
    /// take it before it starts, as Go's idle processors steal goroutines that have not run.
    #[track_caller]
    pub fn spawn_pinned<M, F>(&self, make: M) -> JoinHandle<F::Output>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future + 'static,
        F::Output: Send + 'static,
    {
        spawn_pinned_on(
            &self.shared,
            make,
            None,
            TaskKind::Local,
            Location::caller(),
        )
    }

    /// Enters the runtime on this thread until the guard drops, so `spawn`, timers and sockets
    /// find it.
    pub fn enter(&self) -> crate::runtime::EnterGuard {
        crate::runtime::EnterGuard(enter(self.clone()))
    }

    /// Runs `future` to completion on the current thread, with the runtime entered.
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let _enter = enter(self.clone());
        crate::wait::block_on_entered(&self.shared, future)
    }

    /// A snapshot of every live task: id, name, spawn site, parent, state, age, polls.
    pub fn live_tasks(&self) -> Vec<TaskInfo> {
        self.shared.live_tasks()
    }

    /// A task dump: workers, the tree of live tasks and scopes, what each waits on, sampled
    /// poll times; `Display` prints the tree, [`to_json`](crate::dump::Dump::to_json) the data.
    pub fn dump(&self) -> crate::dump::Dump {
        self.shared.dump()
    }

    /// Sends a diagnostic to the runtime's hook (stderr by default): for model layers that detect
    /// misuse or faults of their own.
    pub fn report(&self, diagnostic: Diagnostic) {
        self.shared.diagnose(diagnostic);
    }

    /// The number of worker threads.
    pub fn num_workers(&self) -> usize {
        self.shared.num_workers()
    }

    /// True once the runtime has begun shutting down.
    pub fn is_shutdown(&self) -> bool {
        self.shared.is_shutdown()
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("workers", &self.shared.num_workers())
            .field("shutdown", &self.shared.is_shutdown())
            .finish()
    }
}

/// Spawns a future built by `make`, pinned to the worker that first polls it: queued for the
/// worker `Shared::pinned_home` names, which takes it unless an idle worker steals it first
/// (`Remote::fresh`). `make` runs on the worker it is pinned to.
pub(crate) fn spawn_pinned_on<M, F>(
    shared: &Shared,
    make: M,
    name: Option<crate::task::TaskName>,
    kind: TaskKind,
    location: &'static Location<'static>,
) -> JoinHandle<F::Output>
where
    M: FnOnce() -> F + Send + 'static,
    F: Future + 'static,
    F::Output: Send + 'static,
{
    let home = shared.pinned_home();
    let meta = shared.meta(name, location, kind);
    let sched = LocalSched {
        rt: shared.rt,
        home: AtomicUsize::new(home),
    };
    // Not linked in a registry until a worker takes it: the one that does links it in its own
    // (linking here took the home worker's registry lock from the spawner's core, and that
    // worker took it again to unlink the finished task: the lock's line crossed cores twice per
    // fiber, a tenth of the time of fibers spawned over two workers).
    let (join, task) = Registry::allocate_unlinked(PinnedFuture::Make(Some(make)), sched, meta, 0);
    shared.submit_fresh(home, task);
    join
}

/// Spawns a `!Send` future pinned to worker `home`, the current one.
pub(crate) fn spawn_local_here<F>(
    shared: &Shared,
    home: usize,
    future: F,
    name: Option<crate::task::TaskName>,
    kind: TaskKind,
    location: &'static Location<'static>,
) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    debug_assert_eq!(worker::current_worker_index(shared), Some(home));
    let meta = shared.meta(name, location, kind);
    let sched = LocalSched {
        rt: shared.rt,
        home: AtomicUsize::new(home),
    };
    let (join, notified) = shared.remotes[home]
        .local_registry
        .bind(future, sched, meta, 0);
    if let Some(task) = notified {
        shared.add_resident(home, 1);
        shared.schedule_pinned(home, task, true);
    }
    join
}

/// A pinned future that is built on its home thread at its first poll.
enum PinnedFuture<M, F> {
    Make(Option<M>),
    Running(F),
}

impl<M, F> PinnedFuture<M, F>
where
    M: FnOnce() -> F,
{
    /// The first poll: builds the future on its home thread.
    #[cold]
    #[inline(never)]
    fn make(&mut self) {
        if let PinnedFuture::Make(make) = self {
            let make = make.take().expect("pinned future built twice");
            *self = PinnedFuture::Running(make());
        }
    }
}

impl<M, F> Future for PinnedFuture<M, F>
where
    M: FnOnce() -> F,
    F: Future,
{
    type Output = F::Output;

    // Inlined into the task's poll: a fiber's poll switches stacks, and every frame between the
    // worker loop and the switch costs a mispredicted return on the way back.
    #[inline(always)]
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        // SAFETY: we never move `F` once it is in `Running`; `M` is moved out only before that.
        let me = unsafe { self.get_unchecked_mut() };
        if let PinnedFuture::Make(_) = me {
            me.make();
        }
        match me {
            // SAFETY: `F` lives inside the pinned task cell and is not moved.
            PinnedFuture::Running(f) => unsafe { std::pin::Pin::new_unchecked(f) }.poll(cx),
            PinnedFuture::Make(_) => unreachable!(),
        }
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("workers", &self.config.workers)
            .field("inject", &self.inject)
            .field("idle", &self.idle)
            .finish_non_exhaustive()
    }
}

/// Builds the shared state for `config` (threads are started by the runtime).
pub(crate) fn build(config: Config) -> std::io::Result<Arc<Shared>> {
    let (driver, driver_handle) = crate::driver::new(config.start_paused)?;
    let workers = config.workers;
    let mut parts = Vec::with_capacity(workers + config.max_spare_threads);
    let mut remotes = Vec::with_capacity(workers + config.max_spare_threads);
    for _ in 0..workers + config.max_spare_threads {
        let (local, steal) = queue::local();
        let (parker, unparker) = park::pair();
        parts.push(Some(worker::WorkerParts {
            run_queue: local,
            parker,
        }));
        remotes.push(CachePadded::new(Remote {
            steal,
            unpark: unparker,
            inbox: CachePadded::new(inbox::Inbox::new()),
            fresh: CachePadded::new(inbox::Inbox::new()),
            local_registry: Registry::new(1),
            resident: CachePadded::new(AtomicUsize::new(0)),
            progress: CachePadded::new(Progress::default()),
            blocked: AtomicBool::new(false),
        }));
    }
    let blocking = BlockingPool::new(&config);
    Ok(Arc::new_cyclic(|weak| Shared {
        rt: RtRef::acquire(weak.as_ptr()),
        remotes: remotes.into_boxed_slice(),
        inject: inject::Inject::new(),
        idle: idle::Idle::new(workers),
        registry: Registry::new(workers * 4),
        driver: driver_handle,
        driver_cell: Mutex::new(Some(driver)),
        blocking,
        is_shutdown: AtomicBool::new(false),
        started: Instant::now(),
        coarse_ms: AtomicU32::new(0),
        inhibit_auto_advance: Arc::new(AtomicUsize::new(0)),
        next_pinned: AtomicUsize::new(0),
        spares: AtomicUsize::new(0),
        panic_shutdown: AtomicBool::new(false),
        fatal: Mutex::new(None),
        threads: Mutex::new(Vec::new()),
        block_on_waiters: Mutex::new(Vec::new()),
        scopes: Mutex::new(std::collections::HashMap::new()),
        poll_samples: Mutex::new(std::collections::HashMap::new()),
        worker_parts: Mutex::new(parts),
        config,
    }))
}

/// A worker thread's body.
pub(crate) fn worker_run(shared: Arc<Shared>, index: usize, parts: worker::WorkerParts) {
    worker::run(shared, index, parts, false);
}

/// How long `Runtime` drop waits for stuck threads before reporting and detaching them.
pub(crate) fn default_shutdown_timeout() -> Duration {
    Duration::from_secs(10)
}
