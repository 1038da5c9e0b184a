//! The waiter node of the sync primitives: one intrusive node per blocked future, linked in its
//! primitive's queue behind the primitive's lock, completed through the channels' [`Signal`].
//!
//! The node is the channels' waiter (`crate::waiter`) without the value slot: a [`Signal`] (the
//! "you are done" word plus the owner's `AtomicWaker`), the list pointers, and two counts the
//! semaphore uses (`want`: permits asked for; `needed`: permits still missing). The rules are the
//! channels' rules (`waiter` module docs), restated for one-node operations:
//!
//! 1. The owner registers its waker in the signal, then links the node, both under the queue
//!    lock. While the node is linked, only holders of that lock touch `pointers`, `want` and
//!    `needed`; the owner reads them only after it unlinked the node itself or after the signal
//!    says `DONE`.
//! 2. A counterpart (holding the lock) unlinks the node, then [`Node::complete`]s it: claim the
//!    signal (`WAITING -> CLAIMED`), take the waker, publish `DONE + case` with Release. That is
//!    its last access to the node; it wakes the waker after releasing the lock (`Wakers`).
//! 3. The owner's future unlinks the node under the lock before its memory goes (`Drop`): a node
//!    no longer linked was completed under that same lock, so after taking it the counterpart is
//!    done with the node.
//!
//! The signal's case says how the node was completed: for the semaphore [`GRANTED`] or
//! [`CLOSED`], for `Notify` which notification woke it.

use core::cell::Cell;
use core::marker::PhantomPinned;
use core::ptr::NonNull;
use core::task::{Context, Waker};

use spectrum_sync::linked_list::{Link, LinkedList, Pointers};

use crate::lock::{try_lock, Guard, Lock};
use crate::waiter::Signal;

/// Signal case: the permits were granted (semaphore) or a `notify_one` woke the node (`Notify`).
pub(crate) const GRANTED: usize = 0;
/// Signal case: the semaphore closed (semaphore) or `notify_waiters` woke the node (`Notify`).
pub(crate) const CLOSED: usize = 1;

/// A parked operation of a sync primitive (module docs for who touches what).
pub(crate) struct Node {
    pointers: core::cell::UnsafeCell<Pointers<Node>>,
    pub(crate) signal: Signal,
    /// Permits asked for (semaphore).
    want: Cell<usize>,
    /// Permits still missing (semaphore), decremented by releasers while linked.
    needed: Cell<usize>,
    _pin: PhantomPinned,
}

// SAFETY: the `Cell`s and `pointers` are only touched under the queue lock while the node is
// linked, or by the owner while it is not (module rules 1-3); `signal` is atomic.
unsafe impl Send for Node {}
// SAFETY: as for `Send`: shared references never give two threads unsynchronized access.
unsafe impl Sync for Node {}

impl Node {
    pub(crate) fn new() -> Node {
        Node {
            pointers: core::cell::UnsafeCell::new(Pointers::new()),
            signal: Signal::new(),
            want: Cell::new(0),
            needed: Cell::new(0),
            _pin: PhantomPinned,
        }
    }

    pub(crate) fn want(&self) -> usize {
        self.want.get()
    }

    pub(crate) fn needed(&self) -> usize {
        self.needed.get()
    }

    pub(crate) fn set_counts(&self, want: usize, needed: usize) {
        self.want.set(want);
        self.needed.set(needed);
    }

    pub(crate) fn set_needed(&self, needed: usize) {
        self.needed.set(needed);
    }

    /// Prepares an unlinked node for linking: signal back to `WAITING`, the owner's waker in it
    /// (if it has one: `Notified::enable` links without one).
    pub(crate) fn arm(&self, waker: Option<&Waker>) {
        self.signal.reset();
        if let Some(w) = waker {
            self.signal.register(w);
        }
    }

