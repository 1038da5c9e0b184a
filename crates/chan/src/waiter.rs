//! Waiters: the parked half of a channel operation, and the signal that completes it.
//!
//! # Objects
//!
//! - A [`Waiter<T>`] is an intrusive node that lives inside the pinned future of a blocked
//!   operation (a `send`, `recv`, `reserve`, `closed`, or one case of a `select`). While it is
//!   linked in one of its channel's queues, the channel's lock guards its `pointers`, `slot` and
//!   `outcome`; the owner touches them only when the node is unlinked.
//! - A [`Signal`] is the one-shot "you are done" flag of an operation: a state word and the
//!   operation's waker. A plain operation owns one signal for its one node; a `select` shares one
//!   signal among the nodes of all its cases, so the first channel that claims the signal wins and
//!   every other node of that select becomes *stale*.
//!
//! # Signal states
//!
//! | state | meaning | who moves it on |
//! |---|---|---|
//! | `WAITING` | the owner is parked; any node of this signal may be claimed | a counterpart (CAS to `CLAIMED`) or the owner (CAS to `REGISTERING` or `ABORTED`) |
//! | `REGISTERING` | the owner is storing a new waker | the owner (CAS back to `WAITING`) or a counterpart (CAS to `CLAIMED_BARE`) |
//! | `CLAIMED` | a counterpart holding the node's channel lock is completing it, and owns the waker | that counterpart (store `DONE`) |
//! | `CLAIMED_BARE` | as `CLAIMED`, but claimed while the owner was storing a waker: the counterpart leaves the waker alone and wakes nobody (the owner is running, and sees the claim when its registration fails) | that counterpart (store `DONE`) |
//! | `DONE + case` | the operation finished through case `case`; its node is unlinked | the owner only (`reset`, when no node is linked) |
//! | `ABORTED` | the owner withdrew (select retry, timeout, drop); nodes are stale | the owner only (`reset`, when no node is linked) |
//!
//! Transitions out of `WAITING` (and `REGISTERING`) are CASes, so exactly one party wins a
//! signal: that is the "exactly one case commits" rule of `select`. A node whose signal is not
//! waiting (`WAITING` or `REGISTERING`) is stale and whoever finds it in a queue unlinks it.
//!
//! The waker has no lock or state of its own (tokio's `AtomicWaker` has both, and taking a
//! waker from it costs two locked read-modify-writes): the state word above says who may touch
//! it. The owner, after its CAS from `WAITING` to `REGISTERING`, in `ABORTED` (no counterpart
//! claims an aborted signal), or while no node is linked; a counterpart, once its claim moved
//! `WAITING` to `CLAIMED`.
//!
//! # Completing a node (counterpart, holding the node's channel lock)
//!
//! 1. Unlink the node from its queue.
//! 2. `try_claim`: CAS the signal `WAITING -> CLAIMED` (or `REGISTERING -> CLAIMED_BARE`). On
//!    failure the node is stale: drop it and look at the next one.
//! 3. Write the node's `slot` / `outcome`.
//! 4. `complete`: take the waker (after a `CLAIMED` claim), then store `DONE + case` with
//!    Release. This is the last access to the node or the signal: once the owner sees `DONE` it
//!    may free both.
//! 5. After releasing the lock, wake the waker taken in step 4.
//!
//! # Owner
//!
//! - Registers its waker in the signal *before* linking the node (a task; an OS thread first
//!   spins), and again on every poll that finds it still waiting. A registration that a claim
//!   interrupts (`CLAIMED_BARE`) leaves no waker for the counterpart: the owner's next `check`
//!   sees the claim, and it spins (a thread) or wakes itself (a task), as for `CLAIMED`.
//! - Reads `DONE` with Acquire (pairs with step 4), after which the node is unlinked and its
//!   `slot` belongs to the owner again.
//! - Seeing a claim, spins until `DONE` (or, on a runtime worker, wakes itself and returns
//!   `Pending`): the counterpart is inside a short critical section and may have taken an older
//!   waker, or none, so returning `Pending` without that could lose the wake-up.
//! - Before freeing a node that may still be linked it takes the channel lock and unlinks it;
//!   a node that is no longer linked was completed or pruned, and both happen under that same
//!   lock, so after the lock the counterpart is done with it.

use core::cell::Cell;
use core::fmt;
use core::marker::PhantomPinned;
use core::ptr::NonNull;
use core::task::Waker;

