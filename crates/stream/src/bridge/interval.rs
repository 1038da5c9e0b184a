//! `Flux::interval`: 0, 1, 2, … one per period, on the runtime's (pausable) clock.
//!
//! Reactor's `Flux.interval` fails with "could not emit tick due to lack of requests" when a
//! tick finds no demand. Here the tick waits for demand instead and the schedule shifts
//! (`MissedTickBehavior::Delay`): an interval is a source like any other and obeys
//! backpressure. The first tick is due one period after the subscription.

use std::task::{Context, Poll};
use std::time::Duration;

use spectrum_rt::time::{self, MissedTickBehavior};

use super::task::{spawn_source, AsyncSource};
use crate::spec::{Publisher, Subscriber};
use crate::{Flux, StreamError};

/// The publisher of [`Flux::interval`].
#[derive(Clone, Debug)]
pub struct Interval {
    period: Duration,
}

struct IntervalSource {
    period: Duration,
    /// The first tick, fixed at subscription (so virtual-time tests do not depend on when the
    /// task first runs).
    first: Option<time::Instant>,
    ticker: Option<time::Interval>,
    next: u64,
}

impl AsyncSource for IntervalSource {
    type Item = u64;
    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<u64, StreamError>>> {
        let period = self.period;
        let first = self.first;
        let ticker = self.ticker.get_or_insert_with(|| {
            let start = first.unwrap_or_else(|| time::now() + period);
            let mut t = time::interval_at(start, period);
            t.set_missed_tick_behavior(MissedTickBehavior::Delay);
            t
        });
        match ticker.poll_tick(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(_) => {
                let n = self.next;
                self.next += 1;
                Poll::Ready(Some(Ok(n)))
            }
        }
    }
}

impl Publisher for Interval {
    type Item = u64;
    fn subscribe<S: Subscriber<u64>>(&self, s: S) {
        spawn_source(
            IntervalSource {
                period: self.period,
                first: time::try_now().map(|now| now + self.period),
                ticker: None,
                next: 0,
            },
            s,
        )
    }
}

impl Flux<Interval> {
    /// Emits 0, 1, 2, … one per `period` (an infinite source: add `take`).
    ///
    /// # Panics
    ///
    /// If `period` is zero.
    pub fn interval(period: Duration) -> Self {
        assert!(!period.is_zero(), "interval: the period must be non-zero");
        Flux::from_publisher(Interval { period })
    }
}
