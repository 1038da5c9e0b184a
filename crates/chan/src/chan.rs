//! The channel core: a lock-free buffer for the values, and Go's waiter queues behind a lock for
//! everything that waits (Go's `hchan`, with crossbeam-channel's lock-free fast path in front).
//!
//! A send or receive first tries the buffer without the lock ([`Buf`]: a Vyukov ring for
//! `bounded(n)`, crossbeam's block list for `unbounded()` and large bounds, nothing for
//! `bounded(0)`). Only when that cannot proceed (full, empty, a flag bit set) does it take the
//! lock, where the queues of parked waiters, permits, `select` and close are written once for
//! all flavors, as Go writes them once for all its channels. A rendezvous channel always takes
//! the lock: its values only move between waiters.
//!
//! # State
//!
//! Lock-free (in [`Buf`]): the buffered values; in the counters, `SLOW` bits that send
//! lock-free pushes (`tail`) or pops (`head`) to the lock, and `CLOSED` in `tail`. Under the
//! lock ([`Inner`]): the queues `sendq` (senders and reservations), `recvq`, `closeq`;
//! `reserved` (slots promised to permits); `closed`; `front`, values that come before the
//! buffer (given back by cancelled receives; for a rendezvous channel, values a permit or a
//! cancelled receive left behind); `back`, values that come after it (a permit's value whose
//! slot is still being read by a receiver).
//!
//! # Invariants (at the end of every critical section)
//!
//! 1. Both `tail` and `head` have `SLOW` while any waiter is linked (in `sendq` or `recvq`);
//!    `tail` also while `reserved > 0` or `back` is non-empty, `head` also while `front` or
//!    `back` is non-empty. The guard's drop publishes them (`publish`). So while anyone waits,
//!    every operation, on either side, takes the lock: newcomers queue behind the waiters (FIFO
//!    among waiting senders and among waiting receivers), and whoever frees a slot or brings a
//!    value finds the waiters. While permits are out, the buffer's length only changes under
//!    the lock, which makes reservations exact.
//! 2. A live waiter in `recvq` implies the buffer holds nothing, not even a value still being
//!    written, and `front`/`back` are empty.
//! 3. A live `Send`/`Reserve` waiter in `sendq` implies no room: `len + reserved >= cap`, or
//!    `back` holds values (they go first).
//! 4. `len + reserved <= cap`, except for values in `front` and values moved past a waiting
//!    receiver: a value is never dropped to keep a bound.
//! 5. Once `closed` is set, no waiter is ever linked again: `close` completes every waiter, and
//!    every operation checks `closed` before it links one.
//! 6. Each queue is FIFO: waiters are linked at the back and served from the front.
//!
//! A *stale* waiter is one whose [`Signal`] is no longer `WAITING` (its `select` committed
//! elsewhere, or it timed out); whoever meets one at the front of a queue unlinks it.
//!
//! # Who touches what
//!
//! - The buffer's values and counters: any handle, lock-free, through `push` / `pop`, as long
//!   as the counter has no flag bit; a holder of the lock through them.
//! - The flag bits and everything in [`Inner`]: only the lock holder (`publish`, `announce`,
//!   `close`).
//! - A linked waiter's slot and outcome: the lock holder; its signal: see `waiter`.
//! - `senders` / `receivers`: handle counts, changed by `Clone`/`Drop` of the handles; the last
//!   sender or receiver to go closes the channel under the lock. `stats`: the owner of a waiter
//!   when it stops waiting.
//!
//! # Protocols
//!
//! Send of `v`:
//! 1. Lock-free push (no flag bit set, a free slot). Done: nothing else to do, because nobody
//!    waits (invariant 1).
//! 2. Otherwise, under the lock (`try_send`): closed: fail with `v`; a live receiver waits: put
//!    `v` in its slot and complete it (Go's direct hand-off); otherwise `refill` (earlier values
//!    and waiting senders first), then push if there is room; otherwise full, or *busy* (the
//!    tail slot is still being read by a receiver that claimed it).
//! 3. Full, blocking: `announce` (set `SLOW` in both counters), try step 2 again, and only then
//!    link the waiter holding `v` in `sendq`. Busy: do not park (see below).
//!
//! Receive:
//! 1. Lock-free pop. Done.
//! 2. Otherwise, under the lock (`try_recv`): `front`, the buffer (then `refill`: the freed
//!    slot goes to the first waiting sender), `back`, a waiting sender's value (rendezvous);
//!    closed and drained: `Closed`; otherwise empty, or *busy* (a sender claimed the head slot
//!    and is still writing it).
//! 3. Empty, blocking: `announce`, try step 2 again, and only then link the waiter in `recvq`.
//!
//! Why no wake-up is lost although the lock-free side never looks for waiters: `announce`
//! sets `SLOW` with a read-modify-write of the very counters the lock-free side claims slots
//! with. Every claim is either ordered before it, and then the second try (which reads the
//! counter after the RMW) sees that slot, or after it, and then the claim fails and the
//! operation takes the lock, where it finds the waiter. The one state the second try cannot
//! settle is a slot claimed but not finished (busy): its owner will finish it in a few
//! instructions, unless the kernel preempts it. So a waiter never parks on a busy slot: an OS
//! thread spins (backing off, yielding) and tries again; an async task or fiber wakes itself,
//! returns `Pending` and tries again after its worker's other tasks. loom checks all of it
//! (`loom_tests`).
//!
//! Close: set `closed` and `CLOSED` (no lock-free push succeeds after it), complete every
//! waiting sender (its value stays in its slot and is returned in the error), `closed()` waiter
//! and receiver (nothing is buffered while receivers wait, invariant 2). Receivers drain what is
//! buffered and then get `Closed`.
//!
//! Where the lock is waited for: a thread's `.wait()` (it is a thread), dropping a future that
//! is parked (its waiter must be unlinked before its memory goes), `select` registration, and
//! `try_send` / `try_recv` / `try_reserve` once the lock-free attempt has failed (a spurious
//! `Full` or `Empty` would break their contract). An async task or fiber polling an operation
//! takes it with `try_lock_into` and yields if it is taken (`op`), since its holder may be an OS
//! thread that the kernel has just preempted. Critical sections are short, never allocate
//! except for `front` / `back`, and never run user code (wakers are woken and values dropped
//! after unlocking).