use spectrum_sync::atomic::{AtomicUsize, Ordering::*};
use spectrum_sync::linked_list::{Link, Pointers};
use spectrum_sync::{store_waker, Backoff, UnsafeCell};

/// The owner is parked; any node of this signal may be claimed.
pub(crate) const WAITING: usize = 0;
/// A counterpart is completing one node, and took the waker.
pub(crate) const CLAIMED: usize = 1;
/// The owner withdrew; every node is stale.
pub(crate) const ABORTED: usize = 2;
/// Low bits of a finished state; the winning case index sits above them.
pub(crate) const DONE: usize = 3;
/// The owner is storing a new waker; a node may still be claimed (as `CLAIMED_BARE`).
const REGISTERING: usize = 4;
/// A counterpart is completing one node, claimed during a registration: no waker taken.
const CLAIMED_BARE: usize = 5;
const CASE_SHIFT: u32 = 3;
const TAG_MASK: usize = (1 << CASE_SHIFT) - 1;

/// The completion flag and waker of one operation (shared by every case of a `select`).
pub struct Signal {
    state: AtomicUsize,
    /// Who may touch it: see the module docs' state table.
    waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: the waker is only accessed by the party the state word designates (module docs), and
// each hand-over between owner and counterpart is an Acquire/Release pair on `state` (or the
// channel lock); `Waker` is `Send + Sync`.
unsafe impl Send for Signal {}
// SAFETY: as for `Send`.
unsafe impl Sync for Signal {}

impl Signal {
    pub(crate) fn new() -> Signal {
        Signal {
            state: AtomicUsize::new(WAITING),
            waker: UnsafeCell::new(None),
        }
    }

    /// Registers the owner's waker (every poll that finds the operation still waiting). If a
    /// counterpart claims the signal meanwhile, the waker stays unused: the caller's next
    /// `check` sees the claim.
    #[inline]
    pub(crate) fn register(&self, waker: &Waker) {
        // Acquire: pairs with the Release of `register`'s own final CAS and of the channel unlock
        // after `register_unlinked` (the last writes of the slot, by this same owner: a formality
        // on one thread, kept for the owner that moved between threads, as fibers never do but
        // tasks may).
        match self
            .state
            .compare_exchange(WAITING, REGISTERING, Acquire, Relaxed)
        {
            Ok(_) => {
                // SAFETY: REGISTERING, set by us: only the owner touches the slot (module docs).
                unsafe { self.store(waker) };
                // Release: pairs with the Acquire of `try_claim`, which then owns the waker
                // stored here. On failure a counterpart claimed the signal as CLAIMED_BARE and
                // will not touch the slot: nothing to undo.
                let _ = self
                    .state
                    .compare_exchange(REGISTERING, WAITING, Release, Relaxed);
            }
            Err(ABORTED) => {
                // SAFETY: withdrawn: no counterpart claims an aborted signal, so the slot is
                // ours.
                unsafe { self.store(waker) };
            }
            // Claimed or done: the caller's `check` finds out.
            Err(_) => {}
        }
    }

    /// Registers the owner's waker while none of the signal's nodes is linked (so no
    /// counterpart can reach it): plain accesses, published by the channel lock that links the
    /// node.
    ///
    /// # Safety
    ///
    /// No node of this signal is linked, and the caller links one only under a channel lock
    /// (whose release publishes the waker to the counterpart that acquires it).
    #[inline]
    pub(crate) unsafe fn register_unlinked(&self, waker: &Waker) {
        // SAFETY: unreachable by others until linked under the lock, per the caller.
        unsafe { self.store(waker) };
    }

    /// Stores the owner's waker in the slot.
    ///
    /// # Safety
    ///
    /// The caller is the owner and the state gives it the slot (module docs): no counterpart
    /// can reach the signal, or the owner's CAS moved it to `REGISTERING`, or it is `ABORTED`.
    #[inline]
    unsafe fn store(&self, waker: &Waker) {
        // SAFETY: exclusive access per the caller.
        self.waker
            .with_mut(|slot| store_waker(unsafe { &mut *slot }, waker));
    }

    /// Back to `WAITING`. Only the owner calls it, and only while none of its nodes is linked.
    #[inline]
    pub(crate) fn reset(&self) {
        // Relaxed: no node is linked, so nobody else reads the state until a node is linked
        // again, and linking happens under a channel lock whose release publishes this store to
        // the counterpart that acquires the lock.
        self.state.store(WAITING, Relaxed);
    }

