//! Running, completing, cancelling and joining a task: the code that knows `F` and `S`.

use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

use super::raw::{Cell, Header, RawTask, Stage, Vtable};
use super::state::{Snapshot, ToIdle, ToRunning};
use super::{waker, JoinError, Notified, PanicPayload, Schedule, Task};

/// The vtable for tasks of future `F` on scheduler `S`.
pub(super) fn vtable<F: Future, S: Schedule>() -> &'static Vtable {
    &Vtable {
        poll: poll::<F, S>,
        schedule: schedule::<F, S>,
        dealloc: dealloc::<F, S>,
        try_read_output: try_read_output::<F, S>,
        drop_join_handle: drop_join_handle::<F, S>,
        shutdown: shutdown::<F, S>,
    }
}

unsafe fn poll<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: the vtable is only used with the cell type it was made for.
    unsafe { Harness::<F, S>::from_raw(ptr) }.poll();
}

unsafe fn schedule<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: the vtable matches the cell; the caller gives up a Notified reference.
    let harness = unsafe { Harness::<F, S>::from_raw(ptr) };
    harness
        .scheduler()
        .schedule(Notified(Task::from_raw(RawTask(ptr))));
}

unsafe fn dealloc<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    /// Frees the memory even if a destructor in the cell panics.
    struct Free<T>(NonNull<T>);
    impl<T> Drop for Free<T> {
        fn drop(&mut self) {
            // SAFETY: the cell was made by `Cell::allocate` (which took it from
            // `alloc::allocate`) and its contents are dropped (or being unwound) by now.
            unsafe { super::alloc::deallocate(self.0) };
        }
    }
    // The last reference is gone (caller's contract).
    let cell = Free(ptr.cast::<Cell<F, S>>());
    // SAFETY: as above, so the cell is dropped once here.
    unsafe { std::ptr::drop_in_place(cell.0.as_ptr()) };
}

unsafe fn try_read_output<F: Future, S: Schedule>(ptr: NonNull<Header>, dst: *mut (), w: &Waker) {
    // SAFETY: the vtable matches the cell; `dst` has the output's type (caller's contract).
    let harness = unsafe { Harness::<F, S>::from_raw(ptr) };
    let dst = dst.cast::<Poll<Result<F::Output, JoinError>>>();
    if harness.can_read_output(w) {
        // SAFETY: as above.
        unsafe { *dst = Poll::Ready(harness.take_output()) };
    }
}

unsafe fn drop_join_handle<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: the vtable matches the cell.
    unsafe { Harness::<F, S>::from_raw(ptr) }.drop_join_handle();
}

unsafe fn shutdown<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: the vtable matches the cell; the caller holds RUNNING.
    let harness = unsafe { Harness::<F, S>::from_raw(ptr) };
    harness.cancel_future();
    // The sweep borrowed its reference from the registry, which `complete` releases; no other
    // reference was given up.
    harness.complete(0);
}

/// Typed access to one task.
pub(super) struct Harness<F: Future, S: 'static> {
    cell: NonNull<Cell<F, S>>,
}

enum PollOutcome {
    /// Nothing more to do.
    Done,
    /// The future is gone; the stage holds the output: complete the task.
    Complete,
    /// Woken while running: resubmit (the poller's reference is the new `Notified`).
    Notified,
    /// The last reference was released.
    Dealloc,
}

impl<F: Future, S: Schedule> Harness<F, S> {
    /// # Safety
    /// `ptr` must be the header of a live `Cell<F, S>`.
    unsafe fn from_raw(ptr: NonNull<Header>) -> Self {
        Harness { cell: ptr.cast() }
    }

    fn header(&self) -> &Header {
        // SAFETY: the caller of `from_raw` guarantees the cell is live.
        unsafe { &self.cell.as_ref().header }
    }

    fn scheduler(&self) -> &S {
        // SAFETY: as `header`.
        unsafe { &self.cell.as_ref().scheduler }
    }

    fn raw(&self) -> RawTask {
        RawTask(self.cell.cast())
    }

    /// Runs the stage closure with exclusive access.
    ///
    /// # Safety
    /// The caller must own the stage: hold `RUNNING`, or be the join handle after `COMPLETE`, or
    /// be the completer of a task without join interest.
    unsafe fn stage<R>(&self, f: impl FnOnce(&mut Stage<F>) -> R) -> R {
        // SAFETY: exclusive ownership by the caller's contract.
        unsafe { self.cell.as_ref().stage.with_mut(|p| f(&mut *p)) }
    }

