//! The live-task registry: every task that has not completed, in sharded intrusive lists.
//!
//! The registry holds one reference to each live task, so shutdown can cancel them all and
//! diagnostics can list them. Shards are cache-padded mutexes; a task records its shard at spawn
//! (the spawning worker's, so spawn-heavy workers touch their own shard), and leaves it when it
//! completes.
//!
//! Protocol:
//! 1. `bind` allocates the task and links it under its shard's lock, unless the registry is
//!    closed: then the task is cancelled on the spot (cause: shutdown) and only its join handle is
//!    returned, which resolves at once.
//! 2. `remove` unlinks a completing task and hands its registry reference to the completer.
//! 3. `close_and_shutdown_all` closes every shard (later binds fail), then pops tasks one at a time
//!    and claims each through `transition_to_shutdown`; a claimed task is cancelled on the
//!    sweeping thread, one running elsewhere is cancelled by its poller when the poll returns.

use std::future::Future;
use std::ptr::NonNull;
use std::time::Duration;

use spectrum_sync::linked_list::{Link, LinkedList, Pointers};
use spectrum_sync::{CachePadded, Mutex};

use super::id::{Meta, TaskId, TaskKind};
use super::raw::{Cell, Header, RawTask};
use super::{JoinHandle, Notified, Schedule, Task, WaitOn};
use crate::cancel::CancelCause;

pub(crate) struct Registry {
    shards: Box<[CachePadded<Mutex<Shard>>]>,
}

struct Shard {
    list: LinkedList<TaskLink>,
    closed: bool,
}

struct TaskLink;

// SAFETY: `pointers` returns the header's embedded `owned` field; a `RawTask` in the list stands
// for the registry's reference, which keeps the header alive while linked.
unsafe impl Link for TaskLink {
    type Handle = RawTask;
    type Target = Header;

    fn as_raw(handle: &RawTask) -> NonNull<Header> {
        handle.0
    }

    unsafe fn from_raw(ptr: NonNull<Header>) -> RawTask {
        RawTask(ptr)
    }

    unsafe fn pointers(target: NonNull<Header>) -> NonNull<Pointers<Header>> {
        // SAFETY: `target` is live (caller's contract); the field is only used under the shard
        // lock, which is the `UnsafeCell`'s access protocol.
        unsafe {
            target
                .as_ref()
                .owned
                .with_mut(|p| NonNull::new_unchecked(p))
        }
    }
}

/// A snapshot of one live task, for diagnostics.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TaskInfo {
    /// The task's id.
    pub id: TaskId,
    /// The name given at spawn.
    pub name: Option<String>,
    /// Where it was spawned.
    pub location: &'static std::panic::Location<'static>,
    /// The task that spawned it.
    pub parent: Option<TaskId>,
    /// What it is doing.
    pub state: TaskState,
    /// Time since spawn (to the runtime's coarse, millisecond clock).
    pub age: Duration,
    /// How many times it has been polled.
    pub polls: u32,
    /// Async task, pinned task or blocking job.
    pub kind: TaskKind,
    /// The scope it was spawned into, if any (see `scope::ScopeInfo`).
    pub scope: Option<u64>,
    /// What it waits on, when a Spectrum primitive said so.
    pub waiting_on: Option<WaitOn>,
    /// Idle with no waker anywhere: nothing can ever wake it (a lost wake-up). Tasks referenced
    /// by an `AbortHandle` (scope children, for one) are never flagged.
    pub lost_waker: bool,
}

/// What a live task is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TaskState {
    /// Being polled right now.
    Running,
    /// Woken, waiting in a run queue.
    Scheduled,
    /// Waiting for a wake-up.
    Idle,
    /// Cancellation requested, not yet processed.
    Cancelling,
}

impl std::fmt::Display for TaskInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "task {}", self.id)?;
        if let Some(name) = &self.name {
            write!(f, " \"{name}\"")?;
        }
        write!(
            f,
            " ({:?}, {:?}) spawned at {}, age {:?}, {} polls",
            self.kind, self.state, self.location, self.age, self.polls
        )?;
        if let Some(w) = &self.waiting_on {
            write!(f, ", waiting on {w}")?;
        }
        if self.lost_waker {
            f.write_str(", LOST WAKER: nothing can wake it")?;
        }
        Ok(())
    }
}

impl Registry {
    pub(crate) fn new(shards: usize) -> Self {
        let shards = shards.next_power_of_two();
        Registry {
            shards: (0..shards)
                .map(|_| {
                    CachePadded::new(Mutex::new(Shard {
                        list: LinkedList::new(),
                        closed: false,
                    }))
                })
                .collect(),
        }
    }

    fn shard(&self, index: u32) -> &Mutex<Shard> {
        &self.shards[index as usize & (self.shards.len() - 1)]
    }

