//! Cancellation: causes, tokens, and shielding cleanup from it.
//!
//! Spectrum offers both styles the anchors use (see `reference/structured-concurrency.md`):
//! **forced** — dropping a task's future at its next suspension point (`JoinHandle::cancel`, a
//! failing scope), which runs destructors but no async cleanup — and **cooperative** — a
//! [`CancelToken`] with a [`CancelCause`] and a deadline that code checks at its own safe points
//! (threads and fibers) or awaits (async code). Scopes do both: they cancel their token, then their
//! children.

mod cause;
#[cfg(not(loom))]
mod shield;
mod token;

pub use cause::{CancelCause, CauseKind};
#[cfg(not(loom))]
pub use shield::{shield, shield_with_timeout, Shielded};
pub use token::{CancelToken, Cancelled, EnteredToken};
