//! The fiber itself: a future that owns a coroutine on a pooled stack.
//!
//! # Invariants
//!
//! 1. A [`Fiber`] is `!Send` (it holds a `corosensei::Coroutine`), and it is only ever put in a
//!    pinned task (`task::Builder::spawn_pinned`, `spawn_local`), which the runtime polls,
//!    cancels and drops on its home worker thread only. So every instruction of a fiber's code,
//!    from the first to the last destructor, runs on one OS thread.
//! 2. The fiber's [`FiberCx`] (its `SuspendPoint`, cancellation flags and the facts the stack
//!    overflow handler prints) lives in a slot at the top of the fiber's own stack mapping,
//!    above the coroutine's frames. Its address is fixed for the life of the stack, so the
//!    fiber's code may hold `&FiberCx` across suspensions (`.wait()` does), and it survives the
//!    fiber's future being dropped while a scope forces the stack to live on (the hand-over
//!    below). It is written before the coroutine starts and dropped after it is done.
//! 3. The fiber never switches away in the middle of unwinding. The panic count is per OS
//!    thread: a fiber that suspended mid-unwind would leave its worker "panicking" while it runs
//!    other tasks. So while `std::thread::panicking()`, a `.wait()` inside a fiber blocks the
//!    worker thread instead of suspending (see [`FiberCx::suspend`]).
//! 4. A stack goes back to the pool only once its coroutine has finished; a coroutine that
//!    cannot be finished (the hand-over failed at runtime shutdown) is leaked with its stack,
//!    never freed under a running frame.
//!
//! # Who touches what
//!
//! | field of `FiberCx` | written by | read by |
//! |---|---|---|
//! | `point`'s waker | the poller, around each resume (`resume_with`) | `.wait()` in the fiber |
//! | `point`'s yielder | the fiber, at its first instruction | `.wait()` in the fiber |
//! | `point`'s cancelled flag | `resumed_with_cancel` | `.wait()`, `suspend_slow`, scopes |
//! | `shield`, `scopes` | scopes, in the fiber | `suspend_slow`, the drop path |
//!
//! All of them are `Cell`s touched by one thread (invariant 1), never at the same time (the
//! poller and the fiber alternate).
//!
//! The hot path of `.wait()` (poll, switch out, switch back in) is `spectrum_rt`'s
//! [`SuspendPoint`], inlined into the waiting code so that no call frame sits between it and the
//! stack switch (see that type for why); `FiberCx` supplies only the rare paths
//! ([`SuspendHooks`]).
//!
//! # Protocols
//!
//! *Poll:* 1. At the first poll, take a stack from the pool, write the `FiberCx` slot, create the
//! coroutine (corosensei writes the closure onto the new stack). 2. Store the poll's waker in the
//! `FiberCx`, mark the fiber current (for the overflow handler), and resume the coroutine inside
//! `SuspendPoint::resume_with`, so that every `.wait()` in the fiber polls its future with
//! the task's waker and, when pending, suspends the coroutine: the poll returns `Pending` and the
//! worker runs other tasks. 3. When the closure returns, give the stack back and return its
//! value; when it panicked, resume the panic on the worker, where the task harness turns it into
//! `JoinError::Panicked`.
//!
//! *Cancel* (the runtime drops the future of a cancelled task at its next suspension point, on
//! its home thread): 1. Not started: drop the closure. 2. Suspended, outside any scope: resume
//! the coroutine with `Resume::Cancel`; `suspend` answers it by unwinding the fiber's stack
//! (`resume_unwind` with an internal payload: destructors run, no panic message), the closure's
//! root catches it, the coroutine returns, the stack goes back to the pool. Any later `.wait()`
//! (a destructor that waits) blocks the thread (invariant 3). 3. Suspended inside a
//! [`scope`](crate::scope): the children may borrow this stack, so it must not unwind past the
//! scope before they finish, and the scope's join needs to *suspend* to let them run. The
//! coroutine is handed to a new task on the same worker (a `Zombie`) that delivers the
//! cancellation and then drives the fiber like any other: the scope cancels its children, joins
//! them, and then the fiber unwinds. If that task cannot be spawned (runtime shutdown), the
//! coroutine and its stack are leaked, which keeps borrowed data valid forever.

