//! `Semaphore`: counted permits with FIFO waiters, `acquire_many`, owned permits and `close`;
//! the public face of [`Sem`](super::sem).

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::sync::Arc;

use super::error::{AcquireError, TryAcquireError};
use super::id::NoteKind;
use super::sem::{AcquireOp, Sem, TryFail, MAX_PERMITS};

/// A counting semaphore: `acquire` waits for a permit, dropping the permit returns it.
///
/// Waiters are served in the order they asked (FIFO), and a request for many permits is served
/// as one: the request at the head of the queue collects the permits released until it has all
/// it asked for, and later requests (even small ones that would fit) wait behind it, so a large
/// [`acquire_many`](Self::acquire_many) is never starved and never overtaken (tokio's policy).
/// `try_acquire*` never overtakes a waiter either.
///
/// Threads and fibers block on the same futures with `.wait()`.
///
/// ```
/// use std::sync::Arc;
/// use spectrum_chan::sync::Semaphore;
///
/// let rt = spectrum_rt::Runtime::new().unwrap();
/// let limit = Arc::new(Semaphore::new(2)); // at most two jobs at once
/// let jobs: Vec<_> = (0..10)
///     .map(|i| {
///         let limit = limit.clone();
///         rt.spawn(async move {
///             let _permit = limit.acquire().await.unwrap();
///             i * 2 // ... the bounded work ...
///         })
///     })
///     .collect();
/// let sum: i32 = rt.block_on(async {
///     let mut sum = 0;
///     for j in jobs {
///         sum += j.await.unwrap();
///     }
///     sum
/// });
/// assert_eq!(sum, 90);
/// assert_eq!(limit.available_permits(), 2);
/// ```
///
/// # Bad input
///
/// Counts are checked, never wrapped: `Semaphore::new(n)` with `n` above
/// [`MAX_PERMITS`](Semaphore::MAX_PERMITS) (`usize::MAX >> 3`) panics, as in tokio, and
/// `add_permits` that would push the available count past it panics and adds nothing. A request
/// (`acquire_many(n)`) for more permits than the semaphore will ever have is not an error the
/// semaphore can see: it waits, at the head of the queue, until permits are added or the
/// semaphore is closed (tokio does the same). Merging permits past `u32::MAX` panics and leaves
/// both permits as they were.
pub struct Semaphore {
    sem: Sem,
}

impl Semaphore {
    /// The most permits a semaphore can hold: `usize::MAX >> 3`, as in tokio.
    pub const MAX_PERMITS: usize = MAX_PERMITS;

    /// A semaphore with `permits` permits.
    ///
    /// # Panics
    ///
    /// If `permits` exceeds [`Semaphore::MAX_PERMITS`].
    #[track_caller]
    pub fn new(permits: usize) -> Semaphore {
        assert!(
            permits <= MAX_PERMITS,
            "Semaphore::new({permits}): a semaphore holds at most MAX_PERMITS ({MAX_PERMITS}) \
             permits"
        );
        Semaphore {
            sem: Sem::new(permits, NoteKind::Semaphore),
        }
    }

    crate::sync::cfn! {
        /// [`new`](Self::new) in `const` contexts (a `static`).
        ///
        /// # Panics
        ///
        /// If `permits` exceeds [`Semaphore::MAX_PERMITS`] (at compile time in a `const`).
        pub fn const_new(permits: usize) -> Semaphore {
            assert!(
                permits <= MAX_PERMITS,
                "a semaphore holds at most Semaphore::MAX_PERMITS permits"
            );
            Semaphore {
                sem: Sem::new(permits, NoteKind::Semaphore),
            }
        }
    }

    crate::sync::cfn! {
        /// The one-permit semaphore of a `OnceCell` (its waits note `WaitOn::Signal`).
        pub(crate) fn for_once_cell() -> Semaphore {
            Semaphore {
                sem: Sem::new(1, NoteKind::Signal),
            }
        }
    }

    crate::sync::cfn! {
        /// The semaphore of a `OnceCell` made with its value: closed, no permits.
        pub(crate) fn for_once_cell_set() -> Semaphore {
            Semaphore {
                sem: Sem::new_closed(NoteKind::Signal),
            }
        }
    }

