//! Circuit breaker: stop calling what is failing, probe it, and recover.

mod window;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use spectrum_sync::atomic::{AtomicU64, Ordering::*};
use spectrum_sync::Mutex;

use self::window::Window;
use crate::metrics::{self, Counter, Metered, PolicyKind, PolicySnapshot};
use crate::{Backoff, ConfigError, Rng};

/// A circuit breaker's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CircuitState {
    /// Calls flow; outcomes are recorded.
    Closed,
    /// Calls are rejected until the open duration passes.
    Open,
    /// A few probe calls are let through to test recovery.
    HalfOpen,
    /// Manually isolated: calls are rejected until [`CircuitBreaker::close`].
    ForcedOpen,
    /// Calls flow and nothing is recorded.
    Disabled,
}

const CLOSED: u64 = 0;
const OPEN: u64 = 1;
const HALF_OPEN: u64 = 2;
const FORCED_OPEN: u64 = 3;
const DISABLED: u64 = 4;
const STATE_MASK: u64 = 0xFF;
const GEN_SHIFT: u32 = 8;

impl CircuitState {
    fn bits(self) -> u64 {
        match self {
            CircuitState::Closed => CLOSED,
            CircuitState::Open => OPEN,
            CircuitState::HalfOpen => HALF_OPEN,
            CircuitState::ForcedOpen => FORCED_OPEN,
            CircuitState::Disabled => DISABLED,
        }
    }

    /// The state's name as shown in metrics ("closed", "half_open", ...).
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
            CircuitState::ForcedOpen => "forced_open",
            CircuitState::Disabled => "disabled",
        }
    }
}

/// Why the breaker changed state.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TransitionReason {
    /// The failure rate reached the threshold (as a percentage).
    FailureRate(f64),
    /// The slow-call rate reached the threshold (as a percentage).
    SlowCallRate(f64),
    /// The open duration passed.
    OpenDurationElapsed,
    /// All half-open probes reported and the rates were below the thresholds.
    ProbesSucceeded,
    /// The half-open probes' failure or slow-call rate reached a threshold.
    ProbesFailed,
    /// The probes did not all report within `probe_timeout`.
    ProbeTimeout,
    /// `isolate`, `close` or `disable` was called.
    Manual,
}

/// A state-change event, delivered to the listeners registered on the builder.
#[derive(Clone, Debug, PartialEq)]
pub struct StateChange {
    /// The state left.
    pub from: CircuitState,
    /// The state entered.
    pub to: CircuitState,
    /// Why.
    pub reason: TransitionReason,
    /// When, on the runtime clock.
    pub at: Instant,
}

/// The breaker did not permit the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CircuitOpen {
    /// The state that rejected it: open, forced open, or half-open with every probe taken.
    pub state: CircuitState,
    /// When the breaker will let a probe through, if it knows (open state only).
    pub retry_after: Option<Duration>,
}

impl fmt::Display for CircuitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.state, self.retry_after) {
            (CircuitState::HalfOpen, _) => {
                f.write_str("circuit breaker is half-open and every probe permit is taken")
            }
            (CircuitState::ForcedOpen, _) => {
                f.write_str("circuit breaker is isolated (forced open)")
            }
            (_, Some(d)) => write!(f, "circuit breaker is open; next probe in {d:?}"),
            (_, None) => f.write_str("circuit breaker is open"),
        }
    }
}

impl std::error::Error for CircuitOpen {}

type Listener = Arc<dyn Fn(&StateChange) + Send + Sync>;

#[derive(Clone, Copy, Debug)]
enum WindowKind {
    Count(u32),
    Time { buckets: u32, width: Duration },
}

