//! `RwLock`: an async reader-writer lock, fair (FIFO) so writers never starve; a
//! [`Sem`](super::sem) of `max_readers` permits, a read taking one and a write all of them.

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

const READ: &str = "RwLock (read)";
const WRITE: &str = "RwLock (write)";

/// The most readers an [`RwLock`] admits at once, and the default (tokio's bound:
/// `u32::MAX >> 3`).
pub const MAX_READS: u32 = u32::MAX >> 3;

/// A reader-writer lock whose `read()` and `write()` are futures: many readers or one writer.
///
/// Fair: requests are served in the order they were made (FIFO). A writer waiting at the head of
/// the queue stops later readers from joining the readers in, so writers never starve; readers
/// queued behind a writer enter together once it is done. At most `max_readers` readers hold the
/// lock at once ([`MAX_READS`] unless [`with_max_readers`](Self::with_max_readers) says
/// otherwise).
///
/// Threads and fibers block on the same futures with `.wait()`.
///
/// ```
/// use spectrum_chan::sync::RwLock;
///
/// let lock = RwLock::new(5);
/// {
///     let r1 = lock.read().wait();
///     let r2 = lock.read().wait(); // many readers at once
///     assert_eq!(*r1 + *r2, 10);
///     assert!(lock.try_write().is_err()); // not while they read
/// }
/// *lock.write().wait() += 1;
/// assert_eq!(*lock.read().wait(), 6);
/// ```
///
/// Because the lock is fair, a task that already holds a read guard and asks for a second one
/// can deadlock against a writer that queued in between; lock-order checking (debug builds)
/// reports that as "lock taken twice". Guardrails otherwise as for [`Mutex`](super::Mutex):
/// wait notes, the writer (and, once the lock has been contended, each reader) named to the
/// wait-for graph.
pub struct RwLock<T: ?Sized> {
    max_readers: u32,
    sem: Sem,
    diag: LockDiag,
    data: UnsafeCell<T>,
}

// SAFETY: the lock owns a `T`; moving it moves the `T`.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: readers share `&T` across threads (`T: Sync`), a writer gets `&mut T` (`T: Send`); the
// semaphore's orderings publish each holder's writes to the next.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

impl<T> RwLock<T> {
    crate::sync::cfn! {
        /// An unlocked lock holding `value`, admitting up to [`MAX_READS`] readers at once.
        /// `const`, allocation-free.
        #[track_caller]
        pub fn new(value: T) -> RwLock<T> {
            RwLock {
                max_readers: MAX_READS,
                sem: Sem::new(MAX_READS as usize, NoteKind::Lock),
                diag: LockDiag::new(),
                data: UnsafeCell::new(value),
            }
        }
    }

    crate::sync::cfn! {
        /// [`new`](Self::new) under tokio's name for `const` contexts.
        #[track_caller]
        pub fn const_new(value: T) -> RwLock<T> {
            RwLock::new(value)
        }
    }

    crate::sync::cfn! {
        /// [`with_max_readers`](Self::with_max_readers) for `const` contexts.
        ///
        /// # Panics
        ///
        /// As [`with_max_readers`](Self::with_max_readers) (at compile time in a `const`).
        #[track_caller]
        pub fn const_with_max_readers(value: T, max_reads: u32) -> RwLock<T> {
            assert!(
                max_reads >= 1 && max_reads <= MAX_READS,
                "RwLock: max_reads must be between 1 and MAX_READS"
            );
            RwLock {
                max_readers: max_reads,
                sem: Sem::new(max_reads as usize, NoteKind::Lock),
                diag: LockDiag::new(),
                data: UnsafeCell::new(value),
            }
        }
    }

