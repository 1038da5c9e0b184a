//! The task allocation: header, cell layout and the type-erased vtable.
//!
//! A task is one heap allocation (`alloc.rs` says where its memory comes from and goes back to),
//! a `#[repr(C)]` [`Cell`] whose first field is the [`Header`], so a `NonNull<Header>` can be cast
//! back to the `Cell<F, S>` by code that knows `F` and `S` (the vtable's functions, monomorphized
//! at spawn). Everything that must work without knowing `F` (wakers, queues, the registry, join
//! handles) holds a `NonNull<Header>`.

use std::future::Future;
use std::ptr::NonNull;
use std::task::Waker;

use spectrum_sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::*};
use spectrum_sync::linked_list::Pointers;
use spectrum_sync::UnsafeCell;

use super::id::{Meta, TaskId};
use super::state::State;
use super::{JoinError, Schedule};
use crate::cancel::CancelCause;

/// The part of a task every handle can read without knowing the future's type.
#[repr(C)]
pub(crate) struct Header {
    /// The state word (see `state.rs`).
    pub(crate) state: State,
    /// The monomorphized functions for this task's future and scheduler.
    pub(crate) vtable: &'static Vtable,
    /// Link for intrusive queues (the global injector). Only touched under that queue's lock.
    pub(crate) queue_next: UnsafeCell<Option<NonNull<Header>>>,
    /// Links in the live-task registry. Only touched under the registry shard's lock.
    pub(crate) owned: UnsafeCell<Pointers<Header>>,
    /// The join handle's waker; ownership is governed by `JOIN_WAKER` (see `state.rs`).
    pub(crate) join_waker: UnsafeCell<Option<Waker>>,
    /// The first cancellation cause, packed by `CancelCause::into_word` (0: none yet).
    pub(crate) cause: AtomicUsize,
    /// How many times the future has been polled.
    pub(crate) polls: AtomicU32,
    /// What the task waits on (`WaitOn::pack`; 0: nothing noted). See `wait_on.rs`.
    pub(crate) waiting: AtomicU64,
    /// The registry shard this task lives in.
    pub(crate) shard: u32,
    pub(crate) id: TaskId,
    pub(crate) meta: Meta,
}

// SAFETY: every mutable field is either atomic or only accessed under the protocol its comment
// names (a queue lock, a registry lock, or the state word's ownership bits).
unsafe impl Send for Header {}
// SAFETY: as for `Send`.
unsafe impl Sync for Header {}

/// The functions that know the concrete future and scheduler types.
pub(crate) struct Vtable {
    /// Runs the task (the caller gives up a `Notified` reference).
    pub(crate) poll: unsafe fn(NonNull<Header>),
    /// Submits a `Notified` reference to the task's scheduler.
    pub(crate) schedule: unsafe fn(NonNull<Header>),
    /// Frees the allocation (the last reference is gone).
    pub(crate) dealloc: unsafe fn(NonNull<Header>),
    /// Writes `Poll<Result<T, JoinError>>` into `dst` if the output is ready, else registers the
    /// waker.
    pub(crate) try_read_output: unsafe fn(NonNull<Header>, *mut (), &Waker),
    /// The join handle is gone (dropped or detached): release its interest and reference.
    pub(crate) drop_join_handle: unsafe fn(NonNull<Header>),
    /// The caller claimed `RUNNING` through `transition_to_shutdown`: cancel and complete.
    pub(crate) shutdown: unsafe fn(NonNull<Header>),
}

/// The whole allocation.
#[repr(C)]
pub(crate) struct Cell<F: Future, S> {
    pub(crate) header: Header,
    pub(crate) scheduler: S,
    pub(crate) stage: UnsafeCell<Stage<F>>,
}

// `RawTask::scheduler` finds the scheduler after the header without knowing the future's type.
const _: () = {
    type F = std::future::Ready<[u64; 8]>;
    assert!(
        core::mem::offset_of!(Cell<F, u8>, scheduler) == core::mem::size_of::<Header>()
            && core::mem::offset_of!(Cell<F, [u128; 3]>, scheduler)
                == core::mem::size_of::<Header>().next_multiple_of(16)
    );
};

