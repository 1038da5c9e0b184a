//! A hierarchical timing wheel: 6 levels of 64 slots at 1 ms resolution.
//!
//! Level `l` has slots of 64^l ms, so the wheel spans 64^6 ms (about 2.2 years); farther deadlines
//! are clamped to the end (tokio's wheel has the same shape, after Varghese and Lauck's
//! "Hashed and Hierarchical Timing Wheels"). Insertion and removal are O(1): an entry is linked
//! into the slot its deadline falls in at the lowest level whose span separates it from `elapsed`,
//! and records that slot. When time reaches a slot of a higher level, its entries cascade down to
//! lower levels (or expire), so each entry moves at most 5 times.
//!
//! `occupied` bitmaps per level find the next non-empty slot with one `trailing_zeros`.

use std::ptr::NonNull;

use spectrum_sync::linked_list::LinkedList;

use super::clock::WHEEL_SPAN;
use super::entry::{EntryLink, TimerEntry};

const LEVELS: usize = 6;
const SLOTS: usize = 64;
const SLOT_BITS: u32 = 6;

pub(crate) struct Wheel {
    /// All entries with deadlines up to `elapsed` have been handed to `pending` or returned.
    elapsed: u64,
    levels: Box<[Level]>,
    /// Entries that expired and were not yet returned by `poll`.
    pending: LinkedList<EntryLink>,
    len: usize,
}

// SAFETY: the wheel holds pointers to timer entries, each owned by a pinned `Sleep` that unlinks it
// (under the wheel's lock) before it is freed; all access to the entries goes through that lock,
// so moving the wheel between threads (with its lock) is sound.
unsafe impl Send for Wheel {}

struct Level {
    level: u32,
    occupied: u64,
    slots: [LinkedList<EntryLink>; SLOTS],
}

/// Outcome of [`Wheel::insert`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Insert {
    /// Linked at its deadline.
    Linked,
    /// Linked at the wheel's far end, before its deadline: re-arm when it fires.
    Clamped,
    /// The deadline has passed; nothing was linked.
    Elapsed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Expiration {
    level: u32,
    slot: usize,
    deadline: u64,
}

fn level_for(elapsed: u64, when: u64) -> u32 {
    // The highest bit in which `when` differs from `elapsed` picks the level; or-ing the slot mask
    // puts everything within the current 64 ms at level 0.
    let masked = (elapsed ^ when) | (SLOTS as u64 - 1);
    let significant = 63 - masked.leading_zeros();
    (significant / SLOT_BITS).min(LEVELS as u32 - 1)
}

fn slot_range(level: u32) -> u64 {
    1 << (SLOT_BITS * level)
}

fn level_range(level: u32) -> u64 {
    slot_range(level) * SLOTS as u64
}

impl Wheel {
    pub(crate) fn new() -> Wheel {
        Wheel {
            elapsed: 0,
            levels: (0..LEVELS as u32)
                .map(|level| Level {
                    level,
                    occupied: 0,
                    slots: std::array::from_fn(|_| LinkedList::new()),
                })
                .collect(),
            pending: LinkedList::new(),
            len: 0,
        }
    }

    /// Entries in the wheel (registered, not yet returned).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Links `entry` to fire at tick `when` (or at the wheel's far end, if `when` lies beyond
    /// its span; see `Insert::Clamped`).
    ///
    /// # Safety
    /// `entry` must be live, pinned and not linked, and stay so until removed or returned.
    pub(crate) unsafe fn insert(&mut self, entry: NonNull<TimerEntry>, when: u64) -> Insert {
        if when <= self.elapsed {
            return Insert::Elapsed;
        }
        let far_end = self.elapsed + WHEEL_SPAN - 1;
        let clamped = when > far_end;
        let when = when.min(far_end);
        // SAFETY: under the wheel lock (we have `&mut self`), the entry is ours to write.
        unsafe {
            entry.as_ref().when.with_mut(|p| *p = when);
        }
        self.link(entry, when);
        self.len += 1;
        if clamped {
            Insert::Clamped
        } else {
            Insert::Linked
        }
    }

    fn link(&mut self, entry: NonNull<TimerEntry>, when: u64) {
        let level = level_for(self.elapsed, when);
        let slot = ((when >> (level * SLOT_BITS)) % SLOTS as u64) as usize;
        // SAFETY: as in `insert`.
        unsafe {
            entry
                .as_ref()
                .slot
                .with_mut(|p| *p = (level as u8, slot as u8))
        };
        let lvl = &mut self.levels[level as usize];
        lvl.slots[slot].push_back(entry);
        lvl.occupied |= 1 << slot;
    }

