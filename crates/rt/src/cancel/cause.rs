//! Why something was cancelled.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// Why a task, scope or token was cancelled.
///
/// Every cancellation in Spectrum carries a cause (Go's `context.WithCancelCause`, Trio's cancel
/// reason): a dropped `JoinHandle`, an explicit request, runtime shutdown, a deadline, a failed
/// sibling in a fail-fast scope, or anything the caller supplies. Causes are cheap to clone; the
/// built-in ones do not allocate.
///
/// ```
/// use spectrum_rt::cancel::{CancelCause, CauseKind};
///
/// let cause = CancelCause::new("user pressed stop");
/// assert_eq!(cause.kind(), CauseKind::Custom);
/// assert_eq!(cause.to_string(), "user pressed stop");
/// assert_eq!(CancelCause::deadline_exceeded().kind(), CauseKind::DeadlineExceeded);
/// ```
#[derive(Clone)]
pub struct CancelCause(Repr);

#[derive(Clone)]
enum Repr {
    Requested,
    HandleDropped,
    Shutdown,
    DeadlineExceeded,
    Custom(Arc<Custom>),
}

struct Custom {
    kind: CauseKind,
    message: String,
    source: Option<Arc<dyn Error + Send + Sync>>,
}

/// The family a [`CancelCause`] belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CauseKind {
    /// `cancel()` was called without a cause.
    Requested,
    /// The `JoinHandle` was dropped.
    HandleDropped,
    /// The runtime shut down.
    Shutdown,
    /// A deadline passed.
    DeadlineExceeded,
    /// A sibling in a fail-fast scope failed (or the scope's body did).
    SiblingFailed,
    /// The enclosing token or scope was cancelled.
    ParentCancelled,
    /// A cause supplied by the caller.
    Custom,
}

impl CancelCause {
    /// `cancel()` without a cause.
    pub const fn requested() -> Self {
        CancelCause(Repr::Requested)
    }

    /// The `JoinHandle` was dropped.
    pub const fn handle_dropped() -> Self {
        CancelCause(Repr::HandleDropped)
    }

    /// The runtime shut down.
    pub const fn shutdown() -> Self {
        CancelCause(Repr::Shutdown)
    }

    /// A deadline passed.
    pub const fn deadline_exceeded() -> Self {
        CancelCause(Repr::DeadlineExceeded)
    }