    /// Permits available now: not held, not given to a waiter (0 while anyone waits).
    pub fn available_permits(&self) -> usize {
        self.sem.available()
    }

    /// Adds `n` permits; they go to the waiters first, oldest first.
    ///
    /// # Panics
    ///
    /// If the available permits would exceed [`Semaphore::MAX_PERMITS`] (nothing is added).
    pub fn add_permits(&self, n: usize) {
        self.sem.add_permits(n);
    }

    /// Takes up to `n` available permits away for good; returns how many it took (only
    /// available permits: held ones and those given to waiters are not touched).
    pub fn forget_permits(&self, n: usize) -> usize {
        self.sem.forget_permits(n)
    }

    /// Closes the semaphore: every waiter and every later `acquire` fails with
    /// [`AcquireError`], `try_acquire` with [`TryAcquireError::Closed`]. Permits already held stay
    /// valid and are returned as usual when dropped. Closing twice does nothing.
    pub fn close(&self) {
        self.sem.close();
    }

    /// True once [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.sem.is_closed()
    }

    /// Waits for one permit.
    ///
    /// # Errors
    ///
    /// [`AcquireError`] if the semaphore is closed (before or while waiting).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, and fair to cancel: dropping the future gives up its place in the queue; if
    /// the permit had just been granted to it, the permit is returned at once (to the next
    /// waiter). No permit is ever lost.
    pub fn acquire(&self) -> Acquire<'_> {
        self.acquire_many(1)
    }

    /// Waits for `n` permits, taken as one (see the type's docs for the FIFO policy);
    /// `acquire_many(0)` succeeds at once unless the semaphore is closed.
    ///
    /// # Errors
    ///
    /// [`AcquireError`] if the semaphore is closed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the permits the request had collected at the head of the queue go to the
    /// waiters behind it (or back to the count) when it is dropped; nothing is lost.
    pub fn acquire_many(&self, n: u32) -> Acquire<'_> {
        Acquire {
            sem: self,
            n,
            op: AcquireOp::new(),
        }
    }

    /// [`acquire`](Self::acquire) for an `Arc<Semaphore>`: the permit has no lifetime.
    ///
    /// # Errors
    ///
    /// [`AcquireError`] if the semaphore is closed.
    ///
    /// # Cancel safety
    ///
    /// As for [`acquire`](Self::acquire).
    pub fn acquire_owned(self: Arc<Self>) -> AcquireOwned {
        self.acquire_many_owned(1)
    }

    /// [`acquire_many`](Self::acquire_many) for an `Arc<Semaphore>`.
    ///
    /// # Errors
    ///
    /// [`AcquireError`] if the semaphore is closed.
    ///
    /// # Cancel safety
    ///
    /// As for [`acquire_many`](Self::acquire_many).
    pub fn acquire_many_owned(self: Arc<Self>, n: u32) -> AcquireOwned {
        AcquireOwned {
            sem: Some(self),
            n,
            op: AcquireOp::new(),
        }
    }

    /// One permit if available now (never overtakes a waiter).
    ///
    /// # Errors
    ///
    /// [`TryAcquireError::NoPermits`] or [`TryAcquireError::Closed`].
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_acquire_many(1)
    }

    /// `n` permits if available now (never overtakes a waiter).
    ///
    /// # Errors
    ///
    /// [`TryAcquireError::NoPermits`] or [`TryAcquireError::Closed`].
    pub fn try_acquire_many(&self, n: u32) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_n(n).map(|()| SemaphorePermit { sem: self, n })
    }

    /// [`try_acquire`](Self::try_acquire) for an `Arc<Semaphore>`.
    ///
    /// # Errors
    ///
    /// As for [`try_acquire`](Self::try_acquire).
    pub fn try_acquire_owned(self: Arc<Self>) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        self.try_acquire_many_owned(1)
    }

    /// [`try_acquire_many`](Self::try_acquire_many) for an `Arc<Semaphore>`.
    ///
    /// # Errors
    ///
    /// As for [`try_acquire_many`](Self::try_acquire_many).
    pub fn try_acquire_many_owned(
        self: Arc<Self>,
        n: u32,
    ) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        self.try_n(n)?;
        Ok(OwnedSemaphorePermit { sem: self, n })
    }

    fn try_n(&self, n: u32) -> Result<(), TryAcquireError> {
        self.sem.try_acquire(n as usize).map_err(|e| match e {
            TryFail::Closed => TryAcquireError::Closed,
            TryFail::NoPermits => TryAcquireError::NoPermits,
        })
    }

    /// `.wait()`'s lock-free first step (charged to the coop budget as a poll is).
    #[cfg(not(loom))]
    #[inline]
    fn acquire_now(&self, op: &AcquireOp, n: u32) -> bool {
        let mut cx = Context::from_waker(core::task::Waker::noop());
        let Poll::Ready(coop) = spectrum_rt::coop::poll_proceed(&mut cx) else {
            return false;
        };
        if !self.sem.try_acquire_fast(n as usize) {
            return false;
        }
        coop.made_progress();
        op.set_done();
        true
    }

    pub(crate) fn sem(&self) -> &Sem {
        &self.sem
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("id", self.sem.id())
            .field("available", &self.sem.available())
            .field("waiters", &self.sem.has_waiters())
            .field("closed", &self.sem.is_closed())
            .finish()
    }
}

