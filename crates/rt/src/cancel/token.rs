//! `CancelToken`: cooperative cancellation with a cause, a tree, and deadlines.
//!
//! # Rules
//!
//! 1. Cancellation flows down, never up: cancelling a token cancels its children (transitively),
//!    never its parent or siblings.
//! 2. A child created under a cancelled parent starts cancelled.
//! 3. A token may carry a deadline; a child's deadline is the earlier of its own and its parent's.
//!    A passed deadline cancels the token with cause "deadline exceeded" the first time anyone
//!    looks (and at the deadline, for anyone awaiting [`CancelToken::cancelled`] on a runtime).
//! 4. The first cause wins; later `cancel` calls report `false`.
//!
//! # Structure
//!
//! Each token node keeps its cause, its waiting wakers and weak links to its children under one
//! mutex; `cancelled` mirrors "cause is set" in an atomic so `is_cancelled` is a load. A dropped
//! child node unlinks itself from its parent, so long-lived parents do not accumulate dead
//! children. Cancelling a tree walks it with an explicit stack (no recursion depth limit).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use spectrum_sync::atomic::{AtomicBool, Ordering::*};
use spectrum_sync::Mutex;

use super::CancelCause;

/// A cooperative cancellation signal with a cause, children and an optional deadline.
///
/// Cheap to clone (clones are the same token). Async code awaits [`cancelled`](Self::cancelled)
/// or races work against it with [`run_until_cancelled`](Self::run_until_cancelled); thread and
/// fiber code checks [`check`](Self::check) at its own pace.
///
/// ```
/// use spectrum_rt::cancel::{CancelCause, CancelToken, CauseKind};
///
/// let parent = CancelToken::new();
/// let child = parent.child();
/// child.cancel(); // flows down only
/// assert!(!parent.is_cancelled());
///
/// parent.cancel_with(CancelCause::new("shutting down"));
/// let grandchild = parent.child(); // born cancelled
/// assert_eq!(grandchild.cause().unwrap().kind(), CauseKind::ParentCancelled);
/// assert!(grandchild.check().is_err());
/// ```
#[derive(Clone)]
pub struct CancelToken {
    node: Arc<Node>,
}

struct Node {
    cancelled: AtomicBool,
    deadline: Option<Instant>,
    state: Mutex<State>,
    /// Our parent and our key in its `children`, to unlink on drop.
    parent: Option<(Weak<Node>, usize)>,
}

struct State {
    cause: Option<CancelCause>,
    children: Slab<Weak<Node>>,
    waiters: Slab<Waker>,
}

/// A vector with stable keys and a free list: O(1) insert and remove.
struct Slab<T> {
    entries: Vec<Option<T>>,
    free: Vec<usize>,
}

impl<T> Slab<T> {
    fn new() -> Self {
        Slab {
            entries: Vec::new(),
            free: Vec::new(),
        }
    }

    fn insert(&mut self, value: T) -> usize {
        match self.free.pop() {
            Some(k) => {
                self.entries[k] = Some(value);
                k
            }
            None => {
                self.entries.push(Some(value));
                self.entries.len() - 1
            }
        }
    }

    fn remove(&mut self, key: usize) -> Option<T> {
        let v = self.entries.get_mut(key)?.take();
        if v.is_some() {
            self.free.push(key);
        }
        v
    }

    fn get_mut(&mut self, key: usize) -> Option<&mut T> {
        self.entries.get_mut(key).and_then(Option::as_mut)
    }

    fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        self.free.clear();
        self.entries.drain(..).flatten()
    }

    fn len(&self) -> usize {
        self.entries.len() - self.free.len()
    }
}

impl Default for CancelToken {
    fn default() -> Self {
        CancelToken::new()
    }
}

impl CancelToken {
    /// A new root token.
    pub fn new() -> CancelToken {
        Self::make(None, None)
    }

    /// A new root token that cancels itself at `deadline`.
    pub fn with_deadline(deadline: Instant) -> CancelToken {
        Self::make(None, Some(deadline))
    }

    /// A new root token that cancels itself `timeout` from now (on the runtime's clock if one is
    /// entered, so a paused test clock applies).
    pub fn with_timeout(timeout: Duration) -> CancelToken {
        Self::with_deadline(after(timeout))
    }

