//! `futures::Stream` ⇄ `Publisher`.
//!
//! - **Stream → Publisher** ([`Flux::from_stream`], [`Flux::defer_stream`]): a task per
//!   subscription polls the stream only while the subscriber has unmet demand (exact demand:
//!   one poll per requested item), so the stream is never read ahead.
//! - **Publisher → Stream** ([`Flux::into_stream`], [`Flux::into_stream_with`]): the adapter
//!   subscribes on its first poll, requests a window (default 256), and each time 75 % of the
//!   window has been taken out by `poll_next` it requests that many again (Reactor's
//!   `toStream` / `publishOn` replenishment). At most one window is ever buffered. Dropping the
//!   stream cancels the subscription.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use spectrum_sync::{AtomicWaker, Mutex};

use super::task::{spawn_source, AsyncSource};
use crate::drain::{opaque_debug, replenish_limit, UpstreamSlot};
use crate::spec::{Publisher, Subscriber, Subscription};
use crate::{ErrorKind, Flux, StreamError};

/// The publisher of [`Flux::from_stream`]: single use.
pub struct FromStream<St> {
    stream: Arc<Mutex<Option<St>>>,
}
opaque_debug!(FromStream<St>);
impl<St> Clone for FromStream<St> {
    fn clone(&self) -> Self {
        FromStream {
            stream: self.stream.clone(),
        }
    }
}

/// The publisher of [`Flux::defer_stream`]: a fresh stream per subscription.
pub struct DeferStream<F> {
    make: Arc<F>,
}
opaque_debug!(DeferStream<F>);
impl<F> Clone for DeferStream<F> {
    fn clone(&self) -> Self {
        DeferStream {
            make: self.make.clone(),
        }
    }
}

pub(crate) struct StreamSource<St>(pub(crate) St);

impl<St> AsyncSource for StreamSource<St>
where
    St: Stream + Unpin + Send + 'static,
    St::Item: Send + 'static,
{
    type Item = St::Item;
    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<St::Item, StreamError>>> {
        Pin::new(&mut self.0).poll_next(cx).map(|o| o.map(Ok))
    }
}

/// The publisher of [`Flux::defer_try_stream`]: a fresh stream of `Result`s per subscription.
pub struct DeferTryStream<F> {
    make: Arc<F>,
}
opaque_debug!(DeferTryStream<F>);
impl<F> Clone for DeferTryStream<F> {
    fn clone(&self) -> Self {
        DeferTryStream {
            make: self.make.clone(),
        }
    }
}

pub(crate) struct TryStreamSource<St>(pub(crate) St);

impl<St, T> AsyncSource for TryStreamSource<St>
where
    St: Stream<Item = Result<T, StreamError>> + Unpin + Send + 'static,
    T: Send + 'static,
{
    type Item = T;
    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, StreamError>>> {
        Pin::new(&mut self.0).poll_next(cx)
    }
}

impl<F, St, T> Publisher for DeferTryStream<F>
where
    F: Fn() -> St + Send + Sync + 'static,
    St: Stream<Item = Result<T, StreamError>> + Unpin + Send + 'static,
    T: Send + 'static,
{
    type Item = T;
    fn subscribe<S: Subscriber<T>>(&self, s: S) {
        spawn_source(TryStreamSource((self.make)()), s)
    }
}

impl<F, St, T> Flux<DeferTryStream<F>>
where
    F: Fn() -> St + Send + Sync + 'static,
    St: Stream<Item = Result<T, StreamError>> + Unpin + Send + 'static,
    T: Send + 'static,
{
    /// A publisher of a fresh stream of `Result`s per subscriber: `Ok` items are emitted, the
    /// first `Err` fails the stream. The inverse of [`Flux::into_stream`].
    pub fn defer_try_stream(make: F) -> Self {
        Flux::from_publisher(DeferTryStream {
            make: Arc::new(make),
        })
    }
}

impl<St> Publisher for FromStream<St>
where
    St: Stream + Unpin + Send + 'static,
    St::Item: Send + 'static,
{
    type Item = St::Item;
    fn subscribe<S: Subscriber<St::Item>>(&self, s: S) {
        match self.stream.lock().take() {
            Some(st) => spawn_source(StreamSource(st), s),
            None => crate::ops::reject(
                s,
                StreamError::with_kind(
                    ErrorKind::Rejected,
                    "from_stream: the stream was already consumed by an earlier subscriber \
                     (use defer_stream for a fresh stream per subscriber)",
                ),
            ),
        }
    }
}

impl<F, St> Publisher for DeferStream<F>
where
    F: Fn() -> St + Send + Sync + 'static,
    St: Stream + Unpin + Send + 'static,
    St::Item: Send + 'static,
{
    type Item = St::Item;
    fn subscribe<S: Subscriber<St::Item>>(&self, s: S) {
        spawn_source(StreamSource((self.make)()), s)
    }
}

