//! Task cells come from a recycler of freed cells, not straight from `malloc`.
//!
//! # Why
//!
//! A spawned task is freed where its last reference drops: a detached child on the worker that
//! ran it, while its spawner allocates the next cells on another worker. glibc's thread cache
//! holds only 7 chunks per size, so the rest of those frees go back to the allocating thread's
//! arena under that arena's lock, contending with the spawner's `malloc`s on the same lock
//! (`perf` on 100k detached fibers: 15–20 % of the samples in `__lll_lock_wait_private`, as much
//! again in `_int_malloc` / `_int_free`). Go recycles goroutine descriptors the same way for the same reason
//! (per-P free lists balanced through a global list).
//!
//! # How
//!
//! Cells are grouped by [size class](CLASS_SIZES): 64-byte steps up to 1 KiB, then quarter
//! steps to 2 KiB. Larger cells, and cells aligned beyond 16 bytes, go to the system allocator
//! directly (and under loom, every cell does). A block of class `c` is always allocated from the
//! system with `Layout(CLASS_SIZES[c], 16)`, and returned to it with the same layout, whichever
//! level frees it.
//!
//! Freed blocks are kept at two levels, as the fiber stack pool keeps stacks:
//!
//! 1. per thread and class, no lock, two free lists of up to half of [`LOCAL_BYTES`] each
//!    ([`batch`] blocks): the one in use and a spare;
//! 2. a global pool per class behind a mutex, of up to [`GLOBAL_BATCHES`] such lists (1 MiB a
//!    class), which move whole between it and the threads, so a thread that only frees (the worker running detached
//!    children) feeds a thread that only allocates (their spawner) at one lock per batch.
//!
//! Beyond both caps a block goes back to the system allocator, so what the recycler keeps is
//! bounded: `LOCAL_BYTES` per class per thread plus 1 MiB per class, and only for classes in
//! use. A thread that exits hands its lists to the global pool (or frees them).
//!
//! Why the caps stay small: a pool that kept a whole burst (100k cells) for the next burst
//! measured slower than `malloc` after a few bursts of different task types, and slower with
//! each one (spawn + join of 100k tasks: 140 ns, then 190, 210, 260 a task, four rounds
//! interleaved with 100k-fiber rounds). The likely cause: recycled cells come back in the
//! scattered order they were freed, so a burst walks memory at random, while `malloc` carves a
//! fresh burst out of contiguous memory. The recycler is for churn (tasks that come and go while others are
//! spawned), where a small pool is enough; bursts beyond it get the system allocator's
//! contiguous memory.
//!
//! # Who touches what
//!
//! A free block is owned by exactly one list: a thread's (touched only by that thread, through a
//! `RefCell` that nothing re-enters: recycling runs no user code) or a batch in the global pool
//! (touched only under its class's mutex). Its first word links it to the next block. Memory moves
//! between threads only through that mutex, which orders the writes of the freeing thread before
//! the reads of the allocating one.

use std::alloc::{self, Layout};
use std::marker::PhantomData;
use std::mem;
use std::ptr::NonNull;

/// Alignment of every pooled block.
const ALIGN: usize = 16;

/// The size classes, in bytes.
const CLASS_SIZES: [usize; 20] = [
    64, 128, 192, 256, 320, 384, 448, 512, 576, 640, 704, 768, 832, 896, 960, 1024, 1280, 1536,
    1792, 2048,
];

/// How many classes there are.
const CLASSES: usize = CLASS_SIZES.len();

/// Bytes a thread keeps per class.
const LOCAL_BYTES: usize = 64 * 1024;

/// Batches the global pool keeps per class (each `LOCAL_BYTES / 2`: 1 MiB in all).
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

/// Allocates uninitialised memory for one `T` (`T` is not zero-sized).
#[inline]
pub(crate) fn allocate<T>() -> NonNull<T> {
    debug_assert!(mem::size_of::<T>() > 0);
    match ClassOf::<T>::INDEX {
        Some(c) => pool::take(c).cast(),
        None => system_alloc(Layout::new::<T>()).cast(),
    }
}