    fn make(parent: Option<&CancelToken>, deadline: Option<Instant>) -> CancelToken {
        let deadline = match (parent.and_then(|p| p.node.deadline), deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let Some(parent) = parent else {
            return CancelToken {
                node: Arc::new(Node {
                    cancelled: AtomicBool::new(false),
                    deadline,
                    state: Mutex::new(State::new()),
                    parent: None,
                }),
            };
        };
        let mut pstate = parent.node.state.lock();
        let inherited = pstate.cause.as_ref().map(CancelCause::parent_cancelled);
        let node = Arc::new_cyclic(|weak: &Weak<Node>| {
            let key = pstate.children.insert(weak.clone());
            Node {
                cancelled: AtomicBool::new(inherited.is_some()),
                deadline,
                state: Mutex::new(State {
                    cause: inherited,
                    ..State::new()
                }),
                parent: Some((Arc::downgrade(&parent.node), key)),
            }
        });
        drop(pstate);
        CancelToken { node }
    }

    /// A child token: cancelled with this one (never the reverse), sharing its deadline.
    pub fn child(&self) -> CancelToken {
        Self::make(Some(self), None)
    }

    /// A child token with its own deadline; the earlier of it and the parent's applies.
    pub fn child_with_deadline(&self, deadline: Instant) -> CancelToken {
        Self::make(Some(self), Some(deadline))
    }

    /// A child token whose deadline is `timeout` from now (or the parent's, if earlier).
    pub fn child_with_timeout(&self, timeout: Duration) -> CancelToken {
        self.child_with_deadline(after(timeout))
    }

    /// Cancels with cause "cancellation requested". Returns `true` if this call cancelled it.
    pub fn cancel(&self) -> bool {
        self.cancel_with(CancelCause::requested())
    }

    /// Cancels with `cause` (and every descendant with "parent cancelled: ..." — deadlines and
    /// shutdown keep their own kind). Returns `true` if this call cancelled it; the first cause
    /// is kept.
    pub fn cancel_with(&self, cause: CancelCause) -> bool {
        cancel_node(&self.node, cause)
    }

    /// True once cancelled, or once the deadline has passed (which cancels it).
    pub fn is_cancelled(&self) -> bool {
        // Acquire: pairs with the Release store in `cancel_node`, so the cause is visible.
        if self.node.cancelled.load(Acquire) {
            return true;
        }
        self.check_deadline()
    }

    fn check_deadline(&self) -> bool {
        match self.node.deadline {
            Some(d) if now() >= d => {
                cancel_node(&self.node, CancelCause::deadline_exceeded());
                true
            }
            _ => false,
        }
    }

    /// The cause, once cancelled.
    pub fn cause(&self) -> Option<CancelCause> {
        if !self.is_cancelled() {
            return None;
        }
        self.node.state.lock().cause.clone()
    }

    /// `Err(cause)` once cancelled: the cooperative check for thread and fiber code
    /// (`token.check()?` at each safe point).
    pub fn check(&self) -> Result<(), CancelCause> {
        match self.cause() {
            Some(c) => Err(c),
            None => Ok(()),
        }
    }

    /// The effective deadline, if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.node.deadline
    }

    /// True if both are the same token.
    pub fn same_as(&self, other: &CancelToken) -> bool {
        Arc::ptr_eq(&self.node, &other.node)
    }

    /// Waits until cancelled (or the deadline passes) and returns the cause.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future unregisters its waker; the token is unaffected.
    pub fn cancelled(&self) -> Cancelled {
        Cancelled {
            token: self.clone(),
            key: None,
            #[cfg(not(loom))]
            sleep: None,
        }
    }

    /// Runs `future` unless the token is cancelled first; then the future is dropped and the
    /// cause returned.
    ///
    /// # Cancel safety
    ///
    /// As cancel-safe as `future`.
    pub async fn run_until_cancelled<F: Future>(
        &self,
        future: F,
    ) -> Result<F::Output, CancelCause> {
        let mut future = std::pin::pin!(future);
        let mut cancelled = std::pin::pin!(self.cancelled());
        std::future::poll_fn(|cx| {
            if let Poll::Ready(cause) = cancelled.as_mut().poll(cx) {
                return Poll::Ready(Err(cause));
            }
            future.as_mut().poll(cx).map(Ok)
        })
        .await
    }

    /// The current token: the one [`enter`](Self::enter)ed on this thread, else the token of the
    /// scope the current task runs in, if any.
    pub fn current() -> Option<CancelToken> {
        if let Some(t) = ENTERED.with(|e| e.borrow().clone()) {
            return Some(t);
        }
        #[cfg(not(loom))]
        let token = crate::scope::current_token();
        #[cfg(loom)]
        let token = None;
        token
    }

