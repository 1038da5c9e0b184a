//! One blocking operation's state, shared by the public futures, the `Stream` and `Sink`
//! adapters and the timeout variants: a waiter node, its signal, and whether the node is linked.
//!
//! Each poll function first tries the lock-free buffer (`chan`'s protocol step 1). A caller
//! that is an OS thread blocked in `.wait()` then spins for a few microseconds on that same
//! lock-free attempt (spinning, then yielding: crossbeam's `Backoff`), since the alternative is
//! a system call to sleep and another to wake it; an async task or a fiber never spins, its
//! wait is a cheap suspension. Then the lock (a task or fiber only tries it: see
//! `lock_for_poll`): try again (step 2), and if the operation still cannot proceed, `announce`
//! the waiter, try once more and park the node (arm, register the waker, link) in the same
//! critical section, so no wake-up can fall between the check and the parking. If a try finds
//! the slot it needs claimed by another thread that has not finished with it (*busy*), the
//! operation does not park: a thread backs off and tries again, a task or fiber wakes itself
//! and returns `Pending`. Later polls only read the signal. [`Op::withdraw`] takes the node back
//! (cancellation) and tells whether the operation had already completed, so each caller can
//! keep its cancel-safety promise (give a received value back, report an unsent value).

use core::cell::{Cell, UnsafeCell};
use core::ptr::NonNull;
use core::task::{ready, Context, Poll};

use spectrum_rt::coop;
use spectrum_sync::Backoff;

use crate::buf::{Pop, Push};
use crate::chan::{Chan, ChanGuard, RecvFail, SendFail};
use crate::error::{RecvError, SendError, TrySendError};
use crate::owners::{Side, Tag};
use crate::waiter::{Check, Kind, Signal, Waiter, Wakers, OUTCOME_GRANTED};

/// True if the caller may spin briefly before parking: an OS thread blocked in `.wait()` (not
/// an async task, not a fiber), for which sleeping costs a futex wait plus the waker's wake-up
/// system call, while the counterpart is probably running on another core right now.
#[cfg(not(loom))]
#[inline]
pub(crate) fn spin_allowed() -> bool {
    spectrum_rt::wait::in_blocking_wait()
}

/// Under loom every caller is a plain thread: the models then check parking without a waker,
/// spinning, then registering, as well.
#[cfg(loom)]
pub(crate) fn spin_allowed() -> bool {
    true
}

/// True if the caller should retry the lock-free attempt for a while before taking the lock to
/// park (see `spin_allowed`). Off under loom: the retries add no interaction the models do not
/// already explore through the first attempt, only states.
#[inline]
fn spin_before_parking(thread: bool) -> bool {
    !cfg!(loom) && thread
}

/// The channel lock for a poll. An OS thread blocked in `.wait()` waits for it. An async task
/// or a fiber never blocks its worker on it: the holder may be an OS thread that the kernel has
/// just preempted, for milliseconds. If the lock stays taken through a short spin, the poll
/// wakes itself and returns `Pending` (`None` here), and tries again after the worker's other
/// tasks.
#[inline]
fn lock_for_poll<'c, 'w, T>(
    chan: &'c Chan<T>,
    cx: &Context<'_>,
    thread: bool,
    wakers: &'w mut Wakers,
) -> Option<ChanGuard<'c, T, &'w mut Wakers>> {
    if thread {
        return Some(chan.lock_into(wakers));
    }
    let g = chan.try_lock_into(wakers);
    if g.is_none() {
        cx.waker().wake_by_ref();
    }
    g
}

/// Spins with exponential backoff (a few microseconds in all, yielding towards the end) until
/// `ready` returns something.
fn spin_until<R>(mut ready: impl FnMut() -> Option<R>) -> Option<R> {
    let backoff = Backoff::new();
    // Under loom one check is enough to reach both outcomes (done / not yet) and keeps the
    // state space small.
    let rounds = if cfg!(loom) { 1 } else { usize::MAX };
    for _ in 0..rounds {
        if backoff.is_completed() {
            break;
        }
        backoff.snooze();
        if let Some(r) = ready() {
            return Some(r);
        }
    }
    None
}

