//! The task state word: documented bit constants and named transitions.
//!
//! Every transition is a single read-modify-write on `state` (a `fetch_*` or a CAS loop) and
//! returns a `#[must_use]` outcome that tells the caller what it now owns. The layout follows
//! tokio's `task/state.rs`: flags in the low bits, the reference count above them.
//!
//! | bit | name | meaning |
//! |---|---|---|
//! | 0 | `RUNNING` | one thread holds the right to poll, cancel or complete the future |
//! | 1 | `COMPLETE` | the future is gone and the stage holds the output (or an error) |
//! | 2 | `NOTIFIED` | a [`Notified`](super::Notified) reference exists: the task is (or will be) in a queue |
//! | 3 | `CANCELLED` | cancellation was requested; the next owner of `RUNNING` cancels |
//! | 4 | `JOIN_INTEREST` | a `JoinHandle` exists and wants the output |
//! | 5 | `JOIN_WAKER` | the join waker is written and owned by the runtime side |
//! | 6.. | refs | one per `Task`, `Notified`, `JoinHandle`, `Waker` and registry entry |
//!
//! Ownership rules:
//! - Only the holder of `RUNNING` touches the stage (future or output) until `COMPLETE` is set;
//!   after that only the side that holds join interest reads the output, or the completer drops it
//!   when there is none.
//! - `JOIN_WAKER` clear: the join handle owns the waker field. `JOIN_WAKER` set: the runtime side
//!   owns it and the join handle must clear the bit (which fails once `COMPLETE`) before writing.
//! - At most one `Notified` exists at a time (`NOTIFIED` is its flag), so a task is never in two
//!   queues at once.

use core::fmt;

use spectrum_sync::atomic::{AtomicUsize, Ordering::*};

/// A thread holds the right to poll, cancel or complete the future.
pub(crate) const RUNNING: usize = 0b0000_0001;
/// The future has been dropped; the stage holds the output or an error.
pub(crate) const COMPLETE: usize = 0b0000_0010;
/// A `Notified` reference exists; the task is in (or on its way to) a run queue.
pub(crate) const NOTIFIED: usize = 0b0000_0100;
/// Cancellation was requested.
pub(crate) const CANCELLED: usize = 0b0000_1000;
/// A `JoinHandle` exists and wants the output.
pub(crate) const JOIN_INTEREST: usize = 0b0001_0000;
/// The join waker is written and owned by the runtime side.
pub(crate) const JOIN_WAKER: usize = 0b0010_0000;

const LIFECYCLE_MASK: usize = RUNNING | COMPLETE;
const FLAG_BITS: u32 = 6;
const FLAG_MASK: usize = (1 << FLAG_BITS) - 1;
/// One reference.
pub(crate) const REF_ONE: usize = 1 << FLAG_BITS;
const REF_MASK: usize = !FLAG_MASK;

/// Initial state: the registry entry, the `Notified` being submitted and the `JoinHandle` each hold
/// a reference; the task is notified and the join handle is interested.
const INITIAL: usize = (3 * REF_ONE) | JOIN_INTEREST | NOTIFIED;

/// The task's state word.
pub(crate) struct State(AtomicUsize);

/// A copy of the state word.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot(pub(crate) usize);

/// Outcome of [`State::transition_to_running`].
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToRunning {
    /// The caller now holds `RUNNING` and must poll the future.
    Success,
    /// The caller holds `RUNNING`, but cancellation was requested: cancel instead of polling.
    Cancelled,
    /// Another thread owns the future (or it is complete); the caller's reference was released.
    Failed,
    /// As `Failed`, and the caller released the last reference: it must deallocate.
    Dealloc,
}

/// Outcome of [`State::transition_to_idle`].
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToIdle {
    /// The task is idle; the poller's reference was released.
    Ok,
    /// Woken while running: the poller's reference now belongs to a new `Notified` to submit.
    OkNotified,
    /// The task is idle and the poller released the last reference: deallocate.
    OkDealloc,
    /// Cancellation was requested while running; the caller still holds `RUNNING` and cancels.
    Cancelled,
}

/// Outcome of the `transition_to_notified_*` family.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToNotified {
    /// Nothing to do (already notified, running or complete).
    DoNothing,
    /// The caller holds a new `Notified` reference and must submit it.
    Submit,
    /// Nothing to submit, and the caller released the last reference: deallocate.
    Dealloc,
}

