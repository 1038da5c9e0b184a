//! Cooperative scheduling: a budget of operations per task poll.
//!
//! A task that never returns `Pending` on its own (say, a loop receiving from a channel that is
//! always full) would monopolize its worker. Every Spectrum primitive calls
//! [`poll_proceed`] before doing work; after 128 operations in one poll (tokio's figure) it returns
//! `Pending` once, having woken the task, so the task goes to the back of the queue and others
//! run. Outside a Spectrum task the budget is unlimited, so primitives also work under other
//! executors.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Operations per task poll before a forced yield (tokio's value).
pub(crate) const INITIAL_BUDGET: u8 = 128;

/// The budget a task poll starts with. Under loom the budget is off (`None`): loom runs its
/// threads on one OS thread, so a thread-local budget would leak between model threads and make
/// executions non-deterministic.
#[inline]
pub(crate) fn initial_budget() -> Option<u8> {
    if cfg!(loom) {
        None
    } else {
        Some(INITIAL_BUDGET)
    }
}

/// Charges one unit of budget, or returns `Pending` (having woken the task) when it is spent.
///
/// Keep the returned guard while doing the operation and call
/// [`RestoreOnPending::made_progress`] if it completed; otherwise the unit is refunded when the
/// guard drops (an operation that returns `Pending` costs nothing).
#[inline]
pub fn poll_proceed(cx: &mut Context<'_>) -> Poll<RestoreOnPending> {
    crate::context::with(|c| match c.budget.get() {
        None => Poll::Ready(RestoreOnPending(None)),
        Some(0) => {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        Some(n) => {
            c.budget.set(Some(n - 1));
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
            crate::context::with(|c| c.budget.set(Some(n)));
        }
    }
}

/// True if the current task still has budget (always true outside a Spectrum task).
pub fn has_budget_remaining() -> bool {
    crate::context::with(|c| c.budget.get() != Some(0))
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
        fn with_budget(f: impl FnOnce()) {
            let prev = crate::context::with(|c| c.budget.replace(Some(INITIAL_BUDGET)));
            f();
            crate::context::with(|c| c.budget.set(prev));
        }
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
            assert_eq!(
                crate::context::with(|c| c.budget.get()),
                Some(INITIAL_BUDGET)
            );
        });
    }
}
