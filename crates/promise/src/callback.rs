//! Callbacks, both ways: callback-style APIs into promises ([`from_fn`]), and promises into
//! callbacks ([`Promise::on_complete`], [`Promise::on_complete_with`]).
//!
//! The seed's second model. Callbacks cost nothing to create and need no runtime, but they
//! scatter error handling ("callback hell", see `examples/callback_hell.rs` beside its promise
//! and async/await versions) and have two classic bugs, which Spectrum turns into reports:
//!
//! 1. **Called twice.** The first call settles the promise; every later call returns
//!    [`CalledTwice`] with its value, and the misuse is reported **once** per callback through
//!    the [misuse hook](set_misuse_hook) (stderr by default), naming the `from_fn` call site.
//!    Never a panic, never undefined behaviour.
//! 2. **Never called.** When every copy of the callback is dropped uncalled, the promise settles
//!    as [`PromiseError::Abandoned`] (origin [`Callback`](crate::Origin::Callback), with the call
//!    site), so the reader gets an error instead of hanging.
//!
//! # Where callbacks run
//!
//! [`Promise::on_complete_with`] takes an [`Executor`]: a Spectrum runtime's
//! [`Handle`](spectrum_rt::Handle) runs the callback as a task on a worker; [`Inline`] runs it
//! right where the promise settles — inside `resolve` on the resolver's thread, or inside
//! `on_complete_with` itself if the promise had already settled (the one documented exception to
//! "callbacks run on the runtime"); any `Fn(Job)` closure hands it to your own pool.
//! [`Promise::on_complete`] uses the current runtime.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use spectrum_sync::atomic::{AtomicBool, Ordering::*};

use crate::error::{Origin, PromiseError};
use crate::promise::{Promise, Resolver};

/// Turns a callback-style API into a promise: `from_fn(|done| legacy_api(args, done.into_fn()))`.
///
/// `f` runs at once, on the calling thread (JS's `new Promise(executor)`), and is handed the
/// [`Done`] callback that settles the promise. `Done` is `Clone + Send + Sync`, so the legacy API
/// may call it from any thread, later. If `f` panics before the callback was called, the promise
/// settles as [`PromiseError::Panicked`]. A second call is [reported](self), and a callback
/// dropped uncalled leaves the promise [`Abandoned`](PromiseError::Abandoned).
///
/// Needs no runtime: the promise is plain `Waker`-based code.
///
/// ```
/// use spectrum_promise::callback;
/// use spectrum_rt::Wait;
///
/// // A callback-style API that answers on another thread.
/// fn legacy_add(a: u32, b: u32, cb: impl FnOnce(Result<u32, String>) + Send + 'static) {
///     std::thread::spawn(move || cb(Ok(a + b)));
/// }
///
/// let sum = callback::from_fn(|done| legacy_add(2, 3, move |r| { let _ = done.call(r); }));
/// assert_eq!(sum.wait().unwrap(), 5);
/// ```
#[track_caller]
pub fn from_fn<T, E, F>(f: F) -> Promise<T, E>
where
    F: FnOnce(Done<T, E>),
{
    let created_at = Location::caller();
    let (promise, resolver) = Promise::with_origin(Origin::Callback, created_at);
    let done = Done {
        resolver,
        report: Arc::new(ReportOnce {
            reported: AtomicBool::new(false),
            created_at,
        }),
    };
    // Keep a copy until `f` is over, so a panic in `f` is reported as one, not as an
    // abandonment by the unwinding.
    let keep = done.clone();
    if let Err(payload) = catch_unwind(AssertUnwindSafe(move || f(done))) {
        // Ignoring the error: a callback that was called before the panic wins.
        let _ = keep
            .resolver
            .settle_ref(Err(PromiseError::panicked(payload)));
    }
    promise
}

/// The callback [`from_fn`] hands out: call it once with the result.
///
/// Cloneable, `Send` and `Sync` (when `T` and `E` are `Send`): hand copies to a legacy API that
/// calls back from any thread. The first call on any copy settles the promise; later calls
/// return [`CalledTwice`] and are [reported once](self).
pub struct Done<T, E> {
    resolver: Resolver<T, E>,
    report: Arc<ReportOnce>,
}

struct ReportOnce {
    reported: AtomicBool,
    created_at: &'static Location<'static>,
}

impl<T, E> Done<T, E> {
    /// Settles the promise with `result`.
    ///
    /// # Errors
    ///
    /// [`CalledTwice`] with `result` if the callback was already called (reported once).
    pub fn call(&self, result: Result<T, E>) -> Result<(), CalledTwice<Result<T, E>>> {
        self.resolver
            .settle_ref(result.map_err(PromiseError::Rejected))
            .map_err(|back| {
                self.misused(match back {
                    Ok(v) => Ok(v),
                    Err(PromiseError::Rejected(e)) => Err(e),
                    Err(_) => unreachable!("settle gives back what it was given"),
                })
            })
    }

