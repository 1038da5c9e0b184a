//! `select`: wait on several channel operations, receive and send cases alike, and commit
//! exactly one.
//!
//! # Protocol (crossbeam-channel's, on Go's waiter queues)
//!
//! One [`Signal`] is shared by every case of a select. A poll runs these steps:
//!
//! 1. **Order.** A fresh uniformly random permutation of the cases (Go's `pollorder`, a
//!    Fisher-Yates shuffle), or source order when biased.
//! 2. **Pass 1: try.** In that order, lock each case's channel and try the operation without
//!    waiting. The first that proceeds wins: because the order is a uniform permutation, each
//!    ready case wins with equal probability (Go rule 10). Nothing of ours is linked anywhere
//!    during this pass, so there is nothing to undo.
//! 3. With a `default` (`try_select`), stop here. With a deadline that has passed, time out.
//! 4. **Pass 2: park.** Reset the signal to `WAITING`, register the waker, then in the same order
//!    lock each channel and either link the case's waiter (all sharing the signal) or, if the
//!    case has become ready meanwhile, stop linking.
//! 5. If a case became ready in step 4, **abort**: CAS the signal `WAITING -> ABORTED`. If that
//!    fails, a counterpart committed one of our linked cases first: that case won (step 7).
//!    Otherwise unlink every waiter and start over at step 1.
//! 6. Otherwise return `Pending`. A counterpart that finds one of our waiters claims the shared
//!    signal (`WAITING -> CLAIMED`) under its channel's lock; only one claim can succeed, so
//!    exactly one case commits (Go rule 13). Counterparts on the other channels fail to claim
//!    and drop our other waiters as stale.
//! 7. **Commit.** On wake-up the signal names the winning case: collect its result from its
//!    waiter and unlink every other waiter.
//!
//! Cancellation (a dropped future, a deadline) is step 5 without the retry. A case that won
//! but whose result was never handed out (the future or the [`SelectedOperation`] was dropped)
//! gives a received value back to its channel, so a losing or abandoned select never consumes a
//! value.
//!
//! A select never matches with itself: with a send and a receive case on the same rendezvous
//! channel (Go rule 14), each skips the other's waiter.

mod case;
mod core;

use ::core::fmt;
use ::core::future::Future;
use ::core::pin::Pin;
use ::core::task::{ready, Context, Poll};

pub use self::case::{Case, RecvArg, RecvCase, SendArg, SendCase};
pub use self::core::Raw;
use self::core::State;
use crate::chan::Chan;
use crate::error::{RecvError, SelectTimeoutError, SendError, TrySelectError};
use crate::waiter::{Kind, Signal};

type BoxedCase<'a> = Pin<Box<dyn Case + Sync + ::core::marker::Send + 'a>>;

/// A select over a number of cases chosen at run time; [`select!`](crate::select!) runs the
/// same protocol over cases it keeps on the stack.
///
/// Add cases with [`recv`](Select::recv) and [`send`](Select::send) (each returns the case's
/// index), then wait with [`select`](Select::select) (await it, or `.wait()` it), or use
/// [`try_select`](Select::try_select) / [`select_timeout`](Select::select_timeout). The
/// [`SelectedOperation`] names the winning case; hand it the same channel to get the result.
///
/// ```
/// use spectrum_chan::{bounded, Select};
/// use spectrum_rt::Wait;
///
/// let channels: Vec<_> = (0..4).map(|_| bounded::<usize>(1)).collect();
/// channels[2].0.try_send(42).unwrap();
///
/// let mut sel = Select::new();
/// for (_, rx) in &channels {
///     sel.recv(rx);
/// }
/// let op = sel.select().wait();
/// let i = op.index();
/// assert_eq!(i, 2);
/// assert_eq!(op.recv(&channels[i].1), Ok(42));
/// ```
///
/// A select can be reused: receive cases stay armed; a send case is spent once its value went
/// (or failed to go) out.
pub struct Select<'a> {
    cases: Vec<BoxedCase<'a>>,
    signal: Pin<Box<Signal>>,
    state: State,
}

impl Default for Select<'_> {
    fn default() -> Self {
        Select::new()
    }
}

