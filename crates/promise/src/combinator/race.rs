//! `race`: the first input to settle (JS `Promise.race`).

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::Engine;

type Out<I> = <<I as Iterator>::Item as IntoFuture>::Output;

/// Returns the output of the first input to settle — success or failure — and cancels the
/// others.
///
/// JS `Promise.race`, Java `CompletableFuture.anyOf`, `futures::future::select_all` — except that
/// the losers are **dropped** (cancelled) before `race` returns. If several inputs are ready when
/// the combinator looks, the earliest in input order wins. Empty input: `None` at once (JS and
/// Java return a promise that never settles, a hang waiting to happen); otherwise `Some(output)`.
///
/// ```
/// # spectrum_rt::Runtime::new().unwrap().block_on(async {
/// use spectrum_promise::{race, Promise};
///
/// let (slow, _r) = Promise::<&str, ()>::with_resolver();
/// let winner = race([slow, Promise::resolved("fast")]).await;
/// assert_eq!(winner, Some(Ok("fast")));
/// # });
/// ```
///
/// # Cancel safety
///
/// Dropping the future drops (cancels) every input.
pub fn race<I>(inputs: I) -> Race<I::IntoIter>
where
    I: IntoIterator,
    I::Item: IntoFuture,
{
    Race {
        engine: Engine::new(inputs.into_iter()),
        done: false,
    }
}

/// [`race`] bounded by `timeout`: `Err(Elapsed)` if no input settled in time (all are dropped).
/// Same as `race(inputs).timeout(timeout)`.
///
/// # Panics
///
/// Outside a Spectrum runtime (the deadline is on its clock).
#[track_caller]
pub fn race_timeout<I>(
    inputs: I,
    timeout: Duration,
) -> spectrum_rt::time::Timeout<Race<I::IntoIter>>
where
    I: IntoIterator,
    I::Item: IntoFuture,
{
    race(inputs).timeout(timeout)
}

/// Future returned by [`race`].
#[must_use = "futures do nothing unless polled"]
pub struct Race<I>
where
    I: Iterator,
    I::Item: IntoFuture,
{
    engine: Engine<I>,
    done: bool,
}

impl<I> Race<I>
where
    I: Iterator,
    I::Item: IntoFuture,
{
    /// Keeps at most `n` inputs started and unsettled at a time (see the
    /// [module docs](crate::combinator)).
    ///
    /// # Panics
    ///
    /// If `n` is zero.
    pub fn limit(mut self, n: usize) -> Self {
        self.engine.set_limit(n);
        self
    }

    /// Bounds the whole combinator by `timeout` on the runtime's clock: `Err(Elapsed)` past it.
    ///
    /// # Panics
    ///
    /// Outside a Spectrum runtime.
    #[track_caller]
    pub fn timeout(self, timeout: Duration) -> spectrum_rt::time::Timeout<Self> {
        spectrum_rt::time::timeout(timeout, self)
    }
}

// The inputs are boxed and never pinned in place.
impl<I> Unpin for Race<I>
where
    I: Iterator,
    I::Item: IntoFuture,
{
}

impl<I> Future for Race<I>
where
    I: Iterator,
    I::Item: IntoFuture,
{
    type Output = Option<Out<I>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        assert!(!this.done, "`Race` polled after completion");
        this.engine.begin_poll(cx);
        match this.engine.poll_next(cx) {
            Poll::Ready(first) => {
                this.done = true;
                this.engine.cancel();
                Poll::Ready(first.map(|(_, out)| out))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<I> fmt::Debug for Race<I>
where
    I: Iterator,
    I::Item: IntoFuture,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Race")
            .field("engine", &self.engine)
            .finish()
    }
}
