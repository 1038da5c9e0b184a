//! Borrowing scopes: fibers that may use the caller's stack. The rules and the soundness
//! argument are in [`scope`]'s docs.

use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::mem;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::task::{Poll, Waker};

use spectrum_rt::cancel::CancelCause;
use spectrum_rt::{AbortHandle, Handle, JoinError, PanicPayload, TaskId, Wait};
use spectrum_sync::Mutex;

use crate::builder::Builder;
use crate::error::{SpawnError, SpawnErrorKind};
use crate::fiber::{self, drop_quietly, Cancelled, Fiber, FiberCx, Payload};

/// Runs `f` with a [`Scope`] whose fibers may borrow anything `f` may, and waits for all of them
/// before returning `f`'s value.
///
/// ```
/// # let rt = spectrum_rt::Runtime::new().unwrap();
/// # let _guard = rt.enter();
/// let mut words = vec!["fiber", "scope"];
/// let total = spectrum_fiber::scope(|s| {
///     let lens = s.spawn(|| words.iter().map(|w| w.len()).sum::<usize>()); // borrows `words`
///     let first = s.spawn(|| words[0].len());
///     lens.join().unwrap() + first.join().unwrap()
/// });
/// assert_eq!(total, 15);
/// words.push("done"); // the borrows ended with the scope
/// ```
///
/// # Why borrowing is sound here
///
/// `std::thread::scope` lets threads borrow from the caller because the call *blocks* until they
/// have all finished: nothing the caller owns can be dropped or moved while they run, whatever
/// happens (a panic in the body is caught, the children are joined, then it is resumed). An async
/// scope cannot promise that, because a future can be dropped or forgotten part-way. `scope`
/// here is a blocking call again, so the same argument holds, provided nothing ends the call
/// before the join:
///
/// 1. **Called from a thread** (an OS thread, `main`, a blocking job): it blocks the thread, as
///    `std::thread::scope` does.
/// 2. **Called from a fiber**: its `.wait()`s suspend the fiber, but the fiber's stack, which
///    holds the borrowed data, stays where it is (a stack is never moved, freed or reused while
///    its coroutine is unfinished, see `fiber`'s invariant 4). The one thing that could end the
///    call early is *cancellation*, which unwinds the fiber's stack:
///    - cancellation inside the body unwinds to `scope`, which catches it, cancels the children
///      and joins them before unwinding further;
///    - the join itself is *shielded*: a cancellation that arrives while it waits is recorded,
///      the children are cancelled, and the join goes on;
///    - a fiber whose task is dropped while a scope is open is not unwound in place (the join
///      needs to suspend, which a destructor cannot): it is handed to a task of its own on the
///      same worker that finishes the scope first, and if even that is impossible (the runtime is
///      shutting down) its stack is leaked: borrowed data then stays valid forever.
/// 3. A child counts as finished when its closure and everything it captured (the borrows) have
///    been dropped and its result is stored: the last thing a child does is decrement the
///    scope's count. A child that never started counts down when its unstarted closure is dropped.
///    Results of type `T` may borrow too. A child's closure and result live in one cell shared by
///    the child and its [`ScopedJoinHandle`]; the child lets go of it before it counts down, and
///    the handle cannot outlive the scope, so whichever drops the cell last does so in time.
///
/// Every child's cell is erased to `'static` to fit in a task (as `std::thread::scope` erases
/// its threads' closures); the argument above is why that erasure is sound.
///
/// # Rules
///
/// - `scope` returns only when every child has finished.
/// - **Fail-fast:** a child that panics cancels its siblings. Its panic goes to its handle's
///   [`join`](ScopedJoinHandle::join); if nobody joined it, `scope` resumes the first such panic
///   after joining everything (as `std::thread::scope` panics).
/// - A panic (or cancellation) of the body cancels the children; `scope` joins them and then
///   resumes it.
/// - [`Scope::cancel`] cancels every child; spawning into a cancelled scope gives a handle whose
///   `join` returns `Err(JoinError::Cancelled)` (never a panic).
/// - Dropping a [`ScopedJoinHandle`] does not cancel its child: the scope owns its children.
///
/// Call `scope` from a fiber or a thread. Inside an async task it blocks a worker (the runtime
/// reports it), and children pinned to that worker cannot run until it returns.
///
/// # Panics
///
/// Resumes a panic of `f`, or else the first panic of a child that nobody joined, once every
/// child has finished.
#[track_caller]
pub fn scope<'env, F, T>(f: F) -> T
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
{
    let fiber_ptr = fiber::with_current(|c| c.map(|c| c as *const FiberCx));
    // SAFETY: `with_current` gave the context of the fiber running this code; it lives until
    // the coroutine finishes, and this call runs on the coroutine, so it outlives this call.
    let fiber: Option<&FiberCx> = fiber_ptr.map(|p| unsafe { &*p });
    let scope = Scope {
        shared: Arc::new(Shared {
            state: Mutex::new(State::new()),
        }),
        handle: Handle::try_current().ok(),
        scope: PhantomData,
        env: PhantomData,
    };
    if fiber.is_some_and(FiberCx::is_cancelled) {
        scope.cancel_with(CancelCause::new(
            "the fiber that opened the scope was cancelled",
        ));
    }
    if let Some(fcx) = fiber {
        fcx.enter_scope();
    }
    let result = catch_unwind(AssertUnwindSafe(|| f(&scope)));
    if let Err(payload) = &result {
        let cause = if payload.is::<Cancelled>() {
            CancelCause::new("the fiber that opened the scope was cancelled")
        } else {
            CancelCause::new("the scope's body panicked")
        };
        scope.cancel_with(cause);
    }
    let unjoined_panic = {
        let _shield = fiber.map(FiberCx::shield);
        scope.join_all(fiber);
        scope.shared.lock().panic.take()
    };
    if let Some(fcx) = fiber {
        fcx.exit_scope();
    }
    match result {
        Err(payload) => resume_unwind(payload),
        Ok(value) => {
            if let Some(payload) = unjoined_panic {
                resume_unwind(payload);
            }
            if fiber.is_some_and(FiberCx::is_cancelled) && !std::thread::panicking() {
                // Cancelled while joining: unwind now that nothing borrows this stack.
                drop(value);
                resume_unwind(Box::new(Cancelled));
            }
            value
        }
    }
}