impl<'a> Select<'a> {
    /// An empty select that picks uniformly at random among ready cases.
    pub fn new() -> Select<'a> {
        Select::with_bias(false)
    }

    /// An empty select that picks the first ready case in the order the cases were added
    /// (`biased;` in [`select!`](crate::select!)). Cheaper, and a case that is always ready
    /// starves the ones after it.
    pub fn new_biased() -> Select<'a> {
        Select::with_bias(true)
    }

    fn with_bias(biased: bool) -> Select<'a> {
        Select {
            cases: Vec::new(),
            signal: Box::pin(Signal::new()),
            state: State {
                biased,
                parked: false,
            },
        }
    }

    /// The number of cases (disabled ones included).
    pub fn len(&self) -> usize {
        self.cases.len()
    }

    /// True if no case was added.
    pub fn is_empty(&self) -> bool {
        self.cases.is_empty()
    }

    /// Adds a receive case; `None` adds a disabled case (never chosen). Returns its index.
    pub fn recv<T: ::core::marker::Send + 'a>(&mut self, r: impl RecvArg<'a, T>) -> usize {
        self.cases.push(Box::pin(RecvCase::new(r, true)));
        self.cases.len() - 1
    }

    /// Adds a send case of `value`; `None` adds a disabled case (the value is dropped with the
    /// select). Returns its index.
    pub fn send<T: ::core::marker::Send + 'a>(
        &mut self,
        s: impl SendArg<'a, T>,
        value: T,
    ) -> usize {
        self.cases.push(Box::pin(SendCase::new(s, value, true)));
        self.cases.len() - 1
    }

    /// Waits until one case proceeds and commits it. With no enabled case it waits forever
    /// (Go's `select {}`).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future commits nothing, or, if a case committed just before,
    /// gives a received value back to its channel (a send that committed has been delivered).
    pub fn select(&mut self) -> SelectFuture<'_, 'a> {
        SelectFuture {
            inner: SelectDeadline {
                sel: Some(self),
                #[cfg(not(loom))]
                sleep: None,
            },
        }
    }

    /// As [`select`](Select::select), but gives up at `deadline`.
    ///
    /// # Errors
    ///
    /// [`SelectTimeoutError`] if no case proceeded in time (a case ready at once wins even with
    /// a deadline in the past).
    ///
    /// # Panics
    ///
    /// Outside a Spectrum runtime.
    ///
    /// # Cancel safety
    ///
    /// As [`select`](Select::select).
    #[cfg(not(loom))]
    #[track_caller]
    pub fn select_deadline(&mut self, deadline: std::time::Instant) -> SelectDeadline<'_, 'a> {
        SelectDeadline {
            sel: Some(self),
            sleep: Some(spectrum_rt::time::sleep_until(deadline)),
        }
    }

    /// As [`select`](Select::select), but gives up after `timeout`.
    ///
    /// # Errors
    ///
    /// [`SelectTimeoutError`] if no case proceeded in time.
    ///
    /// # Panics
    ///
    /// Outside a Spectrum runtime.
    ///
    /// # Cancel safety
    ///
    /// As [`select`](Select::select).
    #[cfg(not(loom))]
    #[track_caller]
    pub fn select_timeout(&mut self, timeout: std::time::Duration) -> SelectDeadline<'_, 'a> {
        SelectDeadline {
            sel: Some(self),
            sleep: Some(spectrum_rt::time::sleep(timeout)),
        }
    }

    /// Commits a case that can proceed now, without waiting (Go's `default`).
    ///
    /// # Errors
    ///
    /// [`TrySelectError`] if no case is ready.
    pub fn try_select(&mut self) -> Result<SelectedOperation<'_, 'a>, TrySelectError> {
        let index = self::core::try_select(&self.cases, &self.state)?;
        Ok(SelectedOperation { sel: self, index })
    }

    fn abort(&mut self) {
        if let Some(won) = self::core::abort(&self.cases, &self.signal, &mut self.state) {
            self.cases[won].abandon();
        }
    }

    fn case_for(&self, index: usize, kind: Kind, chan: *const ()) -> &(dyn Case + 'a) {
        let case = &*self.cases[index];
        assert!(
            case.kind() == kind && case.chan_addr() == chan && !chan.is_null(),
            "SelectedOperation: case {index} is not a {} on this channel",
            if kind == Kind::Recv {
                "receive"
            } else {
                "send"
            }
        );
        case
    }
}

impl Drop for Select<'_> {
    fn drop(&mut self) {
        // Only reachable parked if a select future was leaked; the waiters live in our boxes.
        self.abort();
    }
}

impl fmt::Debug for Select<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Select")
            .field("cases", &self.cases.len())
            .field("state", &self.state)
            .finish()
    }
}

/// Future of [`Select::select`]: the committed case.
#[must_use = "futures do nothing unless polled"]
pub struct SelectFuture<'s, 'a> {
    inner: SelectDeadline<'s, 'a>,
}

impl<'s, 'a> Future for SelectFuture<'s, 'a> {
    type Output = SelectedOperation<'s, 'a>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `inner` is structurally pinned: never moved out, dropped in place.
        let inner = unsafe { self.map_unchecked_mut(|s| &mut s.inner) };
        inner
            .poll(cx)
            .map(|r| r.expect("a select without a deadline never times out"))
    }
}

