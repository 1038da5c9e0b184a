//! Chaos: inject faults, latency or outcomes at a rate, to test the stack around a call.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use spectrum_sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};

use crate::config::fraction_to_ppm;
use crate::metrics::{self, Counter, Metered, PolicyKind, PolicySnapshot};
use crate::rng::{random_seed, SharedRng};
use crate::ConfigError;

type Make<V> = Box<dyn Fn() -> V + Send + Sync>;

/// Injects faults, latency or outcomes into calls at run-time-switchable rates.
///
/// Each injection has a rate (a fraction of calls) that can be changed while the program runs,
/// and the whole policy can be switched on and off (Polly's "simmy" chaos strategies, Chaos
/// Monkey's principle of testing resilience against real failure modes). Per call, in order:
///
/// 1. if disabled, run the operation untouched;
/// 2. with probability `latency_rate`, sleep `latency` first;
/// 3. with probability `fault_rate`, return the fault (the operation does not run);
/// 4. with probability `outcome_rate`, return the injected outcome (the operation does not run);
/// 5. otherwise run the operation.
///
/// Draws come from one shared SplitMix64 stream ([`Rng`](crate::Rng)); seed it for tests that
/// must inject on exactly the same calls every run. Rates are stored in parts per million.
///
/// ```
/// # spectrum_rt::Wait::wait(async {
/// use spectrum_resilience::Chaos;
///
/// let chaos = Chaos::<u32, &str>::builder().fault(1.0, || "injected").build().unwrap();
/// assert_eq!(chaos.run(async { Ok(1) }).await, Err("injected"));
/// chaos.disable();
/// assert_eq!(chaos.run(async { Ok(1) }).await, Ok(1));
/// chaos.enable();
/// chaos.set_fault_rate(0.0).unwrap();
/// assert_eq!(chaos.run(async { Ok(2) }).await, Ok(2));
/// # });
/// ```
pub struct Chaos<T, E> {
    inner: Arc<Inner<T, E>>,
}

