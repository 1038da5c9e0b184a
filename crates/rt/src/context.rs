//! Per-thread context: which task is being polled right now.

use std::cell::Cell;
use std::ptr::NonNull;

use crate::task::{Header, TaskId};

thread_local! {
    static CURRENT_TASK: Cell<Option<NonNull<Header>>> = const { Cell::new(None) };
}

/// Marks a task as the one being polled on this thread (and gives it a fresh coop budget through
/// the poll it wraps); restores the previous one on drop, so nested `block_on` polls nest.
pub(crate) struct CurrentTask(Option<NonNull<Header>>);

impl CurrentTask {
    pub(crate) fn enter(task: NonNull<Header>) -> CurrentTask {
        CurrentTask(CURRENT_TASK.with(|c| c.replace(Some(task))))
    }
}

impl Drop for CurrentTask {
    fn drop(&mut self) {
        CURRENT_TASK.with(|c| c.set(self.0));
    }
}

/// Runs `f` with the header of the task being polled on this thread, if any.
pub(crate) fn with_current_task<R>(f: impl FnOnce(Option<&Header>) -> R) -> R {
    CURRENT_TASK.with(|c| {
        // SAFETY: the pointer is set only for the duration of the task's poll (or cancellation),
        // during which the poller holds a reference.
        f(c.get().map(|p| unsafe { p.as_ref() }))
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
pub fn task_id() -> Option<TaskId> {
    with_current_task(|t| t.map(|h| h.id))
}