impl State {
    /// A new task's state.
    pub(crate) fn new() -> Self {
        State(AtomicUsize::new(INITIAL))
    }

    /// Loads a snapshot.
    pub(crate) fn load(&self) -> Snapshot {
        // Acquire: pairs with the AcqRel of every transition, in particular `transition_to_complete`,
        // so a reader that sees COMPLETE also sees the stored output.
        Snapshot(self.0.load(Acquire))
    }

    fn fetch_update<T>(&self, mut f: impl FnMut(Snapshot) -> (T, Option<Snapshot>)) -> T {
        let mut curr = self.load();
        loop {
            let (out, next) = f(curr);
            let Some(next) = next else { return out };
            // AcqRel: every transition both publishes what the caller did before it (writing the
            // stage, the waker, the cause) and must see what the previous owner published.
            match self
                .0
                .compare_exchange_weak(curr.0, next.0, AcqRel, Acquire)
            {
                Ok(_) => return out,
                Err(actual) => curr = Snapshot(actual),
            }
        }
    }

    /// A worker took a `Notified` from a queue and wants to run the task.
    pub(crate) fn transition_to_running(&self) -> ToRunning {
        self.fetch_update(|mut s| {
            debug_assert!(s.is_notified());
            if !s.is_idle() {
                // Claimed by a shutdown sweep, or already complete: this Notified is stale.
                s.ref_dec();
                let out = if s.ref_count() == 0 {
                    ToRunning::Dealloc
                } else {
                    ToRunning::Failed
                };
                s.0 &= !NOTIFIED;
                return (out, Some(s));
            }
            s.0 |= RUNNING;
            s.0 &= !NOTIFIED;
            let out = if s.is_cancelled() {
                ToRunning::Cancelled
            } else {
                ToRunning::Success
            };
            (out, Some(s))
        })
    }

    /// The poll returned `Pending`: give up `RUNNING`.
    pub(crate) fn transition_to_idle(&self) -> ToIdle {
        self.fetch_update(|mut s| {
            debug_assert!(s.is_running());
            if s.is_cancelled() {
                return (ToIdle::Cancelled, None);
            }
            s.0 &= !RUNNING;
            if s.is_notified() {
                // The reference the poller held becomes the new Notified's.
                return (ToIdle::OkNotified, Some(s));
            }
            s.ref_dec();
            let out = if s.ref_count() == 0 {
                ToIdle::OkDealloc
            } else {
                ToIdle::Ok
            };
            (out, Some(s))
        })
    }

    /// The future finished (or was dropped): `RUNNING` -> `COMPLETE`. Returns the state before.
    pub(crate) fn transition_to_complete(&self) -> Snapshot {
        const DELTA: usize = RUNNING | COMPLETE;
        // AcqRel: Release publishes the stored output to the join handle (pairs with the Acquire
        // in `load`); Acquire sees the join waker the handle stored before setting JOIN_WAKER.
        let prev = Snapshot(self.0.fetch_xor(DELTA, AcqRel));
        debug_assert!(prev.is_running() && !prev.is_complete());
        prev
    }

    /// After waking the join waker: clear `JOIN_WAKER`. Returns `true` if the join handle has
    /// gone meanwhile, so the caller must drop the waker itself.
    pub(crate) fn unset_waker_after_complete(&self) -> bool {
        // AcqRel: Release hands the waker field back to the join handle (pairs with its Acquire
        // loads); Acquire sees a concurrent drop of the handle.
        let prev = Snapshot(self.0.fetch_and(!JOIN_WAKER, AcqRel));
        debug_assert!(prev.is_complete() && prev.is_join_waker_set());
        !prev.is_join_interested()
    }

    /// Releases `count` references at once after completion. Returns `true` when the caller
    /// released the last one and must deallocate.
    pub(crate) fn transition_to_terminal(&self, count: usize) -> bool {
        // AcqRel: Release orders this thread's use of the task before the deallocation by
        // whoever drops the last reference; Acquire makes the last dropper see all of them.
        let prev = Snapshot(self.0.fetch_sub(count * REF_ONE, AcqRel));
        debug_assert!(prev.ref_count() >= count, "task reference count underflow");
        prev.ref_count() == count
    }

