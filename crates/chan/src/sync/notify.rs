//! `Notify`: wakes one waiting task (or stores a permit for the next one), or every waiting task
//! at once; tokio's `Notify`, on the sync primitives' waiter nodes.
//!
//! # State
//!
//! `state` is one word: `generation << 2 | EMPTY / WAITING / NOTIFIED`.
//!
//! - `EMPTY`: nobody waits, no permit is stored.
//! - `WAITING`: at least one [`Node`] is linked in `waiters`.
//! - `NOTIFIED`: a `notify_one` found nobody waiting and left a permit (at most one).
//! - `generation`: how many `notify_waiters` calls there were (wrapping). A [`Notified`] takes it
//!   when it is made, so a `notify_waiters` after that completes it even if it was never polled.
//!
//! # Invariants
//!
//! 1. `WAITING` is set exactly while `waiters` is non-empty; both change under the lock.
//! 2. While `WAITING` is set no lock-free operation changes `state`: lock-free CASes only move
//!    between `EMPTY` and `NOTIFIED`, and the generation changes under the lock. So a lock-free
//!    `notify_one` racing a waiter that is about to link either lands first (the waiter's CAS to
//!    `WAITING` fails and it consumes the permit) or sees `WAITING` and serves the waiter under the
//!    lock: no lost wake-up.
//! 3. A node completed by `notify_one` ([`GRANTED`]) carries that notification: if its future is
//!    dropped before it returned `Ready`, the drop passes the notification on (to the next waiter,
//!    or as the stored permit). A node completed by `notify_waiters` ([`ALL`]) carries nothing.
//!
//! # Protocols
//!
//! `notify_one` (`notify_last` alike, from the back):
//! 1. Lock-free: `EMPTY | NOTIFIED` -> `NOTIFIED` by CAS. Done.
//! 2. `WAITING`: under the lock, unlink the front node, clear `WAITING` if it was the last one,
//!    complete it with [`GRANTED`]; wake it after the lock.
//!
//! `notified().poll`, first time:
//! 1. Lock-free: generation moved on: `Ready`. `NOTIFIED` -> `EMPTY` by CAS: `Ready` (the permit
//!    is consumed).
//! 2. Under the lock: the same checks again, then `EMPTY` -> `WAITING` (CAS: a lock-free
//!    `notify_one` may race it) and link the node at the back, its waker registered first.
//! 3. Later polls read the node's signal (`DONE`: `Ready`).
//!
//! `notify_waiters`: under the lock, bump the generation, clear `WAITING`, complete every node
//! with [`ALL`]; wake them after the lock. A stored permit stays.
//!
//! Memory: a notification carries the notifier's writes to the woken task: the CAS that stores
//! the permit and the generation bump are `Release`, the CAS that consumes the permit and the
//! generation check are `Acquire`; nodes are completed through the signal's `Release` store /
//! `Acquire` load.

use core::cell::Cell;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{ready, Context, Poll};
use std::sync::Arc;

use spectrum_rt::coop;
use spectrum_sync::atomic::{AtomicUsize, Ordering::*};

use super::id::{LazyId, NoteKind};
use super::node::{lock_for_poll, Node, Queue, CLOSED as ALL, GRANTED};
use crate::lock::{Guard, Lock};
use crate::op::spin_allowed;
use crate::waiter::{Check, Wakers};

const EMPTY: usize = 0;
const WAITING: usize = 1;
const NOTIFIED: usize = 2;
const MASK: usize = 0b11;
const GEN_ONE: usize = 0b100;

#[inline]
const fn generation(s: usize) -> usize {
    s & !MASK
}

