//! Future (and promise) → single-value publisher: [`Mono::from_future`],
//! [`Mono::from_try_future`], [`Mono::defer_future`].
//!
//! The future is polled by a Spectrum task once the subscriber has requested (a Rust future is
//! lazy; Reactor's `Mono.fromFuture` takes a `CompletableFuture` that already runs, which is
//! [`Mono::from_future`] applied to a spawned task's `JoinHandle`). Cancelling the subscription
//! drops the future. A `spectrum_promise::Promise<T, E>` is a `Future<Output = Result<T, _>>`
//! and goes through [`Mono::from_try_future`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use spectrum_sync::Mutex;

use super::task::{spawn_source, AsyncSource};
use crate::drain::opaque_debug;
use crate::spec::{Publisher, Subscriber};
use crate::{ErrorKind, Mono, StreamError};

pub(crate) struct FutureSource<F> {
    fut: Option<Pin<Box<F>>>,
}

impl<F, T> AsyncSource for FutureSource<F>
where
    F: Future<Output = Result<T, StreamError>> + Send + 'static,
    T: Send + 'static,
{
    type Item = T;
    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, StreamError>>> {
        match self.fut.as_mut() {
            None => Poll::Ready(None),
            Some(f) => match f.as_mut().poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(r) => {
                    self.fut = None;
                    Poll::Ready(Some(r))
                }
            },
        }
    }
}

/// The publisher of [`Mono::from_future`] and [`Mono::from_try_future`]: single use.
pub struct FromFuture<F> {
    fut: Arc<Mutex<Option<F>>>,
}
opaque_debug!(FromFuture<F>);
impl<F> Clone for FromFuture<F> {
    fn clone(&self) -> Self {
        FromFuture {
            fut: self.fut.clone(),
        }
    }
}

impl<F, T> Publisher for FromFuture<F>
where
    F: Future<Output = Result<T, StreamError>> + Send + 'static,
    T: Send + 'static,
{
    type Item = T;
    fn subscribe<S: Subscriber<T>>(&self, s: S) {
        match self.fut.lock().take() {
            Some(f) => spawn_source(
                FutureSource {
                    fut: Some(Box::pin(f)),
                },
                s,
            ),
            None => crate::ops::reject(
                s,
                StreamError::with_kind(
                    ErrorKind::Rejected,
                    "from_future: the future was already taken by an earlier subscriber \
                     (use defer_future for a fresh future per subscriber)",
                ),
            ),
        }
    }
}

/// The publisher of [`Mono::defer_future`]: a fresh future per subscription.
pub struct DeferFuture<M> {
    make: Arc<M>,
}
opaque_debug!(DeferFuture<M>);
impl<M> Clone for DeferFuture<M> {
    fn clone(&self) -> Self {
        DeferFuture {
            make: self.make.clone(),
        }
    }
}

impl<M, F, T> Publisher for DeferFuture<M>
where
    M: Fn() -> F + Send + Sync + 'static,
    F: Future<Output = Result<T, StreamError>> + Send + 'static,
    T: Send + 'static,
{
    type Item = T;
    fn subscribe<S: Subscriber<T>>(&self, s: S) {
        spawn_source(
            FutureSource {
                fut: Some(Box::pin((self.make)())),
            },
            s,
        )
    }
}

/// A future that cannot fail, as one that can.
pub struct Infallible<F>(Pin<Box<F>>);
opaque_debug!(Infallible<F>);

impl<F: Future> Future for Infallible<F> {
    type Output = Result<F::Output, StreamError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx).map(Ok)
    }
}

/// A future whose error is any `std::error::Error`, mapped to [`StreamError`].
pub struct MapErr<F>(Pin<Box<F>>);
opaque_debug!(MapErr<F>);

impl<F, T, E> Future for MapErr<F>
where
    F: Future<Output = Result<T, E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    type Output = Result<T, StreamError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0
            .as_mut()
            .poll(cx)
            .map(|r| r.map_err(StreamError::new))
    }
}

impl<F> Mono<FromFuture<Infallible<F>>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    /// A `Mono` of the future's output (single use; a second subscriber is rejected).
    pub fn from_future(fut: F) -> Self {
        Mono::wrap(FromFuture {
            fut: Arc::new(Mutex::new(Some(Infallible(Box::pin(fut))))),
        })
    }
}

impl<F, T, E> Mono<FromFuture<MapErr<F>>>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    /// A `Mono` of a fallible future (a promise, a join handle): `Ok` is the item, `Err`
    /// fails the stream with the error as its source (single use).
    pub fn from_try_future(fut: F) -> Self {
        Mono::wrap(FromFuture {
            fut: Arc::new(Mutex::new(Some(MapErr(Box::pin(fut))))),
        })
    }
}

impl<M, F, T> Mono<DeferFuture<M>>
where
    M: Fn() -> F + Send + Sync + 'static,
    F: Future<Output = Result<T, StreamError>> + Send + 'static,
    T: Send + 'static,
{
    /// A `Mono` that calls `make` for a fresh future per subscription (cold; Reactor's
    /// `Mono.fromFuture(Supplier)`).
    pub fn defer_future(make: M) -> Self {
        Mono::wrap(DeferFuture {
            make: Arc::new(make),
        })
    }
}
