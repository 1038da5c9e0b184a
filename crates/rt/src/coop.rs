//! Cooperative scheduling: a budget of operations per task poll, with a time slice behind it.
//!
//! A task that never returns `Pending` on its own (say, a loop receiving from a channel that is
//! always full) would monopolize its worker. Every Spectrum primitive calls [`poll_proceed`]
//! before doing work. After 128 operations in one poll (tokio's figure) the poll's time slice
//! starts: the budget is renewed until the poll has run for [`SLICE`] since then, and the first
//! spent budget after that returns `Pending` once, having woken the task, so the task goes to the
//! back of the queue and others run. Outside a Spectrum task the budget is unlimited, so
//! primitives also work under other executors.
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
//! 0.75–0.79×, MPMC 0.46–0.50× → 0.58–0.73×.
//!
//! Each renewal reads the clock (about 60 ns on the project's VM: renewing 128 at a time cost
//! 4 % of a channel-bound task's time), so renewals are sized by the pace just measured: as many
//! operations as fit in what is left of the slice at that pace, at most [`MAX_RENEW`] and at
//! least [`MIN_RENEW`] (the first renewal, with no pace yet, is the smallest). Cheap operations
//! then read the clock about once per thousand; slow ones get small grants, so a task of 10 µs
//! operations yields after its first 128 and 16 more (tokio: 128). A task whose operations turn
//! slow in the middle of a poll overshoots the slice by at most one grant.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Operations per task poll before its time slice starts (tokio's budget).
pub(crate) const INITIAL_BUDGET: u16 = 128;

/// How long a task poll may go on once its first budget is spent, before a forced yield.
pub const SLICE: Duration = Duration::from_micros(100);

/// The smallest renewal: the first one (no pace measured yet), and those of slow operations.
pub const MIN_RENEW: u16 = 16;

/// The largest renewal, which bounds the overshoot of a task whose operations turn slow.
pub const MAX_RENEW: u16 = 1024;

/// A task poll's time slice: when it started, and the last renewal (when, and how large), whose
/// pace sizes the next one.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slice {
    start: Instant,
    last: Instant,
    granted: u16,
}

/// The budget outside a task poll (and, under loom, inside one): so large it is never spent in
/// practice, and simply refilled if it ever is. One word, charged like a task's (load, test,
/// decrement, store), instead of an `Option` whose tag is tested and stored on every operation.
pub(crate) const UNLIMITED: u32 = u32::MAX;

