//! One file per model, each implementing [`Model`](super::model::Model) for the same workloads,
//! plus the few pieces every model's version shares (the items, the consumer's pace, a start
//! counter), so the versions differ only where the models differ.

pub mod actors;
pub mod callbacks;
pub mod channels;
pub mod fibers;
pub mod promises;
pub mod streams;
pub mod tasks;
pub mod threads;

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::measure::wait_until;

/// Per-connection read buffer of every echo server (a heap `Vec`, the same for every model).
pub const ECHO_BUF: usize = 4096;

/// How long a child waits for its units to start before it gives up.
pub const START_LIMIT: Duration = Duration::from_secs(60);

/// A pipeline item: `bytes` bytes, all written, so they are resident.
pub fn item(k: usize, bytes: usize) -> Vec<u8> {
    vec![(k % 251) as u8 + 1; bytes]
}

/// What the consumer does with an item: reads it (so it cannot be optimised away).
pub fn consume(item: &[u8]) -> u64 {
    item.iter().step_by(256).map(|&b| b as u64).sum()
}

/// The consumer's pace: item `k` is taken no earlier than `start + k / rate`. The consumer
/// sleeps only when it is at least 1 ms ahead (the timer wheel's resolution), so it takes items
/// in bursts of about `rate` per millisecond.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    start: Instant,
    per_item: Duration,
}

impl Pace {
    pub fn new(rate_per_ms: usize) -> Pace {
        Pace {
            start: Instant::now(),
            per_item: Duration::from_nanos(1_000_000 / rate_per_ms.max(1) as u64),
        }
    }

    /// How long to sleep before taking item `k`, if at least 1 ms.
    pub fn ahead(&self, k: usize) -> Option<Duration> {
        let due = self.start + self.per_item * k as u32;
        let left = due.saturating_duration_since(Instant::now());
        (left >= Duration::from_millis(1)).then_some(left)
    }
}

/// Counts units that have started (been polled or run once).
#[derive(Clone, Debug, Default)]
pub struct Started(Arc<AtomicUsize>);

impl Started {
    pub fn hit(&self) {
        // Relaxed: only counted; the waiter polls it.
        self.0.fetch_add(1, Relaxed);
    }

    /// Blocks the calling thread until `n` units have started.
    ///
    /// # Errors
    ///
    /// If they have not within [`START_LIMIT`].
    pub fn wait(&self, n: usize) -> Result<(), String> {
        if wait_until(START_LIMIT, || self.0.load(Relaxed) >= n) {
            Ok(())
        } else {
            Err(format!(
                "only {} of {n} units started within {START_LIMIT:?}",
                self.0.load(Relaxed)
            ))
        }
    }

    pub fn count(&self) -> usize {
        self.0.load(Relaxed)
    }
}

/// Checks the sum of joined units `0..n`.
pub fn check_sum(sum: u64, n: usize) -> Result<(), String> {
    let want = (n as u64) * (n as u64).saturating_sub(1) / 2;
    if sum == want {
        Ok(())
    } else {
        Err(format!("joined units summed to {sum}, expected {want}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pace_is_ahead_only_by_a_millisecond_or_more() {
        let p = Pace::new(100);
        assert!(p.ahead(0).is_none());
        assert!(p.ahead(50).is_none()); // 0.5 ms ahead: take it now
        let d = p.ahead(1_000).expect("10 ms ahead");
        assert!(d > Duration::from_millis(8) && d <= Duration::from_millis(10));
    }

    #[test]
    fn items_are_written_and_consumed() {
        let it = item(3, 1024);
        assert_eq!(it.len(), 1024);
        assert_eq!(consume(&it), 4 * 4);
        assert!(check_sum(45, 10).is_ok() && check_sum(44, 10).is_err());
    }
}
