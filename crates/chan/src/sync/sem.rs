//! The semaphore under `Mutex`, `RwLock`, `Semaphore` and `OnceCell`: a permit count with a
//! lock-free fast path, and a FIFO queue of waiters behind a lock (tokio's `batch_semaphore`,
//! with an uncontended release that takes no lock).
//!
//! A `Mutex` is this semaphore with one permit; an `RwLock` with `max_readers` permits, a read
//! taking one and a write taking all of them; a `Semaphore` exposes it; a `OnceCell` serializes
//! its initializers with one permit and closes it once the value is set.
//!
//! # State
//!
//! `state` is one word: `permits << 2 | CLOSED | QUEUED`.
//!
//! - `permits`: the permits nobody holds and no waiter has been given (at most [`MAX_PERMITS`]
//!   from `add_permits`, plus whatever was held at that moment: below `usize::MAX >> 2`).
//! - `QUEUED`: at least one waiter is linked in `waiters`.
//! - `CLOSED`: the semaphore is closed (`Semaphore::close`, a set `OnceCell`).
//!
//! Under the lock: `waiters`, a FIFO queue of [`Node`]s; each node's `needed` (permits it still
//! misses) and `want` (permits it asked for; `want - needed` it has been given so far).
//!
//! # Invariants
//!
//! 1. `QUEUED` is set exactly while `waiters` is non-empty (both change under the lock).
//! 2. While `QUEUED` is set, `permits == 0`: whatever is released goes to the waiters first,
//!    oldest first, and the head keeps what it was given until it has all it asked for. So a large
//!    request at the head is never starved by smaller ones behind it, and no request overtakes
//!    an older one (strict FIFO, tokio's policy).
//! 3. While `QUEUED` or `CLOSED` is set, no lock-free operation changes `state`: acquisitions
//!    see a flag and take the lock, releases see `QUEUED` and take the lock. Every other change
//!    is a CAS of the whole word, so a lock-free release racing a waiter that is about to queue
//!    either lands before the waiter's CAS (which then fails and sees the permits) or after it
//!    (and then sees `QUEUED` and serves the waiter): no lost wake-up.
//!
//! # Protocols
//!
//! Acquire `n`:
//! 1. Lock-free: CAS `permits -= n` if no flag is set and `permits >= n`. Done.
//! 2. Under the lock: closed: `Err`. No waiter and enough permits: CAS them away. Otherwise take
//!    all the permits there are (none if others wait), set `QUEUED` (one CAS), and link the node
//!    at the back with `needed = n - taken`, its waker registered first.
//! 3. Later polls read the node's signal: `DONE + GRANTED` (all `n` are ours) or
//!    `DONE + CLOSED` (`Err`; the closer took back what the node had been given).
//!
//! Release `n` (a guard or permit dropped, `add_permits`):
//! 1. Lock-free: CAS `permits += n` if `QUEUED` is clear. Done.
//! 2. Under the lock (`assign`): give the permits to the waiters in order: the head takes what it
//!    still needs; a head that is complete is unlinked and completed (`GRANTED`), woken after
//!    the lock. When the queue runs empty, clear `QUEUED` and add the rest to `permits`.
//!
//! Cancel (the future is dropped while its node is linked): under the lock, unlink the node and
//! `assign` the permits it had been given to the waiters behind it (or back to the count). If the
//! node was already completed (`GRANTED`) but the future never returned, the grant passes on: the
//! `n` permits are released. Nothing is lost, and no waiter is left behind a departed head.
//!
//! Close: under the lock set `CLOSED`, complete every waiter with `CLOSED` and return the
//! permits they had been given to the count. Releases still add permits after close.
//!
//! Memory: a permit carries the releaser's writes to the next holder: the release CAS is
//! `Release` and the acquire CAS `Acquire`; permits handed to a waiter go through the lock and the
//! signal's `Release` store / `Acquire` load.

use core::cell::Cell;
use core::fmt;
use core::task::{ready, Context, Poll};

use spectrum_rt::coop;
use spectrum_sync::atomic::{AtomicUsize, Ordering::*};

use super::id::{LazyId, NoteKind};
use super::node::{lock_for_poll, Node, Queue, CLOSED as CASE_CLOSED, GRANTED};
use crate::lock::Lock;
use crate::op::spin_allowed;
use crate::waiter::{Check, Wakers};

/// The most permits a semaphore may hold (tokio's bound: `usize::MAX >> 3`). The count field has
/// one bit more, so releases of permits held while `add_permits` reached this bound still fit.
pub(crate) const MAX_PERMITS: usize = usize::MAX >> 3;

const QUEUED: usize = 0b01;
const CLOSED: usize = 0b10;
const FLAGS: usize = QUEUED | CLOSED;
const SHIFT: u32 = 2;

