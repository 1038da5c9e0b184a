//! Tasks on dedicated OS threads: the runtime's side of `spectrum::thread`.
//!
//! A thread spawned through [`Builder::spawn_thread`](crate::task::Builder::spawn_thread) is an
//! ordinary task whose one poll runs the closure on a fresh OS thread. So it has the same
//! `JoinHandle` and `JoinError` as every other task (a panic becomes `JoinError::Panicked`), an
//! id, a name and a spawn site, and it appears in `live_tasks`, leak checks and shutdown reports
//! of the runtime it was spawned in. Outside any runtime, threads are tracked in a process-wide
//! registry instead. A running thread cannot be cancelled by force (no OS can do that safely):
//! cancellation reaches it through the `CancelToken` the model layer hands it.

use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::LazyLock;
use std::task::{Context, Poll};

use crate::sched::{self, RtRef};
use crate::task::{
    Header, JoinHandle, Meta, Notified, PanicPayload, RawTask, Registry, Schedule, TaskKind,
};

/// Threads spawned outside any runtime.
static GLOBAL: LazyLock<Registry> = LazyLock::new(|| Registry::new(4));

/// Live thread tasks spawned outside any runtime.
pub fn live_global_threads() -> Vec<crate::task::TaskInfo> {
    GLOBAL.snapshot(0)
}

pub(crate) fn spawn_thread<F, R>(
    f: F,
    name: Option<crate::task::TaskName>,
    stack_size: Option<usize>,
    location: &'static Location<'static>,
) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let future = Once(Some(f));
    let (join, notified) = sched::with_current(|shared| match shared {
        Some(shared) => {
            let meta = shared.meta(name, location, TaskKind::Thread);
            let sched = ThreadSched {
                rt: Some(shared.rt),
                stack_size,
            };
            shared.registry.bind(future, sched, meta, 0)
        }
        None => {
            let meta = Meta {
                location,
                name,
                parent: crate::context::task_id(),
                born_ms: 0,
                kind: TaskKind::Thread,
                scope: None,
            };
            GLOBAL.bind(
                future,
                ThreadSched {
                    rt: None,
                    stack_size,
                },
                meta,
                0,
            )
        }
    });
    if let Some(task) = notified {
        start(task);
    }
    join
}

/// Submits the spawn-time `Notified`: `ThreadSched::schedule` starts the OS thread.
fn start(task: Notified<ThreadSched>) {
    let raw = task.into_raw();
    // SAFETY: `raw` stands for the Notified we just took apart.
    unsafe { raw.schedule() };
}

/// Runs a closure on its first poll.
struct Once<F>(Option<F>);

impl<F> Unpin for Once<F> {}

impl<F: FnOnce() -> R, R> Future for Once<F> {
    type Output = R;

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<R> {
        let f = self.0.take().expect("thread closure run twice");
        Poll::Ready(f())
    }
}

/// The scheduler of a thread task: its one submission starts the OS thread.
pub(crate) struct ThreadSched {
    rt: Option<RtRef>,
    stack_size: Option<usize>,
}

impl Schedule for ThreadSched {
    fn schedule(&self, task: Notified<Self>) {
        let rt = self.rt;
        let name = task.header().meta.name.as_deref().map(str::to_owned);
        let mut b = std::thread::Builder::new();
        if let Some(n) = name {
            b = b.name(n);
        }
        if let Some(size) = self.stack_size {
            b = b.stack_size(size);
        }
        let raw = task.into_raw();
        let started = b.spawn(move || {
            // Enter the runtime the thread belongs to, so it can spawn, sleep and `.wait()`.
            let handle = rt.and_then(|rt| {
                sched::with_shared(&rt, |s| s.handle_arc()).map(|shared| crate::Handle { shared })
            });
            let _enter = handle.as_ref().map(crate::Handle::enter);
            // SAFETY: the Notified reference travelled into this thread with `raw`.
            unsafe { Notified::<ThreadSched>::from_raw(raw) }.run();
        });
        if let Err(e) = started {
            // The OS refused a thread: cancel the task so its handle resolves.
            let header = raw.header();
            header.set_cause(crate::cancel::CancelCause::new(format!(
                "could not start an OS thread: {e}"
            )));
            if header.state.transition_to_shutdown() {
                // SAFETY: the claim gave us RUNNING.
                unsafe { raw.shutdown() };
            }
            raw.drop_reference();
        }
    }

    fn yield_now(&self, task: Notified<Self>) {
        // A thread task completes in its one poll; a self-wake cannot happen. Run it here.
        task.run();
    }

    fn release(&self, task: RawTask) -> bool {
        match &self.rt {
            Some(rt) => sched::with_shared(rt, |s| s.registry.remove(task)).unwrap_or(false),
            None => GLOBAL.remove(task),
        }
    }

    fn unhandled_panic(&self, task: &Header, payload: &PanicPayload) {
        if let Some(rt) = &self.rt {
            sched::with_shared(rt, |s| s.on_unhandled_panic(task, payload));
        }
    }
}
