//! The cases of a select: a receive or a send on one channel, each with its own waiter, all
//! sharing the select's signal.
//!
//! Only the select's owner touches a case: the core through the methods of the sealed
//! `CaseImpl` trait (which no code outside this crate can name, hence call), the `select!`
//! expansion through `&mut self` to take the result.

use core::cell::{Cell, UnsafeCell};
use core::ptr::NonNull;

use self::sealed::CaseImpl;
use crate::chan::{Chan, Readiness};
use crate::error::{RecvError, SendError, TryRecvError, TrySendError};
use crate::waiter::{Kind, Signal, Waiter};
use crate::{Receiver, Sender};

/// One case, type-erased (public only for `select!`'s expansion; its methods live in a sealed
/// trait that code outside this crate cannot call).
pub trait Case: sealed::CaseImpl {}

impl<T> Case for RecvCase<'_, T> {}
impl<T> Case for SendCase<'_, T> {}

pub(crate) mod sealed {
    use crate::chan::Readiness;
    use crate::waiter::{Kind, Signal};

    /// The operations of a case; see the select protocol.
    pub trait CaseImpl {
        fn enabled(&self) -> bool;
        /// Pass 1: performs the operation if it can proceed now; the result is stored in the case.
        fn try_now(&self) -> bool;
        /// Pass 2: `Ready` or `Busy` if the case is ready now or must be retried shortly (nothing
        /// linked); otherwise links the waiter and returns `NotReady`.
        ///
        /// # Safety
        ///
        /// The case stays in place, and `signal` alive, until the waiter is unlinked (`unregister`
        /// or the case's drop).
        unsafe fn register(&self, signal: &Signal, case: usize) -> Readiness;
        /// Unlinks the waiter if still linked.
        fn unregister(&self);
        /// This case won through a counterpart: move the result out of the waiter.
        fn collect(&self);
        /// Marks the case as the committed one (its result is in place).
        fn set_won(&self, won: bool);
        /// The result will never be handed out: give a received value back.
        fn abandon(&self);
        fn chan_addr(&self) -> *const ();
        fn kind(&self) -> Kind;
    }
}

/// A case's waiter, built the first time the case registers (pass 2): a select that finds a
/// ready case in pass 1 never builds any.
struct LazyWaiter<T> {
    kind: Kind,
    /// Written only by the select's owner while the waiter is unlinked.
    node: UnsafeCell<Option<Waiter<T>>>,
}

impl<T> LazyWaiter<T> {
    fn new(kind: Kind) -> LazyWaiter<T> {
        LazyWaiter {
            kind,
            node: UnsafeCell::new(None),
        }
    }

    /// The waiter, if built.
    fn get(&self) -> Option<&Waiter<T>> {
        // SAFETY: `node` is only written by `get_or_init`, by the owner, while the waiter is
        // unlinked and no reference from an earlier call is in use.
        unsafe { (*self.node.get()).as_ref() }
    }

    /// The waiter, built on first use. Only while unlinked.
    fn get_or_init(&self) -> &Waiter<T> {
        // SAFETY: as in `get`; unlinked, so nobody else holds a reference to it.
        unsafe { (*self.node.get()).get_or_insert_with(|| Waiter::new(self.kind)) }
    }
}

/// A receive case.
pub struct RecvCase<'a, T> {
    chan: Option<&'a Chan<T>>,
    node: LazyWaiter<T>,
    linked: Cell<bool>,
    won: Cell<bool>,
    result: Cell<Option<Result<T, RecvError>>>,
}

/// A send case; its value waits in `value`, and in the waiter's slot while registered.
pub struct SendCase<'a, T> {
    chan: Option<&'a Chan<T>>,
    value: Cell<Option<T>>,
    node: LazyWaiter<T>,
    linked: Cell<bool>,
    won: Cell<bool>,
    result: Cell<Option<Result<(), SendError<T>>>>,
}