use core::borrow::BorrowMut;
use core::fmt;
use core::mem::ManuallyDrop;
use core::ptr::NonNull;
use std::collections::VecDeque;

use spectrum_sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use spectrum_sync::linked_list::LinkedList;

use crate::buf::{Buf, Peek, Pop, Push, CLOSED, SLOW};
use crate::error::{TryRecvError, TrySendError};
use crate::lock::{try_lock, Guard, Lock};
use crate::waiter::{
    Kind, Signal, Waiter, WaiterLink, Wakers, OUTCOME_CLOSED, OUTCOME_GRANTED, OUTCOME_NONE,
};

type Queue<T> = LinkedList<WaiterLink<T>>;

/// Why a send under the lock did not happen; the value comes back.
#[derive(Debug)]
pub(crate) enum SendFail<T> {
    /// No room: a blocking send may park.
    Full(T),
    /// The tail slot is still being read by a receiver that claimed it: do not park (module
    /// protocols), try again shortly.
    Busy(T),
    Closed(T),
}

/// Why a receive under the lock did not happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RecvFail {
    /// Nothing to receive: a blocking receive may park.
    Empty,
    /// The head slot is claimed by a sender still writing it: do not park, try again shortly.
    Busy,
    Closed,
}

/// A select case's readiness (`can_send` / `can_recv`); public only for the sealed `CaseImpl`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    NotReady,
    /// As `SendFail::Busy` / `RecvFail::Busy`: neither park nor commit; try again shortly.
    Busy,
}

/// The shared state of one channel.
pub(crate) struct Chan<T> {
    buf: Buf<T>,
    inner: Lock<Inner<T>>,
    cap: usize,
    /// False for `unbounded()` (whose `cap` is `usize::MAX`, like `bounded(usize::MAX)`'s).
    bounded: bool,
    closed_hint: AtomicBool,
    pub(crate) senders: AtomicUsize,
    pub(crate) receivers: AtomicUsize,
    pub(crate) stats: Stats,
    /// Id, wait notes and handle users for the guardrails (`owners` module).
    pub(crate) diag: crate::owners::ChanDiag,
}

// SAFETY: the waiter pointers in the queues are only dereferenced under `inner`'s lock (module
// docs), and values of `T: Send` move between threads only through the buffer, `front`/`back`
// or a waiter's slot.
unsafe impl<T: Send> Send for Chan<T> {}
// SAFETY: as for `Send`; every `&Chan` access to shared data goes through the lock, the
// buffer's own protocol, or an atomic.
unsafe impl<T: Send> Sync for Chan<T> {}

/// The flag bits the lock holder last published (invariant 1).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Published {
    tail_slow: bool,
    head_slow: bool,
}

/// The state behind the lock.
pub(crate) struct Inner<T> {
    cap: usize,
    /// Slots promised to live `Permit`s.
    reserved: usize,
    closed: bool,
    /// Values that come before the buffer.
    front: VecDeque<T>,
    /// Values that come after the buffer and could not enter it yet.
    back: VecDeque<T>,
    sendq: Queue<T>,
    recvq: Queue<T>,
    closeq: Queue<T>,
    published: Published,
}

