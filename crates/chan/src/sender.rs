//! The sending half: [`Sender`], its futures, [`Permit`] and the [`SendSink`] adapter.

use core::fmt;
use core::future::Future;
use core::mem::ManuallyDrop;
use core::pin::Pin;
use core::task::{Context, Poll};

use spectrum_sync::atomic::Ordering::*;
use spectrum_sync::Arc;

use crate::chan::Chan;
use crate::error::{SendError, TrySendError};
use crate::op::{Op, Withdrawn};
use crate::owners::{Side, Tag};
use crate::waiter::Kind;
use crate::ChannelStats;

/// The sending half of a channel. Clone it for more producers; the channel closes when the last
/// one is dropped (or on [`close`](Sender::close)).
pub struct Sender<T> {
    pub(crate) chan: Arc<Chan<T>>,
    /// The task that last used this handle (`owners` module).
    pub(crate) tag: Tag,
}

impl<T> Sender<T> {
    /// Sends `value`, waiting while the channel is full (on a rendezvous channel: until a
    /// receiver takes it).
    ///
    /// Await it in async code, or call [`.wait()`](Send::wait) on it from a thread or a fiber.
    ///
    /// ```
    /// let (tx, rx) = spectrum_chan::bounded(1);
    /// tx.send(1).wait().unwrap();
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// ```
    ///
    /// # Errors
    ///
    /// [`SendError`] holding `value` if the channel is closed (explicitly or because every
    /// receiver is gone), before or while waiting.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes leaves nothing half-sent: the value is either
    /// delivered (the future would have returned `Ok`) or dropped with the future, never both.
    /// To keep the value across cancellation, [`reserve`](Sender::reserve) a slot first.
    pub fn send(&self, value: T) -> Send<'_, T> {
        Send {
            tx: self,
            op: Op::with_value(value),
        }
    }

    /// Sends `value` if that needs no waiting.
    ///
    /// The one wait it may do: if the free slot is still being read by a receiver that took its
    /// value a moment ago, it retries for a few microseconds (spinning, then yielding), and
    /// reports `Full` if that receiver has not finished by then (its thread was preempted).
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] if the buffer is full (on a rendezvous channel: no receiver is
    /// waiting), [`TrySendError::Closed`] if the channel is closed; both hold `value`.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.chan.try_send(value, core::ptr::null())
    }

    /// Waits for a free slot and reserves it: [`Permit::send`] then sends without waiting.
    ///
    /// On a rendezvous channel a permit is granted while a receiver is waiting; if that receiver
    /// goes away before the permit is used, the value is kept in the channel for the next one
    /// (never lost).
    ///
    /// # Errors
    ///
    /// `SendError(())` if the channel is closed.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a dropped `Reserve` holds no slot (a slot granted just before the drop is
    /// released), and there is no value to lose.
    pub fn reserve(&self) -> Reserve<'_, T> {
        Reserve {
            tx: self,
            op: Op::new(Kind::Reserve),
        }
    }

    /// Reserves a slot if one is free now.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] or [`TrySendError::Closed`], holding `()`.
    pub fn try_reserve(&self) -> Result<Permit<'_, T>, TrySendError<()>> {
        let mut g = self.chan.lock();
        let r = g.try_reserve();
        drop(g);
        r?;
        Ok(Permit { chan: &self.chan })
    }

    /// Completes when the channel is closed (by `close`, or because every receiver is gone).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: it only observes.
    pub fn closed(&self) -> Closed<'_, T> {
        Closed {
            chan: &self.chan,
            op: Op::new(Kind::Closed),
        }
    }

    /// Closes the channel (Go's `close`): further sends fail with their value, receivers drain
    /// what is buffered and then get `Closed`. Returns false if it was already closed (closing
    /// twice is harmless).
    pub fn close(&self) -> bool {
        self.chan.close()
    }

    /// Closes the channel and drops every buffered value; returns how many were dropped. For
    /// the rare producer that must retract what it sent; prefer [`close`](Sender::close).
    pub fn close_and_discard(&self) -> usize {
        self.chan.close_and_discard()
    }

    /// True once the channel is closed.
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

    /// The buffer's capacity: `Some(n)` for `bounded(n)` (`Some(0)` for a rendezvous channel),
    /// `None` for an unbounded channel.
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
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }

    /// Turns this sender into a [`futures_sink::Sink`].
    pub fn into_sink(self) -> SendSink<T> {
        SendSink {
            tx: Some(self),
            op: Box::pin(Op::new(Kind::Reserve)),
            reserved: false,
        }
    }

    /// Records the current task as this handle's last user (`owners` module).
    #[inline]
    pub(crate) fn used(&self) {
        self.chan.diag.used(Side::Senders, &self.tag);
    }

    /// Drops the handle but keeps its count: the channel never disconnects on the sending side
    /// (timer channels and `never`).
    pub(crate) fn into_phantom(self) {
        let me = ManuallyDrop::new(self);
        // SAFETY: `me` is never used or dropped again, so reading the `Arc` out moves it; the
        // sender count is deliberately left as it was.
        drop(unsafe { core::ptr::read(&me.chan) });
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        // Relaxed: a new handle is made from an existing one, which keeps the count above zero;
        // as with `Arc::clone`, no ordering is needed to increment.
        self.chan.senders.fetch_add(1, Relaxed);
        self.chan.diag.made(Side::Senders);
        Sender {
            chan: self.chan.clone(),
            tag: Tag::new(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.chan.diag.dropped(Side::Senders, &self.tag);
        // AcqRel: the last sender must see every other sender's operations before it closes
        // (Acquire), and publish its own (Release), as in `Arc::drop`.
        if self.chan.senders.fetch_sub(1, AcqRel) == 1 {
            self.chan.close();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

/// Future of [`Sender::send`].
#[must_use = "futures do nothing unless polled"]
pub struct Send<'a, T> {
    tx: &'a Sender<T>,
    op: Op<T>,
}

impl<T> Send<'_, T> {
    /// Blocks until the send completes: the same as [`Wait::wait`](spectrum_rt::Wait::wait) on
    /// this future (a thread parks, a fiber suspends), with the lock-free attempt made first on
    /// the calling thread, so a send that needs no waiting costs no wait set-up.
    ///
    /// # Errors
    ///
    /// As the future: [`SendError`] holding the value if the channel is closed.
    #[cfg(not(loom))]
    #[track_caller]
    #[inline(always)]
    pub fn wait(mut self) -> Result<(), SendError<T>> {
        if self.op.send_now(&self.tx.chan) {
            return Ok(());
        }
        // Pinned where it is, not moved into `Wait::wait`'s own pinned slot (a copy of the
        // whole future per blocking send, measurable in a fiber's ping-pong).
        // SAFETY: `self` is a local that is never moved again: it stays in place until it is
        // dropped at the end of this function.
        spectrum_rt::wait::wait_pinned(unsafe { Pin::new_unchecked(&mut self) })
    }
}

impl<T> Future for Send<'_, T> {
    type Output = Result<(), SendError<T>>;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let me = self.into_ref().get_ref();
        me.op.poll_send(&me.tx.chan, &me.tx.tag, cx)
    }
}