/// A send's result from the value its op still holds: one left there was not taken, because the
/// channel closed.
#[inline]
fn unsent<T>(left: Option<T>) -> Result<(), SendError<T>> {
    match left {
        Some(v) => Err(SendError(v)),
        None => Ok(()),
    }
}

/// How a send's critical section ended (`Op::poll_send_slow`).
enum Locked<T> {
    Sent,
    /// Full: the value waits in the parked node.
    Parked,
    Closed(T),
    Busy(T),
}

/// What [`Op::withdraw`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub(crate) enum Withdrawn {
    /// The node was not parked (never polled, or already finished and read).
    NotParked,
    /// The node was unlinked before any counterpart completed it: nothing happened.
    Cancelled,
    /// A counterpart completed it: the result sits in the node.
    Completed,
}

/// A parked-or-not operation on a channel of `T`.
///
/// The waiter and its signal are only built when the operation first parks: most operations
/// complete on the lock-free path and never need them, and building them costs more than the
/// lock-free operation itself.
pub(crate) struct Op<T> {
    kind: Kind,
    /// A send's value, until `park` moves it into the waiter's slot.
    value: Cell<Option<T>>,
    /// The waiter and signal, once parked. Written only by the owner, and only while the waiter
    /// is unlinked (counterparts reach it only through the queue it is linked in).
    parked: UnsafeCell<Option<Parked<T>>>,
    linked: Cell<bool>,
}

/// The parked half of an [`Op`].
struct Parked<T> {
    node: Waiter<T>,
    signal: Signal,
}

impl<T> Op<T> {
    pub(crate) fn new(kind: Kind) -> Op<T> {
        Op {
            kind,
            value: Cell::new(None),
            parked: UnsafeCell::new(None),
            linked: Cell::new(false),
        }
    }

    /// An op carrying `value` (a send).
    pub(crate) fn with_value(value: T) -> Op<T> {
        Op {
            kind: Kind::Send,
            value: Cell::new(Some(value)),
            parked: UnsafeCell::new(None),
            linked: Cell::new(false),
        }
    }

    /// The waiter and signal, if the op ever parked.
    #[inline]
    fn parked(&self) -> Option<&Parked<T>> {
        // SAFETY: `parked` is only written by `parked_or_init`, by the owner, while no shared
        // reference from an earlier call is in use (the owner drops them between calls) and no
        // counterpart can reach the waiter (it is unlinked).
        unsafe { (*self.parked.get()).as_ref() }
    }

    /// The waiter and signal, built on first use. Only while unlinked.
    fn parked_or_init(&self) -> &Parked<T> {
        debug_assert!(!self.linked.get());
        // SAFETY: as in `parked`; the waiter is unlinked, so nobody else holds a reference.
        unsafe {
            let slot = &mut *self.parked.get();
            // Not `get_or_insert_with`: with it the compiler builds part of the new `Parked` on
            // the stack and copies it with loads that straddle its stores (a store-forwarding
            // stall, the hottest spot of a rendezvous hand-off in `perf`).
            if slot.is_none() {
                *slot = Some(Parked {
                    node: Waiter::new(self.kind),
                    signal: Signal::new(),
                });
            }
            slot.as_ref().unwrap_unchecked()
        }
    }

    /// The linked waiter. Only while linked (or after completion).
    #[inline]
    fn linked_parts(&self) -> &Parked<T> {
        self.parked().expect("a linked op has its waiter")
    }

    fn node_ptr(&self) -> NonNull<Waiter<T>> {
        NonNull::from(&self.linked_parts().node)
    }

