//! The channel lock: test-and-set with a short spin, then sleeping on a condition variable
//! (the shape of `parking_lot`'s mutex and of Go's `runtime·lock`, in a few dozen lines).
//!
//! Every critical section of a channel is a few dozen instructions that never block, allocate
//! only for huge buffers, and never call out to user code (wakers are woken after unlocking,
//! values are dropped after unlocking). So a contended acquirer first spins briefly: the holder
//! is almost certainly about to release. Spinning *only*, as kanal's lock and crossbeam's
//! `Spinlock` do, stalls badly when the holder's thread is preempted (measured here: runtime
//! polls stuck for 10 ms spinning on 2 cores, which the runtime's watchdog reports), so after
//! the spin the acquirer sleeps. `std::sync::Mutex` sleeps too, but its hand-over costs a
//! `futex` wake on every contended unlock, which halved SPSC throughput here.
//!
//! # Protocol
//!
//! - `locked`: the lock word. `sleepers`: how many acquirers sleep (or are about to) on `cv`.
//! - Unlock: store `locked = false` (Release), then, if `sleepers > 0`, notify one under
//!   `park`'s mutex.
//! - A sleeping acquirer: under `park`'s mutex, increment `sleepers`, then re-check `locked`
//!   and wait only if it is still held, for [`SLEEP_RECHECK`] at most; decrement after waking,
//!   then retry the CAS.
//! - Unlock reads `sleepers` without a fence, so it can miss a sleeper that is just going to
//!   sleep (the two sides would need Dekker's pattern, a SeqCst store and load on each side, and
//!   a SeqCst store is a locked `xchg` on x86: about 20 cycles on *every* critical section,
//!   a tenth of a rendezvous hand-off between tasks). A missed sleeper is not lost: it wakes
//!   after [`SLEEP_RECHECK`] on its own and tries again. So a miss, which needs an unlock to
//!   land within the few nanoseconds between a sleeper's re-check and its store reaching the
//!   other core, costs that sleeper a fraction of a millisecond, never a hang. A notify that
//!   does happen cannot fall between the sleeper's re-check and its wait: both run under
//!   `park`'s mutex.
//!
//! [`Lock::try_lock`] is the same spin without the sleep, for callers that must never block a
//! runtime worker (async tasks and fibers): they yield and retry instead (`op`, `chan`).
//!
//! Under `cfg(loom)` this is the shim's `Mutex` (its `try_lock` fails at once when held), so
//! loom explores the channel's critical sections as atomic steps.

#[cfg(not(loom))]
mod imp {
    use core::cell::UnsafeCell;
    use core::ops::{Deref, DerefMut};
    use std::time::Duration;

    use spectrum_sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
    use spectrum_sync::{Backoff, Condvar, Mutex};

    /// How long a sleeping acquirer waits before it re-checks the lock on its own, in case an
    /// unlock missed it (module protocol).
    pub(crate) const SLEEP_RECHECK: Duration = Duration::from_micros(200);

    pub(crate) struct Lock<T> {
        locked: AtomicBool,
        sleepers: AtomicUsize,
        park: Mutex<()>,
        cv: Condvar,
        data: UnsafeCell<T>,
    }

    // SAFETY: the lock hands out access to `data` to one thread at a time (acquire/release on
    // `locked`), so sharing the lock shares `T` only by moving access between threads.
    unsafe impl<T: Send> Sync for Lock<T> {}
    // SAFETY: owning the lock owns the `T`.
    unsafe impl<T: Send> Send for Lock<T> {}

    impl<T> Lock<T> {
        pub(crate) const fn new(data: T) -> Lock<T> {
            Lock {
                locked: AtomicBool::new(false),
                sleepers: AtomicUsize::new(0),
                park: Mutex::new(()),
                cv: Condvar::new(),
                data: UnsafeCell::new(data),
            }
        }

        #[inline]
        fn try_acquire(&self) -> bool {
            // Acquire: pairs with the Release store in `unlock`, so the previous holder's
            // writes to `data` are visible.
            self.locked
                .compare_exchange_weak(false, true, Acquire, Relaxed)
                .is_ok()
        }

        #[inline]
        pub(crate) fn lock(&self) -> Guard<'_, T> {
            if !self.try_acquire() {
                self.lock_contended();
            }
            Guard { lock: self }
        }

