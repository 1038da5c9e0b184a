//! Structured concurrency: scopes that wait for their children.
//!
//! ```
//! # spectrum_rt::Runtime::new().unwrap().block_on(async {
//! use spectrum_rt::scope::scope;
//!
//! let total = scope(|s| async move {
//!     let a = s.spawn(async { Ok::<_, std::io::Error>(20) })?;
//!     let b = s.spawn(async { Ok::<_, std::io::Error>(22) })?;
//!     Ok::<_, spectrum_rt::scope::BoxError>(a.await? + b.await?)
//! })
//! .await
//! .unwrap();
//! assert_eq!(total, 42);
//! # });
//! ```
//!
//! # Rules (each one a test in `tests/scope.rs`)
//!
//! 1. A scope does not return until every child has finished, whatever happened.
//! 2. **Fail-fast** (the default): the first child error or panic cancels the siblings (and the
//!    body) with that failure as the cause; the scope returns the first failure with later ones
//!    attached as `suppressed`, never dropping one silently.
//! 3. **Supervised** ([`Builder::supervised`]): a child's failure goes to its handle and touches no
//!    sibling; a failure of the body itself still cancels every child.
//! 4. Cancellation flows down: the scope's [`CancelToken`] is a child of the enclosing scope's, so
//!    cancelling an outer scope cancels the inner ones, never the reverse.
//! 5. Deadlines are inherited; the earlier one wins. Passing it cancels the scope with cause
//!    "deadline exceeded".
//! 6. [`shield`](crate::cancel::shield)ed work runs even after the scope is cancelled, bounded by
//!    its own deadline, and the scope waits for it.
//! 7. Spawning into a scope that is closed or cancelled returns a [`SpawnError`], never panics.
//! 8. [`Scope::start`] waits until a child says it is ready (Trio's `nursery.start`).
//!
//! # Why children are `'static`
//!
//! `std::thread::scope` lets threads borrow from the caller's stack because the call *blocks*
//! until they finish. A scope in async Rust is a *future*, and a future can be polled part-way
//! and then leaked with `mem::forget`: its destructor never runs, so nothing could stop children
//! from outliving the stack they borrow. Spectrum's async scopes therefore own their children
//! (`'static` futures: owned data or `Arc`s) and cancel them if the scope future is dropped.
//! Fibers, which may block, get borrowing scopes back (see the fibers crate).

use std::cell::Cell;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::num::NonZeroU64;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use spectrum_sync::Mutex;

use crate::cancel::{CancelCause, CancelToken, Cancelled, CauseKind};
use crate::task::{AbortHandle, JoinError, JoinHandle, TaskId};

/// A boxed error, the currency of scope failures.
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

thread_local! {
    static CURRENT_SCOPE: Cell<Option<*const ScopeInner>> = const { Cell::new(None) };
}

/// Sets the current scope for the duration of a poll (or a drop).
struct EnterScope(Option<*const ScopeInner>);

impl EnterScope {
    fn new(inner: Option<&Arc<ScopeInner>>) -> EnterScope {
        let ptr = inner.map(Arc::as_ptr);
        EnterScope(CURRENT_SCOPE.with(|c| c.replace(ptr)))
    }
}

impl Drop for EnterScope {
    fn drop(&mut self) {
        CURRENT_SCOPE.with(|c| c.set(self.0));
    }
}

fn current_scope() -> Option<Arc<ScopeInner>> {
    CURRENT_SCOPE.with(|c| {
        c.get().map(|p| {
            // SAFETY: the pointer is set only while an `Arc<ScopeInner>` owned by the polling
            // future is alive (see `EnterScope`); we take a new strong count.
            unsafe {
                Arc::increment_strong_count(p);
                Arc::from_raw(p)
            }
        })
    })
}

/// The scope being polled on this thread.
pub(crate) fn current_scope_handle() -> Option<Scope> {
    current_scope().map(|inner| Scope { inner })
}

/// The token of the scope being polled on this thread.
pub(crate) fn current_token() -> Option<CancelToken> {
    current_scope().map(|s| s.token.clone())
}

/// One failure inside a scope.
#[derive(Clone)]
pub struct Failure {
    /// The child that failed (`None` for the scope's own body or deadline).
    pub task: Option<TaskId>,
    /// Its name, if it had one.
    pub name: Option<String>,
    /// What happened.
    pub kind: FailureKind,
}

