//! Spectrum's channels: bounded, rendezvous and unbounded MPMC channels with Go's semantics and
//! `select!`, for threads, async tasks and fibers alike.
//!
//! A channel is a queue between tasks that also carries synchronization: a bounded channel makes
//! a fast producer wait for its consumers (backpressure), a rendezvous channel (`bounded(0)`)
//! makes each send wait until a receiver takes the value, and [`select!`] waits on several
//! channel operations at once, receive and send cases alike, committing exactly one.
//!
//! ```
//! let (tx, rx) = spectrum_chan::bounded(16);
//! let producer = std::thread::spawn(move || {
//!     for i in 0..100 {
//!         tx.send(i).wait().unwrap(); // a thread blocks on the same future a task awaits
//!     }
//! }); // the last sender is dropped here: the channel closes
//! let rt = spectrum_rt::Runtime::new().unwrap();
//! let sum = rt.block_on(async move {
//!     let mut sum = 0;
//!     while let Ok(v) = rx.recv().await {
//!         sum += v;
//!     }
//!     sum
//! });
//! assert_eq!(sum, 4950);
//! producer.join().unwrap();
//! ```
//!
//! # The model
//!
//! - **One implementation, every caller.** Each operation is a future written on `Waker`s, so it
//!   runs under any executor; threads and fibers block on the same future with `.wait()`
//!   ([`spectrum_rt::Wait::wait`]; [`Send::wait`] and [`Recv::wait`] are the same with the
//!   lock-free attempt made first, and need no import). There is no second, blocking
//!   implementation.
//! - **Go's rules** (`shared/reference/go-channel-rules.md`), except that nothing panics: sending
//!   on a closed channel returns the value in the error, and closing twice returns `false`.
//!   Dropping every sender closes the channel; dropping every receiver makes sends fail.
//! - **Nothing is lost to cancellation.** Dropping a `recv` future never loses a value; a `send`
//!   future is either delivered or dropped whole; [`Sender::reserve`] gives a [`Permit`] so the
//!   value need not be risked at all; the losing cases of a `select` have no effect.
//! - **Bounded by default**: `unbounded` says so in its name.
//!
//! # Absurd capacities
//!
//! `bounded(n)` with `n <= 4096` allocates its ring of `n` slots up front. Larger bounds, up to
//! `bounded(usize::MAX)`, and `unbounded()` use a list of 31-slot blocks allocated as values
//! arrive, so `bounded(usize::MAX)` is valid and behaves like an unbounded channel that reports
//! `capacity() == Some(usize::MAX)`. If a block cannot be allocated (the allocator refuses),
//! the send waits as if the channel were full instead of aborting the process.
//!
//! Channels of `!Send` values stay on their thread:
//!
//! ```compile_fail
//! fn send<T: Send>(_: T) {}
//! let (tx, _rx) = spectrum_chan::bounded::<std::rc::Rc<u8>>(1);
//! send(tx);
//! ```
//!
//! # Performance
//!
//! A send or receive that needs no waiting never takes a lock: it is a few atomic operations on
//! the buffer (`buf`: Vyukov's bounded queue, crossbeam-channel's block list), and `.wait()` on
//! it from a thread costs no wait set-up ([`Send::wait`], [`Recv::wait`]). The lock and the
//! waiter queues come in only when an operation must wait, and while someone waits. Nothing in
//! the channel makes a runtime worker spin or sleep on another thread's progress: an async
//! task (or a fiber) that finds the lock taken yields and retries, and one that finds a waiter
//! half-completed by a counterpart wakes itself instead of spinning. An OS thread blocked in
//! `.wait()` spins for a few microseconds before it parks.
//!
//! # Layout
//!
//! `chan` is the core (buffer, waiter queues, invariants and protocols), `buf` the lock-free
//! buffers (`ring`, `list`) and `lock` the channel lock; `waiter` the parked operations and the
//! signal that commits exactly one of them; `op` the poll logic shared by every future; `select`
//! (`case`, `core`) the select protocol under both the macro and the builder; `sender`,
//! `receiver`, `timeout`, `timer` and `macros` the public surface; `clock` the blocked-time
//! clock; `loom_tests` the model checks.
#![cfg_attr(loom, allow(dead_code, unused_imports))]

mod buf;
mod chan;
mod clock;
mod error;
mod lock;
mod macros;
mod op;
mod owners;
mod rand;
mod receiver;
mod select;
mod sender;
pub mod sync;
#[cfg(not(loom))]
mod timeout;
#[cfg(not(loom))]
mod timer;
mod waiter;

#[cfg(all(test, loom))]
mod loom_tests;

use std::time::Duration;

use spectrum_sync::Arc;

pub use error::{
    RecvError, RecvTimeoutError, SelectTimeoutError, SendError, SendTimeoutError, TryRecvError,
    TrySelectError, TrySendError,
};
pub use receiver::{Receiver, Recv};
#[doc(hidden)]
pub use select::Case;
pub use select::{RecvArg, SendArg};
pub use select::{Select, SelectDeadline, SelectFuture, SelectedOperation};
pub use sender::{Closed, Permit, Reserve, Send, SendSink, Sender};
#[cfg(not(loom))]
pub use timeout::{RecvTimeout, SendTimeout};
#[cfg(not(loom))]
pub use timer::{after, never, tick};

#[doc(hidden)]
#[cfg(not(loom))]
pub mod __private {
    pub use crate::select::{Raw, RecvCase, SendCase};
    pub use spectrum_rt::Wait;

    /// `select! {}`: a future that never completes.
    #[derive(Debug)]
    pub struct Forever;

    impl core::future::Future for Forever {
        type Output = ();
        fn poll(
            self: core::pin::Pin<&mut Self>,
            _: &mut core::task::Context<'_>,
        ) -> core::task::Poll<()> {
            core::task::Poll::Pending
        }
    }
}

/// Creates a channel that buffers up to `cap` values; `bounded(0)` is a rendezvous channel, in
/// which every send waits until a receiver takes the value.
///
/// ```
/// let (tx, rx) = spectrum_chan::bounded(1);
/// tx.try_send(1).unwrap();
/// assert!(tx.try_send(2).unwrap_err().is_full());
/// assert_eq!(rx.try_recv(), Ok(1));
/// ```
///
/// Any `cap` is accepted; see [the crate docs](crate#absurd-capacities) for huge ones.
pub fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    channel(Some(cap))
}

/// Creates a channel with no bound: sends never wait. Prefer [`bounded`] unless the producer is
/// bounded by something else.
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    channel(None)
}

fn channel<T>(cap: Option<usize>) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(chan::Chan::new(cap));
    (
        Sender {
            chan: chan.clone(),
            tag: crate::owners::Tag::new(),
        },
        Receiver::new(chan),
    )
}

/// Time spent blocked on one channel, for diagnostics ([`Sender::stats`], [`Receiver::stats`]).
///
/// A wait is counted when a blocked operation starts waiting; its time is added when it stops
/// (it completed, timed out or was cancelled), so the time of operations still waiting is not
/// included yet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChannelStats {
    /// Sends (and reservations) that had to wait.
    pub send_waits: u64,
    /// Their total time waiting: a full channel's backpressure.
    pub send_blocked: Duration,
    /// Receives that had to wait.
    pub recv_waits: u64,
    /// Their total time waiting.
    pub recv_blocked: Duration,
}
