//! The cases of a select: a receive or a send on one channel, each with its own waiter, all
//! sharing the select's signal.
//!
//! Only the select's owner touches a case: the core through the methods of the sealed
//! `CaseImpl` trait (which no code outside this crate can name, hence call), the `select!`
//! expansion through `&mut self` to take the result.

use core::cell::Cell;
use core::ptr::NonNull;

use self::sealed::CaseImpl;
use crate::chan::Chan;
use crate::error::{RecvError, SendError, TryRecvError, TrySendError};
use crate::waiter::{Kind, Signal, Waiter, Wakers};
use crate::{Receiver, Sender};

/// One case, type-erased (public only for `select!`'s expansion; its methods live in a sealed
/// trait that code outside this crate cannot call).
pub trait Case: sealed::CaseImpl {}

impl<T> Case for RecvCase<'_, T> {}
impl<T> Case for SendCase<'_, T> {}

pub(crate) mod sealed {
    use crate::waiter::{Kind, Signal, Wakers};

    /// The operations of a case; see the select protocol.
    pub trait CaseImpl {
        fn enabled(&self) -> bool;
        /// Pass 1: performs the operation if it can proceed now; the result is stored in the case.
        fn try_now(&self, w: &mut Wakers) -> bool;
        /// Pass 2: true if the case is ready now (nothing linked); otherwise links the waiter.
        ///
        /// # Safety
        ///
        /// The case stays in place, and `signal` alive, until the waiter is unlinked (`unregister`
        /// or the case's drop).
        unsafe fn register(&self, signal: &Signal, case: usize, w: &mut Wakers) -> bool;
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

/// A receive case.
pub struct RecvCase<'a, T> {
    chan: Option<&'a Chan<T>>,
    node: Waiter<T>,
    linked: Cell<bool>,
    won: Cell<bool>,
    result: Cell<Option<Result<T, RecvError>>>,
}

/// A send case; its value waits in the waiter's slot.
pub struct SendCase<'a, T> {
    chan: Option<&'a Chan<T>>,
    node: Waiter<T>,
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
            chan: r.receiver().filter(|_| enabled).map(|r| &*r.chan),
            node: Waiter::new(Kind::Recv),
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
        let case = SendCase {
            chan: s.sender().filter(|_| enabled).map(|s| &*s.chan),
            node: Waiter::new(Kind::Send),
            linked: Cell::new(false),
            won: Cell::new(false),
            result: Cell::new(None),
        };
        // SAFETY: the node is fresh and unlinked: its slot is ours.
        unsafe { case.node.put(value) };
        case
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

fn unregister_node<T>(chan: Option<&Chan<T>>, node: &Waiter<T>, linked: &Cell<bool>) {
    if let (true, Some(chan)) = (linked.get(), chan) {
        let mut g = chan.lock();
        // SAFETY: the node is alive (the case owns it) and was linked in this channel.
        unsafe { g.unlink(waiter_ptr(node)) };
        drop(g);
        linked.set(false);
        chan.stats.record(node.kind(), node.stop_clock());
    }
}

impl<T> CaseImpl for RecvCase<'_, T> {
    fn enabled(&self) -> bool {
        self.chan.is_some()
    }

    fn try_now(&self, w: &mut Wakers) -> bool {
        let Some(chan) = self.chan else { return false };
        let r = chan.lock().try_recv(core::ptr::null(), w);
        match r {
            Ok(v) => self.result.set(Some(Ok(v))),
            Err(TryRecvError::Closed) => self.result.set(Some(Err(RecvError::Closed))),
            Err(TryRecvError::Empty) => return false,
        }
        true
    }

    unsafe fn register(&self, signal: &Signal, case: usize, w: &mut Wakers) -> bool {
        let Some(chan) = self.chan else { return false };
        let mut g = chan.lock();
        if g.can_recv(signal) {
            return true;
        }
        self.node.arm(signal, case);
        self.node.start_clock();
        // SAFETY: the case stays in place and the signal alive until unlinked (caller); the
        // channel is open (`can_recv` would have said ready).
        unsafe { g.link(waiter_ptr(&self.node), w) };
        self.linked.set(true);
        false
    }

    fn unregister(&self) {
        unregister_node(self.chan, &self.node, &self.linked);
    }

    fn collect(&self) {
        self.linked.set(false);
        if let Some(chan) = self.chan {
            chan.stats.record(Kind::Recv, self.node.stop_clock());
        }
        // SAFETY: the counterpart unlinked the node and published DONE: the slot is ours.
        let v = unsafe { self.node.take() };
        self.result.set(Some(v.ok_or(RecvError::Closed)));
    }

    fn set_won(&self, won: bool) {
        self.won.set(won);
    }

    fn abandon(&self) {
        self.won.set(false);
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
        // SAFETY: called by the owner while the node is unlinked: the slot is ours.
        self.chan.is_some() && unsafe { self.node.has_value() }
    }

    fn try_now(&self, w: &mut Wakers) -> bool {
        let Some(chan) = self.chan else { return false };
        // SAFETY: unlinked during pass 1: the slot is ours.
        let Some(v) = (unsafe { self.node.take() }) else {
            return false;
        };
        let r = chan.lock().try_send(v, core::ptr::null(), w);
        match r {
            Ok(()) => self.result.set(Some(Ok(()))),
            Err(TrySendError::Closed(v)) => self.result.set(Some(Err(SendError(v)))),
            Err(TrySendError::Full(v)) => {
                // SAFETY: as above.
                unsafe { self.node.put(v) };
                return false;
            }
        }
        true
    }

    unsafe fn register(&self, signal: &Signal, case: usize, w: &mut Wakers) -> bool {
        let Some(chan) = self.chan else { return false };
        let mut g = chan.lock();
        if g.can_send(signal) {
            return true;
        }
        self.node.arm(signal, case);
        self.node.start_clock();
        // SAFETY: as in `RecvCase::register`.
        unsafe { g.link(waiter_ptr(&self.node), w) };
        self.linked.set(true);
        false
    }

    fn unregister(&self) {
        unregister_node(self.chan, &self.node, &self.linked);
    }

    fn collect(&self) {
        self.linked.set(false);
        if let Some(chan) = self.chan {
            chan.stats.record(Kind::Send, self.node.stop_clock());
        }
        // SAFETY: unlinked and DONE: the slot is ours. A value still there was not taken: the
        // channel closed.
        let left = unsafe { self.node.take() };
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