/// Frees memory from [`allocate`].
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

fn system_alloc(layout: Layout) -> NonNull<u8> {
    // SAFETY: `layout` has a non-zero size (task cells are never zero-sized).
    let p = unsafe { alloc::alloc(layout) };
    NonNull::new(p).unwrap_or_else(|| alloc::handle_alloc_error(layout))
}

#[cfg(not(loom))]
mod pool {
    use std::cell::RefCell;
    use std::ptr::NonNull;

    use spectrum_sync::atomic::{AtomicUsize, Ordering::Relaxed};
    use spectrum_sync::Mutex;

    use super::{batch, block_layout, system_alloc, CLASSES, GLOBAL_BATCHES};

    /// A free block: its first word links the next one.
    struct Block {
        next: Option<NonNull<Block>>,
    }

    /// A singly linked list of free blocks of one class.
    struct FreeList {
        head: Option<NonNull<Block>>,
        len: usize,
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
            // SAFETY: blocks are at least 64 bytes and 16-aligned, so a `Block` fits; nobody
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
        const fn new() -> Pair {
            Pair {
                active: FreeList::new(),
                spare: FreeList::new(),
            }
        }
    }

    /// One thread's lists.
    struct Local {
        lists: [Pair; CLASSES],
    }

    impl Drop for Local {
        fn drop(&mut self) {
            for (c, pair) in self.lists.iter_mut().enumerate() {
                for list in [&mut pair.active, &mut pair.spare] {
                    if list.len > 0 {
                        give_global(c, std::mem::replace(list, FreeList::new()));
                    }
                }
            }
        }
    }

    thread_local! {
        static LOCAL: RefCell<Local> = const {
            RefCell::new(Local { lists: [const { Pair::new() }; CLASSES] })
        };
    }

    /// Batches per class, each a list of `batch(c)` blocks (or fewer, from an exiting thread).
    static GLOBAL: [Mutex<Vec<FreeList>>; CLASSES] = [const { Mutex::new(Vec::new()) }; CLASSES];
    /// How many batches each class of `GLOBAL` holds: a hint that skips the lock when empty.
    static GLOBAL_LEN: [AtomicUsize; CLASSES] = [const { AtomicUsize::new(0) }; CLASSES];

    /// A block of class `c`: this thread's, else a batch from the global pool, else the system's.
    #[inline]
    pub(super) fn take(c: usize) -> NonNull<u8> {
        let got = LOCAL.try_with(|local| {
            let mut local = local.try_borrow_mut().ok()?;
            let pair = &mut local.lists[c];
            if let Some(block) = pair.active.pop() {
                return Some(block);
            }
            pair.active = if pair.spare.len > 0 {
                std::mem::replace(&mut pair.spare, FreeList::new())
            } else {
                take_global(c)?
            };
            pair.active.pop()
        });
        match got {
            Ok(Some(block)) => block,
            // Nothing pooled, or the thread is exiting (its lists are gone).
            _ => system_alloc(block_layout(c)),
        }
    }