impl<T, E> Clone for Chaos<T, E> {
    fn clone(&self) -> Self {
        Chaos {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<T, E> {
    enabled: AtomicBool,
    fault_ppm: AtomicU32,
    latency_ppm: AtomicU32,
    outcome_ppm: AtomicU32,
    latency_ns: AtomicU64,
    fault: Option<Make<E>>,
    outcome: Option<Make<Result<T, E>>>,
    rng: SharedRng,
    name: String,
    calls: Counter,
    faults: Counter,
    delays: Counter,
    outcomes: Counter,
}

/// Builds a [`Chaos`] policy.
pub struct ChaosBuilder<T, E> {
    enabled: bool,
    fault: Option<(f64, Make<E>)>,
    latency: Option<(f64, Duration)>,
    outcome: Option<(f64, Make<Result<T, E>>)>,
    seed: Option<u64>,
    name: String,
}

impl<T: 'static, E: 'static> ChaosBuilder<T, E> {
    /// Names the policy (shown in metrics and dumps).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Fails a `rate` fraction of calls with `make()` instead of running them.
    pub fn fault(mut self, rate: f64, make: impl Fn() -> E + Send + Sync + 'static) -> Self {
        self.fault = Some((rate, Box::new(make)));
        self
    }

    /// Delays a `rate` fraction of calls by `latency` before running them.
    pub fn latency(mut self, rate: f64, latency: Duration) -> Self {
        self.latency = Some((rate, latency));
        self
    }

    /// Answers a `rate` fraction of calls with `make()` instead of running them.
    pub fn outcome(
        mut self,
        rate: f64,
        make: impl Fn() -> Result<T, E> + Send + Sync + 'static,
    ) -> Self {
        self.outcome = Some((rate, Box::new(make)));
        self
    }

    /// Starts enabled (default) or disabled.
    pub fn enabled(mut self, yes: bool) -> Self {
        self.enabled = yes;
        self
    }

    /// Seeds the draws (for reproducible tests).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Builds the policy.
    ///
    /// # Errors
    ///
    /// A rate outside `[0, 1]`, or a latency above one hour.
    pub fn build(self) -> Result<Chaos<T, E>, ConfigError> {
        const P: &str = "chaos";
        let fault_ppm = match &self.fault {
            Some((r, _)) => fraction_to_ppm(P, "fault rate", *r)?,
            None => 0,
        };
        let outcome_ppm = match &self.outcome {
            Some((r, _)) => fraction_to_ppm(P, "outcome rate", *r)?,
            None => 0,
        };
        let (latency_ppm, latency) = match self.latency {
            Some((r, d)) => (fraction_to_ppm(P, "latency rate", r)?, d),
            None => (0, Duration::ZERO),
        };
        check_latency(latency)?;
        let inner = Arc::new(Inner {
            enabled: AtomicBool::new(self.enabled),
            fault_ppm: AtomicU32::new(fault_ppm),
            latency_ppm: AtomicU32::new(latency_ppm),
            outcome_ppm: AtomicU32::new(outcome_ppm),
            latency_ns: AtomicU64::new(latency.as_nanos() as u64),
            fault: self.fault.map(|(_, f)| f),
            outcome: self.outcome.map(|(_, f)| f),
            rng: SharedRng::new(self.seed.unwrap_or_else(random_seed)),
            name: self.name,
            calls: Counter::default(),
            faults: Counter::default(),
            delays: Counter::default(),
            outcomes: Counter::default(),
        });
        metrics::register(&inner);
        Ok(Chaos { inner })
    }
}

fn check_latency(d: Duration) -> Result<(), ConfigError> {
    if d > Duration::from_secs(3600) {
        return Err(ConfigError::new(
            "chaos",
            format!("latency {d:?} is above one hour"),
        ));
    }
    Ok(())
}

impl<T: 'static, E: 'static> Chaos<T, E> {
    /// Starts building a chaos policy (enabled, injecting nothing until configured).
    pub fn builder() -> ChaosBuilder<T, E> {
        ChaosBuilder {
            enabled: true,
            fault: None,
            latency: None,
            outcome: None,
            seed: None,
            name: String::new(),
        }
    }
}

impl<T, E> Chaos<T, E> {
    /// Runs `fut` through the injections; see [`Chaos`]'s docs.
    ///
    /// # Errors
    ///
    /// An injected fault, an injected `Err` outcome, or `fut`'s own error.
    ///
    /// # Panics
    ///
    /// Outside a Spectrum runtime, when injecting latency.
    ///
    /// # Cancel safety
    ///
    /// As cancel-safe as `fut`.
    pub async fn run<F>(&self, fut: F) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
    {
        let inner = &*self.inner;
        // Relaxed (all loads here): switches and rates are independent settings; a call may see
        // a change one call late, and nothing else is published through them.
        if !inner.enabled.load(Relaxed) {
            return fut.await;
        }
        inner.calls.inc();
        if inner.rng.chance_ppm(inner.latency_ppm.load(Relaxed)) {
            inner.delays.inc();
            spectrum_rt::time::sleep(Duration::from_nanos(inner.latency_ns.load(Relaxed))).await;
        }
        if let Some(f) = &inner.fault {
            if inner.rng.chance_ppm(inner.fault_ppm.load(Relaxed)) {
                inner.faults.inc();
                return Err(f());
            }
        }
        if let Some(f) = &inner.outcome {
            if inner.rng.chance_ppm(inner.outcome_ppm.load(Relaxed)) {
                inner.outcomes.inc();
                return f();
            }
        }
        fut.await
    }

    /// Switches injection on.
    pub fn enable(&self) {
        // Relaxed: see `run`.
        self.inner.enabled.store(true, Relaxed);
    }

    /// Switches injection off: calls run untouched.
    pub fn disable(&self) {
        // Relaxed: see `run`.
        self.inner.enabled.store(false, Relaxed);
    }

    /// True if injection is on.
    pub fn is_enabled(&self) -> bool {
        // Relaxed: see `run`.
        self.inner.enabled.load(Relaxed)
    }

    /// Changes the fault rate.
    ///
    /// # Errors
    ///
    /// A rate outside `[0, 1]`.
    pub fn set_fault_rate(&self, rate: f64) -> Result<(), ConfigError> {
        let ppm = fraction_to_ppm("chaos", "fault rate", rate)?;
        // Relaxed: see `run`.
        self.inner.fault_ppm.store(ppm, Relaxed);
        Ok(())
    }

    /// Changes the latency rate.
    ///
    /// # Errors
    ///
    /// A rate outside `[0, 1]`.
    pub fn set_latency_rate(&self, rate: f64) -> Result<(), ConfigError> {
        let ppm = fraction_to_ppm("chaos", "latency rate", rate)?;
        // Relaxed: see `run`.
        self.inner.latency_ppm.store(ppm, Relaxed);
        Ok(())
    }

    /// Changes the injected latency.
    ///
    /// # Errors
    ///
    /// A latency above one hour.
    pub fn set_latency(&self, latency: Duration) -> Result<(), ConfigError> {
        check_latency(latency)?;
        // Relaxed: see `run`.
        self.inner
            .latency_ns
            .store(latency.as_nanos() as u64, Relaxed);
        Ok(())
    }

    /// Changes the outcome rate.
    ///
    /// # Errors
    ///
    /// A rate outside `[0, 1]`.
    pub fn set_outcome_rate(&self, rate: f64) -> Result<(), ConfigError> {
        let ppm = fraction_to_ppm("chaos", "outcome rate", rate)?;
        // Relaxed: see `run`.
        self.inner.outcome_ppm.store(ppm, Relaxed);
        Ok(())
    }

    /// Counters `calls` (while enabled), `faults`, `delays`, `outcomes`; state "enabled" or
    /// "disabled".
    pub fn metrics(&self) -> PolicySnapshot {
        self.inner.snapshot()
    }
}

impl<T, E> Metered for Inner<T, E> {
    fn snapshot(&self) -> PolicySnapshot {
        let mut s = PolicySnapshot::new(&self.name, PolicyKind::Chaos)
            .counter_value("calls", self.calls.get())
            .counter_value("faults", self.faults.get())
            .counter_value("delays", self.delays.get())
            .counter_value("outcomes", self.outcomes.get());
        // Relaxed: a report.
        s.state = Some(if self.enabled.load(Relaxed) {
            "enabled"
        } else {
            "disabled"
        });
        s
    }
}

impl<T, E> fmt::Debug for Chaos<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chaos")
            .field("name", &self.inner.name)
            .field("enabled", &self.is_enabled())
            .finish_non_exhaustive()
    }
}

impl<T, E> fmt::Debug for ChaosBuilder<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChaosBuilder")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}
