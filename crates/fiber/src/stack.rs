//! Fiber stacks: `mmap`ed, guarded, and pooled.
//!
//! # Layout
//!
//! ```text
//!  low addresses                                                     high addresses
//!  | guard page (PROT_NONE) | usable stack (PROT_READ|PROT_WRITE) ... grows down <- | top
//!  ^ limit                  ^ guard_end                                              ^ base
//! ```
//!
//! One `mmap` (`MAP_NORESERVE | MAP_STACK`: no commit charge, and no transparent huge pages, so
//! only the pages a fiber touches become resident) plus one `mprotect` for the guard page. A
//! fiber that runs past its stack touches the guard page and takes a `SIGSEGV`, which
//! [`crate::overflow`] turns into a fatal error naming the fiber. Rust code cannot jump over the
//! guard: functions with frames larger than a page probe every page on the way down.
//!
//! # The pool
//!
//! A fresh stack costs two syscalls and two new mappings (about 10 µs); a pooled one costs a
//! `Vec::pop` (about 20 ns). Stacks are recycled through two levels, as allocators do:
//!
//! 1. a per-thread cache of up to [`LOCAL_CAP`] stacks per size, no locks (a fiber's stack is
//!    taken and given back on its home worker, so a worker mostly recycles its own stacks);
//! 2. a global pool of up to [`GLOBAL_CAP`] stacks behind a mutex, fed and drained in batches of
//!    [`BATCH`], so threads that only spawn and threads that only finish fibers balance out.
//!
//! Beyond both caps a returned stack is unmapped. A recycled stack keeps the pages its previous
//! fiber touched resident (that is what makes reuse cheap); the caps bound that memory.
//!
//! Every mapped stack, pooled or live, holds one unit of the [mapping budget](crate::budget).
//! Near the budget (within `2 * LOCAL_CAP` stacks of it) freed stacks skip the thread cache and
//! go to the global pool, where every thread can reuse them. The fallible spawns' early check
//! ([`precheck`]) counts a stack as in use unless it waits in a pool: each thread cache publishes
//! its length (a relaxed store by its owner), summed only when the budget looks spent.
//!
//! Who touches what: a thread cache only by its thread; the global pool under its mutex; the
//! counters are atomics that publish nothing but themselves (hence `Relaxed` throughout: stack
//! memory moves between threads through the pool's mutex or by ownership of a `FiberStack`).

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::num::NonZeroUsize;
use std::sync::{Arc, OnceLock};

use corosensei::stack::valgrind::ValgrindStackRegistration;
use corosensei::stack::{Stack, StackPointer};
use spectrum_sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use spectrum_sync::Mutex;

use crate::budget::{self, Budget};

/// The default usable size of a fiber stack: 256 KiB of address space, of which only the
/// touched pages (typically one) are resident.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;
/// The smallest stack a fiber gets (requests below it are rounded up).
pub const MIN_STACK_SIZE: usize = 16 * 1024;
/// The largest stack a fiber may ask for.
pub const MAX_STACK_SIZE: usize = 1 << 30;

/// Stacks of one size cached per thread (64 × 256 KiB of address space; the resident part is
/// what their previous fibers touched).
pub(crate) const LOCAL_CAP: usize = 64;
/// Stacks moved between a thread cache and the global pool at once.
pub(crate) const BATCH: usize = LOCAL_CAP / 2;
/// Stacks kept in the global pool, all sizes together.
pub(crate) const GLOBAL_CAP: usize = 1024;

pub(crate) static BUDGET: Budget = Budget::new();
static FRESH_MAPS: AtomicU64 = AtomicU64::new(0);
static GLOBAL: Mutex<Pool> = Mutex::new(Pool::new());
static GLOBAL_LEN: AtomicUsize = AtomicUsize::new(0);

/// The system page size.
pub(crate) fn page_size() -> usize {
    static PAGE: OnceLock<usize> = OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: `sysconf` has no preconditions.
        let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if n > 0 {
            n as usize
        } else {
            4096
        }
    })
}

/// Rounds a requested stack size to what a fiber gets: whole pages within the bounds.
pub(crate) fn round_size(requested: usize) -> Option<usize> {
    if requested > MAX_STACK_SIZE {
        return None;
    }
    let page = page_size();
    Some(requested.max(MIN_STACK_SIZE).div_ceil(page) * page)
}

