//! `Mutex`: an async mutex, fair (FIFO), awaited by tasks and blocked on with `.wait()` by
//! threads and fibers; a one-permit [`Sem`](super::sem).

use core::cell::UnsafeCell;
use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::pin::Pin;
use core::task::{Context, Poll};
use std::sync::Arc;

use super::diag::{here, order, LockDiag, Site};
use super::error::TryLockError;
use super::id::NoteKind;
use super::sem::{AcquireOp, Sem};

const KIND: &str = "Mutex";

/// A mutual-exclusion lock whose `lock()` is a future: a task that waits for it yields its
/// worker, a thread or a fiber blocks on the same future with `.wait()`.
///
/// Waiters get the lock in the order they asked for it (FIFO): an unlock hands the lock to the
/// oldest waiter, and newcomers queue behind it, so no waiter starves. An uncontended
/// `lock`/unlock is two compare-and-swaps, no lock and no allocation.
///
/// Use it when the critical section awaits (holds the lock across an `.await`) or when threads,
/// fibers and tasks share the data; for short critical sections that never await, a
/// `std::sync::Mutex` is cheaper still.
///
/// ```
/// use std::sync::Arc;
/// use spectrum_chan::sync::Mutex;
///
/// let rt = spectrum_rt::Runtime::new().unwrap();
/// let count = Arc::new(Mutex::new(0));
/// let tasks: Vec<_> = (0..8)
///     .map(|_| {
///         let count = count.clone();
///         rt.spawn(async move { *count.lock().await += 1 })
///     })
///     .collect();
/// // A thread blocks on the very future the tasks await.
/// *count.lock().wait() += 1;
/// rt.block_on(async {
///     for t in tasks {
///         t.await.unwrap();
///     }
/// });
/// assert_eq!(*count.lock().wait(), 9);
/// ```
///
/// # Guardrails
///
/// A task waiting in `lock()` notes `WaitOn::Lock` with the mutex's id for dumps, and the mutex
/// names its holder to the runtime's wait-for graph, so two tasks that deadlock on two mutexes
/// are reported as a `Diagnostic::Deadlock` (see `Builder::detect_deadlocks`). In debug builds
/// `lock()` checks lock order (`spectrum_rt::lockdep`): taking mutexes in opposite orders in two
/// places, or taking a mutex the task already holds, is reported with both call sites.
pub struct Mutex<T: ?Sized> {
    sem: Sem,
    diag: LockDiag,
    data: UnsafeCell<T>,
}

