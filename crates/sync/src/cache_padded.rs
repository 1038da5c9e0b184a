//! Pads and aligns a value to the length of a cache line.

use core::fmt;
use core::ops::{Deref, DerefMut};

/// Pads and aligns `T` so that two `CachePadded` values never share a cache line.
///
/// 128 bytes on x86-64 and aarch64: Intel's adjacent-line prefetcher pulls cache lines in pairs and
/// Apple's M-series cores use 128-byte lines, so 64-byte padding still lets two hot atomics
/// interfere (crossbeam-utils and tokio pad to 128 for the same reason). 64 bytes elsewhere.
#[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), repr(align(128)))]
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    repr(align(64))
)]
#[derive(Default, PartialEq, Eq, Clone, Copy, Hash)]
pub struct CachePadded<T> {
    value: T,
}

impl<T> CachePadded<T> {
    /// Pads `value`.
    pub const fn new(value: T) -> Self {
        Self { value }
    }

    /// Removes the padding.
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> Deref for CachePadded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for CachePadded<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T: fmt::Debug> fmt::Debug for CachePadded<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachePadded")
            .field("value", &self.value)
            .finish()
    }
}

/// Bytes that keep the fields on either side of them off each other's cache lines, without
/// aligning anything: a struct of `#[repr(C)]` fields with a `Gap` between each pair of hot
/// ones separates them as [`CachePadded`] would (two addresses `LINE_PAIR` bytes apart never
/// share a line, nor a prefetched pair of lines), while the struct keeps its natural alignment.
///
/// Use it where the containing value is heap-allocated often: an over-aligned type goes through
/// `posix_memalign`, which in glibc costs several hundred instructions more than `malloc` (a
/// channel's creation spent more there than in everything else it does).
#[derive(Clone, Copy)]
pub struct Gap {
    _bytes: [u8; LINE_PAIR],
}

/// The distance a [`Gap`] keeps: two 64-byte lines, the unit the x86-64 adjacent-line
/// prefetcher (and Apple's 128-byte lines) work in.
const LINE_PAIR: usize = 128;

impl Gap {
    /// An empty gap.
    pub const fn new() -> Gap {
        Gap {
            _bytes: [0; LINE_PAIR],
        }
    }
}

impl Default for Gap {
    fn default() -> Gap {
        Gap::new()
    }
}

impl fmt::Debug for Gap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Gap")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_values_do_not_share_a_line() {
        let pair = [CachePadded::new(1u8), CachePadded::new(2u8)];
        let a = &pair[0] as *const _ as usize;
        let b = &pair[1] as *const _ as usize;
        assert!(b - a >= 64);
        assert_eq!(a % core::mem::align_of::<CachePadded<u8>>(), 0);
        assert_eq!(*pair[1], 2);
    }
}