/// A scope to spawn borrowing fibers in; see [`scope`].
pub struct Scope<'scope, 'env: 'scope> {
    shared: Arc<Shared>,
    handle: Option<Handle>,
    /// Invariance over `'scope` and `'env` (as `std::thread::Scope`): the scope may neither
    /// shrink nor grow what it borrows.
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

struct Shared {
    state: Mutex<State>,
}

struct State {
    /// Children that have not counted themselves out (see `scope`'s docs, point 3).
    active: usize,
    /// Each child's task while it runs, by key, so the scope can cancel them all.
    tasks: Vec<Slot>,
    /// Keys free for reuse.
    free: Vec<usize>,
    cancelled: Option<CancelCause>,
    /// The scope's join, waiting for `active == 0`.
    waker: Option<Waker>,
    /// The first panic of a child whose handle was dropped without joining it.
    panic: Option<Payload>,
}

/// A child's entry in the scope's table.
enum Slot {
    Free,
    /// Reserved by `spawn_with`, which stores the task once spawned.
    Spawning,
    Running(AbortHandle),
    /// Counted out before `spawn_with` stored its task; `spawn_with` frees the key.
    Finished,
}

impl State {
    fn new() -> State {
        State {
            active: 0,
            tasks: Vec::new(),
            free: Vec::new(),
            cancelled: None,
            waker: None,
            panic: None,
        }
    }

    fn reserve(&mut self) -> usize {
        self.active += 1;
        match self.free.pop() {
            Some(key) => {
                self.tasks[key] = Slot::Spawning;
                key
            }
            None => {
                self.tasks.push(Slot::Spawning);
                self.tasks.len() - 1
            }
        }
    }
}

impl Shared {
    fn lock(&self) -> spectrum_sync::MutexGuard<'_, State> {
        self.state.lock()
    }

    /// Cancels every running child with `cause` (the first cause of the scope is kept).
    fn cancel_all(&self, cause: CancelCause, except: Option<usize>) {
        let targets: Vec<AbortHandle> = {
            let mut st = self.lock();
            if st.cancelled.is_none() {
                st.cancelled = Some(cause.clone());
            }
            st.tasks
                .iter()
                .enumerate()
                .filter(|(key, _)| Some(*key) != except)
                .filter_map(|(_, slot)| match slot {
                    Slot::Running(task) => Some(task.clone()),
                    _ => None,
                })
                .collect()
        };
        for t in targets {
            t.cancel_with(cause.clone());
        }
    }

    /// Keeps a panic nobody will join, for `scope` to resume (the first one wins).
    fn unjoined_panic(&self, payload: Payload) {
        let mut st = self.lock();
        if st.panic.is_none() {
            st.panic = Some(payload);
            return;
        }
        drop(st);
        drop_quietly(payload);
    }

    /// A child counts itself out: the last thing it does (see `scope`'s docs, point 3).
    fn child_gone(&self, key: usize) {
        let (task, scope_waker) = {
            let mut st = self.lock();
            st.active -= 1;
            let task = match mem::replace(&mut st.tasks[key], Slot::Free) {
                Slot::Running(task) => {
                    st.free.push(key);
                    Some(task)
                }
                // `spawn_with` has not stored the task yet; it frees the key when it does.
                Slot::Spawning => {
                    st.tasks[key] = Slot::Finished;
                    None
                }
                Slot::Free | Slot::Finished => unreachable!("a child counted out twice"),
            };
            let scope_waker = if st.active == 0 {
                st.waker.take()
            } else {
                None
            };
            (task, scope_waker)
        };
        drop(task);
        if let Some(w) = scope_waker {
            w.wake();
        }
    }
}