    /// An unlocked lock admitting at most `max_reads` readers at once.
    ///
    /// # Panics
    ///
    /// If `max_reads` is 0 (no reader could ever enter) or above [`MAX_READS`].
    #[track_caller]
    pub fn with_max_readers(value: T, max_reads: u32) -> RwLock<T> {
        assert!(
            (1..=MAX_READS).contains(&max_reads),
            "RwLock::with_max_readers: max_reads must be between 1 and MAX_READS ({MAX_READS}), \
             got {max_reads}"
        );
        RwLock {
            max_readers: max_reads,
            sem: Sem::new(max_reads as usize, NoteKind::Lock),
            diag: LockDiag::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// The value, consuming the lock.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Waits for shared access: resolves to a guard that releases it when dropped.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future gives up its place in the queue with no other effect; if
    /// the read access had just been granted, it is released at once (the writer or readers
    /// behind it go on).
    #[track_caller]
    pub fn read(&self) -> Read<'_, T> {
        Read {
            lock: self,
            op: AcquireOp::new(),
            at: here(),
        }
    }

    /// Waits for exclusive access: resolves to a guard that releases it when dropped.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`read`](Self::read): a write waiting at the head of the queue holds the
    /// read permits released so far, and dropping it passes them on to the waiters behind it.
    #[track_caller]
    pub fn write(&self) -> Write<'_, T> {
        Write {
            lock: self,
            op: AcquireOp::new(),
            at: here(),
        }
    }

    /// [`read`](Self::read) for an `Arc<RwLock<T>>`: the guard has no lifetime.
    ///
    /// # Cancel safety
    ///
    /// As for [`read`](Self::read).
    #[track_caller]
    pub fn read_owned(self: Arc<Self>) -> ReadOwned<T> {
        ReadOwned {
            lock: Some(self),
            op: AcquireOp::new(),
            at: here(),
        }
    }

    /// [`write`](Self::write) for an `Arc<RwLock<T>>`: the guard has no lifetime.
    ///
    /// # Cancel safety
    ///
    /// As for [`write`](Self::write).
    #[track_caller]
    pub fn write_owned(self: Arc<Self>) -> WriteOwned<T> {
        WriteOwned {
            lock: Some(self),
            op: AcquireOp::new(),
            at: here(),
        }
    }