    /// Makes this token [`current`](Self::current) on this thread until the guard drops: what a
    /// thread (or a fiber) runtime does for the code it runs. Guards nest.
    ///
    /// ```
    /// use spectrum_rt::cancel::CancelToken;
    /// let t = CancelToken::new();
    /// {
    ///     let _g = t.enter();
    ///     assert!(CancelToken::current().unwrap().same_as(&t));
    /// }
    /// assert!(CancelToken::current().is_none());
    /// ```
    pub fn enter(&self) -> EnteredToken {
        EnteredToken(ENTERED.with(|e| e.replace(Some(self.clone()))))
    }

    /// Number of live children (for tests and diagnostics).
    pub fn num_children(&self) -> usize {
        self.node.state.lock().children.len()
    }
}

thread_local! {
    static ENTERED: std::cell::RefCell<Option<CancelToken>> = const { std::cell::RefCell::new(None) };
}

/// Restores the previously entered token; see [`CancelToken::enter`].
#[derive(Debug)]
pub struct EnteredToken(Option<CancelToken>);

impl Drop for EnteredToken {
    fn drop(&mut self) {
        let prev = self.0.take();
        ENTERED.with(|e| *e.borrow_mut() = prev);
    }
}

/// Now, on the entered runtime's clock (so a paused test clock applies).
fn now() -> Instant {
    #[cfg(not(loom))]
    let now = crate::time::clock_now();
    #[cfg(loom)]
    let now = Instant::now();
    now
}

fn after(timeout: Duration) -> Instant {
    #[cfg(not(loom))]
    let at = crate::time::sleep_deadline_after(timeout);
    #[cfg(loom)]
    let at = Instant::now() + timeout;
    at
}

impl State {
    fn new() -> State {
        State {
            cause: None,
            children: Slab::new(),
            waiters: Slab::new(),
        }
    }
}

fn cancel_node(root: &Arc<Node>, cause: CancelCause) -> bool {
    let mut stack: Vec<(Arc<Node>, CancelCause)> = vec![(root.clone(), cause)];
    let mut first = true;
    let mut cancelled_root = false;
    while let Some((node, cause)) = stack.pop() {
        let (waiters, children) = {
            let mut state = node.state.lock();
            if state.cause.is_some() {
                if first {
                    return false;
                }
                continue;
            }
            state.cause = Some(cause.clone());
            // Release: pairs with the Acquire in `is_cancelled`.
            node.cancelled.store(true, Release);
            let waiters: Vec<Waker> = state.waiters.drain().collect();
            let children: Vec<Weak<Node>> = state.children.drain().collect();
            (waiters, children)
        };
        if first {
            cancelled_root = true;
            first = false;
        }
        waiters.into_iter().for_each(Waker::wake);
        let child_cause = CancelCause::parent_cancelled(&cause);
        for child in children {
            if let Some(child) = child.upgrade() {
                stack.push((child, child_cause.clone()));
            }
        }
    }
    cancelled_root
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some((parent, key)) = &self.parent {
            if let Some(parent) = parent.upgrade() {
                parent.state.lock().children.remove(*key);
            }
        }
    }
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.node.cancelled.load(Relaxed))
            .field("deadline", &self.node.deadline)
            .finish()
    }
}

/// Future returned by [`CancelToken::cancelled`].
#[must_use = "futures do nothing unless polled"]
pub struct Cancelled {
    token: CancelToken,
    key: Option<usize>,
    #[cfg(not(loom))]
    sleep: Option<Pin<Box<crate::time::Sleep>>>,
}

impl Future for Cancelled {
    type Output = CancelCause;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<CancelCause> {
        let this = &mut *self;
        if let Some(cause) = this.token.cause() {
            this.key = None;
            return Poll::Ready(cause);
        }
        {
            let mut state = this.token.node.state.lock();
            if let Some(cause) = &state.cause {
                this.key = None;
                return Poll::Ready(cause.clone());
            }
            match this.key.and_then(|k| state.waiters.get_mut(k)) {
                Some(w) if w.will_wake(cx.waker()) => {}
                Some(w) => *w = cx.waker().clone(),
                None => this.key = Some(state.waiters.insert(cx.waker().clone())),
            }
        }
        #[cfg(not(loom))]
        if let Some(deadline) = this.token.node.deadline {
            if this.sleep.is_none() && crate::sched::with_current(|s| s.is_some()) {
                this.sleep = Some(Box::pin(crate::time::sleep_until(deadline)));
            }
            if let Some(sleep) = this.sleep.as_mut() {
                if sleep.as_mut().poll_elapsed(cx).is_ready() {
                    cancel_node(&this.token.node, CancelCause::deadline_exceeded());
                    return Poll::Ready(
                        this.token
                            .cause()
                            .unwrap_or_else(CancelCause::deadline_exceeded),
                    );
                }
            }
        }
        Poll::Pending
    }
}