// SAFETY: the mutex owns a `T`; moving it moves the `T`.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: the semaphore hands out access to `data` to one guard at a time (its acquire/release
// orderings publish the holder's writes to the next), so sharing the mutex only moves `&mut T`
// between threads: `T: Send` is enough, as for `std::sync::Mutex`.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    crate::sync::cfn! {
        /// An unlocked mutex holding `value`. `const` (usable in a `static`), allocation-free;
        /// in debug builds it records where it was made, for lock-order reports.
        #[track_caller]
        pub fn new(value: T) -> Mutex<T> {
            Mutex {
                sem: Sem::new(1, NoteKind::Lock),
                diag: LockDiag::new(),
                data: UnsafeCell::new(value),
            }
        }
    }

    crate::sync::cfn! {
        /// [`new`](Self::new) under tokio's name for `const` contexts.
        #[track_caller]
        pub fn const_new(value: T) -> Mutex<T> {
            Mutex::new(value)
        }
    }

    /// The value, consuming the mutex.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Waits for the lock: resolves to a guard that unlocks when dropped.
    ///
    /// Threads and fibers block on it with `.wait()` ([`Lock::wait`]).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, and fair to cancel: dropping the future gives up its place in the queue with
    /// no other effect. If the lock had just been handed to it (a waker in flight), the drop
    /// hands the lock on to the next waiter: no stuck waiter, no lost unlock.
    #[track_caller]
    pub fn lock(&self) -> Lock<'_, T> {
        Lock {
            mutex: self,
            op: AcquireOp::new(),
            at: here(),
        }
    }

    /// The lock if it is free and nobody waits for it (a try never overtakes a waiter).
    ///
    /// # Errors
    ///
    /// [`TryLockError`] if the mutex is locked or waited for.
    #[track_caller]
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, TryLockError> {
        if self.sem.try_acquire_fast(1) {
            Ok(self.locked(here()))
        } else {
            Err(TryLockError(()))
        }
    }

    /// [`lock`](Self::lock) for an `Arc<Mutex<T>>`: the guard keeps the mutex alive and has no
    /// lifetime (it can move into a spawned task).
    ///
    /// # Cancel safety
    ///
    /// As for [`lock`](Self::lock).
    #[track_caller]
    pub fn lock_owned(self: Arc<Self>) -> LockOwned<T> {
        LockOwned {
            mutex: Some(self),
            op: AcquireOp::new(),
            at: here(),
        }
    }

    /// [`try_lock`](Self::try_lock) for an `Arc<Mutex<T>>`.
    ///
    /// # Errors
    ///
    /// [`TryLockError`] if the mutex is locked or waited for.
    #[track_caller]
    pub fn try_lock_owned(self: Arc<Self>) -> Result<OwnedMutexGuard<T>, TryLockError> {
        if self.sem.try_acquire_fast(1) {
            self.on_locked(here());
            Ok(OwnedMutexGuard {
                mutex: self,
                _marker: PhantomData,
            })
        } else {
            Err(TryLockError(()))
        }
    }

    /// Mutable access without locking: `&mut self` proves nobody else holds the lock.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// Bookkeeping once held: the wait-for graph's holder, lockdep's held list.
    #[inline]
    fn on_locked(&self, at: Site) {
        self.diag.set_holder();
        order::acquired(&self.diag, self.sem.id(), KIND, at);
    }

    #[inline]
    fn locked(&self, at: Site) -> MutexGuard<'_, T> {
        self.on_locked(at);
        MutexGuard {
            mutex: self,
            _marker: PhantomData,
        }
    }

    /// Undoes `on_locked` and returns the permit (the next waiter, FIFO, gets the lock).
    #[inline]
    fn unlock(&self) {
        unlock(&self.sem, &self.diag);
    }

    /// The first poll of a `lock()`, and its `Pending`s (lockdep, wait-for graph).
    #[inline]
    fn poll_lock(&self, op: &AcquireOp, at: Site, cx: &mut Context<'_>) -> Poll<()> {
        if op.is_idle() {
            order::before_acquire(&self.diag, self.sem.id(), KIND, at);
        }
        match self.sem.poll_acquire(op, 1, cx) {
            Poll::Ready(r) => {
                debug_assert!(r.is_ok(), "a mutex never closes");
                self.on_locked(at);
                Poll::Ready(())
            }
            Poll::Pending => {
                self.diag.on_wait(self.sem.id().get());
                Poll::Pending
            }
        }
    }

    /// `.wait()`'s first step: the lock-free attempt, charged to the coop budget as a poll is.
    #[cfg(not(loom))]
    #[inline]
    fn lock_now(&self, op: &AcquireOp, at: Site) -> bool {
        let mut cx = Context::from_waker(core::task::Waker::noop());
        let Poll::Ready(coop) = spectrum_rt::coop::poll_proceed(&mut cx) else {
            return false;
        };
        if !self.sem.try_acquire_fast(1) {
            return false;
        }
        coop.made_progress();
        order::before_acquire(&self.diag, self.sem.id(), KIND, at);
        op.set_done();
        self.on_locked(at);
        true
    }
}

/// [`Mutex::unlock`] from the parts a mapped guard keeps.
#[inline]
fn unlock(sem: &Sem, diag: &LockDiag) {
    diag.clear_holder();
    order::released(sem.id());
    sem.release(1);
}

impl<T: Default> Default for Mutex<T> {
    #[track_caller]
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    #[track_caller]
    fn from(value: T) -> Mutex<T> {
        Mutex::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        d.field("id", self.sem.id());
        if self.sem.try_acquire_fast(1) {
            // SAFETY: we hold the permit.
            d.field("data", &unsafe { &*self.data.get() });
            self.sem.release(1);
        } else {
            d.field("data", &format_args!("<locked>"));
        }
        d.finish()
    }
}