    /// Parks the node: register the waker, arm, link, with `value` (a send's) in its slot.
    /// Called with the lock held, in the same critical section that found the operation could
    /// not proceed.
    ///
    /// # Safety
    ///
    /// `self` is pinned (it stays put until `withdraw` or completion), not linked, and `g` is the
    /// lock of the channel it belongs to.
    unsafe fn park(
        &self,
        g: &mut ChanGuard<'_, T, &mut Wakers>,
        value: Option<T>,
        tag: Option<&Tag>,
        cx: &Context<'_>,
        thread: bool,
    ) {
        let p = self.parked_or_init();
        if let Some(v) = value {
            // SAFETY: unlinked: the slot is ours.
            unsafe { p.node.put(v) };
        }
        p.signal.reset();
        // A thread spins on the signal first (`settle`) and registers its waker only if that
        // fails: a counterpart that completes the node meanwhile then finds no waker and makes
        // no wake-up system call.
        if !thread {
            // SAFETY: unlinked (per the caller), and linked below under the lock `g`.
            unsafe { p.signal.register_unlinked(cx.waker()) };
        }
        p.node.arm(&p.signal, 0);
        g.start_wait(&p.node);
        // SAFETY: pinned and unlinked per the caller; the try just failed without `Closed`, so
        // the channel is open (or, for a receive, a value is still being written).
        unsafe { g.link(self.node_ptr()) };
        self.linked.set(true);
        // The task dump's note, and the handle's user for the wait-for graph (`owners`).
        g.diag().parked(self.kind, tag);
    }

    /// Right after parking: a thread spins briefly on the signal (the counterpart is likely
    /// running on another core right now), then registers its waker; `Ready` if completed.
    fn settle(&self, chan: &Chan<T>, cx: &Context<'_>, thread: bool) -> Poll<()> {
        if thread {
            let signal = &self.linked_parts().signal;
            spin_until(|| signal.poll_done().map(|_| ()));
            return self.poll_parked(chan, cx);
        }
        // A task registered its waker in `park`, in this very poll.
        self.finish_parked(chan, cx, thread)
    }

    /// Polls a parked node; `Ready` once a counterpart completed it.
    fn poll_parked(&self, chan: &Chan<T>, cx: &Context<'_>) -> Poll<()> {
        let signal = &self.linked_parts().signal;
        // Woken because a counterpart completed the node (the usual reason to be polled): no
        // waker to register, which would clone one only to drop it unused.
        if let Check::Done(_) = signal.check() {
            return self.finished(chan);
        }
        signal.register(cx.waker());
        let res = self.finish_parked(chan, cx, spin_allowed());
        if res.is_pending() {
            // Still parked: the poll cleared the task's wait note, leave it again.
            chan.diag.note_parked(self.kind);
        }
        res
    }

