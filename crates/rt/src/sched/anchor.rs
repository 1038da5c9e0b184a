//! A weak, allocation-free reference to a runtime, for the few paths that reach a runtime from a
//! thread that does not belong to it.
//!
//! # Why
//!
//! Tasks, timers and wakers must find their runtime's shared state to submit work. Keeping an
//! `Arc<Shared>` in every task would put two atomic operations on one shared counter into every
//! spawn and every completion (tokio pays this). Instead, a task holds an [`RtRef`]: a pointer to
//! an `Anchor` plus a generation number. Threads that belong to the runtime (workers, blocking
//! threads, `block_on`) find `Shared` through their thread-local context and never touch the
//! anchor; a foreign thread (a plain OS thread waking a task, dropping a timer, cancelling a
//! handle) *enters* the anchor, which fails once the runtime has shut down.
//!
//! # Protocol
//!
//! `word` packs `generation << 32 | CLOSED << 31 | users`.
//! 1. A runtime takes an anchor from the free list (or leaks a new one; anchors are never freed,
//!    only reused, so a stale `RtRef` always points at valid memory), and publishes its `Shared`.
//! 2. `enter`: `fetch_add(1)` on `word`; if the generation differs or `CLOSED` is set, undo and
//!    fail. Otherwise `Shared` stays valid until the matching `exit` (`fetch_sub(1)`).
//! 3. Shutdown calls `close`: set `CLOSED`, wait until `users` is zero, bump the generation (which
//!    invalidates every outstanding `RtRef` at once) and return the anchor to the free list.
//!    Shutdown completes every task before closing, so a foreign thread that fails to enter only
//!    ever holds references to finished tasks, which need no runtime.

use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering::*};
use std::sync::Mutex as StdMutex;

use super::Shared;

const CLOSED: u64 = 1 << 31;

pub(crate) struct Anchor {
    word: AtomicU64,
    shared: AtomicPtr<Shared>,
}

/// Anchors not in use, for reuse; they are leaked on purpose (see the module docs).
static FREE: StdMutex<Vec<&'static Anchor>> = StdMutex::new(Vec::new());

/// A weak reference to a runtime: anchor plus generation. `Copy`, 16 bytes, no refcount.
#[derive(Clone, Copy)]
pub(crate) struct RtRef {
    anchor: &'static Anchor,
    generation: u32,
}

impl RtRef {
    /// Binds an anchor to `shared`.
    pub(crate) fn acquire(shared: *const Shared) -> RtRef {
        let reused = FREE.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let anchor = reused.unwrap_or_else(|| {
            Box::leak(Box::new(Anchor {
                word: AtomicU64::new(0),
                shared: AtomicPtr::default(),
            }))
        });
        // Relaxed: the pointer is published by the Release RMW on `word` below.
        anchor.shared.store(shared as *mut Shared, Relaxed);
        // AcqRel: Release publishes `shared` to `enter` (pairs with its Acquire fetch_add);
        // Acquire pairs with the Release in `close`. An RMW rather than a store so the transient
        // increments of stale entrants (which fail on the generation) are never overwritten.
        let word = anchor.word.fetch_and(!CLOSED, AcqRel);
        debug_assert_eq!(word & CLOSED, 0);
        RtRef {
            anchor,
            generation: (word >> 32) as u32,
        }
    }

    /// True if both refer to the same runtime.
    pub(crate) fn same(&self, other: &RtRef) -> bool {
        std::ptr::eq(self.anchor, other.anchor) && self.generation == other.generation
    }

    /// Enters the runtime from a foreign thread; `None` once it has shut down.
    pub(crate) fn enter(&self) -> Option<Entered<'_>> {
        // Acquire: pairs with the Release store in `acquire` (the `shared` pointer) and with
        // `close`'s AcqRel (a closed anchor is seen as closed).
        let prev = self.anchor.word.fetch_add(1, Acquire);
        if (prev >> 32) as u32 != self.generation || prev & CLOSED != 0 {
            // Release: pairs with the Acquire loads in `close`'s wait loop.
            self.anchor.word.fetch_sub(1, Release);
            return None;
        }
        // Relaxed: ordered by the Acquire fetch_add above.
        let shared = self.anchor.shared.load(Relaxed);
        // SAFETY: the generation matched and CLOSED was clear when we registered as a user, so
        // `close` has not finished and waits for our exit; `Shared` is alive until then.
        let shared = unsafe { &*shared };
        Some(Entered {
            anchor: self.anchor,
            shared,
        })
    }

    /// Closes the anchor: waits for foreign users to leave and invalidates every `RtRef`.
    pub(crate) fn close(&self) {
        // AcqRel: Release so new `enter`s see CLOSED; Acquire to see users' work.
        self.anchor.word.fetch_or(CLOSED, AcqRel);
        let backoff = spectrum_sync::Backoff::new();
        let closed = (u64::from(self.generation) << 32) | CLOSED;
        let next_generation = u64::from(self.generation.wrapping_add(1)) << 32;
        // AcqRel: Acquire pairs with the Release fetch_sub in `Entered::drop` (users' work is
        // done); Release pairs with the Acquire in `acquire` when the anchor is reused. A CAS, so
        // a stale entrant's transient increment is waited out, never overwritten.
        while self
            .anchor
            .word
            .compare_exchange(closed, next_generation, AcqRel, Acquire)
            .is_err()
        {
            if backoff.is_completed() {
                std::thread::yield_now();
            } else {
                backoff.snooze();
            }
        }
        FREE.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(self.anchor);
    }
}

/// Proof of having entered a runtime from a foreign thread.
pub(crate) struct Entered<'a> {
    anchor: &'a Anchor,
    shared: &'a Shared,
}

impl std::ops::Deref for Entered<'_> {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        self.shared
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        // Release: our use of `Shared` happens-before `close` returns (its Acquire load).
        self.anchor.word.fetch_sub(1, Release);
    }
}