impl<T> Drop for Send<'_, T> {
    fn drop(&mut self) {
        // Either way the value (if unsent) is dropped with the node; see the cancel-safety note.
        let _ = self.op.withdraw(&self.tx.chan);
    }
}

impl<T> fmt::Debug for Send<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Send").field("op", &self.op).finish()
    }
}

/// Future of [`Sender::reserve`].
#[must_use = "futures do nothing unless polled"]
pub struct Reserve<'a, T> {
    tx: &'a Sender<T>,
    op: Op<T>,
}

impl<'a, T> Future for Reserve<'a, T> {
    type Output = Result<Permit<'a, T>, SendError<()>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let me = self.into_ref().get_ref();
        me.op
            .poll_reserve(&me.tx.chan, &me.tx.tag, cx)
            .map_ok(|()| Permit { chan: &me.tx.chan })
    }
}

impl<T> Drop for Reserve<'_, T> {
    fn drop(&mut self) {
        if self.op.withdraw(&self.tx.chan) == Withdrawn::Completed && self.op.granted() {
            // Granted after the last poll: nobody will use the slot, free it.
            drop(Permit {
                chan: &self.tx.chan,
            });
        }
    }
}

impl<T> fmt::Debug for Reserve<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reserve").field("op", &self.op).finish()
    }
}