    /// Unlinks a registered entry (from its slot, or from the pending list).
    ///
    /// # Safety
    /// `entry` must be linked in this wheel.
    pub(crate) unsafe fn remove(&mut self, entry: NonNull<TimerEntry>) {
        // SAFETY: linked in this wheel, under the lock.
        let (level, slot) = unsafe { entry.as_ref().slot.with(|p| *p) };
        if level == u8::MAX {
            // Expired, waiting in `pending`.
            // SAFETY: linked in `pending` (its slot says so).
            let ok = unsafe { self.pending.remove(entry) };
            debug_assert!(ok, "timer entry not found in the pending list");
        } else {
            let lvl = &mut self.levels[level as usize];
            // SAFETY: linked in the slot it recorded.
            let ok = unsafe { lvl.slots[slot as usize].remove(entry) };
            debug_assert!(ok, "timer entry not found in its slot");
            if lvl.slots[slot as usize].is_empty() {
                lvl.occupied &= !(1 << slot);
            }
        }
        self.len -= 1;
    }

    /// The next tick at which something expires, if any.
    pub(crate) fn next_expiration_tick(&self) -> Option<u64> {
        if !self.pending.is_empty() {
            return Some(self.elapsed);
        }
        self.next_expiration().map(|e| e.deadline)
    }

    fn next_expiration(&self) -> Option<Expiration> {
        // Lower levels always expire before higher ones (module docs), so the first level with
        // an occupied slot has the next expiration.
        self.levels
            .iter()
            .find_map(|l| l.next_expiration(self.elapsed))
    }

    /// Returns one expired entry (deadline `<= now`), unlinked, or `None` once everything up to
    /// `now` has been returned. Entries not yet due cascade to lower levels on the way.
    pub(crate) fn poll(&mut self, now: u64) -> Option<NonNull<TimerEntry>> {
        loop {
            if let Some(entry) = self.pending.pop_front() {
                self.len -= 1;
                return Some(entry);
            }
            match self.next_expiration() {
                Some(exp) if exp.deadline <= now => self.process(exp),
                _ => {
                    if now > self.elapsed {
                        self.elapsed = now;
                    }
                    return None;
                }
            }
        }
    }

    fn process(&mut self, exp: Expiration) {
        let lvl = &mut self.levels[exp.level as usize];
        let mut entries = std::mem::take(&mut lvl.slots[exp.slot]);
        lvl.occupied &= !(1 << exp.slot);
        self.elapsed = self.elapsed.max(exp.deadline);
        while let Some(entry) = entries.pop_front() {
            // SAFETY: linked entries are live; we hold the lock.
            let when = unsafe { entry.as_ref().when() };
            if when <= self.elapsed {
                // SAFETY: as above.
                unsafe { entry.as_ref().slot.with_mut(|p| *p = (u8::MAX, u8::MAX)) };
                self.pending.push_back(entry);
            } else {
                self.link(entry, when);
            }
        }
    }

    /// Unlinks and returns every entry (runtime shutdown).
    pub(crate) fn drain(&mut self) -> Option<NonNull<TimerEntry>> {
        if let Some(e) = self.pending.pop_front() {
            self.len -= 1;
            return Some(e);
        }
        for lvl in self.levels.iter_mut() {
            while lvl.occupied != 0 {
                let slot = lvl.occupied.trailing_zeros() as usize;
                if let Some(e) = lvl.slots[slot].pop_front() {
                    if lvl.slots[slot].is_empty() {
                        lvl.occupied &= !(1 << slot);
                    }
                    self.len -= 1;
                    return Some(e);
                }
                lvl.occupied &= !(1 << slot);
            }
        }
        None
    }
}

impl Level {
    fn next_expiration(&self, now: u64) -> Option<Expiration> {
        if self.occupied == 0 {
            return None;
        }
        let range = slot_range(self.level);
        let now_slot = ((now / range) % SLOTS as u64) as u32;
        // Rotate so that the current slot is bit 0, then the lowest set bit is the next slot.
        let rotated = self.occupied.rotate_right(now_slot);
        let slot = ((rotated.trailing_zeros() + now_slot) % SLOTS as u32) as usize;
        let level_start = now & !(level_range(self.level) - 1);
        let mut deadline = level_start + slot as u64 * range;
        if deadline < now && self.level > 0 {
            // The slot lies in the next rotation of this level.
            deadline += level_range(self.level);
        }
        Some(Expiration {
            level: self.level,
            slot,
            deadline: deadline.max(now),
        })
    }
}