/// Builds a [`CircuitBreaker`]. Defaults follow resilience4j: failure-rate threshold 50 %, a
/// count window of 100 calls, 100 minimum calls, 10 probes, 60 s open; plus a 60 s probe
/// timeout.
#[derive(Clone)]
pub struct CircuitBreakerBuilder {
    name: String,
    failure_rate: f64,
    slow_rate: f64,
    slow_call: Option<Duration>,
    minimum_calls: u32,
    window: WindowKind,
    probes: u32,
    probe_timeout: Duration,
    open: Backoff,
    seed: Option<u64>,
    listeners: Vec<Listener>,
}

impl CircuitBreakerBuilder {
    /// Names the policy (shown in metrics and dumps).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Opens when the failure rate (percent, in `(0, 100]`) is at or above this.
    pub fn failure_rate_threshold(mut self, percent: f64) -> Self {
        self.failure_rate = percent;
        self
    }

    /// Opens when the rate of calls slower than `duration` is at or above `percent`.
    pub fn slow_call(mut self, duration: Duration, percent: f64) -> Self {
        self.slow_call = Some(duration);
        self.slow_rate = percent;
        self
    }

    /// Rates are evaluated only once the window holds this many calls.
    pub fn minimum_calls(mut self, n: u32) -> Self {
        self.minimum_calls = n;
        self
    }

    /// Judges the last `n` calls.
    pub fn count_window(mut self, n: u32) -> Self {
        self.window = WindowKind::Count(n);
        self
    }

    /// Judges the calls of the last `buckets × width` of time.
    pub fn time_window(mut self, buckets: u32, width: Duration) -> Self {
        self.window = WindowKind::Time { buckets, width };
        self
    }

    /// How many probe calls half-open lets through.
    pub fn permitted_probes(mut self, n: u32) -> Self {
        self.probes = n;
        self
    }

    /// How long half-open waits for its probes before reopening.
    pub fn probe_timeout(mut self, d: Duration) -> Self {
        self.probe_timeout = d;
        self
    }

    /// A fixed open duration.
    pub fn open_duration(self, d: Duration) -> Self {
        self.open_backoff(Backoff::constant(d))
    }

    /// The open duration as a backoff: the n-th consecutive opening (without a successful
    /// close in between) waits `backoff`'s n-th delay.
    pub fn open_backoff(mut self, backoff: Backoff) -> Self {
        self.open = backoff;
        self
    }

    /// Seeds the open-duration jitter (for reproducible tests).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Calls `f` after every state change (outside the breaker's lock, on the thread that
    /// caused it).
    pub fn on_state_change(mut self, f: impl Fn(&StateChange) + Send + Sync + 'static) -> Self {
        self.listeners.push(Arc::new(f));
        self
    }

