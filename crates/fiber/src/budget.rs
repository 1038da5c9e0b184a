//! The mapping budget: how many guarded stacks this process may map at once.
//!
//! Linux caps the number of memory mappings (VMAs) per process at `vm.max_map_count` (65530 by
//! default). A guarded stack is two mappings (the `PROT_NONE` guard page and the writable stack
//! above it; neighbouring stacks never merge because their protections alternate), so about 32k
//! fiber stacks fit at once. Past that, `mmap` and `mprotect` fail with `ENOMEM`, and so would
//! every other mapping the process makes (a malloc arena, a thread stack), which could then abort
//! far from the cause. The budget stops short of the kernel's limit so that the *fiber* spawn is
//! what fails, with an error that names the limit:
//!
//! ```text
//! limit = (vm.max_map_count - reserve) / 2,   reserve = max(2048, vm.max_map_count / 32)
//! ```
//!
//! which is 31 741 stacks with the default 65530. [`set_limit`](Budget::set_limit) overrides it.
//!
//! # Protocol
//!
//! One counter, `used`: mapped stacks, pooled ones included (a pooled stack still holds its two
//! mappings). `try_acquire` increments it only below the limit (one read-modify-write, so
//! concurrent acquirers can never overshoot together); `release` decrements it when a stack is
//! unmapped. The counter guards no data: a stack's memory is published by the `mmap` syscall and
//! moved between threads by the pool's mutex or by ownership, never through this counter, so
//! every ordering here is `Relaxed`. The loom test below checks that the bound holds under every
//! interleaving.

use spectrum_sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Mappings left to the rest of the process: at least this many, or 1/32 of the kernel's limit.
const MIN_RESERVE: usize = 2048;

/// A counting budget of stacks.
#[derive(Debug)]
pub(crate) struct Budget {
    used: AtomicUsize,
    /// `0` until first use, then the limit (computed from the kernel's, or set by hand).
    limit: AtomicUsize,
}

impl Budget {
    /// An empty budget (`const` so the process-wide one can be a `static`).
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Budget {
        Budget {
            used: AtomicUsize::new(0),
            limit: AtomicUsize::new(0),
        }
    }

    /// An empty budget (loom's atomics are not `const`).
    #[cfg(loom)]
    pub(crate) fn new() -> Budget {
        Budget {
            used: AtomicUsize::new(0),
            limit: AtomicUsize::new(0),
        }
    }

    /// The limit, computed from `vm.max_map_count` on first use.
    pub(crate) fn limit(&self) -> usize {
        // Relaxed: the limit is a plain setting, not a publication of data.
        match self.limit.load(Relaxed) {
            0 => {
                let computed = limit_for(max_map_count());
                // Relaxed: as above; a racing `set_limit` wins (compare-exchange from 0).
                match self.limit.compare_exchange(0, computed, Relaxed, Relaxed) {
                    Ok(_) => computed,
                    Err(set) => set,
                }
            }
            n => n,
        }
    }

    /// Overrides the limit (at least 1).
    pub(crate) fn set_limit(&self, limit: usize) {
        // Relaxed: see `limit`.
        self.limit.store(limit.max(1), Relaxed);
    }

    /// Takes one stack's worth of budget; `false` at the limit.
    #[must_use]
    pub(crate) fn try_acquire(&self) -> bool {
        let limit = self.limit();
        // Relaxed: the read-modify-write alone bounds the count (see the module docs).
        self.used
            .fetch_update(Relaxed, Relaxed, |n| (n < limit).then_some(n + 1))
            .is_ok()
    }

    /// Gives one stack's worth back.
    pub(crate) fn release(&self) {
        // Relaxed: see `try_acquire`.
        let prev = self.used.fetch_sub(1, Relaxed);
        debug_assert!(prev > 0, "fiber stack budget released more than acquired");
    }

    /// Stacks mapped now.
    pub(crate) fn used(&self) -> usize {
        // Relaxed: a statistic.
        self.used.load(Relaxed)
    }
}

/// The budget for a kernel limit of `max_map_count` mappings.
pub(crate) fn limit_for(max_map_count: usize) -> usize {
    let reserve = MIN_RESERVE.max(max_map_count / 32);
    (max_map_count.saturating_sub(reserve) / 2).max(1)
}

/// `vm.max_map_count`, or the Linux default where it cannot be read.
pub(crate) fn max_map_count() -> usize {
    #[cfg(all(target_os = "linux", not(loom)))]
    {
        if let Ok(s) = std::fs::read_to_string("/proc/sys/vm/max_map_count") {
            if let Ok(n) = s.trim().parse::<usize>() {
                return n;
            }
        }
    }
    DEFAULT_MAX_MAP_COUNT
}

/// Linux's default `vm.max_map_count`.
pub(crate) const DEFAULT_MAX_MAP_COUNT: usize = 65530;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_limit_leaves_room_for_the_process() {
        assert_eq!(limit_for(65530), 31741);
        assert_eq!(limit_for(262_144), 126_976);
        assert_eq!(limit_for(10), 1);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::Budget;
    use spectrum_sync::{thread, Arc};

    /// Three threads race for a budget of two: never more than two held at once, and every
    /// release makes room again.
    #[test]
    fn loom_budget_never_overshoots() {
        spectrum_sync::model(|| {
            let budget = Arc::new(Budget::new());
            budget.set_limit(2);
            let handles: Vec<_> = (0..3)
                .map(|_| {
                    let b = budget.clone();
                    thread::spawn(move || {
                        if b.try_acquire() {
                            assert!(b.used() <= 2);
                            b.release();
                            true
                        } else {
                            false
                        }
                    })
                })
                .collect();
            let won = handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .filter(|w| *w)
                .count();
            assert!(
                won >= 2,
                "at most one acquirer may lose, and only to two holders"
            );
            assert_eq!(budget.used(), 0);
            assert!(budget.try_acquire() && budget.try_acquire() && !budget.try_acquire());
        });
    }
}
