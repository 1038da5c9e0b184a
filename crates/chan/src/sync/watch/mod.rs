//! `watch`: a single-value channel that tells receivers when the value changes, as in
//! `tokio::sync::watch`.
//!
//! The channel holds one value. The [`Sender`] replaces or modifies it; every [`Receiver`] can
//! [`borrow`](Receiver::borrow) the current value at any time and wait for the next change with
//! [`changed`](Receiver::changed). Receivers see the latest value, not every value: a receiver
//! that looks twice while the sender sent ten times sees one change (the tenth value). This is
//! the channel for configuration, state and "latest reading" broadcasts, and for shutdown
//! signals.
//!
//! ```
//! use spectrum_chan::sync::watch;
//! use spectrum_rt::Wait;
//!
//! let (tx, mut rx) = watch::channel("starting");
//! let waiter = std::thread::spawn(move || {
//!     // An OS thread blocks with `.wait()` on the same futures a task awaits.
//!     let state = rx.wait_for(|s| *s == "ready").wait().unwrap();
//!     assert_eq!(*state, "ready");
//! });
//! tx.send("loading").unwrap();
//! tx.send("ready").unwrap();
//! waiter.join().unwrap();
//! ```
//!
//! # Versions
//!
//! The channel counts its changes: every `send`, `send_replace`, `send_modify` (and
//! `send_if_modified` returning true) makes a new *version*. Each receiver remembers the last
//! version it has seen. [`changed`](Receiver::changed) completes as soon as the current version
//! differs from the one seen, and marks it seen; [`borrow_and_update`](Receiver::borrow_and_update)
//! marks seen the version of the value it borrows; [`borrow`](Receiver::borrow) marks nothing.
//! So a receiver never misses "there was a change" (a change made while it was not waiting is
//! reported by the next `changed`), and never reports the same change twice. A new receiver
//! ([`Sender::subscribe`]) starts with the current value seen; a cloned receiver starts where
//! its original is. [`mark_changed`](Receiver::mark_changed) and
//! [`mark_unchanged`](Receiver::mark_unchanged) set the seen version by hand.
//!
//! When the last sender is dropped the channel closes: `changed` still reports an unseen version
//! once, then fails with [`RecvError`]; the last value stays readable. When every receiver is
//! dropped, [`Sender::send`] fails (and gives the value back) and [`Sender::closed`] resolves;
//! `send_replace` / `send_modify` still update the value, for receivers subscribed later.
//!
//! # Borrows
//!
//! A [`Ref`] holds a read lock on the value: the sender waits for it to be released before its
//! next change. Keep borrows short, and never hold one across an `.await` or a `.wait()` (the
//! guard is `!Send`, so a task that tries does not compile under a work-stealing `spawn`; under
//! `spawn_local` or in a thread it would block the sender, and deadlock if that sender runs on
//! the same thread). Clone what you need out of it instead.
//!
//! ```compile_fail
//! fn send<T: Send>(_: T) {}
//! let (_tx, rx) = spectrum_chan::sync::watch::channel(0);
//! send(rx.borrow()); // a borrow cannot travel with a task between threads
//! ```
//!
//! # Cancel safety
//!
//! [`changed`](Receiver::changed) and [`wait_for`](Receiver::wait_for) are cancel-safe: the seen
//! version only moves when the future completes, so dropping a pending one loses no change: the
//! next `changed` reports it. [`Sender::closed`] only observes.
//!
//! # Panics in user code
//!
//! A panicking `send_modify` / `send_if_modified` closure may have modified the value: the
//! change is published (receivers are told, so no partial change goes unnoticed) and the panic
//! resumes; the channel keeps working. A panicking `wait_for` predicate releases its borrow and
//! resumes; the receiver keeps working.
//!
//! # Design
//!
//! - `value`: a reader-writer lock (`std::sync::RwLock`, poisoning ignored) around the value.
//! - `state`: `version << 1 | CLOSED` in one atomic word (tokio's layout); each change adds 2
//!   while holding the write lock, so a reader holding the read lock sees the version of exactly
//!   the value it reads.
//! - `waiters`: a small lock around the queue of parked `changed` futures and the queue of parked
//!   `Sender::closed` futures (intrusive nodes, `broadcast::wake` module docs).
//! - Lost wake-ups: a change bumps the version, then takes the waiters lock and completes every
//!   parked `changed`; a `changed` that must wait takes the same lock, looks at the version
//!   again, and only then links itself. Either its look comes after the change's critical
//!   section (and sees the new version), or the change's critical section comes after the link
//!   (and completes it).