/// What went wrong.
#[derive(Clone)]
#[non_exhaustive]
pub enum FailureKind {
    /// Returned an error.
    Error(Arc<dyn Error + Send + Sync + 'static>),
    /// Panicked, with this message.
    Panic(String),
    /// The scope's deadline passed.
    DeadlineExceeded,
    /// The scope was cancelled from outside (its parent, or its future was dropped).
    Cancelled(CancelCause),
}

impl fmt::Debug for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureKind::Error(e) => f.debug_tuple("Error").field(&e.to_string()).finish(),
            FailureKind::Panic(m) => f.debug_tuple("Panic").field(m).finish(),
            FailureKind::DeadlineExceeded => f.write_str("DeadlineExceeded"),
            FailureKind::Cancelled(c) => f.debug_tuple("Cancelled").field(c).finish(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.task, &self.name) {
            (Some(id), Some(n)) => write!(f, "task {id} \"{n}\" ")?,
            (Some(id), None) => write!(f, "task {id} ")?,
            (None, _) => f.write_str("scope ")?,
        }
        match &self.kind {
            FailureKind::Error(e) => write!(f, "failed: {e}"),
            FailureKind::Panic(m) => write!(f, "panicked: {m}"),
            FailureKind::DeadlineExceeded => f.write_str("deadline exceeded"),
            FailureKind::Cancelled(c) => write!(f, "cancelled: {c}"),
        }
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a scope failed: the first failure, and every later one.
#[derive(Clone)]
pub struct ScopeError {
    /// The failure that ended the scope.
    pub first: Failure,
    /// Failures that happened after it (never silently dropped).
    pub suppressed: Vec<Failure>,
}

impl ScopeError {
    /// True if the scope ended because its deadline passed.
    pub fn is_deadline_exceeded(&self) -> bool {
        matches!(self.first.kind, FailureKind::DeadlineExceeded)
    }
}

impl fmt::Display for ScopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.first)?;
        if !self.suppressed.is_empty() {
            write!(f, " (and {} suppressed:", self.suppressed.len())?;
            for s in &self.suppressed {
                write!(f, " [{s}]")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ScopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeError")
            .field("first", &self.first)
            .field("suppressed", &self.suppressed)
            .finish()
    }
}

impl Error for ScopeError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.first.kind {
            FailureKind::Error(e) => Some(&**e),
            _ => None,
        }
    }
}

/// How a child ended without a value, as seen through its handle.
#[derive(Clone)]
#[non_exhaustive]
pub enum ChildError {
    /// It returned this error (the scope saw it too).
    Failed(Arc<dyn Error + Send + Sync + 'static>),
    /// It panicked with this message.
    Panicked(String),
    /// It was cancelled.
    Cancelled(CancelCause),
}

impl fmt::Display for ChildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChildError::Failed(e) => write!(f, "child failed: {e}"),
            ChildError::Panicked(m) => write!(f, "child panicked: {m}"),
            ChildError::Cancelled(c) => write!(f, "child cancelled: {c}"),
        }
    }
}

impl fmt::Debug for ChildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Error for ChildError {}

/// Spawning into a scope that no longer accepts children.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum SpawnError {
    /// The scope has finished.
    Closed,
    /// The scope was cancelled, for this cause.
    Cancelled(CancelCause),
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::Closed => f.write_str("cannot spawn into a scope that has finished"),
            SpawnError::Cancelled(c) => write!(f, "cannot spawn into a cancelled scope: {c}"),
        }
    }
}

impl Error for SpawnError {}

struct ScopeInner {
    /// Unique among all scopes of the process (for dumps).
    id: u64,
    /// The runtime it is registered with for dumps.
    rt: Option<crate::sched::RtRef>,
    token: CancelToken,
    supervised: bool,
    state: Mutex<State>,
}

/// What a task dump shows of a live scope.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ScopeInfo {
    /// The scope's id (tasks spawned into it carry it in `TaskInfo::scope`).
    pub id: u64,
    /// The task that opened it (`None`: opened in `block_on` or on a plain thread).
    pub owner: Option<TaskId>,
    /// Where it was opened.
    pub location: &'static Location<'static>,
    /// Supervised (true) or fail-fast.
    pub supervised: bool,
    /// Its deadline, if any.
    pub deadline: Option<Instant>,
}

