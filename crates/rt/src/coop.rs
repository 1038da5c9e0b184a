//! Cooperative scheduling: a budget of operations per task poll.
//!
//! A task that never returns `Pending` on its own (say, a loop receiving from a channel that is
//! always full) would monopolize its worker. Every Spectrum primitive calls
//! [`poll_proceed`] before doing work; after 128 operations in one poll (tokio's figure) it returns
//! `Pending` once, having woken the task, so the task goes to the back of the queue and others
//! run. Outside a Spectrum task the budget is unlimited, so primitives also work under other
//! executors.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Operations per task poll before a forced yield (tokio's value).
pub(crate) const INITIAL_BUDGET: u8 = 128;

thread_local! {
    static BUDGET: Cell<Option<u8>> = const { Cell::new(None) };
}

/// Runs `f` with a fresh budget (one task poll), restoring the previous budget afterwards.
///
/// Under loom the budget is off: loom runs its threads on one OS thread, so a `thread_local!`
/// would leak between model threads and make executions non-deterministic.
#[cfg(loom)]
pub(crate) fn with_budget<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Runs `f` with a fresh budget (one task poll), restoring the previous budget afterwards.
#[cfg(not(loom))]
pub(crate) fn with_budget<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(Option<u8>);
    impl Drop for Reset {
        fn drop(&mut self) {
            BUDGET.with(|b| b.set(self.0));
        }
    }
    let prev = BUDGET.with(|b| b.replace(Some(INITIAL_BUDGET)));
    let _reset = Reset(prev);
    f()
}

/// Charges one unit of budget, or returns `Pending` (having woken the task) when it is spent.
///
/// Keep the returned guard while doing the operation and call
/// [`RestoreOnPending::made_progress`] if it completed; otherwise the unit is refunded when the
/// guard drops (an operation that returns `Pending` costs nothing).
#[inline]
pub fn poll_proceed(cx: &mut Context<'_>) -> Poll<RestoreOnPending> {
    BUDGET.with(|b| match b.get() {
        None => Poll::Ready(RestoreOnPending(None)),
        Some(0) => {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        Some(n) => {
            b.set(Some(n - 1));
            Poll::Ready(RestoreOnPending(Some(n)))
        }
    })
}

/// Refunds a unit of budget unless the operation made progress.
#[derive(Debug)]
#[must_use]
pub struct RestoreOnPending(Option<u8>);

impl RestoreOnPending {
    /// The operation completed: keep the unit spent.
    #[inline]
    pub fn made_progress(mut self) {
        self.0 = None;
    }
}

impl Drop for RestoreOnPending {
    #[inline]
    fn drop(&mut self) {
        if let Some(n) = self.0 {
            BUDGET.with(|b| b.set(Some(n)));
        }
    }
}

/// True if the current task still has budget (always true outside a Spectrum task).
pub fn has_budget_remaining() -> bool {
    BUDGET.with(|b| b.get() != Some(0))
}

/// Charges one unit of budget, yielding first if it is spent: call it in long loops of work that
/// never waits, to let other tasks run.
pub async fn consume_budget() {
    struct Consume(bool);
    impl Future for Consume {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                return Poll::Ready(());
            }
            let guard = std::task::ready!(poll_proceed(cx));
            guard.made_progress();
            self.0 = true;
            Poll::Ready(())
        }
    }
    Consume(false).await
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::task::Waker;

    #[test]
    fn budget_runs_out_and_refunds_on_pending() {
        let mut cx = Context::from_waker(Waker::noop());
        with_budget(|| {
            for _ in 0..INITIAL_BUDGET {
                let g = match poll_proceed(&mut cx) {
                    Poll::Ready(g) => g,
                    Poll::Pending => panic!("budget ran out early"),
                };
                g.made_progress();
            }
            assert!(poll_proceed(&mut cx).is_pending());
            assert!(!has_budget_remaining());
        });
        // Outside a task: unlimited.
        assert!(has_budget_remaining());
        with_budget(|| {
            let g = match poll_proceed(&mut cx) {
                Poll::Ready(g) => g,
                Poll::Pending => unreachable!(),
            };
            drop(g); // refunded
            assert_eq!(BUDGET.with(|b| b.get()), Some(INITIAL_BUDGET));
        });
    }
}
