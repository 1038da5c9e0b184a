//! Spawning: `spawn`, `spawn_local`, `spawn_blocking`, the spawn `Builder`, and `yield_now`.

use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::JoinHandle;
use crate::sched::{self, Handle};

/// Spawns a task on the current runtime and returns its [`JoinHandle`].
///
/// The task starts running at once on some worker. **Dropping the handle cancels the task**;
/// call [`JoinHandle::detach`] to let it run on its own. A panic inside the task is caught and
/// returned as [`JoinError::Panicked`](crate::JoinError::Panicked); it never takes a worker down.
/// On a runtime that has shut down, the returned handle resolves at once to
/// `Err(JoinError::Cancelled(_))` with cause "runtime shut down".
///
/// ```
/// # spectrum_rt::Runtime::new().unwrap().block_on(async {
/// let handles: Vec<_> = (0..10).map(|i| spectrum_rt::spawn(async move { i * i })).collect();
/// let mut sum = 0;
/// for h in handles {
///     sum += h.await.unwrap();
/// }
/// assert_eq!(sum, 285);
/// # });
/// ```
///
/// # Panics
///
/// Outside a Spectrum runtime (use [`Handle::spawn`] from other threads).
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Builder::new().spawn(future)
}

/// Spawns a `!Send` future on the current worker thread; it never leaves that thread.
///
/// ```
/// # spectrum_rt::Runtime::new().unwrap().block_on(async {
/// use std::rc::Rc;
/// let outer = spectrum_rt::spawn(async {
///     let shared = Rc::new(5); // not Send
///     let inner = spectrum_rt::spawn_local(async move { *shared + 1 });
///     inner.await.unwrap()
/// });
/// assert_eq!(outer.await.unwrap(), 6);
/// # });
/// ```
///
/// # Panics
///
/// When not called on a Spectrum worker thread (inside a task); from elsewhere use
/// [`Handle::spawn_pinned`], which builds the future on its worker.
#[track_caller]
pub fn spawn_local<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    Builder::new().spawn_local(future)
}

/// Runs `f` on the blocking pool and returns a handle to its result.
///
/// For code that blocks: file I/O, CPU-heavy work, a C library call. Cancelling (or dropping the
/// handle of) a job that has not started drops it without running it; a job that has started runs
/// to the end, and its result is discarded.
///
/// ```
/// # spectrum_rt::Runtime::new().unwrap().block_on(async {
/// let len = spectrum_rt::spawn_blocking(|| std::fs::read_to_string("Cargo.toml").map(|s| s.len()));
/// assert!(len.await.unwrap().unwrap() > 0);
/// # });
/// ```
///
/// # Panics
///
/// Outside a Spectrum runtime.
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    Builder::new().spawn_blocking(f)
}

/// Configures a task before spawning it: its name shows in task lists, dumps and diagnostics.
///
/// ```
/// # spectrum_rt::Runtime::new().unwrap().block_on(async {
/// let h = spectrum_rt::task::Builder::new().name("fetcher").spawn(async { 1 });
/// assert_eq!(h.name(), Some("fetcher"));
/// # h.await.unwrap();
/// # });
/// ```
#[derive(Debug, Default, Clone)]
#[must_use]
pub struct Builder {
    name: Option<crate::task::TaskName>,
    stack_size: Option<usize>,
    fiber: bool,
}