static NEXT_SCOPE_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Drop for ScopeInner {
    fn drop(&mut self) {
        if let Some(rt) = &self.rt {
            crate::sched::with_shared(rt, |s| s.scopes.lock().remove(&self.id));
        }
    }
}

struct State {
    active: usize,
    closed: bool,
    /// The failure that fails the scope.
    first: Option<Failure>,
    /// Later failures (and, in supervised scopes, children's failures).
    suppressed: Vec<Failure>,
    /// Cancellable children: a reserved key holds `None` until the child's handle is known.
    children: Vec<Option<Option<AbortHandle>>>,
    free: Vec<usize>,
    waker: Option<Waker>,
}

impl State {
    fn reserve(&mut self) -> usize {
        match self.free.pop() {
            Some(k) => {
                self.children[k] = Some(None);
                k
            }
            None => {
                self.children.push(Some(None));
                self.children.len() - 1
            }
        }
    }

    fn release(&mut self, key: usize) -> Option<AbortHandle> {
        let slot = self.children.get_mut(key)?.take();
        if slot.is_some() {
            self.free.push(key);
        }
        slot.flatten()
    }

    fn take_children(&mut self) -> Vec<AbortHandle> {
        self.children
            .iter_mut()
            .filter_map(|c| c.as_mut().and_then(Option::take))
            .collect()
    }
}

impl ScopeInner {
    /// Runs a spawn with this scope marked as the new task's scope (for dumps).
    fn spawn_member<R>(&self, spawn: impl FnOnce() -> R) -> R {
        struct Restore(Option<NonZeroU64>);
        impl Drop for Restore {
            fn drop(&mut self) {
                crate::context::with(|cx| cx.spawn_scope.set(self.0));
            }
        }
        let _restore = Restore(crate::context::with(|cx| {
            // Scope ids start at 1.
            cx.spawn_scope.replace(NonZeroU64::new(self.id))
        }));
        spawn()
    }

    /// Records the failure that fails the scope (or a suppressed one) and, if it is the first,
    /// cancels everything with it as the cause.
    fn fail(&self, failure: Failure, fails_scope: bool) {
        let mut st = self.state.lock();
        if !fails_scope || st.first.is_some() {
            st.suppressed.push(failure);
            return;
        }
        let cause = match &failure.kind {
            FailureKind::DeadlineExceeded => CancelCause::deadline_exceeded(),
            FailureKind::Cancelled(c) => c.clone(),
            _ => CancelCause::sibling_failed(&failure),
        };
        st.first = Some(failure);
        let children = st.take_children();
        drop(st);
        self.token.cancel_with(cause.clone());
        for c in children {
            c.cancel_with(cause.clone());
        }
    }

    /// Cancels the children (and token) with `cause` without recording a failure.
    fn cancel_all(&self, cause: CancelCause) {
        let children = self.state.lock().take_children();
        self.token.cancel_with(cause.clone());
        for c in children {
            c.cancel_with(cause.clone());
        }
    }

