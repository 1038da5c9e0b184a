//! Timeout and deadline variants of `send` and `recv`, on the runtime's timers.
//!
//! They cannot be `spectrum_rt::time::timeout(d, tx.send(v))`: that would drop the send future,
//! and the value with it, when the time runs out. These futures withdraw the parked operation
//! instead and report what it had done by then.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::time::{Duration, Instant};

use spectrum_rt::time::{sleep, sleep_until, Sleep};

use crate::error::{RecvError, RecvTimeoutError, SendError, SendTimeoutError};
use crate::op::{Op, Withdrawn};
use crate::waiter::Kind;
use crate::{Receiver, Sender};

impl<T> Sender<T> {
    /// Sends `value`, waiting at most `timeout` for room.
    ///
    /// A value that can be sent at once is sent even with a zero timeout.
    ///
    /// # Errors
    ///
    /// [`SendTimeoutError::Timeout`] or [`SendTimeoutError::Closed`], holding `value`.
    ///
    /// # Panics
    ///
    /// Outside a Spectrum runtime (the timer needs one): enter one with `Runtime::enter` to
    /// call it from a plain thread.
    ///
    /// # Cancel safety
    ///
    /// As [`send`](Sender::send).
    #[track_caller]
    pub fn send_timeout(&self, value: T, timeout: Duration) -> SendTimeout<'_, T> {
        SendTimeout {
            tx: self,
            op: Op::with_value(value),
            sleep: sleep(timeout),
        }
    }

    /// Sends `value`, waiting for room until `deadline` at most.
    ///
    /// # Errors
    ///
    /// As [`send_timeout`](Sender::send_timeout).
    ///
    /// # Panics
    ///
    /// Outside a Spectrum runtime.
    ///
    /// # Cancel safety
    ///
    /// As [`send`](Sender::send).
    #[track_caller]
    pub fn send_deadline(&self, value: T, deadline: Instant) -> SendTimeout<'_, T> {
        SendTimeout {
            tx: self,
            op: Op::with_value(value),
            sleep: sleep_until(deadline),
        }
    }
}

impl<T> Receiver<T> {
    /// Receives a value, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Timeout`] if none came in time, [`RecvTimeoutError::Closed`] if the
    /// channel is closed and drained.
    ///
    /// # Panics
    ///
    /// Outside a Spectrum runtime.
    ///
    /// # Cancel safety
    ///
    /// As [`recv`](Receiver::recv): cancel-safe. A value that arrives as the time runs out is
    /// returned, not dropped.
    #[track_caller]
    pub fn recv_timeout(&self, timeout: Duration) -> RecvTimeout<'_, T> {
        RecvTimeout {
            rx: self,
            op: Op::new(Kind::Recv),
            sleep: sleep(timeout),
        }
    }

    /// Receives a value, waiting until `deadline` at most.
    ///
    /// # Errors
    ///
    /// As [`recv_timeout`](Receiver::recv_timeout).
    ///
    /// # Panics
    ///
    /// Outside a Spectrum runtime.
    ///
    /// # Cancel safety
    ///
    /// As [`recv`](Receiver::recv).
    #[track_caller]
    pub fn recv_deadline(&self, deadline: Instant) -> RecvTimeout<'_, T> {
        RecvTimeout {
            rx: self,
            op: Op::new(Kind::Recv),
            sleep: sleep_until(deadline),
        }
    }
}

/// Future of [`Sender::send_timeout`] and [`Sender::send_deadline`].
#[must_use = "futures do nothing unless polled"]
pub struct SendTimeout<'a, T> {
    tx: &'a Sender<T>,
    op: Op<T>,
    sleep: Sleep,
}

impl<T> Future for SendTimeout<'_, T> {
    type Output = Result<(), SendTimeoutError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `sleep` is structurally pinned (never moved out, dropped in place); `op` is
        // only used through `&`, and `tx` is a plain reference.
        let me = unsafe { self.get_unchecked_mut() };
        if let Poll::Ready(r) = me.op.poll_send(&me.tx.chan, &me.tx.tag, cx) {
            return Poll::Ready(r.map_err(|SendError(v)| SendTimeoutError::Closed(v)));
        }
        // SAFETY: as above.
        if unsafe { Pin::new_unchecked(&mut me.sleep) }
            .poll(cx)
            .is_pending()
        {
            return Poll::Pending;
        }
        Poll::Ready(match me.op.withdraw(&me.tx.chan) {
            // Still waiting (or never parked because the budget ran out): the value is ours.
            Withdrawn::Cancelled | Withdrawn::NotParked => Err(SendTimeoutError::Timeout(
                me.op.take_value().expect("an unsent value"),
            )),
            // Completed just as the time ran out: report what happened.
            Withdrawn::Completed => match me.op.take_value() {
                Some(v) => Err(SendTimeoutError::Closed(v)),
                None => Ok(()),
            },
        })
    }
}

impl<T> Drop for SendTimeout<'_, T> {
    fn drop(&mut self) {
        let _ = self.op.withdraw(&self.tx.chan);
    }
}

impl<T> fmt::Debug for SendTimeout<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendTimeout")
            .field("op", &self.op)
            .field("sleep", &self.sleep)
            .finish()
    }
}

/// Future of [`Receiver::recv_timeout`] and [`Receiver::recv_deadline`].
#[must_use = "futures do nothing unless polled"]
pub struct RecvTimeout<'a, T> {
    rx: &'a Receiver<T>,
    op: Op<T>,
    sleep: Sleep,
}

impl<T> Future for RecvTimeout<'_, T> {
    type Output = Result<T, RecvTimeoutError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: as in `SendTimeout::poll`.
        let me = unsafe { self.get_unchecked_mut() };
        if let Poll::Ready(r) = me.op.poll_recv(&me.rx.chan, &me.rx.tag, cx) {
            return Poll::Ready(r.map_err(|RecvError::Closed| RecvTimeoutError::Closed));
        }
        // SAFETY: as in `SendTimeout::poll`.
        if unsafe { Pin::new_unchecked(&mut me.sleep) }
            .poll(cx)
            .is_pending()
        {
            return Poll::Pending;
        }
        Poll::Ready(match me.op.withdraw(&me.rx.chan) {
            Withdrawn::Cancelled | Withdrawn::NotParked => Err(RecvTimeoutError::Timeout),
            Withdrawn::Completed => me.op.take_value().ok_or(RecvTimeoutError::Closed),
        })
    }
}

impl<T> Drop for RecvTimeout<'_, T> {
    fn drop(&mut self) {
        if self.op.withdraw(&self.rx.chan) == Withdrawn::Completed {
            if let Some(v) = self.op.take_value() {
                self.rx.chan.return_value(v);
            }
        }
    }
}

impl<T> fmt::Debug for RecvTimeout<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvTimeout")
            .field("op", &self.op)
            .field("sleep", &self.sleep)
            .finish()
    }
}
