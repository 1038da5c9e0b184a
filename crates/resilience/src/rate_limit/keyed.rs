//! `KeyedRateLimiter`: one GCRA state per key, in bounded memory.
//!
//! # Structure
//!
//! Keys are spread over `shards` hash maps, each behind its own mutex, mapping a key to its `tat`.
//! A check hashes the key once (the shard comes from bits 32.. of that hash, the map's buckets
//! from the others; see [`prehashed`](super::prehashed)), locks one shard, looks the key up and
//! runs the GCRA decision.
//!
//! # Memory bound and idle eviction
//!
//! 1. Each shard holds at most `ceil(max_keys / shards)` keys, so the limiter never holds more
//!    than `max_keys` rounded up to a multiple of the shard count (one shard below 1024 keys, so
//!    the bound is exact there).
//! 2. A key is **idle** once its `tat ≤ now`: its state is then identical to a fresh key's
//!    (module docs of [`rate_limit`](super)), so evicting it is lossless.
//! 3. When a new key arrives at a full shard, the shard first evicts its idle keys; if it is
//!    still full, the check fails with [`KeyedError::TooManyKeys`] instead of growing or
//!    forgetting a key that is still being limited (which would hand that key a fresh burst).
//! 4. [`KeyedRateLimiter::retain_recent`] sweeps every shard on demand (e.g. from a periodic
//!    task) so memory also shrinks while no new keys arrive.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use spectrum_sync::{CachePadded, Mutex};

use super::prehashed::{Hashed, Map, Probe};
use super::{Gcra, Quota, RateLimited};
use crate::clock::Epoch;
use crate::metrics::{self, Counter, Metered, PolicyKind, PolicySnapshot};
use crate::ConfigError;

/// One lock's worth of keys and their `tat`s.
type Shard<K> = CachePadded<Mutex<Map<K>>>;

/// A keyed check failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyedError {
    /// This key is over its quota; `retry_after` says when it is not.
    RateLimited(RateLimited),
    /// The key is new and the limiter already tracks its maximum number of keys, none of them
    /// idle.
    TooManyKeys {
        /// The configured bound.
        max_keys: usize,
    },
}

impl fmt::Display for KeyedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyedError::RateLimited(r) => r.fmt(f),
            KeyedError::TooManyKeys { max_keys } => write!(
                f,
                "rate limiter tracks its maximum of {max_keys} keys and none is idle"
            ),
        }
    }
}

impl std::error::Error for KeyedError {}

/// A GCRA limiter with one state per key, bounded memory and lossless idle-key eviction.
///
/// ```
/// use spectrum_resilience::{KeyedRateLimiter, Quota};
///
/// let limiter = KeyedRateLimiter::builder(Quota::per_second(1)).max_keys(10_000).build().unwrap();
/// assert!(limiter.check(&"alice").is_ok());
/// assert!(limiter.check(&"alice").is_err()); // alice used her burst of 1
/// assert!(limiter.check(&"bob").is_ok()); // bob has his own
/// ```
pub struct KeyedRateLimiter<K> {
    inner: Arc<Inner<K>>,
}

impl<K> Clone for KeyedRateLimiter<K> {
    fn clone(&self) -> Self {
        KeyedRateLimiter {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<K> {
    gcra: Gcra,
    epoch: Epoch,
    hasher: RandomState,
    shards: Box<[Shard<K>]>,
    per_shard: usize,
    max_keys: usize,
    name: String,
    limited: Counter,
    evicted: Counter,
    too_many_keys: Counter,
}

/// Builds a [`KeyedRateLimiter`].
pub struct KeyedRateLimiterBuilder<K> {
    quota: Quota,
    max_keys: usize,
    shards: Option<usize>,
    name: String,
    _key: PhantomData<fn() -> K>,
}

impl<K> fmt::Debug for KeyedRateLimiterBuilder<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimiterBuilder")
            .field("quota", &self.quota)
            .field("max_keys", &self.max_keys)
            .field("shards", &self.shards)
            .finish()
    }
}

impl<K: Hash + Eq + Clone + Send + Sync + 'static> KeyedRateLimiterBuilder<K> {
    /// Names the policy (shown in metrics and dumps).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The most keys tracked at once (default 100 000).
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys;
        self
    }

    /// The number of independently locked shards (default: 1 below 1024 keys, else 16).
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = Some(shards);
        self
    }

    /// Builds the limiter.
    ///
    /// # Errors
    ///
    /// A bad quota (see [`RateLimiterBuilder::build`](super::RateLimiterBuilder::build)), zero
    /// `max_keys`, or a shard count of zero, above 1024, or above `max_keys`.
    pub fn build(self) -> Result<KeyedRateLimiter<K>, ConfigError> {
        const P: &str = "keyed rate limiter";
        let gcra = self.quota.gcra(P)?;
        if self.max_keys == 0 {
            return Err(ConfigError::new(P, "max_keys must be non-zero"));
        }
        let shards = self
            .shards
            .unwrap_or(if self.max_keys < 1024 { 1 } else { 16 });
        if shards == 0 || shards > 1024 || shards > self.max_keys {
            return Err(ConfigError::new(
                P,
                format!(
                    "shards must be in 1..=min(1024, max_keys = {}), got {shards}",
                    self.max_keys
                ),
            ));
        }
        let inner = Arc::new(Inner {
            gcra,
            epoch: Epoch::now(),
            hasher: RandomState::new(),
            shards: (0..shards)
                .map(|_| CachePadded::new(Mutex::new(Map::default())))
                .collect(),
            per_shard: self.max_keys.div_ceil(shards),
            max_keys: self.max_keys,
            name: self.name,
            limited: Counter::default(),
            evicted: Counter::default(),
            too_many_keys: Counter::default(),
        });
        metrics::register(&inner);
        Ok(KeyedRateLimiter { inner })
    }
}

