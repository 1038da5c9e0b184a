//! `Promise`, `SharedPromise` and `Resolver`: a value settled once, from outside, and read by
//! one reader or by many.
//!
//! # Invariants
//!
//! 1. A promise settles at most once: the first `resolve` / `reject` / abandonment wins, and every
//!    later attempt gets its value back in [`AlreadySettled`].
//! 2. A promise always settles while someone can read it: when the last [`Resolver`] is dropped
//!    unsettled, it settles as [`PromiseError::Abandoned`], so no reader waits forever.
//! 3. The outcome is handed out once to a [`Promise`] (moved) and any number of times to
//!    [`SharedPromise`]s (cloned).
//! 4. No lock is held while user code runs: wakers are woken and callbacks called after the
//!    state transition that announces them.
//!
//! # State
//!
//! One `Arc<Inner>` per promise; `Inner::state` is one atomic word, changed only by
//! read-modify-write operations:
//!
//! | bits | meaning | set by |
//! |---|---|---|
//! | `CLAIMED` | a settler won the right to write `value` | the first settler |
//! | `COMPLETE` | `value` holds the outcome, final | that settler, after writing |
//! | `RX_WAKER` | a reader registered in `rx_waker` | the reader's first pending poll |
//! | `CLOSED` | no reader remains | the last reader's drop |
//! | `RESOLVER_ONE` and up | the number of live `Resolver`s | clone / drop / consuming settle |
//!
//! # Who touches `value`
//!
//! - The settler that set `CLAIMED` writes it, once, before `COMPLETE` is published (Release).
//! - After observing `COMPLETE` (Acquire), the single reader moves it out: a `Promise` is not
//!   `Clone` and is polled through `&mut`, so there is one reader at a time.
//! - In shared mode nobody moves it; `SharedPromise`s clone it under their `SharedReaders` lock,
//!   so no two threads hold `&T` at once (`T: Send` suffices, not `Sync`).
//! - `Inner`'s drop owns everything.
//!
//! # Who touches `rx_waker`
//!
//! Written only by the single reader, only while `RX_WAKER` is clear (it is the only one that
//! sets the bit); read (`&Waker`) by the reader and by the settler whose completing RMW saw the
//! bit set. This is tokio's `oneshot` protocol: it saves `AtomicWaker`'s two RMWs on each side.
//!
//! # Protocols
//!
//! *Settle through a resolver that may not be the only one* (`&self`): (1) CAS `CLAIMED` in, or
//! give the outcome back if it was set; (2) write `value`; (3) `fetch_or(COMPLETE)`; (4) if the
//! previous state had `RX_WAKER` (and not `CLOSED`), wake `rx_waker` by reference.
//!
//! *Settle through the last resolver* (a consuming `resolve` that sees a resolver count of one and
//! no claim): nobody else can settle, so (1) write `value`; (2) one `fetch_add` sets `CLAIMED` and
//! `COMPLETE` and releases the resolver's count at once (both bits are known clear, so the add
//! carries into nothing); (3) wake as above. One read-modify-write, as tokio's `oneshot::send`.
//!
//! *Poll (single reader):* load the state; if `COMPLETE`, move the outcome out. Otherwise, if
//! `RX_WAKER` is set and the stored waker `will_wake` this task, re-read the state. Else take the
//! bit back (`fetch_and`; if `COMPLETE` was set meanwhile, ready), write the waker, and announce
//! it with `fetch_or(RX_WAKER)`; `COMPLETE` in its result means ready. The reader's RMWs and the
//! settler's completing RMW are ordered on the one word: either the settler sees `RX_WAKER` and
//! wakes the waker (by reference, leaving it in place), or the reader sees `COMPLETE`.
//!
//! *Shared readers:* `Promise::shared` registers one `SharedReaders` waker as the single reader;
//! each `SharedPromise` polls under its lock (clone the outcome if `COMPLETE`, else file its
//! waker), and the settler's wake drains and wakes them all under the same lock.
//!
//! *Last resolver dropped:* `fetch_sub(RESOLVER_ONE)`; if it was the last and `CLAIMED` is unset,
//! settle with `Abandoned` (which cannot lose its claim: no other resolver exists).
//!
//! Cost, counted in read-modify-writes: make (1, the `Arc` clone), resolve and drop the resolver
//! (1), a ready first poll (0), the two `Arc` drops (2) — tokio's `oneshot` costs the same. The
//! first version of this module guarded the same state with a mutex: ten, and 2.5x slower
//! (`benches/latency.rs`). `loom_tests` check every race above.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{ready, Context, Poll, Wake, Waker};

use spectrum_rt::task::AbortHandle;
use spectrum_sync::atomic::{AtomicUsize, Ordering::*};
use spectrum_sync::{Arc, Mutex, UnsafeCell};

use crate::error::{Abandoned, AlreadySettled, Origin, PromiseError};

/// What a promise settles to.
pub(crate) type Outcome<T, E> = Result<T, PromiseError<E>>;

