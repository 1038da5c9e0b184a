//! `all_settled`: every input's outcome (JS `Promise.allSettled`).

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use spectrum_rt::time::Sleep;

use super::{put, Engine};

type Out<I> = <<I as Iterator>::Item as IntoFuture>::Output;

/// Waits for every input to settle and returns every output, in input order; nothing is
/// cancelled (use it when partial success matters, the seed's advice against `Promise.all`).
///
/// JS `Promise.allSettled` (whose `{status, value | reason}` objects are plain `Result`s here),
/// Java `CompletableFuture.allOf` followed by inspecting each future; also
/// `futures::future::join_all`. Works for any output type, not only `Result`s. Empty input:
/// `vec![]` at once.
///
/// ```
/// # spectrum_rt::Runtime::new().unwrap().block_on(async {
/// use spectrum_promise::{all_settled, Promise, PromiseError};
///
/// let out = all_settled([Promise::<u32, &str>::resolved(1), Promise::rejected("no")]).await;
/// assert_eq!(out, vec![Ok(1), Err(PromiseError::Rejected("no"))]);
/// # });
/// ```
///
/// # Cancel safety
///
/// Dropping the future drops (cancels) every input not yet settled and the outputs gathered.
pub fn all_settled<I>(inputs: I) -> AllSettled<I::IntoIter>
where
    I: IntoIterator,
    I::Item: IntoFuture,
{
    let engine = Engine::new(inputs.into_iter());
    let outputs = Vec::with_capacity(engine.size_hint());
    AllSettled {
        engine,
        outputs,
        done: false,
    }
}

/// [`all_settled`] bounded by `timeout`: returns what settled in time — `Some(output)` — and
/// `None` for every input that had not (those still running are dropped, those not started are
/// never polled: the iterator is drained to count them, so each is created and dropped). Java's
/// `orTimeout` on each input, gathered in one call.
///
/// ```
/// # spectrum_rt::Runtime::builder().start_paused(true).build().unwrap().block_on(async {
/// use std::time::Duration;
/// use spectrum_promise::{all_settled_timeout, Promise};
///
/// let (slow, _r) = Promise::<u32, ()>::with_resolver();
/// let out = all_settled_timeout([Promise::resolved(1), slow], Duration::from_secs(1)).await;
/// assert_eq!(out, vec![Some(Ok(1)), None]);
/// # });
/// ```
///
/// # Panics
///
/// Outside a Spectrum runtime (the deadline is on its clock).
#[track_caller]
pub fn all_settled_timeout<I>(inputs: I, timeout: Duration) -> AllSettledTimeout<I::IntoIter>
where
    I: IntoIterator,
    I::Item: IntoFuture,
{
    all_settled(inputs).timeout(timeout)
}

/// Future returned by [`all_settled`].
#[must_use = "futures do nothing unless polled"]
pub struct AllSettled<I>
where
    I: Iterator,
    I::Item: IntoFuture,
{
    engine: Engine<I>,
    outputs: Vec<Option<Out<I>>>,
    done: bool,
}

impl<I> AllSettled<I>
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

    /// Bounds the combinator by `timeout`; see [`all_settled_timeout`].
    ///
    /// # Panics
    ///
    /// Outside a Spectrum runtime.
    #[track_caller]
    pub fn timeout(self, timeout: Duration) -> AllSettledTimeout<I> {
        AllSettledTimeout {
            inner: self,
            sleep: Box::pin(spectrum_rt::time::sleep(timeout)),
        }
    }

    /// Ends early: what settled so far, `None` for the rest (which are dropped).
    fn cut(&mut self) -> Vec<Option<Out<I>>> {
        self.done = true;
        let started = self.engine.started();
        let unstarted = self.engine.cancel_counting();
        let mut outputs = std::mem::take(&mut self.outputs);
        outputs.resize_with(started + unstarted, || None);
        outputs
    }
}

// The inputs are boxed and never pinned in place.
impl<I> Unpin for AllSettled<I>
where
    I: Iterator,
    I::Item: IntoFuture,
{
}

impl<I> Future for AllSettled<I>
where
    I: Iterator,
    I::Item: IntoFuture,
{
    type Output = Vec<Out<I>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        assert!(!this.done, "`AllSettled` polled after completion");
        this.engine.begin_poll(cx);
        loop {
            match this.engine.poll_next(cx) {
                Poll::Ready(Some((index, out))) => put(&mut this.outputs, index, out),
                Poll::Ready(None) => {
                    this.done = true;
                    let outputs = std::mem::take(&mut this.outputs);
                    return Poll::Ready(
                        outputs
                            .into_iter()
                            .map(|o| o.expect("every started input produced an output"))
                            .collect(),
                    );
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<I> fmt::Debug for AllSettled<I>
where
    I: Iterator,
    I::Item: IntoFuture,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AllSettled")
            .field("engine", &self.engine)
            .finish()
    }
}

/// Future returned by [`all_settled_timeout`] and [`AllSettled::timeout`].
#[must_use = "futures do nothing unless polled"]
pub struct AllSettledTimeout<I>
where
    I: Iterator,
    I::Item: IntoFuture,
{
    inner: AllSettled<I>,
    sleep: Pin<Box<Sleep>>,
}

impl<I> Future for AllSettledTimeout<I>
where
    I: Iterator,
    I::Item: IntoFuture,
{
    type Output = Vec<Option<Out<I>>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if let Poll::Ready(outputs) = Pin::new(&mut this.inner).poll(cx) {
            return Poll::Ready(outputs.into_iter().map(Some).collect());
        }
        match this.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(this.inner.cut()),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<I> fmt::Debug for AllSettledTimeout<I>
where
    I: Iterator,
    I::Item: IntoFuture,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AllSettledTimeout")
            .field("inner", &self.inner)
            .field("sleep", &self.sleep)
            .finish()
    }
}
