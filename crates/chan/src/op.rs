//! One blocking operation's state, shared by the public futures, the `Stream` and `Sink`
//! adapters and the timeout variants: a waiter node, its signal, and whether the node is linked.
//!
//! Each poll function first tries the operation under the lock; if it cannot proceed it parks
//! the node (arm, register the waker, link) in the same critical section, so no wake-up can fall
//! between the check and the parking. Later polls only read the signal. [`Op::withdraw`] takes the
//! node back (cancellation) and tells whether the operation had already completed, so each caller
//! can keep its cancel-safety promise (give a received value back, report an unsent value).

use core::cell::Cell;
use core::ptr::NonNull;
use core::task::{ready, Context, Poll};

use spectrum_rt::coop;
use spectrum_sync::Backoff;

use crate::chan::{Chan, Inner};
use crate::error::{RecvError, SendError, TryRecvError, TrySendError};
use crate::waiter::{Kind, Signal, Waiter, Wakers, OUTCOME_GRANTED};

/// True if the caller may spin briefly after parking: a plain thread (not a Spectrum task or a
/// fiber running inside one), for which sleeping costs a futex wait plus the waker's wake-up
/// system call, while the counterpart is probably running on another core right now.
#[inline]
fn spin_allowed() -> bool {
    // Under loom every caller is a plain thread too: the models then check the "park without a
    // waker, spin, register" path (its race with a completing counterpart) as well.
    spectrum_rt::task_id().is_none()
}