    fn child_done(&self, key: Option<usize>) {
        let mut st = self.state.lock();
        if let Some(k) = key {
            drop(st.release(k));
        }
        st.active -= 1;
        let waker = if st.active == 0 {
            st.waker.take()
        } else {
            None
        };
        drop(st);
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The handle a scope body (and its children) spawn with. Cheap to clone.
#[derive(Clone)]
pub struct Scope {
    inner: Arc<ScopeInner>,
}

impl Scope {
    /// Spawns a child. Its error or panic fails the scope (unless supervised).
    ///
    /// # Errors
    ///
    /// [`SpawnError`] if the scope has finished or was cancelled.
    #[track_caller]
    pub fn spawn<F, T, E>(&self, future: F) -> Result<ScopedJoinHandle<T>, SpawnError>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<BoxError> + 'static,
    {
        self.spawn_inner(None, future, Location::caller())
    }

    /// Spawns a named child (the name shows in failures, task lists and dumps).
    ///
    /// # Errors
    ///
    /// [`SpawnError`] if the scope has finished or was cancelled.
    #[track_caller]
    pub fn spawn_named<F, T, E>(
        &self,
        name: impl Into<String>,
        future: F,
    ) -> Result<ScopedJoinHandle<T>, SpawnError>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<BoxError> + 'static,
    {
        self.spawn_inner(Some(name.into()), future, Location::caller())
    }

    fn spawn_inner<F, T, E>(
        &self,
        name: Option<String>,
        future: F,
        location: &'static Location<'static>,
    ) -> Result<ScopedJoinHandle<T>, SpawnError>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<BoxError> + 'static,
    {
        let key = {
            let mut st = self.inner.state.lock();
            if st.closed {
                return Err(SpawnError::Closed);
            }
            if let Some(cause) = self.inner.token.cause() {
                return Err(SpawnError::Cancelled(cause));
            }
            st.active += 1;
            st.reserve()
        };
        let child = Child {
            scope: self.inner.clone(),
            key: Some(key),
            name: name.clone(),
            future: ManuallyDrop::new(future),
            finished: false,
        };
        let mut builder = crate::task::Builder::new();
        if let Some(n) = &name {
            builder = builder.name(n.clone());
        }
        let handle = self
            .inner
            .spawn_member(|| builder.spawn_at(child, location));
        let abort = handle.abort_handle();
        {
            let mut st = self.inner.state.lock();
            if let Some(Some(slot)) = st.children.get_mut(key) {
                if slot.is_none() {
                    *slot = Some(abort.clone());
                }
            }
        }
        // Cancelled while we were spawning: the sweep may have missed this child.
        if let Some(cause) = self.inner.token.cause() {
            abort.cancel_with(cause);
        }
        Ok(ScopedJoinHandle {
            handle: Some(handle),
        })
    }

    /// Spawns a child and waits until it calls [`Ready::send`] (Trio's `nursery.start`): use it
    /// for a server that must be listening before the caller goes on.
    ///
    /// # Errors
    ///
    /// The child's failure if it ends (or fails) before saying it is ready, or a spawn error.
    #[track_caller]
    pub fn start<M, F, V, T, E>(
        &self,
        make: M,
    ) -> impl Future<Output = Result<(V, ScopedJoinHandle<T>), ChildError>> + Send + 'static
    where
        M: FnOnce(Ready<V>) -> F,
        F: Future<Output = Result<T, E>> + Send + 'static,
        V: Send + 'static,
        T: Send + 'static,
        E: Into<BoxError> + 'static,
    {
        let slot = Arc::new(ReadySlot {
            value: Mutex::new(ReadyState::Waiting(None)),
        });
        let ready = Ready { slot: slot.clone() };
        let spawned = self.spawn_inner(None, make(ready), Location::caller());
        async move {
            let mut handle = match spawned {
                Ok(h) => h,
                Err(SpawnError::Cancelled(c)) => return Err(ChildError::Cancelled(c)),
                Err(SpawnError::Closed) => {
                    return Err(ChildError::Cancelled(CancelCause::new("scope closed")))
                }
            };
            let value = std::future::poll_fn(|cx| {
                let mut st = slot.value.lock();
                match std::mem::replace(&mut *st, ReadyState::Taken) {
                    ReadyState::Sent(v) => Poll::Ready(Ok(v)),
                    ReadyState::Waiting(_) => {
                        *st = ReadyState::Waiting(Some(cx.waker().clone()));
                        drop(st);
                        // The child may have ended without sending.
                        match Pin::new(&mut handle).poll(cx) {
                            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                            Poll::Ready(Ok(_)) => {
                                Poll::Ready(Err(ChildError::Failed(Arc::new(NotReady))))
                            }
                            Poll::Pending => Poll::Pending,
                        }
                    }
                    ReadyState::Taken | ReadyState::Dropped => {
                        Poll::Ready(Err(ChildError::Failed(Arc::new(NotReady))))
                    }
                }
            })
            .await?;
            Ok((value, handle))
        }
    }

    /// The scope's id, as tasks spawned into it record it (`TaskInfo::scope`) and dumps show it.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// The scope's cancellation token (a child of the enclosing scope's).
    pub fn token(&self) -> &CancelToken {
        &self.inner.token
    }

    /// Cancels the scope: its token and every child, with `cause`. The scope then returns
    /// `Err` with `FailureKind::Cancelled(cause)`.
    pub fn cancel_with(&self, cause: CancelCause) {
        self.inner.fail(
            Failure {
                task: None,
                name: None,
                kind: FailureKind::Cancelled(cause),
            },
            true,
        );
    }

    /// Children still running.
    pub fn active(&self) -> usize {
        self.inner.state.lock().active
    }

    /// Runs shielded work (see [`crate::cancel::shield`]): joined by this scope unless it has
    /// already finished, never cancelled with it.
    pub(crate) fn spawn_shielded<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        {
            let mut st = self.inner.state.lock();
            if st.closed {
                drop(st);
                return crate::spawn(future);
            }
            st.active += 1;
        }
        crate::spawn(Shielded {
            scope: self.inner.clone(),
            future,
            finished: false,
        })
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("supervised", &self.inner.supervised)
            .field("active", &self.active())
            .field("cancelled", &self.inner.token.is_cancelled())
            .finish()
    }
}

/// The "I am ready" side of [`Scope::start`].
pub struct Ready<V> {
    slot: Arc<ReadySlot<V>>,
}

struct ReadySlot<V> {
    value: Mutex<ReadyState<V>>,
}

enum ReadyState<V> {
    Waiting(Option<Waker>),
    Sent(V),
    Taken,
    Dropped,
}

impl<V> Ready<V> {
    /// Tells the starter the child is ready, handing it `value`.
    pub fn send(self, value: V) {
        let mut st = self.slot.value.lock();
        if let ReadyState::Waiting(w) = std::mem::replace(&mut *st, ReadyState::Sent(value)) {
            drop(st);
            if let Some(w) = w {
                w.wake();
            }
        }
    }
}

impl<V> Drop for Ready<V> {
    fn drop(&mut self) {
        let mut st = self.slot.value.lock();
        if let ReadyState::Waiting(w) = &mut *st {
            let w = w.take();
            *st = ReadyState::Dropped;
            drop(st);
            if let Some(w) = w {
                w.wake();
            }
        }
    }
}

impl<V> fmt::Debug for Ready<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ready")
    }
}

