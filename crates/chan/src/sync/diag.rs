//! What `Mutex` and `RwLock` tell the runtime's guardrails: who holds them (the wait-for graph,
//! `spectrum_rt::waitgraph`) and in which order tasks take them (lock-order checking,
//! `spectrum_rt::lockdep`, debug builds only).
//!
//! # Holders
//!
//! A lock records its holder's task id on every acquisition with one `Relaxed` store (a
//! diagnostic: the deadlock check only trusts cycles that persist across its period), and clears
//! it before every release. The record lives inline until a task first has to *wait* on the lock;
//! that task then allocates a [`HolderCell`], registers it with the wait-for graph under the
//! lock's `WaitOn::Lock` id, and publishes it; from then on acquisitions write there. `new`
//! allocates nothing and stays `const`; a lock that is never contended never registers.
//!
//! Readers of an `RwLock` are only tracked once the cell exists (a lock that was never contended
//! cannot be part of a deadlock yet): each read guard then adds its task to the cell's reader list
//! and removes it on release.
//!
//! Races are benign and can only *hide* a holder, never name a wrong one: a release clears the
//! record before it returns the permit (so the next holder's store comes after the clear), and
//! the cell copies the inline record when it is made; an acquisition that lands in the instant
//! the cell is being published may write the inline record after the copy, and then the holder
//! goes unnamed until the lock next changes hands.
//!
//! # Lock order
//!
//! In debug builds (not under loom) every `lock()` / `read()` / `write()` records its call site
//! (`#[track_caller]`), calls `lockdep::before_acquire` at its first poll, `acquired` once it
//! holds the lock, and the guard calls `released`; the lock calls `forget` when dropped (in
//! `Sem`'s drop). In release builds [`Site`] is `()` and every call here is empty.

#[cfg(not(loom))]
mod imp {
    use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering::*};
    use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

    use spectrum_rt::task::WaitOn;
    use spectrum_rt::waitgraph::{self, Holder, Holders, Registration};
    use spectrum_rt::TaskId;

    /// The current task's id as a number (0 outside tasks).
    #[inline]
    fn current_task() -> u64 {
        spectrum_rt::task_id().map_or(0, TaskId::as_u64)
    }

    /// The holders of one lock, as the wait-for graph sees them.
    struct HolderCell {
        /// The task holding the lock exclusively (0: none known).
        writer: AtomicU64,
        /// Tasks holding read guards (tracked once this cell exists).
        readers: Mutex<Vec<u64>>,
    }

    impl Holders for HolderCell {
        fn holders(&self, out: &mut Vec<Holder>) {
            // Relaxed: a diagnostic snapshot (module docs).
            if let Some(task) = TaskId::from_u64(self.writer.load(Relaxed)) {
                out.push(Holder {
                    task,
                    certain: true,
                });
            }
            let readers = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
            out.extend(
                readers
                    .iter()
                    .filter_map(|&t| TaskId::from_u64(t))
                    .map(|task| Holder {
                        task,
                        certain: true,
                    }),
            );
        }
    }

    struct Registered {
        cell: Arc<HolderCell>,
        registration: OnceLock<Registration>,
    }

    /// A lock's holder record and wait-for-graph registration (module docs).
    pub(crate) struct LockDiag {
        /// The holder while no cell is published.
        holder: AtomicU64,
        /// The published cell (a `Box<Registered>`), or null.
        reg: AtomicPtr<Registered>,
        #[cfg(debug_assertions)]
        created_at: &'static std::panic::Location<'static>,
    }

    impl LockDiag {
        #[track_caller]
        pub(crate) const fn new() -> LockDiag {
            LockDiag {
                holder: AtomicU64::new(0),
                reg: AtomicPtr::new(core::ptr::null_mut()),
                #[cfg(debug_assertions)]
                created_at: std::panic::Location::caller(),
            }
        }

        #[inline]
        fn cell(&self) -> Option<&HolderCell> {
            // Acquire: pairs with the Release CAS in `register`, so the cell's fields are
            // initialized when we see the pointer.
            let p = self.reg.load(Acquire);
            // SAFETY: a published box lives until `drop` (which has `&mut self`).
            (!p.is_null()).then(|| unsafe { &*(*p).cell })
        }

        /// The slot holding the exclusive holder's id.
        #[inline]
        fn slot(&self) -> &AtomicU64 {
            match self.cell() {
                Some(c) => &c.writer,
                None => &self.holder,
            }
        }

        /// Records the current task as the exclusive holder (just acquired).
        #[inline]
        pub(crate) fn set_holder(&self) {
            // Relaxed: a diagnostic record (module docs: races only hide a holder).
            self.slot().store(current_task(), Relaxed);
        }

        /// Clears the exclusive holder (about to release).
        #[inline]
        pub(crate) fn clear_holder(&self) {
            // Relaxed: as in `set_holder`; the release that follows is ordered after it.
            self.slot().store(0, Relaxed);
        }

        /// Tracks the current task as a reader if the lock is tracked (has been contended);
        /// returns what to pass to `remove_reader` (0: not tracked).
        #[inline]
        pub(crate) fn add_reader(&self) -> u64 {
            match self.cell() {
                None => 0,
                Some(c) => Self::add_reader_slow(c),
            }
        }

        #[cold]
        fn add_reader_slow(c: &HolderCell) -> u64 {
            let t = current_task();
            if t != 0 {
                c.readers
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(t);
            }
            t
        }

        /// Undoes `add_reader`.
        #[inline]
        pub(crate) fn remove_reader(&self, tracked: u64) {
            if tracked != 0 {
                self.remove_reader_slow(tracked);
            }
        }

        #[cold]
        fn remove_reader_slow(&self, tracked: u64) {
            if let Some(c) = self.cell() {
                let mut r = c.readers.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(i) = r.iter().rposition(|&t| t == tracked) {
                    r.swap_remove(i);
                }
            }
        }

        /// A task is about to wait on the lock `id`: make sure the wait-for graph can ask who
        /// holds it.
        #[inline]
        pub(crate) fn on_wait(&self, id: u64) {
            // Relaxed: only a check; `register` synchronizes.
            if self.reg.load(Relaxed).is_null() {
                self.register(id);
            }
        }

        #[cold]
        fn register(&self, id: u64) {
            let cell = Arc::new(HolderCell {
                // Relaxed: module docs (a racing acquisition may go unnamed).
                writer: AtomicU64::new(self.holder.load(Relaxed)),
                readers: Mutex::new(Vec::new()),
            });
            let reg = Box::into_raw(Box::new(Registered {
                cell,
                registration: OnceLock::new(),
            }));
            // Release: publishes the initialized cell (pairs with the Acquire load in `cell`);
            // Relaxed on failure: the loser frees its box and never looks at the winner's.
            match self
                .reg
                .compare_exchange(core::ptr::null_mut(), reg, Release, Relaxed)
            {
                Ok(_) => {
                    // SAFETY: just published; lives until `drop`.
                    let r = unsafe { &*reg };
                    let weak: Weak<dyn Holders> = Arc::downgrade(&r.cell) as Weak<HolderCell>;
                    let _ = r
                        .registration
                        .set(waitgraph::register(WaitOn::Lock { lock: id }, weak));
                }
                // SAFETY: never published: still ours.
                Err(_) => drop(unsafe { Box::from_raw(reg) }),
            }
        }

        #[cfg(debug_assertions)]
        pub(crate) fn created_at(&self) -> &'static std::panic::Location<'static> {
            self.created_at
        }
    }

    impl Drop for LockDiag {
        fn drop(&mut self) {
            let p = *self.reg.get_mut();
            if !p.is_null() {
                // SAFETY: published by `register`, freed only here (`&mut self`).
                drop(unsafe { Box::from_raw(p) });
            }
        }
    }
}