/// One child: its closure until it runs, then its outcome until its handle takes it. One
/// allocation, shared by the child (as [`Run`]) and its [`ScopedJoinHandle`] (as [`Outcome`]);
/// whichever lets go last frees it, the child before it counts itself out, the handle inside
/// the scope, so a `T` or `F` that borrows is always dropped before `scope` returns.
struct ChildCell<F, T> {
    /// Taken (to run or to drop) exactly once, by the child's `Runner`.
    f: UnsafeCell<Option<F>>,
    out: Mutex<Outcome<T>>,
}

// SAFETY: `f` is touched only through `Run`, whose methods the child's `Runner` calls at most
// once in all, from whichever thread owns the runner at the time (one at a time: the runner is
// moved, never shared); everything else is behind the mutex. `F: Send` lets the closure be run
// or dropped on another thread, `T: Send` the value be taken on another.
unsafe impl<F: Send, T: Send> Sync for ChildCell<F, T> {}

/// What a child left for its handle.
struct Outcome<T> {
    done: bool,
    /// The value or the panic; `None` when cancelled (or not yet done).
    result: Option<Result<T, Payload>>,
    handle_alive: bool,
    /// The handle's `join`, waiting for `done`.
    waiter: Option<Waker>,
    /// Why the handle cancelled this child, if it did.
    cause: Option<CancelCause>,
}

/// The child's side of its cell.
trait Run: Send + Sync {
    /// Runs the closure and stores its outcome.
    fn run(&self, shared: &Shared, key: usize);
    /// Drops the closure unrun (the child was cancelled before it started).
    fn abandon(&self, shared: &Shared);
}

/// The handle's side of its cell.
trait HasOutcome<T>: Send + Sync {
    fn outcome(&self) -> &Mutex<Outcome<T>>;
}

impl<F, T> ChildCell<F, T> {
    fn new(f: F) -> ChildCell<F, T> {
        ChildCell {
            f: UnsafeCell::new(Some(f)),
            out: Mutex::new(Outcome {
                done: false,
                result: None,
                handle_alive: true,
                waiter: None,
                cause: None,
            }),
        }
    }

    /// Takes the closure; `None` the second time.
    fn take_f(&self) -> Option<F> {
        // SAFETY: see the `Sync` impl: only the child's runner calls this, once at a time.
        unsafe { (*self.f.get()).take() }
    }

    /// Records the outcome and wakes the handle's `join`. A panic whose handle is gone goes to
    /// the scope instead.
    fn finish(&self, shared: &Shared, result: Option<Result<T, Payload>>) {
        let (waiter, unjoined) = {
            let mut out = self.out.lock();
            out.done = true;
            let unjoined = match result {
                Some(Err(payload)) if !out.handle_alive => Some(payload),
                result => {
                    out.result = result;
                    None
                }
            };
            (out.waiter.take(), unjoined)
        };
        if let Some(payload) = unjoined {
            shared.unjoined_panic(payload);
        }
        if let Some(w) = waiter {
            w.wake();
        }
    }
}

impl<F, T> Run for ChildCell<F, T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn run(&self, shared: &Shared, key: usize) {
        let Some(f) = self.take_f() else { return };
        let result = match catch_unwind(AssertUnwindSafe(f)) {
            Ok(value) => Some(Ok(value)),
            // Cancelled: unwound, nothing to report (the handle sees `Cancelled`).
            Err(payload) if payload.is::<Cancelled>() => None,
            Err(payload) => {
                let message = PanicPayload::new(payload);
                let cause = CancelCause::new(format!(
                    "a sibling fiber panicked: {}",
                    message.message().unwrap_or("<non-string payload>")
                ));
                shared.cancel_all(cause, Some(key));
                Some(Err(message.into_inner()))
            }
        };
        self.finish(shared, result);
    }

    fn abandon(&self, shared: &Shared) {
        drop_quietly(self.take_f());
        self.finish(shared, None);
    }
}