    /// Polls the task; the caller gave up a `Notified` reference.
    fn poll(self) {
        match self.poll_inner() {
            PollOutcome::Done => {}
            PollOutcome::Complete => self.complete(1),
            PollOutcome::Notified => {
                // Woken during its own poll: back of the queue, never the LIFO slot, so a task
                // that wakes itself (yield_now) cannot starve the others.
                self.scheduler()
                    .yield_now(Notified(Task::from_raw(self.raw())));
            }
            // SAFETY: the poller's reference was the last.
            PollOutcome::Dealloc => unsafe { self.raw().dealloc() },
        }
    }

    fn poll_inner(&self) -> PollOutcome {
        match self.header().state.transition_to_running() {
            ToRunning::Success => {}
            ToRunning::Cancelled => {
                self.cancel_future();
                return PollOutcome::Complete;
            }
            ToRunning::Failed => return PollOutcome::Done,
            ToRunning::Dealloc => return PollOutcome::Dealloc,
        }
        self.header().count_poll();
        // A waker that borrows the poller's reference: cloning it adds one.
        let waker = ManuallyDrop::new(waker::raw_waker_ref(self.cell.cast()));
        let mut cx = Context::from_waker(&waker);
        if self.poll_future(&mut cx).is_ready() {
            return PollOutcome::Complete;
        }
        match self.header().state.transition_to_idle() {
            ToIdle::Ok => PollOutcome::Done,
            ToIdle::OkNotified => PollOutcome::Notified,
            ToIdle::OkDealloc => PollOutcome::Dealloc,
            ToIdle::Cancelled => {
                self.cancel_future();
                PollOutcome::Complete
            }
        }
    }

