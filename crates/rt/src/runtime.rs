//! `Runtime` and its `Builder`: worker threads, the driver, the blocking pool, and shutdown.

use std::fmt;
use std::future::Future;
use std::io;
use std::panic::Location;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::sched::{self, Handle, Shared};
use crate::task::{JoinHandle, TaskId, TaskInfo, TaskKind, TaskState};

/// What the runtime does when a task panics and nobody holds its `JoinHandle` (it was dropped
/// or detached), so nobody will ever see the panic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnhandledPanic {
    /// Drop the panic (the default, as tokio). The task's panic is still caught.
    #[default]
    Ignore,
    /// Report it as a [`Diagnostic`] and shut the runtime down; `block_on` then panics.
    ShutdownRuntime,
}

/// What the runtime does about blocking inside async code (seed pitfall 1): a `.wait()` called
/// in an async task, or a poll that runs longer than the long-poll threshold (a task calling
/// `std::thread::sleep`, a tight loop, a blocking system call).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlockingPolicy {
    /// Report it as a [`Diagnostic`] (task name, id, spawn site, how long), then carry on.
    #[default]
    Report,
    /// Report it, and hand the stuck worker's queue to a spare thread (tokio's
    /// `block_in_place`, Go's hand-off of a P stuck in a system call), so other tasks keep
    /// running. The runtime never grows past `max_spare_threads` extra threads.
    Compensate,
    /// Report it and fail: `.wait()` in async code panics inside the task, and a long poll makes
    /// `block_on` panic with the report. For tests that must not block.
    Panic,
}