impl std::fmt::Debug for Wheel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wheel")
            .field("elapsed", &self.elapsed)
            .field("len", &self.len)
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    // Boxed so each entry has a stable address however the vector grows.
    #[allow(clippy::vec_box)]
    fn entries(n: usize) -> Vec<Box<TimerEntry>> {
        (0..n).map(|_| Box::new(TimerEntry::new())).collect()
    }

    fn drain_until(w: &mut Wheel, now: u64) -> Vec<u64> {
        let mut out = Vec::new();
        while let Some(e) = w.poll(now) {
            // SAFETY: entries are boxed and live for the test.
            out.push(unsafe { e.as_ref().when() });
        }
        out
    }

    #[test]
    fn fires_in_deadline_order_across_levels() {
        let deadlines = [
            5u64,
            63,
            64,
            65,
            4095,
            4096,
            300_000,
            1,
            1_000_000_000,
            60_000_000_000,
        ];
        let es = entries(deadlines.len());
        let mut w = Wheel::new();
        for (e, &d) in es.iter().zip(&deadlines) {
            // SAFETY: boxed, live for the test, unlinked.
            assert_eq!(unsafe { w.insert(NonNull::from(&**e), d) }, Insert::Linked);
        }
        assert_eq!(w.next_expiration_tick(), Some(1));
        let mut fired = Vec::new();
        let mut now = 0;
        while let Some(next) = w.next_expiration_tick() {
            now = next;
            let got = drain_until(&mut w, now);
            assert!(got.iter().all(|&d| d <= now));
            fired.extend(got);
        }
        let mut sorted = deadlines.to_vec();
        sorted.sort_unstable();
        assert_eq!(fired, sorted);
        assert_eq!(now, 60_000_000_000);
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn deadlines_beyond_the_span_are_clamped_relative_to_now() {
        let es = entries(2);
        let mut w = Wheel::new();
        let _ = w.poll(1_000_000);
        // SAFETY: boxed, live, unlinked.
        let r = unsafe { w.insert(NonNull::from(&*es[0]), 1_000_000 + WHEEL_SPAN * 3) };
        assert_eq!(r, Insert::Clamped);
        let far_end = 1_000_000 + WHEEL_SPAN - 1;
        // It may cascade through intermediate expirations, but is returned exactly at the far end.
        loop {
            let next = w.next_expiration_tick().unwrap();
            assert!(next <= far_end);
            if let Some(e) = w.poll(next) {
                assert_eq!(e, NonNull::from(&*es[0]));
                assert_eq!(next, far_end);
                break;
            }
        }
    }

    #[test]
    fn remove_is_exact_and_elapsed_inserts_are_refused() {
        let es = entries(3);
        let mut w = Wheel::new();
        // SAFETY: boxed, live, unlinked.
        unsafe {
            assert_eq!(w.insert(NonNull::from(&*es[0]), 10), Insert::Linked);
            assert_eq!(w.insert(NonNull::from(&*es[1]), 5000), Insert::Linked);
            assert_eq!(w.insert(NonNull::from(&*es[2]), 10), Insert::Linked);
            w.remove(NonNull::from(&*es[0]));
            w.remove(NonNull::from(&*es[1]));
        }
        assert_eq!(drain_until(&mut w, 10_000), vec![10]);
        // SAFETY: as above.
        let r = unsafe { w.insert(NonNull::from(&*es[0]), 9_999) };
        assert_eq!(r, Insert::Elapsed);
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn a_pending_entry_can_be_removed() {
        let es = entries(2);
        let mut w = Wheel::new();
        // SAFETY: boxed, live, unlinked.
        unsafe {
            assert_eq!(w.insert(NonNull::from(&*es[0]), 3), Insert::Linked);
            assert_eq!(w.insert(NonNull::from(&*es[1]), 3), Insert::Linked);
        }
        let first = w.poll(3).unwrap();
        let second = if first == NonNull::from(&*es[0]) {
            &es[1]
        } else {
            &es[0]
        };
        // The other one sits in `pending` now.
        // SAFETY: linked in `pending`.
        unsafe { w.remove(NonNull::from(&**second)) };
        assert!(w.poll(3).is_none());
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn random_deadlines_fire_exactly_once_and_in_order() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let es = entries(2000);
        let mut w = Wheel::new();
        let mut expected = Vec::new();
        let mut now = 0u64;
        for (i, e) in es.iter().enumerate() {
            let d = now + 1 + rand() % 200_000;
            // SAFETY: boxed, live, unlinked.
            assert_eq!(unsafe { w.insert(NonNull::from(&**e), d) }, Insert::Linked);
            expected.push(d);
            if i % 100 == 99 {
                now += rand() % 1000;
                let _ = drain_until(&mut w, now).len();
                expected.retain(|&x| x > now);
            }
        }
        let mut last = 0;
        while let Some(next) = w.next_expiration_tick() {
            let got = drain_until(&mut w, next);
            for d in got {
                assert!(d >= last);
                last = d;
                let pos = expected.iter().position(|&x| x == d).unwrap();
                expected.swap_remove(pos);
            }
        }
        assert!(expected.is_empty());
    }
}