/// A one-shot callback run with the outcome (see `callback::on_complete_with`).
pub(crate) type Callback<T, E> = Box<dyn FnOnce(Outcome<T, E>) + Send + 'static>;

const CLAIMED: usize = 1 << 0;
const COMPLETE: usize = 1 << 1;
const RX_WAKER: usize = 1 << 2;
const CLOSED: usize = 1 << 3;
const RESOLVER_ONE: usize = 1 << 4;

pub(crate) struct Inner<T, E> {
    state: AtomicUsize,
    value: UnsafeCell<Option<Outcome<T, E>>>,
    /// The single reader's waker (a task, a callback reader, or the shared readers' list),
    /// guarded by `RX_WAKER` (module docs, "Who touches `rx_waker`").
    rx_waker: UnsafeCell<Option<Waker>>,
    /// Who settles it, and where that was created: the `Abandoned` error's content.
    abandoned: Abandoned,
}

// SAFETY: `value` and `rx_waker` are the fields that are not `Sync` by themselves. `value` is
// written by the one settler that claimed it, before `COMPLETE` is published (Release); read
// after `COMPLETE` is observed (Acquire) by the single reader (exclusive: a `Promise` is not
// `Clone`) or by shared readers one at a time under their `SharedReaders` lock. So `T` and `E`
// only ever move between threads, never get shared: `Send` is what they need. `rx_waker` is
// written only by the single reader while `RX_WAKER` is clear, and read (`&Waker`, which is
// `Sync`) by the reader and by the settler that saw `RX_WAKER` set (module docs).
unsafe impl<T: Send, E: Send> Sync for Inner<T, E> {}

impl<T, E> Inner<T, E> {
    pub(crate) fn new(origin: Origin, created_at: &'static Location<'static>) -> Arc<Self> {
        Arc::new(Inner {
            state: AtomicUsize::new(RESOLVER_ONE),
            value: UnsafeCell::new(None),
            rx_waker: UnsafeCell::new(None),
            abandoned: Abandoned { origin, created_at },
        })
    }

    fn settled(outcome: Outcome<T, E>, created_at: &'static Location<'static>) -> Arc<Self> {
        Arc::new(Inner {
            state: AtomicUsize::new(CLAIMED | COMPLETE),
            value: UnsafeCell::new(Some(outcome)),
            rx_waker: UnsafeCell::new(None),
            abandoned: Abandoned {
                origin: Origin::Resolver,
                created_at,
            },
        })
    }

    /// The settle protocol for a resolver that may not be the only one (module docs). `Err`
    /// gives the outcome back if the promise was already claimed.
    pub(crate) fn settle(&self, outcome: Outcome<T, E>) -> Result<(), Outcome<T, E>> {
        // Relaxed: the claim only decides who writes `value`; nothing is read through it, and the
        // write is published by the Release of `COMPLETE` below.
        let mut state = self.state.load(Relaxed);
        loop {
            if state & CLAIMED != 0 {
                return Err(outcome);
            }
            // Relaxed: as above.
            match self
                .state
                .compare_exchange_weak(state, state | CLAIMED, Relaxed, Relaxed)
            {
                Ok(_) => break,
                Err(actual) => state = actual,
            }
        }
        // SAFETY: we set `CLAIMED`, so we are the only writer; readers wait for `COMPLETE`,
        // which is not set yet.
        self.value.with_mut(|v| unsafe { *v = Some(outcome) });
        // AcqRel: Release publishes `value` to readers (pairs with their Acquire loads and
        // `fetch_or(RX_WAKER)`); Acquire pairs with the reader's `fetch_or(RX_WAKER)`, so its
        // registration is visible to `rx_waker.wake()`.
        let prev = self.state.fetch_or(COMPLETE, AcqRel);
        self.after_complete(prev);
        Ok(())
    }

    /// The settle protocol for the last resolver (module docs); `Err` gives the outcome back
    /// when the fast path does not apply. On `Ok` the caller's resolver count is released.
    #[inline]
    fn settle_as_last(&self, outcome: Outcome<T, E>) -> Result<(), Outcome<T, E>> {
        // Acquire: pairs with the AcqRel `fetch_sub` of resolvers dropped on other threads, so a
        // count of one also shows whether they claimed.
        let state = self.state.load(Acquire);
        if state / RESOLVER_ONE != 1 || state & CLAIMED != 0 {
            return Err(outcome);
        }
        // SAFETY: we own the last resolver (the caller consumed it) and nobody claimed: no other
        // settler exists or can appear (only a resolver can make another), and readers wait for
        // `COMPLETE`.
        self.value.with_mut(|v| unsafe { *v = Some(outcome) });
        // AcqRel: as in `settle`. `CLAIMED` and `COMPLETE` are clear and the count is at least
        // one, so this one add sets both bits and releases our count without carrying.
        let prev = self
            .state
            .fetch_add((CLAIMED | COMPLETE).wrapping_sub(RESOLVER_ONE), AcqRel);
        debug_assert_eq!(prev & (CLAIMED | COMPLETE), 0);
        self.after_complete(prev);
        Ok(())
    }

