//! What a channel tells the runtime's guardrails: its id and the wait note of a task parked on
//! it (the task dump), and which tasks hold its handles (the wait-for graph's channel edges,
//! `spectrum_rt::waitgraph`).
//!
//! # Who holds a handle
//!
//! Rust moves values without telling anyone, so nobody knows for certain which task holds a
//! `Sender` right now. What a channel can know is which task *last used* each handle: every
//! handle carries a [`Tag`] with that task's id, and each side of the channel counts its handles
//! per last user, plus those whose user is unknown: never recorded yet (a handle is usually made
//! in one task and moved into the task that uses it), last used by an OS thread (threads are not
//! in the graph), or passed between tasks so often that a last user means nothing (a handle
//! shared through an `Arc`: after [`MAX_MOVES`] changes of hands it stays unknown, so it stops
//! costing a lock). A receiver parked on the channel then waits for the senders' last users, as
//! *likely* edges that need any one of them (`Holders::any_of`); while one sender's user is
//! unknown the channel names nobody, since that one may send at any moment. A handle that moved
//! after its last use makes the guess wrong: the wait-for graph reports such cycles as probable,
//! and the runtime's periodic check only once two checks in a row have seen them.
//!
//! The user is recorded where it is cheap next to what the operation already does: when an
//! operation takes the channel's lock and completes (it handed a value to, or took one from, a
//! parked counterpart) or parks (with the wait note, in one thread-local look-up), and when a
//! select case is built. An operation that completes on the lock-free path records nothing, so
//! a handle used only that way names nobody (or its earlier user), and a task that deadlocks
//! with itself through a buffered channel whose sender it only ever used without waiting is
//! not found. A record costs a thread-local read and a compare while the user stays the same;
//! a change of hands takes the side's lock. Under loom all of this is compiled out: it is
//! bookkeeping beside the channel's protocols, and no protocol reads it.

#[cfg(not(loom))]
pub(crate) use imp::*;
#[cfg(loom)]
pub(crate) use loom_imp::*;

/// Which side of the channel a handle is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Senders = 0,
    Receivers = 1,
}

/// How many times a handle may change hands between tasks before its last user counts as
/// unknown for good.
pub(crate) const MAX_MOVES: u64 = 16;

#[cfg(not(loom))]
mod imp {
    use std::collections::HashMap;
    use std::hash::{BuildHasherDefault, Hasher};
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
    use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

    use spectrum_rt::task::{note_wait, note_wait_by, WaitOn};
    use spectrum_rt::waitgraph::{self, Holder, Holders, Registration};
    use spectrum_rt::TaskId;

    use super::{Side, MAX_MOVES};
    use crate::sync::id::LazyId;
    use crate::waiter::Kind;

    /// The low bits of a tag: the last user's task id (0: unknown).
    const USER: u64 = (1 << 56) - 1;
    /// The high bits: how many times the handle changed hands between users.
    const MOVES_SHIFT: u32 = 56;

    /// The current task's id as a number (0 outside tasks).
    #[inline]
    fn current_task() -> u64 {
        spectrum_rt::task_id().map_or(0, TaskId::as_u64)
    }

    /// The wait note of a parked `kind` operation (not `Closed`) on channel `channel`.
    fn wait_on(kind: Kind, channel: u64) -> WaitOn {
        if kind == Kind::Recv {
            WaitOn::ChannelRecv { channel }
        } else {
            WaitOn::ChannelSend { channel }
        }
    }

    /// A handle's last user (module docs), in the handle.
    #[derive(Debug, Default)]
    pub(crate) struct Tag(AtomicU64);

    impl Tag {
        pub(crate) const fn new() -> Tag {
            Tag(AtomicU64::new(0))
        }
    }

    /// Hashes a task id (unique, nearly sequential) with one multiplication.
    #[derive(Default)]
    struct IdHasher(u64);

    impl Hasher for IdHasher {
        fn finish(&self) -> u64 {
            self.0
        }

        fn write(&mut self, bytes: &[u8]) {
            for &b in bytes {
                self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            }
        }