    /// Shared access if it is free now and no writer (or anyone) waits.
    ///
    /// # Errors
    ///
    /// [`TryLockError`] if a writer holds the lock, anyone waits, or `max_readers` read.
    #[track_caller]
    pub fn try_read(&self) -> Result<RwLockReadGuard<'_, T>, TryLockError> {
        if !self.sem.try_acquire_fast(1) {
            return Err(TryLockError(()));
        }
        Ok(RwLockReadGuard {
            reader: self.on_read(here()),
            lock: self,
            _marker: PhantomData,
        })
    }

    /// Exclusive access if the lock is free now and nobody waits.
    ///
    /// # Errors
    ///
    /// [`TryLockError`] if the lock is held or waited for.
    #[track_caller]
    pub fn try_write(&self) -> Result<RwLockWriteGuard<'_, T>, TryLockError> {
        if !self.sem.try_acquire_fast(self.max()) {
            return Err(TryLockError(()));
        }
        self.on_write(here());
        Ok(RwLockWriteGuard {
            lock: self,
            _marker: PhantomData,
        })
    }

    /// [`try_read`](Self::try_read) for an `Arc<RwLock<T>>`.
    ///
    /// # Errors
    ///
    /// As for [`try_read`](Self::try_read).
    #[track_caller]
    pub fn try_read_owned(self: Arc<Self>) -> Result<OwnedRwLockReadGuard<T>, TryLockError> {
        if !self.sem.try_acquire_fast(1) {
            return Err(TryLockError(()));
        }
        Ok(OwnedRwLockReadGuard {
            reader: self.on_read(here()),
            lock: self,
            _marker: PhantomData,
        })
    }

    /// [`try_write`](Self::try_write) for an `Arc<RwLock<T>>`.
    ///
    /// # Errors
    ///
    /// As for [`try_write`](Self::try_write).
    #[track_caller]
    pub fn try_write_owned(self: Arc<Self>) -> Result<OwnedRwLockWriteGuard<T>, TryLockError> {
        if !self.sem.try_acquire_fast(self.max()) {
            return Err(TryLockError(()));
        }
        self.on_write(here());
        Ok(OwnedRwLockWriteGuard {
            lock: self,
            _marker: PhantomData,
        })
    }

    /// Mutable access without locking: `&mut self` proves nobody else holds the lock.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// How many readers may hold the lock at once.
    pub fn max_readers(&self) -> u32 {
        self.max_readers
    }

    #[inline]
    fn max(&self) -> usize {
        self.max_readers as usize
    }

    fn permits(&self, write: bool) -> usize {
        if write {
            self.max()
        } else {
            1
        }
    }

    /// Bookkeeping once read: lockdep, and the reader for the wait-for graph (if tracked).
    #[inline]
    fn on_read(&self, at: Site) -> u64 {
        order::acquired(&self.diag, self.sem.id(), READ, at);
        self.diag.add_reader()
    }

    /// Bookkeeping once written.
    #[inline]
    fn on_write(&self, at: Site) {
        self.diag.set_holder();
        order::acquired(&self.diag, self.sem.id(), WRITE, at);
    }

    #[inline]
    fn read_unlock(&self, reader: u64) {
        self.diag.remove_reader(reader);
        order::released(self.sem.id());
        self.sem.release(1);
    }

    #[inline]
    fn write_unlock(&self) {
        self.diag.clear_holder();
        order::released(self.sem.id());
        self.sem.release(self.max());
    }

    /// Write guard to read guard: keep one permit, return the others (readers queued behind
    /// go on; a writer waits for us).
    fn downgrade(&self) -> u64 {
        self.diag.clear_holder();
        let reader = self.diag.add_reader();
        self.sem.release(self.max() - 1);
        reader
    }

    /// Polls a `read()` / `write()` (lockdep at the first poll, the wait-for graph on Pending).
    #[inline]
    fn poll_mode(&self, op: &AcquireOp, write: bool, at: Site, cx: &mut Context<'_>) -> Poll<()> {
        let kind = if write { WRITE } else { READ };
        if op.is_idle() {
            order::before_acquire(&self.diag, self.sem.id(), kind, at);
        }
        match self.sem.poll_acquire(op, self.permits(write), cx) {
            Poll::Ready(r) => {
                debug_assert!(r.is_ok(), "an RwLock never closes");
                Poll::Ready(())
            }
            Poll::Pending => {
                self.diag.on_wait(self.sem.id().get());
                Poll::Pending
            }
        }
    }

    /// `.wait()`'s lock-free first step (charged to the coop budget).
    #[cfg(not(loom))]
    #[inline]
    fn now(&self, op: &AcquireOp, write: bool, at: Site) -> bool {
        let mut cx = Context::from_waker(core::task::Waker::noop());
        let Poll::Ready(coop) = spectrum_rt::coop::poll_proceed(&mut cx) else {
            return false;
        };
        if !self.sem.try_acquire_fast(self.permits(write)) {
            return false;
        }
        coop.made_progress();
        let kind = if write { WRITE } else { READ };
        order::before_acquire(&self.diag, self.sem.id(), kind, at);
        op.set_done();
        true
    }
}

