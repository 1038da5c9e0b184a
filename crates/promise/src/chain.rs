//! Chaining in the Promise style — `then`, `map`, `and_then`, `catch`, `or_else`, `finally` —
//! and `spawn`, which turns a future into a running promise.
//!
//! | Spectrum | JS | Java `CompletableFuture` | callback gets | returns |
//! |---|---|---|---|---|
//! | [`map`](Promise::map) | `then(v => u)` | `thenApply` | the value | a value |
//! | [`and_then`](Promise::and_then) | `then(v => promise)` | `thenCompose` | the value | a future / promise |
//! | [`map_err`](Promise::map_err) | — | — | the rejection error | another error |
//! | [`catch`](Promise::catch) | `catch(e => v)` | `exceptionally` | the failure | a value or a failure |
//! | [`or_else`](Promise::or_else) | `catch(e => promise)` | `exceptionallyCompose` | the failure | a future / promise |
//! | [`then`](Promise::then) | `then(onOk, onErr)` | `handle` | the whole outcome | a value or a failure |
//! | [`finally`](Promise::finally) | `finally(() => ..)` | `whenComplete` | nothing | (passes the outcome on) |
//!
//! # Where callbacks run
//!
//! Each call spawns one task on the **current Spectrum runtime** (the one entered on the calling
//! thread) and returns the promise that task settles. The task awaits this promise, then runs the
//! callback — on a worker thread of that runtime, never inline on the thread that resolved the
//! upstream promise, and never on the caller's thread. So a callback may be slow without
//! delaying the resolver, and a chain runs whether or not anyone awaits its end (like JS, unlike
//! a lazy Rust future).
//!
//! A callback that **panics** settles the new promise with [`PromiseError::Panicked`] (JS: an
//! exception in `then` rejects the promise it returned); nothing unwinds into the runtime.
//! Failures flow down the chain untouched until a `catch` / `or_else` / `then` handles them.
//!
//! **Dropping** a chained promise cancels its task, which drops the upstream promise, which
//! cancels *its* task: an abandoned chain is torn down link by link, as Spectrum's structured
//! default wants. A task cancelled by runtime shutdown leaves its promise
//! [`Abandoned`](crate::Abandoned) with origin `Task`.
//!
//! All of these need `T`, `E` and the callback to be `Send + 'static` (they cross to a worker).
//!
//! # Panics
//!
//! Every method here panics outside a Spectrum runtime (there is nowhere to run the callback);
//! from plain threads, enter one first (`Runtime::enter`, `Handle::enter`).

use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::pin::pin;
use std::task::Poll;

use spectrum_rt::PanicPayload;

use crate::error::{Origin, PromiseError};
use crate::promise::{Outcome, Promise};

/// Runs `future` as a task on the current runtime and returns a promise of its result (JS
/// `new Promise(executor)` for async work, Java `CompletableFuture.supplyAsync`).
///
/// The task starts at once; `Ok` resolves the promise, `Err` rejects it, a panic settles it as
/// [`PromiseError::Panicked`]. Dropping the promise cancels the task.
///
/// ```
/// # spectrum_rt::Runtime::new().unwrap().block_on(async {
/// let p = spectrum_promise::spawn(async { Ok::<_, std::io::Error>(6 * 7) });
/// assert_eq!(p.await.unwrap(), 42);
/// # });
/// ```
///
/// # Panics
///
/// Outside a Spectrum runtime.
#[track_caller]
pub fn spawn<F, T, E>(future: F) -> Promise<T, E>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    produce(async move { future.await.map_err(PromiseError::Rejected) })
}

/// Spawns the task that settles a new promise with `future`'s outcome, catching its panics.
#[track_caller]
pub(crate) fn produce<F, T, E>(future: F) -> Promise<T, E>
where
    F: Future<Output = Outcome<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    let (mut promise, resolver) = Promise::with_origin(Origin::Task, Location::caller());
    let task = spectrum_rt::spawn(async move {
        let outcome = catch_panic(future)
            .await
            .unwrap_or_else(|p| Err(PromiseError::Panicked(Box::new(p))));
        // Ignoring the error: nothing else settles this promise.
        let _ = resolver.settle_outcome(outcome);
    });
    promise.set_producer(task.abort_handle());
    task.detach();
    promise
}

/// Polls `future`, turning a panic into `Err(payload)`.
pub(crate) async fn catch_panic<F: Future>(future: F) -> Result<F::Output, PanicPayload> {
    let mut future = pin!(future);
    poll_fn(
        |cx| match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(PanicPayload::new(payload))),
        },
    )
    .await
}