        fn write_u64(&mut self, n: u64) {
            // Fibonacci hashing: the high bits, which the map uses, depend on every bit of `n`.
            self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    /// Task id -> how many of a side's handles it used last; only tasks with at least one. A
    /// short list while few tasks hold handles (the common case, one or two), a map once more
    /// than [`UserCounts::FEW`] do: a channel whose handles were spread over 100,000 tasks (a
    /// clone each) made every record and every drop a walk of all of them, over a second for
    /// the tour's channel cancellation.
    #[derive(Debug)]
    enum UserCounts {
        Few(Vec<(u64, usize)>),
        /// Boxed: the list is the common case, and the box keeps this enum the size of a
        /// `Vec` (an unboxed map made every channel 32 bytes larger and its spawn-and-join in
        /// the tour ~5 % slower).
        #[allow(clippy::box_collection)]
        Many(Box<HashMap<u64, usize, BuildHasherDefault<IdHasher>>>),
    }

    impl UserCounts {
        const FEW: usize = 16;

        fn add(&mut self, task: u64) {
            match self {
                UserCounts::Few(list) => {
                    if let Some((_, n)) = list.iter_mut().find(|(t, _)| *t == task) {
                        *n += 1;
                    } else if list.len() < Self::FEW {
                        list.push((task, 1));
                    } else {
                        let mut map: HashMap<_, _, _> = list.drain(..).collect();
                        map.insert(task, 1);
                        *self = UserCounts::Many(Box::new(map));
                    }
                }
                UserCounts::Many(map) => *map.entry(task).or_insert(0) += 1,
            }
        }

        fn remove(&mut self, task: u64) {
            match self {
                UserCounts::Few(list) => {
                    if let Some(i) = list.iter().position(|(t, _)| *t == task) {
                        list[i].1 -= 1;
                        if list[i].1 == 0 {
                            list.swap_remove(i);
                        }
                    }
                }
                UserCounts::Many(map) => {
                    if let Some(n) = map.get_mut(&task) {
                        *n -= 1;
                        if *n == 0 {
                            map.remove(&task);
                        }
                    }
                }
            }
        }

        fn tasks(&self) -> Vec<u64> {
            match self {
                UserCounts::Few(list) => list.iter().map(|&(t, _)| t).collect(),
                UserCounts::Many(map) => map.keys().copied().collect(),
            }
        }
    }

    /// One side's handles by last user.
    #[derive(Debug)]
    struct Users {
        /// Handles whose user is unknown.
        unknown: AtomicUsize,
        /// The handles' last users.
        known: Mutex<UserCounts>,
    }

    impl Users {
        fn known(&self) -> MutexGuard<'_, UserCounts> {
            // A poisoned list only means a push panicked (out of memory); the counts are whole.
            self.known.lock().unwrap_or_else(PoisonError::into_inner)
        }
    }

    /// What the wait-for graph holds for one side: the channel's users of that side, reachable
    /// while the channel lives.
    struct Probe {
        /// The side's `Users`, inside the channel; null once the channel is gone.
        users: Mutex<*const Users>,
    }

    // SAFETY: the pointer is only dereferenced under the mutex, and `ChanDiag::drop` nulls it
    // under that mutex before the `Users` it points to go away. It is taken when a task first
    // parks, when the channel already sits in its `Arc`, where it stays until that drop, so the
    // `Users` never move meanwhile. `Users` is `Sync`.
    unsafe impl Send for Probe {}
    // SAFETY: as for `Send`.
    unsafe impl Sync for Probe {}

    impl Holders for Probe {
        fn holders(&self, out: &mut Vec<Holder>) {
            let users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
            if users.is_null() {
                return;
            }
            // SAFETY: non-null under the mutex: the channel is alive (see the `Send` impl).
            let users = unsafe { &**users };
            // Relaxed: a diagnostic snapshot; a handle made or dropped meanwhile only changes
            // which guess is given.
            if users.unknown.load(Relaxed) > 0 {
                return;
            }
            out.extend(users.known().tasks().into_iter().filter_map(|task| {
                Some(Holder {
                    task: TaskId::from_u64(task)?,
                    certain: false,
                })
            }));
        }

