//! Task identity: ids and spawn metadata.

use std::borrow::Cow;
use std::fmt;
use std::num::NonZeroU64;
// Plain std atomics: ids only need uniqueness, which an atomic counter gives without ordering, so
// this counter is not part of any protocol loom needs to explore.
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A task's id, unique among all tasks of all runtimes in the process.
///
/// Ids are handed out in blocks of 256 per thread, so spawning does not contend on one counter;
/// they are unique but only roughly increasing.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(NonZeroU64);

const BLOCK: u64 = 256;
static NEXT_BLOCK: AtomicU64 = AtomicU64::new(1);

impl TaskId {
    pub(crate) fn next() -> TaskId {
        crate::context::with(TaskId::next_in)
    }

    /// The next id from this thread's block (taking a new block when it is used up).
    pub(crate) fn next_in(cx: &crate::context::Context) -> TaskId {
        let (mut next, mut end) = cx.ids.get();
        if next == end {
            // Relaxed: only atomicity matters (see the import comment).
            next = NEXT_BLOCK.fetch_add(BLOCK, Relaxed);
            end = next + BLOCK;
        }
        cx.ids.set((next + 1, end));
        TaskId(NonZeroU64::new(next).expect("task id space exhausted"))
    }

    /// An id from its number (for diagnostics that only kept the number).
    pub(crate) fn from_raw(id: u64) -> TaskId {
        TaskId(NonZeroU64::new(id).unwrap_or(NonZeroU64::MIN))
    }

    /// The id back from [`as_u64`](TaskId::as_u64) (for primitives that keep a task's id in an
    /// atomic word); `None` for 0.
    pub fn from_u64(id: u64) -> Option<TaskId> {
        NonZeroU64::new(id).map(TaskId)
    }

    /// The id as a number.
    pub fn as_u64(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaskId({})", self.0)
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A task's name: a `&'static str` is kept as it is, a computed name is owned (one allocation).
pub(crate) type TaskName = Cow<'static, str>;

/// What a task carries about where it came from, for diagnostics.
#[derive(Debug)]
pub(crate) struct Meta {
    /// Where `spawn` was called (`#[track_caller]`).
    pub(crate) location: &'static std::panic::Location<'static>,
    /// The name given through the spawn builder (borrowed when it was a `&'static str`).
    pub(crate) name: Option<TaskName>,
    /// The task that spawned this one, if it was spawned from a task.
    pub(crate) parent: Option<TaskId>,
    /// The runtime's coarse clock (milliseconds since the runtime started) at spawn.
    pub(crate) born_ms: u32,
    /// What kind of unit this task is (async task, blocking job, ...).
    pub(crate) kind: TaskKind,
    /// The scope it was spawned into, if any (`scope::Scope::spawn`; scope ids start at 1).
    pub(crate) scope: Option<NonZeroU64>,
}

/// What kind of unit a task is; shown in task lists and dumps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TaskKind {
    /// An async task on the worker pool.
    Async,
    /// An async task pinned to one worker thread (`spawn_local`, `spawn_pinned`).
    Local,
    /// A closure on the blocking pool (`spawn_blocking`).
    Blocking,
    /// A closure on its own OS thread (`task::Builder::spawn_thread`).
    Thread,
    /// A fiber: a pinned task whose future owns a stack (`spectrum-fiber`).
    Fiber,
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_across_threads() {
        let mut all: Vec<u64> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    (0..1000)
                        .map(|_| TaskId::next().as_u64())
                        .collect::<Vec<u64>>()
                })
            })
            .flat_map(|h| h.join().unwrap())
            .collect::<Vec<u64>>();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
    }

    /// Every task carries a `Meta`: a borrowed name costs no allocation, and the name's extra
    /// word is paid for by the scope id's niche, so a task is no bigger than with a boxed name.
    #[test]
    fn meta_stays_seven_words() {
        assert_eq!(std::mem::size_of::<Meta>(), 56);
    }
}