    /// Counterpart step 2: the exclusive right to complete this operation.
    #[inline]
    pub(crate) fn try_claim(&self) -> bool {
        // Acquire: pairs with the Release of the channel unlock after `reset` and the owner's
        // writes to the node (its value, its case, its waker), which the claimer is about to
        // read, and with `register`'s Release CAS back to WAITING (a waker stored since).
        let mut from = WAITING;
        loop {
            let to = if from == WAITING {
                CLAIMED
            } else {
                CLAIMED_BARE
            };
            match self.state.compare_exchange(from, to, Acquire, Relaxed) {
                Ok(_) => return true,
                // The owner is storing a waker: claim without it. If its registration ends
                // first, claim from WAITING again.
                Err(s @ (WAITING | REGISTERING)) => from = s,
                Err(_) => return false,
            }
        }
    }

    /// Counterpart step 4: publish the result of case `case`; returns the waker to wake once the
    /// channel lock is released. The caller must not touch the node or the signal afterwards.
    #[inline]
    pub(crate) fn complete(&self, case: usize) -> Option<Waker> {
        // Relaxed: our own claim's value; the owner cannot move the state from a claim.
        let claim = self.state.load(Relaxed);
        debug_assert!(claim == CLAIMED || claim == CLAIMED_BARE);
        let waker = if claim == CLAIMED {
            // SAFETY: claimed from WAITING: the waker is ours (module docs) until DONE.
            self.waker.with_mut(|slot| unsafe { (*slot).take() })
        } else {
            None
        };
        // Release: pairs with the Acquire loads in `check` / `poll_done` / `abort`, so the owner
        // that sees DONE also sees the slot and outcome written in step 3 (and the waker slot
        // emptied).
        self.state.store(DONE | (case << CASE_SHIFT), Release);
        waker
    }

    /// The owner withdraws (`WAITING -> ABORTED`): from now on counterparts treat every node of
    /// this signal as stale. `Err(case)` if a counterpart claimed it first; then this waits out
    /// the claim and the result of `case` is in that case's node.
    #[inline]
    pub(crate) fn abort(&self) -> Result<(), usize> {
        // AcqRel: Acquire pairs with `complete`'s Release when we lose (we then read the winner's
        // slot); Release orders our earlier node writes before any counterpart's failed claim.
        match self
            .state
            .compare_exchange(WAITING, ABORTED, AcqRel, Acquire)
        {
            Ok(_) => Ok(()),
            Err(_) => Err(self.wait_settled()),
        }
    }

    /// The winning case if the operation finished, without waiting: `Claimed` while a
    /// counterpart is between its claim and `complete`. A caller that then returns `Pending`
    /// must make sure it is polled again (the counterpart may have taken an older waker, or
    /// none).
    #[inline]
    pub(crate) fn check(&self) -> Check {
        // Acquire: pairs with the Release store in `complete`.
        let s = self.state.load(Acquire);
        match s {
            WAITING | ABORTED | REGISTERING => Check::Waiting,
            CLAIMED | CLAIMED_BARE => Check::Claimed,
            _ => Check::Done(s >> CASE_SHIFT),
        }
    }

    /// The winning case if the operation finished, spinning through a claim.
    #[inline]
    pub(crate) fn poll_done(&self) -> Option<usize> {
        // Acquire: pairs with the Release store in `complete`.
        match self.state.load(Acquire) {
            WAITING | ABORTED | REGISTERING => None,
            _ => Some(self.wait_settled()),
        }
    }

    /// Spins while claimed; returns the winning case. Must only be called once the state has
    /// left `WAITING` through a claim (not `ABORTED`).
    fn wait_settled(&self) -> usize {
        let backoff = Backoff::new();
        loop {
            // Acquire: pairs with the Release store in `complete`.
            let s = self.state.load(Acquire);
            if s & TAG_MASK == DONE {
                return s >> CASE_SHIFT;
            }
            debug_assert!(s == CLAIMED || s == CLAIMED_BARE, "{s}");
            backoff.snooze();
        }
    }

    /// True while the owner is parked (a node with this signal is live).
    #[inline]
    pub(crate) fn is_waiting(&self) -> bool {
        // Relaxed: a hint used to prune stale nodes; the authoritative check is `try_claim`.
        matches!(self.state.load(Relaxed), WAITING | REGISTERING)
    }
}

/// What [`Signal::check`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Check {
    /// Still waiting (or withdrawn).
    Waiting,
    /// A counterpart is completing it right now.
    Claimed,
    /// Finished through this case.
    Done(usize),
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal")
            // Relaxed: a diagnostic snapshot.
            .field("state", &self.state.load(Relaxed))
            .finish()
    }
}