/// Something the runtime noticed and reports to the diagnostic hook (stderr by default).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Diagnostic {
    /// `.wait()` (or `block_on`) was called inside an async task on a worker thread.
    BlockingWait {
        /// The task that blocked.
        task: TaskId,
        /// Its name.
        name: Option<String>,
        /// Where it was spawned.
        spawned_at: &'static Location<'static>,
        /// Where `.wait()` was called.
        called_at: &'static Location<'static>,
        /// Whether the worker's queue was handed to a spare thread.
        compensated: bool,
    },
    /// A task panicked with no handle to report to, and the runtime is shutting down for it.
    UnhandledPanic {
        /// The task.
        task: TaskId,
        /// Its name.
        name: Option<String>,
        /// Where it was spawned.
        location: &'static Location<'static>,
        /// The panic message, if it was a string.
        message: Option<String>,
    },
    /// A poll has been running longer than the long-poll threshold: the task blocks its worker.
    /// Reported once per stall.
    LongPoll {
        /// The stuck task (its id alone if it could not be looked up).
        task: TaskId,
        /// Its name.
        name: Option<String>,
        /// Where it was spawned.
        spawned_at: Option<&'static Location<'static>>,
        /// The worker it blocks.
        worker: usize,
        /// How long the poll has run so far.
        running_for: Duration,
        /// Whether the worker's queue was handed to a spare thread.
        compensated: bool,
    },
    /// Shutdown gave up waiting for these tasks (typically blocking jobs or polls that never
    /// return) and detached their threads.
    ShutdownTimeout {
        /// How long shutdown waited.
        waited: Duration,
        /// The tasks still running.
        stuck: Vec<TaskInfo>,
    },
    /// A model layer saw its API misused (a callback called twice, a resolver settled twice...).
    Misuse {
        /// What happened.
        message: String,
        /// Where the misused object was made, if known.
        location: Option<&'static Location<'static>>,
    },
    /// Spectrum's locks were taken in orders that can deadlock, or a task took a lock it holds
    /// (debug builds; see [`crate::lockdep`]). Reported the first time the order is seen,
    /// before any deadlock happens.
    LockOrderInversion(Box<crate::lockdep::LockOrderReport>),
    /// Tasks wait for each other in a cycle through Spectrum's primitives (see
    /// [`crate::waitgraph`]); reported once per cycle by the periodic check.
    Deadlock {
        /// The cycle.
        cycle: crate::waitgraph::Cycle,
        /// The tasks in it (name, spawn site, ...), in the cycle's order where still alive.
        tasks: Vec<TaskInfo>,
    },
    /// The runtime could not start a thread.
    ThreadSpawnFailed {
        /// Which thread.
        what: &'static str,
        /// The OS error.
        error: String,
    },
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Diagnostic::BlockingWait {
                task,
                name,
                spawned_at,
                called_at,
                compensated,
            } => {
                write!(f, "blocking call inside async task {task}")?;
                if let Some(n) = name {
                    write!(f, " \"{n}\"")?;
                }
                write!(
                    f,
                    " (spawned at {spawned_at}): `.wait()` at {called_at} blocks a worker"
                )?;
                if *compensated {
                    f.write_str("; its queue was handed to a spare thread")
                } else {
                    f.write_str(
                        "; await the future instead, or use spawn_blocking / a fiber for \
                         sync-style code",
                    )
                }
            }
            Diagnostic::UnhandledPanic {
                task,
                name,
                location,
                message,
            } => {
                write!(f, "task {task}")?;
                if let Some(n) = name {
                    write!(f, " \"{n}\"")?;
                }
                write!(
                    f,
                    " (spawned at {location}) panicked with no JoinHandle to report to: {}; \
                     shutting the runtime down (UnhandledPanic::ShutdownRuntime)",
                    message.as_deref().unwrap_or("<non-string payload>")
                )
            }
            Diagnostic::LongPoll {
                task,
                name,
                spawned_at,
                worker,
                running_for,
                compensated,
            } => {
                write!(f, "task {task}")?;
                if let Some(n) = name {
                    write!(f, " \"{n}\"")?;
                }
                if let Some(at) = spawned_at {
                    write!(f, " (spawned at {at})")?;
                }
                write!(
                    f,
                    " has been running one poll for {} on worker {worker}: it blocks \
                     the worker (a blocking call or a loop without an .await?)",
                    crate::dump::Rounded(*running_for)
                )?;
                if *compensated {
                    f.write_str("; its queue was handed to a spare thread")?;
                }
                Ok(())
            }
            Diagnostic::ShutdownTimeout { waited, stuck } => {
                write!(
                    f,
                    "shutdown waited {waited:?} and detached {} stuck task(s)",
                    stuck.len()
                )?;
                for t in stuck {
                    write!(f, "\n  {t}")?;
                }
                Ok(())
            }
            Diagnostic::Misuse { message, location } => {
                f.write_str(message)?;
                if let Some(at) = location {
                    write!(f, " (made at {at})")?;
                }
                Ok(())
            }
            Diagnostic::LockOrderInversion(report) => write!(f, "{report}"),
            Diagnostic::Deadlock { cycle, tasks } => {
                write!(f, "{cycle}")?;
                for t in tasks {
                    write!(f, "\n  {t}")?;
                }
                Ok(())
            }
            Diagnostic::ThreadSpawnFailed { what, error } => {
                write!(f, "could not start a {what} thread: {error}")
            }
        }
    }
}

type DiagnosticHook = Arc<dyn Fn(&Diagnostic) + Send + Sync>;

/// The runtime's configuration, fixed at build time.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) workers: usize,
    pub(crate) thread_name: String,
    pub(crate) thread_stack_size: Option<usize>,
    pub(crate) max_blocking_threads: usize,
    pub(crate) blocking_keep_alive: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) event_interval: u32,
    pub(crate) global_queue_interval: u32,
    pub(crate) unhandled_panic: UnhandledPanic,
    pub(crate) blocking_policy: BlockingPolicy,
    pub(crate) start_paused: bool,
    pub(crate) max_spare_threads: usize,
    pub(crate) long_poll_threshold: Option<Duration>,
    pub(crate) deadlock_check: Option<Duration>,
    pub(crate) on_diagnostic: DiagnosticHook,
}

/// How often the deadlock check runs by default: every second.
pub const DEFAULT_DEADLOCK_CHECK: Duration = Duration::from_secs(1);