mod error;

use core::fmt;
use core::future::Future;
use core::ops::Deref;
use core::pin::Pin;
use core::task::{ready, Context, Poll};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use spectrum_rt::coop;
use spectrum_sync::atomic::{AtomicUsize, Ordering::*};
use spectrum_sync::Arc;

pub use error::{RecvError, SendError};

use super::broadcast::wake::{notify_all, Parked};
use super::id::{LazyId, NoteKind};
use super::node::{lock_for_poll, Queue};
use crate::lock::Lock;
use crate::op::spin_allowed;

/// The `state` bit set once the sender is gone.
const CLOSED: usize = 1;
/// What a change adds to `state`.
const STEP: usize = 2;

/// The value lock: std's `RwLock` (futex-based, writer-preferring), loom's under `cfg(loom)`.
/// Poisoning is ignored: a panic under the write lock is handled by `send_if_modified`.
mod rw {
    #[cfg(loom)]
    pub(super) use loom::sync::{
        RwLock, RwLockReadGuard as ReadGuard, RwLockWriteGuard as WriteGuard,
    };
    #[cfg(not(loom))]
    pub(super) use std::sync::{
        RwLock, RwLockReadGuard as ReadGuard, RwLockWriteGuard as WriteGuard,
    };

    pub(super) fn read<T>(l: &RwLock<T>) -> ReadGuard<'_, T> {
        l.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn write<T>(l: &RwLock<T>) -> WriteGuard<'_, T> {
        l.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// A watch channel holding `init`.
///
/// ```
/// let (tx, rx) = spectrum_chan::sync::watch::channel(0);
/// tx.send(1).unwrap();
/// assert_eq!(*rx.borrow(), 1);
/// ```
pub fn channel<T>(init: T) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared::new(init, 1));
    let tx = Sender {
        shared: shared.clone(),
    };
    (tx, Receiver { shared, version: 0 })
}

/// The channel's state, shared by the sender and the receivers.
struct Shared<T> {
    value: rw::RwLock<T>,
    /// `version << 1 | CLOSED` (module docs).
    state: AtomicUsize,
    /// Live receivers.
    rx_count: AtomicUsize,
    /// Live senders; the last one to go closes the channel.
    tx_count: AtomicUsize,
    waiters: Lock<Waiters>,
    /// The id of the wait notes.
    id: LazyId,
}

struct Waiters {
    /// Parked `changed` / `wait_for` futures.
    changed: Queue,
    /// Parked `Sender::closed` futures.
    closed: Queue,
}

impl<T> Shared<T> {
    fn new(init: T, receivers: usize) -> Shared<T> {
        Shared {
            value: rw::RwLock::new(init),
            state: AtomicUsize::new(0),
            rx_count: AtomicUsize::new(receivers),
            tx_count: AtomicUsize::new(1),
            waiters: Lock::new(Waiters {
                changed: Queue::new(),
                closed: Queue::new(),
            }),
            id: LazyId::new(),
        }
    }

    /// The current version, and whether the sender is gone.
    #[inline]
    fn load(&self) -> (usize, bool) {
        // Acquire: pairs with the Release `fetch_add` of a change (and the Release `fetch_or` of
        // the close): a receiver that sees a version then reads the value under the read lock,
        // which the change released after the bump.
        let s = self.state.load(Acquire);
        (s & !CLOSED, s & CLOSED != 0)
    }

    /// Publishes a change; the caller holds the write lock (so the version matches the value).
    #[inline]
    fn bump(&self) {
        // Release: pairs with the Acquire in `load`.
        self.state.fetch_add(STEP, Release);
    }

    /// Completes every parked `changed`; the caller has bumped the version or closed.
    fn notify_changed(&self) {
        notify_all(self.waiters.lock(), |w| &mut w.changed);
    }