/// Wakes tasks waiting for an event: [`notify_one`](Self::notify_one) wakes one waiter, or, if
/// nobody waits, stores a permit that the next [`notified()`](Self::notified) consumes at once;
/// [`notify_waiters`](Self::notify_waiters) wakes everyone waiting now and stores nothing.
///
/// Waiters are woken in the order they started waiting (FIFO). A thread or a fiber waits on the
/// same future with `.wait()`.
///
/// ```
/// use std::sync::Arc;
/// use spectrum_chan::sync::Notify;
///
/// let notify = Arc::new(Notify::new());
/// let n2 = notify.clone();
/// let t = std::thread::spawn(move || {
///     n2.notified().wait(); // a thread blocks on the future a task would await
///     "woken"
/// });
/// notify.notify_one(); // wakes the thread, or leaves a permit if it is not waiting yet
/// assert_eq!(t.join().unwrap(), "woken");
/// ```
///
/// A waiting task notes `WaitOn::Signal` with the notify's id for task dumps.
pub struct Notify {
    state: AtomicUsize,
    waiters: Lock<Queue>,
    id: LazyId,
}

/// How `notify_one` / `notify_last` pick a waiter.
#[derive(Clone, Copy)]
enum End {
    Front,
    Back,
}

impl Notify {
    crate::sync::cfn! {
        /// A notify with no permit stored. `const` (usable in a `static`), allocation-free.
        pub fn new() -> Notify {
            Notify {
                state: AtomicUsize::new(EMPTY),
                waiters: Lock::new(Queue::new()),
                id: LazyId::new(),
            }
        }
    }

    crate::sync::cfn! {
        /// [`new`](Self::new) under tokio's name for `const` contexts.
        pub fn const_new() -> Notify {
            Notify::new()
        }
    }