use std::any::Any;
use std::cell::{Cell, OnceCell};
use std::future::Future;
use std::mem;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use corosensei::{Coroutine, CoroutineResult};
use spectrum_rt::wait::{Resume, SuspendHooks, SuspendPoint, Yielder};
use spectrum_rt::TaskId;
use spectrum_sync::{Condvar, Mutex};

use crate::stack::{self, FiberStack};

/// A panic payload.
pub(crate) type Payload = Box<dyn Any + Send + 'static>;

type Co<R> = Coroutine<Resume, (), R, FiberStack>;

/// The payload a cancelled fiber unwinds with (raised with `resume_unwind`, so no panic hook
/// runs and nothing is printed). Code that catches panics inside a fiber can recognise it with
/// [`crate::is_cancellation`]; swallowing it does not un-cancel the fiber, whose next `.wait()`
/// unwinds again.
#[derive(Debug)]
pub(crate) struct Cancelled;

/// What the overflow handler and [`crate::current`] know about a fiber.
#[derive(Debug)]
pub(crate) struct FiberInfo {
    pub(crate) id: Option<TaskId>,
    pub(crate) name: Option<Box<str>>,
    /// The guard page, `[start, end)`.
    pub(crate) guard: (usize, usize),
    pub(crate) stack_size: usize,
}

/// A fiber's context: the [`SuspendPoint`] that `.wait()` uses inside it, and what its rare
/// paths need. Lives in the slot at the top of the fiber's stack (see the module invariants).
pub(crate) struct FiberCx {
    /// Its waker is null while the fiber runs outside a poll (being cancelled by a drop), when
    /// `.wait()` blocks the thread instead.
    point: SuspendPoint,
    /// Scope joins in progress: a cancellation is recorded, not raised, while non-zero.
    shield: Cell<u32>,
    /// Scopes open on this fiber's stack: its stack may be borrowed while non-zero.
    scopes: Cell<u32>,
    /// Parks the thread for `.wait()`s that must not suspend; made on first use.
    blocker: OnceCell<(Arc<Blocker>, Waker)>,
    pub(crate) info: FiberInfo,
}

/// Bytes reserved at the top of every stack for the `FiberCx`.
pub(crate) const CX_SLOT: usize = 256;
const _: () = assert!(mem::size_of::<FiberCx>() <= CX_SLOT && mem::align_of::<FiberCx>() <= 16);

impl FiberCx {
    fn new(info: FiberInfo) -> FiberCx {
        FiberCx {
            point: SuspendPoint::new(),
            shield: Cell::new(0),
            scopes: Cell::new(0),
            blocker: OnceCell::new(),
            info,
        }
    }

    fn blocker(&self) -> &(Arc<Blocker>, Waker) {
        self.blocker.get_or_init(|| {
            let b = Arc::new(Blocker {
                notified: Mutex::new(false),
                condvar: Condvar::new(),
            });
            (b.clone(), Waker::from(b))
        })
    }

    /// True once the fiber's task was cancelled.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.point.is_cancelled()
    }

    pub(crate) fn enter_scope(&self) {
        self.scopes.set(self.scopes.get() + 1);
    }

    pub(crate) fn exit_scope(&self) {
        self.scopes.set(self.scopes.get() - 1);
    }

    pub(crate) fn shield(&self) -> ShieldGuard<'_> {
        self.shield.set(self.shield.get() + 1);
        ShieldGuard(self)
    }
}

/// Ends a shield on drop.
pub(crate) struct ShieldGuard<'a>(&'a FiberCx);

impl Drop for ShieldGuard<'_> {
    fn drop(&mut self) {
        self.0.shield.set(self.0.shield.get() - 1);
    }
}

impl SuspendHooks for FiberCx {
    /// `.wait()`'s waker when the fiber must block its thread (outside a poll, or mid-unwind).
    fn blocking_waker(&self) -> &Waker {
        &self.blocker().1
    }