/// The future of [`Semaphore::acquire`] and [`Semaphore::acquire_many`].
#[must_use = "futures do nothing unless awaited (or `.wait()`ed)"]
pub struct Acquire<'a> {
    sem: &'a Semaphore,
    n: u32,
    op: AcquireOp,
}

impl<'a> Future for Acquire<'a> {
    type Output = Result<SemaphorePermit<'a>, AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.into_ref().get_ref();
        let r = core::task::ready!(this.sem.sem.poll_acquire(&this.op, this.n as usize, cx));
        Poll::Ready(match r {
            Ok(()) => Ok(SemaphorePermit {
                sem: this.sem,
                n: this.n,
            }),
            Err(_) => Err(AcquireError(())),
        })
    }
}

#[cfg(not(loom))]
impl<'a> Acquire<'a> {
    /// Blocks the calling thread (or suspends the calling fiber) until the permits are held:
    /// [`spectrum_rt::Wait::wait`] with the lock-free attempt made first.
    ///
    /// # Errors
    ///
    /// [`AcquireError`] if the semaphore is closed.
    #[track_caller]
    pub fn wait(self) -> Result<SemaphorePermit<'a>, AcquireError> {
        if self.sem.acquire_now(&self.op, self.n) {
            return Ok(SemaphorePermit {
                sem: self.sem,
                n: self.n,
            });
        }
        spectrum_rt::Wait::wait(self)
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        self.sem.sem.cancel(&self.op);
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("permits", &self.n)
            .field("state", &self.op)
            .finish()
    }
}

/// The future of [`Semaphore::acquire_owned`] and [`Semaphore::acquire_many_owned`].
#[must_use = "futures do nothing unless awaited (or `.wait()`ed)"]
pub struct AcquireOwned {
    /// `None` once the permit took it.
    sem: Option<Arc<Semaphore>>,
    n: u32,
    op: AcquireOp,
}

impl Future for AcquireOwned {
    type Output = Result<OwnedSemaphorePermit, AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: only `sem` is moved out below; `op` (whose node may be linked) stays put.
        let this = unsafe { self.get_unchecked_mut() };
        let sem = this
            .sem
            .as_ref()
            .expect("AcquireOwned polled after it completed");
        let r = core::task::ready!(sem.sem.poll_acquire(&this.op, this.n as usize, cx));
        let sem = this.sem.take().expect("checked above");
        Poll::Ready(match r {
            Ok(()) => Ok(OwnedSemaphorePermit { sem, n: this.n }),
            Err(_) => Err(AcquireError(())),
        })
    }
}

#[cfg(not(loom))]
impl AcquireOwned {
    /// Blocks the calling thread (or suspends the calling fiber) until the permits are held
    /// (see [`Acquire::wait`]).
    ///
    /// # Errors
    ///
    /// [`AcquireError`] if the semaphore is closed.
    #[track_caller]
    pub fn wait(mut self) -> Result<OwnedSemaphorePermit, AcquireError> {
        let sem = self.sem.as_ref().expect("not polled yet");
        if sem.acquire_now(&self.op, self.n) {
            let sem = self.sem.take().expect("checked above");
            return Ok(OwnedSemaphorePermit { sem, n: self.n });
        }
        spectrum_rt::Wait::wait(self)
    }
}