    /// Builds the breaker.
    ///
    /// # Errors
    ///
    /// A threshold outside `(0, 100]`, a zero window, bucket width, probe count or probe timeout,
    /// a window or probe count above 1 000 000, a zero open duration, or a bad backoff.
    pub fn build(self) -> Result<CircuitBreaker, ConfigError> {
        const P: &str = "circuit breaker";
        let ppm = |what: &str, pct: f64| -> Result<u64, ConfigError> {
            if pct.is_nan() || pct <= 0.0 || pct > 100.0 {
                return Err(ConfigError::new(
                    P,
                    format!("{what} must be a percentage in (0, 100], got {pct}"),
                ));
            }
            Ok((pct * 10_000.0).round() as u64)
        };
        let failure_ppm = ppm("failure_rate_threshold", self.failure_rate)?;
        let slow_ppm = ppm("slow_call rate", self.slow_rate)?;
        if self.slow_call == Some(Duration::ZERO) {
            return Err(ConfigError::new(P, "slow_call duration must be non-zero"));
        }
        const MAX: u32 = 1_000_000;
        let window = match self.window {
            WindowKind::Count(n) if n == 0 || n > MAX => {
                return Err(ConfigError::new(
                    P,
                    format!("count_window must be in 1..={MAX}, got {n}"),
                ))
            }
            WindowKind::Count(n) => Window::count(n),
            WindowKind::Time { buckets, width } => {
                if buckets == 0 || buckets > 100_000 {
                    return Err(ConfigError::new(
                        P,
                        format!("time_window buckets must be in 1..=100000, got {buckets}"),
                    ));
                }
                let w = width.as_nanos();
                if w == 0 || w > u128::from(u64::MAX / 4) {
                    return Err(ConfigError::new(
                        P,
                        format!("time_window bucket width must be non-zero, got {width:?}"),
                    ));
                }
                Window::time(buckets, w as u64)
            }
        };
        if self.minimum_calls > MAX {
            return Err(ConfigError::new(
                P,
                format!("minimum_calls must be at most {MAX}"),
            ));
        }
        if self.probes == 0 || self.probes > MAX {
            return Err(ConfigError::new(
                P,
                format!("permitted_probes must be in 1..={MAX}, got {}", self.probes),
            ));
        }
        if self.probe_timeout.is_zero() {
            return Err(ConfigError::new(P, "probe_timeout must be non-zero"));
        }
        self.open.validate(P)?;
        if self.open.base_delay(0).is_zero() {
            return Err(ConfigError::new(P, "open duration must be non-zero"));
        }
        let origin = crate::clock::now();
        let inner = Arc::new(Inner {
            word: AtomicU64::new(CLOSED),
            core: Mutex::new(Core {
                state: CircuitState::Closed,
                generation: 0,
                window,
                open_until: 0,
                last_open: Duration::ZERO,
                opens: 0,
                half_open_since: 0,
                probes_issued: 0,
                probes_done: 0,
                probe_failures: 0,
                probe_slow: 0,
                rng: Rng::seeded(self.seed.unwrap_or_else(crate::rng::random_seed)),
            }),
            origin,
            failure_ppm,
            slow_ppm,
            slow_call: self.slow_call,
            minimum_calls: self.minimum_calls,
            probes: self.probes,
            probe_timeout_ns: self.probe_timeout.as_nanos().min(u128::from(u64::MAX / 4)) as u64,
            open: self.open,
            listeners: self.listeners,
            name: self.name,
            successful: Counter::default(),
            failed: Counter::default(),
            slow: Counter::default(),
            not_permitted: Counter::default(),
            ignored: Counter::default(),
            opened: Counter::default(),
        });
        metrics::register(&inner);
        Ok(CircuitBreaker { inner })
    }
}

impl fmt::Debug for CircuitBreakerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerBuilder")
            .field("name", &self.name)
            .field("failure_rate", &self.failure_rate)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

