//! Spawn errors: why a fiber could not be spawned, with the closure given back.

use std::error::Error;
use std::fmt;

/// Why a fiber could not be spawned.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpawnErrorKind {
    /// No Spectrum runtime is entered on this thread (and none was given).
    NoRuntime,
    /// The process has mapped as many fiber stacks as it may: `limit` stacks, derived from
    /// Linux's `vm.max_map_count` (each guarded stack costs two mappings). See the crate docs,
    /// "Limits".
    StackLimit {
        /// The most stacks this process maps at once ([`crate::max_stacks`]).
        limit: usize,
        /// The kernel's `vm.max_map_count`.
        max_map_count: usize,
    },
    /// The requested stack size is larger than [`MAX_STACK_SIZE`](crate::MAX_STACK_SIZE).
    StackTooLarge {
        /// The size asked for, in bytes.
        requested: usize,
    },
}

impl fmt::Display for SpawnErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnErrorKind::NoRuntime => f.write_str(
                "no Spectrum runtime: spawn fibers from a task, a fiber, inside \
                 `Runtime::block_on`, after `Handle::enter()`, or with `Builder::spawn_on`",
            ),
            SpawnErrorKind::StackLimit {
                limit,
                max_map_count,
            } => write!(
                f,
                "fiber stack limit reached: {limit} stacks are in use, and each guarded stack \
                 costs 2 of the process's vm.max_map_count = {max_map_count} memory mappings; \
                 raise the kernel limit (as root: `sysctl -w vm.max_map_count=262144`; the \
                 budget follows it, or set it with `spectrum_fiber::set_max_stacks`) or let \
                 fibers finish before spawning more"
            ),
            SpawnErrorKind::StackTooLarge { requested } => write!(
                f,
                "a fiber stack of {requested} bytes was requested; the most is {} bytes",
                crate::MAX_STACK_SIZE
            ),
        }
    }
}

/// A fiber that could not be spawned: the reason, and the closure, given back.
///
/// ```
/// use spectrum_fiber::{Builder, SpawnErrorKind};
///
/// // No runtime entered on this thread:
/// let err = Builder::new().spawn(|| 1).unwrap_err();
/// assert_eq!(*err.kind(), SpawnErrorKind::NoRuntime);
/// let f = err.into_inner();
/// assert_eq!(f(), 1);
/// ```
pub struct SpawnError<F> {
    kind: SpawnErrorKind,
    f: F,
}

impl<F> SpawnError<F> {
    pub(crate) fn new(kind: SpawnErrorKind, f: F) -> SpawnError<F> {
        SpawnError { kind, f }
    }

    /// Why the spawn failed.
    pub fn kind(&self) -> &SpawnErrorKind {
        &self.kind
    }

    /// True if the stack limit was reached.
    pub fn is_stack_limit(&self) -> bool {
        matches!(self.kind, SpawnErrorKind::StackLimit { .. })
    }

    /// The closure that was not spawned.
    pub fn into_inner(self) -> F {
        self.f
    }
}

impl<F> fmt::Debug for SpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpawnError")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl<F> fmt::Display for SpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.kind, f)
    }
}

impl<F> Error for SpawnError<F> {}