/// The channel lock's guard; its drop publishes the flag bits (invariant 1), unlocks, then
/// wakes the waiters completed meanwhile.
///
/// The wakers are the guard's own (`W = Wakers`, woken as the guard's drop ends) or borrowed
/// from the caller (`&mut Wakers`, woken when the caller drops them, after the guard). The
/// hottest paths borrow (`Chan::try_lock_into`): a guard that owns them gets copied to where it
/// is dropped, and that copy's wide loads of a waker stored a moment before stall (store
/// forwarding fails), about 15 cycles each time a task completes a waiter.
pub(crate) struct ChanGuard<'a, T, W: BorrowMut<Wakers> = Wakers> {
    chan: &'a Chan<T>,
    guard: ManuallyDrop<Guard<'a, Inner<T>>>,
    /// Wakers of the waiters completed under this guard, woken after unlocking (never under the
    /// lock: a waker may run arbitrary code).
    wakers: W,
}

impl<T, W: BorrowMut<Wakers>> Drop for ChanGuard<'_, T, W> {
    #[inline]
    fn drop(&mut self) {
        self.publish();
        // SAFETY: dropped once, here; the field is never used again.
        unsafe { ManuallyDrop::drop(&mut self.guard) };
        // `wakers` is dropped next, with the lock released: its drop wakes them (borrowed ones:
        // the owner's drop, later still).
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
    /// Counts a wait that begins. Only under the channel lock (`ChanGuard::start_wait`).
    fn count_wait(&self, kind: Kind) {
        let waits = match kind {
            Kind::Send | Kind::Reserve => &self.send_waits,
            Kind::Recv => &self.recv_waits,
            Kind::Closed => return,
        };
        // Relaxed load and store, not a read-modify-write (a locked instruction, tens of cycles
        // on every park): every writer holds the channel lock, whose acquire and release order
        // the writers; `snapshot` only reads a diagnostic figure.
        waits.store(waits.load(Relaxed) + 1, Relaxed);
    }

    /// Adds the time a wait lasted, once it ends (`nanos`: `None` if its clock never ran).
    pub(crate) fn record(&self, kind: Kind, nanos: Option<u64>) {
        let total = match kind {
            Kind::Send | Kind::Reserve => &self.send_nanos,
            Kind::Recv => &self.recv_nanos,
            Kind::Closed => return,
        };
        // Most waits in a busy program are shorter than the coarse clock's tick and measure 0
        // (`clock` module): no read-modify-write for them.
        if let Some(nanos @ 1..) = nanos {
            // Relaxed: an independent diagnostic counter; no other memory depends on it.
            total.fetch_add(nanos, Relaxed);
        }
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

/// Retries a lock-free operation that found its slot claimed by a thread still writing (or
/// reading) it, for a few microseconds at most: spinning, then yielding (crossbeam's `Backoff`),
/// never sleeping. `None` if it is still busy: the caller reports the channel as empty (full).
/// Under loom one retry reaches both outcomes.
#[inline]
fn retry_busy<R>(mut f: impl FnMut() -> Option<R>) -> Option<R> {
    let backoff = spectrum_sync::Backoff::new();
    let rounds = if cfg!(loom) { 1 } else { usize::MAX };
    for _ in 0..rounds {
        if backoff.is_completed() {
            break;
        }
        backoff.snooze();
        if let Some(r) = f() {
            return Some(r);
        }
    }
    None
}

impl<T> Chan<T> {
    pub(crate) fn new(cap: Option<usize>) -> Chan<T> {
        let bounded = cap.is_some();
        let cap_n = cap.unwrap_or(usize::MAX);
        Chan {
            buf: Buf::new(cap),
            inner: Lock::new(Inner {
                cap: cap_n,
                reserved: 0,
                closed: false,
                front: VecDeque::new(),
                back: VecDeque::new(),
                sendq: LinkedList::new(),
                recvq: LinkedList::new(),
                closeq: LinkedList::new(),
                published: Published::default(),
            }),
            cap: cap_n,
            bounded,
            closed_hint: AtomicBool::new(false),
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
            stats: Stats::default(),
            diag: crate::owners::ChanDiag::new(),
        }
    }

    /// The lock, waiting for it if needed (spinning, then sleeping: `lock`).
    #[inline]
    pub(crate) fn lock(&self) -> ChanGuard<'_, T> {
        ChanGuard::new(self, self.inner.lock(), Wakers::default())
    }

    /// The lock if it is free (or freed within a short spin); never sleeps. For callers that
    /// must not block a runtime worker: on `None` they yield and retry. The guard borrows the
    /// caller's wakers (see [`ChanGuard`]).
    #[inline]
    pub(crate) fn try_lock_into<'w>(
        &self,
        wakers: &'w mut Wakers,
    ) -> Option<ChanGuard<'_, T, &'w mut Wakers>> {
        Some(ChanGuard::new(self, try_lock(&self.inner)?, wakers))
    }

    /// [`lock`](Self::lock) with the wakers borrowed from the caller.
    #[inline]
    pub(crate) fn lock_into<'w>(&self, wakers: &'w mut Wakers) -> ChanGuard<'_, T, &'w mut Wakers> {
        ChanGuard::new(self, self.inner.lock(), wakers)
    }

    pub(crate) fn capacity(&self) -> Option<usize> {
        self.bounded.then_some(self.cap)
    }

    pub(crate) fn len(&self) -> usize {
        let g = self.lock();
        g.guard.front.len() + self.buf.len() + g.guard.back.len()
    }

    pub(crate) fn is_closed(&self) -> bool {
        // Acquire: pairs with the Release store in `close`, so a caller that sees `true` also
        // sees the state the closer left (and then finds the channel closed under the lock).
        self.closed_hint.load(Acquire)
    }

    /// Send step 1: the lock-free push.
    #[inline(always)]
    pub(crate) fn push_fast(&self, value: T) -> Result<(), Push<T>> {
        self.buf.push(value, false)
    }

    /// How many free slots an OS thread spinning on a full ring waits for before it pushes
    /// again: half the ring, at most 32 (1 for other buffers).
    ///
    /// A sender that retries as soon as one slot frees reads the very slot and `head` the
    /// receiver is writing, on every retry, so each value crosses between the two cores'
    /// caches with two more lines than it needs; waiting for a batch lets the receiver drain
    /// alone for a while and the sender then fill alone (kanal gets the same effect by
    /// sleeping in its lock). On the 2-core VM: threads SPSC bounded(1024) 30 -> 13 ns a
    /// message, MPMC 4x4 0.45x -> 1.5x kanal. Only the spin before parking uses it; a parked
    /// sender is still served slot by slot, and receivers never wait for a batch (that would
    /// add latency to a lone message).
    #[inline]
    pub(crate) fn refill_batch(&self) -> usize {
        match &self.buf {
            Buf::Ring(_) => (self.cap / 2).min(32),
            _ => 1,
        }
    }

    /// `push_fast` once the buffer has room for `batch` values (`len` reads both counters,
    /// so this costs two loads more than a push); `Full` before that.
    #[inline]
    pub(crate) fn push_fast_after(&self, batch: usize, value: T) -> Result<(), Push<T>> {
        if batch > 1 && self.buf.len() + batch > self.cap {
            return Err(Push::Full(value));
        }
        self.buf.push(value, false)
    }

    /// Receive step 1: the lock-free pop.
    #[inline(always)]
    pub(crate) fn pop_fast(&self) -> Result<T, Pop> {
        self.buf.pop(false)
    }

    /// `try_send`: lock-free, else under the lock. A slot still being read is retried for a
    /// few microseconds (see `retry_busy`) before the channel counts as full.
    pub(crate) fn try_send(&self, value: T, exclude: *const Signal) -> Result<(), TrySendError<T>> {
        let value = match self.push_fast(value) {
            Ok(()) => return Ok(()),
            Err(Push::Busy(v)) => {
                let mut v = Some(v);
                let got = retry_busy(|| match self.push_fast(v.take().unwrap()) {
                    Ok(()) => Some(()),
                    Err(Push::Busy(x)) => {
                        v = Some(x);
                        None
                    }
                    Err(Push::Full(x) | Push::Slow(x)) => {
                        v = Some(x);
                        Some(())
                    }
                });
                match (got, v) {
                    (Some(()), None) => return Ok(()),
                    (_, Some(v)) => v,
                    (None, None) => unreachable!("a busy push keeps its value"),
                }
            }
            Err(Push::Full(v) | Push::Slow(v)) => v,
        };
        let mut g = self.lock();
        let r = g.try_send(value, exclude);
        drop(g);
        r.map_err(|e| match e {
            SendFail::Full(v) | SendFail::Busy(v) => TrySendError::Full(v),
            SendFail::Closed(v) => TrySendError::Closed(v),
        })
    }

    /// `try_recv`: lock-free, else under the lock; a value still being written is waited for
    /// a few microseconds, then the channel counts as empty.
    pub(crate) fn try_recv(&self, exclude: *const Signal) -> Result<T, TryRecvError> {
        match self.pop_fast() {
            Ok(v) => return Ok(v),
            Err(Pop::Empty) => return Err(TryRecvError::Empty),
            Err(Pop::Busy) => {
                let mut slow = false;
                let got = retry_busy(|| match self.pop_fast() {
                    Ok(v) => Some(Some(v)),
                    Err(Pop::Busy) => None,
                    Err(Pop::Empty) => Some(None),
                    Err(Pop::Slow) => {
                        slow = true;
                        Some(None)
                    }
                });
                match got {
                    Some(Some(v)) => return Ok(v),
                    _ if !slow => return Err(TryRecvError::Empty),
                    _ => {}
                }
            }
            Err(Pop::Slow) => {}
        }
        let mut g = self.lock();
        let r = g.try_recv(exclude);
        drop(g);
        r.map_err(|e| match e {
            RecvFail::Empty | RecvFail::Busy => TryRecvError::Empty,
            RecvFail::Closed => TryRecvError::Closed,
        })
    }

    /// Closes the channel; true if this call closed it.
    pub(crate) fn close(&self) -> bool {
        let mut g = self.lock();
        let did = g.close();
        drop(g);
        did
    }

    /// Closes the channel and drops every buffered value; returns how many were dropped.
    pub(crate) fn close_and_discard(&self) -> usize {
        let mut g = self.lock();
        g.close();
        let mut dropped: Vec<T> = g.guard.front.drain(..).collect();
        while let Ok(v) = self.buf.pop(true) {
            dropped.push(v);
        }
        dropped.extend(g.guard.back.drain(..));
        // Freed slots: nobody can wait to send any more, but a parked receiver may now see the
        // channel drained.
        g.deliver();
        drop(g);
        // Dropped outside the lock: a value's destructor may use this channel.
        let n = dropped.len();
        drop(dropped);
        n
    }

    /// The last receiver is gone: close, and drop the buffered values nobody can receive.
    pub(crate) fn disconnect_receivers(&self) {
        self.close_and_discard();
    }

    /// Gives back a value that a cancelled receive had already been handed.
    pub(crate) fn return_value(&self, v: T) {
        let mut g = self.lock();
        g.return_value(v);
        drop(g);
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
#[inline]
fn claim_first<T>(
    q: &mut Queue<T>,
    exclude: *const Signal,
    want: impl Fn(Kind) -> bool,
) -> Option<NonNull<Waiter<T>>> {
    // The common case: the front waiter is live and wanted (one waiter, no select skipped).
    let node = q.front()?;
    // SAFETY: linked nodes are alive and armed (waiter module docs); we hold the lock.
    let w = unsafe { node.as_ref() };
    // SAFETY: as above: a linked node's signal is alive.
    if w.signal_ptr() != exclude && want(w.kind()) && unsafe { w.signal() }.try_claim() {
        q.pop_front();
        return Some(node);
    }
    claim_first_slow(q, exclude, want)
}

/// `claim_first` past a front waiter that was skipped or stale.
#[cold]
fn claim_first_slow<T>(
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

/// Unlinks stale waiters at the front of `q`.
fn prune<T>(q: &mut Queue<T>) {
    while let Some(front) = q.front() {
        // SAFETY: linked nodes are alive and armed; we hold the lock.
        if unsafe { front.as_ref().signal() }.is_waiting() {
            break;
        }
        q.pop_front();
    }
}

/// True if the front of `q` (after pruning) is a live waiter: for queues whose waiters all
/// qualify (any kind, no select to exclude).
fn front_live<T>(q: &mut Queue<T>) -> bool {
    prune(q);
    !q.is_empty()
}

/// True if `q` holds a live waiter that `want` accepts and that is not `exclude`'s. Prunes stale
/// waiters at the front.
fn has_live<T>(q: &mut Queue<T>, exclude: *const Signal, want: impl Fn(Kind) -> bool) -> bool {
    prune(q);
    let mut live = false;
    q.for_each(|node| {
        // SAFETY: linked nodes are alive and armed; we hold the lock.
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

impl<'a, T, W: BorrowMut<Wakers>> ChanGuard<'a, T, W> {
    /// The channel's guardrail bookkeeping (`owners` module).
    #[inline]
    pub(crate) fn diag(&self) -> &'a crate::owners::ChanDiag {
        &self.chan.diag
    }

    /// Wraps a held lock.
    #[inline]
    fn new(chan: &'a Chan<T>, guard: Guard<'a, Inner<T>>, wakers: W) -> ChanGuard<'a, T, W> {
        ChanGuard {
            chan,
            guard: ManuallyDrop::new(guard),
            wakers,
        }
    }

    #[inline]
    fn buf(&self) -> &'a Buf<T> {
        &self.chan.buf
    }

    #[inline]
    fn rendezvous(&self) -> bool {
        matches!(self.chan.buf, Buf::None)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.guard.closed
    }

    /// Room for one more value in the buffer, now (bound, reservations and the tail slot).
    fn has_room(&self) -> bool {
        let buf = self.buf();
        buf.len() + self.guard.reserved < self.guard.cap && buf.tail_free()
    }

    /// Invariant 1: publishes the flag bits the queues and counts call for.
    fn publish(&mut self) {
        if self.rendezvous() {
            return;
        }
        let buf = self.buf();
        let g = &mut *self.guard;
        prune(&mut g.sendq);
        prune(&mut g.recvq);
        let waiters = !g.recvq.is_empty() || !g.sendq.is_empty();
        let back = !g.back.is_empty();
        let want = Published {
            tail_slow: waiters || back || g.reserved > 0,
            head_slow: waiters || back || !g.front.is_empty(),
        };
        let had = g.published;
        if want == had {
            return;
        }
        if want.tail_slow != had.tail_slow {
            if want.tail_slow {
                buf.set_tail_bits(SLOW);
            } else {
                buf.clear_tail_bits(SLOW);
            }
        }
        if want.head_slow != had.head_slow {
            if want.head_slow {
                buf.set_head_bits(SLOW);
            } else {
                buf.clear_head_bits(SLOW);
            }
        }
        g.published = want;
    }

    /// Freezes lock-free pushes (reservations count the buffer exactly).
    fn set_tail_slow(&mut self) {
        if !self.guard.published.tail_slow {
            self.buf().set_tail_bits(SLOW);
            self.guard.published.tail_slow = true;
        }
    }

    /// Send and receive step 3: a waiter of `kind` is about to park, so every operation must
    /// take the lock from now on (invariant 1). The bits are set with read-modify-writes of the
    /// counters, so the caller's second try sees every slot claimed before them (module
    /// protocols). False if there is nothing to announce (a rendezvous channel has no lock-free
    /// side; `closed()` waiters are not waiting for room or values): the caller then need not
    /// try again.
    pub(crate) fn announce(&mut self, kind: Kind) -> bool {
        if self.rendezvous() || kind == Kind::Closed {
            return false;
        }
        let buf = self.buf();
        let g = &mut *self.guard;
        if !g.published.head_slow {
            buf.set_head_bits(SLOW);
            g.published.head_slow = true;
        }
        if !g.published.tail_slow {
            buf.set_tail_bits(SLOW);
            g.published.tail_slow = true;
        }
        true
    }

    /// Send protocol step 2; `exclude` is the caller's own select signal (or null).
    pub(crate) fn try_send(&mut self, v: T, exclude: *const Signal) -> Result<(), SendFail<T>> {
        if self.guard.closed {
            return Err(SendFail::Closed(v));
        }
        if !self.guard.recvq.is_empty() {
            if let Some(node) = claim_first(&mut self.guard.recvq, exclude, is_recv) {
                // SAFETY: we claimed the node under the lock: its slot is ours to write.
                unsafe {
                    node.as_ref().put(v);
                    complete(node, self.wakers.borrow_mut());
                }
                return Ok(());
            }
        }
        if self.rendezvous() {
            return Err(SendFail::Full(v));
        }
        if !self.guard.sendq.is_empty() || !self.guard.back.is_empty() {
            self.refill();
        }
        if !self.guard.back.is_empty() || self.buf().len() + self.guard.reserved >= self.guard.cap {
            return Err(SendFail::Full(v));
        }
        match self.buf().push(v, true) {
            Ok(()) => Ok(()),
            Err(Push::Busy(v)) => Err(SendFail::Busy(v)),
            // A lock-free sender took the room first (no flag bit was set).
            Err(Push::Full(v) | Push::Slow(v)) => Err(SendFail::Full(v)),
        }
    }

    /// Receive protocol step 2.
    pub(crate) fn try_recv(&mut self, exclude: *const Signal) -> Result<T, RecvFail> {
        if !self.guard.recvq.is_empty() {
            // FIFO among waiting receivers: older ones first.
            self.deliver();
        }
        if let Some(v) = self.guard.front.pop_front() {
            return Ok(v);
        }
        match self.buf().pop(true) {
            Ok(v) => {
                if !self.guard.sendq.is_empty() || !self.guard.back.is_empty() {
                    self.refill();
                }
                return Ok(v);
            }
            // A sender is still writing: not readable yet.
            Err(Pop::Busy) => return Err(RecvFail::Busy),
            Err(Pop::Empty | Pop::Slow) => {}
        }
        if let Some(v) = self.guard.back.pop_front() {
            self.refill();
            return Ok(v);
        }
        if !self.guard.sendq.is_empty() {
            if let Some(node) = claim_first(&mut self.guard.sendq, exclude, is_send) {
                // SAFETY: claimed under the lock: the slot is ours; a `Send` waiter holds a value.
                let v = unsafe { node.as_ref().take() };
                // SAFETY: as above.
                unsafe { complete(node, self.wakers.borrow_mut()) };
                return Ok(v.expect("a waiting sender holds its value"));
            }
        }
        if self.guard.closed {
            Err(RecvFail::Closed)
        } else {
            Err(RecvFail::Empty)
        }
    }

    /// Would a send proceed right now (select readiness; a send on a closed channel proceeds,
    /// with an error)? Call after `announce`.
    pub(crate) fn can_send(&mut self, exclude: *const Signal) -> Readiness {
        if self.guard.closed || has_live(&mut self.guard.recvq, exclude, is_recv) {
            return Readiness::Ready;
        }
        if self.rendezvous() {
            return Readiness::NotReady;
        }
        self.refill();
        if !self.guard.back.is_empty() || self.buf().len() + self.guard.reserved >= self.guard.cap {
            Readiness::NotReady
        } else if self.buf().tail_free() {
            Readiness::Ready
        } else {
            Readiness::Busy
        }
    }

    /// Would a receive proceed right now (a receive on a closed, drained channel proceeds)?
    /// Call after `announce`.
    pub(crate) fn can_recv(&mut self, exclude: *const Signal) -> Readiness {
        if !self.guard.front.is_empty() {
            return Readiness::Ready;
        }
        match self.buf().peek() {
            Peek::Ready => Readiness::Ready,
            Peek::Busy => Readiness::Busy,
            Peek::Empty => {
                if !self.guard.back.is_empty()
                    || has_live(&mut self.guard.sendq, exclude, is_send)
                    || self.guard.closed
                {
                    Readiness::Ready
                } else {
                    Readiness::NotReady
                }
            }
        }
    }

    /// Reserves one slot for a permit.
    pub(crate) fn try_reserve(&mut self) -> Result<(), TrySendError<()>> {
        if self.guard.closed {
            return Err(TrySendError::Closed(()));
        }
        if self.rendezvous() {
            // A permit promises a waiting receiver.
            return if self.guard.recvq.len() > self.guard.reserved {
                self.guard.reserved += 1;
                Ok(())
            } else {
                Err(TrySendError::Full(()))
            };
        }
        // Freeze lock-free pushes first, so the count below is exact.
        self.set_tail_slow();
        if !self.guard.sendq.is_empty() || !self.guard.back.is_empty() {
            self.refill();
        }
        if self.guard.back.is_empty()
            && self.buf().len() + self.guard.reserved < self.guard.cap
            && !front_live(&mut self.guard.sendq)
        {
            self.guard.reserved += 1;
            Ok(())
        } else {
            Err(TrySendError::Full(()))
        }
    }

    /// Sends through a permit (its slot is released either way).
    pub(crate) fn permit_send(&mut self, v: T) -> Result<(), T> {
        self.guard.reserved -= 1;
        if self.guard.closed {
            return Err(v);
        }
        if let Some(node) = claim_first(&mut self.guard.recvq, core::ptr::null(), is_recv) {
            // SAFETY: claimed under the lock: its slot is ours to write.
            unsafe {
                node.as_ref().put(v);
                complete(node, self.wakers.borrow_mut());
            }
            // The value bypassed the buffer, so the reserved slot is free now: it goes to the
            // next waiting sender (invariant 3).
            self.refill();
            return Ok(());
        }
        if self.rendezvous() {
            // The promised receiver went away: the value waits for the next one rather than
            // being lost.
            self.guard.front.push_back(v);
        } else if self.guard.back.is_empty() {
            // The reserved room is ours (invariant 4); only a slot still being read can be in
            // the way, and then the value waits in `back`, where receivers find it and every
            // locked operation moves it into the buffer first (`refill`).
            if let Err(Push::Full(v) | Push::Busy(v) | Push::Slow(v)) = self.buf().push(v, true) {
                self.guard.back.push_back(v);
            }
        } else {
            self.guard.back.push_back(v);
        }
        Ok(())
    }

    /// A permit went unused: free its slot.
    pub(crate) fn release_reservation(&mut self) {
        self.guard.reserved -= 1;
        self.refill();
    }

    /// Moves `back` and waiting senders into free slots, grants waiting reservations
    /// (invariant 3).
    pub(crate) fn refill(&mut self) {
        if self.rendezvous() {
            self.grant_rendezvous();
            return;
        }
        while let Some(v) = self.guard.back.pop_front() {
            if let Err(Push::Full(v) | Push::Busy(v) | Push::Slow(v)) = self.buf().push(v, true) {
                self.guard.back.push_front(v);
                return;
            }
        }
        while !self.guard.sendq.is_empty() && self.has_room() {
            let Some(node) = claim_first(&mut self.guard.sendq, core::ptr::null(), any) else {
                break;
            };
            // SAFETY: claimed under the lock: the node and its slot are ours until `complete`.
            let n = unsafe { node.as_ref() };
            match n.kind() {
                Kind::Send => {
                    // SAFETY: as above.
                    let v = unsafe { n.take() }.expect("a waiting sender holds its value");
                    // `has_room` held, and `tail` has `SLOW` while senders wait: only we push,
                    // so this fails only if the list cannot allocate a block. Then the value
                    // keeps its place in `back` (the send is complete: it is in the channel).
                    if let Err(Push::Full(v) | Push::Busy(v) | Push::Slow(v)) =
                        self.buf().push(v, true)
                    {
                        self.guard.back.push_back(v);
                    }
                }
                _ => {
                    self.guard.reserved += 1;
                    n.set_outcome(OUTCOME_GRANTED);
                }
            }
            // SAFETY: as above.
            unsafe { complete(node, self.wakers.borrow_mut()) };
        }
    }

    /// Hands readable values to parked receivers, oldest first; once closed and drained,
    /// completes the rest with `Closed` (invariants 2 and 5).
    pub(crate) fn deliver(&mut self) {
        let mut freed = false;
        while front_live(&mut self.guard.recvq) {
            let v = if let Some(v) = self.guard.front.pop_front() {
                v
            } else if let Ok(v) = self.buf().pop(true) {
                freed = true;
                v
            } else if let Some(v) = self.guard.back.pop_front() {
                v
            } else {
                break;
            };
            match claim_first(&mut self.guard.recvq, core::ptr::null(), is_recv) {
                // SAFETY: claimed under the lock: its slot is ours to write.
                Some(node) => unsafe {
                    node.as_ref().put(v);
                    complete(node, self.wakers.borrow_mut());
                },
                None => {
                    // The last live receiver withdrew meanwhile: the value keeps its place.
                    self.guard.front.push_front(v);
                    break;
                }
            }
        }
        if freed {
            self.refill();
        }
        if self.guard.closed
            && !self.guard.recvq.is_empty()
            && self.guard.front.is_empty()
            && self.guard.back.is_empty()
            && self.buf().is_drained()
        {
            self.complete_all(Kind::Recv);
        }
    }

    /// On a rendezvous channel, grants waiting reservations for the receivers now waiting.
    #[inline]
    fn grant_rendezvous(&mut self) {
        // Usually nobody waits to reserve: no call then (a receiver parks on every message of a
        // busy rendezvous channel).
        if !self.guard.sendq.is_empty() {
            self.grant_rendezvous_to_senders();
        }
    }

    /// `grant_rendezvous` with senders waiting.
    fn grant_rendezvous_to_senders(&mut self) {
        let g = &mut *self.guard;
        while !g.sendq.is_empty() && g.recvq.len() > g.reserved {
            let Some(node) = claim_first(&mut g.sendq, core::ptr::null(), is_reserve) else {
                break;
            };
            g.reserved += 1;
            // SAFETY: claimed under the lock.
            unsafe {
                node.as_ref().set_outcome(OUTCOME_GRANTED);
                complete(node, self.wakers.borrow_mut());
            }
        }
    }

    /// Completes every waiter of one queue with `Closed` (a sender's value stays in its slot
    /// and is returned in the error; a receiver's slot stays empty).
    fn complete_all(&mut self, which: Kind) {
        let g = &mut *self.guard;
        let q = match which {
            Kind::Send | Kind::Reserve => &mut g.sendq,
            Kind::Recv => &mut g.recvq,
            Kind::Closed => &mut g.closeq,
        };
        while let Some(node) = claim_first(q, core::ptr::null(), any) {
            // SAFETY: claimed under the lock.
            unsafe {
                let n = node.as_ref();
                if n.outcome() == OUTCOME_NONE {
                    n.set_outcome(OUTCOME_CLOSED);
                }
                complete(node, self.wakers.borrow_mut());
            }
        }
    }

    /// Starts `node`'s blocked-time clock and counts its wait, unless the clock already runs (a
    /// `select` registering its case again keeps its first start).
    pub(crate) fn start_wait(&mut self, node: &Waiter<T>) {
        if node.start_clock() {
            self.chan.stats.count_wait(node.kind());
        }
    }

    /// Links an armed waiter at the back of its queue (after `announce`, for senders and
    /// receivers of a buffered channel).
    ///
    /// # Safety
    ///
    /// `node` is alive, armed, not linked, and stays alive and pinned until it is unlinked under
    /// this lock; the channel is not closed, unless `node` is a receiver and the buffer is not
    /// drained (invariant 5).
    pub(crate) unsafe fn link(&mut self, node: NonNull<Waiter<T>>) {
        // SAFETY: alive per the caller.
        let kind = unsafe { node.as_ref() }.kind();
        debug_assert!(!self.guard.closed || kind == Kind::Recv);
        match kind {
            Kind::Send | Kind::Reserve => self.guard.sendq.push_back(node),
            Kind::Recv => {
                self.guard.recvq.push_back(node);
                if self.rendezvous() {
                    self.grant_rendezvous();
                }
            }
            Kind::Closed => self.guard.closeq.push_back(node),
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
            Kind::Send | Kind::Reserve => &mut self.guard.sendq,
            Kind::Recv => &mut self.guard.recvq,
            Kind::Closed => &mut self.guard.closeq,
        };
        // SAFETY: the node is linked in `q` or in no list (its pointers reset by removal).
        unsafe { q.remove(node) }
    }

    /// Close protocol; true if this call closed the channel.
    fn close(&mut self) -> bool {
        if self.guard.closed {
            return false;
        }
        self.guard.closed = true;
        self.buf().set_tail_bits(CLOSED);
        // Release: pairs with the Acquire load in `is_closed`.
        self.chan.closed_hint.store(true, Release);
        self.complete_all(Kind::Send);
        self.complete_all(Kind::Closed);
        self.deliver();
        true
    }

    /// A value a cancelled receive was handed goes to the next receiver, or back to the front
    /// of the channel (invariant 4's exception).
    fn return_value(&mut self, v: T) {
        if let Some(node) = claim_first(&mut self.guard.recvq, core::ptr::null(), is_recv) {
            // SAFETY: claimed under the lock.
            unsafe {
                node.as_ref().put(v);
                complete(node, self.wakers.borrow_mut());
            }
        } else {
            self.guard.front.push_front(v);
        }
    }
}
