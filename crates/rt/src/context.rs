//! Per-thread context: one thread-local for everything the hot paths ask about the current thread.
//!
//! Spawning, waking and polling each need to know which runtime the thread has entered, whether
//! it is one of that runtime's workers, which task is being polled, how much coop budget is left
//! and where the next task id comes from. Keeping all of it in one `thread_local!` (const
//! initialised, no destructor, so each access is a plain offset from the thread pointer) lets a
//! spawn look everything up once.

use std::cell::Cell;
use std::num::NonZeroU64;
use std::ptr::NonNull;

use crate::suspend::SuspendPoint;
use crate::task::{Header, TaskId};

pub(crate) struct Context {
    /// The task being polled on this thread.
    pub(crate) current_task: Cell<Option<NonNull<Header>>>,
    /// Coop budget left in the current task poll (`coop::UNLIMITED` outside a task).
    pub(crate) budget: Cell<u32>,
    /// The current task poll's time slice, once its first coop budget has run out.
    pub(crate) slice: Cell<Option<crate::coop::Slice>>,
    /// The runtime this thread has entered: a `*const sched::Shared`, type-erased so that this
    /// module also builds under loom, where the scheduler does not.
    pub(crate) runtime: Cell<*const ()>,
    /// This thread's worker context if it is a runtime worker: a `*const sched::WorkerCx`.
    pub(crate) worker: Cell<*const ()>,
    /// The thread's block of task ids: next and end.
    pub(crate) ids: Cell<(u64, u64)>,
    /// The suspension point `.wait()` goes through (a fiber's), if one is entered; null if none.
    pub(crate) suspend: Cell<*const SuspendPoint>,
    /// How many `.wait()` calls this OS thread is parked in (nested waits count twice).
    pub(crate) parked_waits: Cell<u32>,
    /// Set by a scope around the spawns of its children: tasks record it as their scope.
    pub(crate) spawn_scope: Cell<Option<NonZeroU64>>,
}

thread_local! {
    static CONTEXT: Context = const {
        Context {
            current_task: Cell::new(None),
            budget: Cell::new(crate::coop::UNLIMITED),
            slice: Cell::new(None),
            runtime: Cell::new(std::ptr::null()),
            worker: Cell::new(std::ptr::null()),
            ids: Cell::new((0, 0)),
            suspend: Cell::new(std::ptr::null()),
            parked_waits: Cell::new(0),
            spawn_scope: Cell::new(None),
        }
    };
}

/// Runs `f` with this thread's context.
#[inline]
pub(crate) fn with<R>(f: impl FnOnce(&Context) -> R) -> R {
    CONTEXT.with(f)
}

impl Context {
    /// The id of the task being polled, if any.
    #[inline]
    pub(crate) fn task_id(&self) -> Option<TaskId> {
        // SAFETY: the pointer is set only for the duration of a task's poll (or cancellation),
        // during which the poller holds a reference.
        self.current_task.get().map(|p| unsafe { p.as_ref() }.id)
    }
}

/// Marks a task as the one being polled on this thread and gives it a fresh coop budget; both
/// are restored on drop, so nested polls (a `block_on` inside a task) nest. The coop time slice
/// is only reset, not restored (copying it in and out of every poll cost ~10 instructions a poll):
/// an outer poll that ran a nested one starts a new slice when its budget next runs out.
pub(crate) struct EnterTask {
    prev_task: Option<NonNull<Header>>,
    prev_budget: u32,
}

impl EnterTask {
    #[inline]
    pub(crate) fn enter(task: NonNull<Header>) -> EnterTask {
        with(|cx| {
            cx.slice.set(None);
            EnterTask {
                prev_task: cx.current_task.replace(Some(task)),
                prev_budget: cx.budget.replace(crate::coop::initial_budget()),
            }
        })
    }
}

impl Drop for EnterTask {
    #[inline]
    fn drop(&mut self) {
        with(|cx| {
            cx.current_task.set(self.prev_task);
            cx.budget.set(self.prev_budget);
        });
    }
}

/// Runs `f` with the header of the task being polled on this thread, if any.
pub(crate) fn with_current_task<R>(f: impl FnOnce(Option<&Header>) -> R) -> R {
    with(|cx| {
        // SAFETY: see `Context::task_id`.
        f(cx.current_task.get().map(|p| unsafe { p.as_ref() }))
    })
}

/// The id of the task being polled on this thread, if any.
///
/// ```
/// # spectrum_rt::Runtime::new().unwrap().block_on(async {
/// let handle = spectrum_rt::spawn(async { spectrum_rt::task_id() });
/// let id = handle.id();
/// assert_eq!(handle.await.unwrap(), Some(id));
/// # });
/// ```
#[inline]
pub fn task_id() -> Option<TaskId> {
    with(Context::task_id)
}
