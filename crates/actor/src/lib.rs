//! Spectrum's actors: typed, bounded, linked and supervised as in Erlang/OTP, one task and a
//! lazily allocated mailbox each, on the Spectrum scheduler.
//!
//! An actor is state owned by one task and reached only through messages. Pick actors when a
//! program is a set of long-lived, independently failing components (sessions, devices,
//! connections, caches) that should be restarted rather than take the program down: each owns
//! its state without locks, handles one message at a time, and is watched by a supervisor that
//! knows how to restart it.
//!
//! ```
//! use std::time::Duration;
//! use spectrum_actor::supervisor::{ChildSpec, Supervisor};
//! use spectrum_actor::{registry, Actor, Context, Handler};
//!
//! #[derive(Default)]
//! struct Counter(u64);
//! impl Actor for Counter {}
//!
//! struct Incr;
//! impl Handler<Incr> for Counter {
//!     type Reply = u64;
//!     async fn handle(&mut self, _: Incr, _: &mut Context<Self>) -> u64 {
//!         self.0 += 1;
//!         self.0
//!     }
//! }
//!
//! struct Crash;
//! impl Handler<Crash> for Counter {
//!     type Reply = ();
//!     async fn handle(&mut self, _: Crash, _: &mut Context<Self>) {
//!         panic!("boom");
//!     }
//! }
//!
//! # spectrum_rt::Runtime::new().unwrap().block_on(async {
//! let sup = spectrum_actor::spawn(
//!     Supervisor::builder()
//!         .intensity(3, Duration::from_secs(5))
//!         .child(ChildSpec::new("counter", Counter::default).register("lib-doc-counter"))
//!         .build(),
//! );
//! sup.count_children().await.unwrap(); // the children have started
//! let counter = registry::whereis_addr::<Counter>("lib-doc-counter").unwrap();
//! assert_eq!(counter.ask(Incr).await.unwrap(), 1);
//! let _ = counter.ask(Crash).await; // the handler panics: the supervisor restarts it
//! # let old = counter.id();
//! # while registry::whereis("lib-doc-counter").map(|r| r.id()) == Some(old) || registry::whereis("lib-doc-counter").is_none() {
//! #     spectrum_rt::task::yield_now().await;
//! # }
//! let counter = registry::whereis_addr::<Counter>("lib-doc-counter").unwrap();
//! assert_eq!(counter.ask(Incr).await.unwrap(), 1); // fresh state
//! sup.stop();
//! sup.join().await;
//! # });
//! ```
//!
//! # The model
//!
//! - **Turns.** One message at a time, to completion ([`Actor`], [`Handler`], [`SyncHandler`]);
//!   lifecycle hooks `started`, `stopping`, `stopped`.
//! - **Sending** ([`Addr`], [`Recipient`]): `tell` waits for mailbox room, `try_tell` gives the
//!   message back when full, `ask` has a timeout (5 s by default) after which a late reply is
//!   dropped; `send_after` and `interval` run on the runtime's timer wheel. Messages from one
//!   sender arrive in order.
//! - **Mailboxes** ([`Mailbox`]): bounded by default ([`DEFAULT_CAPACITY`]), unbounded only when
//!   asked, with overflow policies ([`Overflow`]); nothing is allocated until the first message;
//!   a system lane (kill > stop > exit/down signals > messages) that user traffic cannot starve;
//!   a per-activation budget ([`DEFAULT_BUDGET`]).
//! - **Failure as in OTP**: a panic or error ends the actor with an [`ExitReason`]; links
//!   ([`Context::link`], `trap_exit`, untrappable [`ActorRef::kill`]) and monitors
//!   ([`Context::monitor`]); [`supervisor`]s with every OTP strategy, restart type, intensity
//!   with escalation, ordered start and shutdown, and backoff.
//! - **Names and groups**: [`registry`], [`group`], and the [`dead_letters`] office.
//! - **Tasks**: each actor is a Spectrum task named after it, listed by
//!   `Runtime::live_tasks()` with `WaitOn::Mailbox` while it waits; [`Builder::spawn_in`] makes
//!   it a scope's child (cancelling the scope stops it gracefully, trees in order);
//!   [`Builder::spawn_fiber`] runs it on a fiber, where sync handlers may block with `.wait()`.
//!
//! # Layout
//!
//! `actor` (traits), `context`, `addr` (handles and send futures), `envelope` (boxed messages,
//! reply slots), `mailbox` (configuration and the mailbox design), `cell` (the shared state:
//! mailbox protocol, links, monitors, death), `run` (the run loop), `spawn`, `timer`, `signal`,
//! `reason`, `error`, `registry`, `group`, `dead_letter`, `supervisor` (`spec`).
#![forbid(unsafe_code)]

mod actor;
mod addr;
mod cell;
mod context;
mod envelope;
mod error;
mod mailbox;
mod process;
mod reason;
mod run;
mod signal;
mod spawn;
mod timer;

mod dead_letter;
pub mod group;
pub mod registry;
pub mod supervisor;

pub use actor::{Actor, Handler, SyncHandler};
pub use addr::{Addr, Ask, Recipient, Tell, WeakAddr, DEFAULT_ASK_TIMEOUT};
pub use context::Context;
pub use error::{AskError, NoProc, RegisterError, TellError, TryTellError};
pub use mailbox::{Mailbox, Overflow, DEFAULT_BUDGET, DEFAULT_CAPACITY};
pub use process::{ActorRef, Join};
pub use reason::{ActorId, BoxError, ExitReason};
pub use signal::{Down, Exit, MonitorRef};
pub use spawn::{spawn, Builder, FiberSpawnError};
pub use timer::TimerRef;

/// The dead-letter office: undelivered messages.
pub mod dead_letters {
    pub use crate::dead_letter::{count, subscribe, DeadLetter, DeadLetterReason, DeadLetters};
}