/// One guarded stack mapping, owned.
pub(crate) struct FiberStack {
    /// The highest address (exclusive): where the stack starts.
    top: StackPointer,
    /// Usable bytes (without the guard page).
    size: usize,
    _valgrind: ValgrindStackRegistration,
}

// SAFETY: a `FiberStack` is exclusive ownership of a memory mapping; nothing in it is tied to a
// thread. (A *coroutine* running on it is; that is the fiber's business, see `crate::fiber`.)
unsafe impl Send for FiberStack {}

impl FiberStack {
    /// Maps a new stack with `size` usable bytes (a multiple of the page size) and a guard page.
    fn map(size: usize) -> Result<FiberStack, StackError> {
        if !BUDGET.try_acquire() {
            return Err(StackError::Limit {
                limit: BUDGET.limit(),
            });
        }
        let page = page_size();
        let len = size + page;
        #[cfg(target_os = "linux")]
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK;
        #[cfg(not(target_os = "linux"))]
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing touches no
        // existing memory.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            let err = io::Error::last_os_error();
            BUDGET.release();
            return Err(StackError::Os(err));
        }
        // SAFETY: `base` is the start of the mapping we just made, page aligned, `len > page`.
        if unsafe { libc::mprotect(base, page, libc::PROT_NONE) } != 0 {
            let err = io::Error::last_os_error();
            // SAFETY: unmapping exactly the mapping made above, which nothing else refers to.
            unsafe { libc::munmap(base, len) };
            BUDGET.release();
            return Err(StackError::Os(err));
        }
        // Relaxed: a statistic.
        FRESH_MAPS.fetch_add(1, Relaxed);
        let top = NonZeroUsize::new(base as usize + len).expect("mmap returned address zero");
        Ok(FiberStack {
            top,
            size,
            _valgrind: ValgrindStackRegistration::new(base.cast(), len),
        })
    }

    /// Usable bytes.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// The [`CX_SLOT`](crate::fiber::CX_SLOT) bytes at the very top of the stack, above the
    /// coroutine's frames, where the fiber keeps its context.
    pub(crate) fn cx_slot(&self) -> *mut u8 {
        (self.top.get() - crate::fiber::CX_SLOT) as *mut u8
    }

    /// The guard page: `[start, end)`.
    pub(crate) fn guard(&self) -> (usize, usize) {
        let start = self.top.get() - self.size - page_size();
        (start, start + page_size())
    }
}

// SAFETY: the stack has a guard page below `size - CX_SLOT >= MIN_STACK_SIZE - 256`, well above
// corosensei's 4 KiB minimum, usable bytes; the base (`top - CX_SLOT`) and the mapping start are
// multiples of 16, hence aligned to `STACK_ALIGNMENT`; the memory stays mapped for as long as the
// `FiberStack` lives. The coroutine's frames start below the fiber's context slot.
unsafe impl Stack for FiberStack {
    #[inline]
    fn base(&self) -> StackPointer {
        NonZeroUsize::new(self.top.get() - crate::fiber::CX_SLOT).expect("stack below address 256")
    }

    #[inline]
    fn limit(&self) -> StackPointer {
        NonZeroUsize::new(self.top.get() - self.size - page_size())
            .expect("stack mapping at address zero")
    }
}

impl Drop for FiberStack {
    fn drop(&mut self) {
        let len = self.size + page_size();
        let start = self.top.get() - len;
        // SAFETY: the mapping was made by `map` with this start and length and is owned by us;
        // no coroutine runs on it any more (a `FiberStack` is only dropped once its coroutine is
        // done, see `crate::fiber`).
        let rc = unsafe { libc::munmap(start as *mut libc::c_void, len) };
        debug_assert_eq!(rc, 0, "munmap of a fiber stack failed");
        BUDGET.release();
    }
}

impl fmt::Debug for FiberStack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FiberStack")
            .field("top", &format_args!("{:#x}", self.top))
            .field("size", &self.size)
            .finish()
    }
}