    /// `changed` protocol for the receiver whose seen version is `*version`.
    fn poll_changed(
        &self,
        version: &mut usize,
        parked: &Parked,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), RecvError>> {
        let coop = ready!(coop::poll_proceed(cx));
        if parked.is_linked() && parked.poll(cx).is_pending() {
            NoteKind::Signal.note(&self.id);
            return Poll::Pending;
        }
        let look = |version: &mut usize| {
            let (current, closed) = self.load();
            if current != *version {
                *version = current;
                Some(Ok(()))
            } else if closed {
                Some(Err(RecvError(())))
            } else {
                None
            }
        };
        if let Some(r) = look(version) {
            coop.made_progress();
            return Poll::Ready(r);
        }
        let Some(mut w) = lock_for_poll(&self.waiters, cx, spin_allowed()) else {
            return Poll::Pending;
        };
        // Look again under the lock (module docs: lost wake-ups).
        if let Some(r) = look(version) {
            drop(w);
            coop.made_progress();
            return Poll::Ready(r);
        }
        // SAFETY: `parked` lives in a pinned `Changed` / `WaitFor`, is not linked (it was never
        // linked, or `poll` just saw it completed), and their `Drop` unlinks it under this lock.
        unsafe { parked.link(&mut w.changed, cx.waker()) };
        drop(w);
        NoteKind::Signal.note(&self.id);
        Poll::Pending
    }

    /// Unlinks a `changed` node whose future is going.
    fn unlink_changed(&self, parked: &Parked) {
        parked.unlink(&self.waiters, |w| &mut w.changed);
    }
}

/// The sending half. `Clone` (as in recent tokio): every sender changes the same value; the
/// channel closes when the last one is dropped.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    /// A sender of a new channel holding `init`, with no receiver yet (subscribe with
    /// [`subscribe`](Self::subscribe)).
    pub fn new(init: T) -> Sender<T> {
        Sender {
            shared: Arc::new(Shared::new(init, 0)),
        }
    }

    /// Replaces the value and notifies the receivers.
    ///
    /// # Errors
    ///
    /// [`SendError`] with the value if there is no receiver; the value is then not stored (use
    /// [`send_replace`](Self::send_replace) to store it regardless).
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        if self.receiver_count() == 0 {
            return Err(SendError(value));
        }
        self.send_replace(value);
        Ok(())
    }

    /// Replaces the value, notifies the receivers (if any), and returns the old value.
    pub fn send_replace(&self, value: T) -> T {
        let mut old = value;
        self.send_modify(|v| core::mem::swap(v, &mut old));
        old
    }

    /// Modifies the value in place and notifies the receivers (if any).
    ///
    /// # Panics
    ///
    /// If `modify` panics; the change is published all the same (module docs), and the channel
    /// keeps working.
    pub fn send_modify(&self, modify: impl FnOnce(&mut T)) {
        self.send_if_modified(|v| {
            modify(v);
            true
        });
    }

    /// Runs `modify` on the value; if it returns true, notifies the receivers (a new version),
    /// otherwise nothing changes for them. Returns what `modify` returned.
    ///
    /// ```
    /// let (tx, mut rx) = spectrum_chan::sync::watch::channel(0);
    /// assert!(!tx.send_if_modified(|v| if *v < 0 { *v = 0; true } else { false }));
    /// assert!(!rx.has_changed().unwrap());
    /// assert!(tx.send_if_modified(|v| { *v += 1; true }));
    /// assert!(rx.has_changed().unwrap());
    /// ```
    ///
    /// # Panics
    ///
    /// If `modify` panics. It may have modified the value, so the change is published (as if it
    /// had returned true) before the panic resumes; the lock is released and the channel keeps
    /// working.
    pub fn send_if_modified(&self, modify: impl FnOnce(&mut T) -> bool) -> bool {
        let shared = &*self.shared;
        let mut value = rw::write(&shared.value);
        // Caught while the write lock is held, so the lock is released normally (not poisoned)
        // and the version is bumped under it.
        let result = catch_unwind(AssertUnwindSafe(|| modify(&mut value)));
        let modified = *result.as_ref().unwrap_or(&true);
        if modified {
            shared.bump();
        }
        drop(value);
        if modified {
            shared.notify_changed();
        }
        match result {
            Ok(modified) => modified,
            Err(panic) => resume_unwind(panic),
        }
    }

    /// Borrows the current value (a read lock: see the module docs on borrows).
    /// [`Ref::has_changed`] is always false for the sender.
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref {
            guard: rw::read(&self.shared.value),
            has_changed: false,
        }
    }

    /// A new receiver, with the current value already seen.
    pub fn subscribe(&self) -> Receiver<T> {
        let shared = &self.shared;
        // Relaxed: a new handle; `closed` and `send` read the count as a snapshot, and the
        // waiters lock orders the transitions to and from 0 (see `Receiver::drop`).
        shared.rx_count.fetch_add(1, Relaxed);
        // Under the read lock: the version of the value the receiver starts from.
        let guard = rw::read(&shared.value);
        let version = shared.load().0;
        drop(guard);
        Receiver {
            shared: shared.clone(),
            version,
        }
    }

    /// The number of live receivers.
    pub fn receiver_count(&self) -> usize {
        // Acquire: pairs with the AcqRel decrement of a receiver's drop (a snapshot).
        self.shared.rx_count.load(Acquire)
    }

    /// The number of live senders, this one included.
    pub fn sender_count(&self) -> usize {
        // Relaxed: a snapshot.
        self.shared.tx_count.load(Relaxed)
    }

    /// True while there is no receiver (`send` fails).
    pub fn is_closed(&self) -> bool {
        self.receiver_count() == 0
    }

    /// True if the receiver belongs to this sender's channel.
    pub fn same_channel(&self, rx: &Receiver<T>) -> bool {
        Arc::ptr_eq(&self.shared, &rx.shared)
    }

    /// Waits until there is no receiver.
    ///
    /// ```
    /// use spectrum_rt::Wait;
    ///
    /// let (tx, rx) = spectrum_chan::sync::watch::channel(());
    /// std::thread::spawn(move || drop(rx));
    /// tx.closed().wait();
    /// assert!(tx.send(()).is_err());
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: it only observes the channel.
    pub fn closed(&self) -> Closed<'_, T> {
        Closed {
            shared: &self.shared,
            parked: Parked::new(),
        }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        // Relaxed: a new handle from an existing one, as `Arc::clone`; the count only decides
        // who closes (see `drop`).
        self.shared.tx_count.fetch_add(1, Relaxed);
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        // AcqRel: pairs with the other senders' decrements, so the last one closes after every
        // other sender's last change.
        if self.shared.tx_count.fetch_sub(1, AcqRel) != 1 {
            return;
        }
        // Release: pairs with the Acquire in `load` (a receiver that sees CLOSED has seen every
        // change: they were bumped before, and the decrements above chain them to this store).
        self.shared.state.fetch_or(CLOSED, Release);
        self.shared.notify_changed();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("id", &self.shared.id)
            .field("version", &self.shared.load().0)
            .finish_non_exhaustive()
    }
}