        fn any_of(&self) -> bool {
            true
        }
    }

    /// The registrations of both sides, made the first time a task parks on the channel.
    struct Registered {
        probes: [Arc<Probe>; 2],
        _registrations: [Registration; 2],
    }

    /// A channel's id, handle users and wait-for-graph registration (module docs).
    pub(crate) struct ChanDiag {
        id: LazyId,
        users: [Users; 2],
        registered: OnceLock<Registered>,
    }

    impl ChanDiag {
        /// A channel's, with one (unused) handle on each side.
        pub(crate) fn new() -> ChanDiag {
            let one = || Users {
                unknown: AtomicUsize::new(1),
                known: Mutex::new(UserCounts::Few(Vec::new())),
            };
            ChanDiag {
                id: LazyId::new(),
                users: [one(), one()],
                registered: OnceLock::new(),
            }
        }

        /// The channel's id (taken on first use).
        #[inline]
        pub(crate) fn id(&self) -> u64 {
            self.id.get()
        }

        /// A new handle on `side` (its user unknown).
        #[inline]
        pub(crate) fn made(&self, side: Side) {
            // Relaxed: a count read only by diagnostic snapshots.
            self.users[side as usize].unknown.fetch_add(1, Relaxed);
        }

        /// The handle tagged `tag` goes away.
        pub(crate) fn dropped(&self, side: Side, tag: &Tag) {
            let users = &self.users[side as usize];
            // Relaxed: only this handle's users write its tag, and we have the last of them.
            match tag.0.load(Relaxed) & USER {
                0 => {
                    users.unknown.fetch_sub(1, Relaxed);
                }
                task => users.known().remove(task),
            }
        }

        /// The handle tagged `tag` is being used by the current task (or thread).
        #[inline]
        pub(crate) fn used(&self, side: Side, tag: &Tag) {
            self.used_by(side, tag, current_task());
        }

        /// The handle tagged `tag` is being used by task `me` (0: a thread).
        #[inline]
        fn used_by(&self, side: Side, tag: &Tag, me: u64) {
            // Relaxed: a diagnostic tag; `moved` re-reads it under the side's lock.
            if tag.0.load(Relaxed) & USER != me {
                self.moved(side, tag, me);
            }
        }

        #[cold]
        #[inline(never)]
        fn moved(&self, side: Side, tag: &Tag, me: u64) {
            // A handle shared for good (its user 0) comes here whenever a task uses it: no lock.
            // Relaxed: as in `used`.
            if tag.0.load(Relaxed) >> MOVES_SHIFT >= MAX_MOVES {
                return;
            }
            let users = &self.users[side as usize];
            let mut known = users.known();
            // Relaxed: every writer of a tag holds this lock.
            let t = tag.0.load(Relaxed);
            let (old, mut moves) = (t & USER, t >> MOVES_SHIFT);
            if old == me || moves >= MAX_MOVES {
                return;
            }
            if old == 0 {
                users.unknown.fetch_sub(1, Relaxed);
            } else {
                known.remove(old);
                moves += 1;
            }
            // Past the limit the handle is shared, not moved: unknown for good.
            let user = if moves >= MAX_MOVES { 0 } else { me };
            if user == 0 {
                users.unknown.fetch_add(1, Relaxed);
            } else {
                known.add(user);
            }
            tag.0.store(user | moves << MOVES_SHIFT, Relaxed);
        }

        /// A `kind` operation through the handle tagged `tag` has just parked: leave the
        /// current task's wait note, record the task as the handle's user, and make sure the
        /// wait-for graph can ask who may complete the operation. One thread-local look-up; the
        /// handle's lock only if its user changed. `tag` is `None` for `closed()`, which waits
        /// for no counterpart and goes through no handle's bookkeeping.
        #[inline]
        pub(crate) fn parked(&self, kind: Kind, tag: Option<&Tag>) {
            let Some(tag) = tag else {
                debug_assert_eq!(kind, Kind::Closed);
                return;
            };
            let channel = self.id();
            let me = note_wait_by(wait_on(kind, channel));
            let side = if kind == Kind::Recv {
                Side::Receivers
            } else {
                Side::Senders
            };
            self.used_by(side, tag, me);
            if self.registered.get().is_none() {
                self.register(channel);
            }
        }

