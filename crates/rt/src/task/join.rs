//! `JoinHandle`: await a task's output, cancel it, or let it go.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::raw::RawTask;
use super::{JoinError, TaskId};
use crate::cancel::CancelCause;

/// An owned permission to await a task's output — and the task's lifeline.
///
/// Awaiting the handle gives `Ok(output)`, or a [`JoinError`] if the task panicked or was
/// cancelled. **Dropping the handle cancels the task** (structured by default: nothing runs on
/// that nobody owns); call [`detach`](JoinHandle::detach) to let it run on its own instead.
///
/// ```
/// # spectrum_rt::Runtime::new().unwrap().block_on(async {
/// let handle = spectrum_rt::spawn(async { 6 * 7 });
/// assert_eq!(handle.await.unwrap(), 42);
///
/// // Dropping a handle cancels its task:
/// let forever = spectrum_rt::spawn(std::future::pending::<()>());
/// forever.cancel();
/// assert!(forever.await.unwrap_err().is_cancelled());
/// # });
/// ```
///
/// # Cancel safety
///
/// Dropping the `JoinHandle` future part-way cancels the task (that is the point); use
/// `&mut handle` in a `select` loop to keep the task running across iterations.
///
/// # Panics
///
/// Polling the handle again after it returned `Ready` panics: the output has been handed over.
#[must_use = "dropping a JoinHandle cancels its task; call `.detach()` to let it run"]
pub struct JoinHandle<T> {
    raw: Option<RawTask>,
    _output: PhantomData<T>,
}

// SAFETY: the handle only moves the output out (by value), so it is `Send` when `T` is.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: `&JoinHandle` gives no access to `T` (only id, state and cancellation).
unsafe impl<T> Sync for JoinHandle<T> {}

impl<T> Unpin for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    pub(crate) fn new(raw: RawTask) -> Self {
        JoinHandle {
            raw: Some(raw),
            _output: PhantomData,
        }
    }

    fn raw(&self) -> RawTask {
        self.raw.expect("JoinHandle used after detach")
    }

    fn header(&self) -> &super::Header {
        self.raw
            .as_ref()
            .expect("JoinHandle used after detach")
            .header()
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.raw().header().id
    }

    /// The name given at spawn, if any.
    pub fn name(&self) -> Option<&str> {
        self.header().meta.name.as_deref()
    }

    /// True once the task has finished (returned, panicked or been cancelled).
    pub fn is_finished(&self) -> bool {
        self.raw().header().state.load().is_complete()
    }

    /// Requests cancellation (cause: "cancellation requested"). The future is dropped at its
    /// next suspension point, on the thread that runs it; awaiting the handle then gives
    /// `Err(JoinError::Cancelled(_))`, unless the task finished first.
    pub fn cancel(&self) {
        self.cancel_with(CancelCause::requested());
    }

    /// Requests cancellation with `cause`, which the awaiting side receives in
    /// `JoinError::Cancelled(cause)`. Only the first cause is kept.
    pub fn cancel_with(&self, cause: CancelCause) {
        self.raw().cancel(cause);
    }

    /// Lets the task run on without a handle: it is no longer cancelled when the handle goes,
    /// and its output is dropped when it finishes.
    pub fn detach(mut self) {
        if let Some(raw) = self.raw.take() {
            // SAFETY: we are the join handle and give up interest and reference once.
            unsafe { raw.drop_join_handle() };
        }
    }

    /// An awaitable that borrows the handle, so the task survives if the borrow is dropped
    /// (useful in `select` loops).
    pub fn join(&mut self) -> &mut Self {
        self
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let coop = std::task::ready!(crate::coop::poll_proceed(cx));
        let mut out: Poll<Result<T, JoinError>> = Poll::Pending;
        // SAFETY: `out` has the task's output type; we are the join handle.
        unsafe {
            self.raw()
                .try_read_output(&mut out as *mut _ as *mut (), cx.waker())
        };
        if out.is_ready() {
            coop.made_progress();
        } else {
            super::note_wait(super::WaitOn::Join {
                task: self.header().id.as_u64(),
            });
        }
        out
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if let Some(raw) = self.raw.take() {
            raw.cancel(CancelCause::handle_dropped());
            // SAFETY: we are the join handle and give up interest and reference once.
            unsafe { raw.drop_join_handle() };
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.raw {
            Some(raw) => f
                .debug_struct("JoinHandle")
                .field("id", &raw.header().id)
                .field("name", &raw.header().meta.name)
                .field("finished", &raw.header().state.load().is_complete())
                .finish(),
            None => f.write_str("JoinHandle(detached)"),
        }
    }
}

/// A handle that can cancel a task but not await it; dropping it does nothing.
///
/// ```
/// # spectrum_rt::Runtime::new().unwrap().block_on(async {
/// let handle = spectrum_rt::spawn(std::future::pending::<()>());
/// let abort = handle.abort_handle();
/// abort.cancel();
/// assert!(handle.await.unwrap_err().is_cancelled());
/// assert!(abort.is_finished());
/// # });
/// ```
pub struct AbortHandle {
    raw: RawTask,
}

impl AbortHandle {
    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.raw.header().id
    }

    /// True once the task has finished.
    pub fn is_finished(&self) -> bool {
        self.raw.header().state.load().is_complete()
    }

    /// Requests cancellation ("cancellation requested").
    pub fn cancel(&self) {
        self.raw.cancel(CancelCause::requested());
    }

    /// Requests cancellation with `cause`. Returns `true` if this call cancelled the task.
    pub fn cancel_with(&self, cause: CancelCause) -> bool {
        self.raw.cancel(cause)
    }
}

impl<T> JoinHandle<T> {
    /// A handle that can cancel this task without owning its output.
    pub fn abort_handle(&self) -> AbortHandle {
        let raw = self.raw();
        raw.header().state.ref_inc();
        AbortHandle { raw }
    }
}

impl Clone for AbortHandle {
    fn clone(&self) -> Self {
        self.raw.header().state.ref_inc();
        AbortHandle { raw: self.raw }
    }
}

impl Drop for AbortHandle {
    fn drop(&mut self) {
        self.raw.drop_reference();
    }
}

impl fmt::Debug for AbortHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbortHandle")
            .field("id", &self.id())
            .finish()
    }
}