/// Stops calling a failing dependency, then probes it to recover.
///
/// Cheap to clone; clones share one state.
///
/// # States (resilience4j's machine, plus Polly's manual isolate/close)
///
/// ```text
///            failure or slow-call rate >= threshold (after minimum_calls)
///   CLOSED ───────────────────────────────────────────────────────────▶ OPEN
///     ▲                                                                 │ open duration
///     │ all probes done, rates below thresholds                         ▼ elapsed (lazily)
///     └────────────────────────────────────────────────────────── HALF_OPEN
///                 probes fail, or probe_timeout passes ──▶ OPEN (longer, per the backoff)
///
///   FORCED_OPEN (isolate): rejects everything until `close`.
///   DISABLED: permits everything, records nothing, never trips.
/// ```
///
/// # Invariants
///
/// 1. Every transition happens under the `core` mutex and bumps the **generation**; the state
///    and generation are mirrored in one atomic word (`state << 0 | generation << 8`) so a
///    closed breaker grants a permit with a single load and no lock.
/// 2. A permit remembers the generation it was granted in. An outcome recorded under another
///    generation is stale (the call straddled a transition) and is ignored, so an old failure
///    can never reopen a breaker that has since closed.
/// 3. Half-open grants exactly `permitted_probes` permits per generation; a permit dropped
///    without an outcome (its call was cancelled) gives its slot back.
/// 4. **Half-open can never wedge**: if the probes have not all reported `probe_timeout` after
///    half-open began (a probe hung, or leaked its permit), the next look at the breaker (a call
///    or `state()`) reopens it. There is no background task: every time-driven transition is
///    taken lazily by whoever looks next, on the runtime clock.
/// 5. Rates are compared exactly (integers in parts per million): a threshold of 50 % trips at
///    5 failures out of 10, not at 4.
///
/// # Windows
///
/// Outcomes in the closed state go to a count- or time-based sliding window with
/// O(1) snapshots. Half-open outcomes are counted separately and judged once all probes are in.
///
/// ```
/// # spectrum_rt::Runtime::builder().start_paused(true).build().unwrap().block_on(async {
/// use std::time::Duration;
/// use spectrum_resilience::{CircuitBreaker, CircuitState};
///
/// let breaker = CircuitBreaker::builder()
///     .count_window(4)
///     .minimum_calls(4)
///     .failure_rate_threshold(50.0)
///     .open_duration(Duration::from_secs(10))
///     .permitted_probes(1)
///     .build()
///     .unwrap();
/// for ok in [true, false, true, false] {
///     let permit = breaker.acquire().unwrap();
///     if ok { permit.record_success() } else { permit.record_failure() }
/// }
/// assert_eq!(breaker.state(), CircuitState::Open); // 2 of 4 = 50 %
/// assert!(breaker.acquire().is_err());
///
/// spectrum_rt::time::advance(Duration::from_secs(10)).await;
/// breaker.acquire().unwrap().record_success(); // the probe
/// assert_eq!(breaker.state(), CircuitState::Closed);
/// # });
/// ```
#[derive(Clone)]
pub struct CircuitBreaker {
    inner: Arc<Inner>,
}

struct Inner {
    /// `state | generation << 8`, mirrored from `core` (invariant 1).
    word: AtomicU64,
    core: Mutex<Core>,
    origin: Instant,
    failure_ppm: u64,
    slow_ppm: u64,
    slow_call: Option<Duration>,
    minimum_calls: u32,
    probes: u32,
    probe_timeout_ns: u64,
    open: Backoff,
    listeners: Vec<Listener>,
    name: String,
    successful: Counter,
    failed: Counter,
    slow: Counter,
    not_permitted: Counter,
    ignored: Counter,
    opened: Counter,
}

struct Core {
    state: CircuitState,
    generation: u64,
    window: Window,
    open_until: u64,
    last_open: Duration,
    opens: u32,
    half_open_since: u64,
    probes_issued: u32,
    probes_done: u32,
    probe_failures: u32,
    probe_slow: u32,
    rng: Rng,
}

/// Permission to make one call; report its outcome with a `record_*` method.
///
/// Dropping it without reporting counts as "ignored" (the call was cancelled or its outcome does
/// not say anything about the dependency) and, in half-open, frees the probe slot.
#[must_use = "report the call's outcome with record_success / record_failure"]
pub struct BreakerPermit<'a> {
    inner: &'a Inner,
    generation: u64,
    started: Option<Instant>,
    done: bool,
}

/// What a transition did, to report after unlocking.
type Event = Option<StateChange>;

impl CircuitBreaker {
    /// Starts building a breaker (resilience4j's defaults).
    pub fn builder() -> CircuitBreakerBuilder {
        CircuitBreakerBuilder {
            name: String::new(),
            failure_rate: 50.0,
            slow_rate: 100.0,
            slow_call: None,
            minimum_calls: 100,
            window: WindowKind::Count(100),
            probes: 10,
            probe_timeout: Duration::from_secs(60),
            open: Backoff::constant(Duration::from_secs(60)),
            seed: None,
            listeners: Vec::new(),
        }
    }