/// The future of [`Mutex::lock`].
#[must_use = "futures do nothing unless awaited (or `.wait()`ed)"]
pub struct Lock<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    op: AcquireOp,
    at: Site,
}

impl<'a, T: ?Sized> Future for Lock<'a, T> {
    type Output = MutexGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<MutexGuard<'a, T>> {
        let this = self.into_ref().get_ref();
        let m = this.mutex;
        core::task::ready!(m.poll_lock(&this.op, this.at, cx));
        Poll::Ready(MutexGuard {
            mutex: m,
            _marker: PhantomData,
        })
    }
}

#[cfg(not(loom))]
impl<'a, T: ?Sized> Lock<'a, T> {
    /// Blocks the calling thread (or suspends the calling fiber) until the lock is held:
    /// [`spectrum_rt::Wait::wait`], with the lock-free attempt made first.
    #[track_caller]
    pub fn wait(self) -> MutexGuard<'a, T> {
        if self.mutex.lock_now(&self.op, self.at) {
            return MutexGuard {
                mutex: self.mutex,
                _marker: PhantomData,
            };
        }
        spectrum_rt::Wait::wait(self)
    }
}

impl<T: ?Sized> Drop for Lock<'_, T> {
    fn drop(&mut self) {
        self.mutex.sem.cancel(&self.op);
    }
}

impl<T: ?Sized> fmt::Debug for Lock<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("mutex", self.mutex.sem.id())
            .field("state", &self.op)
            .finish()
    }
}

/// The future of [`Mutex::lock_owned`].
#[must_use = "futures do nothing unless awaited (or `.wait()`ed)"]
pub struct LockOwned<T: ?Sized> {
    /// `None` once the guard took it.
    mutex: Option<Arc<Mutex<T>>>,
    op: AcquireOp,
    at: Site,
}

impl<T: ?Sized> Future for LockOwned<T> {
    type Output = OwnedMutexGuard<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<OwnedMutexGuard<T>> {
        // SAFETY: only `mutex` is moved out below; `op` (whose node may be linked) stays put.
        let this = unsafe { self.get_unchecked_mut() };
        let m = this
            .mutex
            .as_ref()
            .expect("LockOwned polled after it completed");
        core::task::ready!(m.poll_lock(&this.op, this.at, cx));
        let mutex = this.mutex.take().expect("checked above");
        Poll::Ready(OwnedMutexGuard {
            mutex,
            _marker: PhantomData,
        })
    }
}

#[cfg(not(loom))]
impl<T: ?Sized> LockOwned<T> {
    /// Blocks the calling thread (or suspends the calling fiber) until the lock is held (see
    /// [`Lock::wait`]).
    #[track_caller]
    pub fn wait(mut self) -> OwnedMutexGuard<T> {
        let m = self.mutex.as_ref().expect("not polled yet");
        if m.lock_now(&self.op, self.at) {
            let mutex = self.mutex.take().expect("checked above");
            return OwnedMutexGuard {
                mutex,
                _marker: PhantomData,
            };
        }
        spectrum_rt::Wait::wait(self)
    }
}

impl<T: ?Sized> Drop for LockOwned<T> {
    fn drop(&mut self) {
        if let Some(m) = &self.mutex {
            m.sem.cancel(&self.op);
        }
    }
}

impl<T: ?Sized> fmt::Debug for LockOwned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockOwned")
            .field("state", &self.op)
            .finish_non_exhaustive()
    }
}