impl<K: Hash + Eq + Clone + Send + Sync + 'static> KeyedRateLimiter<K> {
    /// A keyed limiter for `quota` with the default bounds.
    ///
    /// # Errors
    ///
    /// See [`KeyedRateLimiterBuilder::build`].
    pub fn new(quota: Quota) -> Result<KeyedRateLimiter<K>, ConfigError> {
        Self::builder(quota).build()
    }

    /// Starts building a keyed limiter for `quota`.
    pub fn builder(quota: Quota) -> KeyedRateLimiterBuilder<K> {
        KeyedRateLimiterBuilder {
            quota,
            max_keys: 100_000,
            shards: None,
            name: String::new(),
            _key: PhantomData,
        }
    }

    /// The key's hash and its shard.
    fn shard(&self, key: &K) -> (u64, &Mutex<Map<K>>) {
        let hash = self.inner.hasher.hash_one(key);
        let n = self.inner.shards.len();
        // Bits 32..: the map uses the low bits (bucket) and the top seven (tag) of the same hash.
        let i = if n == 1 { 0 } else { (hash >> 32) as usize % n };
        (hash, &self.inner.shards[i])
    }

    /// Takes one cell for `key` if one is available now.
    ///
    /// # Errors
    ///
    /// [`KeyedError::RateLimited`] with the time until the key has a cell, or
    /// [`KeyedError::TooManyKeys`] for a new key when the memory bound is reached.
    pub fn check(&self, key: &K) -> Result<(), KeyedError> {
        let inner = &*self.inner;
        let now = inner.epoch.elapsed_nanos();
        let (hash, shard) = self.shard(key);
        let mut map = shard.lock();
        if let Some(tat) = map.get_mut(&(hash, key) as &dyn Probe<K>) {
            return match inner.gcra.decide(*tat, now, 1) {
                Ok(new_tat) => {
                    *tat = new_tat;
                    Ok(())
                }
                Err(at) => {
                    inner.limited.inc();
                    Err(KeyedError::RateLimited(RateLimited {
                        retry_after: Duration::from_nanos(at - now),
                    }))
                }
            };
        }
        if map.len() >= inner.per_shard {
            let before = map.len();
            map.retain(|_, tat| *tat > now);
            for _ in map.len()..before {
                inner.evicted.inc();
            }
            if map.len() >= inner.per_shard {
                inner.too_many_keys.inc();
                return Err(KeyedError::TooManyKeys {
                    max_keys: inner.max_keys,
                });
            }
        }
        // A fresh key is always allowed one cell (burst >= 1).
        let new_tat = inner
            .gcra
            .decide(0, now, 1)
            .expect("a fresh GCRA state allows one cell");
        map.insert(Hashed::new(hash, key.clone()), new_tat);
        Ok(())
    }

    /// Waits until `key` has a cell and takes it.
    ///
    /// # Errors
    ///
    /// [`KeyedError::TooManyKeys`] (waiting would not help: it is about memory, not time).
    ///
    /// # Panics
    ///
    /// Outside a Spectrum runtime, if it has to wait.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: nothing is reserved while waiting.
    pub async fn until_ready(&self, key: &K) -> Result<(), KeyedError> {
        loop {
            match self.check(key) {
                Err(KeyedError::RateLimited(r)) => spectrum_rt::time::sleep(r.retry_after).await,
                other => return other,
            }
        }
    }

    /// Evicts every idle key now; returns how many were evicted.
    pub fn retain_recent(&self) -> usize {
        let now = self.inner.epoch.elapsed_nanos();
        let mut evicted = 0;
        for shard in self.inner.shards.iter() {
            let mut map = shard.lock();
            let before = map.len();
            map.retain(|_, tat| *tat > now);
            evicted += before - map.len();
        }
        for _ in 0..evicted {
            self.inner.evicted.inc();
        }
        evicted
    }

    /// The number of keys tracked now.
    pub fn len(&self) -> usize {
        self.inner.shards.iter().map(|s| s.lock().len()).sum()
    }

    /// True if no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// This limiter's counters (`limited`, `evicted`, `too_many_keys`) and gauge (`keys`).
    pub fn metrics(&self) -> PolicySnapshot {
        self.inner.snapshot()
    }
}

impl<K: Send + Sync> Metered for Inner<K> {
    fn snapshot(&self) -> PolicySnapshot {
        let keys: usize = self.shards.iter().map(|s| s.lock().len()).sum();
        PolicySnapshot::new(&self.name, PolicyKind::KeyedRateLimiter)
            .counter_value("limited", self.limited.get())
            .counter_value("evicted", self.evicted.get())
            .counter_value("too_many_keys", self.too_many_keys.get())
            .gauge("keys", keys as f64)
    }
}

impl<K> fmt::Debug for KeyedRateLimiter<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimiter")
            .field("name", &self.inner.name)
            .field("interval", &self.inner.gcra.interval())
            .field("burst", &self.inner.gcra.burst())
            .field("max_keys", &self.inner.max_keys)
            .finish()
    }
}
