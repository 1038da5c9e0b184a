//! Borrowing scopes: fibers that may use the caller's stack. The rules and the soundness
//! argument are in [`scope`]'s docs.

use std::marker::PhantomData;
use std::mem;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::task::{Poll, Waker};

use spectrum_rt::cancel::CancelCause;
use spectrum_rt::{Handle, JoinError, JoinHandle, PanicPayload, TaskId, Wait};
use spectrum_sync::Mutex;

use crate::builder::Builder;
use crate::error::{SpawnError, SpawnErrorKind};
use crate::fiber::{self, Cancelled, Fiber, FiberCx, Payload};

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
///    Results of type `T` may borrow too; they live in a packet owned by the child's
///    [`ScopedJoinHandle`], which cannot outlive the scope.
///
/// Every child's closure is erased to `'static` to fit in a task (as `std::thread::scope` erases
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
            state: Mutex::new(State {
                active: 0,
                children: Vec::new(),
                free: Vec::new(),
                cancelled: None,
                waker: None,
            }),
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
        scope.shared.take_panic()
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
    /// Children whose closure has not finished (been dropped).
    active: usize,
    children: Vec<Slot>,
    /// Slots free for reuse: finished, handle dropped, no panic to report.
    free: Vec<usize>,
    cancelled: Option<CancelCause>,
    /// The scope's join, waiting for `active == 0`.
    waker: Option<Waker>,
}

/// One child's bookkeeping.
#[derive(Default)]
struct Slot {
    /// The child's task until it finishes (then detached, so its task can be freed).
    task: Option<JoinHandle<()>>,
    done: bool,
    handle_alive: bool,
    /// The child's panic, until its handle joins it or the scope resumes it.
    panic: Option<Payload>,
    cause: Option<CancelCause>,
    /// The handle's `join`, waiting for `done`.
    waiter: Option<Waker>,
}

impl Shared {
    fn lock(&self) -> spectrum_sync::MutexGuard<'_, State> {
        self.state.lock()
    }

    /// Cancels every running child with `cause` (the first cause of the scope is kept).
    fn cancel_all(&self, cause: CancelCause, except: Option<usize>) {
        let mut targets = Vec::new();
        {
            let mut st = self.lock();
            if st.cancelled.is_none() {
                st.cancelled = Some(cause.clone());
            }
            for (i, slot) in st.children.iter_mut().enumerate() {
                if Some(i) == except || slot.done {
                    continue;
                }
                if let Some(task) = &slot.task {
                    slot.cause.get_or_insert_with(|| cause.clone());
                    targets.push(task.abort_handle());
                }
            }
        }
        for t in targets {
            t.cancel_with(cause.clone());
        }
    }

    /// The first panic no handle joined, if any; clears the rest.
    fn take_panic(&self) -> Option<Payload> {
        let children = mem::take(&mut self.lock().children);
        children.into_iter().find_map(|mut s| s.panic.take())
    }
}

/// Marks a child finished when dropped: the last thing a child does (see the module docs, 3).
struct ChildDone {
    shared: Arc<Shared>,
    index: usize,
}

impl Drop for ChildDone {
    fn drop(&mut self) {
        let (task, waiter, scope_waker) = {
            let mut st = self.shared.lock();
            st.active -= 1;
            let slot = &mut st.children[self.index];
            slot.done = true;
            let task = slot.task.take();
            let waiter = slot.waiter.take();
            if !slot.handle_alive && slot.panic.is_none() {
                st.free.push(self.index);
            }
            let scope_waker = if st.active == 0 {
                st.waker.take()
            } else {
                None
            };
            (task, waiter, scope_waker)
        };
        // Our own task: detaching it while it finishes lets the runtime free it at once.
        if let Some(t) = task {
            t.detach();
        }
        if let Some(w) = waiter {
            w.wake();
        }
        if let Some(w) = scope_waker {
            w.wake();
        }
    }
}

/// A child's result, shared with its handle.
struct Packet<T> {
    value: Mutex<Option<T>>,
}

/// What a scoped fiber runs. Field order is drop order: the closure (and its borrows) first,
/// then the packet, then the count.
struct ScopedBody<F, T> {
    f: F,
    packet: Arc<Packet<T>>,
    done: ChildDone,
}

