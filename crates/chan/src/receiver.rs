//! The receiving half: [`Receiver`], its [`Recv`] future and its `Stream` implementation.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use spectrum_sync::atomic::Ordering::*;
use spectrum_sync::Arc;

use crate::chan::Chan;
use crate::error::{RecvError, TryRecvError};
use crate::op::{Op, Withdrawn};
use crate::owners::{Side, Tag};
use crate::waiter::Kind;
use crate::ChannelStats;

/// The receiving half of a channel. Clone it for more consumers (each value goes to exactly one
/// of them); when the last one is dropped, sends fail and return their value.
///
/// It is also a [`futures_core::Stream`] that ends when the channel is closed and drained.
pub struct Receiver<T> {
    pub(crate) chan: Arc<Chan<T>>,
    /// The parked receive of `poll_next`, allocated on first use and reused.
    stream: Exclusive<Option<Pin<Box<Op<T>>>>>,
    /// The task that last used this handle (`owners` module).
    pub(crate) tag: Tag,
}

impl<T> Receiver<T> {
    pub(crate) fn new(chan: Arc<Chan<T>>) -> Receiver<T> {
        Receiver {
            chan,
            stream: Exclusive(None),
            tag: Tag::new(),
        }
    }

    /// Records the current task as this handle's last user (`owners` module).
    #[inline]
    pub(crate) fn used(&self) {
        self.chan.diag.used(Side::Receivers, &self.tag);
    }

    /// Receives a value, waiting while the channel is empty.
    ///
    /// Await it in async code, or call [`.wait()`](Recv::wait) on it from a thread or a fiber.
    ///
    /// ```
    /// let (tx, rx) = spectrum_chan::bounded(0);
    /// std::thread::spawn(move || tx.send("hi").wait().unwrap());
    /// assert_eq!(rx.recv().wait(), Ok("hi"));
    /// assert!(rx.recv().wait().is_err()); // the sender is gone: closed
    /// ```
    ///
    /// # Errors
    ///
    /// [`RecvError::Closed`] once the channel is closed and every buffered value received.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future loses no value. A value handed to it just before the drop
    /// goes to the next waiting receiver, or back to the front of the buffer.
    pub fn recv(&self) -> Recv<'_, T> {
        Recv {
            rx: self,
            op: Op::new(Kind::Recv),
        }
    }

    /// Receives a value if one is available now.
    ///
    /// The one wait it may do: if the next value is still being written by a sender that
    /// claimed its slot a moment ago, it retries for a few microseconds (spinning, then
    /// yielding), and reports `Empty` if that sender has not finished by then (its thread was
    /// preempted).
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if none is, [`TryRecvError::Closed`] if the channel is closed and
    /// drained.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.chan.try_recv(core::ptr::null())
    }

    /// Closes the channel (Go's `close`, from the receiving side): sends fail from now on, and
    /// the values already buffered can still be received. Returns false if it was already closed.
    pub fn close(&self) -> bool {
        self.chan.close()
    }

    /// Closes the channel and drops every buffered value; returns how many were dropped.
    pub fn close_and_discard(&self) -> usize {
        self.chan.close_and_discard()
    }

    /// True once the channel is closed (values may still be buffered).
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// The number of buffered values.
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// True if no value is buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffer's capacity; see [`Sender::capacity`](crate::Sender::capacity).
    pub fn capacity(&self) -> Option<usize> {
        self.chan.capacity()
    }

    /// The number of live `Sender`s.
    pub fn sender_count(&self) -> usize {
        // Relaxed: a snapshot for information; nothing is published through it.
        self.chan.senders.load(Relaxed)
    }

    /// The number of live `Receiver`s.
    pub fn receiver_count(&self) -> usize {
        // Relaxed: as in `sender_count`.
        self.chan.receivers.load(Relaxed)
    }

    /// Time spent blocked on this channel so far (diagnostics).
    pub fn stats(&self) -> ChannelStats {
        self.chan.stats.snapshot()
    }

    /// The channel's id, as task dumps and deadlock reports name it (`recv on channel #3`).
    /// Both halves of a channel have the same id; no two channels share one.
    #[cfg(not(loom))]
    pub fn id(&self) -> u64 {
        self.chan.diag.id()
    }

    /// True if both handles belong to the same channel.
    pub fn same_channel(&self, other: &Receiver<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        // Relaxed: see `Sender::clone`.
        self.chan.receivers.fetch_add(1, Relaxed);
        self.chan.diag.made(Side::Receivers);
        Receiver::new(self.chan.clone())
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.chan.diag.dropped(Side::Receivers, &self.tag);
        if let Some(op) = self.stream.0.take() {
            if op.withdraw(&self.chan) == Withdrawn::Completed {
                if let Some(v) = op.take_value() {
                    self.chan.return_value(v);
                }
            }
        }
        // AcqRel: as in `Sender::drop`.
        if self.chan.receivers.fetch_sub(1, AcqRel) == 1 {
            self.chan.disconnect_receivers();
        }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

/// `Stream` of received values, ending when the channel is closed and drained.
///
/// # Cancel safety
///
/// Cancel-safe: a `next()` future dropped while waiting leaves the wait parked inside the
/// receiver; a value that arrives then is returned by the next poll (or given back to the
/// channel when the receiver is dropped).
impl<T> futures_core::Stream for Receiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let me = self.get_mut();
        let op = me
            .stream
            .0
            .get_or_insert_with(|| Box::pin(Op::new(Kind::Recv)));
        op.poll_recv(&me.chan, &me.tag, cx).map(Result::ok)
    }
}