/// What the task holds: the future, then its output, then nothing once the output is taken.
pub(crate) enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, JoinError>),
    Consumed,
}

impl<F: Future, S: Schedule> Cell<F, S> {
    /// Allocates a task holding `future`.
    // Inlined so that the future is written straight into the cell, as `Box::new` manages,
    // instead of being built on the stack and copied.
    #[inline(always)]
    pub(crate) fn allocate(
        future: F,
        scheduler: S,
        id: TaskId,
        meta: Meta,
        shard: u32,
    ) -> NonNull<Header> {
        let ptr = super::alloc::allocate::<Cell<F, S>>();
        let cell = Cell {
            header: Header {
                state: State::new(),
                vtable: super::harness::vtable::<F, S>(),
                queue_next: UnsafeCell::new(None),
                owned: UnsafeCell::new(Pointers::new()),
                join_waker: UnsafeCell::new(None),
                cause: AtomicUsize::new(0),
                polls: AtomicU32::new(0),
                waiting: AtomicU64::new(0),
                shard,
                id,
                meta,
            },
            scheduler,
            stage: UnsafeCell::new(Stage::Running(future)),
        };
        // SAFETY: `allocate` gave memory for one `Cell<F, S>`, which nothing else refers to.
        unsafe { ptr.as_ptr().write(cell) };
        ptr.cast()
    }
}

impl Header {
    /// Records `cause` if it is the first one. Returns `false` if a cause was already recorded.
    pub(crate) fn set_cause(&self, cause: CancelCause) -> bool {
        let word = cause.into_word();
        // Release: publishes the cause's allocation to the canceller that reads it (Acquire in
        // `cause`) after seeing CANCELLED, which is set only after this store.
        match self.cause.compare_exchange(0, word, Release, Relaxed) {
            Ok(_) => true,
            Err(_) => {
                // SAFETY: `word` was never published; we still own it.
                unsafe { CancelCause::drop_word(word) };
                false
            }
        }
    }

    /// The recorded cause, or "requested" when cancellation came without one (a shutdown sweep
    /// records `Shutdown` before claiming).
    pub(crate) fn cause(&self) -> CancelCause {
        // Acquire: pairs with the Release in `set_cause`.
        let word = self.cause.load(Acquire);
        // SAFETY: a non-zero word was stored by `set_cause` and is released only in `Drop`.
        unsafe { CancelCause::clone_from_word(word) }.unwrap_or_else(CancelCause::requested)
    }

    /// Counts one poll and clears the wait note (the task runs: whatever it waited on is
    /// over). Only the `RUNNING` owner writes, so loads and stores suffice.
    pub(crate) fn count_poll(&self) {
        // Relaxed: statistics read by diagnostics; no other memory depends on them.
        self.polls
            .store(self.polls.load(Relaxed).wrapping_add(1), Relaxed);
        if self.waiting.load(Relaxed) != 0 {
            self.waiting.store(0, Relaxed);
        }
    }
}

impl Drop for Header {
    fn drop(&mut self) {
        // Relaxed: we are the last owner (deallocation is ordered by the reference count).
        let word = self.cause.load(Relaxed);
        // SAFETY: the header owns the packed cause and is being dropped once.
        unsafe { CancelCause::drop_word(word) };
    }
}

/// An untyped pointer to a task, `Copy`: the caller tracks which reference it stands for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawTask(pub(crate) NonNull<Header>);

// SAFETY: `RawTask` is a pointer to a `Send + Sync` header; access to the rest of the cell is
// governed by the state protocol.
unsafe impl Send for RawTask {}
// SAFETY: as for `Send`.
unsafe impl Sync for RawTask {}

impl RawTask {
    pub(crate) fn header(&self) -> &Header {
        // SAFETY: a `RawTask` is only made from a live allocation, and the caller holds a
        // reference (or the registry lock) for as long as it uses it.
        unsafe { self.0.as_ref() }
    }

