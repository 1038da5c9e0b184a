//! The clock of the blocked-time counters ([`ChannelStats`](crate::ChannelStats)): Linux's
//! `CLOCK_MONOTONIC_COARSE`, read twice per wait that parks.
//!
//! `Instant::now` costs about 30 ns on the project's VMs (measured: 59 ns for `now` plus
//! `elapsed`), which is a good part of a rendezvous hand-off between tasks; the coarse clock
//! costs about 5 ns, at the scheduler tick's resolution (4 ms here). One wait's figure is then
//! a multiple of the tick, but waits start at times unrelated to the tick, so a wait of `d`
//! crosses a tick boundary with probability `d / tick` and the sum over many waits is an
//! unbiased estimate of the time blocked; a single wait of more than a few ticks is measured
//! to within one tick. Elsewhere (other systems, 32-bit Linux, loom) this is `Instant`.
//!
//! (The C library's `clock_gettime` is declared here rather than through the `libc` crate, to
//! keep this crate's dependencies as they are.)

#[cfg(all(target_os = "linux", target_pointer_width = "64", not(loom)))]
mod sys {
    /// `struct timespec` on 64-bit Linux (`time_t` and `long` are both 64 bits there).
    #[repr(C)]
    pub(super) struct Timespec {
        pub(super) tv_sec: i64,
        pub(super) tv_nsec: i64,
    }

    /// `CLOCK_MONOTONIC_COARSE` (Linux 2.6.32+, the same value on every architecture).
    pub(super) const CLOCK_MONOTONIC_COARSE: i32 = 6;

    extern "C" {
        /// POSIX `clock_gettime`, from the C library every Rust program on Linux links.
        pub(super) fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
    }
}

/// Nanoseconds on a monotonic clock with an arbitrary origin.
#[cfg(all(target_os = "linux", target_pointer_width = "64", not(loom)))]
#[inline]
pub(crate) fn now_nanos() -> u64 {
    let mut ts = sys::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable `struct timespec` (its 64-bit Linux layout), and the
    // call writes only `ts`; the clock id exists on every Linux that runs Rust's std.
    let r = unsafe { sys::clock_gettime(sys::CLOCK_MONOTONIC_COARSE, &mut ts) };
    debug_assert_eq!(r, 0);
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// Nanoseconds on a monotonic clock with an arbitrary origin.
#[cfg(not(all(target_os = "linux", target_pointer_width = "64", not(loom))))]
pub(crate) fn now_nanos() -> u64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    let origin = *ORIGIN.get_or_init(Instant::now);
    u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
}