/// What a parked operation is waiting to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A send whose value sits in `slot`.
    Send,
    /// A reservation of one slot (`reserve`), no value yet.
    Reserve,
    /// A receive; the value arrives in `slot`.
    Recv,
    /// Waits for the channel to close (`Sender::closed`).
    Closed,
}

/// How a counterpart finished a node that carries no value (`Reserve`, `Closed`).
pub(crate) const OUTCOME_NONE: u8 = 0;
/// A reservation was granted.
pub(crate) const OUTCOME_GRANTED: u8 = 1;
/// The channel closed.
pub(crate) const OUTCOME_CLOSED: u8 = 2;

/// An intrusive waiter node; see the module docs for who touches which field when.
pub(crate) struct Waiter<T> {
    pointers: core::cell::UnsafeCell<Pointers<Waiter<T>>>,
    /// The value to send (Send) or the value received (Recv).
    slot: UnsafeCell<Option<T>>,
    outcome: Cell<u8>,
    signal: Cell<*const Signal>,
    case: Cell<usize>,
    kind: Cell<Kind>,
    /// When the owner started waiting (blocked-time counters).
    since: Cell<Option<u64>>,
    _pin: PhantomPinned,
}

// SAFETY: every field is either touched only by the owner while the node is unlinked, or under
// the channel lock while it is linked (module docs); the value inside is a `T: Send`.
unsafe impl<T: Send> Send for Waiter<T> {}
// SAFETY: as for `Send`: shared references never give two threads unsynchronized access.
unsafe impl<T: Send> Sync for Waiter<T> {}

impl<T> Waiter<T> {
    pub(crate) fn new(kind: Kind) -> Waiter<T> {
        Waiter {
            pointers: core::cell::UnsafeCell::new(Pointers::new()),
            slot: UnsafeCell::new(None),
            outcome: Cell::new(OUTCOME_NONE),
            signal: Cell::new(core::ptr::null()),
            case: Cell::new(0),
            kind: Cell::new(kind),
            since: Cell::new(None),
            _pin: PhantomPinned,
        }
    }

    /// Prepares an unlinked node for linking: which signal and case it belongs to.
    pub(crate) fn arm(&self, signal: &Signal, case: usize) {
        self.signal.set(signal);
        self.case.set(case);
        self.outcome.set(OUTCOME_NONE);
    }

    pub(crate) fn kind(&self) -> Kind {
        self.kind.get()
    }

    pub(crate) fn case(&self) -> usize {
        self.case.get()
    }

    pub(crate) fn outcome(&self) -> u8 {
        self.outcome.get()
    }

    pub(crate) fn set_outcome(&self, o: u8) {
        self.outcome.set(o);
    }

    /// The node's signal.
    ///
    /// # Safety
    ///
    /// The node must be armed, and its signal alive (it is, while the node is linked).
    pub(crate) unsafe fn signal(&self) -> &Signal {
        // SAFETY: the caller guarantees the node is armed and the signal alive.
        unsafe { &*self.signal.get() }
    }

    pub(crate) fn signal_ptr(&self) -> *const Signal {
        self.signal.get()
    }

    /// Puts a value in the slot.
    ///
    /// # Safety
    ///
    /// The caller has exclusive access to the slot: it owns the unlinked node, or holds the
    /// channel lock while the node is linked or claimed.
    pub(crate) unsafe fn put(&self, value: T) {
        // SAFETY: exclusive access per the caller.
        self.slot.with_mut(|p| unsafe { *p = Some(value) });
    }

    /// Takes the value out of the slot.
    ///
    /// # Safety
    ///
    /// As for [`put`](Self::put).
    pub(crate) unsafe fn take(&self) -> Option<T> {
        // SAFETY: exclusive access per the caller.
        self.slot.with_mut(|p| unsafe { (*p).take() })
    }

    /// Starts the blocked-time clock (`clock`: coarse, cheap); false if it already runs.
    pub(crate) fn start_clock(&self) -> bool {
        if self.since.get().is_some() {
            return false;
        }
        self.since.set(Some(crate::clock::now_nanos()));
        true
    }

    /// Stops the blocked-time clock: nanoseconds blocked, if the clock ran.
    pub(crate) fn stop_clock(&self) -> Option<u64> {
        self.since
            .take()
            .map(|t| crate::clock::now_nanos().saturating_sub(t))
    }
}

impl<T> fmt::Debug for Waiter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waiter")
            .field("kind", &self.kind.get())
            .field("case", &self.case.get())
            .finish_non_exhaustive()
    }
}