#[cfg(loom)]
mod imp {
    /// Under loom the guardrails are off (the runtime's diagnostics are not built).
    pub(crate) struct LockDiag;

    impl LockDiag {
        pub(crate) fn new() -> LockDiag {
            LockDiag
        }
        pub(crate) fn set_holder(&self) {}
        pub(crate) fn clear_holder(&self) {}
        pub(crate) fn add_reader(&self) -> u64 {
            0
        }
        pub(crate) fn remove_reader(&self, _: u64) {}
        pub(crate) fn on_wait(&self, _: u64) {}
    }
}

pub(crate) use imp::LockDiag;

impl core::fmt::Debug for LockDiag {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("LockDiag")
    }
}

/// Where an acquisition was asked for: a call site in debug builds, nothing in release builds
/// (and under loom), so futures carry it for free when lockdep is off.
#[cfg(all(debug_assertions, not(loom)))]
pub(crate) type Site = &'static std::panic::Location<'static>;
/// Where an acquisition was asked for (nothing: lockdep is off in this build).
#[cfg(not(all(debug_assertions, not(loom))))]
pub(crate) type Site = ();

/// The caller's site (see [`Site`]).
#[track_caller]
#[inline(always)]
pub(crate) fn here() -> Site {
    #[cfg(all(debug_assertions, not(loom)))]
    {
        std::panic::Location::caller()
    }
}

/// Lock-order hooks (`spectrum_rt::lockdep`): real in debug builds outside loom, empty
/// `#[inline(always)]` functions otherwise (so release builds pay nothing, not even the id).
#[cfg(all(debug_assertions, not(loom)))]
pub(crate) mod order {
    use spectrum_rt::lockdep::{self, LockRef};

    use super::{LockDiag, Site};
    use crate::sync::id::LazyId;

    fn lock_ref(diag: &LockDiag, id: &LazyId, kind: &'static str) -> LockRef {
        LockRef {
            id: id.get(),
            kind,
            created_at: diag.created_at(),
        }
    }

    /// Before a `lock()`/`read()`/`write()` may wait (its first poll, or `.wait()`).
    pub(crate) fn before_acquire(diag: &LockDiag, id: &LazyId, kind: &'static str, at: Site) {
        if lockdep::enabled() {
            lockdep::before_acquire(lock_ref(diag, id, kind), at);
        }
    }

    /// Once held (also after a successful `try_*`).
    pub(crate) fn acquired(diag: &LockDiag, id: &LazyId, kind: &'static str, at: Site) {
        if lockdep::enabled() {
            lockdep::acquired(lock_ref(diag, id, kind), at);
        }
    }

    /// A guard went.
    pub(crate) fn released(id: &LazyId) {
        if let Some(id) = id.get_if_set() {
            lockdep::released(id);
        }
    }

    /// The lock went.
    pub(crate) fn forget(id: &LazyId) {
        if let Some(id) = id.get_if_set() {
            lockdep::forget(id);
        }
    }
}

/// Lock-order hooks: off in this build.
#[cfg(not(all(debug_assertions, not(loom))))]
#[allow(clippy::missing_const_for_fn)]
pub(crate) mod order {
    use super::{LockDiag, Site};
    use crate::sync::id::LazyId;

    #[inline(always)]
    pub(crate) fn before_acquire(_: &LockDiag, _: &LazyId, _: &'static str, _: Site) {}
    #[inline(always)]
    pub(crate) fn acquired(_: &LockDiag, _: &LazyId, _: &'static str, _: Site) {}
    #[inline(always)]
    pub(crate) fn released(_: &LazyId) {}
    #[inline(always)]
    pub(crate) fn forget(_: &LazyId) {}
}
