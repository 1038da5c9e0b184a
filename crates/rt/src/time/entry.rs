//! A timer's registration: lives inside the (pinned) `Sleep` it belongs to.
//!
//! # Protocol
//!
//! `state` is `IDLE` (not in the wheel), `REGISTERED` (linked in a wheel slot), or `FIRED`.
//! - Only a thread holding the wheel lock moves `IDLE -> REGISTERED` (insert), `REGISTERED ->
//!   IDLE` (remove, reset) or `REGISTERED -> FIRED` (expiry), and only it touches `pointers`,
//!   `when` and `slot`.
//! - Expiry takes the waker *under the lock*: once the lock is released the owning `Sleep` may be
//!   dropped (it sees `FIRED` and does not lock), so nothing may touch the entry afterwards.
//! - The owner reads `state` without the lock (Acquire) to learn that it fired; to remove a
//!   registered entry it locks and re-checks.

use std::ptr::NonNull;

use spectrum_sync::atomic::{AtomicU8, Ordering::*};
use spectrum_sync::linked_list::{Link, Pointers};
use spectrum_sync::{AtomicWaker, UnsafeCell};

pub(crate) const IDLE: u8 = 0;
pub(crate) const REGISTERED: u8 = 1;
pub(crate) const FIRED: u8 = 2;

pub(crate) struct TimerEntry {
    pointers: UnsafeCell<Pointers<TimerEntry>>,
    /// The deadline tick; written under the wheel lock.
    pub(super) when: UnsafeCell<u64>,
    /// `(level, slot)` the entry is linked in; written under the wheel lock.
    pub(super) slot: UnsafeCell<(u8, u8)>,
    state: AtomicU8,
    pub(crate) waker: AtomicWaker,
    _pin: std::marker::PhantomPinned,
}

// SAFETY: the `UnsafeCell` fields are only touched under the wheel lock (module protocol); the rest
// is atomic.
unsafe impl Send for TimerEntry {}
// SAFETY: as for `Send`.
unsafe impl Sync for TimerEntry {}

impl TimerEntry {
    pub(crate) fn new() -> TimerEntry {
        TimerEntry {
            pointers: UnsafeCell::new(Pointers::new()),
            when: UnsafeCell::new(0),
            slot: UnsafeCell::new((0, 0)),
            state: AtomicU8::new(IDLE),
            waker: AtomicWaker::new(),
            _pin: std::marker::PhantomPinned,
        }
    }

    pub(crate) fn state(&self) -> u8 {
        // Acquire: pairs with the Release store in `set_state` made under the wheel lock, so an
        // owner that sees FIRED knows the wheel is done with the entry.
        self.state.load(Acquire)
    }

    /// Only under the wheel lock (or by the owner of an entry the wheel cannot see).
    pub(crate) fn set_state(&self, s: u8) {
        // Release: see `state`.
        self.state.store(s, Release);
    }

    /// # Safety
    /// Only under the wheel lock.
    pub(super) unsafe fn when(&self) -> u64 {
        // SAFETY: caller holds the lock.
        self.when.with(|p| unsafe { *p })
    }
}

pub(super) struct EntryLink;

// SAFETY: `pointers` returns the embedded field; a linked entry is kept alive by its owner, which
// unlinks it (under the lock) before it is dropped.
unsafe impl Link for EntryLink {
    type Handle = NonNull<TimerEntry>;
    type Target = TimerEntry;

    fn as_raw(handle: &NonNull<TimerEntry>) -> NonNull<TimerEntry> {
        *handle
    }

    unsafe fn from_raw(ptr: NonNull<TimerEntry>) -> NonNull<TimerEntry> {
        ptr
    }

    unsafe fn pointers(target: NonNull<TimerEntry>) -> NonNull<Pointers<TimerEntry>> {
        // SAFETY: `target` is live (caller's contract); only used under the wheel lock.
        unsafe {
            target
                .as_ref()
                .pointers
                .with_mut(|p| NonNull::new_unchecked(p))
        }
    }
}

impl std::fmt::Debug for TimerEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimerEntry")
            .field("state", &self.state())
            .finish()
    }
}