    /// Allocates and registers a task. Returns the `Notified` to submit, or `None` if the
    /// registry is closed, in which case the task was cancelled with cause "shutdown" and the
    /// join handle resolves at once.
    pub(crate) fn bind<F, S>(
        &self,
        future: F,
        scheduler: S,
        meta: Meta,
        shard: u32,
    ) -> (JoinHandle<F::Output>, Option<Notified<S>>)
    where
        F: Future + 'static,
        S: Schedule,
    {
        self.bind_with_id(future, scheduler, meta, shard, TaskId::next())
    }

    /// [`bind`](Self::bind) with an id the caller already drew.
    pub(crate) fn bind_with_id<F, S>(
        &self,
        future: F,
        scheduler: S,
        meta: Meta,
        shard: u32,
        id: TaskId,
    ) -> (JoinHandle<F::Output>, Option<Notified<S>>)
    where
        F: Future + 'static,
        S: Schedule,
    {
        let shard = shard & (self.shards.len() as u32 - 1);
        let (join, notified) = allocate(future, scheduler, meta, shard, id);
        let raw = RawTask(NonNull::from(notified.header()));
        {
            let mut guard = self.shard(shard).lock();
            if !guard.closed {
                guard.list.push_front(raw);
                return (join, Some(notified));
            }
        }
        cancel_unlinked(notified);
        (join, None)
    }

    /// Allocates a task whose registry reference is counted but not linked yet: the caller links
    /// it with [`link_spawned`](Self::link_spawned) (the worker it is pinned to does, on its own
    /// thread, so a spawn from another worker takes no lock of this registry), or, if that
    /// cannot happen any more, gives it to [`cancel_unlinked`].
    pub(crate) fn allocate_unlinked<F, S>(
        future: F,
        scheduler: S,
        meta: Meta,
        shard: u32,
    ) -> (JoinHandle<F::Output>, Notified<S>)
    where
        F: Future + 'static,
        S: Schedule,
    {
        allocate(future, scheduler, meta, shard, TaskId::next())
    }

    /// Links tasks from `allocate_unlinked` into this registry's shard 0, under one lock; false
    /// (nothing linked) once the registry is closed.
    pub(crate) fn link_spawned(&self, tasks: impl Iterator<Item = RawTask>) -> bool {
        let mut guard = self.shard(0).lock();
        if guard.closed {
            return false;
        }
        for raw in tasks {
            guard.list.push_front(raw);
        }
        true
    }

    /// Unlinks a completing task. Returns `true` when it was linked: the caller now owns the
    /// registry's reference.
    pub(crate) fn remove(&self, task: RawTask) -> bool {
        let mut guard = self.shard(task.header().shard).lock();
        // SAFETY: a task is only ever linked in the shard recorded in its header, so it is
        // either in this list or unlinked with reset pointers.
        unsafe { guard.list.remove(task.0) }
    }

    /// Closes the registry and cancels every live task (see the module protocol).
    pub(crate) fn close_and_shutdown_all(&self) {
        for shard in self.shards.iter() {
            shard.lock().closed = true;
        }
        for shard in self.shards.iter() {
            let mut running = Vec::new();
            loop {
                let Some(raw) = shard.lock().list.pop_front() else {
                    break;
                };
                raw.header().set_cause(CancelCause::shutdown());
                if raw.header().state.transition_to_shutdown() {
                    // SAFETY: the claim gave us RUNNING.
                    unsafe { raw.shutdown() };
                    // The registry's reference, which the pop handed to us.
                    raw.drop_reference();
                } else {
                    // Running elsewhere (a poll in progress, a blocking job): its poller
                    // cancels it. Keep it listed, so it stays visible (and is reported if it
                    // never returns).
                    running.push(raw);
                }
            }
            let mut guard = shard.lock();
            for raw in running {
                // `COMPLETE` is set before the completer unlinks (under this lock): a task that
                // is complete by now found itself unlinked, so the reference stays ours.
                if raw.header().state.load().is_complete() {
                    drop(guard);
                    raw.drop_reference();
                    guard = shard.lock();
                } else {
                    guard.list.push_back(raw);
                }
            }
        }
    }