    /// Asks to make a call.
    ///
    /// # Errors
    ///
    /// [`CircuitOpen`] when open (with the time to the next probe), forced open, or half-open
    /// with every probe permit taken.
    #[inline]
    pub fn acquire(&self) -> Result<BreakerPermit<'_>, CircuitOpen> {
        // Acquire: pairs with the Release store in `Core::set`, so a permit granted here belongs
        // to the generation it names.
        let word = self.inner.word.load(Acquire);
        let state = word & STATE_MASK;
        if state == CLOSED || state == DISABLED {
            return Ok(self.permit(word >> GEN_SHIFT));
        }
        self.acquire_slow()
    }

    fn permit(&self, generation: u64) -> BreakerPermit<'_> {
        BreakerPermit {
            inner: &self.inner,
            generation,
            started: self.inner.slow_call.map(|_| crate::clock::now()),
            done: false,
        }
    }

    #[cold]
    fn acquire_slow(&self) -> Result<BreakerPermit<'_>, CircuitOpen> {
        let inner = &*self.inner;
        let now = inner.now_ns();
        let mut core = inner.core.lock();
        let mut event = inner.tick(&mut core, now);
        let result = match core.state {
            CircuitState::Closed | CircuitState::Disabled => Ok(core.generation),
            CircuitState::HalfOpen if core.probes_issued < inner.probes => {
                core.probes_issued += 1;
                Ok(core.generation)
            }
            CircuitState::HalfOpen => Err(CircuitOpen {
                state: CircuitState::HalfOpen,
                retry_after: None,
            }),
            CircuitState::Open => Err(CircuitOpen {
                state: CircuitState::Open,
                retry_after: Some(Duration::from_nanos(core.open_until.saturating_sub(now))),
            }),
            CircuitState::ForcedOpen => Err(CircuitOpen {
                state: CircuitState::ForcedOpen,
                retry_after: None,
            }),
        };
        drop(core);
        inner.fire(event.take());
        match result {
            Ok(generation) => Ok(self.permit(generation)),
            Err(e) => {
                inner.not_permitted.inc();
                Err(e)
            }
        }
    }

    /// Runs `fut` if permitted; an `Err` output counts as a failure, an `Ok` as a success.
    ///
    /// # Errors
    ///
    /// The outer `Err` is [`CircuitOpen`] (then `fut` is never polled); the inner result is the
    /// call's own.
    ///
    /// # Cancel safety
    ///
    /// Dropping the returned future mid-call records nothing ("ignored").
    pub async fn call<F, T, E>(&self, fut: F) -> Result<Result<T, E>, CircuitOpen>
    where
        F: Future<Output = Result<T, E>>,
    {
        let permit = self.acquire()?;
        let out = fut.await;
        permit.record(out.is_err());
        Ok(out)
    }

    /// The current state, after taking any transition that is due (open duration elapsed,
    /// probe timeout passed).
    pub fn state(&self) -> CircuitState {
        let inner = &*self.inner;
        let now = inner.now_ns();
        let mut core = inner.core.lock();
        let event = inner.tick(&mut core, now);
        let state = core.state;
        drop(core);
        inner.fire(event);
        state
    }

    /// Forces the breaker open (Polly's `Isolate`) until [`close`](Self::close).
    pub fn isolate(&self) {
        self.manual(CircuitState::ForcedOpen);
    }

    /// Closes the breaker and clears its window and backoff (Polly's `Close`).
    pub fn close(&self) {
        self.manual(CircuitState::Closed);
    }

    /// Disables the breaker: every call passes and nothing is recorded, until
    /// [`close`](Self::close).
    pub fn disable(&self) {
        self.manual(CircuitState::Disabled);
    }

    fn manual(&self, to: CircuitState) {
        let inner = &*self.inner;
        let now = inner.now_ns();
        let mut core = inner.core.lock();
        let event = inner.transition(&mut core, to, TransitionReason::Manual, now);
        drop(core);
        inner.fire(event);
    }

    /// Counters `successful`, `failed`, `slow`, `not_permitted`, `ignored`, `opened`; gauges
    /// `failure_rate`, `slow_call_rate` (percent) and `window_calls`; and the state.
    pub fn metrics(&self) -> PolicySnapshot {
        self.inner.snapshot()
    }
}

