//! `OnceCell`: a value set once, by whichever caller initializes it first; the others wait for
//! it (tokio's `OnceCell`, on a one-permit [`Semaphore`]).
//!
//! # Design
//!
//! - `value_set` says the value is written (Release store after the write, Acquire loads before
//!   reading it).
//! - `semaphore` has one permit: an initializer holds it while it runs, so initializers run one
//!   at a time, in FIFO order. Setting the value closes the semaphore and forgets the permit, so
//!   every waiter (and every later acquisition) fails with "closed", which means "the value is
//!   there".
//! - An initializer that is cancelled, panics or (`get_or_try_init`) fails drops its permit: the
//!   next waiter in line tries its own initializer. Nothing is poisoned, nothing wedges.
//!
//! Memory: the setter writes the value, stores `value_set` (Release), then closes the semaphore.
//! A waiter learns of the close through the semaphore's signal or `state` (Acquire), which comes
//! after that store, so it sees the value.

use core::fmt;
use core::future::Future;
use core::mem::MaybeUninit;

use spectrum_sync::atomic::{AtomicBool, Ordering::*};
use spectrum_sync::UnsafeCell;

use super::error::{SetError, TryAcquireError};
use super::semaphore::{Semaphore, SemaphorePermit};

/// A cell written at most once, whose initialization is awaitable: concurrent
/// [`get_or_init`](Self::get_or_init) calls run one initializer at a time, and the first that
/// finishes sets the value for everyone.
///
/// If an initializer is cancelled (its future dropped), panics, or fails
/// ([`get_or_try_init`](Self::get_or_try_init)), the cell stays empty and the next caller in line
/// runs its own initializer.
///
/// ```
/// use spectrum_chan::sync::OnceCell;
/// use spectrum_rt::Wait;
///
/// static CONFIG: OnceCell<String> = OnceCell::const_new();
///
/// let rt = spectrum_rt::Runtime::new().unwrap();
/// let a = rt.spawn(async { CONFIG.get_or_init(|| async { "loaded".to_string() }).await.len() });
/// // A thread waits on the same initialization with `.wait()`.
/// let v = CONFIG.get_or_init(|| async { "loaded".to_string() }).wait();
/// assert_eq!(v, "loaded");
/// assert_eq!(rt.block_on(a).unwrap(), 6);
/// assert_eq!(CONFIG.get().map(String::as_str), Some("loaded"));
/// ```
///
/// A task waiting for another's initializer notes `WaitOn::Signal` with the cell's id.
pub struct OnceCell<T> {
    value_set: AtomicBool,
    value: UnsafeCell<MaybeUninit<T>>,
    semaphore: Semaphore,
}

// SAFETY: the cell owns its `T`.
unsafe impl<T: Send> Send for OnceCell<T> {}
// SAFETY: the value is written once, by the holder of the only permit, before `value_set`
// publishes it (Release/Acquire); afterwards it is only read through `&T` (`T: Sync`), and it may
// have been made on another thread (`T: Send`).
unsafe impl<T: Send + Sync> Sync for OnceCell<T> {}

impl<T> OnceCell<T> {
    crate::sync::cfn! {
        /// An empty cell. `const` (usable in a `static`), allocation-free.
        pub fn new() -> OnceCell<T> {
            OnceCell {
                value_set: AtomicBool::new(false),
                value: UnsafeCell::new(MaybeUninit::uninit()),
                semaphore: Semaphore::for_once_cell(),
            }
        }
    }

    crate::sync::cfn! {
        /// [`new`](Self::new) under tokio's name for `const` contexts.
        pub fn const_new() -> OnceCell<T> {
            OnceCell::new()
        }
    }

    crate::sync::cfn! {
        /// A cell that already holds `value` (`const`).
        pub fn const_new_with(value: T) -> OnceCell<T> {
            OnceCell {
                value_set: AtomicBool::new(true),
                value: UnsafeCell::new(MaybeUninit::new(value)),
                semaphore: Semaphore::for_once_cell_set(),
            }
        }
    }

    /// A cell holding `value` if it is `Some`, empty otherwise.
    pub fn new_with(value: Option<T>) -> OnceCell<T> {
        match value {
            Some(v) => OnceCell::const_new_with(v),
            None => OnceCell::new(),
        }
    }

    /// True once the value is set.
    pub fn initialized(&self) -> bool {
        // Acquire: pairs with the Release store in `set_value`, so a caller that sees true may
        // read the value.
        self.value_set.load(Acquire)
    }

    /// The value, if it is set (never waits).
    pub fn get(&self) -> Option<&T> {
        // SAFETY: `initialized` saw the value published.
        self.initialized().then(|| unsafe { self.get_unchecked() })
    }

    /// Mutable access to the value, if it is set: `&mut self` proves nobody else uses the cell.
    pub fn get_mut(&mut self) -> Option<&mut T> {
        if self.initialized() {
            // SAFETY: set, and `&mut self` is exclusive.
            Some(self.value.with_mut(|p| unsafe { (*p).assume_init_mut() }))
        } else {
            None
        }
    }

    /// # Safety
    ///
    /// The value is set, and the caller saw `value_set == true` with Acquire (or holds
    /// `&mut self`).
    unsafe fn get_unchecked(&self) -> &T {
        // SAFETY: per the caller, the value was written and published; it is never written again
        // while shared.
        self.value.with(|p| unsafe { (*p).assume_init_ref() })
    }

