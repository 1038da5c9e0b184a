//! OS threads with blocking calls, in the runtime's vocabulary: `spawn`, `scope`, `JoinHandle`,
//! `JoinError`, `CancelToken` (the facade re-exports this module as `spectrum::thread`).
//!
//! The seed's first model: one OS thread per unit of work, plain sequential code, blocking
//! calls. Simple, and right for low concurrency; each thread reserves an OS stack (8 MiB of
//! address space by default, set with [`Builder::stack_size`]), so bound their number (see
//! `examples/thread_server.rs`, where a semaphore caps a thread-per-request server).
//!
//! # Invariants
//!
//! 1. A thread from [`spawn`] is a runtime task of kind `Thread` (built on
//!    `spectrum_rt::task::Builder::spawn_thread`): it has an id, a name and a spawn site, shows
//!    in `live_tasks` and leak checks of the runtime entered where it was spawned, enters that
//!    runtime (so it can `.wait()` on timers, sockets and promises), and its panic arrives as
//!    [`JoinError::Panicked`].
//! 2. Every thread has a [`CancelToken`]: a child of the spawner's token (the current scope's or
//!    the spawning thread's), so cancellation flows down from scopes and parent threads.
//!    Cancellation is **cooperative** — no OS can safely kill a thread — the thread checks
//!    [`check`] / [`is_cancelled`] at its safe points, or blocks in [`sleep`] or
//!    `token.cancelled().wait()`, which return early.
//! 3. **Dropping a [`JoinHandle`] cancels the thread's token** (Spectrum's structured default),
//!    and so does [`JoinHandle::cancel`]; [`JoinHandle::detach`] lets it run on.
//! 4. [`scope`] blocks until every thread spawned in it has finished (as `std::thread::scope`,
//!    on which it is built, so its threads may borrow from the caller's stack). It is
//!    fail-fast: the first panicking thread (or a panicking body) cancels the scope's token, so
//!    siblings that check it stop early. Dropping a scoped handle does not cancel its thread: the
//!    scope owns its threads, as in `spectrum_rt::scope`.
//!
//! Scoped threads are not runtime tasks: `spawn_thread` needs `'static` closures, and a borrowing
//! scope cannot give it one without unsafe code. They do enter the runtime that was entered where
//! the scope began.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe, Location};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use spectrum_rt::cancel::{CancelCause, CancelToken};
use spectrum_rt::{JoinError, PanicPayload, TaskId, Wait};
use spectrum_sync::atomic::{AtomicUsize, Ordering::*};
use spectrum_sync::{Condvar, Mutex};

thread_local! {
    static TOKEN: RefCell<Option<CancelToken>> = const { RefCell::new(None) };
}

/// Sets this thread's token for the life of the guard.
struct TokenGuard(Option<CancelToken>);

impl TokenGuard {
    fn set(token: CancelToken) -> TokenGuard {
        TokenGuard(TOKEN.with(|t| t.borrow_mut().replace(token)))
    }
}

impl Drop for TokenGuard {
    fn drop(&mut self) {
        let previous = self.0.take();
        TOKEN.with(|t| *t.borrow_mut() = previous);
    }
}

/// The current thread's cancel token: the one of a thread spawned by this module, else the token
/// of the scope of the task being polled, if any.
pub fn current_token() -> Option<CancelToken> {
    TOKEN
        .with(|t| t.borrow().clone())
        .or_else(CancelToken::current)
}

/// True once the current thread's token is cancelled (false on a thread without one).
pub fn is_cancelled() -> bool {
    current_token().is_some_and(|t| t.is_cancelled())
}

/// The cooperative check for thread code: `thread::check()?` at each safe point.
///
/// # Errors
///
/// The cancellation cause once the current thread's token is cancelled.
pub fn check() -> Result<(), CancelCause> {
    match current_token() {
        Some(t) => t.check(),
        None => Ok(()),
    }
}

/// Blocks the current thread for `duration`, or until its token is cancelled (Java's
/// interruptible `Thread.sleep`).
///
/// # Errors
///
/// The cancellation cause if the token was cancelled before the time was up.
pub fn sleep(duration: Duration) -> Result<(), CancelCause> {
    let Some(token) = current_token() else {
        std::thread::sleep(duration);
        return Ok(());
    };
    let deadline = Instant::now() + duration;
    let notify = Arc::new(Notify::default());
    let waker = Waker::from(notify.clone());
    let mut cx = Context::from_waker(&waker);
    let mut cancelled = pin!(token.cancelled());
    loop {
        if let Poll::Ready(cause) = cancelled.as_mut().poll(&mut cx) {
            return Err(cause);
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(());
        }
        notify.wait_timeout(deadline - now);
    }
}