    /// A waker is consumed by `wake()`: its reference either becomes the `Notified` or is
    /// released.
    pub(crate) fn transition_to_notified_by_val(&self) -> ToNotified {
        self.fetch_update(|mut s| {
            if s.is_running() {
                // The poller will resubmit; release our reference (never the last one: the
                // poller holds one).
                s.0 |= NOTIFIED;
                s.ref_dec();
                debug_assert!(s.ref_count() > 0);
                (ToNotified::DoNothing, Some(s))
            } else if s.is_complete() || s.is_notified() {
                s.ref_dec();
                let out = if s.ref_count() == 0 {
                    ToNotified::Dealloc
                } else {
                    ToNotified::DoNothing
                };
                (out, Some(s))
            } else {
                // Idle: our reference becomes the Notified's.
                s.0 |= NOTIFIED;
                (ToNotified::Submit, Some(s))
            }
        })
    }

    /// `wake_by_ref()`: a new reference is created for the `Notified` when one must be submitted.
    pub(crate) fn transition_to_notified_by_ref(&self) -> ToNotified {
        self.fetch_update(|mut s| {
            if s.is_complete() || s.is_notified() {
                (ToNotified::DoNothing, None)
            } else if s.is_running() {
                s.0 |= NOTIFIED;
                (ToNotified::DoNothing, Some(s))
            } else {
                s.0 |= NOTIFIED;
                s.ref_inc();
                (ToNotified::Submit, Some(s))
            }
        })
    }

    /// A cancellation request. Sets `CANCELLED`; an idle task is also notified so that its
    /// scheduler cancels it on the right thread. Returns `None` when the task was already complete
    /// or cancelled (the request changes nothing), so the caller's cause is not recorded.
    pub(crate) fn transition_to_notified_and_cancel(&self) -> Option<ToNotified> {
        self.fetch_update(|mut s| {
            if s.is_complete() || s.is_cancelled() {
                return (None, None);
            }
            s.0 |= CANCELLED;
            if s.is_running() || s.is_notified() {
                // The current poller (or the next one to pop it) sees CANCELLED.
                (Some(ToNotified::DoNothing), Some(s))
            } else {
                s.0 |= NOTIFIED;
                s.ref_inc();
                (Some(ToNotified::Submit), Some(s))
            }
        })
    }

    /// A shutdown sweep claims the task: sets `CANCELLED`, and `RUNNING` if nobody runs it.
    /// Returns `true` when the caller now holds `RUNNING` and must cancel the task. A pending
    /// `Notified` stays valid: whoever pops it later finds the task claimed and releases it.
    pub(crate) fn transition_to_shutdown(&self) -> bool {
        self.fetch_update(|mut s| {
            if s.is_complete() {
                return (false, None);
            }
            s.0 |= CANCELLED;
            let claimed = !s.is_running();
            s.0 |= RUNNING;
            (claimed, Some(s))
        })
    }

    /// The join handle wants to write its waker: clear `JOIN_WAKER` so it owns the field again.
    /// Fails (returning the snapshot) once the task is complete.
    pub(crate) fn unset_waker(&self) -> Result<Snapshot, Snapshot> {
        self.fetch_update(|mut s| {
            debug_assert!(s.is_join_interested() && s.is_join_waker_set());
            if s.is_complete() {
                return (Err(s), None);
            }
            s.0 &= !JOIN_WAKER;
            (Ok(s), Some(s))
        })
    }

    /// The join handle wrote its waker: set `JOIN_WAKER` to hand it to the runtime side.
    /// Fails (returning the snapshot) once the task is complete.
    pub(crate) fn set_join_waker(&self) -> Result<Snapshot, Snapshot> {
        self.fetch_update(|mut s| {
            debug_assert!(s.is_join_interested() && !s.is_join_waker_set());
            if s.is_complete() {
                return (Err(s), None);
            }
            s.0 |= JOIN_WAKER;
            (Ok(s), Some(s))
        })
    }

    /// The join handle goes away (dropped or detached): clear `JOIN_INTEREST` and, if the task
    /// is still running, `JOIN_WAKER` too, so the runtime never wakes a handle that is gone.
    /// Returns the state *before* the change.
    pub(crate) fn transition_to_join_handle_dropped(&self) -> Snapshot {
        self.fetch_update(|s| {
            debug_assert!(s.is_join_interested());
            let mut next = s;
            next.0 &= !JOIN_INTEREST;
            if !s.is_complete() {
                next.0 &= !JOIN_WAKER;
            }
            (s, Some(next))
        })
    }