#[derive(Debug)]
struct NotReady;

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the child ended without signalling readiness")
    }
}

impl Error for NotReady {}

/// A child's future: polls the user's future with the scope entered, catches its panic, and
/// reports the outcome to the scope (also when it is cancelled and dropped).
struct Child<F> {
    scope: Arc<ScopeInner>,
    key: Option<usize>,
    name: Option<String>,
    /// Dropped by hand in `Drop`, inside the scope (see there).
    future: ManuallyDrop<F>,
    finished: bool,
}

impl<F, T, E> Future for Child<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, ChildError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `future` is structurally pinned and never moved; other fields are Unpin data.
        let me = unsafe { self.get_unchecked_mut() };
        let _enter = EnterScope::new(Some(&me.scope));
        // SAFETY: as above.
        let future = unsafe { Pin::new_unchecked(&mut *me.future) };
        let res = catch_unwind(AssertUnwindSafe(|| future.poll(cx)));
        let out = match res {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(Ok(v))) => Ok(v),
            Ok(Poll::Ready(Err(e))) => {
                let e: Arc<dyn Error + Send + Sync> = Arc::from(e.into());
                let failure = Failure {
                    task: crate::context::task_id(),
                    name: me.name.clone(),
                    kind: FailureKind::Error(e.clone()),
                };
                me.scope.fail(failure, !me.scope.supervised);
                Err(ChildError::Failed(e))
            }
            Err(payload) => {
                let msg = crate::task::PanicPayload::new(payload)
                    .message()
                    .unwrap_or("<non-string panic payload>")
                    .to_owned();
                let failure = Failure {
                    task: crate::context::task_id(),
                    name: me.name.clone(),
                    kind: FailureKind::Panic(msg.clone()),
                };
                me.scope.fail(failure, !me.scope.supervised);
                Err(ChildError::Panicked(msg))
            }
        };
        me.finished = true;
        me.scope.child_done(me.key.take());
        Poll::Ready(out)
    }
}

impl<F> Drop for Child<F> {
    fn drop(&mut self) {
        {
            // Drop the user's future with the scope entered, so shielded cleanup started from
            // its destructors joins this scope before the scope can see zero active children.
            let _enter = EnterScope::new(Some(&self.scope));
            // SAFETY: dropped exactly once, here, in place (pinned data is not moved), and never
            // touched afterwards.
            unsafe { ManuallyDrop::drop(&mut self.future) };
        }
        if !self.finished {
            // Cancelled before it finished: not a failure, just no longer active.
            self.finished = true;
            self.scope.child_done(self.key.take());
        }
    }
}

/// Shielded work registered with a scope: not cancelled with it, but joined by it.
struct Shielded<F> {
    scope: Arc<ScopeInner>,
    future: F,
    finished: bool,
}