/// The receiving half: [`borrow`](Receiver::borrow) the value, wait for the next change with
/// [`changed`](Receiver::changed). `Clone`: a clone starts with the same version seen.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// The last version this receiver has seen.
    version: usize,
}

impl<T> Receiver<T> {
    /// Borrows the current value without marking it seen ([`Ref::has_changed`] tells whether it
    /// is unseen). A read lock: see the module docs on borrows.
    pub fn borrow(&self) -> Ref<'_, T> {
        let guard = rw::read(&self.shared.value);
        let has_changed = self.shared.load().0 != self.version;
        Ref { guard, has_changed }
    }

    /// Borrows the current value and marks it seen: the next [`changed`](Self::changed) waits
    /// for a later change. A read lock: see the module docs on borrows.
    pub fn borrow_and_update(&mut self) -> Ref<'_, T> {
        let guard = rw::read(&self.shared.value);
        // The version read under the read lock is the version of this value (module docs).
        let current = self.shared.load().0;
        let has_changed = current != self.version;
        self.version = current;
        Ref { guard, has_changed }
    }

    /// True if the value changed since this receiver last saw it.
    ///
    /// # Errors
    ///
    /// [`RecvError`] once the sender is gone (as tokio does), even if a change is unseen:
    /// [`changed`](Self::changed) still reports that change.
    pub fn has_changed(&self) -> Result<bool, RecvError> {
        let (current, closed) = self.shared.load();
        if closed {
            return Err(RecvError(()));
        }
        Ok(current != self.version)
    }

    /// Marks the current value unseen: the next [`changed`](Self::changed) completes at once.
    pub fn mark_changed(&mut self) {
        // A version the channel is past (versions only grow), so it differs from the current.
        self.version = self.shared.load().0.wrapping_sub(STEP);
    }

    /// Marks the current value seen, without borrowing it.
    pub fn mark_unchanged(&mut self) {
        self.version = self.shared.load().0;
    }

    /// Waits for a change this receiver has not seen (possibly one made before the call), and
    /// marks it seen.
    ///
    /// ```
    /// use spectrum_rt::Wait;
    ///
    /// let (tx, mut rx) = spectrum_chan::sync::watch::channel(0);
    /// tx.send(1).unwrap();
    /// tx.send(2).unwrap(); // two changes, one notification: the value is what counts
    /// rx.changed().wait().unwrap();
    /// assert_eq!(*rx.borrow(), 2);
    /// drop(tx);
    /// assert!(rx.changed().wait().is_err());
    /// assert_eq!(*rx.borrow(), 2); // the last value stays readable
    /// ```
    ///
    /// # Errors
    ///
    /// [`RecvError`] if the sender is gone and no unseen change remains.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the version is marked seen only when the future completes; a dropped
    /// `changed` leaves the change for the next one.
    pub fn changed(&mut self) -> Changed<'_, T> {
        Changed {
            shared: &self.shared,
            version: &mut self.version,
            parked: Parked::new(),
        }
    }

    /// Waits until the value satisfies `pred`, and returns a borrow of it (marked seen). The
    /// current value is tested first (seen or not), then each new version; `pred` runs under
    /// the read lock, so keep it short.
    ///
    /// ```
    /// use spectrum_rt::Wait;
    ///
    /// let (tx, mut rx) = spectrum_chan::sync::watch::channel(0);
    /// let t = std::thread::spawn(move || {
    ///     for i in 1..=10 {
    ///         tx.send(i).unwrap();
    ///     }
    /// });
    /// assert!(*rx.wait_for(|v| *v >= 5).wait().unwrap() >= 5);
    /// t.join().unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// [`RecvError`] if the sender is gone and the last value does not satisfy `pred`.
    ///
    /// # Panics
    ///
    /// If `pred` panics (the borrow is released first; the receiver keeps working).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping it loses no change (a later `changed` or `wait_for` sees it).
    pub fn wait_for<F: FnMut(&T) -> bool>(&mut self, pred: F) -> WaitFor<'_, T, F> {
        WaitFor {
            shared: &self.shared,
            version: &mut self.version,
            parked: Parked::new(),
            pred,
            check: true,
            fresh: false,
            closed: false,
        }
    }

    /// True if both receivers belong to the same channel.
    pub fn same_channel(&self, other: &Receiver<T>) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Receiver<T> {
        // Relaxed: as in `Sender::subscribe`.
        self.shared.rx_count.fetch_add(1, Relaxed);
        Receiver {
            shared: self.shared.clone(),
            version: self.version,
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        // AcqRel: Release pairs with the Acquire in `receiver_count`; the last one then takes
        // the waiters lock, which orders the 0 against a parking `Closed` (it looks again under
        // that lock).
        if self.shared.rx_count.fetch_sub(1, AcqRel) == 1 {
            notify_all(self.shared.waiters.lock(), |w| &mut w.closed);
        }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("id", &self.shared.id)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// A borrow of the value ([`Receiver::borrow`], [`Sender::borrow`], ...): a read lock on it.
/// Keep it short; never hold it across an `.await` or `.wait()` (module docs).
pub struct Ref<'a, T> {
    guard: rw::ReadGuard<'a, T>,
    has_changed: bool,
}

impl<T> Ref<'_, T> {
    /// True if the borrowed value was unseen by the receiver when it borrowed it (always false
    /// for the sender's borrows).
    pub fn has_changed(&self) -> bool {
        self.has_changed
    }
}