/// Why a stack could not be had.
#[derive(Debug)]
pub(crate) enum StackError {
    /// The mapping budget is spent.
    Limit { limit: usize },
    /// `mmap` or `mprotect` failed.
    Os(io::Error),
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let max = budget::max_map_count();
        match self {
            StackError::Limit { limit } => write!(
                f,
                "fiber stack limit reached: {limit} stacks are mapped, and each guarded stack \
                 costs 2 of the process's vm.max_map_count = {max} memory mappings; raise the \
                 kernel limit (as root: `sysctl -w vm.max_map_count=262144`, then \
                 `spectrum_fiber::set_max_stacks` if you set the budget by hand) or let fibers \
                 finish before spawning more"
            ),
            StackError::Os(e) if e.raw_os_error() == Some(libc::ENOMEM) => write!(
                f,
                "could not map a fiber stack: {e}; the process has run out of memory or of \
                 memory mappings (vm.max_map_count = {max}, each guarded stack costs 2): raise \
                 it as root with `sysctl -w vm.max_map_count=262144`"
            ),
            StackError::Os(e) => write!(f, "could not map a fiber stack: {e}"),
        }
    }
}

/// Stacks grouped by size.
struct Pool {
    by_size: Vec<(usize, Vec<FiberStack>)>,
}

impl Pool {
    const fn new() -> Pool {
        Pool {
            by_size: Vec::new(),
        }
    }

    fn list(&mut self, size: usize) -> &mut Vec<FiberStack> {
        match self.by_size.iter().position(|(s, _)| *s == size) {
            Some(i) => &mut self.by_size[i].1,
            None => {
                self.by_size.push((size, Vec::new()));
                &mut self.by_size.last_mut().expect("just pushed").1
            }
        }
    }

    fn len(&self) -> usize {
        self.by_size.iter().map(|(_, v)| v.len()).sum()
    }
}

/// A thread's cache; spills into the global pool when the thread exits.
struct LocalCache {
    pool: Pool,
    /// Stacks in `pool`.
    count: usize,
    /// `count`, published for [`precheck`]'s slow path (written by this thread only); entered
    /// in [`CACHES`] when the thread first gives a stack back.
    len: Option<Arc<AtomicUsize>>,
}

impl LocalCache {
    const fn new() -> LocalCache {
        LocalCache {
            pool: Pool::new(),
            count: 0,
            len: None,
        }
    }

    /// Takes a stack of `size` from this cache, refilled from the global pool if it has none.
    fn take(&mut self, size: usize) -> Option<FiberStack> {
        let list = self.pool.list(size);
        if list.is_empty() {
            refill(list, size);
            self.count += list.len();
        }
        let stack = list.pop()?;
        self.count -= 1;
        self.publish_len();
        Some(stack)
    }

    /// Keeps `stack`; returns a batch to spill into the global pool when the cache is full.
    fn give(&mut self, stack: FiberStack) -> Option<Vec<FiberStack>> {
        let list = self.pool.list(stack.size());
        let spill = if list.len() >= LOCAL_CAP {
            let keep = list.len() - BATCH;
            Some(list.split_off(keep))
        } else {
            None
        };
        list.push(stack);
        self.count = self.count + 1 - spill.as_ref().map_or(0, Vec::len);
        self.publish_len();
        spill
    }

    #[inline]
    fn publish_len(&mut self) {
        let len = self.len.get_or_insert_with(|| {
            let len = Arc::new(AtomicUsize::new(0));
            CACHES.lock().push(len.clone());
            len
        });
        debug_assert_eq!(self.count, self.pool.len());
        // Relaxed: a statistic read by `precheck` under the registry lock; it only decides
        // whether an advisory error is reported.
        len.store(self.count, Relaxed);
    }
}

impl Drop for LocalCache {
    fn drop(&mut self) {
        for (_, list) in self.pool.by_size.drain(..) {
            give_global(list);
        }
        if let Some(len) = &self.len {
            CACHES.lock().retain(|l| !Arc::ptr_eq(l, len));
        }
    }
}

/// Every thread cache's length, for [`precheck`].
static CACHES: Mutex<Vec<Arc<AtomicUsize>>> = Mutex::new(Vec::new());

thread_local! {
    static LOCAL: RefCell<LocalCache> = const { RefCell::new(LocalCache::new()) };
}

/// Near the budget, freed stacks go to the global pool, where every thread (and [`precheck`])
/// sees them, instead of staying in one thread's cache.
fn under_pressure() -> bool {
    BUDGET.used() + 2 * LOCAL_CAP >= BUDGET.limit()
}

/// Takes a stack of `size` usable bytes (already rounded by [`round_size`]): from this thread's
/// cache, else a batch from the global pool, else a fresh mapping.
pub(crate) fn take(size: usize) -> Result<FiberStack, StackError> {
    let local = LOCAL.try_with(|cache| cache.borrow_mut().take(size));
    match local {
        Ok(Some(stack)) => Ok(stack),
        Ok(None) => FiberStack::map(size),
        // The thread is exiting (its cache is gone): the global pool, else a fresh mapping.
        Err(_) => {
            let mut one = Vec::new();
            refill(&mut one, size);
            match one.pop() {
                Some(s) => {
                    give_global(one);
                    Ok(s)
                }
                None => FiberStack::map(size),
            }
        }
    }
}