    /// Wakes the reader registered before `COMPLETE` was set (`prev` is the state just before).
    #[inline]
    fn after_complete(&self, prev: usize) {
        if prev & RX_WAKER != 0 && prev & CLOSED == 0 {
            // SAFETY: our completing read-modify-write saw `RX_WAKER` set (and synchronized with
            // the reader's `fetch_or` that set it): the waker is written and, `COMPLETE` being
            // set now, the reader will not write it again; concurrent reads of `&Waker` are fine.
            self.rx_waker.with(|w| unsafe {
                if let Some(w) = &*w {
                    w.wake_by_ref();
                }
            });
        }
    }

    fn is_settled(&self) -> bool {
        // Acquire: pairs with the Release of `COMPLETE`.
        self.state.load(Acquire) & COMPLETE != 0
    }

    /// Moves the outcome out.
    ///
    /// # Safety
    ///
    /// The caller observed `COMPLETE` with Acquire ordering and is the single reader (not in
    /// shared mode).
    #[inline]
    unsafe fn take_value(&self) -> Option<Outcome<T, E>> {
        // SAFETY: the settler's write happened before (caller's contract: `COMPLETE` observed)
        // and is final; the single reader is the only one to access `value` from then on.
        self.value.with_mut(|v| unsafe { (*v).take() })
    }

    /// A clone of the outcome, for a shared reader.
    ///
    /// # Safety
    ///
    /// The caller observed `COMPLETE` with Acquire ordering, the promise is in shared mode, and
    /// the caller holds its `SharedReaders` lock.
    unsafe fn read_shared(&self) -> Outcome<T, E>
    where
        T: Clone,
        E: Clone,
    {
        // SAFETY: the write is final and visible (caller's contract); in shared mode nobody moves
        // `value`, and the readers' lock keeps other readers out while we hold `&Outcome`.
        self.value
            .with(|v| unsafe { (*v).clone() })
            .expect("a complete promise holds its outcome")
    }

    /// Registers `waker` as the single reader's and reports whether the outcome is ready
    /// (module docs, "Poll (single reader)"). Only the single reader calls it.
    #[inline]
    fn register_reader(&self, waker: &Waker) -> bool {
        // Acquire: pairs with the Release of `COMPLETE`.
        let state = self.state.load(Acquire);
        state & COMPLETE != 0 || self.register_reader_slow(state, waker)
    }

    /// `register_reader` when the outcome was not there at first look.
    #[inline(never)]
    fn register_reader_slow(&self, state: usize, waker: &Waker) -> bool {
        if state & RX_WAKER != 0 {
            // SAFETY: with `RX_WAKER` set only reads happen (ours, and the settler's
            // `wake_by_ref`); the waker was written before we set the bit.
            let same = self
                .rx_waker
                .with(|w| unsafe { (*w).as_ref().is_some_and(|w| w.will_wake(waker)) });
            if same {
                // Acquire: pairs with the Release of `COMPLETE`.
                return self.state.load(Acquire) & COMPLETE != 0;
            }
            // Take the bit back before replacing the waker. AcqRel: Acquire pairs with the
            // Release of `COMPLETE`; Release orders our earlier read before a later settler.
            let prev = self.state.fetch_and(!RX_WAKER, AcqRel);
            if prev & COMPLETE != 0 {
                // The settler may be reading the waker right now: leave it alone.
                return true;
            }
        }
        // SAFETY: `RX_WAKER` is clear and we (the single reader) are the only one who sets it; a
        // settler reads the waker only if its completing RMW saw the bit set, so none does now.
        self.rx_waker
            .with_mut(|w| unsafe { *w = Some(waker.clone()) });
        // AcqRel: Release publishes the waker to the settler's completing RMW (which reads the
        // bit with Acquire); Acquire pairs with its Release, so `COMPLETE` seen here means
        // `value` is visible (and the settler did not see our bit, so it will not wake us).
        self.state.fetch_or(RX_WAKER, AcqRel) & COMPLETE != 0
    }

    /// The single reader's poll.
    #[inline]
    fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Outcome<T, E>> {
        let coop = ready!(spectrum_rt::coop::poll_proceed(cx));
        if !self.register_reader(cx.waker()) {
            return Poll::Pending;
        }
        coop.made_progress();
        // SAFETY: `register_reader` observed `COMPLETE` with Acquire; the `Promise` calling us is
        // the single reader.
        let outcome = unsafe { self.take_value() };
        Poll::Ready(outcome.expect("`Promise` polled after it returned its outcome"))
    }

    /// The last single reader is gone: mark the promise closed and drop an unread outcome now.
    fn close(&self) {
        // AcqRel: Release lets `Resolver::is_closed` see it; Acquire pairs with the Release of
        // `COMPLETE`, making `value` visible if it is set.
        let prev = self.state.fetch_or(CLOSED, AcqRel);
        if prev & COMPLETE != 0 {
            // SAFETY: `COMPLETE` observed with Acquire; we are the single reader, going away.
            drop(unsafe { self.take_value() });
        }
    }

