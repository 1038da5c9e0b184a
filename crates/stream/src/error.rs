//! [`StreamError`]: what `on_error` carries.
//!
//! A stream error travels through every operator to every subscriber of a hot source and to
//! every retry attempt, so it is cheap to clone (one `Arc`). Errors raised by this crate have a
//! [`ErrorKind`] so callers can match on them; errors raised by user code keep their source.

use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// What went wrong, for errors raised by this crate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `request(0)`: rule 3.9.
    BadRequest,
    /// An item arrived with no demand and no room to keep it (an overflow policy's `Error`).
    Overflow,
    /// No item within the time allowed ([`crate::Flux::timeout`]).
    Timeout,
    /// A subscriber's signal method, or a user function inside an operator, panicked.
    Panicked,
    /// `group_by` met more groups than the downstream would accept.
    TooManyGroups,
    /// The publisher refused the subscription (say, a single-use source subscribed twice).
    Rejected,
    /// No Spectrum runtime to run an asynchronous stage on.
    NoRuntime,
    /// An error from user code or from upstream.
    Other,
}

/// The error a stream terminates with: cheap to clone, with a kind and an optional source.
///
/// ```
/// use spectrum_stream::{ErrorKind, StreamError};
/// let e = StreamError::msg("disk full");
/// assert_eq!(e.kind(), ErrorKind::Other);
/// assert_eq!(e.to_string(), "disk full");
/// ```
#[derive(Clone)]
pub struct StreamError(Arc<Inner>);

struct Inner {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn Error + Send + Sync + 'static>>,
}

impl StreamError {
    fn make(
        kind: ErrorKind,
        message: String,
        source: Option<Box<dyn Error + Send + Sync>>,
    ) -> Self {
        StreamError(Arc::new(Inner {
            kind,
            message,
            source,
        }))
    }

    /// Wraps an error from user code.
    pub fn new(error: impl Error + Send + Sync + 'static) -> Self {
        let message = error.to_string();
        Self::make(ErrorKind::Other, message, Some(Box::new(error)))
    }

    /// An error that is just a message.
    pub fn msg(message: impl Into<String>) -> Self {
        Self::make(ErrorKind::Other, message.into(), None)
    }

    pub(crate) fn with_kind(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self::make(kind, message.into(), None)
    }

    /// The error for `request(0)` (rule 3.9).
    pub fn bad_request() -> Self {
        Self::with_kind(
            ErrorKind::BadRequest,
            "request(0): a subscriber must request at least one item (reactive streams rule 3.9)",
        )
    }

    /// An overflow error from `operator`.
    pub fn overflow(operator: &str, detail: impl fmt::Display) -> Self {
        Self::with_kind(
            ErrorKind::Overflow,
            format!("{operator}: overflow: {detail}"),
        )
    }

    /// A timeout after `after`.
    pub fn timeout(after: Duration) -> Self {
        Self::with_kind(
            ErrorKind::Timeout,
            format!("timeout: no item within {after:?}"),
        )
    }

    /// A panic caught while delivering a signal; `payload` is what `catch_unwind` returned.
    pub fn panicked(payload: &(dyn std::any::Any + Send)) -> Self {
        let what = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "a non-string payload".to_string()
        };
        Self::with_kind(
            ErrorKind::Panicked,
            format!("a subscriber or operator function panicked: {what}"),
        )
    }

    /// The kind of error.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// True for the error of `request(0)`.
    pub fn is_bad_request(&self) -> bool {
        self.0.kind == ErrorKind::BadRequest
    }

    /// True for an overflow.
    pub fn is_overflow(&self) -> bool {
        self.0.kind == ErrorKind::Overflow
    }

    /// True for a timeout.
    pub fn is_timeout(&self) -> bool {
        self.0.kind == ErrorKind::Timeout
    }

    /// True for a contained panic.
    pub fn is_panic(&self) -> bool {
        self.0.kind == ErrorKind::Panicked
    }

    /// Two handles to the same error.
    pub fn same_as(&self, other: &StreamError) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl fmt::Debug for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamError")
            .field("kind", &self.0.kind)
            .field("message", &self.0.message)
            .finish()
    }
}

impl Error for StreamError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0
            .source
            .as_deref()
            .map(|e| e as &(dyn Error + 'static))
    }
}
