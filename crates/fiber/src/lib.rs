//! Spectrum's fibers: Go-style sync code on the Spectrum scheduler, with pooled guarded stacks,
//! borrowing scopes and structured cancellation.
//!
//! A fiber is a task whose future owns a stack. Inside it, ordinary blocking-style code
//! (`rx.recv().wait()`, `sleep(d).wait()`, `stream.read(&mut buf).wait()`,
//! `handle.join().wait()`, any future's `.wait()`) suspends only the fiber: the worker thread runs
//! other tasks until the future's waker fires. Fibers share the runtime's one scheduler with
//! async tasks: the same [`JoinHandle`](spectrum_rt::JoinHandle) and
//! [`JoinError`](spectrum_rt::JoinError), the same cancellation, the same task list.
//!
//! ```
//! use std::time::Duration;
//! use spectrum_rt::{Runtime, Wait};
//!
//! let rt = Runtime::new().unwrap();
//! let _guard = rt.enter();
//! let (tx, rx) = std::sync::mpsc::channel();
//! let fibers: Vec<_> = (0..100u64)
//!     .map(|i| {
//!         let tx = tx.clone();
//!         spectrum_fiber::spawn(move || {
//!             // Sync-style code: each fiber "blocks" 10 ms, and all of them sleep at once.
//!             spectrum_rt::time::sleep(Duration::from_millis(10)).wait();
//!             tx.send(i).unwrap();
//!             i
//!         })
//!     })
//!     .collect();
//! let sum: u64 = fibers.into_iter().map(|f| f.wait().unwrap()).sum();
//! assert_eq!(sum, 4950);
//! assert_eq!(rx.try_iter().count(), 100);
//! ```
//!
//! # Design
//!
//! **A fiber is a pinned task.** [`spawn`] creates the fiber's future with
//! `task::Builder::spawn_pinned` (listed as a fiber, under its name, in task lists and dumps;
//! queued on the spawning worker, round-robin from outside the runtime, or on another worker
//! when the spawning one holds many more live fibers while a worker is idle, and pinned to
//! whichever worker first runs it: idle workers take fibers that have not started); the future
//! holds a
//! corosensei coroutine on a stack of its own. Polling the task resumes the coroutine with the
//! fiber's `spectrum_rt::wait::SuspendPoint` entered, so `.wait()` inside it polls the future
//! with the task's waker and, while it is pending, switches back to the worker: the poll returns
//! `Pending`. That switch is inlined into the waiting code (no call frame between them keeps the
//! CPU's return prediction in step; see `SuspendPoint`). The waker reschedules the task, the next
//! poll resumes the coroutine where it stopped. (`fiber` module docs: the protocols, step by
//! step.)
//!
//! **Soundness: a fiber never migrates between OS threads.** Its stack may hold references to
//! thread-locals, `!Send` values (`Rc`, `MutexGuard`), and the thread's identity; moving it to
//! another thread would break all of them. The argument:
//!
//! 1. The fiber's future is `!Send` (a `corosensei::Coroutine` is), so the type system keeps it
//!    wherever it was created.
//! 2. It is created on its home worker thread, by the `make` closure that `spawn_pinned` runs
//!    there (only the closure `f: Send` and its settings travel from the spawner), or on the
//!    current worker by [`spawn_local`].
//! 3. Pinned tasks live in their worker's own queue, which is never stolen from; wake-ups from
//!    other threads go through the worker's inbox; when a worker blocks and hands its queue to a
//!    spare thread, pinned tasks stay and wait; at shutdown each worker cancels (drops) its pinned
//!    tasks on its own thread. So every poll, cancellation and drop of the future, and thus every
//!    resume and the final unwind of the coroutine, happens on the home thread.
//! 4. The coroutine never switches out in the middle of unwinding (the panic count is per
//!    thread); see `fiber` invariant 3.
//!
//! Only `T: Send` crosses threads, through the `JoinHandle`, as with any task.
//!
//! **Context switching: corosensei.** Chosen over `context` / `generator` (the engines of `may`)
//! and hand-written assembly because it is small and audited (by the author of `parking_lot`
//! and `hashbrown`), supports every mainstream architecture, is used in production by Wasmer,
//! measures about 3 ns per resume + suspend on these machines, and gets unwinding right: a panic
//! inside a coroutine propagates to its resumer, and backtraces and debuggers walk through the
//! switch (it emits the CFI for it). It also lets us bring our own stacks (the `Stack` trait),
//! which the pool needs.
//!
//! **Stacks: pooled, guarded.** See [`stack`](crate::stack_stats) (`stack` module docs): one
//! `mmap` + one guard page per stack, taken at the fiber's first poll on its home worker from a
//! per-thread cache backed by a global pool. A fresh stack costs about 10 µs, a recycled one
//! about 20 ns.
//!
//! **Stack overflow is a clear fatal error**, never silent corruption: the guard page faults, and
//! a `SIGSEGV` handler on the alternate signal stack recognises the running fiber's guard page
//! and prints `fatal runtime error: fiber "name" (task #id) overflowed its stack of N KiB`
//! before aborting (`overflow` module docs).
//!
//! **Cancellation unwinds.** Cancelling a fiber (dropping its handle, [`JoinHandle::cancel`],
//! a scope's cancellation or deadline dropping it) makes the runtime drop its future at the next
//! suspension point; the drop resumes the coroutine with a cancellation that unwinds its stack,
//! running every destructor, before the stack returns to the pool. A fiber that never suspends
//! is a long poll like any other: the runtime's watchdog reports it.
//!
//! [`JoinHandle::cancel`]: spectrum_rt::JoinHandle::cancel
//!
//! **`.wait()` in a plain async task** is untouched: the runtime still reports it (the fiber's
//! suspend context is registered only while the fiber itself runs).
//!
//! # Limits
//!
//! Each fiber stack costs two memory mappings (the guard page and the stack), and Linux caps a
//! process at `vm.max_map_count` mappings (65530 by default), so about 32k fibers can be alive at
//! once. Spectrum keeps a reserve for the rest of the process and allows
//! `(vm.max_map_count - max(2048, vm.max_map_count / 32)) / 2` stacks: **31 741** by default
//! ([`max_stacks`], [`set_max_stacks`]). Reaching it is an error, never an abort:
//!
//! - [`try_spawn`] and the [`Builder`]'s spawns return [`SpawnErrorKind::StackLimit`] when the
//!   stacks in use have reached the limit; its message says how to raise it
//!   (`sysctl -w vm.max_map_count=262144`, as root). [`spawn`] panics with that message.
//! - Stacks are taken when a fiber first runs, not when it is spawned (a queued fiber costs no
//!   mapping, so spawning 100k short fibers at once works). A fiber spawned past the check that
//!   finds no stack when it starts ends with `JoinError::Panicked` carrying the same message.
//!
//! Resident memory per parked fiber is about one page of stack plus its task (the crate README
//! has the measured table); address space is [`DEFAULT_STACK_SIZE`] per fiber.
#![cfg_attr(loom, allow(dead_code, unused_imports))]