    fn abandon(&self) {
        // Ignoring the error: a settled promise is not abandoned.
        let _ = self.settle(Err(PromiseError::Abandoned(self.abandoned)));
    }
}

impl<T: Send + 'static, E: Send + 'static> Inner<T, E> {
    /// Makes `callback` the single reader: it runs with the outcome once the promise settles
    /// (at once, here, if it already has).
    pub(crate) fn set_callback(this: &Arc<Self>, callback: Callback<T, E>) {
        let reader = std::sync::Arc::new(CallbackReader {
            state: Mutex::new(Some((this.clone(), callback))),
        });
        if this.register_reader(&Waker::from(reader.clone())) {
            reader.fire();
        }
    }
}

/// A reader that is a callback: registered as a waker, it takes the outcome and runs the
/// callback when woken (once, whoever wakes it first). Firing also drops its `Arc<Inner>`, which
/// breaks the cycle through `Inner::rx_waker` (that waker points back at this reader).
struct CallbackReader<T, E> {
    /// The promise and the callback, until the callback fires.
    state: Mutex<Option<Armed<T, E>>>,
}

type Armed<T, E> = (Arc<Inner<T, E>>, Callback<T, E>);

impl<T, E> CallbackReader<T, E> {
    fn fire(&self) {
        let (inner, callback, outcome) = {
            let mut slot = self.state.lock();
            match &*slot {
                Some((inner, _)) if inner.is_settled() => {}
                // Not settled: a spurious wake; the settler will wake us. Empty: fired already.
                _ => return,
            }
            let (inner, callback) = slot.take().expect("checked above");
            // SAFETY: `is_settled` observed `COMPLETE` with Acquire; this callback is the single
            // reader, and the lock lets one wake through.
            let outcome = unsafe { inner.take_value() };
            (
                inner,
                callback,
                outcome.expect("a callback reader takes the outcome once"),
            )
        };
        drop(inner);
        callback(outcome);
    }
}

impl<T: Send + 'static, E: Send + 'static> Wake for CallbackReader<T, E> {
    fn wake(self: std::sync::Arc<Self>) {
        self.fire();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.fire();
    }
}

/// The wakers of a shared promise's readers, registered as the promise's single reader: waking it
/// wakes them all. Its lock is also the one under which shared readers clone the outcome.
struct SharedReaders {
    waiters: Mutex<Slab<Waker>>,
}

impl Wake for SharedReaders {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        let waiters = self.waiters.lock().drain();
        waiters.into_iter().for_each(Waker::wake);
    }
}

/// A value that will be settled once, from outside, by a [`Resolver`]: Spectrum's JS `Promise` /
/// Java `CompletableFuture`.
///
/// A `Promise<T, E>` is a future (`.await` it, or `.wait()` from sync code through
/// [`spectrum_rt::Wait`]) whose output is `Result<T, PromiseError<E>>`: the value, the error it
/// was rejected with, or [`PromiseError::Abandoned`] when every resolver went away without
/// settling it (it never hangs). It is written on `Waker`s only, so it works under any executor;
/// on Spectrum it charges the task's cooperative budget like every other primitive.
///
/// A `Promise` has one reader (the outcome is moved out); [`shared`](Promise::shared) turns it
/// into a cloneable [`SharedPromise`] whose readers each get a clone. Chaining (`map`,
/// `and_then`, `catch`, ...) and the combinators ([`all`](crate::all), [`race`](crate::race), ...)
/// are documented where they are defined.
///
/// ```
/// use spectrum_promise::Promise;
/// use spectrum_rt::Wait;
///
/// let (promise, resolver) = Promise::<u32, String>::with_resolver();
/// std::thread::spawn(move || resolver.resolve(42).unwrap());
/// assert_eq!(promise.wait().unwrap(), 42);
/// ```
///
/// **Dropping a promise** that came from a task (chaining, [`spawn`](crate::spawn)) cancels that
/// task: nobody can read what it would produce. A promise from `with_resolver` just lets its
/// resolvers know ([`Resolver::is_closed`]).
///
/// # Cancel safety
///
/// Cancel-safe: dropping the future before it completes loses nothing that was not already lost
/// by dropping the promise (the outcome is only moved out on the poll that returns it).
///
/// # Panics
///
/// Polling again after the promise returned its outcome panics, as a `JoinHandle` does.
#[must_use = "a promise does nothing unless awaited; dropping one that came from a task cancels it"]
pub struct Promise<T, E> {
    /// `None` once the outcome was handed out (or the reading handed over).
    inner: Option<Arc<Inner<T, E>>>,
    producer: Option<AbortHandle>,
}

