//! Sliding windows of call outcomes with O(1) snapshots (resilience4j's design).
//!
//! Both windows keep running totals (calls, failures, slow calls) next to their storage, so a
//! snapshot is three loads, never a scan:
//!
//! - **Count-based**: the last `N` outcomes in a ring buffer (one byte each). Recording
//!   overwrites the oldest slot and subtracts it from the totals first (resilience4j's
//!   `FixedSizeSlidingWindowMetrics`).
//! - **Time-based**: `N` buckets of width `W` covering the last `N·W` of time; each bucket holds
//!   the totals of its slice and the epoch (`time / W`) it belongs to. Moving to a later epoch
//!   evicts every bucket that fell out of the window, subtracting it from the totals: at most
//!   `N` buckets however long the gap, so O(1) amortized and bounded (resilience4j's
//!   `SlidingTimeWindowMetrics`, with a configurable bucket width instead of fixed seconds). An
//!   outcome recorded in epoch `e` counts until the epoch reaches `e + N`.

/// Calls, failures and slow calls in the window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    pub(crate) calls: u32,
    pub(crate) failures: u32,
    pub(crate) slow: u32,
}

impl Totals {
    fn add(&mut self, failure: bool, slow: bool) {
        self.calls += 1;
        self.failures += u32::from(failure);
        self.slow += u32::from(slow);
    }

    fn sub(&mut self, other: Totals) {
        self.calls -= other.calls;
        self.failures -= other.failures;
        self.slow -= other.slow;
    }
}

const FAILURE: u8 = 1;
const SLOW: u8 = 2;
const USED: u8 = 4;

pub(crate) enum Window {
    Count {
        slots: Box<[u8]>,
        head: usize,
        totals: Totals,
    },
    Time {
        buckets: Box<[(u64, Totals)]>,
        width_ns: u64,
        newest: u64,
        totals: Totals,
    },
}

impl Window {
    pub(crate) fn count(size: u32) -> Window {
        Window::Count {
            slots: vec![0; size as usize].into_boxed_slice(),
            head: 0,
            totals: Totals::default(),
        }
    }

    pub(crate) fn time(buckets: u32, width_ns: u64) -> Window {
        Window::Time {
            buckets: vec![(0, Totals::default()); buckets as usize].into_boxed_slice(),
            width_ns,
            newest: 0,
            totals: Totals::default(),
        }
    }

    /// True if recording or reading needs the time.
    pub(crate) fn is_timed(&self) -> bool {
        matches!(self, Window::Time { .. })
    }

    pub(crate) fn record(&mut self, now_ns: u64, failure: bool, slow: bool) {
        match self {
            Window::Count {
                slots,
                head,
                totals,
            } => {
                let old = slots[*head];
                if old & USED != 0 {
                    totals.sub(Totals {
                        calls: 1,
                        failures: u32::from(old & FAILURE != 0),
                        slow: u32::from(old & SLOW != 0),
                    });
                }
                slots[*head] =
                    USED | if failure { FAILURE } else { 0 } | if slow { SLOW } else { 0 };
                totals.add(failure, slow);
                *head = (*head + 1) % slots.len();
            }
            Window::Time { .. } => {
                let epoch = self.advance(now_ns);
                if let Window::Time {
                    buckets, totals, ..
                } = self
                {
                    let n = buckets.len() as u64;
                    buckets[(epoch % n) as usize].1.add(failure, slow);
                    totals.add(failure, slow);
                }
            }
        }
    }

    /// Evicts what fell out of a time window; returns the current epoch.
    fn advance(&mut self, now_ns: u64) -> u64 {
        let Window::Time {
            buckets,
            width_ns,
            newest,
            totals,
        } = self
        else {
            return 0;
        };
        let epoch = now_ns / *width_ns;
        if epoch > *newest {
            let n = buckets.len() as u64;
            // Only the last `n` epochs can hold data; older ones were already cleared.
            let from = (*newest + 1).max(epoch.saturating_sub(n - 1));
            for e in from..=epoch {
                let b = &mut buckets[(e % n) as usize];
                totals.sub(b.1);
                *b = (e, Totals::default());
            }
            *newest = epoch;
        }
        epoch
    }

    pub(crate) fn totals(&mut self, now_ns: u64) -> Totals {
        self.advance(now_ns);
        match self {
            Window::Count { totals, .. } | Window::Time { totals, .. } => *totals,
        }
    }

    pub(crate) fn reset(&mut self) {
        match self {
            Window::Count {
                slots,
                head,
                totals,
            } => {
                slots.fill(0);
                *head = 0;
                *totals = Totals::default();
            }
            Window::Time {
                buckets, totals, ..
            } => {
                buckets.fill((0, Totals::default()));
                *totals = Totals::default();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_window_keeps_the_last_n() {
        let mut w = Window::count(3);
        w.record(0, true, false);
        w.record(0, true, true);
        w.record(0, false, false);
        assert_eq!(
            w.totals(0),
            Totals {
                calls: 3,
                failures: 2,
                slow: 1
            }
        );
        w.record(0, false, false); // evicts the first failure
        assert_eq!(
            w.totals(0),
            Totals {
                calls: 3,
                failures: 1,
                slow: 1
            }
        );
    }

    #[test]
    fn time_window_evicts_whole_buckets_after_n_widths() {
        let mut w = Window::time(4, 10);
        w.record(5, true, false); // epoch 0
        w.record(15, false, false); // epoch 1
        assert_eq!(w.totals(39).calls, 2);
        assert_eq!(w.totals(40).calls, 1, "epoch 0 leaves at epoch 4");
        assert_eq!(w.totals(40).failures, 0);
        assert_eq!(w.totals(1_000_000).calls, 0, "a long gap clears everything");
        w.record(1_000_005, true, true);
        assert_eq!(w.totals(1_000_005).calls, 1);
    }
}
