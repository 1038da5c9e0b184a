//! A suspension point: how `.wait()` switches a stackful context (a fiber) out, in place.
//!
//! Why the switch is inlined into the waiting code, and why that makes this module (not the
//! fiber crate) name the coroutine's [`Yielder`] type: see [`SuspendPoint`]. The fast path cannot
//! go through a trait object; everything rare goes through [`SuspendHooks`], which the owner of
//! the point (the fiber crate) implements.
//!
//! # Invariants
//!
//! A point is used by one thread only (it is `!Sync`), and between [`SuspendPoint::resume_with`]
//! calls nothing reads its waker. The owner promises (through the `unsafe` setters and
//! `resume_with`) that the yielder and the hooks outlive every resume of the point, and that
//! only the coroutine that yielder belongs to waits under the point.

use std::cell::Cell;
use std::ptr::{self, NonNull};
use std::task::Waker;

/// What the poller tells a suspended context when it resumes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// Go on.
    Run,
    /// The context's task was cancelled: unwind.
    Cancel,
}

/// The yielder of a coroutine that a [`SuspendPoint`] switches out of.
pub type Yielder = corosensei::Yielder<Resume, ()>;

/// The rare paths of a [`SuspendPoint`], supplied by its owner.
pub trait SuspendHooks {
    /// The waker to use when the context must block its thread instead of suspending (outside
    /// a poll, or while the thread is panicking).
    fn blocking_waker(&self) -> &Waker;

    /// Called instead of switching when the point is cancelled or must block: unwinds if the
    /// cancellation applies, blocks the thread if it must. Returns true when it blocked (the
    /// wait then polls again without switching).
    fn suspend_slow(&self) -> bool;

    /// The context was resumed with [`Resume::Cancel`] (it records it and usually unwinds).
    fn resumed_with_cancel(&self);
}

/// Where `.wait()` suspends a stackful context (a fiber).
///
/// The owner (the fiber crate) gives the point its coroutine's [`Yielder`] and its
/// [`SuspendHooks`], and resumes the coroutine inside [`resume_with`](Self::resume_with); a
/// `.wait()` in the coroutine then polls with the resumer's waker and, while the future is
/// pending, switches back to the resumer.
///
/// That switch (corosensei's) is a `call` on the resuming side and a `ret` on the suspending
/// side, so the CPU's return-address predictor stays in step only if no call frame of ours sits
/// between the waiting code and the switch: a frame there is a mispredicted `ret` on the way out
/// and another on the way back in, about 20 cycles each, four switches per ping-pong round trip.
/// So the switch is inlined into [`wait_pinned`](crate::wait::wait_pinned), which the
/// primitives' `wait` methods inline into the caller. Everything rare (cancellation, blocking
/// instead of suspending) goes through the hooks.
pub struct SuspendPoint {
    /// The coroutine's yielder; null until the coroutine's first instruction sets it.
    yielder: Cell<*const Yielder>,
    /// The waker of the poll that resumed the context; null outside a poll (then `.wait()`
    /// blocks the thread).
    waker: Cell<*const Waker>,
    cancelled: Cell<bool>,
    hooks: Cell<Option<NonNull<dyn SuspendHooks>>>,
}

impl Default for SuspendPoint {
    fn default() -> Self {
        SuspendPoint::new()
    }
}

impl SuspendPoint {
    /// A point with no yielder and no hooks yet.
    pub const fn new() -> SuspendPoint {
        SuspendPoint {
            yielder: Cell::new(ptr::null()),
            waker: Cell::new(ptr::null()),
            cancelled: Cell::new(false),
            hooks: Cell::new(None),
        }
    }

    /// Sets the hooks for the rare paths.
    ///
    /// # Safety
    ///
    /// `hooks` must stay valid (not moved, not dropped) for as long as this point can be used by
    /// a `.wait()`: every [`resume_with`](Self::resume_with) must end before it goes.
    pub unsafe fn set_hooks(&self, hooks: NonNull<dyn SuspendHooks>) {
        self.hooks.set(Some(hooks));
    }

    /// Sets the yielder the point switches through: the coroutine's first instruction does this.
    ///
    /// # Safety
    ///
    /// `yielder` must be the yielder of the coroutine whose code calls `.wait()` under this point,
    /// and outlive every later [`resume_with`](Self::resume_with).
    pub unsafe fn set_yielder(&self, yielder: &Yielder) {
        self.yielder.set(yielder);
    }