    /// The task's scheduler, without knowing its future's type: `Cell` is `repr(C)` with the
    /// header first and the scheduler right after it, so the scheduler's offset depends on the
    /// header and `S` alone.
    ///
    /// # Safety
    ///
    /// The task was allocated with a scheduler of type `S`.
    pub(crate) unsafe fn scheduler<S>(&self) -> &S {
        let offset = core::mem::size_of::<Header>().next_multiple_of(core::mem::align_of::<S>());
        // SAFETY: per the caller, a `Cell<F, S>` starts here, whose `scheduler` field sits at
        // `offset` (repr(C)); the caller's reference keeps the cell alive.
        unsafe { &*self.0.as_ptr().cast::<u8>().add(offset).cast::<S>() }
    }

    /// # Safety
    /// The caller gives up one `Notified` reference.
    pub(crate) unsafe fn poll(self) {
        // SAFETY: forwarded contract.
        unsafe { (self.header().vtable.poll)(self.0) }
    }

    /// # Safety
    /// The caller gives up one `Notified` reference to the scheduler.
    pub(crate) unsafe fn schedule(self) {
        // SAFETY: forwarded contract.
        unsafe { (self.header().vtable.schedule)(self.0) }
    }

    /// # Safety
    /// The caller releases the last reference.
    pub(crate) unsafe fn dealloc(self) {
        // SAFETY: forwarded contract.
        unsafe { (self.header().vtable.dealloc)(self.0) }
    }

    /// # Safety
    /// `dst` must point to a `Poll<Result<T, JoinError>>` for the task's output type `T`, and
    /// the caller must be the join handle.
    pub(crate) unsafe fn try_read_output(self, dst: *mut (), waker: &Waker) {
        // SAFETY: forwarded contract.
        unsafe { (self.header().vtable.try_read_output)(self.0, dst, waker) }
    }

    /// # Safety
    /// The caller is the join handle and gives up its interest and reference.
    pub(crate) unsafe fn drop_join_handle(self) {
        // SAFETY: forwarded contract.
        unsafe { (self.header().vtable.drop_join_handle)(self.0) }
    }

    /// # Safety
    /// The caller claimed `RUNNING` through `transition_to_shutdown`.
    pub(crate) unsafe fn shutdown(self) {
        // SAFETY: forwarded contract.
        unsafe { (self.header().vtable.shutdown)(self.0) }
    }

    /// Releases one reference, deallocating on the last.
    pub(crate) fn drop_reference(self) {
        if self.header().state.ref_dec() {
            // SAFETY: that was the last reference.
            unsafe { self.dealloc() }
        }
    }

    /// Requests cancellation with `cause`; an idle task is submitted to its scheduler so it is
    /// cancelled on the right thread. Returns `true` if this call cancelled the task (it was
    /// neither complete nor already cancelled).
    pub(crate) fn cancel(self, cause: CancelCause) -> bool {
        let header = self.header();
        let snapshot = header.state.load();
        if snapshot.is_complete() || snapshot.is_cancelled() {
            return false;
        }
        // Record the cause before the CANCELLED bit so whoever cancels reads it.
        header.set_cause(cause);
        match header.state.transition_to_notified_and_cancel() {
            None => false,
            Some(super::state::ToNotified::Submit) => {
                // SAFETY: the transition gave us a new Notified reference to submit.
                unsafe { self.schedule() };
                true
            }
            Some(_) => {
                // A blocking job still waiting in the pool's queue is cancelled on the spot: its
                // closure (and what it captured) is dropped now, not when a thread frees up.
                // Its Send closure may be dropped on any thread.
                if header.meta.kind == super::TaskKind::Blocking
                    && header.state.transition_to_shutdown()
                {
                    // SAFETY: the claim gave us RUNNING; the queued Notified turns stale and is
                    // released when a pool thread pops it.
                    unsafe { self.shutdown() };
                }
                true
            }
        }
    }
}
