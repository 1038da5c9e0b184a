//! Task cells freed on another thread than the one that allocated them are recycled, not handed
//! to `free`.
//!
//! # Why
//!
//! A spawned task is freed where its last reference drops: a detached child (a `fiber::scope`
//! child, say) on the worker that ran it, while its spawner allocates the next cells on another
//! worker. glibc's thread cache holds only 7 chunks per size, so the rest of those frees go back
//! to the allocating thread's arena under that arena's lock, contending with the spawner's
//! `malloc`s on the same lock (`perf` on 100k detached fibers: 15–20 % of the samples in
//! `__lll_lock_wait_private`, as much again in `_int_malloc` / `_int_free`). Go recycles
//! goroutine descriptors for the same reason (per-P free lists balanced through a global list).
//!
//! A cell freed on the thread that allocated it goes straight back to `malloc`, which handles
//! that case well: its thread cache, and a burst of allocations carved out of contiguous memory.
//! Recycling those too measured slower than `malloc` in the spawn benchmarks (100k tasks spawned
//! then joined, rounds of different task types interleaved), so the recycler only takes what
//! `malloc` handles badly. Each cell records which thread allocated it ([`Tag`], in the task
//! header).
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
//! 2. a global pool per class behind a mutex, of up to [`GLOBAL_BATCHES`] such lists (512 KiB a
//!    class), which move whole between it and the threads, so a thread that only frees (the
//!    worker running detached children) feeds a thread that only allocates (their spawner) at
//!    one lock per list.
//!
//! An allocation takes from this thread's lists, then from the global pool, then from the
//! system. Beyond both caps a freed block goes back to the system allocator, so what the
//! recycler keeps is bounded: `LOCAL_BYTES` per class per thread plus 512 KiB per class, and
//! only for classes in use. A thread that exits hands its lists to the global pool (or frees
//! them). Under loom every cell uses the system allocator.
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

/// Bytes a thread keeps per class.
const LOCAL_BYTES: usize = 32 * 1024;

/// Batches the global pool keeps per class (each `LOCAL_BYTES / 2`: 512 KiB in all).
const GLOBAL_BATCHES: usize = 32;

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

/// Which thread allocated a block: a small number per thread, drawn at its first allocation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Tag(u32);

/// This thread's [`Tag`].
#[inline]
fn thread_tag() -> Tag {
    use std::cell::Cell;
    // Plain std atomics, as for task ids: tags only need uniqueness, so this counter is not
    // part of any protocol loom needs to explore (and loom atomics cannot be statics).
    use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
    static NEXT: AtomicU32 = AtomicU32::new(1);
    thread_local! {
        // Const-initialised and without a destructor: reading it is one offset from the
        // thread pointer, and it stays readable while the thread exits.
        static TAG: Cell<u32> = const { Cell::new(0) };
    }
    TAG.with(|t| {
        if t.get() == 0 {
            // Relaxed: only uniqueness matters. After 4 billion threads two may share a tag,
            // which only sends one of their frees to the system allocator.
            t.set(NEXT.fetch_add(1, Relaxed).max(1));
        }
        Tag(t.get())
    })
}

/// Allocates uninitialised memory for one `T` (`T` is not zero-sized), and says which thread
/// did (pass the tag back to [`deallocate`]).
#[inline(always)]
pub(crate) fn allocate<T>() -> (NonNull<T>, Tag) {
    debug_assert!(mem::size_of::<T>() > 0);
    let ptr = match ClassOf::<T>::INDEX {
        Some(c) => pool::take(c).unwrap_or_else(|| system_alloc(block_layout(c))),
        None => system_alloc(Layout::new::<T>()),
    };
    (ptr.cast(), thread_tag())
}