    /// A future that completes once this notify is notified: by a [`notify_one`] (or a permit
    /// stored before), or by a [`notify_waiters`] made after this call (even before the first
    /// poll).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future gives up its place in the queue. If a `notify_one` had
    /// already picked it (the wake-up in flight) — or it consumed the stored permit in
    /// [`Notified::enable`] — the drop passes that notification on to the next waiter, or stores
    /// it as the permit: a `notify_one` is never lost to a cancelled waiter.
    ///
    /// [`notify_one`]: Self::notify_one
    /// [`notify_waiters`]: Self::notify_waiters
    pub fn notified(&self) -> Notified<'_> {
        Notified {
            notify: self,
            w: Waiter::new(self.generation()),
        }
    }

    /// [`notified`](Self::notified) for an `Arc<Notify>`: the future has no lifetime.
    ///
    /// # Cancel safety
    ///
    /// As for [`notified`](Self::notified).
    pub fn notified_owned(self: Arc<Self>) -> OwnedNotified {
        let w = Waiter::new(self.generation());
        OwnedNotified { notify: self, w }
    }

    fn generation(&self) -> usize {
        // Relaxed: a notify_waiters that happened before this call is seen (coherence); one that
        // did not is either seen later (and completes the future) or missed, as it may be.
        generation(self.state.load(Relaxed))
    }

    /// Wakes the oldest waiter; if nobody waits, stores a permit (at most one: notifying twice
    /// with nobody waiting stores one) that the next `notified()` consumes without waiting.
    pub fn notify_one(&self) {
        self.notify(End::Front);
    }

    /// As [`notify_one`](Self::notify_one), but wakes the newest waiter (LIFO).
    pub fn notify_last(&self) {
        self.notify(End::Back);
    }

    #[inline]
    fn notify(&self, end: End) {
        // Relaxed: a first guess for the CAS.
        let mut s = self.state.load(Relaxed);
        while s & MASK != WAITING {
            // Release: publishes the notifier's writes to the waiter that consumes the permit
            // (pairs with the Acquire CAS in `poll_first`). Relaxed on failure: we retry.
            match self
                .state
                .compare_exchange_weak(s, generation(s) | NOTIFIED, Release, Relaxed)
            {
                Ok(_) => return,
                Err(actual) => s = actual,
            }
        }
        self.notify_slow(end);
    }

    #[cold]
    fn notify_slow(&self, end: End) {
        let mut wakers = Wakers::default();
        let mut q = self.waiters.lock();
        self.notify_locked(&mut q, end, &mut wakers);
        drop(q);
    }

    /// `notify_one` under the lock: completes one waiter, or stores the permit.
    fn notify_locked(&self, q: &mut Guard<'_, Queue>, end: End, wakers: &mut Wakers) {
        // Relaxed: a first guess for the CAS (or, while WAITING, the value itself: invariant 2).
        let mut s = self.state.load(Relaxed);
        loop {
            if s & MASK == WAITING {
                let p = match end {
                    End::Front => q.pop_front(),
                    End::Back => q.pop_back(),
                }
                .expect("WAITING with an empty queue");
                if q.is_empty() {
                    // Relaxed: nothing lock-free changes the word while WAITING (invariant 2);
                    // the node's completion carries the notifier's writes.
                    self.state.store(generation(s) | EMPTY, Relaxed);
                }
                // SAFETY: the node was linked (alive) and we hold the lock (node rule 3).
                wakers.push(unsafe { p.as_ref() }.complete(GRANTED));
                return;
            }
            // Release: as in `notify`.
            match self
                .state
                .compare_exchange_weak(s, generation(s) | NOTIFIED, Release, Relaxed)
            {
                Ok(_) => return,
                Err(actual) => s = actual,
            }
        }
    }

    /// Wakes every task waiting now, and completes every [`Notified`] made before this call.
    /// Stores no permit (and leaves a stored one as it is).
    pub fn notify_waiters(&self) {
        let mut wakers = Wakers::default();
        let mut q = self.waiters.lock();
        // Relaxed: a first guess for the CAS.
        let mut s = self.state.load(Relaxed);
        loop {
            let kept = if s & MASK == WAITING { EMPTY } else { s & MASK };
            let next = generation(s).wrapping_add(GEN_ONE) | kept;
            // Release: pairs with the Acquire loads that check the generation (a future made
            // before this call then sees the notifier's writes).
            match self.state.compare_exchange_weak(s, next, Release, Relaxed) {
                Ok(_) => break,
                Err(actual) => s = actual,
            }
        }
        while let Some(p) = q.pop_front() {
            // SAFETY: was linked (alive) and we hold the lock (node rule 3).
            wakers.push(unsafe { p.as_ref() }.complete(ALL));
        }
        drop(q);
    }

    /// First poll (or `enable`): protocol steps 1-2. `Ok(case)` if notified without waiting,
    /// `Err(())` if linked (or, with `waker` set and the lock busy, to be polled again).
    fn poll_first(&self, w: &Waiter, waker: Option<&core::task::Waker>) -> Result<usize, ()> {
        if let Some(case) = self.try_consume(w) {
            return Ok(case);
        }
        let q = match waker {
            Some(waker) => {
                let cx = Context::from_waker(waker);
                match lock_for_poll(&self.waiters, &cx, spin_allowed()) {
                    Some(q) => q,
                    None => return Err(()),
                }
            }
            None => self.waiters.lock(),
        };
        let mut q = q;
        // Acquire: as in `try_consume`.
        let mut s = self.state.load(Acquire);
        loop {
            if generation(s) != w.gen {
                return Ok(ALL);
            }
            let next = match s & MASK {
                NOTIFIED => EMPTY,
                EMPTY => WAITING,
                _ => break,
            };
            // Acquire: consuming a permit pairs with the Release CAS of its `notify_one`.
            match self
                .state
                .compare_exchange(s, generation(s) | next, Acquire, Acquire)
            {
                Ok(_) if next == EMPTY => return Ok(GRANTED),
                Ok(_) => break,
                Err(actual) => s = actual,
            }
        }
        w.node.arm(waker);
        // SAFETY: the node is pinned inside its future and not linked (INIT); the future unlinks
        // it under this lock before it goes (`cancel`).
        unsafe { q.push_back(&w.node) };
        w.phase.set(LINKED);
        drop(q);
        Err(())
    }

    /// The `.wait()` fast path of a future not polled yet: takes a stored permit without
    /// building a waker. True if it did (the future is then done).
    #[cfg(not(loom))]
    #[inline]
    fn consume_before_wait(&self, w: &Waiter) -> bool {
        if w.phase.get() == INIT && self.try_consume(w).is_some() {
            w.phase.set(DONE);
            return true;
        }
        false
    }

    /// Protocol step 1 (lock-free).
    #[inline]
    fn try_consume(&self, w: &Waiter) -> Option<usize> {
        // Acquire: pairs with the Release generation bump of `notify_waiters`.
        let mut s = self.state.load(Acquire);
        loop {
            if generation(s) != w.gen {
                return Some(ALL);
            }
            if s & MASK != NOTIFIED {
                return None;
            }
            // Acquire: pairs with the Release CAS that stored the permit.
            match self
                .state
                .compare_exchange_weak(s, generation(s) | EMPTY, Acquire, Acquire)
            {
                Ok(_) => return Some(GRANTED),
                Err(actual) => s = actual,
            }
        }
    }

    fn poll_waiter(&self, w: &Waiter, cx: &mut Context<'_>) -> Poll<()> {
        let coop = ready!(coop::poll_proceed(cx));
        let res = match w.phase.get() {
            INIT => match self.poll_first(w, Some(cx.waker())) {
                Ok(case) => {
                    w.case.set(case);
                    Poll::Ready(())
                }
                Err(()) => Poll::Pending,
            },
            LINKED => {
                let signal = &w.node.signal;
                signal.register(cx.waker());
                match signal.check() {
                    Check::Waiting => Poll::Pending,
                    Check::Done(_) => Poll::Ready(()),
                    // A notifier is between its claim and `complete`, under the lock (as in the
                    // semaphore): a thread waits it out, a task comes back after the others.
                    Check::Claimed if spin_allowed() => {
                        signal.poll_done();
                        Poll::Ready(())
                    }
                    Check::Claimed => {
                        cx.waker().wake_by_ref();
                        Poll::Pending
                    }
                }
            }
            READY => Poll::Ready(()),
            _ => panic!("a Notified future was polled after it completed"),
        };
        match res {
            Poll::Ready(()) => {
                w.phase.set(DONE);
                coop.made_progress();
            }
            Poll::Pending => NoteKind::Signal.note(&self.id),
        }
        res
    }

    fn enable_waiter(&self, w: &Waiter) -> bool {
        match w.phase.get() {
            INIT => match self.poll_first(w, None) {
                Ok(case) => {
                    w.case.set(case);
                    w.phase.set(READY);
                    true
                }
                Err(()) => false,
            },
            LINKED => matches!(w.node.signal.check(), Check::Done(_)),
            _ => true,
        }
    }

    /// Cancel: the future owning `w` is going (invariant 3).
    #[inline]
    fn cancel(&self, w: &Waiter) {
        match w.phase.get() {
            LINKED => self.cancel_linked(w),
            READY if w.case.get() == GRANTED => self.notify(End::Front),
            _ => {}
        }
    }

    #[cold]
    fn cancel_linked(&self, w: &Waiter) {
        w.phase.set(DONE);
        let mut wakers = Wakers::default();
        let mut q = self.waiters.lock();
        // SAFETY: the node is alive (its future is being dropped) and was linked here or nowhere.
        if unsafe { q.remove(&w.node) } {
            if q.is_empty() {
                // Relaxed: invariant 2 (the word is stable while WAITING, and we hold the lock).
                let s = self.state.load(Relaxed);
                debug_assert_eq!(s & MASK, WAITING);
                self.state.store(generation(s) | EMPTY, Relaxed);
            }
        } else if w.node.signal.poll_done() == Some(GRANTED) {
            // Completed by a notify_one under the lock we now hold, never returned: pass it on.
            self.notify_locked(&mut q, End::Front, &mut wakers);
        }
        drop(q);
    }
}

