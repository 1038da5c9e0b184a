//! Combinators over any number of futures or promises: `all`, `all_settled`, `race`, `any`.
//!
//! | Spectrum | JS | Java | settles when | output | empty input |
//! |---|---|---|---|---|---|
//! | [`all`] | `Promise.all` | `allOf` + `join` | every input succeeded, or the first failed | `Result<Vec<T>, E>`, values in input order | `Ok(vec![])` at once |
//! | [`all_settled`] | `Promise.allSettled` | `allOf` (then inspect each) | every input settled | `Vec<F::Output>` in input order | `vec![]` at once |
//! | [`race`] | `Promise.race` | `anyOf` | the first input settled, success or failure | `Some(output)` | `None` at once (JS and Java never settle) |
//! | [`any`] | `Promise.any` | — | the first input succeeded, or every one failed | `Result<T, AggregateError<E>>` | `Err` with no errors at once (as JS) |
//!
//! **Losers are cancelled.** When a combinator settles early (`all` on the first failure, `race`
//! on the first settlement, `any` on the first success) it drops every input still running,
//! and the inputs it never started, *before* it returns: a dropped future is cancelled, and a
//! dropped [`Promise`](crate::Promise) that came from a task cancels that task. JS and Java let the
//! losers run on; Spectrum is structured by default.
//!
//! # Where inputs run
//!
//! Inputs are polled inside the combinator's own future, like `futures::future::join_all`: they
//! make progress while the combinator is polled, in whatever task awaits it (or the thread that
//! `.wait()`s on it). A [`Promise`](crate::Promise) input only *reads* work that already runs
//! elsewhere; to run plain futures in parallel on the runtime's workers, turn them into promises
//! first with [`spawn`](crate::spawn).
//!
//! # Large inputs
//!
//! The input iterator is consumed lazily. `.limit(n)` keeps at most `n` inputs started and not
//! yet settled; the next one is taken from the iterator when one settles, in input order. That
//! bounds memory and work for lazy inputs (an `async` block does nothing until first polled),
//! e.g. `all((0..1_000_000).map(fetch)).limit(64)`; for promises, whose work is already
//! running, it only bounds how many are watched at once.
//!
//! # Timeouts
//!
//! `.timeout(d)` (or `all_timeout(inputs, d)` and friends) bounds the whole combinator by the
//! runtime's clock: past the deadline every input still running is dropped and the output is
//! `Err(Elapsed)`. [`all_settled_timeout`] instead returns what settled in time, with `None` for
//! the rest. Timeouts need a Spectrum runtime (they panic outside one, like
//! [`spectrum_rt::time::timeout`]); the combinators themselves work under any executor.
//!
//! # How the polling works
//!
//! Each input is polled once when it is started, with the combinator's own waker: an input that
//! is already complete (a settled promise, `std::future::ready`) costs no more than that poll.
//! An input still pending gets its own waker (the private `ready` module), and from then on only
//! woken inputs are polled. (After a pending input, the next one gets its own waker up front:
//! inputs tend to come alike, and it saves a second poll.) The combinator charges the task's
//! cooperative budget (through the inputs' polls) and stops starting or polling inputs when it is
//! spent, so 10k ready inputs do not monopolize a worker.
//!
//! An input that panics makes the combinator's poll panic (as `join_all` does); on a Spectrum task
//! that arrives as `JoinError::Panicked`.

mod all;
mod all_settled;
mod any;
mod race;
pub(crate) mod ready;

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

pub use all::{all, all_timeout, All};
pub use all_settled::{all_settled, all_settled_timeout, AllSettled, AllSettledTimeout};
pub use any::{any, any_timeout, Any};
pub use race::{race, race_timeout, Race};

use ready::{Child, ReadyQueue};

/// A future output that is a `Result`: what [`all`] and [`any`] need to tell success from
/// failure. Implemented for `Result<T, E>` only.
pub trait TryOutput: sealed::Sealed {
    /// The success type.
    type Ok;
    /// The failure type.
    type Err;
    /// The output as a `Result`.
    fn into_result(self) -> Result<Self::Ok, Self::Err>;
}

impl<T, E> TryOutput for Result<T, E> {
    type Ok = T;
    type Err = E;
    #[inline]
    fn into_result(self) -> Result<T, E> {
        self
    }
}

mod sealed {
    pub trait Sealed {}
    impl<T, E> Sealed for Result<T, E> {}
}

type Fut<I> = <<I as Iterator>::Item as IntoFuture>::IntoFuture;
type Out<I> = <<I as Iterator>::Item as IntoFuture>::Output;

/// The engine every combinator shares: starts inputs (lazily, up to the limit), polls the ones
/// that were woken, and yields `(input index, output)` as inputs settle.
///
/// Use: `begin_poll` once per poll of the combinator, then `poll_next` until it returns
/// `Pending` or `Ready(None)` (every input settled).
pub(crate) struct Engine<I>
where
    I: Iterator,
    I::Item: IntoFuture,
{
    /// Inputs not yet started; `None` once exhausted (or cancelled).
    iter: Option<I>,
    /// Started inputs by index; `None` once settled.
    inputs: Vec<Option<Running<Fut<I>>>>,
    running: usize,
    limit: usize,
    /// Created with the first input that returns `Pending`.
    queue: Option<Arc<ReadyQueue>>,
    /// Woken indices taken from `queue`, polled from `batch_pos` on.
    batch: Vec<usize>,
    batch_pos: usize,
    /// The last input started was pending: start the next one with its own waker at once.
    last_pending: bool,
}

struct Running<F> {
    future: Pin<Box<F>>,
    child: Arc<Child>,
    waker: Waker,
}