    /// Writes the value while holding the only permit, publishes it, and ends initialization
    /// for good (closes the semaphore, forgets the permit).
    fn set_value(&self, value: T, permit: SemaphorePermit<'_>) -> &T {
        // SAFETY: we hold the only permit and the value is not set (it would have closed the
        // semaphore): nobody else reads or writes the slot.
        self.value.with_mut(|p| unsafe { (*p).write(value) });
        // Release: publishes the value (pairs with the Acquire load in `initialized`).
        self.value_set.store(true, Release);
        self.semaphore.close();
        permit.forget();
        // SAFETY: just set.
        unsafe { self.get_unchecked() }
    }

    /// Sets the value if nobody has and nobody is initializing it right now.
    ///
    /// # Errors
    ///
    /// [`SetError::AlreadyInitializedError`] if the value is set,
    /// [`SetError::InitializingError`] if an initializer is running; both give `value` back.
    pub fn set(&self, value: T) -> Result<(), SetError<T>> {
        if self.initialized() {
            return Err(SetError::AlreadyInitializedError(value));
        }
        match self.semaphore.try_acquire() {
            Ok(permit) => {
                self.set_value(value, permit);
                Ok(())
            }
            Err(TryAcquireError::NoPermits) => Err(SetError::InitializingError(value)),
            Err(TryAcquireError::Closed) => Err(SetError::AlreadyInitializedError(value)),
        }
    }

    /// The value, running `f` to make it if the cell is empty. Concurrent callers queue (FIFO)
    /// and run their initializers one at a time until one of them finishes; the others get its
    /// value. Threads and fibers wait on the same future with `.wait()` (`spectrum_rt::Wait`).
    ///
    /// # Panics
    ///
    /// If `f` panics, the panic propagates to this caller; the cell stays empty and the next
    /// caller in line runs its initializer.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future while it waits gives up its place; dropping it while its
    /// initializer runs drops the initializer and lets the next caller try. The value is set only
    /// when an initializer completes.
    pub async fn get_or_init<F, Fut>(&self, f: F) -> &T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        if let Some(v) = self.get() {
            return v;
        }
        match self.semaphore.acquire().await {
            Ok(permit) => {
                debug_assert!(!self.initialized());
                // A panic or a cancellation here drops `permit`: the next caller tries.
                let value = f().await;
                self.set_value(value, permit)
            }
            Err(_) => {
                debug_assert!(self.initialized());
                // SAFETY: the semaphore closes only after the value is published, and its close
                // reached us with Acquire (module docs: memory).
                unsafe { self.get_unchecked() }
            }
        }
    }

    /// As [`get_or_init`](Self::get_or_init), with an initializer that may fail: an `Err` is
    /// returned to this caller, the cell stays empty and the next caller in line tries.
    ///
    /// # Errors
    ///
    /// The error of `f`, if this caller's initializer ran and failed.
    ///
    /// # Panics
    ///
    /// As for [`get_or_init`](Self::get_or_init).
    ///
    /// # Cancel safety
    ///
    /// As for [`get_or_init`](Self::get_or_init).
    pub async fn get_or_try_init<E, F, Fut>(&self, f: F) -> Result<&T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        if let Some(v) = self.get() {
            return Ok(v);
        }
        match self.semaphore.acquire().await {
            Ok(permit) => {
                debug_assert!(!self.initialized());
                // An error, a panic or a cancellation drops `permit`: the next caller tries.
                let value = f().await?;
                Ok(self.set_value(value, permit))
            }
            Err(_) => {
                debug_assert!(self.initialized());
                // SAFETY: as in `get_or_init`.
                Ok(unsafe { self.get_unchecked() })
            }
        }
    }

    /// The value, consuming the cell.
    pub fn into_inner(mut self) -> Option<T> {
        self.take()
    }

    /// Takes the value out, leaving the cell empty (and ready to be initialized again).
    pub fn take(&mut self) -> Option<T> {
        if !self.initialized() {
            return None;
        }
        // Relaxed: `&mut self` is exclusive; the flag only tells `Drop` below not to drop the
        // value we move out.
        self.value_set.store(false, Relaxed);
        // SAFETY: the value is set and `&mut self` is exclusive; the flag is cleared, so it is
        // moved out exactly once.
        let v = self.value.with(|p| unsafe { p.read().assume_init() });
        // A fresh, open semaphore (the old one was closed when the value was set).
        *self = OnceCell::new();
        Some(v)
    }
}

impl<T> Drop for OnceCell<T> {
    fn drop(&mut self) {
        if self.initialized() {
            // SAFETY: set, and `&mut self` is exclusive; dropped once (this is `drop`).
            self.value.with_mut(|p| unsafe { (*p).assume_init_drop() });
        }
    }
}

impl<T> Default for OnceCell<T> {
    fn default() -> OnceCell<T> {
        OnceCell::new()
    }
}

impl<T> From<T> for OnceCell<T> {
    fn from(value: T) -> OnceCell<T> {
        OnceCell::const_new_with(value)
    }
}

impl<T: Clone> Clone for OnceCell<T> {
    fn clone(&self) -> OnceCell<T> {
        OnceCell::new_with(self.get().cloned())
    }
}

impl<T: PartialEq> PartialEq for OnceCell<T> {
    fn eq(&self, other: &OnceCell<T>) -> bool {
        self.get() == other.get()
    }
}

impl<T: Eq> Eq for OnceCell<T> {}

impl<T: fmt::Debug> fmt::Debug for OnceCell<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnceCell")
            .field("id", self.semaphore.sem().id())
            .field("value", &self.get())
            .finish()
    }
}