impl<F: Future> Future for Shielded<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is structurally pinned and never moved.
        let me = unsafe { self.get_unchecked_mut() };
        let _enter = EnterScope::new(None);
        // SAFETY: as above.
        let future = unsafe { Pin::new_unchecked(&mut me.future) };
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => {
                me.finished = true;
                me.scope.child_done(None);
                Poll::Ready(v)
            }
            Err(payload) => {
                let msg = crate::task::PanicPayload::new(payload)
                    .message()
                    .unwrap_or("<non-string panic payload>")
                    .to_owned();
                me.scope.fail(
                    Failure {
                        task: crate::context::task_id(),
                        name: None,
                        kind: FailureKind::Panic(msg.clone()),
                    },
                    false,
                );
                me.finished = true;
                me.scope.child_done(None);
                std::panic::panic_any(msg)
            }
        }
    }
}

impl<F> Drop for Shielded<F> {
    fn drop(&mut self) {
        if !self.finished {
            self.finished = true;
            self.scope.child_done(None);
        }
    }
}

/// A child's handle. Awaiting it gives the child's value or [`ChildError`]. Dropping it does
/// **not** cancel the child: the scope owns its children and waits for them.
pub struct ScopedJoinHandle<T> {
    handle: Option<JoinHandle<Result<T, ChildError>>>,
}

impl<T> ScopedJoinHandle<T> {
    /// The child's task id.
    pub fn id(&self) -> TaskId {
        self.handle.as_ref().expect("handle").id()
    }

    /// Cancels this child only (not a failure of the scope).
    pub fn cancel(&self) {
        if let Some(h) = &self.handle {
            h.cancel();
        }
    }

    /// True once the child has finished.
    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(JoinHandle::is_finished)
    }
}

impl<T> Future for ScopedJoinHandle<T> {
    type Output = Result<T, ChildError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let h = self
            .handle
            .as_mut()
            .expect("ScopedJoinHandle polled after completion");
        let out = std::task::ready!(Pin::new(h).poll(cx));
        self.handle = None;
        Poll::Ready(match out {
            Ok(r) => r,
            Err(JoinError::Cancelled(c)) => Err(ChildError::Cancelled(c)),
            Err(JoinError::Panicked(p)) => Err(ChildError::Panicked(
                p.message().unwrap_or("<non-string payload>").to_owned(),
            )),
        })
    }
}

impl<T> Drop for ScopedJoinHandle<T> {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.detach();
        }
    }
}

impl<T> fmt::Debug for ScopedJoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedJoinHandle")
            .field("handle", &self.handle)
            .finish()
    }
}

/// Configures a scope: supervision and deadline.
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct Builder {
    supervised: bool,
    deadline: Option<Instant>,
}

impl Builder {
    /// A fail-fast scope without its own deadline.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Children's failures do not touch their siblings (Kotlin's `supervisorScope`).
    pub fn supervised(mut self) -> Builder {
        self.supervised = true;
        self
    }

    /// The scope is cancelled at `deadline` (or the enclosing deadline, if earlier).
    pub fn deadline(mut self, deadline: Instant) -> Builder {
        self.deadline = Some(deadline);
        self
    }

    /// The scope is cancelled `timeout` from now (on the runtime's clock).
    pub fn timeout(self, timeout: Duration) -> Builder {
        let deadline = crate::time::sleep_deadline_after(timeout);
        self.deadline(deadline)
    }

    /// Runs `body` in the scope; see [`scope`].
    #[track_caller]
    pub fn run<F, Fut, T, E>(self, body: F) -> ScopeFuture<Fut, T>
    where
        F: FnOnce(Scope) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Into<BoxError>,
    {
        let token = match (current_token(), self.deadline) {
            (Some(parent), Some(d)) => parent.child_with_deadline(d),
            (Some(parent), None) => parent.child(),
            (None, Some(d)) => CancelToken::with_deadline(d),
            (None, None) => CancelToken::new(),
        };
        // Relaxed: ids only need to be unique.
        let id = NEXT_SCOPE_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let location = Location::caller();
        let rt = crate::sched::with_current(|s| {
            s.map(|s| {
                s.scopes.lock().insert(
                    id,
                    ScopeInfo {
                        id,
                        owner: crate::context::task_id(),
                        location,
                        supervised: self.supervised,
                        deadline: token.deadline(),
                    },
                );
                s.rt
            })
        });
        let inner = Arc::new(ScopeInner {
            id,
            rt,
            token: token.clone(),
            supervised: self.supervised,
            state: Mutex::new(State {
                active: 0,
                closed: false,
                first: None,
                suppressed: Vec::new(),
                children: Vec::new(),
                free: Vec::new(),
                waker: None,
            }),
        });
        let body = body(Scope {
            inner: inner.clone(),
        });
        ScopeFuture {
            cancelled: token.cancelled(),
            inner,
            body: Some(Box::pin(body)),
            value: None,
            done: false,
        }
    }
}