    /// The number of live tasks.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().list.len()).sum()
    }

    /// The live task `id`, looked up in shard `shard` alone (a long-poll report knows its
    /// shard): holding one shard's lock through a walk of every live task would stall each
    /// spawn and completion in that shard meanwhile (milliseconds with a million tasks).
    /// Searched oldest first, since a task that runs long enough to be reported has usually
    /// been alive longer than the tasks spawned since.
    pub(crate) fn find(&self, id: u64, shard: u32, now_ms: u32) -> Option<TaskInfo> {
        let guard = self.shard(shard).lock();
        guard
            .list
            .find_back(|ptr| {
                // SAFETY: as in `snapshot`.
                unsafe { ptr.as_ref() }.id.as_u64() == id
            })
            // SAFETY: as in `snapshot`; the shard lock is still held.
            .map(|ptr| info_of(unsafe { ptr.as_ref() }, now_ms))
    }

    /// Snapshots every live task. `now_ms` is the runtime's coarse clock.
    pub(crate) fn snapshot(&self, now_ms: u32) -> Vec<TaskInfo> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let guard = shard.lock();
            guard.list.for_each(|ptr| {
                // SAFETY: linked tasks are alive (the registry holds a reference) and we hold the
                // shard lock; the fields read are immutable or atomic.
                let h = unsafe { ptr.as_ref() };
                // A complete task is on its way out: its completer sets `COMPLETE` (which lets
                // the join handle resolve) and then unlinks it. It is not live any more, and
                // listing it would show a finished task to a joiner that has its output.
                if !h.state.load().is_complete() {
                    out.push(info_of(h, now_ms));
                }
            });
        }
        out.sort_by_key(|t| t.id);
        out
    }

    /// Appends each idle task that left a wait note, with the note: what the deadlock check
    /// needs, without building a whole [`TaskInfo`] (names copied, ...) for every live task.
    pub(crate) fn waiting(&self, out: &mut Vec<(TaskId, WaitOn)>) {
        for shard in self.shards.iter() {
            let guard = shard.lock();
            guard.list.for_each(|ptr| {
                // SAFETY: as in `snapshot`.
                let h = unsafe { ptr.as_ref() };
                let s = h.state.load();
                if s.is_running() || s.is_cancelled() || s.is_notified() || s.is_complete() {
                    return;
                }
                // Relaxed: a diagnostic note.
                let note = h.waiting.load(spectrum_sync::atomic::Ordering::Relaxed);
                if let Some(on) = WaitOn::unpack(note) {
                    out.push((h.id, on));
                }
            });
        }
    }
}

/// Allocates a task (traced, with the `tracing` feature): its join handle and its first
/// `Notified`; the third reference is the registry's, linked or not by the caller. Inlined so
/// the future is written straight into the new cell, not built on the stack and copied.
#[inline(always)]
fn allocate<F, S>(
    future: F,
    scheduler: S,
    meta: Meta,
    shard: u32,
    id: TaskId,
) -> (JoinHandle<F::Output>, Notified<S>)
where
    F: Future + 'static,
    S: Schedule,
{
    #[cfg(feature = "tracing")]
    let future = {
        use tracing::Instrument as _;
        let span = tracing::trace_span!(
            target: "spectrum::task",
            "task",
            id = id.as_u64(),
            name = meta.name.as_deref(),
            kind = ?meta.kind,
            spawned_at = %meta.location,
        );
        future.instrument(span)
    };
    let raw = RawTask(Cell::allocate(future, scheduler, id, meta, shard));
    (JoinHandle::new(raw), Notified(Task::from_raw(raw)))
}

/// Cancels a task whose registry reference was never linked (the registry closed first): on
/// the spot, cause "shutdown". It has never run and nothing else holds its `Notified`, so the
/// claim succeeds; then the unlinked registry reference and `notified` are released.
pub(crate) fn cancel_unlinked<S: 'static>(notified: Notified<S>) {
    let raw = RawTask(NonNull::from(notified.header()));
    raw.header().set_cause(CancelCause::shutdown());
    let claimed = raw.header().state.transition_to_shutdown();
    debug_assert!(claimed);
    // SAFETY: we hold RUNNING from the claim.
    unsafe { raw.shutdown() };
    // The registry reference we never linked, then the Notified's.
    raw.drop_reference();
    drop(notified);
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("shards", &self.shards.len())
            .finish()
    }
}

/// What a task looks like to `live_tasks` and dumps.
fn info_of(h: &Header, now_ms: u32) -> TaskInfo {
    let s = h.state.load();
    let state = if s.is_running() {
        TaskState::Running
    } else if s.is_cancelled() {
        TaskState::Cancelling
    } else if s.is_notified() {
        TaskState::Scheduled
    } else {
        TaskState::Idle
    };
    TaskInfo {
        id: h.id,
        name: h.meta.name.as_deref().map(str::to_owned),
        location: h.meta.location,
        parent: h.meta.parent,
        state,
        age: Duration::from_millis(u64::from(now_ms.saturating_sub(h.meta.born_ms))),
        // Relaxed: a statistic.
        polls: h.polls.load(spectrum_sync::atomic::Ordering::Relaxed),
        kind: h.meta.kind,
        scope: h.meta.scope.map(std::num::NonZeroU64::get),
        // Relaxed: a diagnostic note.
        waiting_on: WaitOn::unpack(h.waiting.load(spectrum_sync::atomic::Ordering::Relaxed)),
        // References: the registry's, and the join handle's if any; none left for a
        // waker (or anything else) means nothing can ever wake it.
        lost_waker: state == TaskState::Idle
            && s.ref_count() <= 1 + usize::from(s.is_join_interested()),
    }
}
