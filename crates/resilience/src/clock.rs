//! The time source every policy reads.
//!
//! Policies never call `std::time::Instant::now()` directly: they read the entered Spectrum
//! runtime's clock, so a paused test clock (`start_paused = true`, `time::advance`) drives every
//! state machine in this crate deterministically. On a thread with no runtime entered (a plain
//! OS thread that only calls `check`), the OS monotonic clock is used; both are
//! `std::time::Instant`, so a policy may be shared between the two worlds.
//!
//! Sleeping (retry backoff, bulkhead waits, hedging delays, `until_ready`) always needs a runtime:
//! the timers live in its wheel.

use std::time::Instant;

/// The current time: the entered runtime's clock (virtual when paused), else the OS clock.
#[inline]
pub(crate) fn now() -> Instant {
    // Inside a task (the common case) a runtime is surely entered: one thread-local read.
    // Elsewhere, `Handle::try_current` is the only non-panicking way to ask, at the price of a
    // reference-count round trip; see the README's requests to spectrum-rt for `time::try_now`.
    if spectrum_rt::task_id().is_some() || spectrum_rt::Handle::try_current().is_ok() {
        spectrum_rt::time::now()
    } else {
        Instant::now()
    }
}

/// Nanoseconds since `origin` on the policy clock (saturating at zero, capped at ~73 years so
/// sums stay in range).
#[inline]
pub(crate) fn nanos_since(origin: Instant) -> u64 {
    now()
        .saturating_duration_since(origin)
        .as_nanos()
        .min(u128::from(u64::MAX / 4)) as u64
}