/// The default long-poll threshold: 10 ms.
pub const DEFAULT_LONG_POLL_THRESHOLD: Duration = Duration::from_millis(10);

/// The most worker threads a runtime accepts; more is almost certainly a mistake (a count of
/// bytes or tasks passed by accident) and would exhaust the process's threads.
pub const MAX_WORKERS: usize = 1024;
/// The most blocking-pool threads a runtime accepts.
pub const MAX_BLOCKING_THREADS: usize = 32_768;

/// Why a runtime could not be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// A setting is out of range; the message says which and why.
    InvalidConfig(String),
    /// The OS refused a resource (a thread, the epoll instance).
    Io(io::Error),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::InvalidConfig(m) => write!(f, "invalid runtime configuration: {m}"),
            BuildError::Io(e) => write!(f, "could not start the runtime: {e}"),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Io(e) => Some(e),
            BuildError::InvalidConfig(_) => None,
        }
    }
}

impl From<BuildError> for io::Error {
    fn from(e: BuildError) -> io::Error {
        match e {
            BuildError::Io(e) => e,
            BuildError::InvalidConfig(m) => io::Error::new(io::ErrorKind::InvalidInput, m),
        }
    }
}

/// Configures and builds a [`Runtime`].
///
/// ```
/// let rt = spectrum_rt::Runtime::builder().workers(2).thread_name("app").build().unwrap();
/// assert_eq!(rt.block_on(async { 1 + 1 }), 2);
///
/// let err = spectrum_rt::Runtime::builder().workers(0).build().unwrap_err();
/// assert!(err.to_string().contains("workers"));
/// ```
#[derive(Clone)]
pub struct Builder {
    workers: Option<usize>,
    thread_name: String,
    thread_stack_size: Option<usize>,
    max_blocking_threads: usize,
    blocking_keep_alive: Duration,
    shutdown_timeout: Duration,
    event_interval: u32,
    global_queue_interval: u32,
    unhandled_panic: UnhandledPanic,
    blocking_policy: BlockingPolicy,
    start_paused: bool,
    max_spare_threads: Option<usize>,
    long_poll_threshold: Option<Duration>,
    deadlock_check: Option<Duration>,
    on_diagnostic: Option<DiagnosticHook>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            workers: None,
            thread_name: "spectrum".into(),
            thread_stack_size: None,
            max_blocking_threads: 512,
            blocking_keep_alive: Duration::from_secs(10),
            shutdown_timeout: sched::default_shutdown_timeout(),
            event_interval: 61,
            global_queue_interval: 61,
            unhandled_panic: UnhandledPanic::Ignore,
            blocking_policy: BlockingPolicy::Report,
            start_paused: false,
            max_spare_threads: None,
            long_poll_threshold: Some(DEFAULT_LONG_POLL_THRESHOLD),
            deadlock_check: Some(DEFAULT_DEADLOCK_CHECK),
            on_diagnostic: None,
        }
    }
}