    /// A cause with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self::with_kind(CauseKind::Custom, message.into(), None)
    }

    /// A cause wrapping an error, which is kept as the cause's `source()`.
    pub fn from_error(error: impl Error + Send + Sync + 'static) -> Self {
        Self::with_kind(CauseKind::Custom, error.to_string(), Some(Arc::new(error)))
    }

    /// A sibling failed; `failure` describes it.
    pub fn sibling_failed(failure: impl fmt::Display) -> Self {
        Self::with_kind(
            CauseKind::SiblingFailed,
            format!("a sibling failed: {failure}"),
            None,
        )
    }

    /// The parent was cancelled with `parent`.
    pub fn parent_cancelled(parent: &CancelCause) -> Self {
        match parent.kind() {
            // A deadline or shutdown stays what it is as it flows down the tree.
            CauseKind::DeadlineExceeded | CauseKind::Shutdown | CauseKind::ParentCancelled => {
                parent.clone()
            }
            _ => Self::with_kind(
                CauseKind::ParentCancelled,
                format!("parent cancelled: {parent}"),
                None,
            ),
        }
    }

    fn with_kind(
        kind: CauseKind,
        message: String,
        source: Option<Arc<dyn Error + Send + Sync>>,
    ) -> Self {
        CancelCause(Repr::Custom(Arc::new(Custom {
            kind,
            message,
            source,
        })))
    }

    /// The cause's family.
    pub fn kind(&self) -> CauseKind {
        match &self.0 {
            Repr::Requested => CauseKind::Requested,
            Repr::HandleDropped => CauseKind::HandleDropped,
            Repr::Shutdown => CauseKind::Shutdown,
            Repr::DeadlineExceeded => CauseKind::DeadlineExceeded,
            Repr::Custom(c) => c.kind,
        }
    }

    /// The error this cause wraps, if it was made with [`from_error`](Self::from_error).
    pub fn error(&self) -> Option<&(dyn Error + Send + Sync + 'static)> {
        match &self.0 {
            Repr::Custom(c) => c.source.as_deref(),
            _ => None,
        }
    }

    /// Packs the cause into a word for a task header: built-ins are small integers, a custom cause
    /// is its `Arc` pointer (aligned, so never a small integer).
    pub(crate) fn into_word(self) -> usize {
        match self.0 {
            Repr::Requested => 1,
            Repr::HandleDropped => 2,
            Repr::Shutdown => 3,
            Repr::DeadlineExceeded => 4,
            Repr::Custom(c) => Arc::into_raw(c) as usize,
        }
    }

    /// Reads a cause packed by [`into_word`](Self::into_word) without consuming it.
    ///
    /// # Safety
    ///
    /// `word` must come from `into_word` and not yet have been passed to
    /// [`drop_word`](Self::drop_word).
    pub(crate) unsafe fn clone_from_word(word: usize) -> Option<Self> {
        Some(CancelCause(match word {
            0 => return None,
            1 => Repr::Requested,
            2 => Repr::HandleDropped,
            3 => Repr::Shutdown,
            4 => Repr::DeadlineExceeded,
            ptr => {
                let ptr = ptr as *const Custom;
                // SAFETY: `ptr` came from `Arc::into_raw` and its reference is still held by the
                // word (caller's contract); we add one for the clone we return.
                unsafe {
                    Arc::increment_strong_count(ptr);
                    Repr::Custom(Arc::from_raw(ptr))
                }
            }
        }))
    }

    /// Releases a cause packed by [`into_word`](Self::into_word).
    ///
    /// # Safety
    ///
    /// `word` must come from `into_word` and be released once.
    pub(crate) unsafe fn drop_word(word: usize) {
        if word > 4 {
            // SAFETY: the word owns one strong count of the `Arc` (caller's contract).
            drop(unsafe { Arc::from_raw(word as *const Custom) });
        }
    }
}

impl fmt::Display for CancelCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Requested => f.write_str("cancellation requested"),
            Repr::HandleDropped => f.write_str("join handle dropped"),
            Repr::Shutdown => f.write_str("runtime shut down"),
            Repr::DeadlineExceeded => f.write_str("deadline exceeded"),
            Repr::Custom(c) => f.write_str(&c.message),
        }
    }
}

impl fmt::Debug for CancelCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelCause")
            .field("kind", &self.kind())
            .field("message", &self.to_string())
            .finish()
    }
}

impl PartialEq for CancelCause {
    /// Two causes are equal when they are the same built-in cause or the same custom cause
    /// object (clones of one another).
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Repr::Custom(a), Repr::Custom(b)) => Arc::ptr_eq(a, b),
            (a, b) => core::mem::discriminant(a) == core::mem::discriminant(b),
        }
    }
}

impl Eq for CancelCause {}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_without_leaking() {
        for cause in [
            CancelCause::requested(),
            CancelCause::handle_dropped(),
            CancelCause::shutdown(),
            CancelCause::deadline_exceeded(),
            CancelCause::new("custom"),
        ] {
            let word = cause.clone().into_word();
            // SAFETY: `word` is live until `drop_word` below.
            let back = unsafe { CancelCause::clone_from_word(word) }.unwrap();
            assert_eq!(back, cause);
            assert_eq!(back.to_string(), cause.to_string());
            // SAFETY: released exactly once.
            unsafe { CancelCause::drop_word(word) };
        }
        // SAFETY: zero is the documented "no cause".
        assert!(unsafe { CancelCause::clone_from_word(0) }.is_none());
    }

    #[test]
    fn parent_cause_keeps_deadlines() {
        let d = CancelCause::deadline_exceeded();
        assert_eq!(
            CancelCause::parent_cancelled(&d).kind(),
            CauseKind::DeadlineExceeded
        );
        let p = CancelCause::parent_cancelled(&CancelCause::new("stop"));
        assert_eq!(p.kind(), CauseKind::ParentCancelled);
        assert_eq!(p.to_string(), "parent cancelled: stop");
    }
}