impl<T, E> Promise<T, E> {
    /// A pending promise and the resolver that settles it (JS `Promise.withResolvers()`, Java
    /// `new CompletableFuture<>()`).
    ///
    /// ```
    /// use spectrum_promise::{Promise, PromiseError};
    /// use spectrum_rt::Wait;
    ///
    /// let (p, r) = Promise::<(), &str>::with_resolver();
    /// r.reject("no").unwrap();
    /// assert_eq!(p.wait(), Err(PromiseError::Rejected("no")));
    /// ```
    #[track_caller]
    pub fn with_resolver() -> (Promise<T, E>, Resolver<T, E>) {
        Self::with_origin(Origin::Resolver, Location::caller())
    }

    pub(crate) fn with_origin(
        origin: Origin,
        created_at: &'static Location<'static>,
    ) -> (Promise<T, E>, Resolver<T, E>) {
        let inner = Inner::new(origin, created_at);
        let resolver = Resolver {
            inner: Some(inner.clone()),
        };
        (Promise::from_inner(inner, None), resolver)
    }

    fn from_inner(inner: Arc<Inner<T, E>>, producer: Option<AbortHandle>) -> Self {
        Promise {
            inner: Some(inner),
            producer,
        }
    }

    /// A promise already resolved with `value` (JS `Promise.resolve(v)`, Java
    /// `completedFuture(v)`).
    #[track_caller]
    pub fn resolved(value: T) -> Promise<T, E> {
        Promise::from_inner(Inner::settled(Ok(value), Location::caller()), None)
    }

    /// A promise already rejected with `error` (JS `Promise.reject(e)`, Java
    /// `failedFuture(e)`).
    #[track_caller]
    pub fn rejected(error: E) -> Promise<T, E> {
        Promise::from_inner(
            Inner::settled(Err(PromiseError::Rejected(error)), Location::caller()),
            None,
        )
    }

    /// True once the promise has settled (its outcome may already have been read).
    pub fn is_settled(&self) -> bool {
        self.inner.as_ref().is_none_or(|i| i.is_settled())
    }

    /// Turns this promise into a cloneable [`SharedPromise`]: every clone reads a clone of the
    /// outcome (JS semantics, where any number of `then`s see the same value).
    ///
    /// ```
    /// use spectrum_promise::Promise;
    /// use spectrum_rt::Wait;
    ///
    /// let (p, r) = Promise::<String, ()>::with_resolver();
    /// let a = p.shared();
    /// let b = a.clone();
    /// r.resolve("hi".into()).unwrap();
    /// assert_eq!(a.wait().unwrap(), "hi");
    /// assert_eq!(b.wait().unwrap(), "hi");
    /// ```
    ///
    /// # Panics
    ///
    /// If this promise already returned its outcome.
    pub fn shared(mut self) -> SharedPromise<T, E> {
        let inner = self
            .inner
            .take()
            .expect("`Promise::shared` after it returned its outcome");
        let producer = self.producer.take();
        let readers = std::sync::Arc::new(SharedReaders {
            waiters: Mutex::new(Slab::new()),
        });
        // The readers' list becomes the single reader (ready or not: readers check `COMPLETE`
        // themselves, under the list's lock).
        inner.register_reader(&Waker::from(readers.clone()));
        SharedPromise {
            handle: std::sync::Arc::new(SharedHandle {
                inner,
                producer,
                readers,
            }),
            key: None,
        }
    }

    /// Ties the task that settles this promise to it: dropping the promise cancels the task.
    pub(crate) fn set_producer(&mut self, task: AbortHandle) {
        self.producer = Some(task);
    }

    /// Gives up reading: the caller takes over (a callback registered through the returned
    /// `Inner`), keeping the producer alive.
    pub(crate) fn into_reader(mut self) -> (Arc<Inner<T, E>>, Option<AbortHandle>) {
        let inner = self
            .inner
            .take()
            .expect("`Promise` used after it returned its outcome");
        (inner, self.producer.take())
    }
}

impl<T, E> Future for Promise<T, E> {
    type Output = Result<T, PromiseError<E>>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self
            .inner
            .as_ref()
            .expect("`Promise` polled after it returned its outcome");
        let out = ready!(inner.poll_take(cx));
        // Done reading: let the shared state go now. The producer has finished; dropping our
        // handle to it only releases a reference.
        self.inner = None;
        self.producer = None;
        Poll::Ready(out)
    }
}

impl<T, E> Drop for Promise<T, E> {
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else {
            return;
        };
        inner.close();
        if let Some(task) = self.producer.take() {
            task.cancel_with(spectrum_rt::cancel::CancelCause::handle_dropped());
        }
    }
}

impl<T, E> fmt::Debug for Promise<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Promise")
            .field("settled", &self.is_settled())
            .field(
                "created_at",
                &self
                    .inner
                    .as_ref()
                    .map(|i| format!("{}", i.abandoned.created_at)),
            )
            .finish()
    }
}