impl<T: Default> Default for RwLock<T> {
    #[track_caller]
    fn default() -> RwLock<T> {
        RwLock::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    #[track_caller]
    fn from(value: T) -> RwLock<T> {
        RwLock::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        d.field("id", self.sem.id());
        d.field("max_readers", &self.max_readers);
        if self.sem.try_acquire_fast(1) {
            // SAFETY: we hold a read permit.
            d.field("data", &unsafe { &*self.data.get() });
            self.sem.release(1);
        } else {
            d.field("data", &format_args!("<locked>"));
        }
        d.finish()
    }
}

macro_rules! lock_future {
    (
        $(#[$doc:meta])* $name:ident<$($lt:lifetime,)? T>, handle: $handle:ty,
        write: $write:expr, output: $out:ty,
        get: |$this:ident| $get:expr,
        make: |$lock:ident, $at:ident| $make:expr
    ) => {
        $(#[$doc])*
        #[must_use = "futures do nothing unless awaited (or `.wait()`ed)"]
        pub struct $name<$($lt,)? T: ?Sized> {
            lock: $handle,
            op: AcquireOp,
            at: Site,
        }

        impl<$($lt,)? T: ?Sized> Future for $name<$($lt,)? T> {
            type Output = $out;

            fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<$out> {
                // SAFETY: only the handle may be moved out (`make`); `op`, whose node may be
                // linked, stays put.
                let $this = unsafe { self.get_unchecked_mut() };
                let l: &RwLock<T> = $get;
                core::task::ready!(l.poll_mode(&$this.op, $write, $this.at, cx));
                let $at = $this.at;
                let $lock = $this;
                Poll::Ready($make)
            }
        }

        #[cfg(not(loom))]
        impl<$($lt,)? T: ?Sized> $name<$($lt,)? T> {
            /// Blocks the calling thread (or suspends the calling fiber) until the lock is held:
            /// [`spectrum_rt::Wait::wait`] with the lock-free attempt made first.
            #[track_caller]
            pub fn wait(mut self) -> $out {
                let $this = &mut self;
                let l: &RwLock<T> = $get;
                if l.now(&$this.op, $write, $this.at) {
                    let $at = $this.at;
                    let $lock = $this;
                    return $make;
                }
                spectrum_rt::Wait::wait(self)
            }
        }

        impl<$($lt,)? T: ?Sized> fmt::Debug for $name<$($lt,)? T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("state", &self.op)
                    .finish_non_exhaustive()
            }
        }
    };
}

lock_future! {
    /// The future of [`RwLock::read`].
    Read<'a, T>, handle: &'a RwLock<T>, write: false, output: RwLockReadGuard<'a, T>,
    get: |this| this.lock,
    make: |f, at| RwLockReadGuard { reader: f.lock.on_read(at), lock: f.lock, _marker: PhantomData }
}

lock_future! {
    /// The future of [`RwLock::write`].
    Write<'a, T>, handle: &'a RwLock<T>, write: true, output: RwLockWriteGuard<'a, T>,
    get: |this| this.lock,
    make: |f, at| {
        f.lock.on_write(at);
        RwLockWriteGuard { lock: f.lock, _marker: PhantomData }
    }
}

lock_future! {
    /// The future of [`RwLock::read_owned`].
    ReadOwned<T>, handle: Option<Arc<RwLock<T>>>, write: false, output: OwnedRwLockReadGuard<T>,
    get: |this| this.lock.as_deref().expect("ReadOwned polled after it completed"),
    make: |f, at| {
        let lock = f.lock.take().expect("checked above");
        OwnedRwLockReadGuard { reader: lock.on_read(at), lock, _marker: PhantomData }
    }
}

lock_future! {
    /// The future of [`RwLock::write_owned`].
    WriteOwned<T>, handle: Option<Arc<RwLock<T>>>, write: true, output: OwnedRwLockWriteGuard<T>,
    get: |this| this.lock.as_deref().expect("WriteOwned polled after it completed"),
    make: |f, at| {
        let lock = f.lock.take().expect("checked above");
        lock.on_write(at);
        OwnedRwLockWriteGuard { lock, _marker: PhantomData }
    }
}

impl<T: ?Sized> Drop for Read<'_, T> {
    fn drop(&mut self) {
        self.lock.sem.cancel(&self.op);
    }
}

impl<T: ?Sized> Drop for Write<'_, T> {
    fn drop(&mut self) {
        self.lock.sem.cancel(&self.op);
    }
}

impl<T: ?Sized> Drop for ReadOwned<T> {
    fn drop(&mut self) {
        if let Some(l) = &self.lock {
            l.sem.cancel(&self.op);
        }
    }
}

