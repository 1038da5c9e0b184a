//! Tasks: one allocation per spawned future, a documented state machine, and the handles that
//! point into it.
//!
//! # Invariants
//!
//! 1. A task is one heap allocation (`raw::Cell`; its memory comes from `alloc`): header,
//!    scheduler, and the stage (the future, then its output). Everything else refers to it
//!    through `NonNull<Header>`.
//! 2. The allocation is freed when the reference count in the state word reaches zero. References
//!    are held by: the registry (until completion), the `Notified` in a run queue (at most one),
//!    the poller (the `Notified` it popped, for the duration of the poll), the `JoinHandle`, and
//!    every `Waker`.
//! 3. The stage is touched only by the owner of `RUNNING` until `COMPLETE`; afterwards by the join
//!    handle (to take the output) or, without join interest, by the completer (to drop it).
//! 4. A task is in at most one run queue at a time (the `NOTIFIED` bit), so it is never polled
//!    concurrently with itself.
//!
//! # Who touches what
//!
//! | handle | may | through |
//! |---|---|---|
//! | `Notified<S>` (queue entry) | poll the task once | `state.transition_to_running` |
//! | `Waker` | submit a `Notified` | `transition_to_notified_*` |
//! | `JoinHandle<T>` | read the output, set the join waker, cancel | `JOIN_*` bits, `CANCELLED` |
//! | registry | cancel every live task at shutdown | `transition_to_shutdown` |
//!
//! # Protocols
//!
//! *Spawn:* allocate with three references (registry, `Notified`, `JoinHandle`) and
//! `NOTIFIED | JOIN_INTEREST`; link into the registry; submit the `Notified`.
//!
//! *Poll:* pop a `Notified`; `transition_to_running` (a cancelled task is cancelled instead of
//! polled); poll inside `catch_unwind`; on `Pending`, `transition_to_idle`, which hands the
//! poller's reference to a new `Notified` if the task was woken meanwhile (submitted to the back
//! of the queue), or releases it.
//!
//! *Complete:* store the output, `RUNNING -> COMPLETE`, wake the join waker (or drop the output
//! when nobody will read it), leave the registry, release the poller's and the registry's
//! references in one step.
//!
//! *Cancel:* record the cause (first wins), set `CANCELLED`; an idle task is notified so its own
//! scheduler drops the future on the right thread; a running one is cancelled by its poller when
//! the poll returns; a queued one when it is popped.

pub(crate) mod alloc;
mod error;
mod harness;
mod id;
mod join;
mod list;
#[cfg(all(test, loom))]
mod loom_tests;
mod raw;
#[cfg(not(loom))]
mod spawn;
pub(crate) mod state;
mod wait_on;
mod waker;

use std::fmt;
use std::marker::PhantomData;

#[cfg(not(loom))]
pub use crate::thread_task::live_global_threads;
pub use error::{JoinError, PanicPayload};
pub use id::{TaskId, TaskKind};
pub use join::{AbortHandle, JoinHandle};
pub use list::{TaskInfo, TaskState};
#[cfg(not(loom))]
pub use spawn::{block_in_place, spawn, spawn_blocking, spawn_local, yield_now, Builder, YieldNow};
pub use wait_on::{note_wait, note_wait_by, WaitOn};

pub(crate) use id::{Meta, TaskName};
pub(crate) use list::{cancel_unlinked, Registry};
pub(crate) use raw::{Header, RawTask};

/// What a task needs from whoever runs it.
pub(crate) trait Schedule: Sync + Sized + 'static {
    /// Submits a task that was woken (or spawned).
    fn schedule(&self, task: Notified<Self>);

    /// Submits a task that was woken during its own poll: it goes to the back of the queue.
    fn yield_now(&self, task: Notified<Self>) {
        self.schedule(task);
    }

    /// Unlinks a completing task from the registry. Returns `true` when it was linked: the
    /// caller then owns the registry's reference.
    fn release(&self, task: RawTask) -> bool;

    /// A task panicked and nobody holds its join handle.
    fn unhandled_panic(&self, _task: &Header, _payload: &PanicPayload) {}
}

/// An owned reference to a task.
pub(crate) struct Task<S: 'static> {
    raw: RawTask,
    _scheduler: PhantomData<S>,
}

// SAFETY: a `Task` is a reference-counted pointer to a `Send + Sync` header; the future inside is
// only touched by the `RUNNING` owner, and schedulers of `!Send` futures keep them on their thread.
unsafe impl<S> Send for Task<S> {}
// SAFETY: as for `Send`; `&Task` exposes only the header.
unsafe impl<S> Sync for Task<S> {}

impl<S: 'static> Task<S> {
    pub(crate) fn from_raw(raw: RawTask) -> Self {
        Task {
            raw,
            _scheduler: PhantomData,
        }
    }

    pub(crate) fn header(&self) -> &Header {
        self.raw.header()
    }

    pub(crate) fn into_raw(self) -> RawTask {
        let raw = self.raw;
        std::mem::forget(self);
        raw
    }
}

impl<S: 'static> Drop for Task<S> {
    fn drop(&mut self) {
        self.raw.drop_reference();
    }
}

impl<S> fmt::Debug for Task<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Task({})", self.header().id)
    }
}

/// A task that is due to run: the only kind of reference a run queue holds.
pub(crate) struct Notified<S: 'static>(pub(crate) Task<S>);

impl<S: 'static> Notified<S> {
    /// Runs the task: polls it (or cancels it) and consumes this reference.
    pub(crate) fn run(self) {
        let raw = self.0.into_raw();
        // SAFETY: we give up our Notified reference to the poll.
        unsafe { raw.poll() };
    }

    pub(crate) fn header(&self) -> &Header {
        self.0.header()
    }

    pub(crate) fn into_raw(self) -> RawTask {
        self.0.into_raw()
    }

    /// # Safety
    /// `raw` must stand for a `Notified` reference of a task scheduled by `S`.
    pub(crate) unsafe fn from_raw(raw: RawTask) -> Self {
        Notified(Task::from_raw(raw))
    }
}

impl<S> fmt::Debug for Notified<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Notified({})", self.header().id)
    }
}
