//! Spectrum's reactive streams: Publisher/Subscriber/Subscription with real `request(n)`
//! demand, a Flux-style operator set bounded by default, hot processors and bridges to futures
//! streams, channels and futures.
//!
//! A reactive stream is a pipeline whose consumer says how much it can take: a subscriber
//! `request`s `n` items and the publisher sends at most that many, so a fast source can never
//! bury a slow consumer, and every operator in between (`map`, `flat_map`, `publish_on`, …)
//! passes the demand upstream. Pick it for pipelines that need backpressure and composition:
//! fan-out with bounded concurrency, time windows, retries, hot sources shared by many
//! consumers. `futures::Stream` pulls one item at a time; here demand is additive `u64` and
//! batches (`request(256)`), and cancellation, errors and completion are part of the protocol
//! (the Reactive Streams rules 1.1–4.2, tested one by one in `tests/rules_*.rs`).
//!
//! ```
//! use std::time::Duration;
//! use spectrum_stream::Flux;
//!
//! # spectrum_rt::Runtime::new().unwrap().block_on(async {
//! let totals = Flux::range(0..1_000u64)
//!     .flat_map_with(|order| Flux::just(order * 3), 8, 32) // at most 8 inners at once
//!     .filter(|total| *total > 100)
//!     .buffer_timeout(100, Duration::from_secs(5)) // batches of 100, or every 5 s
//!     .publish_on() // the rest runs on a Spectrum task
//!     .map(|batch| batch.len())
//!     .collect::<Vec<_>>()
//!     .await
//!     .unwrap()
//!     .unwrap();
//! assert_eq!(totals.iter().sum::<usize>(), 966);
//! # });
//! ```
//!
//! # Design
//!
//! - **The contract** is [`Publisher`], [`Subscriber`], [`Subscription`], [`Processor`]
//!   (module `spec`): additive `u64` demand saturating at [`UNBOUNDED`] = 2^63−1, serial signals,
//!   `request(0)` answered with `on_error`, idempotent thread-safe `cancel` after which the
//!   publisher drops the subscriber, and a panic in a subscriber contained: the subscription is
//!   cancelled and the chain's terminal stage gets [`StreamError::is_panic`].
//! - **Fusion by monomorphisation.** [`Flux<P>`](Flux) wraps a concrete publisher and every
//!   operator returns a new concrete type, so `range.map.filter.reduce` compiles to one loop
//!   with one atomic load per item (cancellation); [`Flux::boxed`] erases the type.
//! - **One drain protocol** (module `drain`, RxJava's queue-drain): every stage with more than
//!   one signal source keeps a `wip` counter; whoever moves it from zero delivers, the others
//!   only record their change. This serializes signals and bounds reentrant `request` →
//!   `on_next` recursion to depth 1 (rule 3.3) without locks on the hot path.
//! - **An asynchronous boundary is a Spectrum task** (`publish_on`, `subscribe_on`, the bridges
//!   from futures and streams, the timers of time operators), so streams show in task dumps and
//!   in `#[spectrum::test]`'s leak check, and time operators run on the runtime's (pausable)
//!   clock: [`testing::StepVerifier`] tests them in virtual time.
//! - **Bounded by default** (DESIGN.md §3.4): `flat_map` takes 256 inners and prefetches 32
//!   from each, `publish_on` queues 256, `group_by` prefetches 256 and *fails* instead of
//!   hanging when the groups outnumber what the downstream takes; anything unbounded is spelled
//!   out (`flat_map_unbounded`, `on_backpressure_buffer(usize::MAX, ..)`, `Overflow::Buffer(usize::MAX)`).
//!
//! # Layout
//!
//! `spec` (the traits), `error`, `drain` (demand counters, the panic guard, the serializer),
//! `flux` and `mono` (the fluent types and constructors), `boxed`; `source` (range and
//! iterators, `generate`, `create` with its [`FluxSink`] and [`Overflow`], the pull-driven
//! subscription every synchronous source shares); `bridge` (futures streams, channels,
//! futures, `interval`); `ops` (one module per operator family, each documented against
//! Reactor); `processor` ([`processor::Multicast`], [`processor::Unicast`]); `testing`
//! ([`testing::TestSubscriber`], [`testing::StepVerifier`]).
//!
//! # Verification
//!
//! Under `RUSTFLAGS="--cfg loom"` only the runtime-independent core compiles (the traits, the
//! drain helpers, the synchronous sources and `create`'s sink), and `loom_tests` model-checks
//! the drain protocol: concurrent requests, cancel racing emission, a push racing a request
//! (`cargo test -p spectrum-stream --release --lib`).
#![forbid(unsafe_code)]
#![cfg_attr(loom, allow(dead_code, unused_imports))]

#[cfg(not(loom))]
mod boxed;
#[cfg(not(loom))]
pub mod bridge;
mod drain;
mod error;
#[cfg(not(loom))]
mod flux;
#[cfg(all(test, loom))]
mod loom_tests;
#[cfg(not(loom))]
mod mono;
#[cfg(not(loom))]
pub mod ops;
#[cfg(not(loom))]
pub mod processor;
pub mod source;
mod spec;
#[cfg(not(loom))]
pub mod testing;

#[cfg(not(loom))]
pub use boxed::{BoxPublisher, DynPublisher};
pub use error::{ErrorKind, StreamError};
#[cfg(not(loom))]
pub use flux::{BoxFlux, Flux};
#[cfg(not(loom))]
pub use mono::{Mono, MonoFuture};
pub use source::{FluxSink, Overflow, SyncSink};
pub use spec::{add_demand, Processor, Publisher, Subscriber, Subscription, UNBOUNDED};
