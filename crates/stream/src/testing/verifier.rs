//! [`StepVerifier`]: a script of expectations played against a publisher, with virtual time
//! (Reactor's `StepVerifier.withVirtualTime`).
//!
//! Run it inside a runtime whose clock is paused (`#[spectrum::test(start_paused = true)]` or
//! `Builder::start_paused(true)`): [`then_await`](StepVerifier::then_await) and
//! [`expect_no_event`](StepVerifier::expect_no_event) move the clock with
//! `spectrum_rt::time::advance`, so `sample`, `debounce`, `timeout`, `buffer_timeout`,
//! `interval` and retry backoff are tested in microseconds and always the same way. While a step
//! waits for a signal and every worker is idle, the paused clock also jumps to the next timer
//! by itself (the runtime's auto-advance), as virtual time should.
//!
//! ```
//! # spectrum_rt::Runtime::builder().start_paused(true).build().unwrap().block_on(async {
//! use std::time::Duration;
//! use spectrum_stream::{testing::StepVerifier, Flux};
//!
//! StepVerifier::create(Flux::interval(Duration::from_secs(3600)).take(2))
//!     .expect_no_event(Duration::from_secs(3599))
//!     .then_await(Duration::from_secs(1))
//!     .expect_next(0)
//!     .then_await(Duration::from_secs(3600))
//!     .expect_next(1)
//!     .expect_complete()
//!     .verify()
//!     .await; // two virtual hours, a few microseconds of real time
//! # });
//! ```

use std::fmt::Debug;
use std::time::Duration;

use super::subscriber::{Event, TestProbe, TestSubscriber};
use crate::spec::{Publisher, UNBOUNDED};
use crate::StreamError;

type Check<T> = Box<dyn Fn(&T) -> bool + Send>;
type ErrCheck = Box<dyn Fn(&StreamError) -> bool + Send>;

enum Step<T> {
    Next(T),
    NextMatches(Check<T>, String),
    NextCount(u64),
    Request(u64),
    Cancel,
    Await(Duration),
    NoEvent(Duration),
    Complete,
    Error(Option<ErrCheck>),
    Then(Box<dyn FnOnce() + Send>),
}

/// A script of expected signals; see the [module docs](crate::testing).
pub struct StepVerifier<P: Publisher> {
    publisher: P,
    initial: u64,
    steps: Vec<Step<P::Item>>,
}

impl<P: Publisher> std::fmt::Debug for StepVerifier<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepVerifier")
            .field("steps", &self.steps.len())
            .finish()
    }
}

