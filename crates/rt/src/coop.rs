//! Cooperative scheduling: a budget of operations per task poll, with a time slice behind it.
//!
//! A task that never returns `Pending` on its own (say, a loop receiving from a channel that is
//! always full) would monopolize its worker. Every Spectrum primitive calls [`poll_proceed`]
//! before doing work. After 128 operations in one poll (tokio's figure) it looks at the clock:
//! once the poll has run for [`SLICE`] since the budget first ran out, it returns `Pending` once,
//! having woken the task, so the task goes to the back of the queue and others run; until then
//! it grants another 128. Outside a Spectrum task the budget is unlimited, so primitives also
//! work under other executors.
//!
//! Why a time slice and not tokio's bare count: the count stands in for time, and for cheap
//! operations it stands in badly. 128 socket reads take a few hundred microseconds; 128 channel
//! operations take under one. Yielding every microsecond costs more than the yield: the
//! yielded task lands in the stealable part of the run queue, an idle worker takes it, and a
//! producer / consumer pair that shared a worker (and its cache) now runs on two, trading
//! values through cache misses. Measured with `cargo bench -p spectrum-chan --bench throughput
//! tasks`, the bare count and the slice alternating: on the 2-core VM (3 runs) tasks MPMC 4×4
//! 0.58–0.75× kanal before, 1.04–1.07× after (one run 0.48), and a tasks SPSC pair on one worker
//! instead of two (half the CPU time); on a 16-core host (5 runs) tasks SPSC 0.36–0.44× →
//! 0.75–0.79×, MPMC 0.46–0.50× → 0.58–0.73×. A task that
//! spins on ready operations still yields: after its first 128 operations, `SLICE`, and at most
//! 128 more, which bounds the wait of the others on its worker. (For slow operations that is up
//! to twice tokio's bound: 256 operations. The slice starts at the first exhaustion because
//! reading the clock at every poll's start would cost more than the polls of small tasks.) The
//! clock is read once per 128 operations.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Operations per task poll between two looks at the clock (tokio's budget).
pub(crate) const INITIAL_BUDGET: u8 = 128;

/// How long a task poll may go on once its first budget is spent, before a forced yield.
pub const SLICE: Duration = Duration::from_micros(100);

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

/// Charges one unit of budget, or returns `Pending` (having woken the task) when it is spent and
/// the poll's time slice is over.
///
/// Keep the returned guard while doing the operation and call
/// [`RestoreOnPending::made_progress`] if it completed; otherwise the unit is refunded when the
/// guard drops (an operation that returns `Pending` costs nothing).
#[inline]
pub fn poll_proceed(cx: &mut Context<'_>) -> Poll<RestoreOnPending> {
    crate::context::with(|c| match c.budget.get() {
        None => Poll::Ready(RestoreOnPending(None)),
        Some(0) if !renew(c) => {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        Some(n) => {
            let n = if n == 0 { INITIAL_BUDGET } else { n };
            c.budget.set(Some(n - 1));
            Poll::Ready(RestoreOnPending(Some(n)))
        }
    })
}

/// The budget is spent: true if the poll is still inside its time slice (which starts the first
/// time the budget runs out), so the caller grants a fresh budget.
#[cold]
#[inline(never)]
fn renew(c: &crate::context::Context) -> bool {
    let now = Instant::now();
    match c.slice_start.get() {
        None => {
            c.slice_start.set(Some(now));
            true
        }
        Some(start) => now.duration_since(start) < SLICE,
    }
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

/// True if the current task still has budget or time slice (always true outside a Spectrum
/// task).
pub fn has_budget_remaining() -> bool {
    crate::context::with(|c| {
        if c.budget.get() != Some(0) {
            return true;
        }
        if renew(c) {
            c.budget.set(Some(INITIAL_BUDGET));
            return true;
        }
        false
    })
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

    /// Runs `f` as inside a task poll that started its time slice `ago`.
    fn in_poll(ago: Option<Duration>, f: impl FnOnce()) {
        let start = ago.map(|d| Instant::now() - d);
        let prev = crate::context::with(|c| {
            (
                c.budget.replace(Some(INITIAL_BUDGET)),
                c.slice_start.replace(start),
            )
        });
        f();
        crate::context::with(|c| {
            c.budget.set(prev.0);
            c.slice_start.set(prev.1);
        });
    }

    fn spend(cx: &mut Context<'_>, n: usize) {
        for i in 0..n {
            match poll_proceed(cx) {
                Poll::Ready(g) => g.made_progress(),
                Poll::Pending => panic!("budget ran out after {i} operations"),
            }
        }
    }

    #[test]
    fn budget_runs_out_once_the_slice_is_over_and_refunds_on_pending() {
        let mut cx = Context::from_waker(Waker::noop());
        in_poll(Some(SLICE), || {
            spend(&mut cx, INITIAL_BUDGET.into());
            assert!(poll_proceed(&mut cx).is_pending());
            assert!(!has_budget_remaining());
        });
        // Outside a task: unlimited.
        assert!(has_budget_remaining());
        in_poll(None, || {
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

    #[test]
    fn a_spent_budget_is_renewed_within_the_slice() {
        let mut cx = Context::from_waker(Waker::noop());
        in_poll(None, || {
            // The first time the budget runs out starts the slice and grants more (no timing
            // involved: the slice's clock starts there).
            spend(&mut cx, 2 * usize::from(INITIAL_BUDGET));
            assert!(crate::context::with(|c| c.slice_start.get()).is_some());
            // Once the slice is over, the next spent budget yields.
            crate::context::with(|c| c.slice_start.set(Some(Instant::now() - SLICE)));
            let left = crate::context::with(|c| c.budget.get()).unwrap();
            spend(&mut cx, left.into());
            assert!(poll_proceed(&mut cx).is_pending());
        });
    }
}