impl Drop for Cancelled {
    fn drop(&mut self) {
        if let Some(k) = self.key {
            self.token.node.state.lock().waiters.remove(k);
        }
    }
}

impl fmt::Debug for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancelled")
            .field("token", &self.token)
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::cancel::CauseKind;

    #[test]
    fn cancellation_flows_down_only() {
        let root = CancelToken::new();
        let a = root.child();
        let b = root.child();
        let a1 = a.child();
        assert!(a.cancel());
        assert!(!a.cancel(), "second cancel reports false");
        assert!(a1.is_cancelled());
        assert_eq!(a1.cause().unwrap().kind(), CauseKind::ParentCancelled);
        assert!(!root.is_cancelled());
        assert!(!b.is_cancelled());
        root.cancel_with(CancelCause::new("bye"));
        assert!(b.is_cancelled());
        assert_eq!(
            a.cause().unwrap().kind(),
            CauseKind::Requested,
            "first cause wins"
        );
    }

    #[test]
    fn dropped_children_unlink() {
        let root = CancelToken::new();
        let kids: Vec<_> = (0..100).map(|_| root.child()).collect();
        assert_eq!(root.num_children(), 100);
        drop(kids);
        assert_eq!(root.num_children(), 0);
    }

    #[test]
    fn earlier_deadline_wins_and_passed_deadline_cancels() {
        let now = Instant::now();
        let parent = CancelToken::with_deadline(now + Duration::from_secs(10));
        let child = parent.child_with_deadline(now + Duration::from_secs(60));
        assert_eq!(child.deadline(), parent.deadline());
        let sooner = parent.child_with_deadline(now - Duration::from_millis(1));
        assert!(sooner.is_cancelled());
        assert_eq!(sooner.cause().unwrap().kind(), CauseKind::DeadlineExceeded);
        assert!(!parent.is_cancelled());
    }

    #[test]
    fn deep_trees_do_not_overflow_the_stack() {
        let root = CancelToken::new();
        let mut chain = vec![root.clone()];
        for _ in 0..100_000 {
            let next = chain.last().unwrap().child();
            chain.push(next);
        }
        root.cancel();
        assert!(chain.last().unwrap().is_cancelled());
        // Drop from the leaf up so node drops do not recurse either.
        while chain.pop().is_some() {}
    }
}

/// The token tree under loom: cancel racing child creation, waiter registration and another
/// cancel. This is the cancellation protocol every scope is built on.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use spectrum_sync::thread;

    /// A child created while the parent is being cancelled always ends up cancelled.
    #[test]
    fn child_created_during_cancel_is_cancelled() {
        spectrum_sync::model(|| {
            let parent = CancelToken::new();
            let p2 = parent.clone();
            let t = thread::spawn(move || p2.child());
            parent.cancel_with(CancelCause::new("stop"));
            let child = t.join().unwrap();
            assert!(child.is_cancelled());
            assert_eq!(
                child.cause().unwrap().kind(),
                super::super::CauseKind::ParentCancelled
            );
        });
    }

    /// A waiter registering while the token is cancelled is never left sleeping.
    #[test]
    fn no_lost_wakeup_for_waiters() {
        spectrum_sync::model(|| {
            let token = CancelToken::new();
            let t2 = token.clone();
            let canceller = thread::spawn(move || {
                t2.cancel();
            });
            let cause = loom::future::block_on(token.cancelled());
            assert_eq!(cause.kind(), super::super::CauseKind::Requested);
            canceller.join().unwrap();
        });
    }

    /// Two cancels with different causes: exactly one wins, and the whole tree agrees on it.
    #[test]
    fn exactly_one_cause_wins() {
        spectrum_sync::model(|| {
            let root = CancelToken::new();
            let child = root.child();
            let r2 = root.clone();
            let t = thread::spawn(move || r2.cancel_with(CancelCause::new("a")));
            let won_b = root.cancel_with(CancelCause::new("b"));
            let won_a = t.join().unwrap();
            assert!(
                won_a ^ won_b,
                "exactly one cancel reports that it cancelled"
            );
            let cause = root.cause().unwrap().to_string();
            assert_eq!(cause, if won_a { "a" } else { "b" });
            assert_eq!(
                child.cause().unwrap().to_string(),
                format!("parent cancelled: {cause}")
            );
        });
    }
}
