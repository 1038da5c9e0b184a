//! `JoinError`: how a task ended when it did not return its output.

use std::any::Any;
use std::fmt;

use crate::cancel::CancelCause;

/// Why awaiting a `JoinHandle` gave no output.
///
/// ```
/// # spectrum_rt::Runtime::new().unwrap().block_on(async {
/// use spectrum_rt::JoinError;
///
/// let handle = spectrum_rt::spawn(async { panic!("boom") });
/// match handle.await {
///     Err(JoinError::Panicked(p)) => assert_eq!(p.message(), Some("boom")),
///     other => unreachable!("{other:?}"),
/// }
/// # });
/// ```
#[derive(Debug)]
pub enum JoinError {
    /// The task panicked; the payload is what `panic!` was given.
    Panicked(PanicPayload),
    /// The task was cancelled before it finished, for this cause.
    Cancelled(CancelCause),
}

impl JoinError {
    /// True if the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, JoinError::Panicked(_))
    }

    /// True if the task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, JoinError::Cancelled(_))
    }

    /// The cancellation cause, if the task was cancelled.
    pub fn cause(&self) -> Option<&CancelCause> {
        match self {
            JoinError::Cancelled(c) => Some(c),
            JoinError::Panicked(_) => None,
        }
    }

    /// Resumes the panic on the current thread if the task panicked; returns the error otherwise.
    pub fn resume_panic(self) -> CancelCause {
        match self {
            JoinError::Panicked(p) => std::panic::resume_unwind(p.into_inner()),
            JoinError::Cancelled(c) => c,
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Panicked(p) => match p.message() {
                Some(m) => write!(f, "task panicked: {m}"),
                None => f.write_str("task panicked"),
            },
            JoinError::Cancelled(c) => write!(f, "task cancelled: {c}"),
        }
    }
}

impl std::error::Error for JoinError {}

/// The payload of a panic caught by the runtime.
pub struct PanicPayload {
    payload: Box<dyn Any + Send + 'static>,
    message: Option<Box<str>>,
}

// SAFETY: the payload is only reachable by value (`into_inner`) or through `&mut self`, never
// through `&self`, so sharing a `&PanicPayload` between threads gives no access to the `!Sync`
// payload (the "SyncWrapper" argument). `message` is an owned `Box<str>`, which is `Sync`.
unsafe impl Sync for PanicPayload {}

impl PanicPayload {
    /// Wraps a payload caught by `catch_unwind`.
    pub fn new(payload: Box<dyn Any + Send + 'static>) -> Self {
        let message = payload
            .downcast_ref::<&'static str>()
            .map(|s| Box::from(*s))
            .or_else(|| {
                payload
                    .downcast_ref::<String>()
                    .map(|s| Box::from(s.as_str()))
            });
        PanicPayload { payload, message }
    }

    /// The panic message, when the payload is a string (as with `panic!("...")`).
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// Mutable access to the payload.
    pub fn payload_mut(&mut self) -> &mut (dyn Any + Send + 'static) {
        &mut *self.payload
    }

    /// The raw payload, e.g. for `std::panic::resume_unwind`.
    pub fn into_inner(self) -> Box<dyn Any + Send + 'static> {
        self.payload
    }
}

impl fmt::Debug for PanicPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PanicPayload")
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}