impl<I> Engine<I>
where
    I: Iterator,
    I::Item: IntoFuture,
{
    pub(crate) fn new(iter: I) -> Self {
        let (lower, _) = iter.size_hint();
        Engine {
            iter: Some(iter),
            inputs: Vec::with_capacity(lower),
            running: 0,
            limit: usize::MAX,
            queue: None,
            batch: Vec::new(),
            batch_pos: 0,
            last_pending: false,
        }
    }

    /// A lower bound of the number of inputs (for pre-sizing outputs).
    pub(crate) fn size_hint(&self) -> usize {
        self.iter.as_ref().map_or(0, |i| i.size_hint().0) + self.inputs.len()
    }

    pub(crate) fn set_limit(&mut self, limit: usize) {
        assert!(
            limit > 0,
            "a combinator's concurrency limit must be at least 1"
        );
        self.limit = limit;
    }

    /// Inputs started so far.
    pub(crate) fn started(&self) -> usize {
        self.inputs.len()
    }

    /// Registers the combinator's waker and takes the woken inputs (once per poll: an input that
    /// wakes itself while polled is not polled again until the next poll, so a self-waking input
    /// cannot trap the combinator in a loop).
    pub(crate) fn begin_poll(&mut self, cx: &mut Context<'_>) {
        if let Some(queue) = &self.queue {
            queue.register(cx.waker());
            if self.batch_pos == self.batch.len() {
                self.batch.clear();
                self.batch_pos = 0;
                queue.take_into(&mut self.batch);
            }
        }
    }

    /// The next input to settle, `Ready(None)` once every input has, or `Pending`.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<(usize, Out<I>)>> {
        while self.batch_pos < self.batch.len() {
            if !spectrum_rt::coop::has_budget_remaining() {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let index = self.batch[self.batch_pos];
            self.batch_pos += 1;
            if let Some(out) = self.poll_woken(index) {
                return Poll::Ready(Some((index, out)));
            }
        }
        while self.running < self.limit {
            let Some(iter) = &mut self.iter else { break };
            if !spectrum_rt::coop::has_budget_remaining() {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let Some(item) = iter.next() else {
                self.iter = None;
                break;
            };
            if let Some(out) = self.start(item, cx) {
                return Poll::Ready(Some((self.inputs.len() - 1, out)));
            }
        }
        if self.running == 0 && self.iter.is_none() {
            Poll::Ready(None)
        } else {
            // Inputs woken since this poll took the queue already had their one wake-up (the
            // push that made the queue non-empty) spent on this very poll: nothing would wake
            // the combinator again for them. Poll again instead of sleeping on them.
            if self.queue.as_ref().is_some_and(|q| q.has_woken()) {
                cx.waker().wake_by_ref();
            }
            Poll::Pending
        }
    }

    /// Starts one input: polls it with the combinator's waker (no allocation if it is ready),
    /// else gives it its own waker and polls it again so that its wake-ups name it. After a
    /// pending input the next one gets its own waker first (inputs tend to come alike), which
    /// saves the second poll.
    fn start(&mut self, item: I::Item, cx: &mut Context<'_>) -> Option<Out<I>> {
        let index = self.inputs.len();
        let mut future = Box::pin(item.into_future());
        if !self.last_pending {
            if let Poll::Ready(out) = future.as_mut().poll(cx) {
                self.inputs.push(None);
                return Some(out);
            }
        }
        let queue = self.queue.get_or_insert_with(|| {
            let queue = Arc::new(ReadyQueue::default());
            queue.register(cx.waker());
            queue
        });
        let (child, waker) = Child::new(index, queue);
        match future.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(out) => {
                self.last_pending = false;
                self.inputs.push(None);
                Some(out)
            }
            Poll::Pending => {
                self.last_pending = true;
                self.inputs.push(Some(Running {
                    future,
                    child,
                    waker,
                }));
                self.running += 1;
                None
            }
        }
    }

    fn poll_woken(&mut self, index: usize) -> Option<Out<I>> {
        let slot = self.inputs.get_mut(index)?;
        let running = slot.as_mut()?;
        ready::unqueue(&running.child);
        let mut cx = Context::from_waker(&running.waker);
        match running.future.as_mut().poll(&mut cx) {
            Poll::Ready(out) => {
                *slot = None;
                self.running -= 1;
                Some(out)
            }
            Poll::Pending => None,
        }
    }

    /// Drops every running input, in input order, and the iterator of inputs not yet started
    /// (which are never created).
    pub(crate) fn cancel(&mut self) {
        self.running = 0;
        self.batch.clear();
        self.batch_pos = 0;
        for slot in &mut self.inputs {
            drop(slot.take());
        }
        self.iter = None;
    }

    /// As [`cancel`](Self::cancel), but counts the inputs not yet started by draining the
    /// iterator: each is created and dropped without being polled.
    pub(crate) fn cancel_counting(&mut self) -> usize {
        let rest = self.iter.take().map_or(0, Iterator::count);
        self.cancel();
        rest
    }
}

/// Stores `value` at `index`, growing `slots` as inputs are started.
#[inline]
pub(crate) fn put<T>(slots: &mut Vec<Option<T>>, index: usize, value: T) {
    if index >= slots.len() {
        slots.resize_with(index + 1, || None);
    }
    slots[index] = Some(value);
}

impl<I> std::fmt::Debug for Engine<I>
where
    I: Iterator,
    I::Item: IntoFuture,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("started", &self.inputs.len())
            .field("running", &self.running)
            .field("limit", &self.limit)
            .field("exhausted", &self.iter.is_none())
            .finish()
    }
}