    /// True once the point was cancelled ([`set_cancelled`](Self::set_cancelled)).
    #[inline]
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.get()
    }

    /// Marks the point cancelled: every later suspension goes through
    /// [`SuspendHooks::suspend_slow`].
    pub fn set_cancelled(&self) {
        self.cancelled.set(true);
    }

    /// True while a poll's waker is set: outside a poll a `.wait()` must block its thread.
    #[inline]
    pub fn in_poll(&self) -> bool {
        !self.waker.get().is_null()
    }

    /// Runs `f` (which resumes the coroutine) with this point as the thread's suspension point
    /// and `waker` as the waker of the poll (`None`: not in a poll, `.wait()` blocks). Restores
    /// the previous point afterwards (points nest).
    ///
    /// # Safety
    ///
    /// Every `.wait()` that runs inside `f` under this point (that is, outside any point entered
    /// further in) must run on the coroutine whose yielder was given to
    /// [`set_yielder`](Self::set_yielder), after it was given, and the hooks must be set: `f`
    /// resumes that coroutine and does not wait itself. A `.wait()` elsewhere would switch
    /// through a yielder that is not running.
    #[inline(always)]
    pub unsafe fn resume_with<R>(&self, waker: Option<&Waker>, f: impl FnOnce() -> R) -> R {
        struct Restore<'a> {
            point: &'a SuspendPoint,
            prev: *const SuspendPoint,
        }
        impl Drop for Restore<'_> {
            #[inline]
            fn drop(&mut self) {
                // The waker's borrow ends with this call.
                self.point.waker.set(ptr::null());
                crate::context::with(|c| c.suspend.set(self.prev));
            }
        }
        self.waker
            .set(waker.map_or(ptr::null(), |w| w as *const Waker));
        let _restore = Restore {
            point: self,
            prev: crate::context::with(|c| c.suspend.replace(self)),
        };
        f()
    }

    fn hooks(&self) -> &dyn SuspendHooks {
        let hooks = self.hooks.get().expect("a suspension point without hooks");
        // SAFETY: `set_hooks`'s contract: valid while the point is usable, which it is (we are
        // inside a `resume_with`, or the owner is calling).
        unsafe { hooks.as_ref() }
    }

    /// True when a `.wait()` under this point must block its thread rather than suspend:
    /// outside a poll, or while the thread is panicking (a fiber never switches away mid-unwind).
    #[inline(always)]
    pub fn must_block(&self) -> bool {
        self.waker.get().is_null() || std::thread::panicking()
    }

    /// The waker `.wait()` polls with.
    #[inline(always)]
    pub(crate) fn waker(&self) -> &Waker {
        if self.must_block() {
            return self.blocking_waker();
        }
        // SAFETY: non-null, set by `resume_with` from the waker of the poll that is running the
        // context right now; that poll outlives this borrow (we are inside its resume).
        unsafe { &*self.waker.get() }
    }

    /// Suspends until the waker fires (or unwinds, or blocks the thread: see the hooks).
    #[inline(always)]
    pub(crate) fn suspend(&self) {
        if (self.cancelled.get() || self.must_block()) && self.suspend_slow() {
            return;
        }
        let yielder = self.yielder.get();
        debug_assert!(!yielder.is_null());
        // SAFETY: `set_yielder`'s contract: the yielder lives as long as its coroutine; and
        // `resume_with`'s: a `.wait()` under this point runs on that coroutine.
        let input = unsafe { &*yielder }.suspend(());
        if input == Resume::Cancel {
            self.resumed_with_cancel();
        }
    }

    #[cold]
    #[inline(never)]
    fn blocking_waker(&self) -> &Waker {
        self.hooks().blocking_waker()
    }

    #[cold]
    #[inline(never)]
    fn suspend_slow(&self) -> bool {
        self.hooks().suspend_slow()
    }

    #[cold]
    #[inline(never)]
    fn resumed_with_cancel(&self) {
        self.hooks().resumed_with_cancel()
    }
}

impl std::fmt::Debug for SuspendPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SuspendPoint")
            .field("in_poll", &self.in_poll())
            .field("cancelled", &self.cancelled.get())
            .finish_non_exhaustive()
    }
}