    /// `poll_parked` after registering the waker.
    #[inline]
    fn finish_parked(&self, chan: &Chan<T>, cx: &Context<'_>, thread: bool) -> Poll<()> {
        let p = self.linked_parts();
        match p.signal.check() {
            Check::Waiting => return Poll::Pending,
            Check::Done(_) => {}
            Check::Claimed if thread => {
                p.signal.poll_done();
            }
            Check::Claimed => {
                // Never spin on a worker: come back after the other tasks (waiter module docs).
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
        self.finished(chan)
    }

    /// A parked node a counterpart completed (its signal reads `DONE`): it is unlinked.
    #[inline]
    fn finished(&self, chan: &Chan<T>) -> Poll<()> {
        self.linked.set(false);
        chan.stats
            .record(self.kind, self.linked_parts().node.stop_clock());
        Poll::Ready(())
    }

    /// Takes the node back; see [`Withdrawn`].
    #[inline]
    pub(crate) fn withdraw(&self, chan: &Chan<T>) -> Withdrawn {
        if !self.linked.get() {
            return Withdrawn::NotParked;
        }
        self.withdraw_linked(chan)
    }

    #[cold]
    fn withdraw_linked(&self, chan: &Chan<T>) -> Withdrawn {
        let mut g = chan.lock();
        // SAFETY: the node is alive (we are) and was linked in this channel.
        let unlinked = unsafe { g.unlink(self.node_ptr()) };
        drop(g);
        let p = self.linked_parts();
        // Not unlinked: a counterpart completed it under the lock we just took, so it is DONE.
        debug_assert!(unlinked || p.signal.poll_done().is_some());
        self.linked.set(false);
        chan.stats.record(self.kind, p.node.stop_clock());
        if unlinked {
            Withdrawn::Cancelled
        } else {
            Withdrawn::Completed
        }
    }

    /// The value the op holds: a send's unsent value, or a receive's received value.
    pub(crate) fn take_value(&self) -> Option<T> {
        debug_assert!(!self.linked.get());
        if let Some(v) = self.value.take() {
            return Some(v);
        }
        // SAFETY: the node is unlinked: its slot is ours.
        self.parked().and_then(|p| unsafe { p.node.take() })
    }

    /// `.wait()`'s first step for a send that was never polled: the lock-free push alone, with
    /// the coop budget charged as a poll would. False (the value back in the node) if it
    /// cannot proceed right now.
    #[cfg(not(loom))]
    #[inline]
    pub(crate) fn send_now(&self, chan: &Chan<T>) -> bool {
        let mut cx = Context::from_waker(core::task::Waker::noop());
        let Poll::Ready(coop) = coop::poll_proceed(&mut cx) else {
            return false;
        };
        let Some(v) = self.value.take() else {
            return false;
        };
        match chan.push_fast(v) {
            Ok(()) => {
                coop.made_progress();
                true
            }
            Err(Push::Full(v) | Push::Busy(v) | Push::Slow(v)) => {
                self.value.set(Some(v));
                false
            }
        }
    }

    /// `.wait()`'s first step for a receive that was never polled: the lock-free pop alone.
    #[cfg(not(loom))]
    #[inline]
    pub(crate) fn recv_now(&self, chan: &Chan<T>) -> Option<T> {
        debug_assert!(!self.linked.get());
        let mut cx = Context::from_waker(core::task::Waker::noop());
        let Poll::Ready(coop) = coop::poll_proceed(&mut cx) else {
            return None;
        };
        let v = chan.pop_fast().ok()?;
        coop.made_progress();
        Some(v)
    }

    /// True if a completed reservation was granted.
    pub(crate) fn granted(&self) -> bool {
        self.parked()
            .is_some_and(|p| p.node.outcome() == OUTCOME_GRANTED)
    }

    /// Receive. The lock-free pop is inlined into the caller; a re-poll of a parked receive
    /// and the slow path are separate functions, so the common case does not pay for the slow
    /// path's frame (its register saves and restores).
    #[inline(always)]
    pub(crate) fn poll_recv(
        &self,
        chan: &Chan<T>,
        tag: &Tag,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, RecvError>> {
        if self.linked.get() {
            return self
                .poll_parked_value(chan, cx)
                .map(|v| v.ok_or(RecvError::Closed));
        }
        let coop = ready!(coop::poll_proceed(cx));
        match chan.pop_fast() {
            Ok(v) => {
                coop.made_progress();
                Poll::Ready(Ok(v))
            }
            Err(first) => self.poll_recv_slow(chan, tag, cx, coop, first),
        }
    }

    /// `poll_recv` / `poll_send` of a parked op: once completed, the value it holds (a
    /// received value; a send's value left unsent because the channel closed).
    #[inline(never)]
    fn poll_parked_value(&self, chan: &Chan<T>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let coop = ready!(coop::poll_proceed(cx));
        ready!(self.poll_parked(chan, cx));
        coop.made_progress();
        Poll::Ready(self.take_value())
    }

    /// `poll_recv` past a failed lock-free pop (`first` says why it failed).
    #[inline(never)]
    fn poll_recv_slow(
        &self,
        chan: &Chan<T>,
        tag: &Tag,
        cx: &mut Context<'_>,
        coop: coop::RestoreOnPending,
        first: Pop,
    ) -> Poll<Result<T, RecvError>> {
        let thread = spin_allowed();
        match first {
            Pop::Slow => {}
            Pop::Empty | Pop::Busy => {
                if spin_before_parking(thread) {
                    let got = spin_until(|| match chan.pop_fast() {
                        Ok(v) => Some(Some(v)),
                        Err(Pop::Slow) => Some(None),
                        Err(Pop::Empty | Pop::Busy) => None,
                    });
                    if let Some(Some(v)) = got {
                        coop.made_progress();
                        return Poll::Ready(Ok(v));
                    }
                }
            }
        }
        let backoff = Backoff::new();
        loop {
            // The guard, then the wakers it filled, go out of scope at the end of this block:
            // unlocked, then woken, both dropped where they lie (`ChanGuard` on why the wakers
            // are not the guard's).
            let res = {
                let mut wakers = Wakers::default();
                let Some(mut g) = lock_for_poll(chan, cx, thread, &mut wakers) else {
                    return Poll::Pending;
                };
                let mut res = g.try_recv(core::ptr::null());
                if let Err(RecvFail::Empty) = res {
                    if g.announce(Kind::Recv) {
                        res = g.try_recv(core::ptr::null());
                    }
                }
                if let Err(RecvFail::Empty) = res {
                    // SAFETY: `self` is pinned inside its future; `g` is its channel's lock.
                    unsafe { self.park(&mut g, None, Some(tag), cx, thread) };
                }
                res
            };
            match res {
                Ok(v) => {
                    // Done through the lock (often: by completing a parked sender), so not
                    // recorded by `park`: record who uses the handle (`owners`).
                    chan.diag.used(Side::Receivers, tag);
                    coop.made_progress();
                    return Poll::Ready(Ok(v));
                }
                Err(RecvFail::Closed) => {
                    coop.made_progress();
                    return Poll::Ready(Err(RecvError::Closed));
                }
                Err(RecvFail::Empty) => break,
                Err(RecvFail::Busy) => {
                    // Never park on a value still being written (`chan` module protocols).
                    if !thread {
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    backoff.snooze();
                    if let Ok(v) = chan.pop_fast() {
                        coop.made_progress();
                        return Poll::Ready(Ok(v));
                    }
                }
            }
        }
        ready!(self.settle(chan, cx, thread));
        coop.made_progress();
        Poll::Ready(self.take_value().ok_or(RecvError::Closed))
    }

    /// Send the value carried in the node. Split as `poll_recv` is.
    ///
    /// # Panics
    ///
    /// If polled again after it completed.
    #[inline(always)]
    pub(crate) fn poll_send(
        &self,
        chan: &Chan<T>,
        tag: &Tag,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), SendError<T>>> {
        if self.linked.get() {
            return self.poll_parked_value(chan, cx).map(unsent);
        }
        let coop = ready!(coop::poll_proceed(cx));
        let v = self
            .take_value()
            .expect("a send future polled after it completed");
        match chan.push_fast(v) {
            Ok(()) => {
                coop.made_progress();
                Poll::Ready(Ok(()))
            }
            Err(first) => self.poll_send_slow(chan, tag, cx, coop, first),
        }
    }

    /// `poll_send` past a failed lock-free push (`first` says why, and holds the value).
    #[inline(never)]
    fn poll_send_slow(
        &self,
        chan: &Chan<T>,
        tag: &Tag,
        cx: &mut Context<'_>,
        coop: coop::RestoreOnPending,
        first: Push<T>,
    ) -> Poll<Result<(), SendError<T>>> {
        let thread = spin_allowed();
        let v = match first {
            Push::Slow(v) => v,
            Push::Full(v) | Push::Busy(v) if spin_before_parking(thread) => {
                let mut v = Some(v);
                let batch = chan.refill_batch();
                let sent =
                    spin_until(
                        || match chan.push_fast_after(batch, v.take().expect("unsent")) {
                            Ok(()) => Some(true),
                            Err(Push::Slow(x)) => {
                                v = Some(x);
                                Some(false)
                            }
                            Err(Push::Full(x) | Push::Busy(x)) => {
                                v = Some(x);
                                None
                            }
                        },
                    );
                if sent == Some(true) {
                    coop.made_progress();
                    return Poll::Ready(Ok(()));
                }
                v.expect("an unsent value")
            }
            Push::Full(v) | Push::Busy(v) => v,
        };
        let backoff = Backoff::new();
        let mut v = v;
        loop {
            // As in `poll_recv_slow`.
            let res = {
                let mut wakers = Wakers::default();
                let Some(mut g) = lock_for_poll(chan, cx, thread, &mut wakers) else {
                    self.value.set(Some(v));
                    return Poll::Pending;
                };
                let res = match g.try_send(v, core::ptr::null()) {
                    Err(SendFail::Full(v)) if g.announce(Kind::Send) => {
                        g.try_send(v, core::ptr::null())
                    }
                    res => res,
                };
                match res {
                    Ok(()) => Locked::Sent,
                    Err(SendFail::Full(v)) => {
                        // SAFETY: pinned, unlinked, and `g` is its channel's lock.
                        unsafe { self.park(&mut g, Some(v), Some(tag), cx, thread) };
                        Locked::Parked
                    }
                    Err(SendFail::Closed(v)) => Locked::Closed(v),
                    Err(SendFail::Busy(v)) => Locked::Busy(v),
                }
            };
            match res {
                Locked::Parked => break,
                Locked::Sent => {
                    // As in `poll_recv`.
                    chan.diag.used(Side::Senders, tag);
                    coop.made_progress();
                    return Poll::Ready(Ok(()));
                }
                Locked::Closed(v) => {
                    coop.made_progress();
                    return Poll::Ready(Err(SendError(v)));
                }
                Locked::Busy(x) => {
                    // Never park on a slot still being read (`chan` module protocols).
                    if !thread {
                        self.value.set(Some(x));
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    backoff.snooze();
                    match chan.push_fast(x) {
                        Ok(()) => {
                            coop.made_progress();
                            return Poll::Ready(Ok(()));
                        }
                        Err(Push::Full(x) | Push::Busy(x) | Push::Slow(x)) => v = x,
                    }
                }
            }
        }
        ready!(self.settle(chan, cx, thread));
        coop.made_progress();
        Poll::Ready(unsent(self.take_value()))
    }

    /// Reserve one slot; `Ok` means the caller now holds a reservation.
    pub(crate) fn poll_reserve(
        &self,
        chan: &Chan<T>,
        tag: &Tag,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), SendError<()>>> {
        let coop = ready!(coop::poll_proceed(cx));
        if self.linked.get() {
            ready!(self.poll_parked(chan, cx));
            coop.made_progress();
            return Poll::Ready(if self.granted() {
                Ok(())
            } else {
                Err(SendError(()))
            });
        }
        let thread = spin_allowed();
        let mut wakers = Wakers::default();
        let Some(mut g) = lock_for_poll(chan, cx, thread, &mut wakers) else {
            return Poll::Pending;
        };
        let mut res = g.try_reserve();
        if let Err(TrySendError::Full(())) = res {
            if g.announce(Kind::Reserve) {
                res = g.try_reserve();
            }
        }
        let res = match res {
            Ok(()) => {
                // As in `poll_recv`.
                chan.diag.used(Side::Senders, tag);
                Poll::Ready(Ok(()))
            }
            Err(TrySendError::Closed(())) => Poll::Ready(Err(SendError(()))),
            Err(TrySendError::Full(())) => {
                // SAFETY: pinned, and `g` is its channel's lock.
                unsafe { self.park(&mut g, None, Some(tag), cx, thread) };
                Poll::Pending
            }
        };
        drop(g);
        // Woken before a thread spins in `settle`: one of them may be what completes us.
        drop(wakers);
        if res.is_ready() {
            coop.made_progress();
            return res;
        }
        ready!(self.settle(chan, cx, thread));
        coop.made_progress();
        Poll::Ready(if self.granted() {
            Ok(())
        } else {
            Err(SendError(()))
        })
    }

    /// Wait for the channel to close.
    pub(crate) fn poll_closed(&self, chan: &Chan<T>, cx: &mut Context<'_>) -> Poll<()> {
        if self.linked.get() {
            return self.poll_parked(chan, cx);
        }
        let thread = spin_allowed();
        let mut wakers = Wakers::default();
        let Some(mut g) = lock_for_poll(chan, cx, thread, &mut wakers) else {
            return Poll::Pending;
        };
        if g.is_closed() {
            return Poll::Ready(());
        }
        // SAFETY: pinned, and `g` is its channel's lock.
        unsafe { self.park(&mut g, None, None, cx, thread) };
        drop(g);
        drop(wakers);
        self.settle(chan, cx, thread)
    }
}

impl<T> core::fmt::Debug for Op<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Op")
            .field("kind", &self.kind)
            .field("parked", &self.linked.get())
            .finish()
    }
}