impl Inner {
    fn now_ns(&self) -> u64 {
        crate::clock::nanos_since(self.origin)
    }

    fn instant(&self, ns: u64) -> Instant {
        self.origin + Duration::from_nanos(ns)
    }

    /// Takes the time-driven transitions that are due.
    fn tick(&self, core: &mut Core, now: u64) -> Event {
        match core.state {
            CircuitState::Open if now >= core.open_until => self.transition(
                core,
                CircuitState::HalfOpen,
                TransitionReason::OpenDurationElapsed,
                now,
            ),
            CircuitState::HalfOpen
                if now.saturating_sub(core.half_open_since) >= self.probe_timeout_ns =>
            {
                self.transition(
                    core,
                    CircuitState::Open,
                    TransitionReason::ProbeTimeout,
                    now,
                )
            }
            _ => None,
        }
    }

    fn transition(
        &self,
        core: &mut Core,
        to: CircuitState,
        reason: TransitionReason,
        now: u64,
    ) -> Event {
        let from = core.state;
        match to {
            CircuitState::Open => {
                let delay = self.open.delay(core.opens, core.last_open, &mut core.rng);
                core.last_open = delay;
                core.opens = core.opens.saturating_add(1);
                core.open_until =
                    now.saturating_add(delay.as_nanos().min(u128::from(u64::MAX / 4)) as u64);
                self.opened.inc();
            }
            CircuitState::HalfOpen => {
                core.half_open_since = now;
                core.probes_issued = 0;
                core.probes_done = 0;
                core.probe_failures = 0;
                core.probe_slow = 0;
            }
            CircuitState::Closed => {
                core.window.reset();
                core.opens = 0;
                core.last_open = Duration::ZERO;
            }
            CircuitState::ForcedOpen | CircuitState::Disabled => {}
        }
        core.state = to;
        core.generation += 1;
        // Release: pairs with the Acquire load in `acquire`.
        self.word
            .store(to.bits() | core.generation << GEN_SHIFT, Release);
        (from != to || reason == TransitionReason::Manual).then(|| StateChange {
            from,
            to,
            reason,
            at: self.instant(now),
        })
    }

    fn fire(&self, event: Event) {
        if let Some(e) = event {
            for l in &self.listeners {
                l(&e);
            }
        }
    }

    /// `part / whole >= threshold`, exactly.
    fn reaches(part: u32, whole: u32, threshold_ppm: u64) -> bool {
        whole > 0 && u64::from(part) * 1_000_000 >= threshold_ppm * u64::from(whole)
    }

