//! Why an actor ended: [`ExitReason`], and the ids that name actors and monitors.
//!
//! OTP's reasons map one to one: `normal` is [`ExitReason::Normal`], `shutdown` and
//! `{shutdown, Term}` are [`ExitReason::Shutdown`], `killed` is [`ExitReason::Killed`], `noproc`
//! is [`ExitReason::NoProc`]; a crash is [`ExitReason::Panicked`] (a panic in a handler or hook) or
//! [`ExitReason::Error`] (a hook or handler failed with an error). Only `Normal` and `Shutdown`
//! are *normal* exits as far as links and `transient` restarts are concerned.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

use spectrum_sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A boxed error, the currency of failed hooks.
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// Why an actor ended.
///
/// ```
/// use spectrum_actor::ExitReason;
///
/// assert!(ExitReason::Normal.is_normal());
/// assert!(ExitReason::shutdown("maintenance").is_normal());
/// assert!(!ExitReason::Killed.is_normal());
/// assert_eq!(ExitReason::panicked("boom").to_string(), "panicked: boom");
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ExitReason {
    /// It finished its work: it stopped itself, or every `Addr` to it was dropped and its mailbox
    /// drained (OTP `normal`).
    Normal,
    /// It was asked to stop (by a supervisor, `stop`, a cancelled scope or the runtime shutting
    /// down), optionally with a detail (OTP `shutdown` / `{shutdown, Term}`).
    Shutdown(Option<Arc<str>>),
    /// It was killed with [`kill`](crate::ActorRef::kill): untrappable, no hooks run (OTP
    /// `killed`). Arriving at a peer through a link it is an ordinary, trappable reason.
    Killed,
    /// The actor was already gone when it was linked or monitored (OTP `noproc`).
    NoProc,
    /// A handler or hook panicked, with this message.
    Panicked(Arc<str>),
    /// A hook returned this error, or a handler called [`Context::fail`](crate::Context::fail).
    Error(Arc<dyn Error + Send + Sync + 'static>),
}

impl ExitReason {
    /// `Shutdown` with a detail (OTP `{shutdown, Term}`).
    pub fn shutdown(detail: impl Into<Arc<str>>) -> ExitReason {
        ExitReason::Shutdown(Some(detail.into()))
    }

    /// `Panicked` with a message.
    pub fn panicked(message: impl Into<Arc<str>>) -> ExitReason {
        ExitReason::Panicked(message.into())
    }

    /// `Error` from any error value.
    pub fn error(error: impl Into<BoxError>) -> ExitReason {
        ExitReason::Error(Arc::from(error.into()))
    }

    /// True for the exits OTP calls normal: `Normal` and `Shutdown(_)`. A linked peer that does
    /// not trap exits survives a `Normal` exit only; a `transient` child is restarted only after
    /// an exit that is not normal.
    pub fn is_normal(&self) -> bool {
        matches!(self, ExitReason::Normal | ExitReason::Shutdown(_))
    }

    /// True for `Killed`.
    pub fn is_killed(&self) -> bool {
        matches!(self, ExitReason::Killed)
    }

    /// True for `Panicked(_)`.
    pub fn is_panic(&self) -> bool {
        matches!(self, ExitReason::Panicked(_))
    }

    pub(crate) fn from_panic(payload: &(dyn std::any::Any + Send)) -> ExitReason {
        let msg: Arc<str> = if let Some(s) = payload.downcast_ref::<&'static str>() {
            Arc::from(*s)
        } else if let Some(s) = payload.downcast_ref::<String>() {
            Arc::from(s.as_str())
        } else {
            Arc::from("<non-string panic payload>")
        };
        ExitReason::Panicked(msg)
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Normal => f.write_str("normal"),
            ExitReason::Shutdown(None) => f.write_str("shutdown"),
            ExitReason::Shutdown(Some(d)) => write!(f, "shutdown: {d}"),
            ExitReason::Killed => f.write_str("killed"),
            ExitReason::NoProc => f.write_str("no such actor"),
            ExitReason::Panicked(m) => write!(f, "panicked: {m}"),
            ExitReason::Error(e) => write!(f, "failed: {e}"),
        }
    }
}

impl Error for ExitReason {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            ExitReason::Error(e) => Some(&**e),
            _ => None,
        }
    }
}

/// Two reasons are equal when they are the same kind with the same detail; errors compare by
/// their message.
impl PartialEq for ExitReason {
    fn eq(&self, other: &Self) -> bool {
        use ExitReason::*;
        match (self, other) {
            (Normal, Normal) | (Killed, Killed) | (NoProc, NoProc) => true,
            (Shutdown(a), Shutdown(b)) => a == b,
            (Panicked(a), Panicked(b)) => a == b,
            (Error(a), Error(b)) => a.to_string() == b.to_string(),
            _ => false,
        }
    }
}

/// A process-wide unique actor id (never reused), as shown in task dumps next to
/// `WaitOn::Mailbox { actor }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActorId(u64);

/// Ids are handed out in blocks of [`ID_BLOCK`] per thread (as `spectrum_rt`'s task ids, and
/// Go's `goidcache`), so spawning on several workers does not contend on one counter: unique, only
/// roughly increasing.
const ID_BLOCK: u64 = 256;
static NEXT_ID_BLOCK: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's unused ids: `next..end`.
    static IDS: std::cell::Cell<(u64, u64)> = const { std::cell::Cell::new((0, 0)) };
}

impl ActorId {
    pub(crate) fn next() -> ActorId {
        IDS.with(|ids| {
            let (mut next, mut end) = ids.get();
            if next == end {
                // Relaxed: a unique counter; nothing is published through it.
                next = NEXT_ID_BLOCK.fetch_add(ID_BLOCK, Relaxed);
                end = next + ID_BLOCK;
            }
            ids.set((next + 1, end));
            ActorId(next)
        })
    }

    /// The id as a number.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}
