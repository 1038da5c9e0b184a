//! A tiny seedable random number generator for jitter and chaos: SplitMix64.
//!
//! Jitter needs neither cryptographic strength nor a dependency; it needs speed and, in tests,
//! determinism. SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number
//! generators", OOPSLA 2014; the seeding generator of `java.util.SplittableRandom` and of
//! xoshiro) passes BigCrush, is one add and three xor-shift-multiplies per draw, and — because
//! each output is a pure function of a counter — can be shared between threads as a single atomic
//! counter ([`SharedRng`]) with no lock.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use spectrum_sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The golden-ratio increment of SplitMix64.
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seed from the standard library's per-process random keys (no extra dependency).
pub(crate) fn random_seed() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(GAMMA);
    h.finish()
}

/// A seedable SplitMix64 generator.
///
/// ```
/// use spectrum_resilience::Rng;
///
/// let mut a = Rng::seeded(7);
/// let mut b = Rng::seeded(7);
/// assert_eq!(a.next_u64(), b.next_u64());
/// let x = a.next_f64();
/// assert!((0.0..1.0).contains(&x));
/// ```
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator whose sequence is fixed by `seed`.
    pub fn seeded(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// A generator seeded from the process's random keys.
    pub fn from_entropy() -> Rng {
        Rng::seeded(random_seed())
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        mix(self.state)
    }

    /// A float uniformly distributed in `[0, 1)` (53 random bits).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A duration uniformly distributed in `[lo, hi]` (nanosecond resolution); `lo` if
    /// `hi <= lo`.
    pub fn duration_between(&mut self, lo: Duration, hi: Duration) -> Duration {
        if hi <= lo {
            return lo;
        }
        let span = (hi - lo).as_nanos().min(u128::from(u64::MAX)) as u64;
        let off = if span == u64::MAX {
            self.next_u64()
        } else {
            self.next_u64() % (span + 1)
        };
        lo + Duration::from_nanos(off)
    }
}

/// A SplitMix64 stream shared by threads: one atomic counter, each draw a pure function of it.
#[derive(Debug)]
pub(crate) struct SharedRng {
    counter: AtomicU64,
}

impl SharedRng {
    pub(crate) fn new(seed: u64) -> SharedRng {
        SharedRng {
            counter: AtomicU64::new(seed),
        }
    }

    /// An independent generator for one call (its seed is the next draw of the stream).
    pub(crate) fn fork(&self) -> Rng {
        Rng::seeded(self.next_u64())
    }

    pub(crate) fn next_u64(&self) -> u64 {
        // Relaxed: the counter only has to hand out distinct values; nothing is published
        // through it.
        mix(self.counter.fetch_add(GAMMA, Relaxed).wrapping_add(GAMMA))
    }

    /// True with probability `ppm / 1_000_000`.
    pub(crate) fn chance_ppm(&self, ppm: u32) -> bool {
        ppm > 0 && (ppm >= 1_000_000 || (self.next_u64() % 1_000_000) < u64::from(ppm))
    }
}