/// A cloneable promise: every clone reads (a clone of) the same outcome.
///
/// Made by [`Promise::shared`]. Awaiting needs `T: Clone` and `E: Clone` (wrap big values in an
/// `Arc`); a [`PromiseError::Panicked`] reaches every reader with its message but not its
/// original payload (see [`PromiseError`]'s `Clone`). Reading does not consume: a clone can be
/// awaited again and gives the same outcome. When the last clone is dropped, a producing task is
/// cancelled, as for [`Promise`].
///
/// # Cancel safety
///
/// Cancel-safe: dropping a reader part-way unregisters its waker and touches nothing else.
#[must_use = "a promise does nothing unless awaited"]
pub struct SharedPromise<T, E> {
    // A std `Arc`: its count is the number of readers, and loom needs no view of it.
    handle: std::sync::Arc<SharedHandle<T, E>>,
    /// This reader's entry in the readers' list.
    key: Option<usize>,
}

struct SharedHandle<T, E> {
    inner: Arc<Inner<T, E>>,
    producer: Option<AbortHandle>,
    readers: std::sync::Arc<SharedReaders>,
}

impl<T, E> Drop for SharedHandle<T, E> {
    fn drop(&mut self) {
        // Release: lets `Resolver::is_closed` see it. The outcome, if any, stays for `Inner`'s
        // drop: shared readers never move it.
        self.inner.state.fetch_or(CLOSED, Release);
        if let Some(task) = self.producer.take() {
            task.cancel_with(spectrum_rt::cancel::CancelCause::handle_dropped());
        }
    }
}

impl<T, E> SharedPromise<T, E> {
    /// True once the promise has settled.
    pub fn is_settled(&self) -> bool {
        self.handle.inner.is_settled()
    }

    /// A clone of the outcome, if the promise has settled.
    pub fn peek(&self) -> Option<Result<T, PromiseError<E>>>
    where
        T: Clone,
        E: Clone,
    {
        let handle = &*self.handle;
        let _readers = handle.readers.waiters.lock();
        // SAFETY: `is_settled` observed `COMPLETE` with Acquire; shared mode, under the readers'
        // lock.
        handle
            .inner
            .is_settled()
            .then(|| unsafe { handle.inner.read_shared() })
    }

    /// Number of live clones (readers) of this promise.
    pub fn reader_count(&self) -> usize {
        std::sync::Arc::strong_count(&self.handle)
    }
}

impl<T, E> Clone for SharedPromise<T, E> {
    fn clone(&self) -> Self {
        SharedPromise {
            handle: self.handle.clone(),
            key: None,
        }
    }
}

impl<T: Clone, E: Clone> Future for SharedPromise<T, E> {
    type Output = Result<T, PromiseError<E>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let coop = ready!(spectrum_rt::coop::poll_proceed(cx));
        let this = &mut *self;
        let handle = &*this.handle;
        let mut waiters = handle.readers.waiters.lock();
        if handle.inner.is_settled() {
            // SAFETY: `COMPLETE` observed with Acquire; shared mode, under the readers' lock.
            let out = unsafe { handle.inner.read_shared() };
            if let Some(key) = this.key.take() {
                waiters.remove(key);
            }
            drop(waiters);
            coop.made_progress();
            return Poll::Ready(out);
        }
        match this.key.and_then(|k| waiters.get_mut(k)) {
            Some(w) if w.will_wake(cx.waker()) => {}
            Some(w) => *w = cx.waker().clone(),
            None => this.key = Some(waiters.insert(cx.waker().clone())),
        }
        Poll::Pending
    }
}

impl<T, E> Drop for SharedPromise<T, E> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            let waker = self.handle.readers.waiters.lock().remove(key);
            drop(waker);
        }
    }
}

impl<T, E> fmt::Debug for SharedPromise<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedPromise")
            .field("settled", &self.is_settled())
            .field("readers", &self.reader_count())
            .finish()
    }
}

/// Settles a [`Promise`]: `resolve` with a value or `reject` with an error, once.
///
/// Settling consumes the resolver (as `oneshot::Sender::send`); clone it to hand the right to
/// settle to several parties: the first settlement wins, and later ones get their value back in
/// [`AlreadySettled`]. When the last clone is dropped with the promise still pending, the promise
/// settles as [`PromiseError::Abandoned`] — the promise never hangs because its producer forgot
/// it.
///
/// Settling never runs the reader's code inline, except a callback registered with
/// [`Inline`](crate::callback::Inline) (see [`on_complete_with`](Promise::on_complete_with)): it
/// stores the outcome and wakes the reader.
pub struct Resolver<T, E> {
    /// `None` once a consuming settle released this resolver's count itself.
    inner: Option<Arc<Inner<T, E>>>,
}

impl<T, E> Resolver<T, E> {
    fn inner(&self) -> &Inner<T, E> {
        self.inner
            .as_ref()
            .expect("a live resolver holds its promise")
    }

    /// The consuming settle: the last-resolver fast path, else claim like any settler.
    #[inline]
    fn settle_owned(mut self, outcome: Outcome<T, E>) -> Result<(), Outcome<T, E>> {
        let inner = self
            .inner
            .take()
            .expect("a live resolver holds its promise");
        match inner.settle_as_last(outcome) {
            // Our resolver count went with the settlement.
            Ok(()) => Ok(()),
            Err(outcome) => {
                let result = inner.settle(outcome);
                release(&inner);
                result
            }
        }
    }