impl<T> Deref for Ref<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T: fmt::Debug> fmt::Debug for Ref<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// The future of [`Receiver::changed`].
#[must_use = "futures do nothing unless polled"]
pub struct Changed<'a, T> {
    shared: &'a Shared<T>,
    version: &'a mut usize,
    parked: Parked,
}

impl<T> Future for Changed<'_, T> {
    type Output = Result<(), RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `parked` is never moved out of the pinned future (used by reference, unlinked
        // in `Drop`); the other fields are plain references.
        let this = unsafe { self.get_unchecked_mut() };
        this.shared.poll_changed(this.version, &this.parked, cx)
    }
}

impl<T> Drop for Changed<'_, T> {
    fn drop(&mut self) {
        self.shared.unlink_changed(&self.parked);
    }
}

impl<T> fmt::Debug for Changed<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Changed")
            .field("id", &self.shared.id)
            .field("state", &self.parked)
            .finish()
    }
}

/// The future of [`Receiver::wait_for`].
#[must_use = "futures do nothing unless polled"]
pub struct WaitFor<'a, T, F> {
    shared: &'a Shared<T>,
    version: &'a mut usize,
    parked: Parked,
    pred: F,
    /// Test the value at the next poll (first poll, or a change was seen).
    check: bool,
    /// `changed` just marked a new version seen: the value tested next is unseen.
    fresh: bool,
    /// The sender is gone: this is the last test.
    closed: bool,
}