/// Wakes a thread blocked in [`sleep`]: a flag under a lock and a condition variable (never the
/// thread's park token, which other code may rely on).
#[derive(Default)]
struct Notify {
    woken: Mutex<bool>,
    condvar: Condvar,
}

impl Notify {
    fn wait_timeout(&self, timeout: Duration) {
        let mut woken = self.woken.lock();
        if !*woken {
            woken = self.condvar.wait_timeout(woken, timeout);
        }
        *woken = false;
    }
}

impl Wake for Notify {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        *self.woken.lock() = true;
        self.condvar.notify_one();
    }
}

/// The token a new thread gets: a child of `parent`, or of the spawner's token.
fn child_token(parent: Option<&CancelToken>) -> CancelToken {
    match parent.cloned().or_else(current_token) {
        Some(p) => p.child(),
        None => CancelToken::new(),
    }
}

/// Runs `f` on a new OS thread and returns its [`JoinHandle`].
///
/// The thread is a runtime task of kind `Thread` when a runtime is entered here (it then enters
/// that runtime too), and gets its own [`CancelToken`], a child of the caller's (see the
/// [module docs](self)). **Dropping the handle cancels the token**; call
/// [`detach`](JoinHandle::detach) to let the thread run on its own.
///
/// ```
/// use std::time::Duration;
/// use spectrum_promise::thread;
///
/// let worker = thread::spawn(|| {
///     let mut rounds = 0;
///     while thread::check().is_ok() {
///         rounds += 1;
///         let _ = thread::sleep(Duration::from_millis(1));
///     }
///     rounds
/// });
/// std::thread::sleep(Duration::from_millis(5));
/// worker.cancel();
/// assert!(worker.join().unwrap() > 0);
/// ```
///
/// # Panics
///
/// Never for a missing runtime (threads work without one); a thread the OS refuses to start
/// shows up as `JoinError::Cancelled` when joined.
#[track_caller]
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Builder::new().spawn(f)
}

/// Configures a thread before spawning it: name, stack size, parent token.
///
/// ```
/// use spectrum_promise::thread::Builder;
///
/// let h = Builder::new().name("crunch").stack_size(256 * 1024).spawn(|| {
///     std::thread::current().name().map(str::to_owned)
/// });
/// assert_eq!(h.join().unwrap().as_deref(), Some("crunch"));
/// ```
#[derive(Debug, Default, Clone)]
#[must_use]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
    parent: Option<CancelToken>,
}

impl Builder {
    /// A builder with the defaults: no name, the OS stack size, the caller's token as parent.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the thread (shown by the OS, in task lists and in panic messages).
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// The thread's stack size in bytes.
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// Makes the thread's token a child of `parent` instead of the caller's token.
    pub fn token(mut self, parent: &CancelToken) -> Builder {
        self.parent = Some(parent.clone());
        self
    }

    /// Spawns the thread; see [`spawn`].
    #[track_caller]
    pub fn spawn<F, T>(self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let token = child_token(self.parent.as_ref());
        let mut builder = spectrum_rt::task::Builder::new();
        if let Some(name) = self.name {
            builder = builder.name(name);
        }
        if let Some(size) = self.stack_size {
            builder = builder.stack_size(size);
        }
        let theirs = token.clone();
        let task = builder.spawn_thread(move || {
            let _token = TokenGuard::set(theirs);
            f()
        });
        JoinHandle {
            task: Some(task),
            token,
        }
    }

    /// Spawns a thread in `scope`; it may borrow what the scope's caller borrows (see
    /// [`Scope::spawn`]; the builder's parent token is ignored: the scope's applies).
    ///
    /// # Panics
    ///
    /// If the OS refuses to start the thread (as `std::thread::Scope::spawn`).
    pub fn spawn_scoped<'scope, 'env, F, T>(
        self,
        scope: &Scope<'scope, 'env>,
        f: F,
    ) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let mut builder = std::thread::Builder::new();
        if let Some(name) = self.name {
            builder = builder.name(name);
        }
        if let Some(size) = self.stack_size {
            builder = builder.stack_size(size);
        }
        scope.spawn_with(builder, f)
    }
}

/// An owned permission to join a thread — and its lifeline: dropping it cancels the thread's
/// token.
///
/// `join` blocks (for thread code); awaiting the handle does not (for async code). Both give
/// `Ok(value)` or a [`JoinError`]: `Panicked` if the thread panicked, `Cancelled` if it never
/// started. A thread that notices cancellation and returns a value still gives `Ok(value)`:
/// cancellation is cooperative, and the thread decides what it returns.
///
/// # Cancel safety
///
/// Dropping the handle (or its future part-way) cancels the token; the thread runs until it
/// checks.
#[must_use = "dropping a thread's JoinHandle cancels its token; call `.detach()` to let it run"]
pub struct JoinHandle<T> {
    task: Option<spectrum_rt::JoinHandle<T>>,
    token: CancelToken,
}

