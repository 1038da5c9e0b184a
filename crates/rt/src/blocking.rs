//! The blocking pool: OS threads for closures that block.
//!
//! `spawn_blocking(f)` runs `f` on a pool of at most `max_blocking_threads` threads (512 by
//! default, as tokio), started on demand and retired after `blocking_keep_alive` idle (10 s).
//! Jobs wait in a FIFO queue when every thread is busy. A blocking job is an ordinary task (its
//! future runs the closure once), so it has a `JoinHandle`, an id and a registry entry like any
//! other; cancelling a job that has not started drops its closure at once, and it never runs. A
//! job that has started cannot be interrupted (no OS offers that safely); its output is
//! discarded if its handle is gone.
//!
//! At shutdown the pool waits up to the runtime's shutdown timeout for running jobs, then reports
//! the stuck ones (name, spawn site, age) and detaches their threads rather than hang.

use std::collections::VecDeque;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use spectrum_sync::atomic::Ordering::AcqRel;
use spectrum_sync::{Condvar, Mutex};

use crate::runtime::Config;
use crate::sched::{self, RtRef, Shared};
use crate::task::{Header, JoinHandle, Notified, PanicPayload, RawTask, Schedule, TaskKind};

pub(crate) struct BlockingPool {
    state: Mutex<State>,
    condvar: Condvar,
    max_threads: usize,
    keep_alive: Duration,
}

struct State {
    queue: VecDeque<Notified<BlockingSched>>,
    num_threads: usize,
    num_idle: usize,
    /// Idle threads that were notified and have not yet woken (so a burst of jobs does not count
    /// the same idle thread twice).
    num_notified: usize,
    shutdown: bool,
    threads: Vec<std::thread::JoinHandle<()>>,
    next_id: usize,
}

impl BlockingPool {
    pub(crate) fn new(config: &Config) -> BlockingPool {
        BlockingPool {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                num_threads: 0,
                num_idle: 0,
                num_notified: 0,
                shutdown: false,
                threads: Vec::new(),
                next_id: 0,
            }),
            condvar: Condvar::new(),
            max_threads: config.max_blocking_threads,
            keep_alive: config.blocking_keep_alive,
        }
    }

    fn push(&self, shared: &Shared, task: Notified<BlockingSched>) {
        let mut state = self.state.lock();
        if state.shutdown {
            // The registry sweep cancels the task; release the queue reference.
            drop(state);
            drop(task);
            return;
        }
        state.queue.push_back(task);
        // AcqRel: see `Shared::inhibit_auto_advance`; released when a pool thread has run it.
        shared.inhibit_auto_advance.fetch_add(1, AcqRel);
        if state.num_idle > state.num_notified {
            state.num_notified += 1;
            drop(state);
            self.condvar.notify_one();
        } else if state.num_threads < self.max_threads {
            state.num_threads += 1;
            let id = state.next_id;
            state.next_id += 1;
            // Started under the lock so the thread count never overshoots; the thread itself
            // takes the lock only after we release it.
            match spawn_thread(shared, id) {
                Ok(handle) => state.threads.push(handle),
                Err(e) => {
                    state.num_threads -= 1;
                    drop(state);
                    shared.diagnose(crate::runtime::Diagnostic::ThreadSpawnFailed {
                        what: "blocking pool",
                        error: e.to_string(),
                    });
                }
            }
        }
        // Else every thread is busy and the pool is at its cap: the job waits its turn.
    }

    fn run(&self, shared: &Shared) {
        let mut state = self.state.lock();
        loop {
            if let Some(task) = state.queue.pop_front() {
                drop(state);
                task.run();
                // AcqRel: releases what `push` took (see `Shared::inhibit_auto_advance`).
                shared.inhibit_auto_advance.fetch_sub(1, AcqRel);
                state = self.state.lock();
                continue;
            }
            if state.shutdown {
                break;
            }
            state.num_idle += 1;
            let started = Instant::now();
            let mut timed_out = false;
            loop {
                state = self.condvar.wait_timeout(state, self.keep_alive);
                if state.num_notified > 0 {
                    state.num_notified -= 1;
                    break;
                }
                if state.shutdown {
                    break;
                }
                if started.elapsed() >= self.keep_alive {
                    timed_out = true;
                    break;
                }
            }
            state.num_idle -= 1;
            if timed_out && state.queue.is_empty() && !state.shutdown {
                break;
            }
        }
        state.num_threads -= 1;
    }

    /// Stops accepting jobs, lets queued and running jobs finish until `deadline`, and returns
    /// `false` if some thread was still busy then (it is detached).
    pub(crate) fn shutdown(&self, deadline: Instant) -> bool {
        let threads = {
            let mut state = self.state.lock();
            state.shutdown = true;
            std::mem::take(&mut state.threads)
        };
        self.condvar.notify_all();
        let me = std::thread::current().id();
        let mut all_done = true;
        for t in threads {
            if t.thread().id() == me {
                continue;
            }
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            if t.is_finished() {
                let _ = t.join();
            } else {
                all_done = false;
            }
        }
        all_done
    }
}

fn spawn_thread(shared: &Shared, id: usize) -> std::io::Result<std::thread::JoinHandle<()>> {
    let handle = sched::Handle {
        shared: shared.handle_arc(),
    };
    let mut builder =
        std::thread::Builder::new().name(format!("{}-blocking-{id}", shared.config.thread_name));
    if let Some(size) = shared.config.thread_stack_size {
        builder = builder.stack_size(size);
    }
    builder.spawn(move || {
        let _enter = handle.enter();
        handle.shared().blocking.run(handle.shared());
    })
}

/// Spawns `f` onto `shared`'s blocking pool.
pub(crate) fn spawn_blocking_on<F, R>(
    shared: &Shared,
    f: F,
    name: Option<crate::task::TaskName>,
    location: &'static Location<'static>,
) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let meta = shared.meta(name, location, TaskKind::Blocking);
    let shard = sched::current_worker_index(shared).unwrap_or(0) as u32;
    let (join, notified) = shared.registry.bind(
        BlockingTask(Some(f)),
        BlockingSched { rt: shared.rt },
        meta,
        shard,
    );
    if let Some(task) = notified {
        shared.blocking.push(shared, task);
    }
    join
}

/// The future of a blocking job: runs the closure on its first poll.
struct BlockingTask<F>(Option<F>);

impl<F> Unpin for BlockingTask<F> {}

impl<F: FnOnce() -> R, R> Future for BlockingTask<F> {
    type Output = R;

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<R> {
        let f = self.0.take().expect("blocking job polled after completion");
        Poll::Ready(f())
    }
}

/// The scheduler of blocking jobs: the pool's queue.
#[derive(Clone, Copy)]
pub(crate) struct BlockingSched {
    rt: RtRef,
}

impl Schedule for BlockingSched {
    fn schedule(&self, task: Notified<Self>) {
        sched::with_shared(&self.rt, |s| s.blocking.push(s, task));
    }

    fn release(&self, task: RawTask) -> bool {
        sched::with_shared(&self.rt, |s| s.registry.remove(task)).unwrap_or(false)
    }

    fn unhandled_panic(&self, task: &Header, payload: &PanicPayload) {
        sched::with_shared(&self.rt, |s| s.on_unhandled_panic(task, payload));
    }
}

impl std::fmt::Debug for BlockingPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.lock();
        f.debug_struct("BlockingPool")
            .field("threads", &state.num_threads)
            .field("idle", &state.num_idle)
            .field("queued", &state.queue.len())
            .finish()
    }
}