/// Future of [`Receiver::recv`].
#[must_use = "futures do nothing unless polled"]
pub struct Recv<'a, T> {
    rx: &'a Receiver<T>,
    op: Op<T>,
}

impl<T> Recv<'_, T> {
    /// Blocks until a value arrives: the same as [`Wait::wait`](spectrum_rt::Wait::wait) on
    /// this future (a thread parks, a fiber suspends), with the lock-free attempt made first on
    /// the calling thread, so a receive that needs no waiting costs no wait set-up.
    ///
    /// # Errors
    ///
    /// As the future: [`RecvError::Closed`] once the channel is closed and drained.
    #[cfg(not(loom))]
    #[track_caller]
    #[inline(always)]
    pub fn wait(mut self) -> Result<T, RecvError> {
        if let Some(v) = self.op.recv_now(&self.rx.chan) {
            return Ok(v);
        }
        // Pinned in place, as in `Send::wait`.
        // SAFETY: `self` is a local that is never moved again: it stays in place until it is
        // dropped at the end of this function.
        spectrum_rt::wait::wait_pinned(unsafe { Pin::new_unchecked(&mut self) })
    }
}

impl<T> Future for Recv<'_, T> {
    type Output = Result<T, RecvError>;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let me = self.into_ref().get_ref();
        me.op.poll_recv(&me.rx.chan, &me.rx.tag, cx)
    }
}

impl<T> Drop for Recv<'_, T> {
    fn drop(&mut self) {
        if self.op.withdraw(&self.rx.chan) == Withdrawn::Completed {
            if let Some(v) = self.op.take_value() {
                self.rx.chan.return_value(v);
            }
        }
    }
}

impl<T> fmt::Debug for Recv<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recv").field("op", &self.op).finish()
    }
}

/// A value only reachable through `&mut`, hence shareable between threads whatever its own
/// `Sync`-ness (the idea of the unstable `std::sync::Exclusive`).
struct Exclusive<T>(T);

// SAFETY: `Exclusive` exposes its contents only through `&mut self` (field access from
// `poll_next` and `drop`), so a `&Exclusive` shared between threads gives no access at all.
unsafe impl<T: core::marker::Send> Sync for Exclusive<T> {}
