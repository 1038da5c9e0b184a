//! The channel core: one lock, one buffer, three waiter queues (Go's `hchan`).
//!
//! Every flavor is this one structure: `bounded(n)` has `cap == n`, `bounded(0)` has `cap == 0`
//! (a value only ever moves straight from a sender to a receiver), and `unbounded()` has
//! `cap == usize::MAX`. Go's `runtime/chan.go` uses the same single structure for all its
//! channels; a flavor split (crossbeam's `flavors/`) would buy lock-free fast paths at the price of
//! a second and third implementation of close, select and cancellation, which is where channel
//! bugs live.
//!
//! # Invariants (all under `inner`'s lock)
//!
//! 1. `buf.len() + reserved <= cap`, except for values given back by a cancelled receive
//!    (`return_value`) and values sent through a rendezvous permit, which may exceed it by the
//!    number of such values: a value is never dropped to keep a bound.
//! 2. A live waiter in `recvq` implies `buf` is empty (a sender that finds a waiting receiver
//!    hands the value over directly; a receiver only waits when `buf` is empty).
//! 3. A live `Send`/`Reserve` waiter in `sendq` implies there is no free slot
//!    (`buf.len() + reserved >= cap`): whoever frees a slot calls `refill`, which moves the first
//!    waiting sender's value into `buf` (or grants the first reservation).
//! 4. Once `closed` is set, no waiter is ever linked in any queue again: `close` completes every
//!    waiter, and every operation checks `closed` before it links one.
//! 5. Each queue is FIFO: waiters are linked at the back and served from the front.
//!
//! A *stale* waiter is one whose [`Signal`] is no longer `WAITING` (its `select` committed
//! elsewhere, or timed out). Stale waiters do not count for these invariants; whoever meets one
//! at the front of a queue unlinks it.
//!
//! # Who touches what
//!
//! - `inner` (behind [`Lock`]): every operation, for a few dozen instructions. Wakers are
//!   collected in [`Wakers`] and woken after the lock is released; values that must be dropped
//!   (`close_and_discard`) are dropped after it too.
//! - `closed_hint`: written under the lock by `close`, read without it by `is_closed`.
//! - `senders` / `receivers`: handle counts, changed by `Clone`/`Drop` of the handles; the last
//!   sender or receiver to go closes the channel under the lock.
//! - `stats`: added to by the owner of a waiter when it stops waiting.
//!
//! # Protocols
//!
//! Send of `v` (`try_send`):
//! 1. Closed: fail with `v`.
//! 2. A live receiver waits: claim it, put `v` in its slot, complete it (Go's direct hand-off:
//!    the value never touches the buffer).
//! 3. A free slot: push `v` to the back of `buf`.
//! 4. Otherwise: full. A blocking send then puts `v` in its own waiter and links it in `sendq`.
//!
//! Receive (`try_recv`):
//! 1. `buf` non-empty: pop the front, then `refill` (a waiting sender's value moves into the
//!    freed slot, so FIFO order across buffer and waiting senders holds).
//! 2. `buf` empty and a live `Send` waiter (a rendezvous, or every slot reserved): take its value
//!    and complete it.
//! 3. Closed: `Closed`. Otherwise: empty; a blocking receive links its waiter in `recvq`.
//!
//! Close: set `closed`, then complete every waiter of every queue. Receivers then find the
//! buffer, drain it, and get `Closed`; waiting senders find their value still in their slot and
//! return it in the error.

use core::fmt;
use core::ptr::NonNull;
use std::collections::VecDeque;

use spectrum_sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use spectrum_sync::linked_list::LinkedList;

use crate::error::{TryRecvError, TrySendError};
use crate::lock::{Guard, Lock};
use crate::waiter::{
    Kind, Signal, Waiter, WaiterLink, Wakers, OUTCOME_CLOSED, OUTCOME_GRANTED, OUTCOME_NONE,
};

/// The most slots allocated up front; larger buffers grow on demand (so `bounded(usize::MAX)`
/// costs nothing until it holds values). 4096 slots keep `bounded(1024)`-class channels from
/// ever reallocating on their hot path.
const PREALLOC_LIMIT: usize = 4096;