    /// Adds a reference (a cloned waker).
    pub(crate) fn ref_inc(&self) {
        // Relaxed: a new reference is made from an existing one, which already keeps the task
        // alive; no memory needs ordering (the same argument as `Arc::clone`).
        let prev = self.0.fetch_add(REF_ONE, Relaxed);
        // Guard against overflow from leaked wakers: abort before the count wraps.
        if prev > isize::MAX as usize {
            std::process::abort();
        }
    }

    /// Releases a reference. Returns `true` when it was the last: the caller deallocates.
    pub(crate) fn ref_dec(&self) -> bool {
        // AcqRel: as `transition_to_terminal`.
        let prev = Snapshot(self.0.fetch_sub(REF_ONE, AcqRel));
        debug_assert!(prev.ref_count() >= 1, "task reference count underflow");
        prev.ref_count() == 1
    }
}

impl Snapshot {
    pub(crate) fn is_idle(self) -> bool {
        self.0 & LIFECYCLE_MASK == 0
    }
    pub(crate) fn is_running(self) -> bool {
        self.0 & RUNNING != 0
    }
    pub(crate) fn is_complete(self) -> bool {
        self.0 & COMPLETE != 0
    }
    pub(crate) fn is_notified(self) -> bool {
        self.0 & NOTIFIED != 0
    }
    pub(crate) fn is_cancelled(self) -> bool {
        self.0 & CANCELLED != 0
    }
    pub(crate) fn is_join_interested(self) -> bool {
        self.0 & JOIN_INTEREST != 0
    }
    pub(crate) fn is_join_waker_set(self) -> bool {
        self.0 & JOIN_WAKER != 0
    }
    pub(crate) fn ref_count(self) -> usize {
        (self.0 & REF_MASK) >> FLAG_BITS
    }
    fn ref_inc(&mut self) {
        self.0 += REF_ONE;
    }
    fn ref_dec(&mut self) {
        debug_assert!(self.ref_count() > 0);
        self.0 -= REF_ONE;
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("running", &self.is_running())
            .field("complete", &self.is_complete())
            .field("notified", &self.is_notified())
            .field("cancelled", &self.is_cancelled())
            .field("join_interested", &self.is_join_interested())
            .field("join_waker_set", &self.is_join_waker_set())
            .field("refs", &self.ref_count())
            .finish()
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.load().fmt(f)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_of_a_task_that_yields_once() {
        let s = State::new();
        assert_eq!(s.load().ref_count(), 3);
        assert_eq!(s.transition_to_running(), ToRunning::Success);
        // wake_by_ref while running: no new reference, but notified.
        assert_eq!(s.transition_to_notified_by_ref(), ToNotified::DoNothing);
        assert_eq!(s.transition_to_idle(), ToIdle::OkNotified);
        assert!(s.load().is_notified() && !s.load().is_running());
        assert_eq!(s.transition_to_running(), ToRunning::Success);
        let prev = s.transition_to_complete();
        assert!(prev.is_join_interested());
        // registry + poller references released together.
        assert!(!s.transition_to_terminal(2));
        let before = s.transition_to_join_handle_dropped();
        assert!(before.is_complete());
        assert!(s.ref_dec());
    }

    #[test]
    fn cancel_while_idle_submits_once() {
        let s = State::new();
        assert_eq!(s.transition_to_running(), ToRunning::Success);
        assert_eq!(s.transition_to_idle(), ToIdle::Ok);
        assert_eq!(
            s.transition_to_notified_and_cancel(),
            Some(ToNotified::Submit)
        );
        assert_eq!(s.transition_to_notified_and_cancel(), None);
        assert_eq!(s.transition_to_running(), ToRunning::Cancelled);
    }

    #[test]
    fn shutdown_claims_a_notified_task_and_the_stale_notified_is_released() {
        let s = State::new();
        assert!(s.transition_to_shutdown());
        assert!(!s.transition_to_shutdown());
        let _ = s.transition_to_complete();
        // The queued Notified from spawn is popped later.
        assert_eq!(s.transition_to_running(), ToRunning::Failed);
    }
}