impl<F, T> HasOutcome<T> for ChildCell<F, T>
where
    F: Send,
    T: Send,
{
    fn outcome(&self) -> &Mutex<Outcome<T>> {
        &self.out
    }
}

/// What a scoped fiber's task runs: its cell, erased to `'static` (`scope`'s docs give the
/// argument), and the count it gives back when dropped, after letting go of the cell.
struct Runner {
    cell: Option<Arc<dyn Run>>,
    shared: Arc<Shared>,
    key: usize,
}

impl Runner {
    fn run(mut self) {
        if let Some(cell) = self.cell.take() {
            cell.run(&self.shared, self.key);
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        // Not run: the task was cancelled (or the runtime refused it) before it started.
        if let Some(cell) = self.cell.take() {
            cell.abandon(&self.shared);
        }
        self.shared.child_gone(self.key);
    }
}

impl<'scope, 'env> Scope<'scope, 'env> {
    /// Spawns a fiber that may borrow from outside the scope; the scope joins it before it
    /// returns. Spread across workers like [`spawn`](crate::spawn).
    ///
    /// # Panics
    ///
    /// Without a runtime (none was entered when the scope began) and at the stack limit; use
    /// [`Builder::spawn_scoped`] to get those as errors.
    #[track_caller]
    pub fn spawn<F, T>(&'scope self, f: F) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        match self.spawn_with(Builder::new(), f) {
            Ok(h) => h,
            Err(e) => panic!("{e}"),
        }
    }

    #[track_caller]
    pub(crate) fn spawn_with<F, T>(
        &'scope self,
        mut builder: Builder,
        f: F,
    ) -> Result<ScopedJoinHandle<'scope, T>, SpawnError<F>>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let Some(handle) = &self.handle else {
            return Err(SpawnError::new(SpawnErrorKind::NoRuntime, f));
        };
        let (size, f) = builder.check(f)?;
        let name = builder.take_name();
        let key = {
            let mut st = self.shared.lock();
            if let Some(cause) = &st.cancelled {
                return Ok(ScopedJoinHandle {
                    shared: self.shared.clone(),
                    child: Child::NotSpawned(cause.clone()),
                    _scope: PhantomData,
                });
            }
            st.reserve()
        };
        let cell = Arc::new(ChildCell::new(f));
        let outcome: Arc<dyn HasOutcome<T> + 'scope> = cell.clone();
        let run: Arc<dyn Run + 'scope> = cell;
        // SAFETY: only the lifetime changes. The cell holds what borrows for `'scope`, and
        // `scope` does not return (nor unwind) before the child has let go of it and counted
        // itself out (`scope`'s docs give the whole argument).
        let run: Arc<dyn Run + 'static> = unsafe { mem::transmute(run) };
        let runner = Runner {
            cell: Some(run),
            shared: self.shared.clone(),
            key,
        };
        let task = crate::builder::task_builder(&name)
            .spawn_pinned_on(move || Fiber::new(move || runner.run(), name, size), handle);
        let abort = task.abort_handle();
        // The scope, not the handle, owns the child: it finishes whether or not it is joined.
        task.detach();
        let cancel_now = {
            let mut st = self.shared.lock();
            match mem::replace(&mut st.tasks[key], Slot::Free) {
                Slot::Spawning => {
                    st.tasks[key] = Slot::Running(abort.clone());
                    // Cancelled while we were spawning: the sweep missed this child.
                    st.cancelled.clone()
                }
                // Already over (or dropped by a runtime that shut down): nothing to keep.
                Slot::Finished => {
                    st.free.push(key);
                    None
                }
                Slot::Free | Slot::Running(_) => unreachable!("a reserved key was reused"),
            }
        };
        if let Some(cause) = cancel_now {
            abort.cancel_with(cause);
        }
        Ok(ScopedJoinHandle {
            shared: self.shared.clone(),
            child: Child::Spawned {
                cell: outcome,
                task: abort,
            },
            _scope: PhantomData,
        })
    }

    /// Cancels every child (cause: "scope cancelled"): each unwinds at its next suspension point.
    /// Later spawns into this scope give already-cancelled handles.
    pub fn cancel(&self) {
        self.cancel_with(CancelCause::new("scope cancelled"));
    }

    /// Cancels every child with `cause`.
    pub fn cancel_with(&self, cause: CancelCause) {
        self.shared.cancel_all(cause, None);
    }

    /// True once the scope was cancelled (by [`cancel`](Self::cancel), a child's panic, or the
    /// body's failure).
    pub fn is_cancelled(&self) -> bool {
        self.shared.lock().cancelled.is_some()
    }

    /// Children still running.
    pub fn active(&self) -> usize {
        self.shared.lock().active
    }

    /// Waits until no child runs; shielded by the caller. While waiting, a cancellation of the
    /// calling fiber cancels the children.
    fn join_all(&self, fiber: Option<&FiberCx>) {
        let mut forwarded = false;
        std::future::poll_fn(|cx| {
            if !forwarded && fiber.is_some_and(FiberCx::is_cancelled) {
                forwarded = true;
                self.cancel_with(CancelCause::new(
                    "the fiber that opened the scope was cancelled",
                ));
            }
            let mut st = self.shared.lock();
            if st.active == 0 {
                Poll::Ready(())
            } else {
                st.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .wait();
    }
}

impl std::fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.shared.lock();
        f.debug_struct("Scope")
            .field("active", &st.active)
            .field("cancelled", &st.cancelled.is_some())
            .finish()
    }
}

