//! `Barrier`: `n` parties wait until all of them have arrived, then all go on together; one of
//! them is told it is the leader.
//!
//! # Design
//!
//! Everything is under one lock: the number of parties that arrived in the current round and the
//! FIFO queue of their parked [`Node`]s. The `n`-th arrival is the leader: it unlinks and
//! completes every parked node, resets the count for the next round, and returns at once; the
//! others see their signal `DONE`. A round is therefore only ever completed by an arrival, and
//! nodes of one round never see the next one (they are unlinked when their round completes).
//!
//! Cancellation (a departure from tokio, whose `wait` counts the arrival even if the future is
//! dropped): a parked `wait` that is dropped before its round completes withdraws its arrival
//! (unlinks its node and decrements the count), so the barrier still needs `n` live parties. A
//! `wait` dropped after its round completed changes nothing.
//!
//! Memory: every arrival takes the lock, and the parked parties see their completion through the
//! signal's `Release` store / `Acquire` load, so whatever each party wrote before `wait` is
//! visible to all of them after it.

use core::cell::Cell;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{ready, Context, Poll};

use spectrum_rt::coop;

use super::id::{LazyId, NoteKind};
use super::node::{lock_for_poll, Node, Queue, GRANTED};
use crate::lock::Lock;
use crate::op::spin_allowed;
use crate::waiter::{Check, Wakers};

/// Lets `n` tasks, threads or fibers wait for each other: each [`wait`](Self::wait) returns once
/// `n` of them are waiting, and exactly one of each round is the leader.
///
/// The barrier can be reused: after a round completes, the next `n` arrivals form the next round.
///
/// ```
/// use std::sync::Arc;
/// use spectrum_chan::sync::Barrier;
///
/// let barrier = Arc::new(Barrier::new(3));
/// let threads: Vec<_> = (0..3)
///     .map(|_| {
///         let b = barrier.clone();
///         std::thread::spawn(move || b.wait().wait().is_leader())
///     })
///     .collect();
/// let leaders = threads.into_iter().map(|t| t.join().unwrap()).filter(|&l| l).count();
/// assert_eq!(leaders, 1); // one leader per round
/// ```
///
/// A waiting task notes `WaitOn::Signal` with the barrier's id for task dumps.
pub struct Barrier {
    n: usize,
    inner: Lock<Round>,
    id: LazyId,
}

/// The current round, under the lock.
struct Round {
    arrived: usize,
    waiters: Queue,
}

impl Barrier {
    /// A barrier for `n` parties. `Barrier::new(0)` behaves as `Barrier::new(1)` (as tokio's
    /// does): every `wait` returns at once, as the leader.
    pub fn new(n: usize) -> Barrier {
        Barrier {
            n: n.max(1),
            inner: Lock::new(Round {
                arrived: 0,
                waiters: Queue::new(),
            }),
            id: LazyId::new(),
        }
    }

    /// How many parties a round needs (`new(0)` reports 1).
    pub fn parties(&self) -> usize {
        self.n
    }