impl Builder {
    /// A builder with no name.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the task. A `&'static str` (a literal, a type name) is stored without allocating;
    /// a `String` is kept as it is.
    pub fn name(mut self, name: impl Into<std::borrow::Cow<'static, str>>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Spawns on the current runtime. See [`spawn`].
    ///
    /// # Panics
    ///
    /// Outside a Spectrum runtime.
    #[track_caller]
    pub fn spawn<F>(self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let location = Location::caller();
        sched::with_current(|s| match s {
            Some(s) => s.spawn(future, self.name, location),
            None => no_runtime("spawn"),
        })
    }

    /// Lists the task as a fiber (kind [`TaskKind::Fiber`](crate::task::TaskKind)) in task lists
    /// and dumps; for fiber implementations, with [`spawn_pinned`](Self::spawn_pinned) or
    /// [`spawn_local`](Self::spawn_local).
    pub fn fiber(mut self) -> Builder {
        self.fiber = true;
        self
    }

    fn pinned_kind(&self) -> crate::task::TaskKind {
        if self.fiber {
            crate::task::TaskKind::Fiber
        } else {
            crate::task::TaskKind::Local
        }
    }

    /// Spawns a task pinned to one worker of the current runtime (queued on the calling worker,
    /// round-robin from other threads; an idle worker may take it before it starts): `make`
    /// runs on that worker and builds the future there, so the future need not be `Send`. See
    /// [`Handle::spawn_pinned`].
    ///
    /// # Panics
    ///
    /// Outside a Spectrum runtime.
    #[track_caller]
    pub fn spawn_pinned<M, F>(self, make: M) -> JoinHandle<F::Output>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future + 'static,
        F::Output: Send + 'static,
    {
        let location = Location::caller();
        let kind = self.pinned_kind();
        sched::with_current(|s| match s {
            Some(s) => sched::spawn_pinned_on(s, make, self.name, kind, location),
            None => no_runtime("spawn_pinned"),
        })
    }

    /// [`spawn_pinned`](Self::spawn_pinned) onto `handle`'s runtime, from any thread.
    #[track_caller]
    pub fn spawn_pinned_on<M, F>(self, make: M, handle: &Handle) -> JoinHandle<F::Output>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future + 'static,
        F::Output: Send + 'static,
    {
        let s = handle.shared();
        let kind = self.pinned_kind();
        sched::spawn_pinned_on(s, make, self.name, kind, Location::caller())
    }

    /// Stack size for [`spawn_thread`](Self::spawn_thread) (the OS default otherwise).
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// Runs `f` on a new, dedicated OS thread, as a task: it gets a `JoinHandle` like any other
    /// (a panic arrives as `JoinError::Panicked`), and it is listed with the runtime's tasks when
    /// one is entered (kind `Thread`). A running thread cannot be cancelled by force; cancelling
    /// its handle only marks it (use a `CancelToken` for cooperative cancellation).
    ///
    /// ```
    /// use spectrum_rt::Wait;
    /// let h = spectrum_rt::task::Builder::new().name("crunch").spawn_thread(|| 6 * 7);
    /// assert_eq!(h.wait().unwrap(), 42);
    /// ```
    #[track_caller]
    pub fn spawn_thread<F, R>(self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        crate::thread_task::spawn_thread(f, self.name, self.stack_size, Location::caller())
    }

    /// Spawns with an explicit spawn site (for wrappers that record their own caller).
    pub(crate) fn spawn_at<F>(
        self,
        future: F,
        location: &'static Location<'static>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        sched::with_current(|s| match s {
            Some(s) => s.spawn(future, self.name, location),
            None => no_runtime("spawn"),
        })
    }

    /// Spawns on `handle`'s runtime, from any thread.
    #[track_caller]
    pub fn spawn_on<F>(self, future: F, handle: &Handle) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        handle.shared().spawn(future, self.name, Location::caller())
    }

    /// Spawns a `!Send` future on the current worker. See [`spawn_local`].
    ///
    /// # Panics
    ///
    /// When not on a Spectrum worker thread.
    #[track_caller]
    pub fn spawn_local<F>(self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let location = Location::caller();
        sched::with_current(|s| {
            let s = s.unwrap_or_else(|| no_runtime("spawn_local"));
            let kind = self.pinned_kind();
            match sched::current_worker_index(s) {
                Some(home) => sched::spawn_local_here(s, home, future, self.name, kind, location),
                None => panic!(
                    "`spawn_local` must be called on a Spectrum worker thread (inside a task); \
                     from other threads use `Handle::spawn_pinned`"
                ),
            }
        })
    }

    /// Runs a blocking closure on the pool. See [`spawn_blocking`].
    ///
    /// # Panics
    ///
    /// Outside a Spectrum runtime.
    #[track_caller]
    pub fn spawn_blocking<F, R>(self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let location = Location::caller();
        sched::with_current(|s| match s {
            Some(s) => crate::blocking::spawn_blocking_on(s, f, self.name, location),
            None => no_runtime("spawn_blocking"),
        })
    }
}

#[track_caller]
fn no_runtime(what: &str) -> ! {
    panic!(
        "`{what}` needs a Spectrum runtime: call it from a task, inside `Runtime::block_on`, or \
         after `Handle::enter()`"
    )
}

/// Runs `f`, which blocks (a long computation, a synchronous system call, a lock held by a
/// thread), on the current worker thread while a spare thread takes over the worker's queue and
/// drives its timers and I/O, so other tasks keep running (tokio's `block_in_place`, Go's hand-off
/// of a P blocked in a system call). Tasks pinned to this worker wait until `f` returns. Spares
/// are capped by `Builder::max_spare_threads`. Off a worker thread it just runs `f`.
///
/// ```
/// # spectrum_rt::Runtime::builder().workers(1).build().unwrap().block_on(async {
/// let h = spectrum_rt::spawn(async {
///     spectrum_rt::task::block_in_place(|| std::thread::sleep(std::time::Duration::from_millis(20)))
/// });
/// // The only worker is blocked, yet this task runs: a spare took over.
/// assert_eq!(spectrum_rt::spawn(async { 1 }).await.unwrap(), 1);
/// h.await.unwrap();
/// # });
/// ```
pub fn block_in_place<R>(f: impl FnOnce() -> R) -> R {
    sched::block_in_place(f)
}

/// Yields to the scheduler: the task goes to the back of the run queue and other tasks run.
///
/// ```
/// # spectrum_rt::Runtime::new().unwrap().block_on(async {
/// spectrum_rt::task::yield_now().await;
/// # });
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// Future returned by [`yield_now`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        // Woken during its own poll: the scheduler puts the task at the back of the queue.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
