//! The waiting machinery `broadcast` and `watch` share: a parked operation ([`Parked`]: one
//! [`Node`] of the sync primitives plus "is it linked"), completing a whole queue of them, and
//! waking the collected wakers after the lock is released ([`WakeList`]).
//!
//! Both channels wake *every* waiter on an event (a value sent, the last sender or receiver
//! gone), never hand a value to one waiter, so a node carries no payload: being completed only
//! means "look again". That is what makes their futures cancel-safe: a dropped future that had
//! been completed consumed nothing.
//!
//! # Rules (the sync node rules, `super::node`, for this use)
//!
//! 1. The owner links its node under the channel's lock, with its waker registered first
//!    ([`Parked::link`]), and only while it is pinned (inside a pinned future or a `Box::pin`).
//! 2. A notifier holding the lock pops every node and completes it ([`notify_all`]); that is its
//!    last access to them. Wakers are woken after the lock is released.
//! 3. The owner learns of the completion from the node's signal without the lock
//!    ([`Parked::poll`]); before its memory goes it unlinks it under the lock ([`Parked::unlink`]).

use core::cell::Cell;
use core::fmt;
use core::ops::DerefMut;
use core::task::{Context, Poll, Waker};

use crate::lock::Lock;
use crate::op::spin_allowed;
use crate::sync::node::{Node, Queue};
use crate::waiter::Check;

/// The one case a node of these channels is completed with ("look again").
const NOTIFIED: usize = 0;

/// Wakers collected under a lock, woken after it (on drop). The first 32 sit inline
/// (the batch size of tokio's `WakeList`), so waking a typical crowd of receivers allocates
/// nothing; more spill to the heap.
pub(in crate::sync) struct WakeList {
    inline: [Option<Waker>; INLINE],
    len: usize,
    spill: Vec<Waker>,
}

const INLINE: usize = 32;

impl WakeList {
    fn new() -> WakeList {
        WakeList {
            inline: Default::default(),
            len: 0,
            spill: Vec::new(),
        }
    }

    #[inline]
    fn push(&mut self, w: Option<Waker>) {
        let Some(w) = w else { return };
        if self.len < INLINE {
            self.inline[self.len] = Some(w);
            self.len += 1;
        } else {
            self.spill.push(w);
        }
    }

    /// Wakes everything collected so far.
    fn wake_all(&mut self) {
        let n = core::mem::take(&mut self.len);
        for w in self.inline[..n].iter_mut().filter_map(Option::take) {
            w.wake();
        }
        for w in self.spill.drain(..) {
            w.wake();
        }
    }
}

impl Drop for WakeList {
    fn drop(&mut self) {
        self.wake_all();
    }
}

impl fmt::Debug for WakeList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WakeList")
            .field("len", &(self.len + self.spill.len()))
            .finish()
    }
}

/// Rule 2: completes every node of the queue `queue` picks out of the locked data, releases the
/// lock (`guard`), then wakes them. A queue found empty costs nothing more than the check (the
/// common case of a send).
#[inline]
pub(in crate::sync) fn notify_all<D, G: DerefMut<Target = D>>(
    mut guard: G,
    queue: fn(&mut D) -> &mut Queue,
) {
    if queue(&mut guard).is_empty() {
        return;
    }
    notify_all_slow(guard, queue);
}

#[inline(never)]
fn notify_all_slow<D, G: DerefMut<Target = D>>(mut guard: G, queue: fn(&mut D) -> &mut Queue) {
    let mut wakers = WakeList::new();
    let q = queue(&mut guard);
    while let Some(p) = q.pop_front() {
        // SAFETY: a linked node is alive until its owner unlinks it under the lock we hold
        // (rule 3); we just unlinked it, and `complete` is our last access.
        wakers.push(unsafe { p.as_ref() }.complete(NOTIFIED));
    }
    drop(guard);
    wakers.wake_all();
}

/// A parked operation: its node and whether the node is linked (owner-only state).
pub(in crate::sync) struct Parked {
    node: Node,
    linked: Cell<bool>,
}

impl Parked {
    pub(in crate::sync) fn new() -> Parked {
        Parked {
            node: Node::new(),
            linked: Cell::new(false),
        }
    }

    /// True while the node is linked and not known to be completed.
    #[inline]
    pub(in crate::sync) fn is_linked(&self) -> bool {
        self.linked.get()
    }

    /// Rule 1: registers `waker` and links the node at the back of `q` (the caller holds the lock
    /// that guards `q`).
    ///
    /// # Safety
    ///
    /// `self` is pinned and not linked, and its owner calls [`unlink`](Self::unlink) with the
    /// same lock and queue before `self` is dropped or moved.
    pub(in crate::sync) unsafe fn link(&self, q: &mut Queue, waker: &Waker) {
        debug_assert!(!self.linked.get());
        self.node.arm(Some(waker));
        // SAFETY: per the caller: pinned, unlinked, unlinked under this lock before it goes.
        unsafe { q.push_back(&self.node) };
        self.linked.set(true);
    }

    /// Rule 3: `Ready` once a notifier completed the node (it is then unlinked, and this
    /// operation should look again), `Pending` while it waits. Only call it while linked.
    #[inline]
    pub(in crate::sync) fn poll(&self, cx: &Context<'_>) -> Poll<()> {
        debug_assert!(self.linked.get());
        let signal = &self.node.signal;
        signal.register(cx.waker());
        match signal.check() {
            Check::Waiting => return Poll::Pending,
            Check::Done(_) => {}
            // The notifier is between its claim and `complete`, under the lock: an OS thread
            // waits the few instructions out; a task or fiber never spins on another thread, it
            // comes back after the worker's other tasks (the notifier may hold an older waker).
            Check::Claimed if spin_allowed() => {
                signal.poll_done();
            }
            Check::Claimed => {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
        self.linked.set(false);
        Poll::Ready(())
    }

    /// Rule 3: unlinks the node if it is still linked (the future owning it is going). `queue`
    /// picks the queue out of the lock's data.
    pub(in crate::sync) fn unlink<D>(
        &self,
        lock: &Lock<D>,
        queue: impl FnOnce(&mut D) -> &mut Queue,
    ) {
        if !self.linked.get() {
            return;
        }
        self.linked.set(false);
        let mut g = lock.lock();
        // SAFETY: the node is alive (its owner is being dropped, not yet freed) and was linked in
        // this queue, or was unlinked and completed by a notifier under this lock.
        unsafe { queue(&mut g).remove(&self.node) };
        // Dropping the guard after a notifier's completion (under the same lock) means the
        // notifier is done with the node: it may go now.
    }
}

impl fmt::Debug for Parked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.linked.get() { "waiting" } else { "idle" })
    }
}