impl<T: ?Sized> Drop for WriteOwned<T> {
    fn drop(&mut self) {
        if let Some(l) = &self.lock {
            l.sem.cancel(&self.op);
        }
    }
}

/// Shared access to the data of an [`RwLock`]; released when dropped.
#[must_use = "dropping the guard releases the lock at once"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    reader: u64,
    _marker: PhantomData<&'a T>,
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds a read permit: no writer holds the lock.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.read_unlock(self.reader);
    }
}

/// Exclusive access to the data of an [`RwLock`]; released when dropped.
#[must_use = "dropping the guard releases the lock at once"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    _marker: PhantomData<&'a mut T>,
}

impl<'a, T: ?Sized> RwLockWriteGuard<'a, T> {
    /// Turns exclusive access into shared access without letting a writer in between; readers
    /// queued behind this writer enter along (a writer queued first still goes first).
    pub fn downgrade(self) -> RwLockReadGuard<'a, T> {
        let lock = self.lock;
        core::mem::forget(self);
        RwLockReadGuard {
            reader: lock.downgrade(),
            lock,
            _marker: PhantomData,
        }
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds every permit.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds every permit, and `&mut self` proves it is not aliased.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.write_unlock();
    }
}

/// [`RwLockReadGuard`] that owns an `Arc` of its lock.
#[must_use = "dropping the guard releases the lock at once"]
pub struct OwnedRwLockReadGuard<T: ?Sized> {
    lock: Arc<RwLock<T>>,
    reader: u64,
    _marker: PhantomData<T>,
}

impl<T: ?Sized> OwnedRwLockReadGuard<T> {
    /// The lock this guard reads.
    pub fn rwlock(this: &Self) -> &Arc<RwLock<T>> {
        &this.lock
    }
}

impl<T: ?Sized> Deref for OwnedRwLockReadGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds a read permit.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for OwnedRwLockReadGuard<T> {
    fn drop(&mut self) {
        self.lock.read_unlock(self.reader);
    }
}

/// [`RwLockWriteGuard`] that owns an `Arc` of its lock.
#[must_use = "dropping the guard releases the lock at once"]
pub struct OwnedRwLockWriteGuard<T: ?Sized> {
    lock: Arc<RwLock<T>>,
    _marker: PhantomData<T>,
}

impl<T: ?Sized> OwnedRwLockWriteGuard<T> {
    /// The lock this guard holds.
    pub fn rwlock(this: &Self) -> &Arc<RwLock<T>> {
        &this.lock
    }

    /// As [`RwLockWriteGuard::downgrade`].
    pub fn downgrade(self) -> OwnedRwLockReadGuard<T> {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again; the Arc moves into the new guard.
        let lock = unsafe { core::ptr::read(&this.lock) };
        OwnedRwLockReadGuard {
            reader: lock.downgrade(),
            lock,
            _marker: PhantomData,
        }
    }
}

impl<T: ?Sized> Deref for OwnedRwLockWriteGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds every permit.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for OwnedRwLockWriteGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds every permit, and `&mut self` proves it is not aliased.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for OwnedRwLockWriteGuard<T> {
    fn drop(&mut self) {
        self.lock.write_unlock();
    }
}

macro_rules! guard_fmt {
    ($($name:ident<$($lt:lifetime,)? T>),*) => {$(
        impl<$($lt,)? T: ?Sized + fmt::Debug> fmt::Debug for $name<$($lt,)? T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&**self, f)
            }
        }
        impl<$($lt,)? T: ?Sized + fmt::Display> fmt::Display for $name<$($lt,)? T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&**self, f)
            }
        }
    )*};
}

guard_fmt!(
    RwLockReadGuard<'a, T>,
    RwLockWriteGuard<'a, T>,
    OwnedRwLockReadGuard<T>,
    OwnedRwLockWriteGuard<T>
);