impl<T, E> Promise<T, E>
where
    T: Send + 'static,
    E: Send + 'static,
{
    /// Runs `f` on the whole outcome once this promise settles (JS `then(onOk, onErr)`, Java
    /// `handle`). `Ok` resolves the new promise; `Err` fails it.
    ///
    /// ```
    /// # spectrum_rt::Runtime::new().unwrap().block_on(async {
    /// use spectrum_promise::{Promise, PromiseError};
    ///
    /// let p = Promise::<u32, String>::rejected("bad".into()).then(|outcome| match outcome {
    ///     Ok(v) => Ok(v.to_string()),
    ///     Err(PromiseError::Rejected(e)) => Ok(format!("recovered from {e}")),
    ///     Err(other) => Err(other),
    /// });
    /// assert_eq!(p.await.unwrap(), "recovered from bad");
    /// # });
    /// ```
    ///
    /// # Panics
    ///
    /// Outside a Spectrum runtime (see the [module docs](crate::chain)).
    #[track_caller]
    pub fn then<U, F>(self, f: F) -> Promise<U, E>
    where
        F: FnOnce(Result<T, PromiseError<E>>) -> Result<U, PromiseError<E>> + Send + 'static,
        U: Send + 'static,
    {
        produce(async move { f(self.await) })
    }

    /// Transforms the value once this promise resolves (JS `then(v => u)`, Java `thenApply`);
    /// failures pass through.
    ///
    /// ```
    /// # spectrum_rt::Runtime::new().unwrap().block_on(async {
    /// use spectrum_promise::Promise;
    ///
    /// let p = Promise::<u32, ()>::resolved(20).map(|v| v + 1).map(|v| v * 2);
    /// assert_eq!(p.await, Ok(42));
    /// # });
    /// ```
    ///
    /// # Panics
    ///
    /// Outside a Spectrum runtime (see the [module docs](crate::chain)).
    #[track_caller]
    pub fn map<U, F>(self, f: F) -> Promise<U, E>
    where
        F: FnOnce(T) -> U + Send + 'static,
        U: Send + 'static,
    {
        produce(async move { self.await.map(f) })
    }

    /// Continues with async work once this promise resolves (JS `then(v => promise)`, Java
    /// `thenCompose`); failures pass through. The future may be another promise, or an `async`
    /// block in which `?` rejects (any `Result<_, E>` converts into the `PromiseError<E>`).
    ///
    /// ```
    /// # spectrum_rt::Runtime::new().unwrap().block_on(async {
    /// use spectrum_promise::Promise;
    ///
    /// fn double_later(v: u32) -> Promise<u32, String> {
    ///     spectrum_promise::spawn(async move { Ok(v * 2) })
    /// }
    /// let p = Promise::<u32, String>::resolved(10)
    ///     .and_then(double_later)
    ///     .and_then(|v| async move {
    ///         let parsed: u32 = "2".parse().map_err(|_| "not a number".to_string())?;
    ///         Ok(v + parsed)
    ///     });
    /// assert_eq!(p.await.unwrap(), 22);
    /// # });
    /// ```
    ///
    /// # Panics
    ///
    /// Outside a Spectrum runtime (see the [module docs](crate::chain)).
    #[track_caller]
    pub fn and_then<U, F, Fut>(self, f: F) -> Promise<U, E>
    where
        F: FnOnce(T) -> Fut + Send + 'static,
        Fut: Future<Output = Result<U, PromiseError<E>>> + Send + 'static,
        U: Send + 'static,
    {
        produce(async move {
            match self.await {
                Ok(v) => f(v).await,
                Err(e) => Err(e),
            }
        })
    }

    /// Transforms the rejection error; values, abandonments and panics pass through.
    ///
    /// # Panics
    ///
    /// Outside a Spectrum runtime (see the [module docs](crate::chain)).
    #[track_caller]
    pub fn map_err<F2, F>(self, f: F) -> Promise<T, F2>
    where
        F: FnOnce(E) -> F2 + Send + 'static,
        F2: Send + 'static,
    {
        produce(async move { self.await.map_err(|e| e.map_rejected(f)) })
    }

    /// Handles a failure — rejection, abandonment or panic — once this promise fails (JS
    /// `catch(e => v)`, Java `exceptionally`): `Ok` recovers, `Err` fails on. Values pass
    /// through.
    ///
    /// ```
    /// # spectrum_rt::Runtime::new().unwrap().block_on(async {
    /// use spectrum_promise::Promise;
    ///
    /// let p = Promise::<u32, &str>::rejected("offline").catch(|_| Ok(0));
    /// assert_eq!(p.await, Ok(0));
    /// # });
    /// ```
    ///
    /// # Panics
    ///
    /// Outside a Spectrum runtime (see the [module docs](crate::chain)).
    #[track_caller]
    pub fn catch<F>(self, f: F) -> Promise<T, E>
    where
        F: FnOnce(PromiseError<E>) -> Result<T, PromiseError<E>> + Send + 'static,
    {
        produce(async move {
            match self.await {
                Ok(v) => Ok(v),
                Err(e) => f(e),
            }
        })
    }

    /// Handles a failure with async work (JS `catch(e => promise)`, Java
    /// `exceptionallyCompose`): the future's outcome settles the new promise. Values pass
    /// through.
    ///
    /// # Panics
    ///
    /// Outside a Spectrum runtime (see the [module docs](crate::chain)).
    #[track_caller]
    pub fn or_else<F, Fut>(self, f: F) -> Promise<T, E>
    where
        F: FnOnce(PromiseError<E>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, PromiseError<E>>> + Send + 'static,
    {
        produce(async move {
            match self.await {
                Ok(v) => Ok(v),
                Err(e) => f(e).await,
            }
        })
    }

    /// Runs `f` once this promise settles, whatever the outcome, and passes the outcome on (JS
    /// `finally`, Java `whenComplete`). If `f` panics, the new promise fails with the panic (as
    /// a JS `finally` that throws).
    ///
    /// ```
    /// # spectrum_rt::Runtime::new().unwrap().block_on(async {
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use spectrum_promise::Promise;
    ///
    /// let cleaned = Arc::new(AtomicBool::new(false));
    /// let flag = cleaned.clone();
    /// let p = Promise::<u32, ()>::resolved(1).finally(move || flag.store(true, Ordering::SeqCst));
    /// assert_eq!(p.await, Ok(1));
    /// assert!(cleaned.load(Ordering::SeqCst));
    /// # });
    /// ```
    ///
    /// # Panics
    ///
    /// Outside a Spectrum runtime (see the [module docs](crate::chain)).
    #[track_caller]
    pub fn finally<F>(self, f: F) -> Promise<T, E>
    where
        F: FnOnce() + Send + 'static,
    {
        produce(async move {
            let outcome = self.await;
            f();
            outcome
        })
    }
}
