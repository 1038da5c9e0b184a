//! Task cells are recycled, not handed back to `free`, within a bound that adapts to the
//! program's use and shrinks when the runtime goes idle.
//!
//! # Why
//!
//! Two costs of `malloc` showed up in the spawn benchmarks (`perf`, 100k fibers spawned, then
//! joined, in rounds):
//!
//! 1. A task freed on another thread than its allocator (a detached child freed on the worker
//!    that ran it while its spawner allocates the next ones elsewhere). glibc's thread cache
//!    holds only 7 chunks per size, so the rest go back to the allocating thread's arena under
//!    that arena's lock, contending with the spawner's `malloc`s (15–20 % of the samples in
//!    `__lll_lock_wait_private`, as much again in `_int_malloc` / `_int_free`).
//! 2. A burst freed where it was allocated: 100k cells of 240 bytes free 24 MB at the top of
//!    the arena, which glibc trims (returns to the kernel) at once, so the next burst faults
//!    every page back in: 4,000–6,000 page faults per round, a quarter of the time per fiber
//!    (`perf record -e page-faults`: 97 % in `sysmalloc`). Running the same binary with
//!    `GLIBC_TUNABLES=glibc.malloc.trim_threshold=...` raised took a spawn + join from 220–250
//!    to 165–180 ns, which is what keeping the cells here does.
//!
//! Go keeps goroutine descriptors in free lists for both reasons (per-P lists balanced through a
//! global list) and never returns them; this recycler keeps what recent use needs and returns
//! the rest once the runtime idles.
//!
//! # How
//!
//! Cells are grouped by [size class](CLASS_SIZES): 16-byte steps up to 1 KiB (glibc's own
//! granularity), then quarter steps to 2 KiB. Larger cells, and cells aligned beyond 16 bytes,
//! always use the system allocator. A block of class `c` is always allocated from the system
//! with `Layout(CLASS_SIZES[c], 16)`, and returned to it with the same layout, whichever path
//! frees it.
//!
//! Recycled blocks are kept at two levels, as the fiber stack pool keeps stacks:
//!
//! 1. per thread and class, no lock, two free lists of up to half of [`LOCAL_BYTES`] each
//!    ([`batch`] blocks): the one in use and a spare;
//! 2. a global pool per class behind a mutex, of up to [`MAX_BATCHES`] such lists (32 MiB a
//!    class), which move whole between it and the threads, so a thread that only frees (the
//!    worker running detached children) feeds a thread that only allocates (their spawner) at
//!    one lock per list.
//!
//! An allocation takes from this thread's lists, then from the global pool, then from the
//! system. Beyond both caps a freed block goes back to the system allocator. What the global
//! pool holds beyond [`BASE_BATCHES`] (512 KiB a class) is *surplus*: a worker that parks while
//! there is surplus parks for at most [`IDLE_TRIM`], and if it slept that long, hands its own
//! lists beyond [`LOCAL_IDLE_BYTES`] a class to the global pool and returns the surplus of
//! every class that no thread drew on since the previous such pass ([`trim_idle`]). So what
//! the recycler keeps is bounded by [`LOCAL_BYTES`] (256 KiB) per class per thread plus 32 MiB
//! per class in use, and falls back to 32 KiB per class per idle worker plus 512 KiB per class
//! within about two idle periods of the last burst (threads that are not workers keep their
//! lists, within `LOCAL_BYTES`). A thread that exits hands its lists to the global pool (or
//! frees them); a runtime that shuts down returns the surplus once its workers have exited
//! ([`release_surplus`]). Under loom every cell uses the system allocator.
//!
//! # Who touches what
//!
//! A free block is owned by exactly one list: a thread's (touched only by that thread, in a
//! thread-local that nothing re-enters: recycling runs no user code) or a batch in the global pool
//! (touched only under its class's mutex). Its first word links it to the next block. Memory moves
//! between threads only through that mutex, which orders the writes of the freeing thread before
//! the reads of the allocating one.

use std::alloc::{self, Layout};
use std::marker::PhantomData;
use std::mem;
use std::ptr::NonNull;

/// Alignment of every pooled block.
const ALIGN: usize = 16;

/// The size classes, in bytes: 16-byte steps to 1 KiB (glibc's own granularity, so a cell
/// takes no more memory than `malloc` would give it), then quarter steps to 2 KiB.
const CLASS_SIZES: [usize; 68] = class_sizes();

