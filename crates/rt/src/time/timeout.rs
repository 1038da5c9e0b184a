//! `timeout`: bound a future by a deadline.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::sleep::{deadline_after, Sleep};
use crate::sched;

/// The error of a [`timeout`] whose deadline passed first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed(());

impl Elapsed {
    /// An `Elapsed` error, for combinators that time out on their own terms.
    pub fn new() -> Elapsed {
        Elapsed(())
    }
}

impl Default for Elapsed {
    fn default() -> Self {
        Elapsed::new()
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

/// Runs `future` until it completes or `duration` passes, whichever comes first.
///
/// The future is polled before the timer, so a future that is ready wins even with a zero
/// duration. On timeout the future is dropped (forced cancellation); use a
/// [`CancelToken`](crate::cancel::CancelToken) for cooperative cancellation.
///
/// ```
/// # spectrum_rt::Runtime::new().unwrap().block_on(async {
/// use std::time::Duration;
/// use spectrum_rt::time::{sleep, timeout};
///
/// assert_eq!(timeout(Duration::from_secs(1), async { 5 }).await, Ok(5));
/// assert!(timeout(Duration::from_millis(5), sleep(Duration::from_secs(5))).await.is_err());
/// # });
/// ```
///
/// # Panics
///
/// Outside a Spectrum runtime.
///
/// # Cancel safety
///
/// As cancel-safe as `future` is: dropping the `Timeout` drops `future`.
#[track_caller]
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    let rt = sched::current_rt_or_panic("timeout");
    let now = sched::with_shared(&rt, |s| s.driver.time.clock.now()).unwrap_or_else(Instant::now);
    Timeout {
        future,
        sleep: Sleep::new(rt, deadline_after(now, duration), now),
    }
}

/// Runs `future` until it completes or `deadline` passes.
///
/// # Panics
///
/// Outside a Spectrum runtime.
#[track_caller]
pub fn timeout_at<F: Future>(deadline: Instant, future: F) -> Timeout<F> {
    Timeout {
        future,
        sleep: {
            let rt = sched::current_rt_or_panic("timeout_at");
            let now =
                sched::with_shared(&rt, |s| s.driver.time.clock.now()).unwrap_or_else(Instant::now);
            Sleep::new(rt, deadline, now)
        },
    }
}

/// Future returned by [`timeout`] and [`timeout_at`].
#[must_use = "futures do nothing unless polled"]
pub struct Timeout<F> {
    future: F,
    sleep: Sleep,
}

impl<F> Timeout<F> {
    /// The wrapped future.
    pub fn get_ref(&self) -> &F {
        &self.future
    }

    /// Unwraps the future (the timer is dropped).
    pub fn into_inner(self) -> F {
        self.future
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: structural pinning of both fields; neither is moved out.
        let me = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above.
        if let Poll::Ready(v) = unsafe { Pin::new_unchecked(&mut me.future) }.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        // SAFETY: as above.
        match unsafe { Pin::new_unchecked(&mut me.sleep) }.poll_elapsed(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed(()))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<F> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("sleep", &self.sleep)
            .finish_non_exhaustive()
    }
}