impl<F, T> ScopedBody<F, T>
where
    F: FnOnce() -> T,
{
    fn run(self) {
        let ScopedBody { f, packet, done } = self;
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(value) => *packet.value.lock() = Some(value),
            // Cancelled: unwound, nothing to report (the handle sees `Cancelled`).
            Err(payload) if payload.is::<Cancelled>() => {}
            Err(payload) => {
                let message = PanicPayload::new(payload);
                let cause = CancelCause::new(format!(
                    "a sibling fiber panicked: {}",
                    message.message().unwrap_or("<non-string payload>")
                ));
                done.shared.lock().children[done.index].panic = Some(message.into_inner());
                done.shared.cancel_all(cause, Some(done.index));
            }
        }
        drop(packet);
        drop(done);
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
        let packet = Arc::new(Packet {
            value: Mutex::new(None),
        });
        let index = {
            let mut st = self.shared.lock();
            if let Some(cause) = &st.cancelled {
                return Ok(ScopedJoinHandle {
                    shared: self.shared.clone(),
                    child: Child::NotSpawned(cause.clone()),
                    packet,
                    _scope: PhantomData,
                });
            }
            st.active += 1;
            let slot = Slot {
                handle_alive: true,
                ..Slot::default()
            };
            match st.free.pop() {
                Some(i) => {
                    st.children[i] = slot;
                    i
                }
                None => {
                    st.children.push(slot);
                    st.children.len() - 1
                }
            }
        };
        let body = ScopedBody {
            f,
            packet: packet.clone(),
            done: ChildDone {
                shared: self.shared.clone(),
                index,
            },
        };
        let run: Box<dyn FnOnce() + Send + 'scope> = Box::new(move || body.run());
        // SAFETY: only the lifetime changes. The closure borrows for `'scope`, and `scope` does
        // not return (nor unwind) before the closure has been run or dropped and the child has
        // counted itself out (the module docs give the whole argument).
        let run: Box<dyn FnOnce() + Send + 'static> = unsafe { mem::transmute(run) };
        let task = crate::builder::task_builder(&name)
            .spawn_pinned_on(move || Fiber::new(run, name, size), handle);
        let id = task.id();
        {
            let mut st = self.shared.lock();
            let cancelled = st.cancelled.clone();
            let slot = &mut st.children[index];
            if slot.done {
                // Already over (or dropped by a runtime that shut down): nothing to keep.
                drop(st);
                task.detach();
            } else {
                if let Some(cause) = cancelled {
                    // Cancelled while we were spawning: the sweep missed this child.
                    slot.cause.get_or_insert_with(|| cause.clone());
                    task.cancel_with(cause);
                }
                slot.task = Some(task);
            }
        }
        Ok(ScopedJoinHandle {
            shared: self.shared.clone(),
            child: Child::Spawned { index, id },
            packet,
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

enum Child {
    Spawned { index: usize, id: TaskId },
    NotSpawned(CancelCause),
}

/// A scoped fiber's handle: [`join`](Self::join) it for its value. Dropping it does not cancel
/// the fiber (the scope owns its children and joins them).
pub struct ScopedJoinHandle<'scope, T> {
    shared: Arc<Shared>,
    child: Child,
    packet: Arc<Packet<T>>,
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
        let index = match &self.child {
            Child::NotSpawned(cause) => return Err(JoinError::Cancelled(cause.clone())),
            Child::Spawned { index, .. } => *index,
        };
        std::future::poll_fn(|cx| {
            let mut st = self.shared.lock();
            let slot = &mut st.children[index];
            if slot.done {
                Poll::Ready(())
            } else {
                slot.waiter = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .wait();
        let (panic, cause) = {
            let mut st = self.shared.lock();
            let slot = &mut st.children[index];
            (slot.panic.take(), slot.cause.clone())
        };
        if let Some(p) = panic {
            return Err(JoinError::Panicked(PanicPayload::new(p)));
        }
        match self.packet.value.lock().take() {
            Some(v) => Ok(v),
            None => Err(JoinError::Cancelled(
                cause.unwrap_or_else(CancelCause::requested),
            )),
        }
    }

    /// True once the fiber has finished (its closure returned, panicked or was cancelled).
    pub fn is_finished(&self) -> bool {
        match &self.child {
            Child::NotSpawned(_) => true,
            Child::Spawned { index, .. } => self.shared.lock().children[*index].done,
        }
    }

    /// The fiber's task id (`None` if it was never spawned: the scope was cancelled).
    pub fn id(&self) -> Option<TaskId> {
        match &self.child {
            Child::NotSpawned(_) => None,
            Child::Spawned { id, .. } => Some(*id),
        }
    }

    /// Cancels this fiber only (not a failure of the scope).
    pub fn cancel(&self) {
        if let Child::Spawned { index, .. } = &self.child {
            let target = {
                let mut st = self.shared.lock();
                let slot = &mut st.children[*index];
                slot.cause.get_or_insert_with(CancelCause::requested);
                slot.task.as_ref().map(JoinHandle::abort_handle)
            };
            if let Some(t) = target {
                t.cancel();
            }
        }
    }
}

impl<T> Drop for ScopedJoinHandle<'_, T> {
    fn drop(&mut self) {
        if let Child::Spawned { index, .. } = &self.child {
            let mut st = self.shared.lock();
            // The slots are gone once the scope has joined everything (a handle cannot outlive
            // the scope, but a child may drop a sibling's handle it was given at the very end).
            if let Some(slot) = st.children.get_mut(*index) {
                slot.handle_alive = false;
                if slot.done && slot.panic.is_none() {
                    st.free.push(*index);
                }
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