impl<T> JoinHandle<T> {
    fn task(&self) -> &spectrum_rt::JoinHandle<T> {
        self.task
            .as_ref()
            .expect("thread JoinHandle used after join")
    }

    /// Blocks until the thread finishes and returns its value.
    ///
    /// # Errors
    ///
    /// [`JoinError::Panicked`] if the thread panicked, [`JoinError::Cancelled`] if it could not
    /// start.
    #[track_caller]
    pub fn join(mut self) -> Result<T, JoinError> {
        let task = self.task.take().expect("thread JoinHandle used after join");
        task.wait()
    }

    /// The thread's task id.
    pub fn id(&self) -> TaskId {
        self.task().id()
    }

    /// The thread's name, if it was given one.
    pub fn name(&self) -> Option<&str> {
        self.task().name()
    }

    /// True once the thread has finished.
    pub fn is_finished(&self) -> bool {
        self.task().is_finished()
    }

    /// The thread's token (cancel it, or make children of it).
    pub fn token(&self) -> &CancelToken {
        &self.token
    }

    /// Cancels the thread's token ("cancellation requested"); the thread stops when it checks.
    pub fn cancel(&self) {
        self.token.cancel();
    }

    /// Cancels the thread's token with `cause`, which the thread sees in [`check`].
    pub fn cancel_with(&self, cause: CancelCause) {
        self.token.cancel_with(cause);
    }

    /// Lets the thread run on without a handle; its value is dropped when it finishes.
    pub fn detach(mut self) {
        if let Some(task) = self.task.take() {
            task.detach();
        }
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let task = self
            .task
            .as_mut()
            .expect("thread JoinHandle polled after completion");
        let out = std::task::ready!(Pin::new(task).poll(cx));
        self.task = None;
        Poll::Ready(out)
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            if !task.is_finished() {
                self.token.cancel_with(CancelCause::handle_dropped());
            }
            // Dropping the runtime's handle marks the task cancelled too.
            drop(task);
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("task", &self.task)
            .field("token", &self.token)
            .finish()
    }
}

/// Spawns threads that may borrow from the caller's stack, and waits for all of them before
/// returning (`std::thread::scope`, with Spectrum's tokens).
///
/// `f` gets the [`Scope`]; every thread spawned in it is joined before `scope` returns, whatever
/// happens. The scope has a [`CancelToken`] (a child of the caller's), and each thread a child
/// of it: the first thread that panics — or a panic of `f` itself — cancels the scope's token
/// with a "sibling failed" cause, so the others can stop early (fail-fast, as
/// `spectrum_rt::scope`). As with `std::thread::scope`, if a thread panicked and its handle was
/// not joined, `scope` panics once every thread has finished.
///
/// ```
/// use spectrum_promise::thread;
///
/// let mut data = vec![1, 2, 3];
/// let total: i32 = thread::scope(|s| {
///     let (left, right) = data.split_at_mut(1);
///     let a = s.spawn(|| left.iter().sum::<i32>());
///     let b = s.spawn(|| { right[0] *= 10; right.iter().sum::<i32>() });
///     a.join().unwrap() + b.join().unwrap()
/// });
/// assert_eq!(total, 1 + 20 + 3);
/// assert_eq!(data, [1, 20, 3]);
/// ```
///
/// # Panics
///
/// If `f` panics, or if a thread panicked and was not joined (after every thread finished).
#[track_caller]
pub fn scope<'env, F, R>(f: F) -> R
where
    F: for<'scope> FnOnce(&Scope<'scope, 'env>) -> R,
{
    let shared = Arc::new(ScopeShared {
        token: child_token(None),
        panicked: AtomicUsize::new(0),
        joined_panics: AtomicUsize::new(0),
        runtime: spectrum_rt::Handle::try_current().ok(),
        created_at: Location::caller(),
    });
    let out = std::thread::scope(|std_scope| {
        let scope = Scope {
            std: std_scope,
            shared: shared.clone(),
        };
        match catch_unwind(AssertUnwindSafe(|| f(&scope))) {
            Ok(out) => out,
            Err(payload) => {
                let failure = PanicPayload::new(payload);
                shared
                    .token
                    .cancel_with(CancelCause::sibling_failed(format!(
                        "the scope's body panicked: {}",
                        failure.message().unwrap_or("<non-string payload>")
                    )));
                // `std::thread::scope` joins every thread, then re-raises this.
                resume_unwind(failure.into_inner())
            }
        }
    });
    // Acquire: pairs with the Release increments, though the joins already ordered them.
    let panicked = shared.panicked.load(Acquire);
    if panicked > shared.joined_panics.load(Acquire) {
        panic!(
            "a thread of the scope at {} panicked and was not joined",
            shared.created_at
        );
    }
    out
}