// SAFETY: the `Cell`s and the waiter are only touched by the select's owner: through the `&self`
// methods of the sealed `CaseImpl` trait (called by the select core on the thread
// that polls the select), or through `&mut self`. Values inside are `T: Send`.
unsafe impl<T: core::marker::Send> Sync for RecvCase<'_, T> {}
// SAFETY: as above.
unsafe impl<T: core::marker::Send> Sync for SendCase<'_, T> {}
// SAFETY: as above; moving a case moves its `T: Send` values and a shared channel reference.
unsafe impl<T: core::marker::Send> core::marker::Send for RecvCase<'_, T> {}
// SAFETY: as above.
unsafe impl<T: core::marker::Send> core::marker::Send for SendCase<'_, T> {}

impl<'a, T> RecvCase<'a, T> {
    /// A receive case on `r` (disabled if `r` is `None` or `enabled` is false).
    pub fn new(r: impl RecvArg<'a, T>, enabled: bool) -> RecvCase<'a, T> {
        RecvCase {
            chan: r.receiver().filter(|_| enabled).map(|r| {
                r.used();
                &*r.chan
            }),
            node: LazyWaiter::new(Kind::Recv),
            linked: Cell::new(false),
            won: Cell::new(false),
            result: Cell::new(None),
        }
    }

    /// True if this case committed.
    pub fn is_won(&mut self) -> bool {
        self.won.get()
    }

    /// The result of the committed case.
    ///
    /// # Panics
    ///
    /// If the case did not commit, or the result was taken already.
    pub fn take(&mut self) -> Result<T, RecvError> {
        self.take_result()
    }

    /// As `take`, for the select's owner holding a shared reference.
    pub(crate) fn take_result(&self) -> Result<T, RecvError> {
        self.won.set(false);
        self.result
            .take()
            .expect("the committed case holds its result")
    }

    pub(crate) fn chan_ptr(&self) -> *const () {
        self.chan
            .map_or(core::ptr::null(), |c| (c as *const Chan<T>).cast())
    }
}

impl<'a, T> SendCase<'a, T> {
    /// A send case of `value` on `s` (disabled if `s` is `None` or `enabled` is false).
    pub fn new(s: impl SendArg<'a, T>, value: T, enabled: bool) -> SendCase<'a, T> {
        SendCase {
            chan: s.sender().filter(|_| enabled).map(|s| {
                s.used();
                &*s.chan
            }),
            value: Cell::new(Some(value)),
            node: LazyWaiter::new(Kind::Send),
            linked: Cell::new(false),
            won: Cell::new(false),
            result: Cell::new(None),
        }
    }

    /// True if this case committed.
    pub fn is_won(&mut self) -> bool {
        self.won.get()
    }

    /// The result of the committed case.
    ///
    /// # Panics
    ///
    /// If the case did not commit, or the result was taken already.
    pub fn take(&mut self) -> Result<(), SendError<T>> {
        self.take_result()
    }

    /// As `take`, for the select's owner holding a shared reference.
    pub(crate) fn take_result(&self) -> Result<(), SendError<T>> {
        self.won.set(false);
        self.result
            .take()
            .expect("the committed case holds its result")
    }

    pub(crate) fn chan_ptr(&self) -> *const () {
        self.chan
            .map_or(core::ptr::null(), |c| (c as *const Chan<T>).cast())
    }
}

fn waiter_ptr<T>(node: &Waiter<T>) -> NonNull<Waiter<T>> {
    NonNull::from(node)
}

/// Unlinks a case's waiter if it is linked; returns the waiter if it was linked (its slot is
/// the owner's again).
#[inline]
fn unregister_node<'n, T>(
    chan: Option<&Chan<T>>,
    node: &'n LazyWaiter<T>,
    linked: &Cell<bool>,
) -> Option<&'n Waiter<T>> {
    if !linked.get() {
        return None;
    }
    unregister_linked(chan, node, linked)
}

#[cold]
fn unregister_linked<'n, T>(
    chan: Option<&Chan<T>>,
    node: &'n LazyWaiter<T>,
    linked: &Cell<bool>,
) -> Option<&'n Waiter<T>> {
    let (true, Some(chan), Some(node)) = (linked.get(), chan, node.get()) else {
        return None;
    };
    let mut g = chan.lock();
    // SAFETY: the node is alive (the case owns it) and was linked in this channel.
    unsafe { g.unlink(waiter_ptr(node)) };
    drop(g);
    linked.set(false);
    chan.stats.record(node.kind(), node.stop_clock());
    Some(node)
}