    /// Settles through a shared reference (for `callback::Done`, which may be called again).
    pub(crate) fn settle_ref(&self, outcome: Outcome<T, E>) -> Result<(), Outcome<T, E>> {
        self.inner().settle(outcome)
    }

    /// Fulfils the promise with `value`.
    ///
    /// # Errors
    ///
    /// [`AlreadySettled`] with `value` if the promise had already settled.
    #[inline]
    pub fn resolve(self, value: T) -> Result<(), AlreadySettled<T>> {
        self.settle_owned(Ok(value)).map_err(|o| match o {
            Ok(v) => AlreadySettled(v),
            Err(_) => unreachable!("settle gives back what it was given"),
        })
    }

    /// Rejects the promise with `error`.
    ///
    /// # Errors
    ///
    /// [`AlreadySettled`] with `error` if the promise had already settled.
    pub fn reject(self, error: E) -> Result<(), AlreadySettled<E>> {
        self.settle_owned(Err(PromiseError::Rejected(error)))
            .map_err(|o| match o {
                Err(PromiseError::Rejected(e)) => AlreadySettled(e),
                _ => unreachable!("settle gives back what it was given"),
            })
    }

    /// Resolves with `Ok` or rejects with `Err`.
    ///
    /// # Errors
    ///
    /// [`AlreadySettled`] with `result` if the promise had already settled.
    pub fn settle(self, result: Result<T, E>) -> Result<(), AlreadySettled<Result<T, E>>> {
        self.settle_owned(result.map_err(PromiseError::Rejected))
            .map_err(|o| match o {
                Ok(v) => AlreadySettled(Ok(v)),
                Err(PromiseError::Rejected(e)) => AlreadySettled(Err(e)),
                Err(_) => unreachable!("settle gives back what it was given"),
            })
    }

    /// Settles with a full outcome, `PromiseError` included: for adapters that forward another
    /// promise's outcome (an abandonment or a panic upstream stays one).
    ///
    /// # Errors
    ///
    /// [`AlreadySettled`] with `outcome` if the promise had already settled.
    pub fn settle_outcome(
        self,
        outcome: Result<T, PromiseError<E>>,
    ) -> Result<(), AlreadySettled<Result<T, PromiseError<E>>>> {
        self.settle_owned(outcome).map_err(AlreadySettled)
    }

    /// True once the promise has settled.
    pub fn is_settled(&self) -> bool {
        self.inner().is_settled()
    }

    /// True once no reader remains (every `Promise` / `SharedPromise` for it was dropped
    /// unread): settling would change nothing, so a producer may stop early.
    pub fn is_closed(&self) -> bool {
        // Acquire: pairs with the `fetch_or(CLOSED)` of the last reader.
        self.inner().state.load(Acquire) & CLOSED != 0
    }
}

/// Gives up one resolver count; the last one abandons an unclaimed promise.
fn release<T, E>(inner: &Inner<T, E>) {
    // AcqRel: pairs with itself across resolvers, as `Arc`'s drop, so the drop that reaches zero
    // sees whether any of them claimed the promise.
    let prev = inner.state.fetch_sub(RESOLVER_ONE, AcqRel);
    if prev / RESOLVER_ONE == 1 && prev & CLAIMED == 0 {
        inner.abandon();
    }
}

impl<T, E> Clone for Resolver<T, E> {
    fn clone(&self) -> Self {
        let inner = self
            .inner
            .as_ref()
            .expect("a live resolver holds its promise");
        // Relaxed: as `Arc::clone`: our own live count keeps it above zero, and a new resolver
        // publishes nothing.
        let prev = inner.state.fetch_add(RESOLVER_ONE, Relaxed);
        // As `Arc`: a count this high can only come from leaked clones; stop before it wraps.
        if prev > usize::MAX / 2 {
            std::process::abort();
        }
        Resolver {
            inner: Some(inner.clone()),
        }
    }
}

impl<T, E> Drop for Resolver<T, E> {
    fn drop(&mut self) {
        if let Some(inner) = &self.inner {
            release(inner);
        }
    }
}

impl<T, E> fmt::Debug for Resolver<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("settled", &self.is_settled())
            .finish()
    }
}

/// A vector with stable keys and a free list: the shared readers' wakers.
struct Slab<T> {
    entries: Vec<Option<T>>,
    free: Vec<usize>,
}

impl<T> Slab<T> {
    const fn new() -> Self {
        Slab {
            entries: Vec::new(),
            free: Vec::new(),
        }
    }

    fn insert(&mut self, value: T) -> usize {
        match self.free.pop() {
            Some(k) => {
                self.entries[k] = Some(value);
                k
            }
            None => {
                self.entries.push(Some(value));
                self.entries.len() - 1
            }
        }
    }

    fn remove(&mut self, key: usize) -> Option<T> {
        let v = self.entries.get_mut(key)?.take();
        if v.is_some() {
            self.free.push(key);
        }
        v
    }

