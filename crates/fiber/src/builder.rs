//! Spawning fibers: `spawn`, `try_spawn`, `spawn_local` and the `Builder`.

use spectrum_rt::{Handle, JoinHandle};

use crate::error::{SpawnError, SpawnErrorKind};
use crate::fiber::Fiber;
use crate::scope::{Scope, ScopedJoinHandle};
use crate::stack::{self, DEFAULT_STACK_SIZE};

/// Spawns a fiber on the current runtime and returns its [`JoinHandle`].
///
/// `f` runs as sync-style code on a stack of its own: every `.wait()` inside it (on a channel,
/// a timer, a socket, a `JoinHandle`, any future) suspends only the fiber, and its worker runs
/// other tasks meanwhile. The fiber is pinned to the worker thread that first runs it and never
/// leaves it: it is queued on the spawning worker (round-robin when spawned from outside the
/// runtime; on another worker when the spawning one already holds many more live fibers and
/// some worker is idle, so that long-lived fibers spawned by one acceptor spread), and a worker
/// with nothing to do may take it before it starts, as Go's idle processors steal goroutines
/// that have not run. The handle is the one async tasks have: awaiting (or `.wait()`ing) it
/// gives `f`'s value or a [`JoinError`](spectrum_rt::JoinError); **dropping it cancels the
/// fiber**, which then unwinds its stack at its next suspension point, running destructors
/// (call [`JoinHandle::detach`] to let it run on). A panic inside `f` arrives as
/// `JoinError::Panicked`.
///
/// ```
/// use std::time::Duration;
/// use spectrum_rt::{Runtime, Wait};
///
/// let rt = Runtime::new().unwrap();
/// let _guard = rt.enter();
/// let fiber = spectrum_fiber::spawn(|| {
///     spectrum_rt::time::sleep(Duration::from_millis(1)).wait(); // suspends this fiber only
///     6 * 7
/// });
/// assert_eq!(fiber.wait().unwrap(), 42);
/// ```
///
/// # Panics
///
/// Outside a Spectrum runtime, and when the process has as many fiber stacks as it may map (see
/// the crate docs, "Limits"); [`try_spawn`] returns those as errors instead.
#[track_caller]
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match Builder::new().spawn(f) {
        Ok(handle) => handle,
        Err(e) => panic!("{e}"),
    }
}

/// Spawns a fiber, or says why it could not: [`spawn`] without the panics.
///
/// # Errors
///
/// [`SpawnErrorKind::NoRuntime`] outside a runtime; [`SpawnErrorKind::StackLimit`] when the
/// fiber stacks in use have reached [`max_stacks`](crate::max_stacks). The error gives `f` back.
///
/// ```
/// # let rt = spectrum_rt::Runtime::new().unwrap();
/// # let _guard = rt.enter();
/// use spectrum_rt::Wait;
/// match spectrum_fiber::try_spawn(|| 1) {
///     Ok(handle) => assert_eq!(handle.wait().unwrap(), 1),
///     Err(e) if e.is_stack_limit() => eprintln!("{e}"), // says how to raise the limit
///     Err(e) => panic!("{e}"),
/// }
/// ```
#[track_caller]
pub fn try_spawn<F, T>(f: F) -> Result<JoinHandle<T>, SpawnError<F>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Builder::new().spawn(f)
}

/// Spawns a fiber on the current worker thread; `f` and its output need not be `Send`.
///
/// Use it for fibers that share `!Send` state (`Rc`, `RefCell`) with the code that spawns them,
/// or that should run beside it (two fibers that talk a lot run faster on one worker).
///
/// ```
/// use std::rc::Rc;
/// use spectrum_rt::Wait;
///
/// # let rt = spectrum_rt::Runtime::new().unwrap();
/// # let _guard = rt.enter();
/// let outer = spectrum_fiber::spawn(|| {
///     let shared = Rc::new(20); // not Send
///     let s = shared.clone();
///     let inner = spectrum_fiber::spawn_local(move || *s + 1);
///     inner.wait().unwrap() + *shared
/// });
/// assert_eq!(outer.wait().unwrap(), 41);
/// ```
///
/// # Panics
///
/// When not called on a Spectrum worker thread (from a fiber or an async task), and at the
/// stack limit (see [`spawn`]).
#[track_caller]
pub fn spawn_local<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    match Builder::new().spawn_local(f) {
        Ok(handle) => handle,
        Err(e) => panic!("{e}"),
    }
}

/// Yields: the fiber goes to the back of its worker's queue and other tasks run.
///
/// Outside a fiber it yields the thread (`std::thread::yield_now`).
pub fn yield_now() {
    if crate::fiber::with_current(|c| c.is_some()) {
        use spectrum_rt::Wait;
        spectrum_rt::task::yield_now().wait();
    } else {
        std::thread::yield_now();
    }
}