    /// Resolves the promise with `value`.
    ///
    /// # Errors
    ///
    /// [`CalledTwice`] with `value` if the callback was already called (reported once).
    pub fn resolve(&self, value: T) -> Result<(), CalledTwice<T>> {
        self.call(Ok(value))
            .map_err(|CalledTwice(back)| match back {
                Ok(v) => CalledTwice(v),
                Err(_) => unreachable!("settle gives back what it was given"),
            })
    }

    /// Rejects the promise with `error`.
    ///
    /// # Errors
    ///
    /// [`CalledTwice`] with `error` if the callback was already called (reported once).
    pub fn reject(&self, error: E) -> Result<(), CalledTwice<E>> {
        self.call(Err(error))
            .map_err(|CalledTwice(back)| match back {
                Err(e) => CalledTwice(e),
                Ok(_) => unreachable!("settle gives back what it was given"),
            })
    }

    /// True once nobody reads the promise any more: a long operation may stop early.
    pub fn is_closed(&self) -> bool {
        self.resolver.is_closed()
    }

    /// Where the callback was created (the `from_fn` call).
    pub fn created_at(&self) -> &'static Location<'static> {
        self.report.created_at
    }

    /// This callback as a plain closure, for APIs that take `impl Fn(Result<T, E>)`. A second
    /// call is still reported once; its value is dropped.
    pub fn into_fn(self) -> impl Fn(Result<T, E>) + Clone + Send + Sync + 'static
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        move |result| {
            // Ignoring the error: it has been reported.
            let _ = self.call(result);
        }
    }

    fn misused<V>(&self, value: V) -> CalledTwice<V> {
        // Relaxed: only the flip matters (the first misuse reports); no data is published.
        if !self.report.reported.swap(true, Relaxed) {
            report(&Misuse {
                created_at: self.report.created_at,
            });
        }
        CalledTwice(value)
    }
}

impl<T, E> Clone for Done<T, E> {
    fn clone(&self) -> Self {
        Done {
            resolver: self.resolver.clone(),
            report: self.report.clone(),
        }
    }
}

impl<T, E> fmt::Debug for Done<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Done")
            .field("created_at", &format_args!("{}", self.report.created_at))
            .field("called", &self.resolver.is_settled())
            .finish()
    }
}

/// The callback was called again after it had settled its promise: the value comes back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CalledTwice<V>(pub V);

impl<V> CalledTwice<V> {
    /// The value that was refused.
    pub fn into_inner(self) -> V {
        self.0
    }
}

impl<V> fmt::Display for CalledTwice<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("callback called more than once")
    }
}

impl<V> fmt::Debug for CalledTwice<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CalledTwice(..)")
    }
}

impl<V> std::error::Error for CalledTwice<V> {}

/// A misused callback, as reported to the [misuse hook](set_misuse_hook): it was called more
/// than once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Misuse {
    created_at: &'static Location<'static>,
}

impl Misuse {
    /// Where the callback was created (its `from_fn` call).
    pub fn created_at(&self) -> &'static Location<'static> {
        self.created_at
    }
}

impl fmt::Display for Misuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "callback created at {} was called more than once; the first call settled its \
             promise and the later ones were refused",
            self.created_at
        )
    }
}

type Hook = Arc<dyn Fn(&Misuse) + Send + Sync + 'static>;

// A std lock, not the loom shim: process configuration, not part of any protocol loom checks.
static HOOK: RwLock<Option<Hook>> = RwLock::new(None);

/// Where callback misuse is reported: `hook` replaces the default, which prints one line on
/// stderr. Process-wide (a callback can be called from any thread, runtime or not).
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use spectrum_promise::callback;
///
/// static MISUSES: AtomicUsize = AtomicUsize::new(0);
/// callback::set_misuse_hook(|_misuse| {
///     MISUSES.fetch_add(1, Ordering::SeqCst);
/// });
/// let p = callback::from_fn::<u32, (), _>(|done| {
///     done.resolve(1).unwrap();
///     assert!(done.resolve(2).is_err()); // reported...
///     assert!(done.resolve(3).is_err()); // ...once
/// });
/// assert_eq!(MISUSES.load(Ordering::SeqCst), 1);
/// # drop(p);
/// ```
pub fn set_misuse_hook(hook: impl Fn(&Misuse) + Send + Sync + 'static) {
    *HOOK.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(hook));
}

fn report(misuse: &Misuse) {
    let hook = HOOK.read().unwrap_or_else(|e| e.into_inner()).clone();
    match hook {
        Some(hook) => hook(misuse),
        None => eprintln!("spectrum: {misuse}"),
    }
}

