//! Channels ⇄ publishers, with backpressure carried across.
//!
//! - [`Flux::from_receiver`]: a task per subscription receives from the channel only while the
//!   subscriber has unmet demand, so a slow subscriber leaves values in the channel and a
//!   bounded channel makes its senders wait. Each subscriber clones the receiver: several
//!   subscribers share the channel's values (MPMC: each value goes to one of them).
//! - [`Flux::send_to`]: drains a publisher into a channel's sender. It requests a window of 32
//!   and replenishes at 75 % only as sends complete, so at most the window plus the channel's
//!   capacity are in flight: a full channel stops the publisher.
//! - [`Flux::into_channel`]: the same, in a task, returning the receiving end.

use std::future::Future;

use futures_core::Stream;
use spectrum_chan::{Receiver, Sender};

use super::stream::StreamSource;
use super::task::spawn_source;
use crate::spec::{Publisher, Subscriber};
use crate::{Flux, StreamError};

/// The publisher of [`Flux::from_receiver`].
#[derive(Clone, Debug)]
pub struct FromReceiver<T> {
    rx: Receiver<T>,
}

impl<T: Send + 'static> Publisher for FromReceiver<T> {
    type Item = T;
    fn subscribe<S: Subscriber<T>>(&self, s: S) {
        spawn_source(StreamSource(self.rx.clone()), s)
    }
}

impl<T: Send + 'static> Flux<FromReceiver<T>> {
    /// A publisher of the values received from `rx`, read only under demand. Completes when
    /// the channel is closed and drained.
    ///
    /// ```
    /// # spectrum_rt::Runtime::new().unwrap().block_on(async {
    /// use spectrum_stream::Flux;
    /// let (tx, rx) = spectrum_chan::bounded(4);
    /// spectrum_rt::spawn(async move {
    ///     for i in 0..10 { tx.send(i).await.unwrap(); }
    /// }).detach();
    /// let got = Flux::from_receiver(rx).collect::<Vec<_>>().await.unwrap().unwrap();
    /// assert_eq!(got, (0..10).collect::<Vec<_>>());
    /// # });
    /// ```
    pub fn from_receiver(rx: Receiver<T>) -> Self {
        Flux::from_publisher(FromReceiver { rx })
    }
}

/// Items requested at a time by [`Flux::send_to`].
const SEND_WINDOW: usize = 32;

impl<P: Publisher> Flux<P> {
    /// Sends every item into `tx`, waiting whenever the channel is full (the publisher is only
    /// asked for more as sends complete). Resolves to the number of items sent; if every
    /// receiver is gone, the subscription is cancelled and the count so far is returned.
    ///
    /// # Errors
    ///
    /// The publisher's error.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels the subscription; an item being sent is dropped with it.
    pub async fn send_to(self, tx: Sender<P::Item>) -> Result<u64, StreamError> {
        let mut stream = self.into_stream_with(SEND_WINDOW);
        let mut sent = 0;
        loop {
            let next = std::future::poll_fn(|cx| std::pin::Pin::new(&mut stream).poll_next(cx));
            match next.await {
                None => return Ok(sent),
                Some(Err(e)) => return Err(e),
                Some(Ok(v)) => {
                    if tx.send(v).await.is_err() {
                        return Ok(sent);
                    }
                    sent += 1;
                }
            }
        }
    }

    /// Spawns a task that sends the items into a new `bounded(capacity)` channel and returns
    /// its receiver; the error, if any, arrives as the last value. The publisher is held back
    /// while the channel is full; dropping every receiver cancels the subscription.
    ///
    /// # Panics
    ///
    /// Outside a Spectrum runtime.
    pub fn into_channel(self, capacity: usize) -> Receiver<Result<P::Item, StreamError>> {
        let (tx, rx) = spectrum_chan::bounded(capacity);
        let mut stream = self.into_stream_with(SEND_WINDOW);
        spectrum_rt::task::Builder::new()
            .name("spectrum-stream into_channel")
            .spawn(async move {
                let mut closed = Box::pin(tx.closed());
                loop {
                    // Wait for the next item, or for every receiver to go away (then dropping
                    // the stream cancels the subscription).
                    let next = std::future::poll_fn(|cx| {
                        if closed.as_mut().poll(cx).is_ready() {
                            return std::task::Poll::Ready(None);
                        }
                        std::pin::Pin::new(&mut stream).poll_next(cx)
                    });
                    let Some(item) = next.await else { return };
                    let last = item.is_err();
                    if tx.send(item).await.is_err() || last {
                        return;
                    }
                }
            })
            .detach();
        rx
    }
}