const fn class_sizes() -> [usize; 68] {
    let mut sizes = [0; 68];
    let mut c = 0;
    while c < 64 {
        sizes[c] = (c + 1) * 16;
        c += 1;
    }
    while c < 68 {
        sizes[c] = 1024 + (c - 63) * 256;
        c += 1;
    }
    sizes
}

/// How many classes there are.
const CLASSES: usize = CLASS_SIZES.len();

/// Bytes a thread keeps per class while it works: enough that a worker spawning and joining
/// tasks in rounds of a thousand keeps its own cells instead of trading them through the global
/// pool (its lock, and cells last touched by other cores): on 8 and 16 workers, 32 KiB here
/// measured 5-8 % slower on batches of 1,024 spawns.
const LOCAL_BYTES: usize = 256 * 1024;

/// Bytes a worker keeps per class after an idle pass ([`trim_idle`]).
const LOCAL_IDLE_BYTES: usize = 32 * 1024;

/// Batches the global pool keeps per class however idle the runtime (each `LOCAL_BYTES / 2`:
/// 512 KiB in all).
const BASE_BATCHES: usize = 512 * 1024 / (LOCAL_BYTES / 2);

/// Batches the global pool keeps per class at most (32 MiB): the rest of a burst larger than
/// that goes back to the system allocator as it is freed.
const MAX_BATCHES: usize = 32 * 1024 * 1024 / (LOCAL_BYTES / 2);

/// How long a parked worker sleeps before it returns surplus no thread drew on (module docs).
pub(crate) const IDLE_TRIM: std::time::Duration = std::time::Duration::from_secs(1);

/// The class a `size`/`align` allocation is served from, if any.
const fn class_of(size: usize, align: usize) -> Option<usize> {
    if align > ALIGN {
        return None;
    }
    let mut c = 0;
    while c < CLASSES {
        if size <= CLASS_SIZES[c] {
            return Some(c);
        }
        c += 1;
    }
    None
}

/// Blocks of class `c` a thread keeps.
const fn local_cap(c: usize) -> usize {
    let n = LOCAL_BYTES / CLASS_SIZES[c];
    if n < 16 {
        16
    } else {
        n
    }
}

/// Blocks of class `c` a worker keeps after an idle pass.
const fn local_idle_cap(c: usize) -> usize {
    LOCAL_IDLE_BYTES / CLASS_SIZES[c]
}

/// Blocks moved between a thread and the global pool at once.
const fn batch(c: usize) -> usize {
    local_cap(c) / 2
}

/// The system layout of a block of class `c`.
fn block_layout(c: usize) -> Layout {
    // A class size is a non-zero multiple of the (power-of-two) alignment.
    Layout::from_size_align(CLASS_SIZES[c], ALIGN).expect("class layouts are valid")
}

/// The class of `T`, computed once per type at compile time.
struct ClassOf<T>(PhantomData<T>);

impl<T> ClassOf<T> {
    const INDEX: Option<usize> = class_of(mem::size_of::<T>(), mem::align_of::<T>());
}

/// Allocates uninitialised memory for one `T` (`T` is not zero-sized).
#[inline(always)]
pub(crate) fn allocate<T>() -> NonNull<T> {
    debug_assert!(mem::size_of::<T>() > 0);
    let ptr = match ClassOf::<T>::INDEX {
        Some(c) => pool::take(c).unwrap_or_else(|| system_alloc(block_layout(c))),
        None => system_alloc(Layout::new::<T>()),
    };
    ptr.cast()
}

/// Frees memory from [`allocate`]: into the recycler if `T` has a class, else back to the
/// system allocator.
///
/// # Safety
/// `ptr` came from `allocate::<T>()`, is not used again, and whatever `T` it held was dropped
/// (or moved out).
#[inline]
pub(crate) unsafe fn deallocate<T>(ptr: NonNull<T>) {
    match ClassOf::<T>::INDEX {
        // SAFETY: `allocate::<T>` took the block from class `c` (the class is a function of `T`).
        Some(c) => unsafe { pool::give(c, ptr.cast()) },
        // SAFETY: `allocate::<T>` got it from the system with this layout.
        None => unsafe { alloc::dealloc(ptr.as_ptr().cast(), Layout::new::<T>()) },
    }
}