/// Spins with exponential backoff (a few microseconds in all, yielding towards the end) until
/// `ready` says so.
fn spin_until(ready: impl Fn() -> bool) -> bool {
    let backoff = Backoff::new();
    // Under loom one check is enough to reach both outcomes (done / not yet) and keeps the
    // state space small.
    let rounds = if cfg!(loom) { 1 } else { usize::MAX };
    for _ in 0..rounds {
        if backoff.is_completed() {
            break;
        }
        backoff.snooze();
        if ready() {
            return true;
        }
    }
    false
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
pub(crate) struct Op<T> {
    node: Waiter<T>,
    signal: Signal,
    linked: Cell<bool>,
}

impl<T> Op<T> {
    pub(crate) fn new(kind: Kind) -> Op<T> {
        Op {
            node: Waiter::new(kind),
            signal: Signal::new(),
            linked: Cell::new(false),
        }
    }

    /// An op carrying `value` (a send).
    pub(crate) fn with_value(value: T) -> Op<T> {
        let op = Op::new(Kind::Send);
        // SAFETY: the node is fresh and unlinked: we own its slot.
        unsafe { op.node.put(value) };
        op
    }

    fn node_ptr(&self) -> NonNull<Waiter<T>> {
        NonNull::from(&self.node)
    }

    /// Parks the node: register the waker, arm, link. Called with the lock held, in the same
    /// critical section that found the operation could not proceed.
    ///
    /// # Safety
    ///
    /// `self` is pinned (it stays put until `withdraw` or completion), not linked, and `g` is the
    /// lock of the channel it belongs to.
    unsafe fn park(&self, g: &mut Inner<T>, cx: &Context<'_>, w: &mut Wakers) {
        self.signal.reset();
        // A thread spins on the signal first (`settle`) and registers its waker only if that
        // fails: a counterpart that completes the node meanwhile then finds no waker and makes
        // no wake-up system call.
        if !spin_allowed() {
            self.signal.register(cx.waker());
        }
        self.node.arm(&self.signal, 0);
        self.node.start_clock();
        // SAFETY: pinned and unlinked per the caller; the channel is open (the try just failed
        // without `Closed`).
        unsafe { g.link(self.node_ptr(), w) };
        self.linked.set(true);
    }

    /// Right after parking: a thread spins briefly on the signal (the counterpart is likely
    /// running on another core right now), then registers its waker; `Ready` if completed.
    fn settle(&self, chan: &Chan<T>, cx: &Context<'_>) -> Poll<()> {
        if spin_allowed() {
            spin_until(|| self.signal.poll_done().is_some());
        }
        self.poll_parked(chan, cx)
    }

    /// Polls a parked node; `Ready` once a counterpart completed it.
    fn poll_parked(&self, chan: &Chan<T>, cx: &Context<'_>) -> Poll<()> {
        self.signal.register(cx.waker());
        if self.signal.poll_done().is_none() {
            return Poll::Pending;
        }
        self.linked.set(false);
        chan.stats.record(self.node.kind(), self.node.stop_clock());
        Poll::Ready(())
    }

    /// Takes the node back; see [`Withdrawn`].
    pub(crate) fn withdraw(&self, chan: &Chan<T>) -> Withdrawn {
        if !self.linked.get() {
            return Withdrawn::NotParked;
        }
        let mut g = chan.lock();
        // SAFETY: the node is alive (we are) and was linked in this channel.
        let unlinked = unsafe { g.unlink(self.node_ptr()) };
        drop(g);
        // Not unlinked: a counterpart completed it under the lock we just took, so it is DONE.
        debug_assert!(unlinked || self.signal.poll_done().is_some());
        self.linked.set(false);
        chan.stats.record(self.node.kind(), self.node.stop_clock());
        if unlinked {
            Withdrawn::Cancelled
        } else {
            Withdrawn::Completed
        }
    }

    /// The value in the node (a send's unsent value, or a receive's received value).
    pub(crate) fn take_value(&self) -> Option<T> {
        debug_assert!(!self.linked.get());
        // SAFETY: the node is unlinked: its slot is ours.
        unsafe { self.node.take() }
    }

    /// True if a completed reservation was granted.
    pub(crate) fn granted(&self) -> bool {
        self.node.outcome() == OUTCOME_GRANTED
    }

    /// Receive.
    pub(crate) fn poll_recv(
        &self,
        chan: &Chan<T>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, RecvError>> {
        let coop = ready!(coop::poll_proceed(cx));
        if self.linked.get() {
            ready!(self.poll_parked(chan, cx));
            coop.made_progress();
            return Poll::Ready(self.take_value().ok_or(RecvError::Closed));
        }
        let mut w = Wakers::default();
        let mut g = chan.lock();
        let res = match g.try_recv(core::ptr::null(), &mut w) {
            Ok(v) => Poll::Ready(Ok(v)),
            Err(TryRecvError::Closed) => Poll::Ready(Err(RecvError::Closed)),
            Err(TryRecvError::Empty) => {
                // SAFETY: `self` is pinned inside its future; `g` is its channel's lock.
                unsafe { self.park(&mut g, cx, &mut w) };
                Poll::Pending
            }
        };
        drop(g);
        w.wake_all();
        if res.is_ready() {
            coop.made_progress();
            return res;
        }
        ready!(self.settle(chan, cx));
        coop.made_progress();
        Poll::Ready(self.take_value().ok_or(RecvError::Closed))
    }

    /// Send the value carried in the node.
    ///
    /// # Panics
    ///
    /// If polled again after it completed.
    pub(crate) fn poll_send(
        &self,
        chan: &Chan<T>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), SendError<T>>> {
        let coop = ready!(coop::poll_proceed(cx));
        if self.linked.get() {
            ready!(self.poll_parked(chan, cx));
            coop.made_progress();
            // A value still in the slot was not taken: the channel closed.
            return Poll::Ready(match self.take_value() {
                Some(v) => Err(SendError(v)),
                None => Ok(()),
            });
        }
        let v = self
            .take_value()
            .expect("a send future polled after it completed");
        let mut w = Wakers::default();
        let mut g = chan.lock();
        let res = match g.try_send(v, core::ptr::null(), &mut w) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(TrySendError::Closed(v)) => Poll::Ready(Err(SendError(v))),
            Err(TrySendError::Full(v)) => {
                // SAFETY: unlinked: the slot is ours. Then: pinned, and `g` is its lock.
                unsafe {
                    self.node.put(v);
                    self.park(&mut g, cx, &mut w);
                }
                Poll::Pending
            }
        };
        drop(g);
        w.wake_all();
        if res.is_ready() {
            coop.made_progress();
            return res;
        }
        ready!(self.settle(chan, cx));
        coop.made_progress();
        Poll::Ready(match self.take_value() {
            Some(v) => Err(SendError(v)),
            None => Ok(()),
        })
    }

    /// Reserve one slot; `Ok` means the caller now holds a reservation.
    pub(crate) fn poll_reserve(
        &self,
        chan: &Chan<T>,
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
        let mut w = Wakers::default();
        let mut g = chan.lock();
        let res = match g.try_reserve() {
            Ok(()) => Poll::Ready(Ok(())),
            Err(TrySendError::Closed(())) => Poll::Ready(Err(SendError(()))),
            Err(TrySendError::Full(())) => {
                // SAFETY: pinned, and `g` is its channel's lock.
                unsafe { self.park(&mut g, cx, &mut w) };
                Poll::Pending
            }
        };
        drop(g);
        w.wake_all();
        if res.is_ready() {
            coop.made_progress();
            return res;
        }
        ready!(self.settle(chan, cx));
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
        let mut w = Wakers::default();
        let mut g = chan.lock();
        if g.is_closed() {
            return Poll::Ready(());
        }
        // SAFETY: pinned, and `g` is its channel's lock.
        unsafe { self.park(&mut g, cx, &mut w) };
        drop(g);
        w.wake_all();
        self.settle(chan, cx)
    }
}

impl<T> core::fmt::Debug for Op<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Op")
            .field("kind", &self.node.kind())
            .field("parked", &self.linked.get())
            .finish()
    }
}