        /// The lock if it is free, or becomes free within the short spin `lock` starts with;
        /// never sleeps (for callers that must not block a runtime worker).
        #[inline]
        pub(crate) fn try_lock(&self) -> Option<Guard<'_, T>> {
            (self.try_acquire() || self.spin_acquire()).then(|| Guard { lock: self })
        }

        /// Spin: 1 + 2 + ... + 64 pause hints (Backoff's spin steps), about a microsecond.
        #[cold]
        fn spin_acquire(&self) -> bool {
            let backoff = Backoff::new();
            for _ in 0..7 {
                // Relaxed: test before test-and-set; the CAS is the acquiring operation.
                if !self.locked.load(Relaxed) && self.try_acquire() {
                    return true;
                }
                backoff.spin();
            }
            false
        }

        #[cold]
        fn lock_contended(&self) {
            if self.spin_acquire() {
                return;
            }
            // Sleep until an unlock that sees us.
            loop {
                if self.try_acquire() {
                    return;
                }
                let mut g = self.park.lock();
                // Relaxed: `unlock`'s hint (module protocol); the read-modify-write's own
                // ordering and `park`'s mutex are all a notify needs.
                self.sleepers.fetch_add(1, Relaxed);
                // Relaxed: a re-check before sleeping; the CAS after waking is what acquires.
                while self.locked.load(Relaxed) {
                    g = self.cv.wait_timeout(g, SLEEP_RECHECK);
                }
                // Relaxed: as for the increment.
                self.sleepers.fetch_sub(1, Relaxed);
                drop(g);
            }
        }

        #[inline]
        fn unlock(&self) {
            // Release: publishes `data` (pairs with `try_acquire`'s Acquire).
            self.locked.store(false, Release);
            // Relaxed: a hint; a sleeper missed here re-checks on its own (module protocol).
            if self.sleepers.load(Relaxed) > 0 {
                self.wake_one();
            }
        }

        /// Test only: releases `g` as `unlock` would, but never notifies a sleeper, as an unlock
        /// that misses one does (module protocol).
        #[cfg(test)]
        pub(crate) fn release_missing_sleepers(g: Guard<'_, T>) {
            let lock = g.lock;
            core::mem::forget(g);
            // Release: as in `unlock`.
            lock.locked.store(false, Release);
        }

        /// Test only: acquirers asleep (or about to be).
        #[cfg(test)]
        pub(crate) fn sleepers(&self) -> usize {
            // Relaxed: a test's poll.
            self.sleepers.load(Relaxed)
        }

        #[cold]
        fn wake_one(&self) {
            let _g = self.park.lock();
            self.cv.notify_one();
        }
    }

    pub(crate) struct Guard<'a, T> {
        lock: &'a Lock<T>,
    }

    impl<T> Deref for Guard<'_, T> {
        type Target = T;
        #[inline]
        fn deref(&self) -> &T {
            // SAFETY: the guard proves we hold the lock.
            unsafe { &*self.lock.data.get() }
        }
    }

    impl<T> DerefMut for Guard<'_, T> {
        #[inline]
        fn deref_mut(&mut self) -> &mut T {
            // SAFETY: the guard proves we hold the lock, and `&mut self` that it is not aliased.
            unsafe { &mut *self.lock.data.get() }
        }
    }

    impl<T> Drop for Guard<'_, T> {
        #[inline]
        fn drop(&mut self) {
            self.lock.unlock();
        }
    }
}

#[cfg(loom)]
mod imp {
    pub(crate) type Lock<T> = spectrum_sync::Mutex<T>;
    pub(crate) type Guard<'a, T> = spectrum_sync::MutexGuard<'a, T>;
}

pub(crate) use imp::{Guard, Lock};

/// [`Lock::try_lock`] (a short spin, never a sleep); under loom, the mutex's `try_lock`.
#[inline]
pub(crate) fn try_lock<T>(lock: &Lock<T>) -> Option<Guard<'_, T>> {
    lock.try_lock()
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::Lock;
    use std::sync::Arc;

    /// Mutual exclusion under contention, through the spin and the sleep paths (more threads
    /// than cores, so holders get preempted and acquirers sleep).
    #[test]
    fn increments_are_never_lost() {
        let lock = Arc::new(Lock::new(0u64));
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let lock = lock.clone();
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        *lock.lock() += 1;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*lock.lock(), 120_000);
    }

    /// A sleeper that an unlock misses still takes the lock: it re-checks on its own after
    /// `SLEEP_RECHECK` (module protocol). The miss is simulated by a release that never looks
    /// for sleepers.
    #[test]
    fn a_sleeper_an_unlock_missed_still_takes_the_lock() {
        let lock = Arc::new(Lock::new(()));
        let held = lock.lock();
        let (done, finished) = std::sync::mpsc::channel();
        let sleeper = {
            let lock = lock.clone();
            std::thread::spawn(move || {
                drop(lock.lock());
                done.send(()).unwrap();
            })
        };
        while lock.sleepers() == 0 {
            std::thread::yield_now();
        }
        Lock::release_missing_sleepers(held);
        finished
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the sleeper never re-checked the lock");
        sleeper.join().unwrap();
    }
}