/// A callback packaged for an [`Executor`].
pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// Something that runs callbacks: where [`Promise::on_complete_with`] sends them.
///
/// Implemented by [`spectrum_rt::Handle`] (a task on that runtime), [`Inline`] (right here), and
/// every `Fn(Job) + Send + Sync` closure (your own pool: `|job| pool.execute(job)`).
pub trait Executor: Send + Sync + 'static {
    /// Runs `job`, now or later, on a thread of the executor's choosing. An executor that drops
    /// the job without running it leaves the callback's [`Completion`] abandoned.
    fn execute(&self, job: Job);
}

/// Runs each callback as a task on this runtime (on a worker thread).
impl Executor for spectrum_rt::Handle {
    fn execute(&self, job: Job) {
        self.spawn(async move { job() }).detach();
    }
}

/// Runs callbacks inline: on the thread that settles the promise, inside `resolve` / `reject` /
/// the last resolver's drop (or inside `on_complete_with` if the promise had already settled).
/// Cheapest, and the resolver waits for the callback: keep such callbacks short.
#[derive(Clone, Copy, Debug, Default)]
pub struct Inline;

impl Executor for Inline {
    fn execute(&self, job: Job) {
        job();
    }
}

impl<F> Executor for F
where
    F: Fn(Job) + Send + Sync + 'static,
{
    fn execute(&self, job: Job) {
        self(job);
    }
}

impl<T, E> Promise<T, E>
where
    T: Send + 'static,
    E: Send + 'static,
{
    /// Calls `f` with the outcome once this promise settles, as a task on the current runtime
    /// (JS `promise.then(cb, cb)` used for its side effect; Node's callback style).
    ///
    /// The callback runs whether or not the returned [`Completion`] is kept: it is the way to
    /// observe the callback's return value, or its panic as [`PromiseError::Panicked`].
    ///
    /// ```
    /// # spectrum_rt::Runtime::new().unwrap().block_on(async {
    /// use spectrum_promise::Promise;
    ///
    /// let (p, r) = Promise::<u32, ()>::with_resolver();
    /// let seen = p.on_complete(|outcome| format!("got {outcome:?}"));
    /// r.resolve(7).unwrap();
    /// assert_eq!(seen.await.unwrap(), "got Ok(7)");
    /// # });
    /// ```
    ///
    /// # Panics
    ///
    /// Outside a Spectrum runtime (use [`on_complete_with`](Self::on_complete_with)).
    #[track_caller]
    pub fn on_complete<R, F>(self, f: F) -> Completion<R>
    where
        F: FnOnce(Result<T, PromiseError<E>>) -> R + Send + 'static,
        R: Send + 'static,
    {
        self.on_complete_with(spectrum_rt::Handle::current(), f)
    }

    /// Calls `f` with the outcome once this promise settles, on `executor` (see the
    /// [module docs](self) for where each executor runs it). A producing task is no longer
    /// cancelled when this promise goes away: the callback is its reader now.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use spectrum_promise::{callback::Inline, Promise};
    ///
    /// let (p, r) = Promise::<u32, ()>::with_resolver();
    /// let (tx, rx) = mpsc::channel();
    /// p.on_complete_with(Inline, move |outcome| tx.send(outcome).unwrap());
    /// r.resolve(7).unwrap(); // runs the callback right here
    /// assert_eq!(rx.try_recv().unwrap(), Ok(7));
    /// ```
    #[track_caller]
    pub fn on_complete_with<X, R, F>(self, executor: X, f: F) -> Completion<R>
    where
        X: Executor,
        F: FnOnce(Result<T, PromiseError<E>>) -> R + Send + 'static,
        R: Send + 'static,
    {
        let (completion, resolver) =
            Promise::<R, Infallible>::with_origin(Origin::Callback, Location::caller());
        let (inner, _producer) = self.into_reader();
        crate::promise::Inner::set_callback(
            &inner,
            Box::new(move |outcome| {
                let job: Job = Box::new(move || {
                    let out = catch_unwind(AssertUnwindSafe(move || f(outcome)))
                        .map_err(PromiseError::panicked);
                    // Ignoring the error: nothing else settles the completion.
                    let _ = resolver.settle_outcome(out);
                });
                // A panicking executor drops the job, which abandons the completion: the panic must
                // not unwind into whoever settled the promise.
                let _ = catch_unwind(AssertUnwindSafe(move || executor.execute(job)));
            }),
        );
        Completion(completion)
    }
}

/// What became of an [`on_complete`](Promise::on_complete) callback: await (or `.wait()`) it for
/// the callback's return value, [`PromiseError::Panicked`] if it panicked, or
/// [`Abandoned`](PromiseError::Abandoned) if the executor dropped it. Dropping it changes
/// nothing: the callback runs anyway.
pub struct Completion<R>(Promise<R, Infallible>);

impl<R> Completion<R> {
    /// The completion as a promise, for chaining or combinators.
    pub fn into_promise(self) -> Promise<R, Infallible> {
        self.0
    }
}

impl<R> Future for Completion<R> {
    type Output = Result<R, PromiseError<Infallible>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<R> fmt::Debug for Completion<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Completion").field(&self.0).finish()
    }
}
