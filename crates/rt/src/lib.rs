//! Spectrum's runtime core: tasks, a work-stealing scheduler, timers, the blocking pool, network
//! I/O, structured scopes, cancellation, and the universal `.wait()`.
//!
//! Every concurrency model Spectrum offers (async tasks, fibers, actors, channels, promises,
//! reactive streams, threads) runs on this one scheduler. This crate is the part they share; most
//! programs use it through the `spectrum` facade.
//!
//! ```
//! use std::time::Duration;
//! use spectrum_rt::{Runtime, time, Wait};
//!
//! let rt = Runtime::builder().workers(2).build().unwrap();
//! let out = rt.block_on(async {
//!     let child = spectrum_rt::spawn(async {
//!         time::sleep(Duration::from_millis(5)).await;
//!         "done"
//!     });
//!     child.await.unwrap()
//! });
//! assert_eq!(out, "done");
//!
//! // Sync-style code blocks on the same futures with `.wait()`:
//! let _guard = rt.enter();
//! assert_eq!(spectrum_rt::spawn(async { 1 }).wait().unwrap(), 1);
//! ```
#![cfg_attr(loom, allow(dead_code, unused_imports))]

pub mod cancel;
mod context;
pub mod coop;
#[cfg_attr(loom, allow(dead_code))]
mod suspend;
pub mod task;

#[cfg(not(loom))]
mod blocking;
#[cfg(not(loom))]
mod driver;
#[cfg(not(loom))]
pub mod dump;
#[cfg(loom)]
#[path = "sched/inbox.rs"]
pub(crate) mod inbox;
#[cfg(not(loom))]
pub mod io;
#[cfg(not(loom))]
pub mod leak;
#[cfg(not(loom))]
pub mod lockdep;
#[cfg(not(loom))]
pub mod net;
#[cfg_attr(loom, allow(dead_code))]
mod parker;
/// Under loom only the run queue and the inbox of the scheduler are compiled (and
/// model-checked).
#[cfg(loom)]
#[path = "sched/queue.rs"]
pub(crate) mod queue;
#[cfg(not(loom))]
pub mod runtime;
#[cfg(not(loom))]
pub(crate) mod sched;
#[cfg(not(loom))]
pub mod scope;
#[cfg(not(loom))]
mod thread_task;
#[cfg(not(loom))]
pub mod time;
#[cfg(not(loom))]
pub mod wait;
#[cfg(not(loom))]
pub mod waitgraph;

pub use context::task_id;
pub use task::{AbortHandle, JoinError, JoinHandle, PanicPayload, TaskId, TaskInfo};

#[cfg(not(loom))]
pub use runtime::{Builder, Runtime};
#[cfg(not(loom))]
pub use sched::Handle;
#[cfg(not(loom))]
pub use task::{spawn, spawn_blocking, spawn_local, yield_now};
#[cfg(not(loom))]
pub use wait::Wait;

#[doc(hidden)]
#[cfg(not(loom))]
pub mod __private {
    pub use crate::leak::{run_main, run_test, TestConfig};
}