/// Frees memory from [`allocate`]: into the recycler when another thread allocated it (what
/// `malloc` handles badly), back to the system allocator when this thread did (what `malloc`
/// handles well: its thread cache and a burst's contiguous memory beat recycled cells).
///
/// # Safety
/// `ptr` and `tag` came from `allocate::<T>()`, `ptr` is not used again, and whatever `T` it
/// held was dropped (or moved out).
#[inline]
pub(crate) unsafe fn deallocate<T>(ptr: NonNull<T>, tag: Tag) {
    match ClassOf::<T>::INDEX {
        // SAFETY: `allocate::<T>` took the block from class `c` (the class is a function of `T`).
        Some(c) if tag != thread_tag() => unsafe { pool::give(c, ptr.cast()) },
        // SAFETY: every block of class `c` comes from the system with `block_layout(c)`.
        Some(c) => unsafe { alloc::dealloc(ptr.as_ptr().cast(), block_layout(c)) },
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

#[cfg(not(loom))]
mod pool {
    use std::cell::UnsafeCell;
    use std::ptr::NonNull;

    use spectrum_sync::atomic::{AtomicUsize, Ordering::Relaxed};
    use spectrum_sync::Mutex;

    use super::{batch, block_layout, CLASSES, GLOBAL_BATCHES};

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
        fn release(mut self, c: usize) {
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

    /// Batches per class, each a list of `batch(c)` blocks (or fewer, from an exiting thread).
    static GLOBAL: [Mutex<Vec<FreeList>>; CLASSES] = [const { Mutex::new(Vec::new()) }; CLASSES];
    /// How many batches each class of `GLOBAL` holds: a hint that skips the lock when empty.
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

    /// Keeps a block of class `c` freed by a thread other than its allocator.
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
                if pair.spare.len > 0 && GLOBAL_LEN[c].load(Relaxed) >= GLOBAL_BATCHES {
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
        let batch = global.pop()?;
        // Relaxed: written under the lock (which orders the blocks' memory), read as a hint.
        GLOBAL_LEN[c].store(global.len(), Relaxed);
        Some(batch)
    }

    #[cold]
    fn give_global(c: usize, list: FreeList) {
        let mut global = GLOBAL[c].lock();
        if global.len() < GLOBAL_BATCHES {
            global.push(list);
            // Relaxed: as in `take_global`.
            GLOBAL_LEN[c].store(global.len(), Relaxed);
        } else {
            drop(global);
            list.release(c);
        }
    }

    /// Blocks and batches of class `c` in the global pool (for tests).
    #[cfg(test)]
    pub(super) fn global_blocks(c: usize) -> (usize, usize) {
        let global = GLOBAL[c].lock();
        (global.iter().map(|b| b.len).sum(), global.len())
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

    #[test]
    fn tags_tell_threads_apart() {
        let here = thread_tag();
        assert_eq!(here, thread_tag());
        let there = std::thread::spawn(thread_tag).join().unwrap();
        assert_ne!(here, there);
        assert_ne!(there, Tag(0));
    }

    #[repr(align(64))]
    struct OverAligned {
        _bytes: [u8; 64],
    }

    #[test]
    fn over_aligned_cells_keep_their_alignment() {
        let cells: Vec<_> = (0..100).map(|_| allocate::<OverAligned>()).collect();
        for (p, _) in &cells {
            assert_eq!(p.as_ptr() as usize % 64, 0);
        }
        for (p, tag) in cells {
            // SAFETY: allocated above, holds nothing.
            unsafe { deallocate(p, tag) };
        }
    }

    /// Allocates `n` cells of `T` here, frees them on another thread, and returns their
    /// addresses.
    fn free_elsewhere<T>(n: usize) -> HashSet<usize> {
        let cells: Vec<(usize, Tag)> = (0..n)
            .map(|_| {
                let (p, tag) = allocate::<T>();
                (p.as_ptr() as usize, tag)
            })
            .collect();
        let freed = cells.iter().map(|(p, _)| *p).collect();
        std::thread::spawn(move || {
            for (p, tag) in cells {
                // SAFETY: allocated above and never used.
                unsafe { deallocate(NonNull::new(p as *mut T).unwrap(), tag) };
            }
        })
        .join()
        .unwrap();
        freed
    }

    /// Frees cells allocated (and never used) on this thread.
    fn free_here<T>(cells: Vec<(NonNull<T>, Tag)>) {
        for (p, tag) in cells {
            // SAFETY: allocated by the caller and never used.
            unsafe { deallocate(p, tag) };
        }
    }

    /// Cells freed on another thread reach the allocating thread through the global pool, in
    /// batches; cells freed where they were allocated go back to the system.
    #[test]
    fn cells_freed_on_another_thread_come_back() {
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
            .filter(|(p, _)| freed.contains(&(p.as_ptr() as usize)))
            .count();
        assert_eq!(reused, n, "every freed cell is handed out again");
        assert_eq!(pool::global_blocks(c).0, 0);
        free_here(again);
        assert!(
            pool::take(c).is_none(),
            "cells freed on their own thread are not pooled"
        );
    }

    /// What the pool keeps is bounded: a burst beyond the caps goes back to the system.
    #[test]
    fn the_global_pool_keeps_at_most_its_cap() {
        // A size no other test uses (see above).
        type Cell1700 = [u128; 107];
        let c = class_of(mem::size_of::<Cell1700>(), 16).unwrap();
        free_elsewhere::<Cell1700>(batch(c) * (GLOBAL_BATCHES + 10) + local_cap(c));
        let (blocks, batches) = pool::global_blocks(c);
        assert_eq!(batches, GLOBAL_BATCHES, "the pool is full, not over");
        assert!(blocks <= GLOBAL_BATCHES * local_cap(c));
        // Drain it, so other tests see an empty class.
        let again: Vec<_> = (0..blocks).map(|_| allocate::<Cell1700>()).collect();
        assert_eq!(pool::global_blocks(c).0, 0);
        free_here(again);
    }

    /// Many threads allocate, write, check and free cells, passing some to each other (freed
    /// there, they go through the recycler): a block handed out twice would show up as a
    /// clobbered pattern.
    #[test]
    fn stress_no_block_is_handed_out_twice() {
        const THREADS: usize = 8;
        const ROUNDS: usize = 20_000;
        type Cell = [u64; 40];
        /// A live cell: its address, its allocation tag and the pattern written into it.
        type Live = (usize, Tag, u64);
        fn check((p, tag, pattern): Live) {
            let p = NonNull::new(p as *mut Cell).unwrap();
            // SAFETY: a live allocation written with `pattern`, owned by the caller.
            let v = unsafe { p.as_ptr().read() };
            assert!(
                v.iter().all(|w| *w == pattern),
                "a live cell was overwritten"
            );
            // SAFETY: ours to free.
            unsafe { deallocate(p, tag) };
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
                        let (p, tag) = allocate::<Cell>();
                        // SAFETY: freshly allocated for one `Cell`.
                        unsafe { p.as_ptr().write([pattern; 40]) };
                        let live = (p.as_ptr() as usize, tag, pattern);
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