impl<T> CaseImpl for RecvCase<'_, T> {
    fn enabled(&self) -> bool {
        self.chan.is_some()
    }

    fn try_now(&self) -> bool {
        let Some(chan) = self.chan else { return false };
        let r = chan.try_recv(core::ptr::null());
        match r {
            Ok(v) => self.result.set(Some(Ok(v))),
            Err(TryRecvError::Closed) => self.result.set(Some(Err(RecvError::Closed))),
            Err(TryRecvError::Empty) => return false,
        }
        true
    }

    unsafe fn register(&self, signal: &Signal, case: usize) -> Readiness {
        let Some(chan) = self.chan else {
            return Readiness::NotReady;
        };
        let mut g = chan.lock();
        let _ = g.announce(Kind::Recv);
        match g.can_recv(signal) {
            Readiness::NotReady => {}
            r => return r,
        }
        let node = self.node.get_or_init();
        node.arm(signal, case);
        g.start_wait(node);
        // SAFETY: the case stays in place and the signal alive until unlinked (caller); the
        // channel is open, or a value is still being written (`can_recv` would have said
        // ready otherwise).
        unsafe { g.link(waiter_ptr(node)) };
        self.linked.set(true);
        Readiness::NotReady
    }

    fn unregister(&self) {
        unregister_node(self.chan, &self.node, &self.linked);
    }

    fn collect(&self) {
        self.linked.set(false);
        let node = self.node.get().expect("a committed case was registered");
        if let Some(chan) = self.chan {
            chan.stats.record(Kind::Recv, node.stop_clock());
        }
        // SAFETY: the counterpart unlinked the node and published DONE: the slot is ours.
        let v = unsafe { node.take() };
        self.result.set(Some(v.ok_or(RecvError::Closed)));
    }

    fn set_won(&self, won: bool) {
        self.won.set(won);
    }

    fn abandon(&self) {
        if !self.won.replace(false) {
            // Only the committed case holds a result.
            return;
        }
        if let (Some(Ok(v)), Some(chan)) = (self.result.take(), self.chan) {
            chan.return_value(v);
        }
    }

    fn chan_addr(&self) -> *const () {
        self.chan_ptr()
    }

    fn kind(&self) -> Kind {
        Kind::Recv
    }
}

impl<T> Drop for RecvCase<'_, T> {
    fn drop(&mut self) {
        // Normally unlinked already (the select core aborts or commits first); this keeps a
        // case that outlives its select's future from leaving a dangling waiter behind.
        self.unregister();
        self.abandon();
    }
}

impl<T> CaseImpl for SendCase<'_, T> {
    fn enabled(&self) -> bool {
        // Called by the owner while the waiter is unlinked: the value is in `value`.
        let has = self.value.take();
        let enabled = self.chan.is_some() && has.is_some();
        self.value.set(has);
        enabled
    }

    fn try_now(&self) -> bool {
        let Some(chan) = self.chan else { return false };
        let Some(v) = self.value.take() else {
            return false;
        };
        let r = chan.try_send(v, core::ptr::null());
        match r {
            Ok(()) => self.result.set(Some(Ok(()))),
            Err(TrySendError::Closed(v)) => self.result.set(Some(Err(SendError(v)))),
            Err(TrySendError::Full(v)) => {
                self.value.set(Some(v));
                return false;
            }
        }
        true
    }

    unsafe fn register(&self, signal: &Signal, case: usize) -> Readiness {
        let Some(chan) = self.chan else {
            return Readiness::NotReady;
        };
        let mut g = chan.lock();
        let _ = g.announce(Kind::Send);
        match g.can_send(signal) {
            Readiness::NotReady => {}
            r => return r,
        }
        let node = self.node.get_or_init();
        // SAFETY: unlinked: the slot is ours.
        unsafe {
            node.put(
                self.value
                    .take()
                    .expect("an enabled send case holds its value"),
            )
        };
        node.arm(signal, case);
        g.start_wait(node);
        // SAFETY: as in `RecvCase::register`.
        unsafe { g.link(waiter_ptr(node)) };
        self.linked.set(true);
        Readiness::NotReady
    }

    fn unregister(&self) {
        if let Some(node) = unregister_node(self.chan, &self.node, &self.linked) {
            // Withdrawn unsent (or sent: then the slot is empty): the value goes back where
            // pass 1 looks for it.
            // SAFETY: unlinked: the slot is ours.
            if let Some(v) = unsafe { node.take() } {
                self.value.set(Some(v));
            }
        }
    }

    fn collect(&self) {
        self.linked.set(false);
        let node = self.node.get().expect("a committed case was registered");
        if let Some(chan) = self.chan {
            chan.stats.record(Kind::Send, node.stop_clock());
        }
        // SAFETY: unlinked and DONE: the slot is ours. A value still there was not taken: the
        // channel closed.
        let left = unsafe { node.take() };
        self.result.set(Some(match left {
            Some(v) => Err(SendError(v)),
            None => Ok(()),
        }));
    }

    fn set_won(&self, won: bool) {
        self.won.set(won);
    }

    fn abandon(&self) {
        self.won.set(false);
        drop(self.result.take());
    }

    fn chan_addr(&self) -> *const () {
        self.chan_ptr()
    }

    fn kind(&self) -> Kind {
        Kind::Send
    }
}