type Queue<T> = LinkedList<WaiterLink<T>>;

/// The shared state of one channel.
pub(crate) struct Chan<T> {
    inner: Lock<Inner<T>>,
    cap: usize,
    /// False for `unbounded()` (whose `cap` is `usize::MAX`, like `bounded(usize::MAX)`'s).
    bounded: bool,
    closed_hint: AtomicBool,
    pub(crate) senders: AtomicUsize,
    pub(crate) receivers: AtomicUsize,
    pub(crate) stats: Stats,
}

// SAFETY: the waiter pointers in the queues are only dereferenced under `inner`'s lock (module
// docs), and values of `T: Send` move between threads only through the buffer or a waiter's slot.
unsafe impl<T: Send> Send for Chan<T> {}
// SAFETY: as for `Send`; every `&Chan` access to shared data goes through the lock or an atomic.
unsafe impl<T: Send> Sync for Chan<T> {}

/// The state behind the lock.
pub(crate) struct Inner<T> {
    buf: VecDeque<T>,
    cap: usize,
    /// Slots promised to live `Permit`s.
    reserved: usize,
    closed: bool,
    sendq: Queue<T>,
    recvq: Queue<T>,
    closeq: Queue<T>,
}

/// The channel lock's guard.
pub(crate) struct ChanGuard<'a, T> {
    guard: Guard<'a, Inner<T>>,
}

impl<T> core::ops::Deref for ChanGuard<'_, T> {
    type Target = Inner<T>;
    #[inline]
    fn deref(&self) -> &Inner<T> {
        &self.guard
    }
}

impl<T> core::ops::DerefMut for ChanGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut Inner<T> {
        &mut self.guard
    }
}

/// Blocked-time counters (see [`ChannelStats`](crate::ChannelStats)).
#[derive(Default)]
pub(crate) struct Stats {
    send_waits: AtomicU64,
    send_nanos: AtomicU64,
    recv_waits: AtomicU64,
    recv_nanos: AtomicU64,
}