/// The budget a task poll starts with. Under loom the budget is off ([`UNLIMITED`]): loom runs
/// its threads on one OS thread, so a thread-local budget would leak between model threads and
/// make executions non-deterministic.
#[inline]
pub(crate) fn initial_budget() -> u32 {
    if cfg!(loom) {
        UNLIMITED
    } else {
        u32::from(INITIAL_BUDGET)
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
    crate::context::with(|c| {
        let mut n = c.budget.get();
        if n == 0 {
            match refill(c) {
                Some(fresh) => n = fresh,
                None => {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            }
        }
        c.budget.set(n - 1);
        Poll::Ready(RestoreOnPending(n))
    })
}

/// The budget is spent: inside a task poll, `renew`; outside one (or under loom), the spent
/// [`UNLIMITED`] budget starts over.
#[cold]
#[inline(never)]
fn refill(c: &crate::context::Context) -> Option<u32> {
    if cfg!(loom) || c.current_task.get().is_none() {
        return Some(UNLIMITED);
    }
    renew(c).map(u32::from)
}

/// A task poll's budget is spent: a fresh one if the poll is still inside its time slice (which
/// starts here the first time), sized by the pace of the last one (module docs); `None` once the
/// slice is over.
fn renew(c: &crate::context::Context) -> Option<u16> {
    renew_at(c, Instant::now())
}

/// `renew` at time `now`.
fn renew_at(c: &crate::context::Context, now: Instant) -> Option<u16> {
    let Some(slice) = c.slice.get() else {
        c.slice.set(Some(Slice {
            start: now,
            last: now,
            granted: MIN_RENEW,
        }));
        return Some(MIN_RENEW);
    };
    let used = now.saturating_duration_since(slice.start);
    let left = SLICE.checked_sub(used).filter(|d| !d.is_zero())?;
    let took = now.saturating_duration_since(slice.last).as_nanos().max(1);
    let fit = u128::from(slice.granted) * left.as_nanos() / took;
    // At most MAX_RENEW, so the value fits a u16.
    let granted = (fit.min(u128::from(MAX_RENEW)) as u16).max(MIN_RENEW);
    c.slice.set(Some(Slice {
        start: slice.start,
        last: now,
        granted,
    }));
    Some(granted)
}

/// Refunds a unit of budget unless the operation made progress.
#[derive(Debug)]
#[must_use]
pub struct RestoreOnPending(u32);

impl RestoreOnPending {
    /// The operation completed: keep the unit spent.
    #[inline]
    pub fn made_progress(mut self) {
        self.0 = 0;
    }
}

impl Drop for RestoreOnPending {
    #[inline]
    fn drop(&mut self) {
        // The budget before the charge, never 0 (a spent budget is refilled before a charge);
        // 0 once the operation made progress.
        if self.0 != 0 {
            let n = self.0;
            crate::context::with(|c| c.budget.set(n));
        }
    }
}

/// True if the current task still has budget or time slice (always true outside a Spectrum
/// task).
pub fn has_budget_remaining() -> bool {
    crate::context::with(|c| {
        c.budget.get() != 0 || refill(c).inspect(|&n| c.budget.set(n)).is_some()
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

    /// Runs `f` as inside a task poll whose time slice is `slice`. The current task is a
    /// dangling pointer: coop only asks whether there is one, and nothing else runs here.
    fn in_poll(slice: Option<Slice>, f: impl FnOnce()) {
        let prev = crate::context::with(|c| {
            (
                c.budget.replace(u32::from(INITIAL_BUDGET)),
                c.slice.replace(slice),
                c.current_task.replace(Some(std::ptr::NonNull::dangling())),
            )
        });
        f();
        crate::context::with(|c| {
            c.budget.set(prev.0);
            c.slice.set(prev.1);
            c.current_task.set(prev.2);
        });
    }

    /// A slice that started `ago`, last renewed `last_ago` with `granted`.
    fn slice_of(ago: Duration, last_ago: Duration, granted: u16) -> Option<Slice> {
        let now = Instant::now();
        Some(Slice {
            start: now - ago,
            last: now - last_ago,
            granted,
        })
    }

    fn spend(cx: &mut Context<'_>, n: usize) {
        for i in 0..n {
            match poll_proceed(cx) {
                Poll::Ready(g) => g.made_progress(),
                Poll::Pending => panic!("budget ran out after {i} operations"),
            }
        }
    }

    fn budget() -> u16 {
        u16::try_from(crate::context::with(|c| c.budget.get())).unwrap()
    }

    #[test]
    fn budget_runs_out_once_the_slice_is_over_and_refunds_on_pending() {
        let mut cx = Context::from_waker(Waker::noop());
        in_poll(slice_of(SLICE, SLICE, MIN_RENEW), || {
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
            assert_eq!(budget(), INITIAL_BUDGET);
        });
    }

    #[test]
    fn outside_a_task_a_spent_budget_starts_over() {
        let mut cx = Context::from_waker(Waker::noop());
        let prev = crate::context::with(|c| c.budget.replace(1));
        spend(&mut cx, 3);
        assert_eq!(
            crate::context::with(|c| c.budget.get()),
            UNLIMITED - 2,
            "refilled once, then charged"
        );
        assert!(has_budget_remaining());
        crate::context::with(|c| c.budget.set(prev));
    }

    #[test]
    fn the_first_spent_budget_starts_the_slice_with_the_smallest_grant() {
        let mut cx = Context::from_waker(Waker::noop());
        in_poll(None, || {
            // No timing involved: the slice's clock starts at the first exhaustion.
            spend(&mut cx, INITIAL_BUDGET.into());
            assert!(crate::context::with(|c| c.slice.get()).is_none());
            spend(&mut cx, 1);
            assert!(crate::context::with(|c| c.slice.get()).is_some());
            assert_eq!(budget(), MIN_RENEW - 1);
        });
    }

    #[test]
    fn renewals_follow_the_pace_within_their_bounds() {
        let t0 = Instant::now();
        let us = |n: u64| Duration::from_micros(n);
        // The grant at `now = t0 + at`, for a slice that started at t0 and was last renewed
        // with `granted` at `t0 + last`.
        let renewal = |last: Duration, granted: u16, at: Duration| {
            let mut got = None;
            let slice = Slice {
                start: t0,
                last: t0 + last,
                granted,
            };
            in_poll(Some(slice), || {
                got = crate::context::with(|c| renew_at(c, t0 + at));
            });
            got
        };
        // Fast operations (16 in 1 µs, 90 µs left: 1440): at most MAX_RENEW.
        assert_eq!(renewal(us(9), 16, us(10)), Some(MAX_RENEW));
        // (16 in 2 µs, 10 µs left: 80.)
        assert_eq!(renewal(us(88), 16, us(90)), Some(80));
        // Slow operations (16 in 40 µs, 50 µs left: 20)...
        assert_eq!(renewal(us(10), 16, us(50)), Some(20));
        // ...and (16 in 50 µs, 10 µs left: 3): at least MIN_RENEW.
        assert_eq!(renewal(us(40), 16, us(90)), Some(MIN_RENEW));
        // In between: what fits in the rest (64 took 40 µs, 50 µs left: 80).
        assert_eq!(renewal(us(10), 64, us(50)), Some(80));
        // The slice is over.
        assert_eq!(renewal(us(90), 16, SLICE), None);
        assert_eq!(renewal(us(90), 16, us(150)), None);
    }
}