struct ScopeShared {
    token: CancelToken,
    /// Threads that panicked.
    panicked: AtomicUsize,
    /// Of those, how many panics a `join` returned.
    joined_panics: AtomicUsize,
    runtime: Option<spectrum_rt::Handle>,
    created_at: &'static Location<'static>,
}

/// The scope of [`scope`]: spawn borrowing threads into it.
///
/// Cheap to clone; move a clone into a thread to spawn from there.
pub struct Scope<'scope, 'env> {
    std: &'scope std::thread::Scope<'scope, 'env>,
    shared: Arc<ScopeShared>,
}

impl<'scope, 'env> Scope<'scope, 'env> {
    /// Spawns a thread that may borrow anything that outlives the scope; it is joined before
    /// [`scope`] returns. Its token is a child of the scope's.
    ///
    /// # Panics
    ///
    /// If the OS refuses to start the thread (as `std::thread::Scope::spawn`).
    pub fn spawn<F, T>(&self, f: F) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        self.spawn_with(std::thread::Builder::new(), f)
    }

    fn spawn_with<F, T>(&self, builder: std::thread::Builder, f: F) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let token = self.shared.token.child();
        let theirs = token.clone();
        let shared = self.shared.clone();
        let thread = builder
            .spawn_scoped(self.std, move || {
                let _enter = shared.runtime.as_ref().map(spectrum_rt::Handle::enter);
                let _token = TokenGuard::set(theirs);
                catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
                    let failure = PanicPayload::new(payload);
                    // Release: pairs with the Acquire load at the end of `scope`.
                    shared.panicked.fetch_add(1, Release);
                    shared
                        .token
                        .cancel_with(CancelCause::sibling_failed(format!(
                            "a scoped thread panicked: {}",
                            failure.message().unwrap_or("<non-string payload>")
                        )));
                    failure
                })
            })
            .unwrap_or_else(|e| panic!("could not start a scoped thread: {e}"));
        ScopedJoinHandle {
            thread,
            token,
            shared: self.shared.clone(),
        }
    }

    /// The scope's token: cancelling it asks every thread of the scope to stop.
    pub fn token(&self) -> &CancelToken {
        &self.shared.token
    }

    /// Cancels the scope's token ("cancellation requested").
    pub fn cancel(&self) {
        self.shared.token.cancel();
    }
}

impl<'scope, 'env> Clone for Scope<'scope, 'env> {
    fn clone(&self) -> Self {
        Scope {
            std: self.std,
            shared: self.shared.clone(),
        }
    }
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("token", &self.shared.token)
            .field("created_at", &format_args!("{}", self.shared.created_at))
            .finish()
    }
}

/// A scoped thread's handle: `join` it for its value. Dropping it does **not** cancel the thread
/// (the scope owns and joins it).
pub struct ScopedJoinHandle<'scope, T> {
    thread: std::thread::ScopedJoinHandle<'scope, Result<T, PanicPayload>>,
    token: CancelToken,
    shared: Arc<ScopeShared>,
}

impl<T> ScopedJoinHandle<'_, T> {
    /// Blocks until the thread finishes and returns its value.
    ///
    /// # Errors
    ///
    /// [`JoinError::Panicked`] if the thread panicked (the scope then no longer re-raises it).
    pub fn join(self) -> Result<T, JoinError> {
        match self.thread.join() {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(panic)) => {
                // Release: pairs with the Acquire load at the end of `scope`.
                self.shared.joined_panics.fetch_add(1, Release);
                Err(JoinError::Panicked(panic))
            }
            // The closure catches its panics; only a panicking payload destructor lands here.
            Err(payload) => Err(JoinError::Panicked(PanicPayload::new(payload))),
        }
    }

    /// True once the thread has finished.
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// The thread's name, if it was given one.
    pub fn name(&self) -> Option<&str> {
        self.thread.thread().name()
    }

    /// The thread's token.
    pub fn token(&self) -> &CancelToken {
        &self.token
    }

    /// Cancels this thread's token only ("cancellation requested").
    pub fn cancel(&self) {
        self.token.cancel();
    }

    /// Cancels this thread's token with `cause`.
    pub fn cancel_with(&self, cause: CancelCause) {
        self.token.cancel_with(cause);
    }
}

impl<T> fmt::Debug for ScopedJoinHandle<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedJoinHandle")
            .field("name", &self.name())
            .field("finished", &self.is_finished())
            .finish()
    }
}