    /// A suspension of a cancelled fiber or one that must block: unwinds if the cancellation
    /// applies, blocks the thread if it must (returns true: done, do not switch).
    fn suspend_slow(&self) -> bool {
        // A cancelled fiber unwinds at every suspension point until it is gone, unless a scope
        // is joining its children (the shield) or it is unwinding already.
        if self.is_cancelled() && self.shield.get() == 0 && !std::thread::panicking() {
            resume_unwind(Box::new(Cancelled));
        }
        if self.point.must_block() {
            kick_other_workers();
            self.blocker().0.wait();
            return true;
        }
        false
    }

    /// The poller resumed the fiber with `Resume::Cancel`: record it, and unwind unless a scope
    /// is joining its children.
    fn resumed_with_cancel(&self) {
        self.point.set_cancelled();
        if self.shield.get() == 0 {
            resume_unwind(Box::new(Cancelled));
        }
    }
}

/// Before a fiber blocks its worker (invariant 3), makes sure another worker is awake to drive
/// timers and I/O: a parked worker sleeps on a condition variable while the blocked one may have
/// been the last to poll the driver, and what the fiber waits for often needs the driver. A task
/// submitted from outside the workers (here, from a blocking-pool thread) wakes a parked worker,
/// which then parks on the free driver. (A public `block_in_place` in `spectrum-rt` would hand
/// the worker's queue to a spare thread instead.)
fn kick_other_workers() {
    if let Ok(handle) = spectrum_rt::Handle::try_current() {
        let h = handle.clone();
        handle
            .spawn_blocking(move || h.spawn(async {}).detach())
            .detach();
    }
}

/// A thread parker with its own flag, so it never consumes `thread::park` tokens.
struct Blocker {
    notified: Mutex<bool>,
    condvar: Condvar,
}

impl Blocker {
    fn wait(&self) {
        let mut n = self.notified.lock();
        while !*n {
            n = self.condvar.wait(n);
        }
        *n = false;
    }
}

impl Wake for Blocker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        *self.notified.lock() = true;
        self.condvar.notify_one();
    }
}

thread_local! {
    /// The fiber running on this thread, if any (read by the overflow handler, so const
    /// initialised and without a destructor: no lazy initialisation in a signal handler).
    static CURRENT: Cell<*const FiberCx> = const { Cell::new(ptr::null()) };
}

/// Marks a fiber as running on this thread until dropped.
struct Current(*const FiberCx);

impl Current {
    #[inline]
    fn enter(cx: *const FiberCx) -> Current {
        Current(CURRENT.with(|c| c.replace(cx)))
    }
}

impl Drop for Current {
    #[inline]
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.0));
    }
}

/// The context of the fiber running on this thread, if any.
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&FiberCx>) -> R) -> R {
    let ptr = CURRENT.with(Cell::get);
    // SAFETY: `CURRENT` is set only while the fiber's coroutine runs (by `Current`, around a
    // resume), and its `FiberCx` outlives every resume (module invariant 2).
    f(unsafe { ptr.as_ref() })
}

/// For the signal handler: runs `f` with the running fiber's facts if `addr` is in its guard
/// page; returns whether it did.
pub(crate) fn on_guard_hit(addr: usize, f: impl FnOnce(&FiberInfo)) -> bool {
    let Ok(ptr) = CURRENT.try_with(Cell::get) else {
        return false;
    };
    // SAFETY: as in `with_current`; the fault interrupted this thread's fiber, which cannot
    // finish while its thread runs the handler.
    let Some(cx) = (unsafe { ptr.as_ref() }) else {
        return false;
    };
    let (start, end) = cx.info.guard;
    if (start..end).contains(&addr) {
        f(&cx.info);
        true
    } else {
        false
    }
}

