//! The slots of the broadcast ring, and the reader/writer protocol of one slot.
//!
//! # A slot
//!
//! - `val`: the value of the position it holds (`None` before the first write, or once every
//!   receiver that was counted for it has read it).
//! - `stored`: that position plus one; 0 while the slot was never written. A receiver looking for
//!   position `pos` in slot `pos % cap` finds `stored == pos + 1` (its value), `stored < pos + 1`
//!   (not written yet: it waits) or `stored > pos + 1` (overwritten: it lagged).
//! - `state`, one word: `WRITER | READERS | REM`.
//!   - `REM` (bits 0..32): receivers that were subscribed when the value was sent and have not
//!     read it yet. The last one drops the value early (tokio's `rem`).
//!   - `READERS` (bits 32..63): receivers inside the slot right now (reading `stored`, cloning
//!     `val`). At most one per receiver, so below [`MAX_RECEIVERS`] `< 2^31`.
//!   - `WRITER` (bit 63): the sender (holding the tail lock) is rewriting the slot.
//!
//! # Invariants
//!
//! 1. `stored` and `val` are written only by the one writer, holding the tail lock, with `WRITER`
//!    set and `READERS == 0`; everyone else reads them only with read access (a `READER` counted
//!    while `WRITER` was clear). So the slot is a reader-writer lock whose writer waits (spins,
//!    then yields) for the readers to leave, as tokio's slot `RwLock` blocks it.
//! 2. While `WRITER` is set nobody changes `REM`: a reader that finds `WRITER` set takes its
//!    `READER` back at once and touches nothing else, and readers that entered before the writer
//!    have left before the writer reads `REM`.
//! 3. A receiver that reads `val` was counted in `REM` for that value (it was subscribed, under
//!    the tail lock, before the send), and takes itself out of `REM` only after its clone. So
//!    whoever brings `REM` to 0 is the last reader of `val` and may take it, still holding read
//!    access (the writer cannot be inside).
//!
//! # Protocols
//!
//! Read position `pos` ([`Slot::read`]):
//! 1. `fetch_add(READER)`, Acquire. `WRITER` set: `fetch_sub(READER)` and report `Busy`.
//! 2. Compare `stored` with `pos + 1`: `Empty`, `Newer`, or go on.
//! 3. Clone the value. Leave: `fetch_sub(READER + 1)` (one RMW for "done" and "one fewer to
//!    read it"); if the word read at step 1 said `REM == 1` we are the last reader: first
//!    `fetch_sub(1)`, take the value (dropped after we leave), then `fetch_sub(READER)`. (If other
//!    receivers leave between our step 1 and step 3, the last one may take the single-RMW path
//!    and leave the value in place; it is then dropped when overwritten: rare, and harmless.)
//!
//! Write position `pos` with `n` receivers ([`Slot::write`], under the tail lock):
//! 1. `fetch_or(WRITER)`, Acquire; wait until `READERS == 0` (Acquire loads).
//! 2. Replace `val`, set `stored = pos + 1`.
//! 3. One `fetch_add` of `n - REM - WRITER` (wrapping): clears `WRITER` and sets `REM = n`
//!    without disturbing `READER`s that come and go meanwhile. Release.

use core::fmt;
use core::mem::ManuallyDrop;

use spectrum_sync::atomic::{AtomicU64, Ordering::*};
use spectrum_sync::{Backoff, UnsafeCell};

const REM_MASK: u64 = (1 << 32) - 1;
const READER: u64 = 1 << 32;
const READERS_MASK: u64 = ((1 << 31) - 1) << 32;
const WRITER: u64 = 1 << 63;

/// The most receivers a broadcast channel may have at once: `READERS` holds one per receiver in
/// 31 bits, `REM` one per receiver in 32.
pub(super) const MAX_RECEIVERS: usize = (1 << 31) - 1;

/// What a receiver found in the slot of its position.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Peek<R> {
    /// The value of the position (what the reader made of it).
    Value(R),
    /// The position was not written yet.
    Empty,
    /// The slot holds a later position: the receiver lagged.
    Newer,
    /// A writer is rewriting the slot right now.
    Busy,
}

/// One slot of the ring (module docs).
pub(super) struct Slot<T> {
    state: AtomicU64,
    stored: UnsafeCell<u64>,
    val: UnsafeCell<Option<T>>,
}

// SAFETY: `stored` and `val` are accessed under the slot's reader-writer protocol (invariant 1):
// the writer alone, or readers sharing `&T`. Readers on several threads clone the same `&T` at
// once, hence `T: Sync` (the bound tokio added for RUSTSEC-2025-0023), and the writer moves `T`s
// in and out, hence `T: Send`.
unsafe impl<T: Send + Sync> Sync for Slot<T> {}
// SAFETY: owning a slot owns its `T`.
unsafe impl<T: Send> Send for Slot<T> {}

impl<T> Slot<T> {
    pub(super) fn new() -> Slot<T> {
        Slot {
            state: AtomicU64::new(0),
            stored: UnsafeCell::new(0),
            val: UnsafeCell::new(None),
        }
    }