#[inline]
fn system_alloc(layout: Layout) -> NonNull<u8> {
    // SAFETY: `layout` has a non-zero size (task cells are never zero-sized).
    let p = unsafe { alloc::alloc(layout) };
    NonNull::new(p).unwrap_or_else(|| alloc::handle_alloc_error(layout))
}

/// True if the recycler holds surplus that a parked worker should trim after [`IDLE_TRIM`]
/// (in the global pool, or in this thread's lists).
pub(crate) fn has_surplus() -> bool {
    pool::has_surplus()
}

/// Returns to the system the surplus of every size class nobody drew on since the previous
/// call; a worker calls it after sleeping [`IDLE_TRIM`] (module docs).
pub(crate) fn trim_idle() {
    pool::trim_idle()
}

/// Returns the surplus of every size class to the system: a runtime calls it once its workers
/// have exited (and handed their lists to the global pool), since no worker of its is left to
/// trim it later.
pub(crate) fn release_surplus() {
    pool::release_surplus()
}

#[cfg(not(loom))]
mod pool {
    use std::cell::UnsafeCell;
    use std::ptr::NonNull;

    use spectrum_sync::atomic::{AtomicUsize, Ordering::Relaxed};
    use spectrum_sync::Mutex;

    use super::{batch, block_layout, local_idle_cap, BASE_BATCHES, CLASSES, MAX_BATCHES};

    /// A free block: its first word links the next one.
    struct Block {
        next: Option<NonNull<Block>>,
    }

    /// A singly linked list of free blocks of one class.
    pub(super) struct FreeList {
        head: Option<NonNull<Block>>,
        pub(super) len: usize,
    }

    // SAFETY: a list owns its blocks exclusively (free memory nobody else points to), so it may
    // move to another thread; the global pool moves lists only under its mutex.
    unsafe impl Send for FreeList {}

    impl FreeList {
        const fn new() -> FreeList {
            FreeList { head: None, len: 0 }
        }

        fn pop(&mut self) -> Option<NonNull<u8>> {
            let block = self.head?;
            // SAFETY: a listed block is free memory of at least one word, owned by this list,
            // whose first word `push` wrote.
            self.head = unsafe { block.as_ref().next };
            self.len -= 1;
            Some(block.cast())
        }

        /// # Safety
        /// `block` is free memory of this list's class, given up by the caller.
        unsafe fn push(&mut self, block: NonNull<u8>) {
            let block = block.cast::<Block>();
            // SAFETY: blocks are at least 16 bytes and 16-aligned, so a `Block` fits; nobody
            // else uses the memory (caller's contract).
            unsafe { block.as_ptr().write(Block { next: self.head }) };
            self.head = Some(block);
            self.len += 1;
        }

        /// Returns every block to the system allocator.
        pub(super) fn release(mut self, c: usize) {
            while let Some(block) = self.pop() {
                // SAFETY: every block of class `c` was allocated with `block_layout(c)`.
                unsafe { std::alloc::dealloc(block.as_ptr(), block_layout(c)) };
            }
        }
    }

    /// One thread's blocks of one class, in two lists of up to `batch(c)` blocks, so blocks
    /// move to and from the global pool a whole list at a time, without walking one, and a
    /// thread that allocates and frees around a full (or empty) list does not go to the global
    /// pool at every call (as thread caches in allocators keep a spare magazine).
    struct Pair {
        /// Where blocks are taken from and given back to.
        active: FreeList,
        /// A full list (or an empty one).
        spare: FreeList,
    }

    impl Pair {
        const EMPTY: Pair = Pair {
            active: FreeList::new(),
            spare: FreeList::new(),
        };
    }

    /// One thread's lists, with no destructor, so that reaching them is one offset from the
    /// thread pointer (a destructor would add a registration check to every access). `FLUSH`
    /// hands them to the global pool when the thread exits.
    struct Local {
        lists: [Pair; CLASSES],
        /// Set once `FLUSH` is registered (at the first block kept here).
        registered: bool,
        /// Set when `FLUSH` has run: blocks freed later go to the global pool.
        exited: bool,
    }

    thread_local! {
        static LOCAL: UnsafeCell<Local> = const {
            UnsafeCell::new(Local {
                lists: [Pair::EMPTY; CLASSES],
                registered: false,
                exited: false,
            })
        };
        static FLUSH: Flush = const { Flush };
    }