    /// Keeps a freed block of class `c` for reuse.
    ///
    /// # Safety
    /// `block` was taken from class `c` and is given up by the caller.
    #[inline]
    pub(super) unsafe fn give(c: usize, block: NonNull<u8>) {
        /// Where a freed block goes.
        enum Put {
            Kept,
            Spill(FreeList),
            System,
        }
        let put = LOCAL.try_with(|local| {
            let Ok(mut local) = local.try_borrow_mut() else {
                return Err(());
            };
            let pair = &mut local.lists[c];
            let mut put = Put::Kept;
            if pair.active.len >= batch(c) {
                // Relaxed: a hint; a stale value spills one list more, or frees one block early.
                if pair.spare.len > 0 && GLOBAL_LEN[c].load(Relaxed) >= GLOBAL_BATCHES {
                    // Everything is full: straight back to the system, in the order blocks are
                    // freed (gathering a list only to walk it and free each block costs more).
                    return Ok(Put::System);
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
            Ok(put)
        });
        match put.ok().and_then(Result::ok) {
            Some(Put::Kept) => {}
            Some(Put::Spill(list)) => give_global(c, list),
            // SAFETY: a block of class `c` was allocated with `block_layout(c)`.
            Some(Put::System) => unsafe { std::alloc::dealloc(block.as_ptr(), block_layout(c)) },
            // The thread is exiting: the block goes to the global pool on its own.
            None => {
                let mut one = FreeList::new();
                // SAFETY: forwarded contract.
                unsafe { one.push(block) };
                give_global(c, one);
            }
        }
    }

    fn take_global(c: usize) -> Option<FreeList> {
        // Relaxed: a hint; a stale zero costs one system allocation, a stale non-zero one lock.
        if GLOBAL_LEN[c].load(Relaxed) == 0 {
            return None;
        }
        let mut global = GLOBAL[c].lock();
        let batch = global.pop()?;
        // Relaxed: written under the lock (which orders the blocks' memory), read as a hint.
        GLOBAL_LEN[c].store(global.len(), Relaxed);
        Some(batch)
    }

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

    use super::{block_layout, system_alloc};

    pub(super) fn take(c: usize) -> NonNull<u8> {
        system_alloc(block_layout(c))
    }

    /// # Safety
    /// `block` was taken from class `c` and is given up by the caller.
    pub(super) unsafe fn give(c: usize, block: NonNull<u8>) {
        // SAFETY: `take` allocated it with this layout.
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
        assert_eq!(class_of(64, 16), Some(0));
        assert_eq!(class_of(65, 8), Some(1));
        assert_eq!(class_of(1024, 8), Some(15));
        assert_eq!(class_of(1025, 8), Some(16));
        assert_eq!(class_of(2048, 16), Some(CLASSES - 1));
        assert_eq!(class_of(2049, 8), None);
        assert_eq!(class_of(64, 32), None, "over-aligned types bypass the pool");
        for (c, size) in CLASS_SIZES.iter().enumerate() {
            assert_eq!(size % ALIGN, 0);
            assert!(batch(c) >= 8 && batch(c) < local_cap(c));
        }
    }

    #[repr(align(16))]
    struct Cell200 {
        _bytes: [u8; 200],
    }

    #[repr(align(64))]
    struct OverAligned {
        _bytes: [u8; 64],
    }

    #[test]
    fn a_freed_cell_is_reused_by_the_same_thread() {
        let a = allocate::<Cell200>();
        // SAFETY: just allocated, holds nothing.
        unsafe { deallocate(a) };
        let b = allocate::<Cell200>();
        assert_eq!(a, b, "the thread list is LIFO");
        // SAFETY: as above.
        unsafe { deallocate(b) };
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

    /// Cells freed on one thread reach another through the global pool, in batches.
    #[test]
    fn cells_freed_on_one_thread_feed_another() {
        // A size no other test uses, so the global count below is ours alone.
        #[repr(align(16))]
        struct Cell1500 {
            _bytes: [u8; 1500],
        }
        let c = class_of(1500, 16).unwrap();
        let n = local_cap(c) * 3;
        let cells: Vec<usize> = (0..n)
            .map(|_| allocate::<Cell1500>().as_ptr() as usize)
            .collect();
        let freed: HashSet<usize> = cells.iter().copied().collect();
        std::thread::spawn(move || {
            for p in cells {
                // SAFETY: allocated above and never used.
                unsafe { deallocate(NonNull::new(p as *mut Cell1500).unwrap()) };
            }
        })
        .join()
        .unwrap();
        // The freeing thread spilled batches while it ran and handed the rest over as it exited.
        assert_eq!(pool::global_blocks(c).0, n);
        let again: Vec<_> = (0..n).map(|_| allocate::<Cell1500>()).collect();
        let reused = again
            .iter()
            .filter(|p| freed.contains(&(p.as_ptr() as usize)))
            .count();
        assert_eq!(reused, n, "every freed cell is handed out again");
        assert_eq!(pool::global_blocks(c).0, 0);
        for p in again {
            // SAFETY: allocated above and never used.
            unsafe { deallocate(p) };
        }
    }

    /// What the pool keeps is bounded: a burst beyond the caps goes back to the system.
    #[test]
    fn the_global_pool_keeps_at_most_its_cap() {
        // A size no other test uses (see above).
        #[repr(align(16))]
        struct Cell1700 {
            _bytes: [u8; 1700],
        }
        let c = class_of(1700, 16).unwrap();
        let n = batch(c) * (GLOBAL_BATCHES + 10) + local_cap(c);
        let cells: Vec<usize> = (0..n)
            .map(|_| allocate::<Cell1700>().as_ptr() as usize)
            .collect();
        std::thread::spawn(move || {
            for p in cells {
                // SAFETY: allocated above and never used.
                unsafe { deallocate(NonNull::new(p as *mut Cell1700).unwrap()) };
            }
        })
        .join()
        .unwrap();
        let (blocks, batches) = pool::global_blocks(c);
        assert_eq!(batches, GLOBAL_BATCHES, "the pool is full, not over");
        assert!(blocks <= GLOBAL_BATCHES * local_cap(c));
        // Drain it, so other tests see an empty class.
        let again: Vec<_> = (0..blocks).map(|_| allocate::<Cell1700>()).collect();
        assert_eq!(pool::global_blocks(c).0, 0);
        for p in again {
            // SAFETY: allocated above and never used.
            unsafe { deallocate(p) };
        }
    }

    /// Many threads allocate, write, check and free cells of mixed classes, passing some to each
    /// other: a block handed out twice would show up as a clobbered pattern.
    #[test]
    fn stress_no_block_is_handed_out_twice() {
        const THREADS: usize = 8;
        const ROUNDS: usize = 20_000;
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..THREADS)
            .map(|_| std::sync::mpsc::channel::<(usize, u64)>())
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
                    let mut mine: Vec<(NonNull<[u64; 40]>, u64)> = Vec::new();
                    let mut seed = (t as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                    let mut next = || {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        seed
                    };
                    let check = |p: NonNull<[u64; 40]>, tag: u64| {
                        // SAFETY: `p` is a live allocation written with `tag` below.
                        let v = unsafe { p.as_ptr().read() };
                        assert!(v.iter().all(|w| *w == tag), "a live cell was overwritten");
                        // SAFETY: ours to free.
                        unsafe { deallocate(p) };
                    };
                    for i in 0..ROUNDS {
                        let tag = ((t as u64) << 32) | i as u64;
                        let p = allocate::<[u64; 40]>();
                        // SAFETY: freshly allocated for one `[u64; 40]`.
                        unsafe { p.as_ptr().write([tag; 40]) };
                        match next() % 4 {
                            0 => txs[next() as usize % THREADS]
                                .send((p.as_ptr() as usize, tag))
                                .unwrap(),
                            _ => mine.push((p, tag)),
                        }
                        while mine.len() > 64 {
                            let (p, tag) = mine.swap_remove(next() as usize % mine.len());
                            check(p, tag);
                        }
                        while let Ok((p, tag)) = rx.try_recv() {
                            check(NonNull::new(p as *mut [u64; 40]).unwrap(), tag);
                        }
                    }
                    for (p, tag) in mine {
                        check(p, tag);
                    }
                    rx
                })
            })
            .collect();
        drop(txs);
        // Cells still in flight are checked (and freed) here, once every sender is done.
        let rxs: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        for (p, tag) in rxs.iter().flat_map(|rx| rx.try_iter()) {
            let p = NonNull::new(p as *mut [u64; 40]).unwrap();
            // SAFETY: a live allocation written with `tag`, handed over by its thread.
            assert!(unsafe { p.as_ptr().read() }.iter().all(|w| *w == tag));
            // SAFETY: ours to free.
            unsafe { deallocate(p) };
        }
    }
}
