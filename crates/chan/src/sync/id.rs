//! Ids for wait notes and the wait-for graph, and the note each primitive leaves when it waits.
//!
//! One process-wide counter hands out the ids of every primitive of this crate (and is there for
//! the channels too, should their wait notes want ids): unique, never reused, roughly increasing.
//! A primitive takes its id lazily, the first time it needs one (it waits, or lockdep sees it),
//! so constructors stay `const` and cost nothing. Plain std atomics: ids only need uniqueness,
//! which no protocol that loom explores depends on.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh id (never 0).
pub(crate) fn next_id() -> u64 {
    // Relaxed: only atomicity matters (uniqueness).
    NEXT_ID.fetch_add(1, Relaxed)
}

/// An id taken on first use.
pub(crate) struct LazyId(AtomicU64);

impl LazyId {
    pub(crate) const fn new() -> LazyId {
        LazyId(AtomicU64::new(0))
    }

    /// The id, taking one if none was taken yet.
    #[inline]
    pub(crate) fn get(&self) -> u64 {
        // Relaxed: the id is a number, published by itself; no other data depends on it.
        match self.0.load(Relaxed) {
            0 => self.init(),
            id => id,
        }
    }

    #[cold]
    fn init(&self) -> u64 {
        let id = next_id();
        // Relaxed: as in `get`; the CAS only makes racing first users agree on one id.
        match self.0.compare_exchange(0, id, Relaxed, Relaxed) {
            Ok(_) => id,
            Err(winner) => winner,
        }
    }

    /// The id if one was taken.
    #[cfg_attr(not(all(debug_assertions, not(loom))), allow(dead_code))]
    pub(crate) fn get_if_set(&self) -> Option<u64> {
        // Relaxed: as in `get`.
        match self.0.load(Relaxed) {
            0 => None,
            id => Some(id),
        }
    }
}

impl core::fmt::Debug for LazyId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.get_if_set() {
            Some(id) => write!(f, "#{id}"),
            None => f.write_str("#?"),
        }
    }
}

/// Which wait note a primitive leaves (`spectrum_rt::task::WaitOn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NoteKind {
    /// `WaitOn::Lock`: `Mutex`, `RwLock`.
    Lock,
    /// `WaitOn::Semaphore`: `Semaphore`.
    Semaphore,
    /// `WaitOn::Signal`: `Notify`, `Barrier`, `OnceCell`, `watch`, `broadcast`.
    Signal,
}

impl NoteKind {
    /// Notes in the current task (if any) that it waits on primitive `id`.
    #[inline]
    pub(crate) fn note(self, id: &LazyId) {
        #[cfg(not(loom))]
        {
            use spectrum_rt::task::{note_wait, WaitOn};
            let id = id.get();
            note_wait(match self {
                NoteKind::Lock => WaitOn::Lock { lock: id },
                NoteKind::Semaphore => WaitOn::Semaphore { semaphore: id },
                NoteKind::Signal => WaitOn::Signal { id },
            });
        }
        #[cfg(loom)]
        let _ = id;
    }
}