    /// Runs `f` on this thread's lists.
    ///
    /// `f` must not re-enter (it runs no user code: recycling only moves pointers, and the
    /// global pool's lock and the system allocator never call back into this module).
    #[inline]
    fn with_local<R>(f: impl FnOnce(&mut Local) -> R) -> R {
        // SAFETY: the lists are only touched by this thread, through this function, which does
        // not re-enter (above), so the reference is unique while `f` runs.
        LOCAL.with(|local| f(unsafe { &mut *local.get() }))
    }

    /// Hands this thread's lists to the global pool when the thread exits.
    struct Flush;

    impl Drop for Flush {
        fn drop(&mut self) {
            let lists = with_local(|local| {
                local.exited = true;
                local.lists.each_mut().map(|pair| {
                    (
                        std::mem::replace(&mut pair.active, FreeList::new()),
                        std::mem::replace(&mut pair.spare, FreeList::new()),
                    )
                })
            });
            for (c, (active, spare)) in lists.into_iter().enumerate() {
                for list in [active, spare] {
                    if list.len > 0 {
                        give_global(c, list);
                    }
                }
            }
        }
    }

    /// One class's share of the global pool.
    struct Global {
        /// Lists of `batch(c)` blocks (or fewer, from an exiting thread).
        batches: Vec<FreeList>,
        /// Lists taken out so far, and that count at the last idle pass (`trim_idle`): equal
        /// means nobody drew on the pool since.
        takes: usize,
        seen: usize,
    }

    /// The global pool, per class.
    static GLOBAL: [Mutex<Global>; CLASSES] = [const {
        Mutex::new(Global {
            batches: Vec::new(),
            takes: 0,
            seen: 0,
        })
    }; CLASSES];
    /// How many batches each class of `GLOBAL` holds: a hint that skips the lock when empty,
    /// and tells parking workers whether there is surplus to trim.
    static GLOBAL_LEN: [AtomicUsize; CLASSES] = [const { AtomicUsize::new(0) }; CLASSES];

    /// A pooled block of class `c`: this thread's, else a batch from the global pool.
    #[inline]
    pub(super) fn take(c: usize) -> Option<NonNull<u8>> {
        with_local(|local| {
            if let Some(block) = local.lists[c].active.pop() {
                return Some(block);
            }
            if local.exited {
                // Flushed already: what this thread took now would never be handed back.
                return None;
            }
            let pair = &mut local.lists[c];
            pair.active = if pair.spare.len > 0 {
                std::mem::replace(&mut pair.spare, FreeList::new())
            } else if GLOBAL_LEN[c].load(Relaxed) == 0 {
                // Relaxed: a hint; a stale zero costs one system allocation.
                return None;
            } else {
                take_global(c)?
            };
            pair.active.pop()
        })
    }

    /// Keeps a freed block of class `c`.
    ///
    /// # Safety
    /// `block` was taken from class `c` and is given up by the caller.
    #[inline]
    pub(super) unsafe fn give(c: usize, block: NonNull<u8>) {
        /// Where the block went.
        enum Put {
            Kept,
            Spill(FreeList),
            System,
            Global,
        }
        let put = with_local(|local| {
            if local.exited {
                return Put::Global;
            }
            if !local.registered {
                local.registered = true;
                // Registers `FLUSH`'s destructor. This fails only while the thread exits, past
                // the point where a flush could still run: keep nothing here from then on.
                if FLUSH.try_with(|_| ()).is_err() {
                    local.exited = true;
                    return Put::Global;
                }
            }
            let pair = &mut local.lists[c];
            let mut put = Put::Kept;
            if pair.active.len >= batch(c) {
                // Relaxed: a hint; a stale value spills one list more, or frees one block early.
                if pair.spare.len > 0 && GLOBAL_LEN[c].load(Relaxed) >= MAX_BATCHES {
                    // Everything is full: straight back to the system.
                    return Put::System;
                }
                // The full active list becomes the spare; a spare already full goes global.
                let full = std::mem::replace(&mut pair.active, FreeList::new());
                let old = std::mem::replace(&mut pair.spare, full);
                if old.len > 0 {
                    put = Put::Spill(old);
                }
            }
            // SAFETY: forwarded contract.
            unsafe { pair.active.push(block) };
            put
        });
        match put {
            Put::Kept => {}
            Put::Spill(list) => give_global(c, list),
            // SAFETY: a block of class `c` was allocated with `block_layout(c)`.
            Put::System => unsafe { std::alloc::dealloc(block.as_ptr(), block_layout(c)) },
            Put::Global => {
                let mut one = FreeList::new();
                // SAFETY: forwarded contract.
                unsafe { one.push(block) };
                give_global(c, one);
            }
        }
    }