/// Why an acquisition failed: the semaphore is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Closed;

/// Why a `try_acquire` failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TryFail {
    Closed,
    NoPermits,
}

/// The semaphore (module docs).
pub(crate) struct Sem {
    state: AtomicUsize,
    waiters: Lock<Queue>,
    id: LazyId,
    note: NoteKind,
}

impl Sem {
    crate::sync::cfn! {
        /// A semaphore with `permits` permits (the caller checks `permits <= MAX_PERMITS`).
        pub(crate) fn new(permits: usize, note: NoteKind) -> Sem {
            Sem {
                state: AtomicUsize::new(permits << SHIFT),
                waiters: Lock::new(Queue::new()),
                id: LazyId::new(),
                note,
            }
        }
    }

    crate::sync::cfn! {
        /// A closed semaphore with no permits (a `OnceCell` made with its value).
        pub(crate) fn new_closed(note: NoteKind) -> Sem {
            Sem {
                state: AtomicUsize::new(CLOSED),
                waiters: Lock::new(Queue::new()),
                id: LazyId::new(),
                note,
            }
        }
    }

    /// The id of the wait notes (and of lockdep for locks).
    pub(crate) fn id(&self) -> &LazyId {
        &self.id
    }

    /// Permits available right now (0 while anyone waits).
    pub(crate) fn available(&self) -> usize {
        // Acquire: a caller that sees permits returned also sees what their holder wrote (pairs
        // with the Release in `release`); it is otherwise a snapshot.
        self.state.load(Acquire) >> SHIFT
    }

    pub(crate) fn is_closed(&self) -> bool {
        // Acquire: pairs with the AcqRel `fetch_or` in `close`.
        self.state.load(Acquire) & CLOSED != 0
    }

    /// True while a waiter is queued.
    pub(crate) fn has_waiters(&self) -> bool {
        // Relaxed: a snapshot for diagnostics and `Debug`.
        self.state.load(Relaxed) & QUEUED != 0
    }

    /// Acquire protocol step 1: the lock-free CAS. False if it cannot proceed without the lock.
    #[inline]
    pub(crate) fn try_acquire_fast(&self, n: usize) -> bool {
        // Relaxed: a first guess for the CAS, which is the acquiring operation.
        let mut s = self.state.load(Relaxed);
        loop {
            if s & FLAGS != 0 || s >> SHIFT < n {
                return false;
            }
            // Acquire: pairs with the Release CAS in `release` / `assign`, so the previous holder
            // of these permits has its writes (a lock's data) visible to us.
            match self
                .state
                .compare_exchange_weak(s, s - (n << SHIFT), Acquire, Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => s = actual,
            }
        }
    }

    /// `try_acquire(n)`: never waits, never overtakes a waiter.
    pub(crate) fn try_acquire(&self, n: usize) -> Result<(), TryFail> {
        if self.try_acquire_fast(n) {
            return Ok(());
        }
        // Acquire: pairs with `close`'s AcqRel.
        let s = self.state.load(Acquire);
        if s & CLOSED != 0 {
            Err(TryFail::Closed)
        } else if n == 0 {
            // Zero permits never wait (not even behind waiters).
            Ok(())
        } else {
            // A flag (QUEUED) or too few permits; a CAS that lost a race to another acquirer
            // also ends here, like any try that finds the permits gone.
            Err(TryFail::NoPermits)
        }
    }