impl Builder {
    /// A builder with the defaults: one worker per CPU, 512 blocking threads.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Worker threads (1 ..= [`MAX_WORKERS`]); default: the number of CPUs. `workers(1)` is a
    /// single-threaded runtime with no stealing overhead worth measuring.
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = Some(n);
        self
    }

    /// Thread name prefix (default `spectrum`).
    pub fn thread_name(mut self, name: impl Into<String>) -> Self {
        self.thread_name = name.into();
        self
    }

    /// Stack size of worker and blocking threads (at least 64 KiB).
    pub fn thread_stack_size(mut self, bytes: usize) -> Self {
        self.thread_stack_size = Some(bytes);
        self
    }

    /// Cap on blocking-pool threads (1 ..= [`MAX_BLOCKING_THREADS`], default 512).
    pub fn max_blocking_threads(mut self, n: usize) -> Self {
        self.max_blocking_threads = n;
        self
    }

    /// How long an idle blocking thread lives (default 10 s).
    pub fn blocking_keep_alive(mut self, d: Duration) -> Self {
        self.blocking_keep_alive = d;
        self
    }

    /// How long dropping the runtime waits for stuck threads before reporting and detaching
    /// them (default 10 s).
    pub fn shutdown_timeout(mut self, d: Duration) -> Self {
        self.shutdown_timeout = d;
        self
    }

    /// Scheduler ticks between polls of the driver while workers are busy (default 61).
    pub fn event_interval(mut self, ticks: u32) -> Self {
        self.event_interval = ticks;
        self
    }

    /// Scheduler ticks between checks of the global queue ahead of the local one (default 61).
    pub fn global_queue_interval(mut self, ticks: u32) -> Self {
        self.global_queue_interval = ticks;
        self
    }

    /// What to do with panics nobody can observe.
    pub fn unhandled_panic(mut self, policy: UnhandledPanic) -> Self {
        self.unhandled_panic = policy;
        self
    }

    /// What `.wait()` inside an async task does.
    pub fn blocking_policy(mut self, policy: BlockingPolicy) -> Self {
        self.blocking_policy = policy;
        self
    }

    /// Starts with the clock paused (for deterministic, instant time-based tests).
    pub fn start_paused(mut self, paused: bool) -> Self {
        self.start_paused = paused;
        self
    }

    /// Cap on spare threads that take over blocked workers' queues (default: the number of
    /// workers).
    pub fn max_spare_threads(mut self, n: usize) -> Self {
        self.max_spare_threads = Some(n);
        self
    }

    /// Polls longer than this are reported (and handled per the [`BlockingPolicy`]) by a
    /// watchdog thread; `None` turns the watchdog off. Default: 10 ms (Go preempts a goroutine
    /// after 10 ms too). Values below 1 ms are raised to 1 ms.
    pub fn long_poll_threshold(mut self, threshold: Option<Duration>) -> Self {
        self.long_poll_threshold = threshold;
        self
    }

    /// How often the watchdog thread looks for tasks that wait for each other in a cycle through
    /// Spectrum's primitives (locks, joins, asks, channels; see [`crate::waitgraph`]) and reports
    /// each new cycle once as [`Diagnostic::Deadlock`] (a probable one, through a channel, once
    /// two checks in a row have seen it); `None` turns the check off. Default: every second.
    /// It costs nothing while no primitive has ever made a task wait; otherwise each check
    /// lists the live tasks once. Values below 10 ms are raised to 10 ms.
    pub fn detect_deadlocks(mut self, every: Option<Duration>) -> Self {
        self.deadlock_check = every;
        self
    }

    /// Where diagnostics go (default: one line each on stderr).
    pub fn on_diagnostic(mut self, hook: impl Fn(&Diagnostic) + Send + Sync + 'static) -> Self {
        self.on_diagnostic = Some(Arc::new(hook));
        self
    }

    fn config(&self) -> Result<Config, BuildError> {
        let workers = match self.workers {
            Some(n) => n,
            None => std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(MAX_WORKERS),
        };
        let invalid = |m: String| Err(BuildError::InvalidConfig(m));
        if workers == 0 {
            return invalid("workers must be at least 1".into());
        }
        if workers > MAX_WORKERS {
            return invalid(format!(
                "workers = {workers} exceeds the limit of {MAX_WORKERS}"
            ));
        }
        if self.max_blocking_threads == 0 || self.max_blocking_threads > MAX_BLOCKING_THREADS {
            return invalid(format!(
                "max_blocking_threads = {} must be in 1..={MAX_BLOCKING_THREADS}",
                self.max_blocking_threads
            ));
        }
        if self.event_interval == 0 || self.global_queue_interval == 0 {
            return invalid("event_interval and global_queue_interval must be at least 1".into());
        }
        if let Some(size) = self.thread_stack_size {
            if size < 64 * 1024 {
                return invalid(format!("thread_stack_size = {size} is below 64 KiB"));
            }
        }
        let max_spare_threads = self.max_spare_threads.unwrap_or(workers);
        if max_spare_threads > MAX_WORKERS {
            return invalid(format!("max_spare_threads must be at most {MAX_WORKERS}"));
        }
        Ok(Config {
            workers,
            thread_name: self.thread_name.clone(),
            thread_stack_size: self.thread_stack_size,
            max_blocking_threads: self.max_blocking_threads,
            blocking_keep_alive: self.blocking_keep_alive,
            shutdown_timeout: self.shutdown_timeout,
            event_interval: self.event_interval,
            global_queue_interval: self.global_queue_interval,
            unhandled_panic: self.unhandled_panic,
            blocking_policy: self.blocking_policy,
            start_paused: self.start_paused,
            max_spare_threads,
            long_poll_threshold: self
                .long_poll_threshold
                .map(|t| t.max(Duration::from_millis(1))),
            deadlock_check: self
                .deadlock_check
                .map(|t| t.max(Duration::from_millis(10))),
            on_diagnostic: self
                .on_diagnostic
                .clone()
                .unwrap_or_else(|| Arc::new(|d: &Diagnostic| eprintln!("spectrum: {d}"))),
        })
    }

    /// Builds the runtime and starts its worker threads.
    ///
    /// # Errors
    ///
    /// [`BuildError::InvalidConfig`] for out-of-range settings (zero workers, absurd caps), or
    /// [`BuildError::Io`] if the OS refuses a thread or the I/O reactor.
    pub fn build(&self) -> Result<Runtime, BuildError> {
        let config = self.config()?;
        let shared = sched::build(config).map_err(BuildError::Io)?;
        let rt = Runtime {
            handle: Handle {
                shared: shared.clone(),
            },
            done: false,
        };
        for index in 0..shared.num_workers() {
            let parts = shared.worker_parts.lock()[index]
                .take()
                .expect("worker parts");
            let s = shared.clone();
            let mut b = std::thread::Builder::new()
                .name(format!("{}-worker-{index}", shared.config.thread_name));
            if let Some(size) = shared.config.thread_stack_size {
                b = b.stack_size(size);
            }
            let handle = b
                .spawn(move || sched::worker_run(s, index, parts))
                .map_err(BuildError::Io)?;
            shared.threads.lock().push(handle);
        }
        if shared.config.long_poll_threshold.is_some() || shared.config.deadlock_check.is_some() {
            let s = shared.clone();
            let handle = std::thread::Builder::new()
                .name(format!("{}-watchdog", shared.config.thread_name))
                .spawn(move || sched::watchdog::run(s))
                .map_err(BuildError::Io)?;
            shared.threads.lock().push(handle);
        }
        Ok(rt)
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("workers", &self.workers)
            .field("thread_name", &self.thread_name)
            .field("max_blocking_threads", &self.max_blocking_threads)
            .field("unhandled_panic", &self.unhandled_panic)
            .field("blocking_policy", &self.blocking_policy)
            .field("start_paused", &self.start_paused)
            .finish_non_exhaustive()
    }
}