    /// Rule 2: completes an unlinked node through `case`; returns the waker to wake once the
    /// lock is released. The caller holds the queue lock and must not touch the node afterwards.
    pub(crate) fn complete(&self, case: usize) -> Option<Waker> {
        // Nodes of sync primitives are never withdrawn by an `abort` (their owners unlink them
        // under the lock instead), so the claim always succeeds.
        let claimed = self.signal.try_claim();
        debug_assert!(claimed, "a linked sync node is always WAITING");
        self.signal.complete(case)
    }
}

impl core::fmt::Debug for Node {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Node")
            .field("signal", &self.signal)
            .finish_non_exhaustive()
    }
}

/// `Link` for node queues: the list holds raw pointers; the owner keeps the node alive and
/// pinned while it is linked and unlinks it (under the lock) before freeing it.
pub(crate) struct NodeLink;

// SAFETY: `pointers` returns the node's embedded field, which lives as long as the node; handles
// are the raw node pointers themselves, so `as_raw`/`from_raw` round-trip trivially.
unsafe impl Link for NodeLink {
    type Handle = NonNull<Node>;
    type Target = Node;

    fn as_raw(handle: &NonNull<Node>) -> NonNull<Node> {
        *handle
    }

    unsafe fn from_raw(ptr: NonNull<Node>) -> NonNull<Node> {
        ptr
    }

    unsafe fn pointers(target: NonNull<Node>) -> NonNull<Pointers<Node>> {
        // SAFETY: `target` is live per the caller; `pointers` is a field of it, and the
        // `UnsafeCell` allows writes through a shared node.
        unsafe { NonNull::new_unchecked((*target.as_ptr()).pointers.get()) }
    }
}

/// A FIFO queue of parked nodes: linked at the back, served from the front.
pub(crate) struct Queue(pub(crate) LinkedList<NodeLink>);

// SAFETY: the queue holds pointers to nodes that are `Send + Sync` and that their owners keep
// alive while linked (module rules); it only moves between threads inside its lock.
unsafe impl Send for Queue {}

impl Queue {
    crate::sync::cfn! {
        pub(crate) fn new() -> Queue {
            Queue(LinkedList::new())
        }
    }

    /// Links `node` at the back.
    ///
    /// # Safety
    ///
    /// `node` is not linked, and stays alive and pinned until it is unlinked under the lock that
    /// guards this queue.
    pub(crate) unsafe fn push_back(&mut self, node: &Node) {
        self.0.push_back(NonNull::from(node));
    }

    /// The node at the front, if any. Dereference it only under the queue lock (linked nodes
    /// are alive, rule 3).
    pub(crate) fn front(&self) -> Option<NonNull<Node>> {
        self.0.front()
    }

    /// Unlinks the front node. The node stays alive until its owner has taken the lock after
    /// this critical section (rule 3): complete it before releasing the lock.
    pub(crate) fn pop_front(&mut self) -> Option<NonNull<Node>> {
        self.0.pop_front()
    }

    /// Unlinks the back node (as `pop_front`).
    pub(crate) fn pop_back(&mut self) -> Option<NonNull<Node>> {
        self.0.pop_back()
    }

    /// Unlinks `node` if it is linked here; false if a counterpart already unlinked it.
    ///
    /// # Safety
    ///
    /// `node` is alive and was linked in this queue or in none.
    pub(crate) unsafe fn remove(&mut self, node: &Node) -> bool {
        // SAFETY: per the caller.
        unsafe { self.0.remove(NonNull::from(node)) }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    #[allow(dead_code)] // for the channels beside the locks (`broadcast`, `watch`)
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

/// The queue lock for a poll, as the channels take theirs (`op::lock_for_poll`): an OS thread
/// blocked in `.wait()` waits for it; an async task or a fiber never blocks its worker on it (the
/// holder may be a preempted thread): if it stays taken through a short spin, the poll wakes
/// itself and the caller returns `Pending` (`None` here).
#[inline]
pub(crate) fn lock_for_poll<'l, T>(
    lock: &'l Lock<T>,
    cx: &Context<'_>,
    thread: bool,
) -> Option<Guard<'l, T>> {
    if thread {
        return Some(lock.lock());
    }
    let g = try_lock(lock);
    if g.is_none() {
        cx.waker().wake_by_ref();
    }
    g
}