    #[cold]
    fn take_global(c: usize) -> Option<FreeList> {
        let mut global = GLOBAL[c].lock();
        let batch = global.batches.pop()?;
        global.takes = global.takes.wrapping_add(1);
        // Relaxed: written under the lock (which orders the blocks' memory), read as a hint.
        GLOBAL_LEN[c].store(global.batches.len(), Relaxed);
        Some(batch)
    }

    #[cold]
    fn give_global(c: usize, list: FreeList) {
        let mut global = GLOBAL[c].lock();
        if global.batches.len() < MAX_BATCHES {
            global.batches.push(list);
            // Relaxed: as in `take_global`.
            GLOBAL_LEN[c].store(global.batches.len(), Relaxed);
        } else {
            drop(global);
            list.release(c);
        }
    }

    /// True if some class holds more than its base in the global pool, or more than
    /// `local_idle_cap` in this thread's lists.
    pub(super) fn has_surplus() -> bool {
        // Relaxed: hints; a stale one delays a trim by one park, or arms one timeout too many.
        GLOBAL_LEN.iter().any(|n| n.load(Relaxed) > BASE_BATCHES)
            || with_local(|local| {
                local
                    .lists
                    .iter()
                    .enumerate()
                    .any(|(c, pair)| pair.active.len + pair.spare.len > local_idle_cap(c))
            })
    }

    /// Returns to the system the surplus of every class that nobody drew on since the previous
    /// pass (module docs).
    pub(super) fn trim_idle() {
        trim_local();
        trim_classes(false);
    }

    /// Returns the surplus of every class to the system, used or not.
    pub(super) fn release_surplus() {
        trim_classes(true);
    }

    /// `trim_class` for every class holding surplus (but those the unit tests count).
    fn trim_classes(force: bool) {
        for (c, len) in GLOBAL_LEN.iter().enumerate() {
            // Relaxed: as in `has_surplus`.
            if len.load(Relaxed) > BASE_BATCHES && !counted_by_tests(c) {
                trim_class(c, force);
            }
        }
    }

    /// Hands this thread's lists of every class where it holds more than `local_idle_cap` to
    /// the global pool (where `trim_idle` returns them to the system unless someone takes them).
    pub(super) fn trim_local() {
        let mut spilled = Vec::new();
        with_local(|local| {
            if local.exited {
                return;
            }
            for (c, pair) in local.lists.iter_mut().enumerate() {
                if pair.active.len + pair.spare.len > local_idle_cap(c) {
                    for list in [&mut pair.active, &mut pair.spare] {
                        if list.len > 0 {
                            spilled.push((c, std::mem::replace(list, FreeList::new())));
                        }
                    }
                }
            }
        });
        for (c, list) in spilled {
            give_global(c, list);
        }
    }

    /// Blocks this thread keeps of class `c` (for tests).
    #[cfg(test)]
    pub(super) fn local_blocks(c: usize) -> usize {
        with_local(|local| local.lists[c].active.len + local.lists[c].spare.len)
    }

    /// Returns class `c`'s surplus to the system if nobody drew on it since the previous pass
    /// (`trim_idle`), or whatever the pool's use (`force`).
    pub(super) fn trim_class(c: usize, force: bool) {
        let mut global = GLOBAL[c].lock();
        let surplus = if force || global.takes == global.seen {
            let keep = global.batches.len().min(BASE_BATCHES);
            global.batches.split_off(keep)
        } else {
            Vec::new()
        };
        global.seen = global.takes;
        // Relaxed: as in `take_global`.
        GLOBAL_LEN[c].store(global.batches.len(), Relaxed);
        drop(global);
        for list in surplus {
            list.release(c);
        }
    }

    /// True for the classes whose global counts this module's unit tests assert on, which
    /// runtimes in other tests of the same binary must not trim behind their backs (the tests
    /// trim them explicitly, with `trim_class`).
    fn counted_by_tests(c: usize) -> bool {
        cfg!(test) && (65..=67).contains(&c)
    }