/// `Link` for waiter queues: the list holds raw pointers; the owner keeps the node alive and
/// pinned while it is linked and unlinks it (under the lock) before freeing it.
pub(crate) struct WaiterLink<T>(core::marker::PhantomData<T>);

// SAFETY: `pointers` returns the node's embedded field, which lives as long as the node; handles
// are the raw node pointers themselves, so `as_raw`/`from_raw` round-trip trivially.
unsafe impl<T> Link for WaiterLink<T> {
    type Handle = NonNull<Waiter<T>>;
    type Target = Waiter<T>;

    fn as_raw(handle: &Self::Handle) -> NonNull<Waiter<T>> {
        *handle
    }

    unsafe fn from_raw(ptr: NonNull<Waiter<T>>) -> Self::Handle {
        ptr
    }

    unsafe fn pointers(target: NonNull<Waiter<T>>) -> NonNull<Pointers<Waiter<T>>> {
        // SAFETY: `target` is live per the caller; `pointers` is a field of it, and `UnsafeCell`
        // allows writes through the shared node.
        unsafe { NonNull::new_unchecked((*target.as_ptr()).pointers.get()) }
    }
}

/// Wakers collected under a channel lock, woken after it is released.
///
/// Nearly every critical section completes at most one waiter, so the first waker has a field of
/// its own and the rest go to a vector that is only allocated (and only dropped) when a second
/// one comes: the common drop is two tests and the wake, with no loop over an empty vector.
#[derive(Default, Debug)]
pub struct Wakers {
    one: Option<Waker>,
    /// Never dropped by the compiler's glue (its loop over the elements would run on every
    /// drop): `wake_all` empties it and leaves it unallocated, so there is nothing to drop.
    more: core::mem::ManuallyDrop<Vec<Waker>>,
}

impl Wakers {
    #[inline]
    pub(crate) fn push(&mut self, w: Option<Waker>) {
        if let Some(w) = w {
            if self.one.is_none() {
                self.one = Some(w);
            } else {
                self.more.push(w);
            }
        }
    }

    /// Wakes them all, oldest first.
    #[inline]
    pub(crate) fn wake_all(&mut self) {
        if self.more.capacity() != 0 {
            return self.wake_with_more();
        }
        if let Some(w) = self.one.take() {
            w.wake();
        }
    }

    /// `wake_all` once a second waker came: takes the vector out of the field first, so a
    /// waker that panics leaves the rest to ordinary drops (dropped, not woken) and no leak.
    #[cold]
    fn wake_with_more(&mut self) {
        let more = core::mem::take(&mut *self.more);
        if let Some(w) = self.one.take() {
            w.wake();
        }
        for w in more {
            w.wake();
        }
    }
}

impl Drop for Wakers {
    #[inline]
    fn drop(&mut self) {
        // `wake_all` leaves `more` without an allocation (a `Vec` that never allocated owns
        // nothing), so there is nothing else to drop.
        self.wake_all();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::Wakers;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::{Arc, Mutex};
    use std::task::{Wake, Waker};

    /// Records the order of wake-ups.
    struct Probe {
        id: usize,
        log: Arc<Mutex<Vec<usize>>>,
        drops: Arc<AtomicUsize>,
    }

    impl Wake for Probe {
        fn wake(self: Arc<Self>) {
            self.log.lock().unwrap().push(self.id);
        }
    }

    impl Drop for Probe {
        fn drop(&mut self) {
            self.drops.fetch_add(1, SeqCst);
        }
    }

    fn probes(n: usize) -> (Vec<Waker>, Arc<Mutex<Vec<usize>>>, Arc<AtomicUsize>) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let drops = Arc::new(AtomicUsize::new(0));
        let wakers = (0..n)
            .map(|id| {
                Waker::from(Arc::new(Probe {
                    id,
                    log: log.clone(),
                    drops: drops.clone(),
                }))
            })
            .collect();
        (wakers, log, drops)
    }

    #[test]
    fn wakes_each_once_in_order_and_drops_them() {
        for n in [0, 1, 2, 5] {
            let (wakers, log, drops) = probes(n);
            let mut w = Wakers::default();
            w.push(None);
            for waker in wakers {
                w.push(Some(waker));
            }
            drop(w);
            assert_eq!(*log.lock().unwrap(), (0..n).collect::<Vec<_>>(), "n = {n}");
            assert_eq!(drops.load(SeqCst), n, "every waker released, n = {n}");
        }
    }
}