        /// A parked `kind` operation was polled and is still parked: the poll cleared the
        /// current task's wait note, leave it again.
        #[inline(never)]
        pub(crate) fn note_parked(&self, kind: Kind) {
            // Waiting for the close is not waiting for a counterpart to act.
            if kind == Kind::Closed {
                return;
            }
            note_wait(wait_on(kind, self.id()));
        }

        #[cold]
        fn register(&self, channel: u64) {
            self.registered.get_or_init(|| {
                let probe = |side: Side| {
                    Arc::new(Probe {
                        users: Mutex::new(&self.users[side as usize]),
                    })
                };
                // A receiver waits for the senders' users, a sender for the receivers'.
                let probes = [probe(Side::Senders), probe(Side::Receivers)];
                let weak = |p: &Arc<Probe>| {
                    let w: std::sync::Weak<dyn Holders> = Arc::downgrade(p) as _;
                    w
                };
                let registrations = [
                    waitgraph::register(WaitOn::ChannelRecv { channel }, weak(&probes[0])),
                    waitgraph::register(WaitOn::ChannelSend { channel }, weak(&probes[1])),
                ];
                Registered {
                    probes,
                    _registrations: registrations,
                }
            });
        }
    }

    impl Drop for ChanDiag {
        fn drop(&mut self) {
            if let Some(r) = self.registered.get() {
                for p in &r.probes {
                    // The graph may hold a probe a moment longer: it must not reach our `Users`.
                    *p.users.lock().unwrap_or_else(PoisonError::into_inner) = core::ptr::null();
                }
            }
        }
    }

    impl core::fmt::Debug for ChanDiag {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.debug_struct("ChanDiag").field("id", &self.id).finish()
        }
    }

    #[cfg(test)]
    mod tests {
        use super::UserCounts;

        fn sorted(c: &UserCounts) -> Vec<u64> {
            let mut t = c.tasks();
            t.sort_unstable();
            t
        }

        #[test]
        fn user_counts_keep_their_counts_across_the_switch_to_a_map() {
            let mut c = UserCounts::Few(Vec::new());
            c.add(7);
            c.add(7);
            for task in 100..100 + UserCounts::FEW as u64 {
                c.add(task);
            }
            assert!(matches!(c, UserCounts::Many(_)), "past FEW tasks: a map");
            assert_eq!(sorted(&c).len(), UserCounts::FEW + 1);
            // Task 7 used two handles: it stays until both are gone.
            c.remove(7);
            assert!(sorted(&c).contains(&7));
            c.remove(7);
            assert!(!sorted(&c).contains(&7));
            // Removing an unknown task changes nothing.
            c.remove(12345);
            for task in 100..100 + UserCounts::FEW as u64 {
                c.remove(task);
            }
            assert!(sorted(&c).is_empty());
        }
    }
}

/// Under loom: nothing (module docs).
#[cfg(loom)]
mod loom_imp {
    use super::Side;
    use crate::waiter::Kind;

    #[derive(Debug, Default)]
    pub(crate) struct Tag;

    impl Tag {
        pub(crate) const fn new() -> Tag {
            Tag
        }
    }

    #[derive(Debug)]
    pub(crate) struct ChanDiag;

    impl ChanDiag {
        pub(crate) fn new() -> ChanDiag {
            ChanDiag
        }
        #[inline]
        pub(crate) fn made(&self, _: Side) {}
        #[inline]
        pub(crate) fn dropped(&self, _: Side, _: &Tag) {}
        #[inline]
        pub(crate) fn used(&self, _: Side, _: &Tag) {}
        #[inline]
        pub(crate) fn parked(&self, _: Kind, _: Option<&Tag>) {}
        #[inline]
        pub(crate) fn note_parked(&self, _: Kind) {}
    }
}