impl Stats {
    pub(crate) fn record(&self, kind: Kind, nanos: Option<u64>) {
        let Some(nanos) = nanos else { return };
        let (waits, total) = match kind {
            Kind::Send | Kind::Reserve => (&self.send_waits, &self.send_nanos),
            Kind::Recv => (&self.recv_waits, &self.recv_nanos),
            Kind::Closed => return,
        };
        // Relaxed: independent diagnostic counters; no other memory depends on them.
        waits.fetch_add(1, Relaxed);
        total.fetch_add(nanos, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> crate::ChannelStats {
        // Relaxed: see `record`.
        crate::ChannelStats {
            send_waits: self.send_waits.load(Relaxed),
            send_blocked: std::time::Duration::from_nanos(self.send_nanos.load(Relaxed)),
            recv_waits: self.recv_waits.load(Relaxed),
            recv_blocked: std::time::Duration::from_nanos(self.recv_nanos.load(Relaxed)),
        }
    }
}

impl<T> Chan<T> {
    pub(crate) fn new(cap: Option<usize>) -> Chan<T> {
        let bounded = cap.is_some();
        let cap = cap.unwrap_or(usize::MAX);
        Chan {
            inner: Lock::new(Inner {
                buf: VecDeque::with_capacity(cap.min(PREALLOC_LIMIT)),
                cap,
                reserved: 0,
                closed: false,
                sendq: LinkedList::new(),
                recvq: LinkedList::new(),
                closeq: LinkedList::new(),
            }),
            cap,
            bounded,
            closed_hint: AtomicBool::new(false),
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
            stats: Stats::default(),
        }
    }

    #[inline]
    pub(crate) fn lock(&self) -> ChanGuard<'_, T> {
        ChanGuard {
            guard: self.inner.lock(),
        }
    }

    pub(crate) fn capacity(&self) -> Option<usize> {
        self.bounded.then_some(self.cap)
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().buf.len()
    }

    pub(crate) fn is_closed(&self) -> bool {
        // Acquire: pairs with the Release store in `close`, so a caller that sees `true` also
        // sees the state the closer left (and then finds the channel closed under the lock).
        self.closed_hint.load(Acquire)
    }

    /// Closes the channel; true if this call closed it.
    pub(crate) fn close(&self) -> bool {
        let mut w = Wakers::default();
        let mut g = self.lock();
        let did = g.close(&mut w);
        if did {
            // Release: pairs with the Acquire load in `is_closed`.
            self.closed_hint.store(true, Release);
        }
        drop(g);
        w.wake_all();
        did
    }

    /// Closes the channel and drops every buffered value; returns how many were dropped.
    pub(crate) fn close_and_discard(&self) -> usize {
        let mut w = Wakers::default();
        let mut g = self.lock();
        if g.close(&mut w) {
            // Release: pairs with the Acquire load in `is_closed`.
            self.closed_hint.store(true, Release);
        }
        let dropped = core::mem::take(&mut g.buf);
        drop(g);
        w.wake_all();
        // Dropped outside the lock: a value's destructor may use this channel.
        dropped.len()
    }

    /// The last receiver is gone: close, and drop the buffered values nobody can receive.
    pub(crate) fn disconnect_receivers(&self) {
        self.close_and_discard();
    }

    /// Gives back a value that a cancelled receive had already been handed.
    pub(crate) fn return_value(&self, v: T) {
        let mut w = Wakers::default();
        let mut g = self.lock();
        g.return_value(v, &mut w);
        drop(g);
        w.wake_all();
    }
}

impl<T> fmt::Debug for Chan<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chan")
            .field("cap", &self.cap)
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

/// Unlinks and claims the first live waiter of `q` that `want` accepts and that does not belong
/// to `exclude` (a select never matches with itself). Waiters skipped for either reason stay
/// linked, in order; stale ones met on the way are unlinked.
fn claim_first<T>(
    q: &mut Queue<T>,
    exclude: *const Signal,
    want: impl Fn(Kind) -> bool,
) -> Option<NonNull<Waiter<T>>> {
    let mut skipped: Vec<NonNull<Waiter<T>>> = Vec::new();
    let found = loop {
        let Some(node) = q.pop_front() else {
            break None;
        };
        // SAFETY: linked nodes are alive and armed (waiter module docs); we hold the lock.
        let w = unsafe { node.as_ref() };
        if w.signal_ptr() == exclude || !want(w.kind()) {
            skipped.push(node);
            continue;
        }
        // SAFETY: as above: a linked node's signal is alive.
        if unsafe { w.signal() }.try_claim() {
            break Some(node);
        }
        // Stale: its select committed elsewhere or gave up. It stays unlinked.
    };
    for node in skipped.into_iter().rev() {
        q.push_front(node);
    }
    found
}

/// True if `q` holds a live waiter that `want` accepts and that is not `exclude`'s. Prunes stale
/// waiters at the front.
fn has_live<T>(q: &mut Queue<T>, exclude: *const Signal, want: impl Fn(Kind) -> bool) -> bool {
    while let Some(front) = q.front() {
        // SAFETY: linked nodes are alive and armed; we hold the lock.
        if unsafe { front.as_ref().signal() }.is_waiting() {
            break;
        }
        q.pop_front();
    }
    let mut live = false;
    q.for_each(|node| {
        // SAFETY: as above.
        let w = unsafe { node.as_ref() };
        if live || w.signal_ptr() == exclude || !want(w.kind()) {
            return;
        }
        // SAFETY: as above.
        live = unsafe { w.signal() }.is_waiting();
    });
    live
}

/// Completes a claimed node: its owner will find `DONE` for the node's case.
///
/// # Safety
///
/// `node` was claimed by the caller under the channel lock, which it still holds.
unsafe fn complete<T>(node: NonNull<Waiter<T>>, w: &mut Wakers) {
    // SAFETY: claimed nodes stay alive until `complete` publishes DONE (waiter module docs).
    let n = unsafe { node.as_ref() };
    // SAFETY: as above.
    w.push(unsafe { n.signal() }.complete(n.case()));
}

fn is_recv(k: Kind) -> bool {
    k == Kind::Recv
}
fn is_send(k: Kind) -> bool {
    k == Kind::Send
}
fn is_reserve(k: Kind) -> bool {
    k == Kind::Reserve
}
fn any(_: Kind) -> bool {
    true
}

impl<T> Inner<T> {
    #[inline]
    fn has_space(&self) -> bool {
        self.buf.len() + self.reserved < self.cap
    }