/// The Spectrum runtime: worker threads running tasks, the I/O and timer driver, and the
/// blocking pool.
///
/// Dropping the runtime shuts it down cleanly: every task is cancelled (its destructors run),
/// pending timers fire, and every thread is joined — waiting at most the shutdown timeout for
/// threads stuck in user code, which are then reported and detached rather than hang the
/// program.
///
/// ```
/// use spectrum_rt::Runtime;
///
/// let rt = Runtime::new().unwrap();
/// let answer = rt.block_on(async {
///     let a = spectrum_rt::spawn(async { 40 });
///     let b = spectrum_rt::spawn(async { 2 });
///     a.await.unwrap() + b.await.unwrap()
/// });
/// assert_eq!(answer, 42);
/// ```
pub struct Runtime {
    handle: Handle,
    done: bool,
}

/// Keeps a runtime entered on this thread; see [`Runtime::enter`].
pub struct EnterGuard(#[allow(dead_code)] pub(crate) sched::EnterGuard);

impl fmt::Debug for EnterGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EnterGuard")
    }
}

impl Runtime {
    /// A runtime with the default configuration (one worker per CPU).
    ///
    /// # Errors
    ///
    /// If the OS refuses a thread or the I/O reactor.
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build().map_err(Into::into)
    }

    /// A [`Builder`].
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Runs `future` to completion on the calling thread, with the runtime entered (so it can
    /// spawn, sleep and use sockets). The future itself runs on this thread; tasks it spawns
    /// run on the workers.
    ///
    /// # Panics
    ///
    /// If `future` panics, or if the runtime shut down because of an unhandled panic
    /// ([`UnhandledPanic::ShutdownRuntime`]).
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.handle.block_on(future)
    }

    /// Spawns a task. See [`crate::spawn`].
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }

    /// Runs a blocking closure on the blocking pool. See [`crate::spawn_blocking`].
    #[track_caller]
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.handle.spawn_blocking(f)
    }

    /// The runtime's handle.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Enters the runtime on this thread until the guard drops.
    pub fn enter(&self) -> EnterGuard {
        self.handle.enter()
    }

    /// A snapshot of every live task: id, name, spawn site, parent, state, age, polls.
    pub fn live_tasks(&self) -> Vec<TaskInfo> {
        self.handle.live_tasks()
    }

    /// A task dump (see [`Handle::dump`]).
    pub fn dump(&self) -> crate::dump::Dump {
        self.handle.dump()
    }

    /// Shuts down, waiting at most `timeout` for threads stuck in user code (they are reported
    /// through the diagnostic hook and detached). Returns `true` if everything stopped in time.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> bool {
        self.shutdown(timeout)
    }

    fn shutdown(&mut self, timeout: Duration) -> bool {
        if std::mem::replace(&mut self.done, true) {
            return true;
        }
        let shared: &Arc<Shared> = &self.handle.shared;
        let deadline = Instant::now() + timeout;
        let _enter = sched::enter(self.handle.clone());
        shared.begin_shutdown();
        shared.unpark_all();
        // Cancel every task that is not running right now, here; running ones are cancelled by
        // their pollers when the poll returns.
        shared.registry.close_and_shutdown_all();
        shared.inject.close();
        // Join the workers (each cancels its pinned tasks on its own thread).
        let me = std::thread::current().id();
        let mut all_stopped = true;
        let threads = std::mem::take(&mut *shared.threads.lock());
        for t in threads {
            if t.thread().id() == me {
                all_stopped = false;
                continue;
            }
            while !t.is_finished() && Instant::now() < deadline {
                shared.unpark_all();
                std::thread::sleep(Duration::from_millis(1));
            }
            if t.is_finished() {
                let _ = t.join();
            } else {
                all_stopped = false;
            }
        }
        while shared.inject.pop().is_some() {}
        // Fire every timer: sleeps held outside tasks (say, in `block_on`) complete at once.
        shared.driver.time.shutdown();
        all_stopped &= shared.blocking.shutdown(deadline);
        // Sweep once more: tasks a stuck worker finished polling meanwhile, or blocking jobs that
        // completed.
        shared.registry.close_and_shutdown_all();
        // The exited workers handed their recycled task cells to the global pool, where no
        // worker of this runtime is left to trim them.
        crate::task::alloc::release_surplus();
        if !all_stopped || shared.num_live_tasks() > 0 {
            let stuck: Vec<TaskInfo> = shared
                .live_tasks()
                .into_iter()
                .filter(|t| t.state == TaskState::Running || t.kind == TaskKind::Blocking)
                .collect();
            shared.diagnose(Diagnostic::ShutdownTimeout {
                waited: timeout,
                stuck,
            });
            all_stopped = false;
        }
        if all_stopped {
            shared.rt.close();
        } else {
            // Threads still run user code and may still reach the anchor: leave it open and keep
            // the shared state alive for good (a deliberate leak of one runtime's bookkeeping),
            // rather than wait forever or free memory a straggler may touch.
            std::mem::forget(shared.clone());
        }
        all_stopped
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let timeout = self.handle.shared.config.shutdown_timeout;
        self.shutdown(timeout);
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("handle", &self.handle)
            .finish()
    }
}