impl<'a, T, F: FnMut(&T) -> bool> Future for WaitFor<'a, T, F> {
    type Output = Result<Ref<'a, T>, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: as in `Changed::poll`: `parked` stays where it is; `pred` is never pinned
        // (only called through `&mut`), the rest are plain values and references.
        let this = unsafe { self.get_unchecked_mut() };
        let shared: &'a Shared<T> = this.shared;
        loop {
            if this.check {
                this.check = false;
                let guard = rw::read(&shared.value);
                let current = shared.load().0;
                let has_changed = current != *this.version || core::mem::take(&mut this.fresh);
                *this.version = current;
                // After the close only an unseen last value is worth a test.
                if (!this.closed || has_changed) && (this.pred)(&guard) {
                    return Poll::Ready(Ok(Ref { guard, has_changed }));
                }
            }
            if this.closed {
                return Poll::Ready(Err(RecvError(())));
            }
            let r = ready!(shared.poll_changed(this.version, &this.parked, cx));
            this.closed = r.is_err();
            this.fresh = r.is_ok();
            this.check = true;
        }
    }
}

impl<T, F> Drop for WaitFor<'_, T, F> {
    fn drop(&mut self) {
        self.shared.unlink_changed(&self.parked);
    }
}

impl<T, F> fmt::Debug for WaitFor<'_, T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitFor")
            .field("id", &self.shared.id)
            .field("state", &self.parked)
            .finish_non_exhaustive()
    }
}

/// The future of [`Sender::closed`].
#[must_use = "futures do nothing unless polled"]
pub struct Closed<'a, T> {
    shared: &'a Shared<T>,
    parked: Parked,
}

impl<T> Future for Closed<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.into_ref().get_ref();
        let shared = this.shared;
        if this.parked.is_linked() {
            if this.parked.poll(cx).is_ready() {
                return Poll::Ready(());
            }
            NoteKind::Signal.note(&shared.id);
            return Poll::Pending;
        }
        // Acquire: pairs with the AcqRel decrement in `Receiver::drop`.
        if shared.rx_count.load(Acquire) == 0 {
            return Poll::Ready(());
        }
        let Some(mut w) = lock_for_poll(&shared.waiters, cx, spin_allowed()) else {
            return Poll::Pending;
        };
        // Look again under the lock: the last receiver's drop completes the queue under it.
        // Acquire: as above.
        if shared.rx_count.load(Acquire) == 0 {
            return Poll::Ready(());
        }
        // SAFETY: `parked` lives in this pinned future, is not linked (checked above), and
        // `Drop` unlinks it under this lock.
        unsafe { this.parked.link(&mut w.closed, cx.waker()) };
        drop(w);
        NoteKind::Signal.note(&shared.id);
        Poll::Pending
    }
}

impl<T> Drop for Closed<'_, T> {
    fn drop(&mut self) {
        self.parked.unlink(&self.shared.waiters, |w| &mut w.closed);
    }
}

impl<T> fmt::Debug for Closed<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Closed")
            .field("id", &self.shared.id)
            .field("state", &self.parked)
            .finish()
    }
}
