//! `all`: every input's value, or the first failure (JS `Promise.all`).

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::{put, Engine, TryOutput};

type Ok<I> = <<<I as Iterator>::Item as IntoFuture>::Output as TryOutput>::Ok;
type Err<I> = <<<I as Iterator>::Item as IntoFuture>::Output as TryOutput>::Err;

/// Waits for every input to succeed and returns their values in input order; the first failure
/// cancels the others and is returned (fail-fast).
///
/// JS `Promise.all`, Java `CompletableFuture.allOf(..)` followed by `join` on each — except
/// that the inputs still running at the first failure are **dropped** (cancelled), not left to
/// run on. "First" is the first failure the combinator observes, in the order inputs settle.
/// Empty input: `Ok(vec![])` at once, as in JS.
///
/// Inputs are anything that turns into a future whose output is a `Result`: promises, async
/// blocks, `JoinHandle`s mapped to results, ... (see the [module docs](crate::combinator) for
/// where they run, `.limit(n)` and `.timeout(d)`).
///
/// ```
/// # spectrum_rt::Runtime::new().unwrap().block_on(async {
/// use spectrum_promise::{all, Promise, PromiseError};
///
/// let ok = all([Promise::<u32, &str>::resolved(1), Promise::resolved(2)]).await;
/// assert_eq!(ok, Ok(vec![1, 2]));
///
/// let (pending, _keep) = Promise::<u32, &str>::with_resolver();
/// let failed = all([pending, Promise::rejected("no")]).await;
/// assert_eq!(failed, Err(PromiseError::Rejected("no"))); // `pending` was dropped
/// # });
/// ```
///
/// # Cancel safety
///
/// Dropping the future drops (cancels) every input not yet settled and the values gathered.
pub fn all<I>(inputs: I) -> All<I::IntoIter>
where
    I: IntoIterator,
    I::Item: IntoFuture,
    <I::Item as IntoFuture>::Output: TryOutput,
{
    let engine = Engine::new(inputs.into_iter());
    let values = Vec::with_capacity(engine.size_hint());
    All {
        engine,
        values,
        done: false,
    }
}

/// [`all`] bounded by `timeout`: `Err(Elapsed)` if not every input settled in time (the ones
/// still running are dropped). Same as `all(inputs).timeout(timeout)`.
///
/// # Panics
///
/// Outside a Spectrum runtime (the deadline is on its clock).
#[track_caller]
pub fn all_timeout<I>(inputs: I, timeout: Duration) -> spectrum_rt::time::Timeout<All<I::IntoIter>>
where
    I: IntoIterator,
    I::Item: IntoFuture,
    <I::Item as IntoFuture>::Output: TryOutput,
{
    all(inputs).timeout(timeout)
}

/// Future returned by [`all`].
#[must_use = "futures do nothing unless polled"]
pub struct All<I>
where
    I: Iterator,
    I::Item: IntoFuture,
    <I::Item as IntoFuture>::Output: TryOutput,
{
    engine: Engine<I>,
    values: Vec<Option<Ok<I>>>,
    done: bool,
}

impl<I> All<I>
where
    I: Iterator,
    I::Item: IntoFuture,
    <I::Item as IntoFuture>::Output: TryOutput,
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

// The inputs are boxed and never pinned in place: moving an `All` moves no pinned data.
impl<I> Unpin for All<I>
where
    I: Iterator,
    I::Item: IntoFuture,
    <I::Item as IntoFuture>::Output: TryOutput,
{
}

impl<I> Future for All<I>
where
    I: Iterator,
    I::Item: IntoFuture,
    <I::Item as IntoFuture>::Output: TryOutput,
{
    type Output = Result<Vec<Ok<I>>, Err<I>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        assert!(!this.done, "`All` polled after completion");
        this.engine.begin_poll(cx);
        loop {
            match this.engine.poll_next(cx) {
                Poll::Ready(Some((index, out))) => match out.into_result() {
                    Ok(value) => put(&mut this.values, index, value),
                    Err(error) => {
                        this.done = true;
                        this.engine.cancel();
                        this.values = Vec::new();
                        return Poll::Ready(Err(error));
                    }
                },
                Poll::Ready(None) => {
                    this.done = true;
                    let values = std::mem::take(&mut this.values);
                    debug_assert_eq!(values.len(), this.engine.started());
                    return Poll::Ready(Ok(values
                        .into_iter()
                        .map(|v| v.expect("every started input produced a value"))
                        .collect()));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<I> fmt::Debug for All<I>
where
    I: Iterator,
    I::Item: IntoFuture,
    <I::Item as IntoFuture>::Output: TryOutput,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("All").field("engine", &self.engine).finish()
    }
}