impl Default for Notify {
    fn default() -> Notify {
        Notify::new()
    }
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Relaxed: a diagnostic snapshot.
        let s = self.state.load(Relaxed);
        f.debug_struct("Notify")
            .field("id", &self.id)
            .field("waiters", &(s & MASK == WAITING))
            .field("permit", &(s & MASK == NOTIFIED))
            .finish()
    }
}

const INIT: u8 = 0;
const LINKED: u8 = 1;
/// `enable` found it notified: the next poll returns `Ready`.
const READY: u8 = 2;
const DONE: u8 = 3;

/// The pinned state of one `notified()`.
struct Waiter {
    node: Node,
    phase: Cell<u8>,
    /// How it was notified without linking (`GRANTED`: consumed the permit; `ALL`).
    case: Cell<usize>,
    /// The generation when the future was made.
    gen: usize,
}

impl Waiter {
    fn new(gen: usize) -> Waiter {
        Waiter {
            node: Node::new(),
            phase: Cell::new(INIT),
            case: Cell::new(ALL),
            gen,
        }
    }
}

impl fmt::Debug for Waiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.phase.get() {
            INIT => "init",
            LINKED => "waiting",
            READY => "notified",
            _ => "done",
        })
    }
}

/// The future of [`Notify::notified`].
#[must_use = "futures do nothing unless awaited (or `.wait()`ed)"]
pub struct Notified<'a> {
    notify: &'a Notify,
    w: Waiter,
}

