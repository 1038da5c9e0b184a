//! A `tower::Layer` for [`Pipeline`] (feature `tower`), so the whole stack drops into axum,
//! tonic or hyper services.
//!
//! [`PipelineLayer`] wraps any `Service<Req>` whose response and error types match the pipeline's
//! `T` and `E`. Each call runs through the pipeline; each attempt clones the inner service,
//! drives it to readiness and calls it with a clone of the request (so `Req: Clone`, as tower's
//! own `Retry` requires). `poll_ready` is always ready: readiness of the inner service is awaited
//! per attempt, inside the pipeline's timeout and bulkhead, which is where a resilience stack
//! wants back-pressure to count.
//!
//! ```
//! use std::time::Duration;
//! use spectrum_resilience::{tower::PipelineLayer, Pipeline, Timeout};
//! use tower::{Layer, Service};
//!
//! let pipeline = Pipeline::<u32, std::convert::Infallible>::builder()
//!     .timeout(Timeout::new(Duration::from_secs(1)).unwrap())
//!     .build();
//! let inner = tower::service_fn(|x: u32| async move { Ok(x * 2) });
//! let mut svc = PipelineLayer::new(pipeline).layer(inner);
//!
//! let rt = spectrum_rt::Runtime::new().unwrap();
//! assert_eq!(rt.block_on(svc.call(21)).unwrap(), 42);
//! ```

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};

use tower::{Layer, Service};

use crate::{Error, Pipeline};

/// Wraps services in a [`Pipeline`].
pub struct PipelineLayer<T, E> {
    pipeline: Pipeline<T, E>,
}

impl<T, E> PipelineLayer<T, E> {
    /// A layer running calls through `pipeline` (shared by every service it wraps).
    pub fn new(pipeline: Pipeline<T, E>) -> Self {
        PipelineLayer { pipeline }
    }
}

impl<T, E> Clone for PipelineLayer<T, E> {
    fn clone(&self) -> Self {
        PipelineLayer {
            pipeline: self.pipeline.clone(),
        }
    }
}

impl<S, T, E> Layer<S> for PipelineLayer<T, E> {
    type Service = PipelineService<S, T, E>;

    fn layer(&self, inner: S) -> Self::Service {
        PipelineService {
            inner,
            pipeline: self.pipeline.clone(),
        }
    }
}

/// A service whose calls run through a [`Pipeline`].
pub struct PipelineService<S, T, E> {
    inner: S,
    pipeline: Pipeline<T, E>,
}

impl<S: Clone, T, E> Clone for PipelineService<S, T, E> {
    fn clone(&self) -> Self {
        PipelineService {
            inner: self.inner.clone(),
            pipeline: self.pipeline.clone(),
        }
    }
}

impl<S, Req, T, E> Service<Req> for PipelineService<S, T, E>
where
    S: Service<Req, Response = T, Error = E> + Clone + Send + 'static,
    S::Future: Send,
    Req: Clone + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    type Response = T;
    type Error = Error<E>;
    type Future = Pin<Box<dyn Future<Output = Result<T, Error<E>>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let svc = self.inner.clone();
        let pipeline = self.pipeline.clone();
        Box::pin(async move {
            pipeline
                .call(move |_attempt| {
                    let mut svc = svc.clone();
                    let req = req.clone();
                    async move {
                        poll_fn(|cx| svc.poll_ready(cx)).await?;
                        svc.call(req).await
                    }
                })
                .await
        })
    }
}

impl<T, E> fmt::Debug for PipelineLayer<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineLayer")
            .field("pipeline", &self.pipeline)
            .finish()
    }
}

impl<S, T, E> fmt::Debug for PipelineService<S, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineService")
            .field("pipeline", &self.pipeline)
            .finish_non_exhaustive()
    }
}
