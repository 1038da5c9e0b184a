//! The time sources every policy reads.
//!
//! Policies never call `std::time::Instant::now()` directly. There are three readings:
//!
//! 1. [`now`], the **policy clock**: the entered runtime's clock (virtual when paused), else the
//!    OS monotonic clock on a thread with no runtime. Timeouts, breakers and retries use it,
//!    because their instants meet the timer wheel's deadlines. Both sources are
//!    `std::time::Instant`, so a policy may be shared between the two worlds.
//! 2. [`Epoch`], the **limiter clock**: nanoseconds since a limiter was built. It reads the CPU's
//!    invariant time-stamp counter through `quanta` (what `governor` reads; calibrated once per
//!    process against the OS monotonic clock, falling back to that clock where there is no
//!    invariant counter), which costs a few nanoseconds where `clock_gettime` costs tens. A
//!    rate limiter's decisions only compare its own readings with each other, so the counter's
//!    small calibration error (parts per million) changes its rate by that much and nothing
//!    else. When the entered runtime's clock is **paused**, it reads the policy clock instead,
//!    so paused-time tests stay exact and deterministic. (A limiter used both under a paused
//!    runtime and off it sees two timelines, virtual and real, as it always did.)
//! 3. [`fast_now`]: the policy clock's time read from that counter (anchored to the OS clock per
//!    thread), for the one instant read on every timed call, a timeout's start.
//!
//! Sleeping (retry backoff, bulkhead waits, hedging delays, `until_ready`) always needs a runtime:
//! the timers live in its wheel.

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The largest time a policy works with, in nanoseconds (~73 years), so that sums stay in range.
const MAX_NANOS: u64 = u64::MAX / 4;

/// The current time: the entered runtime's clock (virtual when paused), else the OS clock.
#[inline]
pub(crate) fn now() -> Instant {
    // One thread-local read decides; no reference count is touched.
    spectrum_rt::time::try_now().unwrap_or_else(Instant::now)
}

/// [`now`], read from the counter clock unless the runtime's clock is paused: the start of a
/// timeout, read on every call.
///
/// Each thread keeps an anchor, a pair of readings (OS clock, counter) taken together, and
/// returns `anchor + counter time since the anchor`. It re-anchors once the anchor is more than
/// 1 ms old, so the counter's calibration error (parts per million) adds at most nanoseconds to
/// the skew of the anchor pair itself, which [`anchor_pair`] keeps under a microsecond: the
/// result stays within a microsecond or two of the OS clock (tested below; typically tens of
/// nanoseconds), for about half the cost of reading it.
#[inline]
pub(crate) fn fast_now() -> Instant {
    if spectrum_rt::time::is_paused() {
        return now();
    }
    ANCHOR.with(|anchor| {
        let counter = counter();
        let raw = counter.raw();
        if let Some((at, at_raw)) = anchor.get() {
            let since = counter.delta_as_nanos(at_raw, raw);
            if since < REANCHOR_NANOS {
                return at + Duration::from_nanos(since);
            }
        }
        // Stale or none: take a new anchor; its OS reading is the answer.
        let (at, at_raw) = anchor_pair(counter);
        anchor.set(Some((at, at_raw)));
        at
    })
}

/// An OS clock reading and the counter's value at the same moment: the OS read bracketed by two
/// counter reads, retried while the bracket is wide (the thread was preempted in between, which
/// would skew every [`fast_now`] until the next anchor), keeping the narrowest of a few.
fn anchor_pair(counter: &quanta::Clock) -> (Instant, u64) {
    let mut best: Option<(u64, Instant, u64)> = None;
    for _ in 0..4 {
        let before = counter.raw();
        let at = Instant::now();
        let after = counter.raw();
        let width = counter.delta_as_nanos(before, after);
        // The counter's value at the OS read: the middle of the bracket.
        let mid = if after >= before {
            before + (after - before) / 2
        } else {
            before
        };
        if best.is_none_or(|(w, ..)| width < w) {
            best = Some((width, at, mid));
        }
        if width <= ANCHOR_WIDTH_NANOS {
            break;
        }
    }
    let (_, at, raw) = best.expect("at least one try");
    (at, raw)
}

/// The widest bracket accepted at once by [`anchor_pair`] (a clean one is tens of nanoseconds).
const ANCHOR_WIDTH_NANOS: u64 = 1_000;

/// How long an anchor of [`fast_now`] serves.
const REANCHOR_NANOS: u64 = 1_000_000;

thread_local! {
    static ANCHOR: Cell<Option<(Instant, u64)>> = const { Cell::new(None) };
}

/// Nanoseconds since `origin` on the policy clock (saturating at zero, capped at ~73 years so
/// sums stay in range).
#[inline]
pub(crate) fn nanos_since(origin: Instant) -> u64 {
    nanos_between(origin, now())
}

#[inline]
fn nanos_between(origin: Instant, now: Instant) -> u64 {
    now.saturating_duration_since(origin)
        .as_nanos()
        .min(u128::from(MAX_NANOS)) as u64
}

/// The process's counter clock (calibrated on first use, as `quanta::Instant::now` would be).
#[inline]
fn counter() -> &'static quanta::Clock {
    static COUNTER: OnceLock<quanta::Clock> = OnceLock::new();
    COUNTER.get_or_init(quanta::Clock::new)
}

/// A limiter's origin on both of its time sources; see the [module docs](self).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Epoch {
    /// The policy clock at creation: the origin of reads under a paused runtime clock.
    at: Instant,
    /// The raw counter at creation: the origin of every other read.
    raw: u64,
    /// The counter clock, held here so that a check does not go through the `OnceLock`.
    counter: &'static quanta::Clock,
}

impl Epoch {
    /// An origin at the current time.
    pub(crate) fn now() -> Epoch {
        let counter = counter();
        Epoch {
            at: now(),
            raw: counter.raw(),
            counter,
        }
    }

    /// Nanoseconds since the origin: on the runtime's clock if it is paused, else on the counter.
    #[inline]
    pub(crate) fn elapsed_nanos(&self) -> u64 {
        if spectrum_rt::time::is_paused() {
            return nanos_since(self.at);
        }
        let counter = self.counter;
        // Zero if the counter reads earlier than the origin (another core's counter a few
        // cycles behind): a limiter treats that as "no time passed", which only errs strict.
        counter
            .delta_as_nanos(self.raw, counter.raw())
            .min(MAX_NANOS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_now_stays_within_microseconds_of_the_os_clock() {
        let tolerance = Duration::from_micros(2);
        let mut worst = Duration::ZERO;
        let begun = Instant::now();
        while begun.elapsed() < Duration::from_millis(30) {
            let before = Instant::now();
            let fast = fast_now();
            let after = Instant::now();
            let off = before
                .saturating_duration_since(fast)
                .max(fast.saturating_duration_since(after));
            worst = worst.max(off);
        }
        // A thread descheduled between two reads only widens [before, after].
        assert!(
            worst <= tolerance,
            "fast_now strayed {worst:?} from the OS clock"
        );
    }

    #[test]
    fn an_epoch_counts_real_time_off_a_runtime() {
        let epoch = Epoch::now();
        let begun = Instant::now();
        std::thread::sleep(Duration::from_millis(20));
        let counted = Duration::from_nanos(epoch.elapsed_nanos());
        let real = begun.elapsed();
        assert!(counted >= Duration::from_millis(20), "{counted:?}");
        assert!(
            counted <= real + Duration::from_micros(50),
            "{counted:?} > {real:?}"
        );
    }
}
