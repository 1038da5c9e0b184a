//! The operators, one concept per module; each `Flux` method is documented where it is
//! implemented, with its semantics against Reactor's.

use std::sync::Arc;

use crate::spec::{Subscriber, Subscription};
use crate::StreamError;

mod backpressure;
mod buffer;
mod combine;
mod flat_map;
pub mod group_by;
mod limit;
mod limit_rate;
mod retry;
mod schedule;
mod switch_map;
pub(crate) mod terminal;
mod time;
mod transform;
mod window;

pub use backpressure::OnBackpressure;
pub use buffer::{Buffer, BufferTimeout};
pub use combine::{CombineLatest, Zip};
pub use flat_map::{FlatMap, Merge, DEFAULT_CONCURRENCY, DEFAULT_PREFETCH};
pub use group_by::{GroupBy, GroupedFlux};
pub use limit::{Skip, Take, TakeWhile};
pub use limit_rate::LimitRate;
pub use retry::{RetrySpec, RetryWhen};
pub use schedule::{PublishOn, SubscribeOn, MAX_PREFETCH, YIELD_AFTER};
pub use switch_map::SwitchMap;
pub use terminal::{ForEach, Last, Reduce};
pub use time::{Sample, Throttle, Timeout};
pub use transform::{DistinctUntilChanged, FilterMap, Map, Scan};
pub use window::Window;

/// A subscription that does nothing: for subscribers that are told "no" at once.
#[derive(Debug)]
pub(crate) struct NoopSubscription;

impl Subscription for NoopSubscription {
    fn request(&self, _n: u64) {}
    fn cancel(&self) {}
}

/// Rule 1.9: a publisher that refuses a subscriber still calls `on_subscribe` first, then
/// `on_error`.
pub(crate) fn reject<T, S: Subscriber<T>>(mut s: S, e: StreamError) {
    let _ = crate::drain::guard(|| {
        s.on_subscribe(Arc::new(NoopSubscription));
        s.on_error(e);
    });
}