/// Resumes a fiber with `input`, with `waker` as the poll's waker (`None` outside a poll).
#[inline(always)]
fn resume<R>(
    co: &mut Co<R>,
    cx: *const FiberCx,
    input: Resume,
    waker: Option<&Waker>,
) -> CoroutineResult<(), R> {
    // SAFETY: the slot holds a live `FiberCx` until `retire` drops it, after the coroutine is done
    // (module invariant 2); we are before that.
    let fcx = unsafe { &*cx };
    let _current = Current::enter(cx);
    // SAFETY: the closure only resumes `co`, whose body gives the point its yielder at its first
    // instruction (before any `.wait()`); the hooks were set by `launch` before the first resume.
    unsafe { fcx.point.resume_with(waker, || co.resume(input)) }
}

/// Gives a finished fiber's stack back: drops the `FiberCx` slot, then pools the stack.
fn retire<R>(co: Co<R>, cx: *const FiberCx) {
    let stack = co.into_stack();
    // SAFETY: the coroutine is done, so nothing refers to the slot any more; it was written by
    // `launch` and is dropped exactly once, here.
    unsafe { ptr::drop_in_place(cx.cast_mut()) };
    stack::give(stack);
}

/// Drops a value on a path that has nowhere to report a panic of its destructor (a cancelled
/// fiber's output, a scoped child's unrun closure), ignoring such a panic.
pub(crate) fn drop_quietly<T>(value: T) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(value)));
}

/// The future of a fiber task.
pub(crate) struct Fiber<F, T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    stage: Stage<F, T>,
}

enum Stage<F, T> {
    /// Spawned, not yet polled: no stack yet (stacks are taken on the home worker, at the first
    /// poll, so queued fibers cost no mapping).
    Init {
        f: F,
        name: Option<Box<str>>,
        stack_size: usize,
    },
    Running {
        co: Co<Result<T, Payload>>,
        cx: *const FiberCx,
    },
    Done,
}

// The coroutine's frames live on its own stack, not inside this struct, and the `FiberCx` lives
// in that stack too: moving a `Fiber` moves only pointers. Nothing here is structurally pinned.
impl<F, T> Unpin for Fiber<F, T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
}

impl<F, T> Fiber<F, T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    /// A fiber that will run `f` on a stack of `stack_size` usable bytes (already rounded).
    pub(crate) fn new(f: F, name: Option<Box<str>>, stack_size: usize) -> Fiber<F, T> {
        Fiber {
            stage: Stage::Init {
                f,
                name,
                stack_size,
            },
        }
    }

    /// Takes a stack and creates the coroutine. Panics (inside the task's poll, so the join
    /// handle reports it) if no stack can be had.
    #[cold]
    #[inline(never)]
    fn launch(&mut self) {
        let Stage::Init {
            f,
            name,
            stack_size,
        } = mem::replace(&mut self.stage, Stage::Done)
        else {
            unreachable!("launch of a started fiber")
        };
        crate::overflow::prepare_thread();
        let stack = match stack::take(stack_size) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        let info = FiberInfo {
            id: spectrum_rt::task_id(),
            name,
            guard: stack.guard(),
            stack_size: stack.size(),
        };
        let slot = stack.cx_slot().cast::<FiberCx>();
        // SAFETY: the slot is `CX_SLOT` bytes at the top of the stack mapping, 16-byte aligned,
        // below no coroutine frame (the coroutine's stack starts beneath it), and owned by us
        // until `retire`.
        unsafe { slot.write(FiberCx::new(info)) };
        let cx = slot.cast_const();
        // SAFETY: the hooks are the `FiberCx` the point lives in: same address, same lifetime
        // (written above, dropped by `retire` after the coroutine is done, invariant 2).
        unsafe {
            let hooks: NonNull<dyn SuspendHooks> = NonNull::new_unchecked(slot);
            (*cx).point.set_hooks(hooks);
        }
        let body = move |yielder: &Yielder, input: Resume| -> Result<T, Payload> {
            // SAFETY: the slot was written above and outlives the coroutine (invariant 2); the
            // yielder is this coroutine's, alive as long as it runs, and the point is resumed
            // only around this coroutine's resumes.
            unsafe { (*cx).point.set_yielder(yielder) };
            if input == Resume::Cancel {
                drop(f);
                return Err(Box::new(Cancelled));
            }
            catch_unwind(AssertUnwindSafe(f))
        };
        let co = Coroutine::with_stack(stack, body);
        self.stage = Stage::Running { co, cx };
    }
}

