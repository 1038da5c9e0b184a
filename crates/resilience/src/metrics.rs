//! Metrics: counters and state for every policy, readable through one snapshot API.
//!
//! Each policy keeps its counters in relaxed atomics (one `fetch_add` per event, no lock on the
//! hot path) and exposes them as a [`PolicySnapshot`] through its own `metrics()` method. Every
//! policy also registers a weak reference to itself in a process-wide registry when it is built,
//! so a diagnostics dump can list them all without being handed each one: [`snapshot_all`]
//! returns a snapshot per live policy, and [`dump`] renders them one per line. Dropping the last
//! handle to a policy removes it from the registry (the entry is pruned lazily).
//!
//! Counters are monotonic totals since the policy was built; rates (failure rate, slow-call rate)
//! and gauges (permits in use, queued waiters, tracked keys) are instantaneous.

use std::fmt;
use std::sync::{Arc, Weak};

use spectrum_sync::atomic::{AtomicU64, Ordering::Relaxed};
use spectrum_sync::Mutex;

/// The kind of a policy in a [`PolicySnapshot`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PolicyKind {
    /// [`Timeout`](crate::Timeout).
    Timeout,
    /// [`Retry`](crate::Retry).
    Retry,
    /// [`RetryBudget`](crate::RetryBudget).
    RetryBudget,
    /// [`CircuitBreaker`](crate::CircuitBreaker).
    CircuitBreaker,
    /// [`Bulkhead`](crate::Bulkhead).
    Bulkhead,
    /// [`RateLimiter`](crate::RateLimiter).
    RateLimiter,
    /// [`KeyedRateLimiter`](crate::KeyedRateLimiter).
    KeyedRateLimiter,
    /// [`Hedge`](crate::Hedge).
    Hedge,
    /// [`Fallback`](crate::Fallback).
    Fallback,
    /// [`Chaos`](crate::Chaos).
    Chaos,
}

impl PolicyKind {
    /// The kind's name as shown in dumps.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyKind::Timeout => "timeout",
            PolicyKind::Retry => "retry",
            PolicyKind::RetryBudget => "retry_budget",
            PolicyKind::CircuitBreaker => "circuit_breaker",
            PolicyKind::Bulkhead => "bulkhead",
            PolicyKind::RateLimiter => "rate_limiter",
            PolicyKind::KeyedRateLimiter => "keyed_rate_limiter",
            PolicyKind::Hedge => "hedge",
            PolicyKind::Fallback => "fallback",
            PolicyKind::Chaos => "chaos",
        }
    }
}

/// A point-in-time view of one policy's counters and state.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicySnapshot {
    /// The name given to the policy's builder (empty if none).
    pub name: String,
    /// What kind of policy it is.
    pub kind: PolicyKind,
    /// The policy's state, for stateful policies ("closed", "open", ...).
    pub state: Option<&'static str>,
    /// Monotonic event counts since the policy was built.
    pub counters: Vec<(&'static str, u64)>,
    /// Instantaneous values (rates in `[0, 1]`, gauges).
    pub gauges: Vec<(&'static str, f64)>,
}

impl PolicySnapshot {
    pub(crate) fn new(name: &str, kind: PolicyKind) -> PolicySnapshot {
        PolicySnapshot {
            name: name.to_owned(),
            kind,
            state: None,
            counters: Vec::new(),
            gauges: Vec::new(),
        }
    }

    pub(crate) fn counter_value(mut self, name: &'static str, value: u64) -> Self {
        self.counters.push((name, value));
        self
    }

    pub(crate) fn gauge(mut self, name: &'static str, value: f64) -> Self {
        self.gauges.push((name, value));
        self
    }

    /// The counter called `name`, if the policy has one.
    pub fn counter(&self, name: &str) -> Option<u64> {
        self.counters
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }

    /// The gauge called `name`, if the policy has one.
    pub fn gauge_value(&self, name: &str) -> Option<f64> {
        self.gauges
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }
}

impl fmt::Display for PolicySnapshot {
    /// One line: `kind "name" state=... counter=value ... gauge=value ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.kind.as_str(), self.name)?;
        if let Some(s) = self.state {
            write!(f, " state={s}")?;
        }
        for (n, v) in &self.counters {
            write!(f, " {n}={v}")?;
        }
        for (n, v) in &self.gauges {
            write!(f, " {n}={v:.3}")?;
        }
        Ok(())
    }
}

/// A monotonic event counter (relaxed: totals are read for reporting only, never to synchronize).
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    #[inline]
    pub(crate) fn inc(&self) {
        // Relaxed: a statistic; no other memory is published through it.
        self.0.fetch_add(1, Relaxed);
    }

    #[inline]
    pub(crate) fn get(&self) -> u64 {
        // Relaxed: see `inc`.
        self.0.load(Relaxed)
    }
}

/// Something that can describe itself for the registry.
pub(crate) trait Metered: Send + Sync {
    fn snapshot(&self) -> PolicySnapshot;
}

static REGISTRY: Mutex<Vec<Weak<dyn Metered>>> = Mutex::new(Vec::new());

/// Adds a policy to the process-wide registry (weakly: it does not keep the policy alive).
pub(crate) fn register<M: Metered + 'static>(policy: &Arc<M>) {
    let weak: Weak<dyn Metered> = Arc::downgrade(policy) as Weak<dyn Metered>;
    let mut reg = REGISTRY.lock();
    if reg.len() >= 64 && reg.len().is_power_of_two() {
        reg.retain(|w| w.strong_count() > 0);
    }
    reg.push(weak);
}

/// A snapshot of every live policy in the process, in the order they were built.
///
/// This is what a diagnostics dump calls.
///
/// ```
/// use spectrum_resilience::{metrics, Bulkhead};
///
/// let bulkhead = Bulkhead::builder().name("db").max_concurrent(4).build().unwrap();
/// let all = metrics::snapshot_all();
/// assert!(all.iter().any(|s| s.name == "db"));
/// drop(bulkhead);
/// assert!(!metrics::snapshot_all().iter().any(|s| s.name == "db"));
/// ```
pub fn snapshot_all() -> Vec<PolicySnapshot> {
    let live: Vec<Arc<dyn Metered>> = {
        let mut reg = REGISTRY.lock();
        reg.retain(|w| w.strong_count() > 0);
        reg.iter().filter_map(Weak::upgrade).collect()
    };
    // Snapshots are taken outside the registry lock: a policy's snapshot may take its own lock.
    live.iter().map(|p| p.snapshot()).collect()
}

/// Every live policy's snapshot, one line each (the text a diagnostics dump prints).
pub fn dump() -> String {
    let mut out = String::new();
    for s in snapshot_all() {
        out.push_str(&s.to_string());
        out.push('\n');
    }
    out
}