    fn get_mut(&mut self, key: usize) -> Option<&mut T> {
        self.entries.get_mut(key).and_then(Option::as_mut)
    }

    /// Takes every entry; keys handed out before are dead afterwards.
    fn drain(&mut self) -> Vec<T> {
        if self.entries.is_empty() {
            return Vec::new();
        }
        self.free.clear();
        self.entries.drain(..).flatten().collect()
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use spectrum_sync::thread;
    use std::sync::atomic::Ordering::SeqCst;

    /// A resolve on one thread and an await on another: the reader always gets the value.
    #[test]
    fn resolve_races_await() {
        spectrum_sync::model(|| {
            let (p, r) = Promise::<u32, ()>::with_resolver();
            let t = thread::spawn(move || r.resolve(7).unwrap());
            assert_eq!(loom::future::block_on(p), Ok(7));
            t.join().unwrap();
        });
    }

    /// Two resolvers, one resolving and one dropped: either the value or nothing else arrives,
    /// never an abandonment after a resolve, and never a hang.
    #[test]
    fn resolve_races_the_last_drop() {
        spectrum_sync::model(|| {
            let (p, r1) = Promise::<u32, ()>::with_resolver();
            let r2 = r1.clone();
            let t1 = thread::spawn(move || {
                let _ = r1.resolve(1);
            });
            let t2 = thread::spawn(move || drop(r2));
            let out = loom::future::block_on(p);
            assert_eq!(
                out,
                Ok(1),
                "the resolve happened, so it wins over the abandonment"
            );
            t1.join().unwrap();
            t2.join().unwrap();
        });
    }

    /// Every resolver dropped on other threads: the reader is woken with `Abandoned`.
    #[test]
    fn abandonment_wakes_the_reader() {
        spectrum_sync::model(|| {
            let (p, r1) = Promise::<u32, ()>::with_resolver();
            let r2 = r1.clone();
            let t1 = thread::spawn(move || drop(r1));
            let t2 = thread::spawn(move || drop(r2));
            assert!(loom::future::block_on(p).unwrap_err().is_abandoned());
            t1.join().unwrap();
            t2.join().unwrap();
        });
    }

    /// A callback reader registered while another thread resolves runs exactly once, with the
    /// value, and nothing is leaked (loom checks the `Arc`s: no reader/inner cycle remains).
    #[test]
    fn callback_reader_runs_once() {
        spectrum_sync::model(|| {
            let (p, r) = Promise::<u32, ()>::with_resolver();
            let calls = Arc::new(AtomicUsize::new(0));
            let t = thread::spawn(move || r.resolve(5).unwrap());
            let (inner, _) = p.into_reader();
            let seen = calls.clone();
            Inner::set_callback(
                &inner,
                Box::new(move |outcome| {
                    assert_eq!(outcome, Ok(5));
                    seen.fetch_add(1, SeqCst);
                }),
            );
            drop(inner);
            t.join().unwrap();
            assert_eq!(calls.load(SeqCst), 1);
        });
    }

    /// The reader goes away while the resolver settles: the value is dropped exactly once (loom
    /// reports a leaked `Arc`), and the resolver sees the promise closed or not, never a crash.
    #[test]
    fn reader_drop_races_resolve() {
        spectrum_sync::model(|| {
            let (p, r) = Promise::<Arc<()>, ()>::with_resolver();
            let value = Arc::new(());
            let sent = value.clone();
            let t = thread::spawn(move || {
                let _ = r.resolve(sent);
            });
            drop(p);
            t.join().unwrap();
            assert_eq!(
                Arc::strong_count(&value),
                1,
                "the promised value was dropped"
            );
        });
    }

    /// A reader polled, pending, then re-polled with a different waker while the resolver
    /// settles: the second registration is not lost.
    #[test]
    fn reregistration_races_resolve() {
        spectrum_sync::model(|| {
            let (mut p, r) = Promise::<u32, ()>::with_resolver();
            let t = thread::spawn(move || r.resolve(9).unwrap());
            let noop = Waker::noop();
            let first = Pin::new(&mut p).poll(&mut Context::from_waker(noop));
            if let Poll::Ready(v) = first {
                assert_eq!(v, Ok(9));
            } else {
                assert_eq!(loom::future::block_on(&mut p), Ok(9));
            }
            t.join().unwrap();
        });
    }

    /// Two shared readers on two threads and a resolver on a third: both see the value.
    #[test]
    fn shared_readers_both_see_the_value() {
        spectrum_sync::model(|| {
            let (p, r) = Promise::<u32, ()>::with_resolver();
            let a = p.shared();
            let b = a.clone();
            let t1 = thread::spawn(move || loom::future::block_on(b));
            let t2 = thread::spawn(move || r.resolve(3).unwrap());
            assert_eq!(loom::future::block_on(a), Ok(3));
            assert_eq!(t1.join().unwrap(), Ok(3));
            t2.join().unwrap();
        });
    }
}
