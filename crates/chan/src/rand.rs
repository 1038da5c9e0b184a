//! A per-thread xorshift64* generator for `select`'s case order.
//!
//! Select fairness needs uniform choices, not unpredictable ones, so a few instructions per
//! draw beat a cryptographic source (Go's `cheaprand` is a wyrand for the same reason).

use std::cell::Cell;

thread_local! {
    static STATE: Cell<u64> = const { Cell::new(0) };
}

fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    // `RandomState` is seeded from the OS once per process and varied per instance.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_usize(&h as *const _ as usize);
    h.finish() | 1
}

/// The next 64 random bits (Marsaglia's xorshift64*, 2^64 - 1 period).
pub(crate) fn next() -> u64 {
    STATE.with(|s| {
        let mut x = s.get();
        if x == 0 {
            x = seed();
        }
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

/// Shuffles `a` into a uniformly random permutation (Fisher-Yates), drawing 16 bits per swap
/// (four swaps per 64-bit draw; the multiply-shift bias is below `a.len() / 2^16`).
pub(crate) fn shuffle<T>(a: &mut [T]) {
    let mut draw = Draw16::default();
    for i in (1..a.len()).rev() {
        a.swap(i, draw.below(i + 1));
    }
}

/// Uniform draws in `0..n` (small `n`) from 16-bit chunks of 64-bit random words; under loom
/// always 0 (loom replays executions and needs them deterministic; it explores interleavings,
/// not case orders).
#[derive(Default)]
pub(crate) struct Draw16 {
    bits: u64,
    left: u32,
}

impl Draw16 {
    #[inline]
    pub(crate) fn below(&mut self, n: usize) -> usize {
        if cfg!(loom) {
            return 0;
        }
        if self.left == 0 {
            self.bits = next();
            self.left = 4;
        }
        let r = self.bits & 0xFFFF;
        self.bits >>= 16;
        self.left -= 1;
        // Lemire's multiply-shift: the bias is below n / 2^16.
        ((r * n as u64) >> 16) as usize
    }
}
