//! A small, fast random number generator for victim selection.

/// xorshift64* (Vigna, "An experimental exploration of Marsaglia's xorshift generators"): fast and
/// good enough to spread steal attempts and `select` choices; not for anything secret.
#[derive(Clone, Debug)]
pub(crate) struct FastRand(u64);

impl FastRand {
    pub(crate) fn new(seed: u64) -> FastRand {
        // Never zero (xorshift's fixed point); mix the seed so consecutive seeds diverge.
        FastRand(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is below 2^-32 for small `n`).
    pub(crate) fn below(&mut self, n: u32) -> u32 {
        ((u64::from(self.next_u64() as u32) * u64::from(n)) >> 32) as u32
    }
}