    /// The buffer can take one more value without an allocation failure (only huge capacities
    /// ever grow; see `PREALLOC_LIMIT`).
    #[inline]
    fn ensure_room(&mut self) -> bool {
        self.buf.len() < self.buf.capacity() || self.buf.try_reserve(1).is_ok()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// Send protocol steps 1-3; `exclude` is the caller's own select signal (or null).
    pub(crate) fn try_send(
        &mut self,
        v: T,
        exclude: *const Signal,
        w: &mut Wakers,
    ) -> Result<(), TrySendError<T>> {
        if self.closed {
            return Err(TrySendError::Closed(v));
        }
        if !self.recvq.is_empty() {
            if let Some(node) = claim_first(&mut self.recvq, exclude, is_recv) {
                // SAFETY: we claimed the node under the lock: its slot is ours to write.
                unsafe {
                    node.as_ref().put(v);
                    complete(node, w);
                }
                return Ok(());
            }
        }
        if self.has_space() && self.ensure_room() {
            self.buf.push_back(v);
            return Ok(());
        }
        Err(TrySendError::Full(v))
    }

    /// Receive protocol steps 1-3.
    pub(crate) fn try_recv(
        &mut self,
        exclude: *const Signal,
        w: &mut Wakers,
    ) -> Result<T, TryRecvError> {
        if let Some(v) = self.buf.pop_front() {
            self.refill(w);
            return Ok(v);
        }
        if !self.sendq.is_empty() {
            if let Some(node) = claim_first(&mut self.sendq, exclude, is_send) {
                // SAFETY: claimed under the lock: the slot is ours; a `Send` waiter holds a value.
                let v = unsafe { node.as_ref().take() };
                // SAFETY: as above.
                unsafe { complete(node, w) };
                return Ok(v.expect("a waiting sender holds its value"));
            }
        }
        if self.closed {
            Err(TryRecvError::Closed)
        } else {
            Err(TryRecvError::Empty)
        }
    }

    /// Would a send proceed right now (select readiness; a send on a closed channel proceeds,
    /// with an error)?
    pub(crate) fn can_send(&mut self, exclude: *const Signal) -> bool {
        self.closed
            || (self.has_space() && self.ensure_room())
            || has_live(&mut self.recvq, exclude, is_recv)
    }

    /// Would a receive proceed right now (a receive on a closed, drained channel proceeds)?
    pub(crate) fn can_recv(&mut self, exclude: *const Signal) -> bool {
        !self.buf.is_empty() || self.closed || has_live(&mut self.sendq, exclude, is_send)
    }

    /// Reserves one slot for a permit.
    pub(crate) fn try_reserve(&mut self) -> Result<(), TrySendError<()>> {
        if self.closed {
            return Err(TrySendError::Closed(()));
        }
        let ok = if self.cap == 0 {
            // Rendezvous: a permit promises a waiting receiver.
            self.recvq.len() > self.reserved
        } else {
            self.has_space() && self.ensure_room()
        };
        if ok {
            self.reserved += 1;
            Ok(())
        } else {
            Err(TrySendError::Full(()))
        }
    }

    /// Sends through a permit (its slot is released either way).
    pub(crate) fn permit_send(&mut self, v: T, w: &mut Wakers) -> Result<(), T> {
        self.reserved -= 1;
        if self.closed {
            return Err(v);
        }
        if let Some(node) = claim_first(&mut self.recvq, core::ptr::null(), is_recv) {
            // SAFETY: claimed under the lock: its slot is ours to write.
            unsafe {
                node.as_ref().put(v);
                complete(node, w);
            }
            // The value bypassed the buffer, so the reserved slot is free now: it goes to the
            // next waiting sender (invariant 3).
            self.refill(w);
        } else {
            // The reserved slot is ours (invariant 1); on a rendezvous the promised receiver
            // went away, and the value waits here for the next one rather than being lost.
            self.buf.push_back(v);
        }
        Ok(())
    }

    /// A permit went unused: free its slot.
    pub(crate) fn release_reservation(&mut self, w: &mut Wakers) {
        self.reserved -= 1;
        self.refill(w);
    }

    /// Moves waiting senders into free slots (invariant 3).
    fn refill(&mut self, w: &mut Wakers) {
        while !self.sendq.is_empty() && self.has_space() && self.ensure_room() {
            let Some(node) = claim_first(&mut self.sendq, core::ptr::null(), any) else {
                break;
            };
            // SAFETY: claimed under the lock: the node and its slot are ours until `complete`.
            let n = unsafe { node.as_ref() };
            match n.kind() {
                Kind::Send => {
                    // SAFETY: as above.
                    let v = unsafe { n.take() }.expect("a waiting sender holds its value");
                    self.buf.push_back(v);
                }
                _ => {
                    self.reserved += 1;
                    n.set_outcome(OUTCOME_GRANTED);
                }
            }
            // SAFETY: as above.
            unsafe { complete(node, w) };
        }
    }

    /// On a rendezvous channel, grants waiting reservations for the receivers now waiting.
    fn grant_rendezvous(&mut self, w: &mut Wakers) {
        while self.cap == 0 && !self.sendq.is_empty() && self.recvq.len() > self.reserved {
            let Some(node) = claim_first(&mut self.sendq, core::ptr::null(), is_reserve) else {
                break;
            };
            self.reserved += 1;
            // SAFETY: claimed under the lock.
            unsafe {
                node.as_ref().set_outcome(OUTCOME_GRANTED);
                complete(node, w);
            }
        }
    }

    /// Links an armed waiter at the back of its queue.
    ///
    /// # Safety
    ///
    /// `node` is alive, armed, not linked, and stays alive and pinned until it is unlinked under
    /// this lock; the channel is not closed.
    pub(crate) unsafe fn link(&mut self, node: NonNull<Waiter<T>>, w: &mut Wakers) {
        debug_assert!(!self.closed);
        // SAFETY: alive per the caller.
        match unsafe { node.as_ref() }.kind() {
            Kind::Send | Kind::Reserve => self.sendq.push_back(node),
            Kind::Recv => {
                self.recvq.push_back(node);
                self.grant_rendezvous(w);
            }
            Kind::Closed => self.closeq.push_back(node),
        }
    }

    /// Unlinks `node` if it is still linked; false if a counterpart completed or pruned it.
    ///
    /// # Safety
    ///
    /// `node` is alive and was linked in this channel (or never linked anywhere).
    pub(crate) unsafe fn unlink(&mut self, node: NonNull<Waiter<T>>) -> bool {
        // SAFETY: alive per the caller.
        let q = match unsafe { node.as_ref() }.kind() {
            Kind::Send | Kind::Reserve => &mut self.sendq,
            Kind::Recv => &mut self.recvq,
            Kind::Closed => &mut self.closeq,
        };
        // SAFETY: the node is linked in `q` or in no list (its pointers reset by removal).
        unsafe { q.remove(node) }
    }

    /// Close protocol; true if this call closed the channel.
    fn close(&mut self, w: &mut Wakers) -> bool {
        if self.closed {
            return false;
        }
        self.closed = true;
        for q in [&mut self.recvq, &mut self.sendq, &mut self.closeq] {
            while let Some(node) = claim_first(q, core::ptr::null(), any) {
                // SAFETY: claimed under the lock. A sender's value stays in its slot (returned to
                // it in the error); a receiver's slot stays empty (`Closed`).
                unsafe {
                    let n = node.as_ref();
                    if n.outcome() == OUTCOME_NONE {
                        n.set_outcome(OUTCOME_CLOSED);
                    }
                    complete(node, w);
                }
            }
        }
        true
    }

    /// A value a cancelled receive was handed goes to the next receiver, or back to the front
    /// of the buffer (invariant 1's exception).
    fn return_value(&mut self, v: T, w: &mut Wakers) {
        if let Some(node) = claim_first(&mut self.recvq, core::ptr::null(), is_recv) {
            // SAFETY: claimed under the lock.
            unsafe {
                node.as_ref().put(v);
                complete(node, w);
            }
        } else {
            self.buf.push_front(v);
        }
    }
}