impl<T> Drop for SendCase<'_, T> {
    fn drop(&mut self) {
        self.unregister();
    }
}

impl<T> core::fmt::Debug for RecvCase<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RecvCase")
            .field("enabled", &self.chan.is_some())
            .finish_non_exhaustive()
    }
}

impl<T> core::fmt::Debug for SendCase<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SendCase")
            .field("enabled", &self.chan.is_some())
            .finish_non_exhaustive()
    }
}

/// What a receive case may name: a `&Receiver`, or an `Option` of one where `None` disables the
/// case (Go's nil channel).
pub trait RecvArg<'a, T> {
    fn receiver(self) -> Option<&'a Receiver<T>>;
}

impl<'a, T> RecvArg<'a, T> for &'a Receiver<T> {
    fn receiver(self) -> Option<&'a Receiver<T>> {
        Some(self)
    }
}
impl<'a, 'b: 'a, T> RecvArg<'a, T> for &'a &'b Receiver<T> {
    fn receiver(self) -> Option<&'a Receiver<T>> {
        Some(*self)
    }
}
impl<'a, T> RecvArg<'a, T> for Option<&'a Receiver<T>> {
    fn receiver(self) -> Option<&'a Receiver<T>> {
        self
    }
}
impl<'a, T> RecvArg<'a, T> for &'a Option<Receiver<T>> {
    fn receiver(self) -> Option<&'a Receiver<T>> {
        self.as_ref()
    }
}
impl<'a, 'b: 'a, T> RecvArg<'a, T> for &'a Option<&'b Receiver<T>> {
    fn receiver(self) -> Option<&'a Receiver<T>> {
        *self
    }
}

/// What a send case may name: a `&Sender`, or an `Option` of one where `None` disables the case.
pub trait SendArg<'a, T> {
    fn sender(self) -> Option<&'a Sender<T>>;
}

impl<'a, T> SendArg<'a, T> for &'a Sender<T> {
    fn sender(self) -> Option<&'a Sender<T>> {
        Some(self)
    }
}
impl<'a, 'b: 'a, T> SendArg<'a, T> for &'a &'b Sender<T> {
    fn sender(self) -> Option<&'a Sender<T>> {
        Some(*self)
    }
}
impl<'a, T> SendArg<'a, T> for Option<&'a Sender<T>> {
    fn sender(self) -> Option<&'a Sender<T>> {
        self
    }
}
impl<'a, T> SendArg<'a, T> for &'a Option<Sender<T>> {
    fn sender(self) -> Option<&'a Sender<T>> {
        self.as_ref()
    }
}
impl<'a, 'b: 'a, T> SendArg<'a, T> for &'a Option<&'b Sender<T>> {
    fn sender(self) -> Option<&'a Sender<T>> {
        *self
    }
}