enum Child<'scope, T> {
    Spawned {
        cell: Arc<dyn HasOutcome<T> + 'scope>,
        task: AbortHandle,
    },
    NotSpawned(CancelCause),
}

/// A scoped fiber's handle: [`join`](Self::join) it for its value. Dropping it does not cancel
/// the fiber (the scope owns its children and joins them).
pub struct ScopedJoinHandle<'scope, T> {
    shared: Arc<Shared>,
    child: Child<'scope, T>,
    _scope: PhantomData<&'scope ()>,
}

impl<T> ScopedJoinHandle<'_, T> {
    /// Waits for the fiber (suspending the caller if it is a fiber) and returns its value.
    ///
    /// # Errors
    ///
    /// `JoinError::Panicked` with the fiber's panic, or `JoinError::Cancelled` if it was
    /// cancelled before it finished.
    #[track_caller]
    pub fn join(self) -> Result<T, JoinError> {
        let cell = match &self.child {
            Child::NotSpawned(cause) => return Err(JoinError::Cancelled(cause.clone())),
            Child::Spawned { cell, .. } => cell.outcome(),
        };
        std::future::poll_fn(|cx| {
            let mut out = cell.lock();
            if out.done {
                Poll::Ready(())
            } else {
                out.waiter = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .wait();
        let (result, cause) = {
            let mut out = cell.lock();
            (out.result.take(), out.cause.clone())
        };
        match result {
            Some(Ok(v)) => Ok(v),
            Some(Err(p)) => Err(JoinError::Panicked(PanicPayload::new(p))),
            None => {
                let cause = cause.or_else(|| self.shared.lock().cancelled.clone());
                Err(JoinError::Cancelled(
                    cause.unwrap_or_else(CancelCause::requested),
                ))
            }
        }
    }

    /// True once the fiber has finished (its closure returned, panicked or was cancelled).
    pub fn is_finished(&self) -> bool {
        match &self.child {
            Child::NotSpawned(_) => true,
            Child::Spawned { cell, .. } => cell.outcome().lock().done,
        }
    }

    /// The fiber's task id (`None` if it was never spawned: the scope was cancelled).
    pub fn id(&self) -> Option<TaskId> {
        match &self.child {
            Child::NotSpawned(_) => None,
            Child::Spawned { task, .. } => Some(task.id()),
        }
    }

    /// Cancels this fiber only (not a failure of the scope).
    pub fn cancel(&self) {
        if let Child::Spawned { cell, task } = &self.child {
            let done = {
                let mut out = cell.outcome().lock();
                out.cause.get_or_insert_with(CancelCause::requested);
                out.done
            };
            if !done {
                task.cancel();
            }
        }
    }
}

impl<T> Drop for ScopedJoinHandle<'_, T> {
    fn drop(&mut self) {
        if let Child::Spawned { cell, .. } = &self.child {
            let result = {
                let mut out = cell.outcome().lock();
                out.handle_alive = false;
                out.result.take()
            };
            // Dropped here, inside the scope (a `T` may borrow); a panic nobody joined goes to
            // the scope, which resumes it.
            match result {
                Some(Err(payload)) => self.shared.unjoined_panic(payload),
                Some(Ok(value)) => drop(value),
                None => {}
            }
        }
    }
}

impl<T> std::fmt::Debug for ScopedJoinHandle<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopedJoinHandle")
            .field("id", &self.id())
            .field("finished", &self.is_finished())
            .finish()
    }
}