/// Configures a fiber before spawning it: its name (shown in the stack overflow error and by
/// [`current`](crate::current)) and its stack size.
///
/// ```
/// # let rt = spectrum_rt::Runtime::new().unwrap();
/// # let _guard = rt.enter();
/// use spectrum_rt::Wait;
/// let handle = spectrum_fiber::Builder::new()
///     .name("parser")
///     .stack_size(64 * 1024)
///     .spawn(|| spectrum_fiber::current().unwrap().name().map(str::to_owned))
///     .unwrap();
/// assert_eq!(handle.wait().unwrap().as_deref(), Some("parser"));
/// ```
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    /// A builder for an unnamed fiber with the default stack
    /// ([`DEFAULT_STACK_SIZE`](crate::DEFAULT_STACK_SIZE)).
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the fiber.
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// The fiber's usable stack size in bytes, rounded up to whole pages and to at least
    /// [`MIN_STACK_SIZE`](crate::MIN_STACK_SIZE). Only the pages the fiber touches become
    /// resident; the rest is address space.
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    fn checked_size<F>(&self, f: F) -> Result<(usize, F), SpawnError<F>> {
        let requested = self.stack_size.unwrap_or(DEFAULT_STACK_SIZE);
        match stack::round_size(requested) {
            Some(size) => Ok((size, f)),
            None => Err(SpawnError::new(
                SpawnErrorKind::StackTooLarge { requested },
                f,
            )),
        }
    }

    /// The checks every fallible spawn makes: stack size, then the stack budget.
    pub(crate) fn check<F>(&self, f: F) -> Result<(usize, F), SpawnError<F>> {
        let (size, f) = self.checked_size(f)?;
        if let Err(limit) = stack::precheck() {
            return Err(SpawnError::new(
                SpawnErrorKind::StackLimit {
                    limit,
                    max_map_count: crate::budget::max_map_count(),
                },
                f,
            ));
        }
        Ok((size, f))
    }

    pub(crate) fn take_name(&mut self) -> Option<Box<str>> {
        self.name.take().map(String::into_boxed_str)
    }

    /// Spawns the fiber on the current runtime. See [`spawn`].
    ///
    /// # Errors
    ///
    /// As [`try_spawn`], and [`SpawnErrorKind::StackTooLarge`] for a stack size above
    /// [`MAX_STACK_SIZE`](crate::MAX_STACK_SIZE).
    #[track_caller]
    pub fn spawn<F, T>(mut self, f: F) -> Result<JoinHandle<T>, SpawnError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // Checked without cloning the runtime's handle (two contended atomic operations a spawn).
        if !Handle::is_entered() {
            return Err(SpawnError::new(SpawnErrorKind::NoRuntime, f));
        }
        let (size, f) = self.check(f)?;
        let name = self.take_name();
        Ok(task_builder(&name).spawn_pinned(move || Fiber::new(f, name, size)))
    }

    /// Spawns the fiber on `handle`'s runtime, from any thread.
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn), except that no runtime needs to be entered.
    #[track_caller]
    pub fn spawn_on<F, T>(mut self, handle: &Handle, f: F) -> Result<JoinHandle<T>, SpawnError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (size, f) = self.check(f)?;
        let name = self.take_name();
        Ok(task_builder(&name).spawn_pinned_on(move || Fiber::new(f, name, size), handle))
    }

    /// Spawns the fiber on the current worker thread. See [`spawn_local`](crate::spawn_local).
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn).
    ///
    /// # Panics
    ///
    /// When not called on a Spectrum worker thread.
    #[track_caller]
    pub fn spawn_local<F, T>(mut self, f: F) -> Result<JoinHandle<T>, SpawnError<F>>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        if !Handle::is_entered() {
            return Err(SpawnError::new(SpawnErrorKind::NoRuntime, f));
        }
        let (size, f) = self.check(f)?;
        let name = self.take_name();
        Ok(task_builder(&name).spawn_local(Fiber::new(f, name, size)))
    }

    /// Spawns the fiber into `scope`: it may borrow what the scope's caller borrows. See
    /// [`Scope::spawn`].
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn) (the scope captured its runtime when it began).
    #[track_caller]
    pub fn spawn_scoped<'scope, 'env, F, T>(
        self,
        scope: &'scope Scope<'scope, 'env>,
        f: F,
    ) -> Result<ScopedJoinHandle<'scope, T>, SpawnError<F>>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        scope.spawn_with(self, f)
    }
}

/// The task side of a fiber spawn: listed as a fiber, under the fiber's name, in task lists,
/// dumps and long-poll reports.
pub(crate) fn task_builder(name: &Option<Box<str>>) -> spectrum_rt::task::Builder {
    let task = spectrum_rt::task::Builder::new().fiber();
    match name {
        Some(n) => task.name(n.to_string()),
        None => task,
    }
}
