//! Exponential backoff for spin loops.

use core::cell::Cell;
use core::fmt;

/// Exponential backoff for spin loops, in the style of crossbeam-utils' `Backoff`.
///
/// `spin` doubles the number of `spin_loop` hints up to 2^6 = 64 per step (about the cost of a
/// contended cache-line transfer on current x86 parts); `snooze` spins the same way and then yields
/// the thread, and [`Backoff::is_completed`] says when spinning has stopped paying and the caller
/// should park instead (after 2^10 steps' worth of yielding, as in crossbeam).
pub struct Backoff {
    step: Cell<u32>,
}

const SPIN_LIMIT: u32 = 6;
const YIELD_LIMIT: u32 = 10;

impl Backoff {
    /// A fresh backoff.
    #[inline]
    pub const fn new() -> Self {
        Self { step: Cell::new(0) }
    }

    /// Starts over.
    #[inline]
    pub fn reset(&self) {
        self.step.set(0);
    }

    /// Backs off in a lock-free loop that is expected to make progress soon (a CAS retry).
    #[inline]
    pub fn spin(&self) {
        for _ in 0..1u32 << self.step.get().min(SPIN_LIMIT) {
            crate::hint::spin_loop();
        }
        if self.step.get() <= SPIN_LIMIT {
            self.step.set(self.step.get() + 1);
        }
    }

    /// Backs off while waiting for another thread to make progress.
    #[inline]
    pub fn snooze(&self) {
        if self.step.get() <= SPIN_LIMIT {
            for _ in 0..1u32 << self.step.get() {
                crate::hint::spin_loop();
            }
        } else {
            crate::thread::yield_now();
        }
        if self.step.get() <= YIELD_LIMIT {
            self.step.set(self.step.get() + 1);
        }
    }

    /// True once backing off has stopped paying: the caller should block instead.
    #[inline]
    pub fn is_completed(&self) -> bool {
        self.step.get() > YIELD_LIMIT
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Backoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backoff")
            .field("step", &self.step.get())
            .field("is_completed", &self.is_completed())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn completes_after_the_yield_limit() {
        let b = Backoff::new();
        let mut steps = 0;
        while !b.is_completed() {
            b.snooze();
            steps += 1;
        }
        assert_eq!(steps, YIELD_LIMIT + 1);
        b.reset();
        assert!(!b.is_completed());
    }
}