    fn record(&self, generation: u64, failure: bool, started: Option<Instant>) {
        let slow = match (self.slow_call, started) {
            (Some(limit), Some(start)) => {
                crate::clock::now().saturating_duration_since(start) >= limit
            }
            _ => false,
        };
        if failure {
            self.failed.inc();
        } else {
            self.successful.inc();
        }
        if slow {
            self.slow.inc();
        }
        let needs_time = slow || self.slow_call.is_some();
        let mut core = self.core.lock();
        if core.generation != generation {
            return; // Stale (invariant 2).
        }
        let now = if core.window.is_timed() || needs_time || core.state == CircuitState::HalfOpen {
            self.now_ns()
        } else {
            0
        };
        let at = || if now == 0 { self.now_ns() } else { now };
        let event = match core.state {
            CircuitState::Closed => {
                core.window.record(now, failure, slow);
                let t = core.window.totals(now);
                if t.calls >= self.minimum_calls.max(1) {
                    if Self::reaches(t.failures, t.calls, self.failure_ppm) {
                        let pct = f64::from(t.failures) * 100.0 / f64::from(t.calls);
                        self.transition(
                            &mut core,
                            CircuitState::Open,
                            TransitionReason::FailureRate(pct),
                            at(),
                        )
                    } else if self.slow_call.is_some()
                        && Self::reaches(t.slow, t.calls, self.slow_ppm)
                    {
                        let pct = f64::from(t.slow) * 100.0 / f64::from(t.calls);
                        self.transition(
                            &mut core,
                            CircuitState::Open,
                            TransitionReason::SlowCallRate(pct),
                            at(),
                        )
                    } else {
                        None
                    }
                } else {
                    None
                }
            }
            CircuitState::HalfOpen => {
                core.probes_done += 1;
                core.probe_failures += u32::from(failure);
                core.probe_slow += u32::from(slow);
                if core.probes_done >= self.probes {
                    let bad =
                        Self::reaches(core.probe_failures, core.probes_done, self.failure_ppm)
                            || (self.slow_call.is_some()
                                && Self::reaches(core.probe_slow, core.probes_done, self.slow_ppm));
                    if bad {
                        self.transition(
                            &mut core,
                            CircuitState::Open,
                            TransitionReason::ProbesFailed,
                            now,
                        )
                    } else {
                        self.transition(
                            &mut core,
                            CircuitState::Closed,
                            TransitionReason::ProbesSucceeded,
                            now,
                        )
                    }
                } else {
                    None
                }
            }
            _ => None,
        };
        drop(core);
        self.fire(event);
    }

    fn release_unrecorded(&self, generation: u64) {
        self.ignored.inc();
        let mut core = self.core.lock();
        if core.generation == generation
            && core.state == CircuitState::HalfOpen
            && core.probes_issued > core.probes_done
        {
            core.probes_issued -= 1;
        }
    }
}

impl BreakerPermit<'_> {
    /// The call succeeded.
    pub fn record_success(self) {
        self.record(false);
    }

    /// The call failed.
    pub fn record_failure(self) {
        self.record(true);
    }

    /// Records a success or a failure.
    pub fn record(mut self, failure: bool) {
        self.done = true;
        self.inner.record(self.generation, failure, self.started);
    }

    /// The outcome says nothing about the dependency (same as dropping the permit).
    pub fn ignore(self) {}
}

impl Drop for BreakerPermit<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.inner.release_unrecorded(self.generation);
        }
    }
}

impl fmt::Debug for BreakerPermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerPermit")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl Metered for Inner {
    fn snapshot(&self) -> PolicySnapshot {
        let now = self.now_ns();
        let mut core = self.core.lock();
        let event = self.tick(&mut core, now);
        let state = core.state;
        let t = core.window.totals(now);
        drop(core);
        self.fire(event);
        let pct = |p: u32| {
            if t.calls == 0 {
                0.0
            } else {
                f64::from(p) * 100.0 / f64::from(t.calls)
            }
        };
        let mut s = PolicySnapshot::new(&self.name, PolicyKind::CircuitBreaker)
            .counter_value("successful", self.successful.get())
            .counter_value("failed", self.failed.get())
            .counter_value("slow", self.slow.get())
            .counter_value("not_permitted", self.not_permitted.get())
            .counter_value("ignored", self.ignored.get())
            .counter_value("opened", self.opened.get())
            .gauge("failure_rate", pct(t.failures))
            .gauge("slow_call_rate", pct(t.slow))
            .gauge("window_calls", f64::from(t.calls));
        s.state = Some(state.as_str());
        s
    }
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Relaxed: a debugging view.
        let word = self.inner.word.load(Relaxed);
        f.debug_struct("CircuitBreaker")
            .field("name", &self.inner.name)
            .field("state_bits", &(word & STATE_MASK))
            .field("generation", &(word >> GEN_SHIFT))
            .finish()
    }
}
