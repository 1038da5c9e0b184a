//! Synchronization primitives for tasks, threads and fibers alike: `Mutex`, `RwLock`,
//! `Semaphore`, `Notify`, `Barrier`, `OnceCell`, and the `broadcast` and `watch` channels.
//!
//! Every waiting operation is a future: a task `.await`s it, a thread or a fiber calls `.wait()`
//! on the same future (one implementation, as with the channels).
//!
//! | primitive | for | fairness |
//! |---|---|---|
//! | [`Mutex`] | exclusive access, also across `.await` | FIFO |
//! | [`RwLock`] | many readers or one writer | FIFO: a queued writer holds later readers back |
//! | [`Semaphore`] | a cap on concurrency (`acquire_many`, owned permits, `close`) | FIFO, a large request is never starved |
//! | [`Notify`] | a wake-up without data (`notify_one` stores one permit) | FIFO (`notify_last`: LIFO) |
//! | [`Barrier`] | n parties meet, one is the leader | — |
//! | [`OnceCell`] | a value set once, by one async initializer at a time | initializers in FIFO order |
//! | [`broadcast`] | every value to every receiver; a slow one is told how many it missed | — |
//! | [`watch`] | the latest value, and "it changed" | — |
//!
//! Guarantees shared by all of them:
//!
//! - **Cancel safety** is documented on every future. Dropping a queued `lock()`, `acquire()` or
//!   `notified()` gives its place up cleanly: permits it had already collected, or a notification
//!   it had been handed, pass on to the next waiter.
//! - **Guardrails**: a waiting task leaves a wait note (the task dump says "waiting on lock #7");
//!   `Mutex` and `RwLock` tell the runtime's wait-for graph who holds them, so a lock cycle
//!   between tasks is reported as a deadlock, and in debug builds they record the order locks are
//!   taken in, so an inversion is reported the first time it is possible
//!   (`spectrum_rt::lockdep`).
//! - **Uncontended operations take no lock**: one compare-and-swap to lock, one to unlock.
//!
//! ```
//! use std::sync::Arc;
//! use spectrum_chan::sync::{Mutex, Semaphore};
//! use spectrum_rt::Wait;
//!
//! let rt = spectrum_rt::Runtime::new().unwrap();
//! let total = Arc::new(Mutex::new(0u64));
//! let slots = Arc::new(Semaphore::new(4)); // at most 4 at a time, tasks and threads together
//!
//! let thread = {
//!     let (total, slots) = (total.clone(), slots.clone());
//!     std::thread::spawn(move || {
//!         let _permit = slots.acquire().wait().unwrap(); // blocks this OS thread only
//!         *total.lock().wait() += 1;
//!     })
//! };
//! rt.block_on(async {
//!     let _permit = slots.acquire().await.unwrap();
//!     *total.lock().await += 1;
//! });
//! thread.join().unwrap();
//! assert_eq!(*total.lock().wait(), 2);
//! ```

// Under loom, lock-order call sites are `()` and `const fn`s are plain: lints that only fire
// there.
#![cfg_attr(loom, allow(clippy::unit_arg, clippy::manual_range_contains))]

/// A `const fn` normally, a plain `fn` under loom (whose atomics have no `const` constructors).
macro_rules! cfn {
    ($(#[$m:meta])* $vis:vis fn $name:ident $($rest:tt)*) => {
        #[cfg(not(loom))]
        $(#[$m])* $vis const fn $name $($rest)*
        #[cfg(loom)]
        $(#[$m])* $vis fn $name $($rest)*
    };
}
pub(crate) use cfn;

mod barrier;
mod diag;
mod error;
pub(crate) mod id;
mod mutex;
mod node;
mod notify;
mod once_cell;
mod rwlock;
mod sem;
mod semaphore;

pub mod broadcast;
pub mod watch;

pub use barrier::{Barrier, BarrierWait, BarrierWaitResult};
pub use error::{AcquireError, SetError, TryAcquireError, TryLockError};
pub use mutex::{Lock, LockOwned, MappedMutexGuard, Mutex, MutexGuard, OwnedMutexGuard};
pub use notify::{Notified, Notify, OwnedNotified};
pub use once_cell::OnceCell;
pub use rwlock::{
    OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
    MAX_READS,
};
pub use semaphore::{Acquire, AcquireOwned, OwnedSemaphorePermit, Semaphore, SemaphorePermit};