impl fmt::Debug for SelectFuture<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelectFuture")
            .field("done", &self.inner.sel.is_none())
            .finish_non_exhaustive()
    }
}

/// Future of [`Select::select_timeout`] and [`Select::select_deadline`]: the committed case, or
/// [`SelectTimeoutError`].
#[must_use = "futures do nothing unless polled"]
pub struct SelectDeadline<'s, 'a> {
    sel: Option<&'s mut Select<'a>>,
    #[cfg(not(loom))]
    sleep: Option<spectrum_rt::time::Sleep>,
}

impl<'s, 'a> Future for SelectDeadline<'s, 'a> {
    type Output = Result<SelectedOperation<'s, 'a>, SelectTimeoutError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `sleep` is structurally pinned (never moved out; dropped in place); `sel` is
        // a plain reference, moved out only when the future completes.
        let me = unsafe { self.get_unchecked_mut() };
        let sel = me
            .sel
            .as_mut()
            .expect("a select future polled after completion");
        #[cfg(not(loom))]
        let elapsed = |cx: &mut Context<'_>| match me.sleep.as_mut() {
            // SAFETY: as above.
            Some(s) => unsafe { Pin::new_unchecked(s) }.poll(cx).is_ready(),
            None => false,
        };
        #[cfg(loom)]
        let elapsed = |_: &mut Context<'_>| false;
        let Select {
            cases,
            signal,
            state,
        } = &mut **sel;
        // SAFETY: the cases and the signal live in boxes owned by the select, which aborts
        // (unlinking every waiter) before freeing them, in our drop or its own.
        let r = ready!(unsafe { self::core::poll_select(&*cases, signal, state, cx, elapsed) });
        let sel = me.sel.take().expect("checked above");
        Poll::Ready(r.map(|index| SelectedOperation { sel, index }))
    }
}

impl Drop for SelectDeadline<'_, '_> {
    fn drop(&mut self) {
        if let Some(sel) = self.sel.take() {
            sel.abort();
        }
    }
}

impl fmt::Debug for SelectDeadline<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelectDeadline")
            .field("done", &self.sel.is_none())
            .finish_non_exhaustive()
    }
}

/// The committed case of a select: [`index`](SelectedOperation::index) says which; hand
/// [`recv`](SelectedOperation::recv) or [`send`](SelectedOperation::send) the same channel to
/// get its result. Dropping it unread gives a received value back to its channel.
pub struct SelectedOperation<'s, 'a> {
    sel: &'s mut Select<'a>,
    index: usize,
}

impl<'a> SelectedOperation<'_, 'a> {
    /// The index of the committed case (as returned when it was added).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The result of the committed receive case.
    ///
    /// # Errors
    ///
    /// [`RecvError::Closed`] if the case proceeded because the channel is closed and drained.
    ///
    /// # Panics
    ///
    /// If the committed case is not a receive on `r`'s channel, or `r` is `None`.
    pub fn recv<T: 'a>(self, r: impl RecvArg<'a, T>) -> Result<T, RecvError> {
        let r = r
            .receiver()
            .expect("SelectedOperation::recv on a disabled case");
        let chan: *const Chan<T> = &*r.chan;
        let case = self.sel.case_for(self.index, Kind::Recv, chan.cast());
        // SAFETY: `case_for` checked that this case is a `RecvCase` on the channel at `chan`,
        // which is a `Chan<T>`: one live object has one type, so the case is a `RecvCase<T>`.
        let case = unsafe { &*(case as *const (dyn Case + 'a) as *const RecvCase<'a, T>) };
        case.take_result()
    }

    /// The result of the committed send case.
    ///
    /// # Errors
    ///
    /// [`SendError`] with the value if the case proceeded because the channel is closed.
    ///
    /// # Panics
    ///
    /// If the committed case is not a send on `s`'s channel, or `s` is `None`.
    pub fn send<T: 'a>(self, s: impl SendArg<'a, T>) -> Result<(), SendError<T>> {
        let s = s
            .sender()
            .expect("SelectedOperation::send on a disabled case");
        let chan: *const Chan<T> = &*s.chan;
        let case = self.sel.case_for(self.index, Kind::Send, chan.cast());
        // SAFETY: as in `recv`, for a `SendCase<T>`.
        let case = unsafe { &*(case as *const (dyn Case + 'a) as *const SendCase<'a, T>) };
        case.take_result()
    }
}

impl Drop for SelectedOperation<'_, '_> {
    fn drop(&mut self) {
        // A result still there was never read: a received value goes back to its channel.
        self.sel.cases[self.index].abandon();
    }
}

impl fmt::Debug for SelectedOperation<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelectedOperation")
            .field("index", &self.index)
            .finish()
    }
}
