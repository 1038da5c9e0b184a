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
    cancel, coop, dump, io, leak, lockdep, net, runtime, scope, task, task_id, time, wait,
    waitgraph, AbortHandle, Builder, Handle, JoinError, JoinHandle, PanicPayload, Runtime, TaskId,
    TaskInfo, Wait,
};
pub use spectrum_rt::{spawn, spawn_blocking, spawn_local, yield_now};

/// Actors with OTP-style supervision: [`spectrum_actor`].
pub use spectrum_actor as actor;
/// Channels and `select!` (CSP): [`spectrum_chan`].
pub use spectrum_chan as chan;
pub use spectrum_chan::select;
/// Locks, semaphores, `Notify`, `Barrier`, `OnceCell`, `broadcast` and `watch`, for tasks,
/// threads and fibers alike: [`spectrum_chan::sync`].
pub use spectrum_chan::sync;
/// Task dumps of a running program (`spectrum dump <pid>`): [`spectrum_diag`].
pub use spectrum_diag as diag;
/// Fibers: Go-style sync code on the scheduler: [`spectrum_fiber`].
pub use spectrum_fiber as fiber;
/// Futures/promises and callback bridges: [`spectrum_promise`].
pub use spectrum_promise as promise;
pub use spectrum_promise::{callback, thread};
/// Resilience patterns: [`spectrum_resilience`].
pub use spectrum_resilience as resilience;
/// Reactive streams with `request(n)` demand: [`spectrum_stream`].
pub use spectrum_stream as stream;

#[doc(hidden)]
pub mod __private {
    pub use spectrum_rt::__private::{run_test, TestConfig};

    /// The body of a `#[spectrum::main]`: the runtime core's, plus the dump endpoint when the
    /// environment asks for it (`SPECTRUM_DUMP=1`, see [`spectrum_diag::serve_from_env`]).
    #[track_caller]
    pub fn run_main<F: std::future::Future>(workers: Option<usize>, body: F) -> F::Output {
        let mut b = spectrum_rt::Builder::new();
        if let Some(w) = workers {
            b = b.workers(w);
        }
        let rt = b
            .build()
            .unwrap_or_else(|e| panic!("#[spectrum::main] could not start: {e}"));
        let _endpoint = spectrum_diag::serve_from_env(rt.handle()).unwrap_or_else(|e| {
            eprintln!(
                "spectrum: no dump endpoint ({}): {e}",
                spectrum_diag::ENV_ENABLE
            );
            None
        });
        rt.block_on(body)
    }
}

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
