//! Spectrum's promises, callbacks and threads: Promise/Resolver with then/catch chaining,
//! all/all_settled/race/any, callback bridges both ways, and OS threads with the runtime's
//! JoinHandle and CancelToken.
//!
//! The first three rows of the seed's cheat sheet, on the one Spectrum scheduler:
//!
//! | model | here | for |
//! |---|---|---|
//! | Thread + blocking | [`thread::spawn`], [`thread::scope`] | sequential code, low concurrency, blocking libraries |
//! | Callback | [`callback::from_fn`], [`Promise::on_complete`] | bridging callback-style APIs, both ways |
//! | Future / Promise | [`Promise`], [`Resolver`], chaining, [`all`] / [`all_settled`] / [`race`] / [`any`] | values settled from outside, JS/Java-style composition |
//!
//! ```
//! # spectrum_rt::Runtime::new().unwrap().block_on(async {
//! use spectrum_promise::{all, Promise};
//!
//! // A promise settled from outside, JS `Promise.withResolvers()` style.
//! let (price, set_price) = Promise::<u32, String>::with_resolver();
//! std::thread::spawn(move || set_price.resolve(40).unwrap());
//!
//! // Chained in the Promise style; each callback runs on the runtime.
//! let with_tax = price.map(|p| p + 2);
//! let shipping = spectrum_promise::spawn(async { Ok(8) });
//!
//! // Combined, fail-fast, like `Promise.all`.
//! let parts = all([with_tax, shipping]).await.unwrap();
//! assert_eq!(parts, vec![42, 8]);
//! # });
//! ```
//!
//! # Design
//!
//! - [`Promise`] is plain `Waker`-based code — a state machine in one atomic word, tokio
//!   `oneshot`'s protocol extended with cloneable resolvers, abandonment and shared readers
//!   ([`promise`] module docs) — so it can be awaited under any executor and `.wait()`ed from any
//!   thread through [`spectrum_rt::Wait`]; it charges Spectrum's cooperative budget like every
//!   primitive. That module holds the crate's only `unsafe` code (`#![deny(unsafe_code)]`
//!   elsewhere), each block with its `SAFETY:` argument, and its races are model-checked with
//!   loom. Everything else is safe code on top of it.
//! - A promise never hangs because its producer forgot it: the last [`Resolver`] dropped
//!   unsettled settles it as [`PromiseError::Abandoned`], naming where the resolver was made.
//! - Chaining ([`chain`] module) runs each callback as a task on the current runtime and turns a
//!   panic into [`PromiseError::Panicked`]; dropping a chained promise cancels its task.
//! - The combinators ([`combinator`] module) cancel losers by dropping them, start inputs lazily
//!   under an optional `.limit(n)`, and poll only the inputs that were woken.
//! - Threads ([`thread`] module) are runtime tasks of kind `Thread` with a [`CancelToken`]
//!   checked cooperatively.
//!
//! [`CancelToken`]: spectrum_rt::cancel::CancelToken
#![deny(unsafe_code)]
#![cfg_attr(loom, allow(dead_code, unused_imports))]

mod error;
// The one module with `unsafe`: the promise's lock-free state machine (loom-checked).
#[allow(unsafe_code)]
pub mod promise;

pub use error::{Abandoned, AggregateError, AlreadySettled, Origin, PromiseError};
pub use promise::{Promise, Resolver, SharedPromise};

#[cfg(not(loom))]
pub mod callback;
#[cfg(not(loom))]
pub mod chain;
#[cfg(not(loom))]
pub mod combinator;
#[cfg(not(loom))]
pub mod thread;

#[cfg(not(loom))]
pub use chain::spawn;
#[cfg(not(loom))]
pub use combinator::{
    all, all_settled, all_settled_timeout, all_timeout, any, any_timeout, race, race_timeout,
};

/// Under loom only the promise core and the combinators' ready queue are compiled (the rest
/// needs the runtime); both carry their loom tests.
#[cfg(loom)]
#[path = "combinator/ready.rs"]
mod ready;