    /// A batch out of the global pool without counting as a use (for tests).
    #[cfg(test)]
    pub(super) fn take_global_for_tests(c: usize) -> Option<FreeList> {
        let mut global = GLOBAL[c].lock();
        let batch = global.batches.pop();
        // Relaxed: as in `take_global`.
        GLOBAL_LEN[c].store(global.batches.len(), Relaxed);
        batch
    }

    /// Blocks and batches of class `c` in the global pool (for tests).
    #[cfg(test)]
    pub(super) fn global_blocks(c: usize) -> (usize, usize) {
        let global = GLOBAL[c].lock();
        (
            global.batches.iter().map(|b| b.len).sum(),
            global.batches.len(),
        )
    }
}

/// Under loom every block comes from the system allocator: the recycler is a thread-local plus a
/// mutex, tested by the stress tests below instead.
#[cfg(loom)]
mod pool {
    use std::ptr::NonNull;

    use super::block_layout;

    pub(super) fn take(_c: usize) -> Option<NonNull<u8>> {
        None
    }

    pub(super) fn has_surplus() -> bool {
        false
    }

    pub(super) fn trim_idle() {}

    pub(super) fn release_surplus() {}

    #[cfg(test)]
    pub(super) fn local_blocks(_c: usize) -> usize {
        0
    }