impl<P> StepVerifier<P>
where
    P: Publisher,
    P::Item: Clone + PartialEq + Debug,
{
    /// A script for `publisher` that starts with an unbounded request (Reactor's default).
    pub fn create(publisher: P) -> Self {
        Self::with_initial_request(publisher, UNBOUNDED)
    }

    /// A script that starts by requesting `n` (0: nothing until `then_request`).
    pub fn with_initial_request(publisher: P, n: u64) -> Self {
        StepVerifier {
            publisher,
            initial: n,
            steps: Vec::new(),
        }
    }

    /// The next signal is this item.
    pub fn expect_next(mut self, v: P::Item) -> Self {
        self.steps.push(Step::Next(v));
        self
    }

    /// The next signals are these items.
    pub fn expect_next_seq(mut self, vs: impl IntoIterator<Item = P::Item>) -> Self {
        self.steps.extend(vs.into_iter().map(Step::Next));
        self
    }

    /// The next signal is an item for which `f` holds.
    pub fn expect_next_matches(
        mut self,
        what: &str,
        f: impl Fn(&P::Item) -> bool + Send + 'static,
    ) -> Self {
        self.steps
            .push(Step::NextMatches(Box::new(f), what.to_string()));
        self
    }

    /// The next `n` signals are items.
    pub fn expect_next_count(mut self, n: u64) -> Self {
        self.steps.push(Step::NextCount(n));
        self
    }

    /// Requests `n` more.
    pub fn then_request(mut self, n: u64) -> Self {
        self.steps.push(Step::Request(n));
        self
    }

    /// Cancels; the script ends successfully after this step.
    pub fn then_cancel(mut self) -> Self {
        self.steps.push(Step::Cancel);
        self
    }

    /// Moves the paused clock forward by `d` (sleeps `d` if the clock is not paused).
    pub fn then_await(mut self, d: Duration) -> Self {
        self.steps.push(Step::Await(d));
        self
    }

    /// Moves the clock by `d` and checks that no signal arrived meanwhile.
    pub fn expect_no_event(mut self, d: Duration) -> Self {
        self.steps.push(Step::NoEvent(d));
        self
    }

    /// Runs `f` (to push into a processor, say).
    pub fn then(mut self, f: impl FnOnce() + Send + 'static) -> Self {
        self.steps.push(Step::Then(Box::new(f)));
        self
    }

    /// The next signal is `on_complete`.
    pub fn expect_complete(mut self) -> Self {
        self.steps.push(Step::Complete);
        self
    }

    /// The next signal is `on_error`.
    pub fn expect_error(mut self) -> Self {
        self.steps.push(Step::Error(None));
        self
    }

    /// The next signal is `on_error` with an error for which `f` holds.
    pub fn expect_error_matches(
        mut self,
        f: impl Fn(&StreamError) -> bool + Send + 'static,
    ) -> Self {
        self.steps.push(Step::Error(Some(Box::new(f))));
        self
    }

    /// Subscribes and plays the script.
    ///
    /// # Panics
    ///
    /// At the first step that does not match, with the step, what arrived instead and the
    /// virtual time elapsed; also on any rule violation seen by the subscriber.
    pub async fn verify(self) -> Duration {
        let start = spectrum_rt::time::try_now();
        let (sub, probe) = TestSubscriber::new(self.initial);
        self.publisher.subscribe(sub);
        let mut cursor = 0usize;
        for (i, step) in self.steps.into_iter().enumerate() {
            match step {
                Step::Next(v) => {
                    let ev = next_event(&probe, &mut cursor).await;
                    assert!(
                        ev == Event::Next(v.clone()),
                        "step {i}: expected on_next({v:?}), got {ev:?}"
                    );
                }
                Step::NextMatches(f, what) => {
                    let ev = next_event(&probe, &mut cursor).await;
                    let ok = matches!(&ev, Event::Next(v) if f(v));
                    assert!(ok, "step {i}: expected an item that {what}, got {ev:?}");
                }
                Step::NextCount(n) => {
                    for k in 0..n {
                        let ev = next_event(&probe, &mut cursor).await;
                        assert!(
                            matches!(ev, Event::Next(_)),
                            "step {i}: expected {n} items, item {k} was {ev:?}"
                        );
                    }
                }
                Step::Request(n) => probe.request(n),
                Step::Cancel => {
                    probe.cancel();
                    break;
                }
                Step::Await(d) => advance(d).await,
                Step::NoEvent(d) => {
                    let before = probe.events().len();
                    advance(d).await;
                    let evs = probe.events();
                    assert!(
                        evs.len() == before,
                        "step {i}: expected no event for {d:?}, got {:?}",
                        &evs[before..]
                    );
                }
                Step::Complete => {
                    let ev = next_event(&probe, &mut cursor).await;
                    assert!(
                        ev == Event::Complete,
                        "step {i}: expected on_complete, got {ev:?}"
                    );
                }
                Step::Error(check) => {
                    let ev = next_event(&probe, &mut cursor).await;
                    assert!(
                        matches!(ev, Event::Error(_)),
                        "step {i}: expected on_error, got {ev:?}"
                    );
                    if let Some(f) = check {
                        let e = probe.error().expect("an error event carries the error");
                        assert!(f(&e), "step {i}: the error did not match: {e}");
                    }
                }
                Step::Then(f) => f(),
            }
        }
        probe.assert_no_violations();
        match (start, spectrum_rt::time::try_now()) {
            (Some(a), Some(b)) => b.saturating_duration_since(a),
            _ => Duration::ZERO,
        }
    }
}

async fn advance(d: Duration) {
    if spectrum_rt::time::is_paused() {
        spectrum_rt::time::advance(d).await;
        // Let the tasks the timers woke run (they may wake others in turn).
        for _ in 0..16 {
            spectrum_rt::task::yield_now().await;
        }
    } else {
        spectrum_rt::time::sleep(d).await;
    }
}

async fn next_event<T: Clone + Send + 'static>(
    probe: &TestProbe<T>,
    cursor: &mut usize,
) -> Event<T> {
    let at = *cursor;
    probe.wait_until(|p| p.events().len() > at).await;
    *cursor += 1;
    probe.events()[at].clone()
}
