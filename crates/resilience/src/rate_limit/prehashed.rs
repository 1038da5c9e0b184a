//! Keys stored with their hash, so that a keyed check hashes its key once.
//!
//! The keyed limiter hashes a key once with its `RandomState` (SipHash, keyed per limiter, so
//! callers cannot aim keys at one shard), picks the shard from bits of that hash, and looks the
//! key up in the shard's map under the same hash: the map's [`PassThrough`] hasher takes the
//! stored hash instead of hashing the key a second time (`dashmap`, which `governor` uses,
//! hashes once the same way).
//!
//! A lookup needs no owned key: the map's key type [`Hashed<K>`] borrows as `dyn Probe<K>`,
//! which a `(hash, &key)` pair also is (the usual way to look a std `HashMap` up by a borrowed
//! composite key). Both sides hash as their stored hash and compare hash then key, so `Borrow`'s
//! contract (same `Hash` and `Eq` on both forms) holds.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// A shard's map: each key with its `tat`.
pub(super) type Map<K> = HashMap<Hashed<K>, u64, BuildHasherDefault<PassThrough>>;

/// A key and its hash under the limiter's `RandomState`.
pub(super) struct Hashed<K> {
    hash: u64,
    key: K,
}

impl<K> Hashed<K> {
    pub(super) fn new(hash: u64, key: K) -> Self {
        Hashed { hash, key }
    }
}

/// What a lookup compares: a hash and a key, owned or borrowed.
pub(super) trait Probe<K> {
    fn hash(&self) -> u64;
    fn key(&self) -> &K;
}

impl<K> Probe<K> for Hashed<K> {
    fn hash(&self) -> u64 {
        self.hash
    }
    fn key(&self) -> &K {
        &self.key
    }
}

impl<K> Probe<K> for (u64, &K) {
    fn hash(&self) -> u64 {
        self.0
    }
    fn key(&self) -> &K {
        self.1
    }
}

impl<'a, K: 'a> Borrow<dyn Probe<K> + 'a> for Hashed<K> {
    fn borrow(&self) -> &(dyn Probe<K> + 'a) {
        self
    }
}

impl<K: Eq> PartialEq for dyn Probe<K> + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.hash() == other.hash() && self.key() == other.key()
    }
}

impl<K: Eq> Eq for dyn Probe<K> + '_ {}

impl<K> Hash for dyn Probe<K> + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(Probe::hash(self));
    }
}

impl<K: Eq> PartialEq for Hashed<K> {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.key == other.key
    }
}

impl<K: Eq> Eq for Hashed<K> {}

impl<K> Hash for Hashed<K> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// A hasher that passes a precomputed (already uniformly random) `u64` through.
#[derive(Default, Clone, Copy, Debug)]
pub(super) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }

    fn write(&mut self, bytes: &[u8]) {
        // Never reached: both key forms hash through `write_u64` alone. Kept total (FNV-1a) so
        // that a future caller gets a valid hash, not a panic.
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_hashes_with_different_keys_stay_distinct() {
        let mut map: Map<&str> = Map::default();
        map.insert(Hashed::new(7, "a"), 1);
        map.insert(Hashed::new(7, "b"), 2);
        assert_eq!(map.len(), 2);
        assert_eq!(map.get(&(7u64, &"a") as &dyn Probe<&str>), Some(&1));
        assert_eq!(map.get(&(7u64, &"b") as &dyn Probe<&str>), Some(&2));
        assert_eq!(map.get(&(8u64, &"a") as &dyn Probe<&str>), None);
    }
}