/// Access to the data of a locked [`Mutex`]; unlocks when dropped.
#[must_use = "dropping the guard unlocks the mutex at once"]
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    /// `&mut T`'s auto traits: `Sync` only if `T: Sync`.
    _marker: PhantomData<&'a mut T>,
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// A guard for a part of the locked data (a field, an element); the mutex stays locked
    /// until the mapped guard is dropped. If `f` panics, the lock is released while unwinding.
    pub fn map<U: ?Sized, F>(mut this: Self, f: F) -> MappedMutexGuard<'a, U>
    where
        F: FnOnce(&mut T) -> &mut U,
    {
        let data: *mut U = f(&mut *this);
        let mutex = this.mutex;
        core::mem::forget(this);
        MappedMutexGuard {
            sem: &mutex.sem,
            diag: &mutex.diag,
            data,
            _marker: PhantomData,
        }
    }

    /// As [`map`](Self::map) if `f` returns `Some`; otherwise the guard comes back unchanged.
    ///
    /// # Errors
    ///
    /// The original guard, if `f` returned `None`.
    pub fn try_map<U: ?Sized, F>(mut this: Self, f: F) -> Result<MappedMutexGuard<'a, U>, Self>
    where
        F: FnOnce(&mut T) -> Option<&mut U>,
    {
        let Some(data) = f(&mut *this).map(|d| d as *mut U) else {
            return Err(this);
        };
        let mutex = this.mutex;
        core::mem::forget(this);
        Ok(MappedMutexGuard {
            sem: &mutex.sem,
            diag: &mutex.diag,
            data,
            _marker: PhantomData,
        })
    }

    /// The mutex this guard holds.
    pub fn mutex(this: &Self) -> &'a Mutex<T> {
        this.mutex
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the mutex's only permit.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the only permit, and `&mut self` proves it is not aliased.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.mutex.unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// [`MutexGuard`] that owns an `Arc` of its mutex ([`Mutex::lock_owned`]).
#[must_use = "dropping the guard unlocks the mutex at once"]
pub struct OwnedMutexGuard<T: ?Sized> {
    mutex: Arc<Mutex<T>>,
    /// `Sync` only if `T: Sync` (as `MutexGuard`).
    _marker: PhantomData<T>,
}

impl<T: ?Sized> OwnedMutexGuard<T> {
    /// The mutex this guard holds.
    pub fn mutex(this: &Self) -> &Arc<Mutex<T>> {
        &this.mutex
    }
}

impl<T: ?Sized> Deref for OwnedMutexGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the mutex's only permit.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T: ?Sized> DerefMut for OwnedMutexGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the only permit, and `&mut self` proves it is not aliased.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T: ?Sized> Drop for OwnedMutexGuard<T> {
    fn drop(&mut self) {
        self.mutex.unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for OwnedMutexGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for OwnedMutexGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// A locked part of a [`Mutex`]'s data ([`MutexGuard::map`]); unlocks the mutex when dropped.
#[must_use = "dropping the guard unlocks the mutex at once"]
pub struct MappedMutexGuard<'a, T: ?Sized> {
    sem: &'a Sem,
    diag: &'a LockDiag,
    /// Points into the mutex's data, which the held permit makes ours.
    data: *mut T,
    _marker: PhantomData<&'a mut T>,
}

// SAFETY: the guard is a `&mut T` into the locked data plus references to the mutex's `Sync`
// internals; sending it sends the `&mut T` (`T: Send`), as for `MutexGuard`.
unsafe impl<T: ?Sized + Send> Send for MappedMutexGuard<'_, T> {}
// SAFETY: sharing the guard shares `&T` only (`T: Sync`).
unsafe impl<T: ?Sized + Sync> Sync for MappedMutexGuard<'_, T> {}

impl<'a, T: ?Sized> MappedMutexGuard<'a, T> {
    /// Maps further (as [`MutexGuard::map`]).
    pub fn map<U: ?Sized, F>(mut this: Self, f: F) -> MappedMutexGuard<'a, U>
    where
        F: FnOnce(&mut T) -> &mut U,
    {
        let data: *mut U = f(&mut *this);
        let (sem, diag) = (this.sem, this.diag);
        core::mem::forget(this);
        MappedMutexGuard {
            sem,
            diag,
            data,
            _marker: PhantomData,
        }
    }
}

impl<T: ?Sized> Deref for MappedMutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: `data` points into the locked data and the guard holds the only permit.
        unsafe { &*self.data }
    }
}

impl<T: ?Sized> DerefMut for MappedMutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` proves it is not aliased.
        unsafe { &mut *self.data }
    }
}

impl<T: ?Sized> Drop for MappedMutexGuard<'_, T> {
    fn drop(&mut self) {
        unlock(self.sem, self.diag);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MappedMutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MappedMutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
