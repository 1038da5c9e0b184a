//! Spectrum's internal concurrency toolkit: the loom shim, `CachePadded` and `Gap`, `Backoff`,
//! `AtomicWaker` and an intrusive doubly linked list.
//!
//! Every atomic, cell, mutex and thread used by Spectrum's lock-free code comes through this crate,
//! so that building with `RUSTFLAGS="--cfg loom"` swaps in [loom]'s model-checked versions in one
//! place (the approach of tokio's `loom` module). Code above this crate never names
//! `std::sync::atomic` directly.
//!
//! This crate is an implementation detail of the Spectrum runtime; the facade never re-exports it
//! and its API may change in any release.
//!
//! [loom]: https://docs.rs/loom

mod atomic_waker;
mod backoff;
mod cache_padded;
pub mod linked_list;
mod shim;

pub use atomic_waker::{store_waker, AtomicWaker};
pub use backoff::Backoff;
pub use cache_padded::{CachePadded, Gap};
pub use shim::*;
