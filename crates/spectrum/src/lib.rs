//! Every async model on one scheduler: tasks, fibers, actors, channels, promises, reactive
//! streams and threads, with their pitfalls turned into guardrails.
//!
//! This facade only re-exports; each model lives in its own crate.
//!
//! ```
//! #[spectrum::main]
//! async fn main() {
//!     let answer = spectrum::spawn(async { 6 * 7 }).await.unwrap();
//!     assert_eq!(answer, 42);
//! }
//! ```
#![forbid(unsafe_code)]

pub use spectrum_macros::{main, test};
pub use spectrum_rt::{
    cancel, coop, io, leak, net, runtime, scope, task, task_id, time, wait, AbortHandle, Builder,
    Handle, JoinError, JoinHandle, PanicPayload, Runtime, TaskId, TaskInfo, Wait,
};
pub use spectrum_rt::{spawn, spawn_blocking, spawn_local, yield_now};

/// Channels and `select!` (CSP): [`spectrum_chan`].
pub use spectrum_chan as chan;
pub use spectrum_chan::select;
/// Fibers: Go-style sync code on the scheduler: [`spectrum_fiber`].
pub use spectrum_fiber as fiber;
/// Futures/promises and callback bridges: [`spectrum_promise`].
pub use spectrum_promise as promise;
pub use spectrum_promise::{callback, thread};
/// Actors with OTP-style supervision: [`spectrum_actor`].
pub use spectrum_actor as actor;
/// Resilience patterns: [`spectrum_resilience`].
pub use spectrum_resilience as resilience;

#[doc(hidden)]
pub use spectrum_rt::__private;

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
