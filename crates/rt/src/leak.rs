//! Leak checks: tasks still alive when they should not be (seen pitfalls: goroutine leaks,
//! forgotten cancellation), and the runners behind `#[spectrum::main]` / `#[spectrum::test]`.

use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

use crate::runtime::Builder;
use crate::sched::Handle;
use crate::task::TaskInfo;

/// How long a leak check waits for tasks that are finishing (a cancelled task completes at its
/// next poll), retrying like Go's `goleak`.
pub const DEFAULT_LEAK_GRACE: Duration = Duration::from_millis(250);

/// Tasks still alive after a leak check's grace period.
#[derive(Clone, Debug)]
pub struct Leaks(pub Vec<TaskInfo>);

impl fmt::Display for Leaks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} task(s) still alive:", self.0.len())?;
        for t in &self.0 {
            write!(f, "\n  {t}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Leaks {}

impl Handle {
    /// Waits up to `grace` for every task to finish; returns the ones still alive (excluding the
    /// calling task, if called from one).
    ///
    /// # Errors
    ///
    /// [`Leaks`] listing each live task: name, spawn site, state, age, polls.
    pub fn check_no_leaks(&self, grace: Duration) -> Result<(), Leaks> {
        let me = crate::context::task_id();
        let deadline = Instant::now() + grace;
        let mut backoff = Duration::from_micros(100);
        loop {
            let live: Vec<TaskInfo> = self
                .live_tasks()
                .into_iter()
                .filter(|t| Some(t.id) != me)
                .collect();
            if live.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Leaks(live));
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_millis(10));
        }
    }
}

/// Panics if the current runtime still has live tasks after [`DEFAULT_LEAK_GRACE`], listing them.
///
/// # Panics
///
/// On leaks, or outside a Spectrum runtime.
#[track_caller]
pub fn assert_no_leaks() {
    if let Err(leaks) = Handle::current().check_no_leaks(DEFAULT_LEAK_GRACE) {
        panic!("leak check failed: {leaks}");
    }
}

/// Configuration of a `#[spectrum::test]`.
#[doc(hidden)]
#[derive(Clone, Debug)]
pub struct TestConfig {
    pub workers: Option<usize>,
    pub start_paused: bool,
    pub check_leaks: bool,
}

/// The body of a `#[spectrum::test]`: a fresh runtime (one worker by default), the test, then the
/// leak check.
#[doc(hidden)]
#[track_caller]
pub fn run_test<F: Future>(config: TestConfig, body: F) -> F::Output {
    let rt = Builder::new()
        .workers(config.workers.unwrap_or(1))
        .start_paused(config.start_paused)
        .build()
        .unwrap_or_else(|e| panic!("#[spectrum::test] could not start a runtime: {e}"));
    let out = rt.block_on(body);
    if config.check_leaks {
        if let Err(leaks) = rt.handle().check_no_leaks(DEFAULT_LEAK_GRACE) {
            panic!(
                "#[spectrum::test] leak check failed: the test ended with {leaks}\n(cancel or \
                 await them, or opt out with #[spectrum::test(allow_leaks = true)])"
            );
        }
    }
    out
}

/// The body of a `#[spectrum::main]`.
#[doc(hidden)]
#[track_caller]
pub fn run_main<F: Future>(workers: Option<usize>, body: F) -> F::Output {
    let mut b = Builder::new();
    if let Some(w) = workers {
        b = b.workers(w);
    }
    let rt = b
        .build()
        .unwrap_or_else(|e| panic!("#[spectrum::main] could not start: {e}"));
    rt.block_on(body)
}