    /// # Safety
    /// `block` was taken from class `c` and is given up by the caller.
    pub(super) unsafe fn give(c: usize, block: NonNull<u8>) {
        // SAFETY: every block of class `c` comes from the system with this layout.
        unsafe { std::alloc::dealloc(block.as_ptr(), block_layout(c)) }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::{Arc, Barrier};

    #[test]
    fn classes_cover_sizes_and_alignments() {
        // The tests below each use a class of their own (the classes above 1 KiB), so that
        // their counts of the global pool do not mix; runtimes in other tests leave 65 to 67
        // alone (`pool::counted_by_tests`).
        const { assert!(BASE_BATCHES >= 1 && MAX_BATCHES > BASE_BATCHES) };
        assert!(local_idle_cap(0) < local_cap(0));
        let mine = [
            class_of(mem::size_of::<[u128; 75]>(), 16),
            class_of(mem::size_of::<[u128; 94]>(), 16),
            class_of(mem::size_of::<[u128; 107]>(), 16),
            class_of(mem::size_of::<[u128; 119]>(), 16),
        ];
        assert_eq!(mine, [Some(64), Some(65), Some(66), Some(67)]);
        assert_eq!(class_of(1, 1), Some(0));
        assert_eq!(class_of(16, 16), Some(0));
        assert_eq!(class_of(17, 8), Some(1));
        assert_eq!(class_of(1024, 8), Some(63));
        assert_eq!(class_of(1025, 8), Some(64));
        assert_eq!(CLASS_SIZES[64], 1280);
        assert_eq!(class_of(2048, 16), Some(CLASSES - 1));
        assert_eq!(class_of(2049, 8), None);
        assert_eq!(class_of(64, 32), None, "over-aligned types bypass the pool");
        for (c, size) in CLASS_SIZES.iter().enumerate() {
            assert_eq!(size % ALIGN, 0);
            assert!(batch(c) >= 8 && batch(c) < local_cap(c));
        }
    }

    #[repr(align(64))]
    struct OverAligned {
        _bytes: [u8; 64],
    }

    #[test]
    fn over_aligned_cells_keep_their_alignment() {
        let cells: Vec<_> = (0..100).map(|_| allocate::<OverAligned>()).collect();
        for p in &cells {
            assert_eq!(p.as_ptr() as usize % 64, 0);
        }
        for p in cells {
            // SAFETY: allocated above, holds nothing.
            unsafe { deallocate(p) };
        }
    }

    /// Allocates `n` cells of `T` here, frees them on another thread, and returns their
    /// addresses.
    fn free_elsewhere<T>(n: usize) -> HashSet<usize> {
        let cells: Vec<usize> = (0..n).map(|_| allocate::<T>().as_ptr() as usize).collect();
        let freed = cells.iter().copied().collect();
        std::thread::spawn(move || {
            for p in cells {
                // SAFETY: allocated above and never used.
                unsafe { deallocate(NonNull::new(p as *mut T).unwrap()) };
            }
        })
        .join()
        .unwrap();
        freed
    }

    /// Frees cells allocated (and never used) on this thread.
    fn free_here<T>(cells: Vec<NonNull<T>>) {
        for p in cells {
            // SAFETY: allocated by the caller and never used.
            unsafe { deallocate(p) };
        }
    }

    /// Takes every block of class `c` out of the global pool and frees it to the system, so
    /// the class is empty again for the next assertion.
    fn drain_global(c: usize) {
        while let Some(list) = pool::take_global_for_tests(c) {
            list.release(c);
        }
    }

    /// Cells freed on another thread reach the allocating thread through the global pool, in
    /// batches; cells freed where they were allocated are kept too (this thread's lists first).
    #[test]
    fn freed_cells_come_back() {
        // A size no other test uses, so the global count below is ours alone.
        type Cell1500 = [u128; 94];
        let c = class_of(mem::size_of::<Cell1500>(), 16).unwrap();
        let n = local_cap(c) * 3;
        let freed = free_elsewhere::<Cell1500>(n);
        // The freeing thread spilled lists while it ran and handed the rest over as it exited.
        assert_eq!(pool::global_blocks(c).0, n);
        let again: Vec<_> = (0..n).map(|_| allocate::<Cell1500>()).collect();
        let reused = again
            .iter()
            .filter(|p| freed.contains(&(p.as_ptr() as usize)))
            .count();
        assert_eq!(reused, n, "every freed cell is handed out again");
        assert_eq!(pool::global_blocks(c).0, 0);
        let here: HashSet<usize> = again.iter().map(|p| p.as_ptr() as usize).collect();
        free_here(again);
        // Freed here: this thread's two lists fill (a few blocks may be left in them from
        // the last batch taken above), the rest spills to the global pool.
        let spilled = pool::global_blocks(c).0;
        assert!(
            spilled >= n - 2 * batch(c) && spilled < n,
            "spilled {spilled} of {n}"
        );
        let third: Vec<_> = (0..n).map(|_| allocate::<Cell1500>()).collect();
        let reused_here = third
            .iter()
            .filter(|p| here.contains(&(p.as_ptr() as usize)))
            .count();
        assert!(
            reused_here >= n - 2 * batch(c),
            "cells freed on their own thread are handed out again ({reused_here} of {n})"
        );
        free_here(third);
        drain_global(c);
    }

    /// What the pool keeps is bounded: a burst beyond the caps goes back to the system.
    #[test]
    fn the_global_pool_keeps_at_most_its_cap() {
        // A size no other test uses (see above).
        type Cell1700 = [u128; 107];
        let c = class_of(mem::size_of::<Cell1700>(), 16).unwrap();
        free_elsewhere::<Cell1700>(batch(c) * (MAX_BATCHES + 10) + local_cap(c));
        let (blocks, batches) = pool::global_blocks(c);
        assert_eq!(batches, MAX_BATCHES, "the pool is full, not over");
        assert!(blocks <= MAX_BATCHES * local_cap(c));
        drain_global(c);
    }

    /// An idle pass keeps the surplus of a class drawn on since the previous pass, and returns
    /// the surplus of one nobody drew on, down to the base.
    #[test]
    fn idle_passes_return_unused_surplus() {
        // A size no other test uses (see above).
        type Cell1900 = [u128; 119];
        let c = class_of(mem::size_of::<Cell1900>(), 16).unwrap();
        free_elsewhere::<Cell1900>(batch(c) * (BASE_BATCHES + 20));
        assert!(pool::global_blocks(c).1 >= BASE_BATCHES + 20);
        assert!(has_surplus());
        // Drawn on: this thread's lists are empty, so the allocation takes a batch.
        let one = allocate::<Cell1900>();
        pool::trim_class(c, false);
        assert!(
            pool::global_blocks(c).1 > BASE_BATCHES,
            "a class in use keeps its surplus"
        );
        pool::trim_class(c, false);
        assert_eq!(
            pool::global_blocks(c).1,
            BASE_BATCHES,
            "untouched for a whole pass: back to the base"
        );
        free_here(vec![one]);
        drain_global(c);
    }

    /// An idle pass hands a thread's lists beyond `LOCAL_IDLE_BYTES` to the global pool; a
    /// thread holding less keeps them.
    #[test]
    fn idle_passes_empty_large_local_lists() {
        // Only this thread's lists are asserted on, so any class will do.
        type Cell960 = [u128; 60];
        let c = class_of(mem::size_of::<Cell960>(), 16).unwrap();
        let few: Vec<_> = (0..local_idle_cap(c) / 2)
            .map(|_| allocate::<Cell960>())
            .collect();
        free_here(few);
        let kept = pool::local_blocks(c);
        assert!(kept <= local_idle_cap(c));
        pool::trim_local();
        assert_eq!(pool::local_blocks(c), kept, "a small local list stays");
        let many: Vec<_> = (0..local_cap(c)).map(|_| allocate::<Cell960>()).collect();
        free_here(many);
        assert!(pool::local_blocks(c) > local_idle_cap(c));
        pool::trim_local();
        assert_eq!(
            pool::local_blocks(c),
            0,
            "a large local list goes to the global pool"
        );
    }

    /// A runtime returns the surplus when it shuts down, and on its own once its workers idle
    /// (after `IDLE_TRIM`).
    #[test]
    fn runtimes_trim_the_surplus() {
        // A size no other test uses (see above).
        type Cell1200 = [u128; 75];
        let c = class_of(mem::size_of::<Cell1200>(), 16).unwrap();
        free_elsewhere::<Cell1200>(batch(c) * (BASE_BATCHES + 20));
        drop(crate::Runtime::builder().workers(1).build().unwrap());
        assert_eq!(
            pool::global_blocks(c).1,
            BASE_BATCHES,
            "a runtime that shut down left surplus behind"
        );
        free_elsewhere::<Cell1200>(batch(c) * (BASE_BATCHES + 20));
        let rt = crate::Runtime::builder().workers(1).build().unwrap();
        let deadline = std::time::Instant::now() + IDLE_TRIM * 20;
        while pool::global_blocks(c).1 > BASE_BATCHES {
            assert!(
                std::time::Instant::now() < deadline,
                "an idle worker never trimmed the surplus"
            );
            std::thread::sleep(IDLE_TRIM / 10);
        }
        drop(rt);
        drain_global(c);
    }

    /// Many threads allocate, write, check and free cells, passing some to each other (freed
    /// there, they go through the recycler): a block handed out twice would show up as a
    /// clobbered pattern.
    #[test]
    fn stress_no_block_is_handed_out_twice() {
        const THREADS: usize = 8;
        const ROUNDS: usize = 20_000;
        type Cell = [u64; 40];
        /// A live cell: its address and the pattern written into it.
        type Live = (usize, u64);
        fn check((p, pattern): Live) {
            let p = NonNull::new(p as *mut Cell).unwrap();
            // SAFETY: a live allocation written with `pattern`, owned by the caller.
            let v = unsafe { p.as_ptr().read() };
            assert!(
                v.iter().all(|w| *w == pattern),
                "a live cell was overwritten"
            );
            // SAFETY: ours to free.
            unsafe { deallocate(p) };
        }
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..THREADS)
            .map(|_| std::sync::mpsc::channel::<Live>())
            .unzip();
        let barrier = Arc::new(Barrier::new(THREADS));
        let threads: Vec<_> = rxs
            .into_iter()
            .enumerate()
            .map(|(t, rx)| {
                let txs = txs.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    let mut mine: Vec<Live> = Vec::new();
                    let mut seed = (t as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                    let mut next = || {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        seed
                    };
                    for i in 0..ROUNDS {
                        let pattern = ((t as u64) << 32) | i as u64;
                        let p = allocate::<Cell>();
                        // SAFETY: freshly allocated for one `Cell`.
                        unsafe { p.as_ptr().write([pattern; 40]) };
                        let live = (p.as_ptr() as usize, pattern);
                        match next() % 2 {
                            0 => txs[next() as usize % THREADS].send(live).unwrap(),
                            _ => mine.push(live),
                        }
                        while mine.len() > 64 {
                            check(mine.swap_remove(next() as usize % mine.len()));
                        }
                        while let Ok(live) = rx.try_recv() {
                            check(live);
                        }
                    }
                    mine.into_iter().for_each(check);
                    rx
                })
            })
            .collect();
        drop(txs);
        // Cells still in flight are checked (and freed) here, once every sender is done.
        let rxs: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        rxs.iter().flat_map(|rx| rx.try_iter()).for_each(check);
    }
}