#[cfg(not(unix))]
compile_error!("spectrum-fiber supports Unix targets (Linux first) for now");

mod budget;
#[cfg(not(loom))]
mod builder;
#[cfg(not(loom))]
mod error;
#[cfg(not(loom))]
mod fiber;
#[cfg(not(loom))]
mod overflow;
#[cfg(not(loom))]
mod scope;
#[cfg(not(loom))]
mod stack;

#[cfg(not(loom))]
pub use builder::{spawn, spawn_local, try_spawn, yield_now, Builder};
#[cfg(not(loom))]
pub use error::{SpawnError, SpawnErrorKind};
#[cfg(not(loom))]
pub use scope::{scope, Scope, ScopedJoinHandle};
#[cfg(not(loom))]
pub use stack::{
    max_stacks, set_max_stacks, stack_stats, StackStats, DEFAULT_STACK_SIZE, MAX_STACK_SIZE,
    MIN_STACK_SIZE,
};

/// What a fiber knows about itself; see [`current`].
#[cfg(not(loom))]
#[derive(Clone, Debug)]
pub struct CurrentFiber {
    id: Option<spectrum_rt::TaskId>,
    name: Option<String>,
    stack_size: usize,
}

#[cfg(not(loom))]
impl CurrentFiber {
    /// The fiber's task id.
    pub fn id(&self) -> Option<spectrum_rt::TaskId> {
        self.id
    }

    /// The name given with [`Builder::name`].
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Usable bytes of the fiber's stack.
    pub fn stack_size(&self) -> usize {
        self.stack_size
    }
}

/// The fiber running this code, or `None` outside a fiber.
///
/// ```
/// assert!(spectrum_fiber::current().is_none()); // a test thread is not a fiber
/// ```
#[cfg(not(loom))]
pub fn current() -> Option<CurrentFiber> {
    fiber::with_current(|c| {
        c.map(|c| CurrentFiber {
            id: c.info.id,
            name: c.info.name.as_deref().map(str::to_owned),
            stack_size: c.info.stack_size,
        })
    })
}

/// True if this code runs inside a fiber (where `.wait()` suspends instead of blocking).
#[cfg(not(loom))]
pub fn in_fiber() -> bool {
    fiber::with_current(|c| c.is_some())
}

/// True if a panic payload is the one a cancelled fiber unwinds with. Code that catches panics
/// inside a fiber (`catch_unwind`) should let this one continue (`resume_unwind`); if it
/// swallows it, the fiber's next `.wait()` unwinds again.
///
/// ```
/// let payload: Box<dyn std::any::Any + Send> = Box::new("boom");
/// assert!(!spectrum_fiber::is_cancellation(&*payload));
/// ```
#[cfg(not(loom))]
pub fn is_cancellation(payload: &(dyn std::any::Any + Send)) -> bool {
    payload.is::<fiber::Cancelled>()
}