/// Runs `body` with a fresh fail-fast [`Scope`] and waits for every child before returning.
///
/// Returns the body's value, or the first failure (a child's error or panic, the body's error,
/// the deadline, or an outside cancellation) with later failures attached as suppressed.
#[track_caller]
pub fn scope<F, Fut, T, E>(body: F) -> ScopeFuture<Fut, T>
where
    F: FnOnce(Scope) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    Builder::new().run(body)
}

/// Runs `body` with a supervised [`Scope`]; see [`Builder::supervised`].
#[track_caller]
pub fn supervised<F, Fut, T, E>(body: F) -> ScopeFuture<Fut, T>
where
    F: FnOnce(Scope) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    Builder::new().supervised().run(body)
}

/// The future of a running scope.
///
/// # Cancel safety
///
/// Dropping it before it completes cancels the scope's token and every child (cause: "parent
/// cancelled"); children finish on their own at their next suspension point.
#[must_use = "a scope does nothing unless awaited"]
pub struct ScopeFuture<Fut, T> {
    inner: Arc<ScopeInner>,
    cancelled: Cancelled,
    body: Option<Pin<Box<Fut>>>,
    value: Option<T>,
    done: bool,
}

impl<Fut, T, E> Future for ScopeFuture<Fut, T>
where
    Fut: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, ScopeError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: no field is structurally pinned (the body is boxed); we never move `self`.
        let me = unsafe { self.get_unchecked_mut() };
        assert!(!me.done, "ScopeFuture polled after completion");
        // 1. Cancellation from outside, the deadline, or a failing child.
        if let Poll::Ready(cause) = Pin::new(&mut me.cancelled).poll(cx) {
            if me.inner.state.lock().first.is_none() {
                let kind = if cause.kind() == CauseKind::DeadlineExceeded {
                    FailureKind::DeadlineExceeded
                } else {
                    FailureKind::Cancelled(cause.clone())
                };
                me.inner.fail(
                    Failure {
                        task: None,
                        name: None,
                        kind,
                    },
                    true,
                );
            } else {
                me.inner.cancel_all(cause);
            }
            me.body = None;
        }
        // 2. The body.
        if let Some(body) = me.body.as_mut() {
            let _enter = EnterScope::new(Some(&me.inner));
            match body.as_mut().poll(cx) {
                Poll::Pending => {}
                Poll::Ready(res) => {
                    me.body = None;
                    match res {
                        Ok(v) => me.value = Some(v),
                        Err(e) => {
                            let e: Arc<dyn Error + Send + Sync> = Arc::from(e.into());
                            me.inner.fail(
                                Failure {
                                    task: None,
                                    name: None,
                                    kind: FailureKind::Error(e),
                                },
                                true,
                            );
                        }
                    }
                }
            }
            if me.body.is_some() {
                return Poll::Pending;
            }
        }
        // 3. Join every child.
        let mut st = me.inner.state.lock();
        if st.active > 0 {
            st.waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        st.closed = true;
        me.done = true;
        let first = st.first.take();
        let suppressed = std::mem::take(&mut st.suppressed);
        drop(st);
        Poll::Ready(match first {
            Some(first) => Err(ScopeError { first, suppressed }),
            None => Ok(me
                .value
                .take()
                .expect("a scope without failure has the body's value")),
        })
    }
}

impl<Fut, T> Drop for ScopeFuture<Fut, T> {
    fn drop(&mut self) {
        if !self.done {
            // Drop the body first, inside the scope, so shielded cleanup joins it.
            {
                let _enter = EnterScope::new(Some(&self.inner));
                self.body = None;
            }
            let mut st = self.inner.state.lock();
            st.closed = true;
            drop(st);
            self.inner
                .cancel_all(CancelCause::new("scope dropped before it finished"));
        }
    }
}

impl<Fut, T> fmt::Debug for ScopeFuture<Fut, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeFuture")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