impl Notified<'_> {
    /// Joins the queue now, without waiting, so that a later `notify_one` or `notify_waiters`
    /// counts for this future even before it is polled. Returns true if it is already notified
    /// (the next poll returns `Ready`). Later calls only report.
    pub fn enable(self: Pin<&mut Self>) -> bool {
        let this = self.into_ref().get_ref();
        this.notify.enable_waiter(&this.w)
    }
}

#[cfg(not(loom))]
impl Notified<'_> {
    /// Blocks the calling thread (or suspends the calling fiber) until notified:
    /// [`spectrum_rt::Wait::wait`], the stored permit checked first.
    #[track_caller]
    pub fn wait(self) {
        if !self.notify.consume_before_wait(&self.w) {
            spectrum_rt::Wait::wait(self)
        }
    }
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.into_ref().get_ref();
        this.notify.poll_waiter(&this.w, cx)
    }
}

impl Drop for Notified<'_> {
    fn drop(&mut self) {
        self.notify.cancel(&self.w);
    }
}

impl fmt::Debug for Notified<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notified")
            .field("notify", &self.notify.id)
            .field("state", &self.w)
            .finish()
    }
}

/// The future of [`Notify::notified_owned`].
#[must_use = "futures do nothing unless awaited (or `.wait()`ed)"]
pub struct OwnedNotified {
    notify: Arc<Notify>,
    w: Waiter,
}

impl OwnedNotified {
    /// As [`Notified::enable`].
    pub fn enable(self: Pin<&mut Self>) -> bool {
        let this = self.into_ref().get_ref();
        this.notify.enable_waiter(&this.w)
    }
}

#[cfg(not(loom))]
impl OwnedNotified {
    /// As [`Notified::wait`].
    #[track_caller]
    pub fn wait(self) {
        if !self.notify.consume_before_wait(&self.w) {
            spectrum_rt::Wait::wait(self)
        }
    }
}

impl Future for OwnedNotified {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.into_ref().get_ref();
        this.notify.poll_waiter(&this.w, cx)
    }
}

impl Drop for OwnedNotified {
    fn drop(&mut self) {
        self.notify.cancel(&self.w);
    }
}

impl fmt::Debug for OwnedNotified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedNotified")
            .field("notify", &self.notify.id)
            .field("state", &self.w)
            .finish()
    }
}