    /// Polls an acquisition of `n` permits through `op` (the future's pinned state).
    #[inline]
    pub(crate) fn poll_acquire(
        &self,
        op: &AcquireOp,
        n: usize,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Closed>> {
        let coop = ready!(coop::poll_proceed(cx));
        let res = match op.phase.get() {
            IDLE if self.try_acquire_fast(n) => Poll::Ready(Ok(())),
            IDLE => self.poll_acquire_slow(op, n, cx),
            LINKED => Self::poll_linked(op, cx),
            _ => panic!("an acquire future was polled after it completed"),
        };
        match res {
            Poll::Ready(_) => {
                op.phase.set(DONE);
                coop.made_progress();
            }
            Poll::Pending => self.note.note(&self.id),
        }
        res
    }

    /// Acquire protocol step 2.
    #[cold]
    fn poll_acquire_slow(
        &self,
        op: &AcquireOp,
        n: usize,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Closed>> {
        if n == 0 {
            return Poll::Ready(if self.is_closed() {
                Err(Closed)
            } else {
                Ok(())
            });
        }
        let thread = spin_allowed();
        let Some(mut q) = lock_for_poll(&self.waiters, cx, thread) else {
            return Poll::Pending;
        };
        // Acquire: as in `try_acquire_fast` (the permits we may take carry their releaser's
        // writes).
        let mut s = self.state.load(Acquire);
        let taken = loop {
            if s & CLOSED != 0 {
                return Poll::Ready(Err(Closed));
            }
            let avail = s >> SHIFT;
            if s & QUEUED == 0 && avail >= n {
                // Acquire: as above.
                match self
                    .state
                    .compare_exchange(s, s - (n << SHIFT), Acquire, Acquire)
                {
                    Ok(_) => return Poll::Ready(Ok(())),
                    Err(actual) => {
                        s = actual;
                        continue;
                    }
                }
            }
            // Queue: take what there is (nothing while others wait, invariant 2) and set QUEUED.
            // Acquire: as above, for the permits taken.
            match self.state.compare_exchange(s, QUEUED, Acquire, Acquire) {
                Ok(_) => break avail,
                Err(actual) => s = actual,
            }
        };
        let node = &op.node;
        node.set_counts(n, n - taken);
        node.arm(Some(cx.waker()));
        // SAFETY: the op is pinned inside its future, not linked (IDLE), and its future unlinks it
        // under this lock before it goes (`cancel`).
        unsafe { q.push_back(node) };
        op.phase.set(LINKED);
        drop(q);
        Poll::Pending
    }

    /// Acquire protocol step 3.
    fn poll_linked(op: &AcquireOp, cx: &mut Context<'_>) -> Poll<Result<(), Closed>> {
        let signal = &op.node.signal;
        signal.register(cx.waker());
        let case = match signal.check() {
            Check::Waiting => return Poll::Pending,
            Check::Done(case) => case,
            // A releaser is between its claim and `complete`, under the lock: a thread waits the
            // few instructions out; a task comes back after the worker's other tasks (it may hold
            // an older waker).
            Check::Claimed if spin_allowed() => signal.poll_done().expect("claimed"),
            Check::Claimed => {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        };
        Poll::Ready(if case == GRANTED { Ok(()) } else { Err(Closed) })
    }

    /// Cancel protocol: the future owning `op` is going. No-op unless its node is linked or was
    /// granted without the future returning.
    #[inline]
    pub(crate) fn cancel(&self, op: &AcquireOp) {
        if op.phase.get() == LINKED {
            self.cancel_linked(op);
        }
    }

    #[cold]
    fn cancel_linked(&self, op: &AcquireOp) {
        op.phase.set(DONE);
        let node = &op.node;
        let mut wakers = Wakers::default();
        let mut q = self.waiters.lock();
        // SAFETY: the node is alive (the future is being dropped, not yet freed) and was linked
        // in this queue.
        if unsafe { q.remove(node) } {
            // Whatever it had been given goes to the waiters behind it (or back to the count);
            // this also clears QUEUED if it was the last waiter.
            self.assign(&mut q, node.want() - node.needed(), &mut wakers);
            drop(q);
            return;
        }
        drop(q);
        // Not linked any more: completed under the lock we just took, so `DONE`.
        if node.signal.poll_done() == Some(GRANTED) {
            // Granted, but the future never returned it: pass the grant on.
            self.release(node.want());
        }
    }

    /// Release protocol.
    #[inline]
    pub(crate) fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        // Relaxed: a first guess for the CAS.
        let mut s = self.state.load(Relaxed);
        loop {
            if s & QUEUED != 0 {
                return self.release_slow(n);
            }
            debug_assert!((s >> SHIFT) + n <= usize::MAX >> SHIFT);
            // Release: pairs with the Acquire CAS of the next acquirer (module docs: memory).
            match self
                .state
                .compare_exchange_weak(s, s + (n << SHIFT), Release, Relaxed)
            {
                Ok(_) => return,
                Err(actual) => s = actual,
            }
        }
    }

    #[cold]
    fn release_slow(&self, n: usize) {
        let mut wakers = Wakers::default();
        let mut q = self.waiters.lock();
        self.assign(&mut q, n, &mut wakers);
        drop(q);
        // `wakers` wakes on drop, after the lock.
    }

    /// Release protocol step 2, under the lock: `n` permits to the waiters, oldest first; the
    /// rest to the count once nobody waits.
    fn assign(&self, q: &mut Queue, mut n: usize, wakers: &mut Wakers) {
        while let Some(head) = q.front() {
            // SAFETY: linked nodes are alive and we hold the lock (node module rule 3).
            let node = unsafe { head.as_ref() };
            let needed = node.needed();
            if n < needed {
                node.set_needed(needed - n);
                n = 0;
                break;
            }
            n -= needed;
            node.set_needed(0);
            q.pop_front();
            wakers.push(node.complete(GRANTED));
        }
        if q.is_empty() {
            self.add_unqueued(n);
        } else {
            debug_assert_eq!(n, 0);
        }
    }

    /// Nobody waits (we hold the lock): clear QUEUED and add `n` to the count.
    fn add_unqueued(&self, n: usize) {
        // Relaxed: a first guess for the CAS.
        let mut s = self.state.load(Relaxed);
        loop {
            let next = (s & !QUEUED) + (n << SHIFT);
            // Release: pairs with the Acquire CAS of the next acquirer, as in `release`.
            match self.state.compare_exchange_weak(s, next, Release, Relaxed) {
                Ok(_) => return,
                Err(actual) => s = actual,
            }
        }
    }

    /// `add_permits`: a release that may not push the count past [`MAX_PERMITS`].
    ///
    /// # Panics
    ///
    /// If the available permits would exceed `MAX_PERMITS` (nothing is added then).
    pub(crate) fn add_permits(&self, n: usize) {
        if n == 0 {
            return;
        }
        assert!(
            n <= MAX_PERMITS,
            "add_permits({n}): a semaphore holds at most MAX_PERMITS ({MAX_PERMITS}) permits"
        );
        // Relaxed: a first guess for the CAS.
        let mut s = self.state.load(Relaxed);
        loop {
            if s & QUEUED != 0 {
                // The count is 0 while anyone waits (invariant 2): no overflow possible.
                return self.release_slow(n);
            }
            let avail = s >> SHIFT;
            assert!(
                avail + n <= MAX_PERMITS,
                "add_permits({n}) with {avail} permits available would exceed MAX_PERMITS \
                 ({MAX_PERMITS})"
            );
            // Release: as in `release`.
            match self
                .state
                .compare_exchange_weak(s, s + (n << SHIFT), Release, Relaxed)
            {
                Ok(_) => return,
                Err(actual) => s = actual,
            }
        }
    }

    /// Takes up to `n` available permits away for good; returns how many.
    pub(crate) fn forget_permits(&self, n: usize) -> usize {
        // Relaxed: a first guess for the CAS.
        let mut s = self.state.load(Relaxed);
        loop {
            let take = (s >> SHIFT).min(n);
            if take == 0 {
                return 0;
            }
            // Acquire: the permits taken are acquired (and dropped), as in `try_acquire_fast`.
            match self
                .state
                .compare_exchange_weak(s, s - (take << SHIFT), Acquire, Relaxed)
            {
                Ok(_) => return take,
                Err(actual) => s = actual,
            }
        }
    }

    /// Close protocol; false if it was closed already.
    pub(crate) fn close(&self) -> bool {
        let mut wakers = Wakers::default();
        let mut q = self.waiters.lock();
        // AcqRel: Release pairs with the Acquire loads in `is_closed` / the acquire paths;
        // Acquire orders this after the last release we overwrite nothing of (a RMW).
        let prev = self.state.fetch_or(CLOSED, AcqRel);
        let mut back = 0;
        while let Some(p) = q.pop_front() {
            // SAFETY: was linked (alive) and we hold the lock.
            let node = unsafe { p.as_ref() };
            back += node.want() - node.needed();
            wakers.push(node.complete(CASE_CLOSED));
        }
        self.add_unqueued(back);
        drop(q);
        prev & CLOSED == 0
    }
}

impl Drop for Sem {
    fn drop(&mut self) {
        if self.note == NoteKind::Lock {
            super::diag::order::forget(&self.id);
        }
    }
}

impl fmt::Debug for Sem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sem")
            .field("id", &self.id)
            .field("available", &self.available())
            .field("waiters", &self.has_waiters())
            .field("closed", &self.is_closed())
            .finish()
    }
}

const IDLE: u8 = 0;
const LINKED: u8 = 1;
const DONE: u8 = 2;

/// The pinned state of one acquisition: its node, and whether it is linked. Lives inside the
/// public futures; its owner calls [`Sem::cancel`] from its `Drop`.
pub(crate) struct AcquireOp {
    node: Node,
    phase: Cell<u8>,
}

impl AcquireOp {
    pub(crate) fn new() -> AcquireOp {
        AcquireOp {
            node: Node::new(),
            phase: Cell::new(IDLE),
        }
    }

    /// Never polled yet (lockdep's `before_acquire` goes with the first poll).
    #[inline]
    pub(crate) fn is_idle(&self) -> bool {
        self.phase.get() == IDLE
    }

    /// Marks an acquisition made outside `poll_acquire` (`.wait()`'s lock-free attempt).
    #[inline]
    pub(crate) fn set_done(&self) {
        self.phase.set(DONE);
    }
}

impl fmt::Debug for AcquireOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phase = match self.phase.get() {
            IDLE => "idle",
            LINKED => "waiting",
            _ => "done",
        };
        f.write_str(phase)
    }
}