    /// Polls the future, catching panics; on `Ready` (or a panic) the stage holds the outcome.
    fn poll_future(&self, cx: &mut Context<'_>) -> Poll<()> {
        let current = crate::context::EnterTask::enter(self.cell.cast());
        let res = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: we hold RUNNING.
            unsafe {
                self.stage(|stage| match stage {
                    // SAFETY: the future lives inside the pinned heap cell and is never moved.
                    Stage::Running(fut) => std::pin::Pin::new_unchecked(fut).poll(cx),
                    _ => unreachable!("a running task always holds its future"),
                })
            }
        }));
        drop(current);
        let output = match res {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(out)) => Ok(out),
            Err(payload) => Err(JoinError::Panicked(PanicPayload::new(payload))),
        };
        self.store(output);
        Poll::Ready(())
    }

    /// Drops the future (catching a panic in its destructor) and stores `output`.
    fn store(&self, output: Result<F::Output, JoinError>) {
        // SAFETY: we hold RUNNING.
        let dropped = catch_unwind(AssertUnwindSafe(|| unsafe {
            self.stage(|s| *s = Stage::Consumed);
        }));
        let output = match dropped {
            Ok(()) => output,
            // The future's destructor panicked after it finished: report that panic.
            Err(payload) => Err(JoinError::Panicked(PanicPayload::new(payload))),
        };
        // SAFETY: we hold RUNNING.
        unsafe { self.stage(|s| *s = Stage::Finished(output)) };
    }

    /// Cancels: drops the future and stores `Cancelled(cause)` (or `Panicked` if the destructor
    /// panicked). The caller holds `RUNNING`.
    fn cancel_future(&self) {
        let cause = self.header().cause();
        let current = crate::context::EnterTask::enter(self.cell.cast());
        self.store(Err(JoinError::Cancelled(cause)));
        drop(current);
    }

    /// `RUNNING` -> `COMPLETE`: leave the registry, hand the output to the join handle (or drop
    /// it), and release `refs` references plus the registry's.
    fn complete(&self, refs: usize) {
        let snapshot = self.header().state.transition_to_complete();
        // Leave the registry before waking the joiner, so a task whose handle has resolved is
        // never still listed as live (leak checks rely on it). Our own reference keeps the task
        // alive until the end of this function.
        let released = self.scheduler().release(self.raw());
        self.notify_join(snapshot);
        let count = refs + usize::from(released);
        if count > 0 && self.header().state.transition_to_terminal(count) {
            // SAFETY: that was the last reference.
            unsafe { self.raw().dealloc() };
        }
    }

    fn notify_join(&self, snapshot: Snapshot) {
        if !snapshot.is_join_interested() {
            // Nobody will read the output: drop it here. A panic nobody will see is reported.
            // SAFETY: without join interest the completer owns the stage.
            let panicked = unsafe {
                self.stage(|s| match std::mem::replace(s, Stage::Consumed) {
                    Stage::Finished(Err(JoinError::Panicked(p))) => Some(p),
                    other => {
                        let _ = catch_unwind(AssertUnwindSafe(move || drop(other)));
                        None
                    }
                })
            };
            if let Some(payload) = panicked {
                self.scheduler().unhandled_panic(self.header(), &payload);
            }
        } else if snapshot.is_join_waker_set() {
            // SAFETY: JOIN_WAKER is set: the runtime side owns the field until it clears the bit.
            unsafe {
                self.header().join_waker.with(|w| match &*w {
                    Some(w) => w.wake_by_ref(),
                    None => unreachable!("JOIN_WAKER set without a waker"),
                });
            }
            if self.header().state.unset_waker_after_complete() {
                // The handle went away meanwhile: the waker is ours to drop.
                // SAFETY: after clearing JOIN_WAKER with no join interest left, nobody else
                // touches the field.
                unsafe { self.header().join_waker.with_mut(|w| *w = None) };
            }
        }
    }

    /// Whether the join handle may take the output; if not, its waker is registered.
    fn can_read_output(&self, waker: &Waker) -> bool {
        let header = self.header();
        let snapshot = header.state.load();
        if snapshot.is_complete() {
            return true;
        }
        let res = if snapshot.is_join_waker_set() {
            // SAFETY: reading while JOIN_WAKER is set is allowed for the handle: the runtime
            // side only reads the field too until it clears the bit.
            let same = unsafe {
                header
                    .join_waker
                    .with(|w| (*w).as_ref().is_some_and(|w| w.will_wake(waker)))
            };
            if same {
                return false;
            }
            header
                .state
                .unset_waker()
                .and_then(|s| self.set_join_waker(waker, s))
        } else {
            self.set_join_waker(waker, snapshot)
        };
        match res {
            Ok(_) => false,
            Err(s) => {
                debug_assert!(s.is_complete());
                true
            }
        }
    }

    fn set_join_waker(&self, waker: &Waker, snapshot: Snapshot) -> Result<Snapshot, Snapshot> {
        debug_assert!(snapshot.is_join_interested() && !snapshot.is_join_waker_set());
        // SAFETY: JOIN_WAKER is clear: the join handle owns the field.
        unsafe {
            self.header()
                .join_waker
                .with_mut(|w| *w = Some(waker.clone()))
        };
        let res = self.header().state.set_join_waker();
        if res.is_err() {
            // Completed meanwhile: the runtime never saw the waker; take it back.
            // SAFETY: JOIN_WAKER is still clear, so we still own the field.
            unsafe { self.header().join_waker.with_mut(|w| *w = None) };
        }
        res
    }

    fn take_output(&self) -> Result<F::Output, JoinError> {
        // SAFETY: the task is complete and we are the join handle.
        unsafe {
            self.stage(|s| match std::mem::replace(s, Stage::Consumed) {
                Stage::Finished(out) => out,
                _ => panic!("`JoinHandle` polled after it returned its result"),
            })
        }
    }

    fn drop_join_handle(&self) {
        let prev = self.header().state.transition_to_join_handle_dropped();
        if prev.is_complete() {
            // The output is ours to drop (if it was not taken).
            // SAFETY: complete + join handle: we own the stage.
            let _ = catch_unwind(AssertUnwindSafe(|| unsafe {
                self.stage(|s| *s = Stage::Consumed);
            }));
        }
        // After the transition JOIN_WAKER is clear unless the task completed with it set, in
        // which case the runtime side owns (and drops) the waker.
        if !(prev.is_complete() && prev.is_join_waker_set()) {
            // SAFETY: JOIN_WAKER is clear: the handle owns the field.
            unsafe { self.header().join_waker.with_mut(|w| *w = None) };
        }
        self.raw().drop_reference();
    }
}