impl<F, T> Future for Fiber<F, T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    type Output = T;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let me = self.get_mut();
        if let Stage::Init { .. } = me.stage {
            me.launch();
        }
        let Stage::Running { co, cx: fcx } = &mut me.stage else {
            panic!("fiber polled after it finished");
        };
        let fcx = *fcx;
        match resume(co, fcx, Resume::Run, Some(cx.waker())) {
            CoroutineResult::Yield(()) => Poll::Pending,
            CoroutineResult::Return(out) => {
                let Stage::Running { co, .. } = mem::replace(&mut me.stage, Stage::Done) else {
                    unreachable!()
                };
                retire(co, fcx);
                match out {
                    Ok(v) => Poll::Ready(v),
                    Err(payload) => resume_unwind(payload),
                }
            }
        }
    }
}

impl<F, T> Drop for Fiber<F, T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    fn drop(&mut self) {
        if let Stage::Running { co, cx } = mem::replace(&mut self.stage, Stage::Done) {
            cancel(co, cx);
        }
    }
}

/// Finishes a suspended fiber whose task was cancelled (protocol *Cancel*).
fn cancel<R: 'static>(mut co: Co<R>, cx: *const FiberCx) {
    // SAFETY: the coroutine is suspended, not done: the slot is alive.
    if unsafe { &*cx }.scopes.get() > 0 {
        hand_over(co, cx);
        return;
    }
    match resume(&mut co, cx, Resume::Cancel, None) {
        CoroutineResult::Return(out) => {
            drop_quietly(out);
            retire(co, cx);
        }
        // `suspend` never yields without a waker (it blocks the thread instead), so this is
        // unreachable; if it ever happened, leaking is the one safe answer.
        CoroutineResult::Yield(()) => {
            debug_assert!(false, "a cancelled fiber suspended outside a poll");
            mem::forget(co);
        }
    }
}

/// Moves a cancelled fiber that has scopes open to a task of its own on this worker.
fn hand_over<R: 'static>(co: Co<R>, cx: *const FiberCx) {
    let zombie = Zombie {
        co: Some(co),
        cx,
        cancel_sent: false,
    };
    // Runs in a destructor on the home worker (inside the cancelled task's poll or the worker's
    // shutdown sweep), so `spawn_local` applies; if it refuses (the runtime is shutting down),
    // the zombie is dropped, which leaks the stack (see `Zombie`'s `Drop`).
    if let Ok(handle) = catch_unwind(AssertUnwindSafe(|| spectrum_rt::spawn_local(zombie))) {
        handle.detach();
    }
}

/// A cancelled fiber that must finish its scopes before it may unwind.
struct Zombie<R> {
    co: Option<Co<R>>,
    cx: *const FiberCx,
    cancel_sent: bool,
}

impl<R> Future for Zombie<R> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let me = self.get_mut();
        let input = if mem::replace(&mut me.cancel_sent, true) {
            Resume::Run
        } else {
            Resume::Cancel
        };
        let co = me.co.as_mut().expect("zombie polled after it finished");
        match resume(co, me.cx, input, Some(cx.waker())) {
            CoroutineResult::Yield(()) => Poll::Pending,
            CoroutineResult::Return(out) => {
                drop_quietly(out);
                let co = me.co.take().expect("checked above");
                retire(co, me.cx);
                Poll::Ready(())
            }
        }
    }
}

impl<R> Unpin for Zombie<R> {}

impl<R> Drop for Zombie<R> {
    fn drop(&mut self) {
        if let Some(co) = self.co.take() {
            // Never driven to the end (the runtime shut down under it): children of its scopes
            // may still borrow its stack, so the stack must never be unmapped or reused.
            mem::forget(co);
        }
    }
}
