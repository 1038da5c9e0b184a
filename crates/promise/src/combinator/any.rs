//! `any`: the first success, or every failure (JS `Promise.any`).

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::{put, Engine, TryOutput};
use crate::error::AggregateError;

type Ok<I> = <<<I as Iterator>::Item as IntoFuture>::Output as TryOutput>::Ok;
type Err<I> = <<<I as Iterator>::Item as IntoFuture>::Output as TryOutput>::Err;

/// Returns the first input to succeed and cancels the others; if every input fails, returns all
/// their errors in input order.
///
/// JS `Promise.any` (whose `AggregateError` is [`AggregateError`] here); Java has no direct
/// counterpart (`anyOf` settles on the first failure too). The losers are **dropped**
/// (cancelled) before `any` returns. Empty input: `Err(AggregateError { errors: vec![] })` at
/// once, as in JS.
///
/// ```
/// # spectrum_rt::Runtime::new().unwrap().block_on(async {
/// use spectrum_promise::{any, Promise, PromiseError};
///
/// let first_ok = any([Promise::<u32, &str>::rejected("a"), Promise::resolved(2)]).await;
/// assert_eq!(first_ok.unwrap(), 2);
///
/// let none_ok = any([Promise::<u32, &str>::rejected("a"), Promise::rejected("b")]).await;
/// let errors = none_ok.unwrap_err().errors;
/// assert_eq!(errors, vec![PromiseError::Rejected("a"), PromiseError::Rejected("b")]);
/// # });
/// ```
///
/// # Cancel safety
///
/// Dropping the future drops (cancels) every input not yet settled and the errors gathered.
pub fn any<I>(inputs: I) -> Any<I::IntoIter>
where
    I: IntoIterator,
    I::Item: IntoFuture,
    <I::Item as IntoFuture>::Output: TryOutput,
{
    Any {
        engine: Engine::new(inputs.into_iter()),
        errors: Vec::new(),
        done: false,
    }
}

/// [`any`] bounded by `timeout`: `Err(Elapsed)` if no input succeeded and not every one failed
/// in time (all still running are dropped). Same as `any(inputs).timeout(timeout)`.
///
/// # Panics
///
/// Outside a Spectrum runtime (the deadline is on its clock).
#[track_caller]
pub fn any_timeout<I>(inputs: I, timeout: Duration) -> spectrum_rt::time::Timeout<Any<I::IntoIter>>
where
    I: IntoIterator,
    I::Item: IntoFuture,
    <I::Item as IntoFuture>::Output: TryOutput,
{
    any(inputs).timeout(timeout)
}

/// Future returned by [`any`].
#[must_use = "futures do nothing unless polled"]
pub struct Any<I>
where
    I: Iterator,
    I::Item: IntoFuture,
    <I::Item as IntoFuture>::Output: TryOutput,
{
    engine: Engine<I>,
    errors: Vec<Option<Err<I>>>,
    done: bool,
}

impl<I> Any<I>
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

// The inputs are boxed and never pinned in place.
impl<I> Unpin for Any<I>
where
    I: Iterator,
    I::Item: IntoFuture,
    <I::Item as IntoFuture>::Output: TryOutput,
{
}

impl<I> Future for Any<I>
where
    I: Iterator,
    I::Item: IntoFuture,
    <I::Item as IntoFuture>::Output: TryOutput,
{
    type Output = Result<Ok<I>, AggregateError<Err<I>>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        assert!(!this.done, "`Any` polled after completion");
        this.engine.begin_poll(cx);
        loop {
            match this.engine.poll_next(cx) {
                Poll::Ready(Some((index, out))) => match out.into_result() {
                    Ok(value) => {
                        this.done = true;
                        this.engine.cancel();
                        this.errors = Vec::new();
                        return Poll::Ready(Ok(value));
                    }
                    Err(error) => put(&mut this.errors, index, error),
                },
                Poll::Ready(None) => {
                    this.done = true;
                    let errors = std::mem::take(&mut this.errors)
                        .into_iter()
                        .map(|e| e.expect("every started input failed"))
                        .collect();
                    return Poll::Ready(Err(AggregateError { errors }));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<I> fmt::Debug for Any<I>
where
    I: Iterator,
    I::Item: IntoFuture,
    <I::Item as IntoFuture>::Output: TryOutput,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Any").field("engine", &self.engine).finish()
    }
}