/// A reserved slot: [`send`](Permit::send) delivers without waiting. Dropping it unused frees
/// the slot.
#[must_use = "a permit holds a slot until it is used or dropped"]
pub struct Permit<'a, T> {
    chan: &'a Chan<T>,
}

impl<T> Permit<'_, T> {
    /// Sends `value` into the reserved slot (or straight to a waiting receiver).
    ///
    /// # Errors
    ///
    /// [`SendError`] holding `value` if the channel was closed after the slot was reserved:
    /// nothing enters a closed channel.
    pub fn send(self, value: T) -> Result<(), SendError<T>> {
        let me = ManuallyDrop::new(self);
        let mut g = me.chan.lock();
        let r = g.permit_send(value).map_err(SendError);
        drop(g);
        r
    }
}

impl<T> Drop for Permit<'_, T> {
    fn drop(&mut self) {
        let mut g = self.chan.lock();
        g.release_reservation();
        drop(g);
    }
}

impl<T> fmt::Debug for Permit<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").finish_non_exhaustive()
    }
}

/// Future of [`Sender::closed`].
#[must_use = "futures do nothing unless polled"]
pub struct Closed<'a, T> {
    chan: &'a Chan<T>,
    op: Op<T>,
}

impl<T> Future for Closed<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let me = self.into_ref().get_ref();
        me.op.poll_closed(me.chan, cx)
    }
}

impl<T> Drop for Closed<'_, T> {
    fn drop(&mut self) {
        let _ = self.op.withdraw(self.chan);
    }
}

impl<T> fmt::Debug for Closed<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Closed").field("op", &self.op).finish()
    }
}

/// A [`Sender`] as a [`futures_sink::Sink`]: `poll_ready` reserves a slot, `start_send` fills
/// it, so a value handed to the sink is never lost to a full channel. `poll_close` drops this
/// sender (the channel closes if it was the last one).
///
/// The error is [`SendError`]`<Option<T>>`: `Some(value)` from `start_send` (the channel closed
/// after `poll_ready`), `None` from the other methods.
///
/// # Cancel safety
///
/// Cancel-safe: a value is only handed over in `start_send`, into a slot `poll_ready` already
/// reserved, so nothing is ever half-sent; dropping the sink (or a future driving it) releases
/// a reserved but unused slot.
pub struct SendSink<T> {
    tx: Option<Sender<T>>,
    op: Pin<Box<Op<T>>>,
    reserved: bool,
}

impl<T> SendSink<T> {
    /// The sender, unless the sink was closed.
    pub fn get_ref(&self) -> Option<&Sender<T>> {
        self.tx.as_ref()
    }

    fn release(&mut self) {
        if let Some(tx) = &self.tx {
            if self.op.withdraw(&tx.chan) == Withdrawn::Completed && self.op.granted() {
                self.reserved = true;
            }
            if core::mem::take(&mut self.reserved) {
                drop(Permit { chan: &tx.chan });
            }
        }
    }
}

impl<T> futures_sink::Sink<T> for SendSink<T> {
    type Error = SendError<Option<T>>;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let me = self.get_mut();
        if me.reserved {
            return Poll::Ready(Ok(()));
        }
        let Some(tx) = &me.tx else {
            return Poll::Ready(Err(SendError(None)));
        };
        match me.op.poll_reserve(&tx.chan, &tx.tag, cx) {
            Poll::Ready(Ok(())) => {
                me.reserved = true;
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(_)) => Poll::Ready(Err(SendError(None))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn start_send(self: Pin<&mut Self>, item: T) -> Result<(), Self::Error> {
        let me = self.get_mut();
        let tx = me.tx.as_ref().ok_or(SendError(None))?;
        assert!(
            core::mem::take(&mut me.reserved),
            "SendSink::start_send called without a successful poll_ready"
        );
        Permit { chan: &tx.chan }
            .send(item)
            .map_err(|SendError(v)| SendError(Some(v)))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let me = self.get_mut();
        me.release();
        me.tx = None;
        Poll::Ready(Ok(()))
    }
}

impl<T> Drop for SendSink<T> {
    fn drop(&mut self) {
        self.release();
    }
}

impl<T> fmt::Debug for SendSink<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendSink")
            .field("tx", &self.tx)
            .field("reserved", &self.reserved)
            .finish()
    }
}