    /// Read protocol: `f` sees the value if the slot holds `pos`, and the reader takes itself out
    /// of `REM` if it does. A panic in `f` leaves the slot as if the reader had never come (it may
    /// read the value again).
    pub(super) fn read<R>(&self, pos: u64, f: impl FnOnce(&T) -> R) -> Peek<R> {
        // Step 1. Acquire: pairs with the Release `fetch_add` of the writer's step 3, so the
        // `stored` and `val` it wrote are visible.
        let entry = self.state.fetch_add(READER, Acquire);
        let access = Access { slot: self, entry };
        if entry & WRITER != 0 {
            // `access` leaves at once (`Drop`): invariant 2.
            return Peek::Busy;
        }
        // Step 2.
        // SAFETY: read access (invariant 1): no writer until we leave.
        let stored = self.stored.with(|p| unsafe { *p });
        if stored != pos + 1 {
            return if stored > pos + 1 {
                Peek::Newer
            } else {
                Peek::Empty
            };
        }
        // Step 3.
        let r = self.val.with(|p| {
            // SAFETY: read access (invariant 1); the value is there because we are counted in
            // `REM` and have not left it yet (invariant 3).
            let v = unsafe { (*p).as_ref() };
            f(v.expect("a counted receiver finds its value in place"))
        });
        let dead = access.consume();
        drop(dead);
        Peek::Value(r)
    }

    /// Write protocol; returns the value replaced, for the caller to drop after the tail lock.
    /// The caller holds the tail lock (so it is the only writer) and counts `receivers` readers.
    pub(super) fn write(&self, pos: u64, value: T, receivers: usize) -> Option<T> {
        debug_assert!(receivers <= MAX_RECEIVERS);
        // Step 1. Acquire: pairs with the Release of each reader's leaving, so every read of
        // `stored` / `val` (and every clone) is done before we overwrite them.
        let mut s = self.state.fetch_or(WRITER, Acquire);
        debug_assert_eq!(s & WRITER, 0, "one writer at a time (the tail lock)");
        if s & READERS_MASK != 0 {
            let backoff = Backoff::new();
            loop {
                backoff.snooze();
                // Acquire: as for the `fetch_or`.
                s = self.state.load(Acquire);
                if s & READERS_MASK == 0 {
                    break;
                }
            }
        }
        // Step 2.
        // SAFETY: WRITER set and no reader inside (invariant 1).
        let old = self.val.with_mut(|p| unsafe { (*p).replace(value) });
        // SAFETY: as above.
        self.stored.with_mut(|p| unsafe { *p = pos + 1 });
        // Step 3: `REM` is frozen since the readers left (invariant 2), so `s & REM_MASK` is its
        // value; readers arriving meanwhile only add and take back `READER`s, which commute.
        let delta = (receivers as u64)
            .wrapping_sub(s & REM_MASK)
            .wrapping_sub(WRITER);
        // Release: pairs with the Acquire `fetch_add` of readers' step 1, publishing step 2.
        self.state.fetch_add(delta, Release);
        old
    }

    /// Receivers still to read the value held (`Sender::len`). Exact when no reader is inside.
    pub(super) fn remaining(&self) -> usize {
        // Relaxed: a count for a snapshot; the caller holds the tail lock, so no write is under
        // way, and the value itself is not read.
        (self.state.load(Relaxed) & REM_MASK) as usize
    }
}

impl<T> fmt::Debug for Slot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Relaxed: a diagnostic snapshot.
        let s = self.state.load(Relaxed);
        f.debug_struct("Slot")
            .field("rem", &(s & REM_MASK))
            .field("readers", &((s & READERS_MASK) >> 32))
            .field("writing", &(s & WRITER != 0))
            .finish_non_exhaustive()
    }
}

/// Read access to a slot: leaves on drop (also on unwind from a panicking `clone`), or through
/// [`consume`](Self::consume) after reading the value.
struct Access<'a, T> {
    slot: &'a Slot<T>,
    /// The word our `fetch_add(READER)` returned.
    entry: u64,
}

impl<T> Access<'_, T> {
    /// Read step 3: leaves, taking this receiver out of `REM`; returns the value if we were its
    /// last reader (drop it at leisure: nobody reads it again).
    fn consume(self) -> Option<T> {
        let this = ManuallyDrop::new(self);
        let state = &this.slot.state;
        if this.entry & REM_MASK == 1 {
            // We are the last reader (`REM` only decreases while we hold read access).
            // Acquire: pairs with the Release `fetch_sub` of every other reader's leaving, so
            // their clones of `val` are done before we take it. (Release: not needed for the
            // value, which we take ourselves; kept so the RMW orders like the other exit.)
            let prev = state.fetch_sub(1, AcqRel);
            let taken = if prev & REM_MASK == 1 {
                // SAFETY: invariant 3: `REM` reached 0 through us, so no receiver reads `val`
                // again, and the writer waits for our `READER`.
                this.slot.val.with_mut(|p| unsafe { (*p).take() })
            } else {
                None
            };
            // Release: pairs with the writer's Acquire in `write` step 1 (our accesses to `val`
            // are done).
            state.fetch_sub(READER, Release);
            taken
        } else {
            // Release: pairs with the writer's Acquire in `write` step 1, and with the Acquire of
            // the last reader's `fetch_sub(1)` above (our clone is done before it takes `val`).
            state.fetch_sub(READER + 1, Release);
            None
        }
    }
}

impl<T> Drop for Access<'_, T> {
    fn drop(&mut self) {
        // Release: pairs with the writer's Acquire in `write` step 1: whatever we read is read.
        self.slot.state.fetch_sub(READER, Release);
    }
}
