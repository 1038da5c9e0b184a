//! The `tower::Layer` adapter (feature `tower`).
#![cfg(feature = "tower")]

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use spectrum_resilience::tower::PipelineLayer;
use spectrum_resilience::{Backoff, Error, Pipeline, Retry, Timeout};
use tower::{Layer, Service, ServiceExt};

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn the_layer_retries_and_times_out_a_tower_service() {
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let inner = tower::service_fn(move |req: u32| {
        let n = c.fetch_add(1, SeqCst);
        async move {
            if n == 0 {
                return Err("flaky");
            }
            if req == 0 {
                spectrum_rt::time::sleep(Duration::from_secs(10)).await;
            }
            Ok(req + 1)
        }
    });
    let pipeline = Pipeline::<u32, &str>::builder()
        .retry(
            Retry::builder()
                .max_attempts(2)
                .backoff(Backoff::constant(Duration::from_millis(1)))
                .retry_timeouts(false)
                .build()
                .unwrap(),
        )
        .timeout(Timeout::new(Duration::from_millis(100)).unwrap())
        .build();
    let mut svc = PipelineLayer::new(pipeline).layer(inner);
    assert_eq!(svc.ready().await.unwrap().call(41).await, Ok(42));
    assert_eq!(calls.load(SeqCst), 2);
    assert!(matches!(svc.call(0).await, Err(Error::TimedOut(_))));
}