/// Gives a stack back for reuse.
pub(crate) fn give(stack: FiberStack) {
    if under_pressure() {
        give_global(vec![stack]);
        return;
    }
    let mut stack = Some(stack);
    let spilled = LOCAL.try_with(|cache| {
        let stack = stack.take().expect("given once");
        cache.borrow_mut().give(stack)
    });
    match spilled {
        Ok(Some(spill)) => give_global(spill),
        Ok(None) => {}
        // The thread is exiting: its cache is gone.
        Err(_) => give_global(stack.into_iter().collect()),
    }
}

fn refill(list: &mut Vec<FiberStack>, size: usize) {
    // Relaxed: a hint that skips the lock when the pool is empty; a stale read only costs a
    // fresh mapping or a useless lock.
    if GLOBAL_LEN.load(Relaxed) == 0 {
        return;
    }
    let mut global = GLOBAL.lock();
    let from = global.list(size);
    let n = from.len().min(BATCH);
    let at = from.len() - n;
    list.extend(from.drain(at..));
    // Relaxed: updated under the lock; read as a hint.
    GLOBAL_LEN.fetch_sub(n, Relaxed);
}

fn give_global(mut stacks: Vec<FiberStack>) {
    if stacks.is_empty() {
        return;
    }
    let excess = {
        let mut global = GLOBAL.lock();
        let room = GLOBAL_CAP.saturating_sub(global.len());
        let keep = stacks.len().min(room);
        let excess = stacks.split_off(keep);
        for s in stacks {
            global.list(s.size()).push(s);
        }
        // Relaxed: see `refill`.
        GLOBAL_LEN.fetch_add(keep, Relaxed);
        excess
    };
    // Unmap outside the lock.
    drop(excess);
}

/// A snapshot of the stack pool, for tests, benchmarks and diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StackStats {
    /// Stacks mapped now: live fibers' stacks plus pooled ones.
    pub mapped: usize,
    /// Stacks waiting in the global pool (per-thread caches are not counted).
    pub pooled_global: usize,
    /// Stacks mapped since the process started (each one a fresh `mmap`).
    pub fresh_maps: u64,
    /// The most stacks that may be mapped at once (see [`max_stacks`]).
    pub limit: usize,
}

/// The stack pool's counters.
///
/// ```
/// let stats = spectrum_fiber::stack_stats();
/// assert!(stats.mapped <= stats.limit);
/// ```
pub fn stack_stats() -> StackStats {
    StackStats {
        mapped: BUDGET.used(),
        // Relaxed: statistics.
        pooled_global: GLOBAL_LEN.load(Relaxed),
        fresh_maps: FRESH_MAPS.load(Relaxed),
        limit: BUDGET.limit(),
    }
}

/// The most fiber stacks this process maps at once: by default derived from Linux's
/// `vm.max_map_count` (31 741 with the default 65530; see the crate docs, "Limits").
pub fn max_stacks() -> usize {
    BUDGET.limit()
}

/// Sets the most fiber stacks this process maps at once (at least 1), e.g. after raising
/// `vm.max_map_count`, or to cap fiber memory. Stacks already mapped are not affected.
pub fn set_max_stacks(limit: usize) {
    BUDGET.set_limit(limit);
}

/// The early check of a fallible spawn: `Err(limit)` when the stacks in use (mapped, less those
/// waiting in the global pool) have reached the budget. Advisory: fibers take their stacks at
/// their first poll, so fibers spawned but not yet started are not counted (see the crate docs,
/// "Limits").
pub(crate) fn precheck() -> Result<(), usize> {
    let limit = BUDGET.limit();
    let used = BUDGET.used();
    if used < limit {
        return Ok(());
    }
    // At the budget: stacks waiting in a pool are not in use. Count them (slow path).
    // Relaxed: statistics for an advisory check.
    let pooled =
        GLOBAL_LEN.load(Relaxed) + CACHES.lock().iter().map(|l| l.load(Relaxed)).sum::<usize>();
    if used.saturating_sub(pooled) >= limit {
        Err(limit)
    } else {
        Ok(())
    }
}