    /// Arrives at the barrier and waits for the rest of the round. The `n`-th arrival returns
    /// at once as the leader and releases the others.
    ///
    /// The arrival is made when the future is first polled (or `.wait()`ed), not when it is made.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future before its round completes withdraws its arrival (the
    /// round then waits for another party); after the round completed, the drop changes nothing.
    /// (tokio counts a cancelled arrival; see the module docs.)
    pub fn wait(&self) -> BarrierWait<'_> {
        BarrierWait {
            barrier: self,
            node: Node::new(),
            phase: Cell::new(INIT),
        }
    }

    fn poll_wait(&self, f: &BarrierWait<'_>, cx: &mut Context<'_>) -> Poll<BarrierWaitResult> {
        let coop = ready!(coop::poll_proceed(cx));
        let res = match f.phase.get() {
            INIT => self.arrive(f, cx),
            LINKED => {
                let signal = &f.node.signal;
                signal.register(cx.waker());
                match signal.check() {
                    Check::Waiting => Poll::Pending,
                    Check::Done(_) => Poll::Ready(BarrierWaitResult(false)),
                    // The leader is between its claim and `complete` (as in the semaphore).
                    Check::Claimed if spin_allowed() => {
                        signal.poll_done();
                        Poll::Ready(BarrierWaitResult(false))
                    }
                    Check::Claimed => {
                        cx.waker().wake_by_ref();
                        Poll::Pending
                    }
                }
            }
            _ => panic!("a BarrierWait future was polled after it completed"),
        };
        match res {
            Poll::Ready(_) => {
                f.phase.set(DONE);
                coop.made_progress();
            }
            Poll::Pending => NoteKind::Signal.note(&self.id),
        }
        res
    }

    fn arrive(&self, f: &BarrierWait<'_>, cx: &mut Context<'_>) -> Poll<BarrierWaitResult> {
        let Some(mut r) = lock_for_poll(&self.inner, cx, spin_allowed()) else {
            return Poll::Pending;
        };
        r.arrived += 1;
        if r.arrived == self.n {
            // The leader: release the round.
            r.arrived = 0;
            let mut wakers = Wakers::default();
            while let Some(p) = r.waiters.pop_front() {
                // SAFETY: was linked (alive) and we hold the lock (node rule 3).
                wakers.push(unsafe { p.as_ref() }.complete(GRANTED));
            }
            drop(r);
            drop(wakers);
            return Poll::Ready(BarrierWaitResult(true));
        }
        f.node.arm(Some(cx.waker()));
        // SAFETY: the node is pinned in its future and not linked (INIT); the future unlinks it
        // under this lock before it goes (`Drop`).
        unsafe { r.waiters.push_back(&f.node) };
        f.phase.set(LINKED);
        Poll::Pending
    }

    fn cancel(&self, f: &BarrierWait<'_>) {
        if f.phase.get() != LINKED {
            return;
        }
        f.phase.set(DONE);
        let mut r = self.inner.lock();
        // SAFETY: the node is alive (its future is being dropped) and linked here or nowhere.
        if unsafe { r.waiters.remove(&f.node) } {
            r.arrived -= 1;
        }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("id", &self.id)
            .field("parties", &self.n)
            .finish_non_exhaustive()
    }
}

const INIT: u8 = 0;
const LINKED: u8 = 1;
const DONE: u8 = 2;

/// The future of [`Barrier::wait`].
#[must_use = "futures do nothing unless awaited (or `.wait()`ed)"]
pub struct BarrierWait<'a> {
    barrier: &'a Barrier,
    node: Node,
    phase: Cell<u8>,
}

impl Future for BarrierWait<'_> {
    type Output = BarrierWaitResult;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<BarrierWaitResult> {
        let this = self.into_ref().get_ref();
        this.barrier.poll_wait(this, cx)
    }
}

#[cfg(not(loom))]
impl BarrierWait<'_> {
    /// Blocks the calling thread (or suspends the calling fiber) until the round completes:
    /// [`spectrum_rt::Wait::wait`].
    #[track_caller]
    pub fn wait(self) -> BarrierWaitResult {
        spectrum_rt::Wait::wait(self)
    }
}

impl Drop for BarrierWait<'_> {
    fn drop(&mut self) {
        self.barrier.cancel(self);
    }
}

impl fmt::Debug for BarrierWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phase = match self.phase.get() {
            INIT => "init",
            LINKED => "waiting",
            _ => "done",
        };
        f.debug_struct("BarrierWait")
            .field("barrier", &self.barrier.id)
            .field("state", &phase)
            .finish()
    }
}

/// What [`Barrier::wait`] returns: whether this party was the round's leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BarrierWaitResult(bool);

impl BarrierWaitResult {
    /// True for exactly one party of each round (the last to arrive).
    pub fn is_leader(&self) -> bool {
        self.0
    }
}