impl Drop for AcquireOwned {
    fn drop(&mut self) {
        if let Some(sem) = &self.sem {
            sem.sem.cancel(&self.op);
        }
    }
}

impl fmt::Debug for AcquireOwned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcquireOwned")
            .field("permits", &self.n)
            .field("state", &self.op)
            .finish()
    }
}

/// `a + b` for `merge`; on overflow puts `b` back into `back` (so both permits still return
/// what they hold) and panics.
#[track_caller]
fn merged(a: u32, b: u32, back: &mut u32) -> u32 {
    match a.checked_add(b) {
        Some(n) => n,
        None => {
            *back = b;
            panic!("merge: a permit holds at most u32::MAX permits ({a} + {b})")
        }
    }
}

/// Permits from a [`Semaphore`]; returned when dropped.
#[must_use = "dropping the permit returns it at once"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
    n: u32,
}

impl<'a> SemaphorePermit<'a> {
    /// Drops the permits without returning them (the semaphore has that many fewer).
    pub fn forget(mut self) {
        self.n = 0;
    }

    /// How many permits this holds.
    pub fn num_permits(&self) -> usize {
        self.n as usize
    }

    /// Moves `other`'s permits into this one.
    ///
    /// # Panics
    ///
    /// If the two come from different semaphores, or together hold more than `u32::MAX` permits
    /// (the permits stay where they were).
    pub fn merge(&mut self, mut other: SemaphorePermit<'a>) {
        assert!(
            core::ptr::eq(self.sem, other.sem),
            "SemaphorePermit::merge: permits from different semaphores"
        );
        self.n = merged(self.n, core::mem::take(&mut other.n), &mut other.n);
    }

    /// The semaphore the permits come from.
    pub fn semaphore(&self) -> &'a Semaphore {
        self.sem
    }

    /// Splits `n` permits off into a new permit; `None` if this holds fewer than `n`.
    pub fn split(&mut self, n: usize) -> Option<SemaphorePermit<'a>> {
        let n = u32::try_from(n).ok().filter(|&n| n <= self.n)?;
        self.n -= n;
        Some(SemaphorePermit { sem: self.sem, n })
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.sem.sem.release(self.n as usize);
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("permits", &self.n)
            .finish_non_exhaustive()
    }
}

/// [`SemaphorePermit`] that owns an `Arc` of its semaphore.
#[must_use = "dropping the permit returns it at once"]
pub struct OwnedSemaphorePermit {
    sem: Arc<Semaphore>,
    n: u32,
}

impl OwnedSemaphorePermit {
    /// Drops the permits without returning them.
    pub fn forget(mut self) {
        self.n = 0;
    }

    /// How many permits this holds.
    pub fn num_permits(&self) -> usize {
        self.n as usize
    }

    /// The semaphore the permits come from.
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.sem
    }

    /// Moves `other`'s permits into this one.
    ///
    /// # Panics
    ///
    /// If the two come from different semaphores.
    pub fn merge(&mut self, mut other: OwnedSemaphorePermit) {
        assert!(
            Arc::ptr_eq(&self.sem, &other.sem),
            "OwnedSemaphorePermit::merge: permits from different semaphores"
        );
        self.n = merged(self.n, core::mem::take(&mut other.n), &mut other.n);
    }

    /// Splits `n` permits off into a new permit; `None` if this holds fewer than `n`.
    pub fn split(&mut self, n: usize) -> Option<OwnedSemaphorePermit> {
        let n = u32::try_from(n).ok().filter(|&n| n <= self.n)?;
        self.n -= n;
        Some(OwnedSemaphorePermit {
            sem: self.sem.clone(),
            n,
        })
    }
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        self.sem.sem.release(self.n as usize);
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphorePermit")
            .field("permits", &self.n)
            .finish_non_exhaustive()
    }
}