impl<St> Flux<FromStream<St>>
where
    St: Stream + Unpin + Send + 'static,
    St::Item: Send + 'static,
{
    /// A publisher of the stream's items (single use: a second subscriber is rejected with
    /// `on_error`, rule 1.9). The stream is polled by a Spectrum task, only while there is
    /// demand.
    ///
    /// ```
    /// # spectrum_rt::Runtime::new().unwrap().block_on(async {
    /// use spectrum_stream::Flux;
    /// let s = futures::stream::iter(1..=3);
    /// assert_eq!(Flux::from_stream(s).collect::<Vec<_>>().await.unwrap(), Some(vec![1, 2, 3]));
    /// # });
    /// ```
    pub fn from_stream(stream: St) -> Self {
        Flux::from_publisher(FromStream {
            stream: Arc::new(Mutex::new(Some(stream))),
        })
    }
}

impl<F, St> Flux<DeferStream<F>>
where
    F: Fn() -> St + Send + Sync + 'static,
    St: Stream + Unpin + Send + 'static,
    St::Item: Send + 'static,
{
    /// A publisher that makes a fresh stream with `make` for each subscriber (cold).
    pub fn defer_stream(make: F) -> Self {
        Flux::from_publisher(DeferStream {
            make: Arc::new(make),
        })
    }
}

/// Publisher → `Stream`, with a request window replenished at 75 %.
///
/// # Cancel safety
///
/// `poll_next` is cancel safe (an item not yet taken stays buffered); dropping the stream
/// cancels the subscription.
pub struct IntoStream<P: Publisher> {
    source: Option<P>,
    shared: Arc<StreamShared<P::Item>>,
    window: usize,
    limit: u64,
    consumed: u64,
}

impl<P: Publisher> std::fmt::Debug for IntoStream<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntoStream")
            .field("window", &self.window)
            .finish()
    }
}

impl<P: Publisher> Unpin for IntoStream<P> {}

struct StreamShared<T> {
    q: Mutex<(VecDeque<T>, Option<Option<StreamError>>)>,
    waker: AtomicWaker,
    upstream: UpstreamSlot,
}

struct StreamSubscriber<T> {
    shared: Arc<StreamShared<T>>,
    window: u64,
}

impl<T: Send + 'static> Subscriber<T> for StreamSubscriber<T> {
    fn on_subscribe(&mut self, up: Arc<dyn Subscription>) {
        if self.shared.upstream.set(up.clone()) {
            up.request(self.window);
        }
    }
    fn on_next(&mut self, v: T) {
        self.shared.q.lock().0.push_back(v);
        self.shared.waker.wake();
    }
    fn on_error(&mut self, e: StreamError) {
        self.shared.q.lock().1 = Some(Some(e));
        self.shared.upstream.clear();
        self.shared.waker.wake();
    }
    fn on_complete(&mut self) {
        self.shared.q.lock().1 = Some(None);
        self.shared.upstream.clear();
        self.shared.waker.wake();
    }
}

impl<P: Publisher> Stream for IntoStream<P> {
    type Item = Result<P::Item, StreamError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(p) = this.source.take() {
            this.shared.waker.register(cx.waker());
            p.subscribe(StreamSubscriber {
                shared: this.shared.clone(),
                window: this.window as u64,
            });
        }
        for attempt in 0..2 {
            let item = {
                let mut q = this.shared.q.lock();
                match q.0.pop_front() {
                    Some(v) => Some(Some(Ok(v))),
                    None => match q.1.take() {
                        Some(None) => {
                            q.1 = Some(None);
                            Some(None)
                        }
                        Some(Some(e)) => {
                            q.1 = Some(None);
                            Some(Some(Err(e)))
                        }
                        None => None,
                    },
                }
            };
            match item {
                Some(Some(Ok(v))) => {
                    this.consumed += 1;
                    if this.consumed == this.limit {
                        this.consumed = 0;
                        this.shared.upstream.request(this.limit);
                    }
                    return Poll::Ready(Some(Ok(v)));
                }
                Some(other) => return Poll::Ready(other),
                None if attempt == 0 => this.shared.waker.register(cx.waker()),
                None => {}
            }
        }
        Poll::Pending
    }
}

impl<P: Publisher> Drop for IntoStream<P> {
    fn drop(&mut self) {
        self.shared.upstream.cancel();
    }
}

impl<P: Publisher> Flux<P> {
    /// A `futures::Stream` of the items, with a request window of 256 replenished at 75 %.
    /// Errors arrive as `Err` items, then the stream ends.
    pub fn into_stream(self) -> IntoStream<P> {
        self.into_stream_with(256)
    }

    /// As [`into_stream`](Flux::into_stream), with a request window of `window` items.
    ///
    /// # Panics
    ///
    /// If `window` is zero.
    pub fn into_stream_with(self, window: usize) -> IntoStream<P> {
        assert!(
            window > 0,
            "into_stream_with: the window must be at least 1"
        );
        IntoStream {
            source: Some(self.inner),
            shared: Arc::new(StreamShared {
                q: Mutex::new((VecDeque::new(), None)),
                waker: AtomicWaker::new(),
                upstream: UpstreamSlot::new(),
            }),
            window,
            limit: replenish_limit(window),
            consumed: 0,
        }
    }
}
