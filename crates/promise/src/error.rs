//! The errors of promises and their combinators: small, per operation, lowercase `Display`, and
//! giving values back where an operation refuses one.

use std::error::Error;
use std::fmt;
use std::panic::Location;

use spectrum_rt::PanicPayload;

/// Why a promise settled without a value.
///
/// `Rejected` carries the error a [`Resolver`](crate::Resolver) rejected with; the other variants
/// are what Spectrum adds so that a promise never hangs and never loses a panic:
///
/// | variant | JS | Java |
/// |---|---|---|
/// | `Rejected(e)` | `reject(e)` | `completeExceptionally(e)` |
/// | `Abandoned` | a promise that stays pending forever | a `CompletableFuture` nobody completes |
/// | `Panicked` | an exception thrown inside `then` | a `CompletionException` wrapping it |
///
/// ```
/// use spectrum_promise::{Promise, PromiseError};
/// use spectrum_rt::Wait;
///
/// let (p, r) = Promise::<u32, String>::with_resolver();
/// drop(r); // every resolver gone: the promise cannot settle any more
/// let err = p.wait().unwrap_err();
/// assert!(err.is_abandoned());
/// assert!(err.to_string().starts_with("promise abandoned"));
/// ```
#[non_exhaustive]
pub enum PromiseError<E> {
    /// The promise was rejected with this error.
    Rejected(E),
    /// Every resolver was dropped without settling the promise (or a callback was never
    /// called): the outcome can never arrive.
    Abandoned(Abandoned),
    /// A callback in the chain that produces this promise panicked; the payload is what
    /// `panic!` was given (boxed, so that every promise's outcome stays small).
    Panicked(Box<PanicPayload>),
}

impl<E> PromiseError<E> {
    /// True if the promise was rejected.
    pub fn is_rejected(&self) -> bool {
        matches!(self, PromiseError::Rejected(_))
    }

    /// True if every resolver went away without settling.
    pub fn is_abandoned(&self) -> bool {
        matches!(self, PromiseError::Abandoned(_))
    }

    /// True if a callback panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, PromiseError::Panicked(_))
    }

    /// The rejection error, if the promise was rejected.
    pub fn into_rejected(self) -> Option<E> {
        match self {
            PromiseError::Rejected(e) => Some(e),
            _ => None,
        }
    }

    /// A reference to the rejection error, if the promise was rejected.
    pub fn rejected(&self) -> Option<&E> {
        match self {
            PromiseError::Rejected(e) => Some(e),
            _ => None,
        }
    }

    /// The panic message, if a callback panicked with a string.
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            PromiseError::Panicked(p) => p.message(),
            _ => None,
        }
    }

    /// Maps the rejection error, keeping the other variants.
    pub fn map_rejected<F>(self, f: impl FnOnce(E) -> F) -> PromiseError<F> {
        match self {
            PromiseError::Rejected(e) => PromiseError::Rejected(f(e)),
            PromiseError::Abandoned(a) => PromiseError::Abandoned(a),
            PromiseError::Panicked(p) => PromiseError::Panicked(p),
        }
    }

    /// Resumes the panic on the current thread if a callback panicked; returns `self` otherwise.
    pub fn resume_panic(self) -> Self {
        match self {
            PromiseError::Panicked(p) => std::panic::resume_unwind((*p).into_inner()),
            other => other,
        }
    }
}

/// `?` on a `Result<_, E>` inside an `and_then` / `or_else` future rejects the new promise.
impl<E> PromiseError<E> {
    /// A `Panicked` error from a payload caught by `catch_unwind`.
    pub(crate) fn panicked(payload: Box<dyn std::any::Any + Send + 'static>) -> Self {
        PromiseError::Panicked(Box::new(PanicPayload::new(payload)))
    }
}

impl<E> From<E> for PromiseError<E> {
    fn from(e: E) -> Self {
        PromiseError::Rejected(e)
    }
}

/// Cloning a `Panicked` error keeps the panic message but not the original payload (a panic
/// payload is a `Box<dyn Any>`, which cannot be cloned): the clone's payload is the message as a
/// `String`, or `"<non-string panic payload>"`. This is what every reader of a
/// [`SharedPromise`](crate::SharedPromise) gets.
impl<E: Clone> Clone for PromiseError<E> {
    fn clone(&self) -> Self {
        match self {
            PromiseError::Rejected(e) => PromiseError::Rejected(e.clone()),
            PromiseError::Abandoned(a) => PromiseError::Abandoned(*a),
            PromiseError::Panicked(p) => PromiseError::Panicked(Box::new(clone_panic(p))),
        }
    }
}

pub(crate) fn clone_panic(p: &PanicPayload) -> PanicPayload {
    let message = p
        .message()
        .unwrap_or("<non-string panic payload>")
        .to_owned();
    PanicPayload::new(Box::new(message))
}

impl<E: fmt::Display> fmt::Display for PromiseError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PromiseError::Rejected(e) => write!(f, "promise rejected: {e}"),
            PromiseError::Abandoned(a) => fmt::Display::fmt(a, f),
            PromiseError::Panicked(p) => match p.message() {
                Some(m) => write!(f, "promise callback panicked: {m}"),
                None => f.write_str("promise callback panicked"),
            },
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for PromiseError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PromiseError::Rejected(e) => f.debug_tuple("Rejected").field(e).finish(),
            PromiseError::Abandoned(a) => f.debug_tuple("Abandoned").field(a).finish(),
            PromiseError::Panicked(p) => f.debug_tuple("Panicked").field(p).finish(),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> Error for PromiseError<E> {}

impl<E: PartialEq> PartialEq for PromiseError<E> {
    /// Rejections compare their errors, abandonments their origin; panics never compare equal.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (PromiseError::Rejected(a), PromiseError::Rejected(b)) => a == b,
            (PromiseError::Abandoned(a), PromiseError::Abandoned(b)) => a == b,
            _ => false,
        }
    }
}

/// Who was supposed to settle an abandoned promise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
// A full word, not a byte: `PromiseError` keeps its tag in this field's spare values, and a
// word-sized tag keeps every copy of a promise's outcome to whole-word moves (a byte tag made
// LLVM copy odd 4-byte pieces, which stalled store forwarding on the hot path).
#[repr(u64)]
pub enum Origin {
    /// A [`Resolver`](crate::Resolver) from [`Promise::with_resolver`](crate::Promise::with_resolver).
    Resolver,
    /// The callback handed out by [`callback::from_fn`](crate::callback::from_fn).
    Callback,
    /// A task producing the promise (a chained callback, `promise::spawn`): it was cancelled,
    /// typically because its runtime shut down.
    Task,
}

/// The promise can never settle: whoever was to settle it went away.
///
/// It says where that party was created, so the log line points at the code that forgot.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Abandoned {
    pub(crate) origin: Origin,
    pub(crate) created_at: &'static Location<'static>,
}

impl Abandoned {
    /// Who was supposed to settle the promise.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// Where it was created (the `with_resolver`, `from_fn` or chaining call).
    pub fn created_at(&self) -> &'static Location<'static> {
        self.created_at
    }
}

impl fmt::Display for Abandoned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.created_at;
        match self.origin {
            Origin::Resolver => write!(
                f,
                "promise abandoned: every resolver (created at {at}) was dropped without settling it"
            ),
            Origin::Callback => write!(
                f,
                "promise abandoned: the callback (created at {at}) was dropped without being called"
            ),
            Origin::Task => write!(
                f,
                "promise abandoned: the task producing it (spawned at {at}) was cancelled"
            ),
        }
    }
}

impl fmt::Debug for Abandoned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Abandoned")
            .field("origin", &self.origin)
            .field("created_at", &format_args!("{}", self.created_at))
            .finish()
    }
}

impl Error for Abandoned {}

/// The promise was already settled: the value you tried to settle it with comes back.
///
/// The first settlement wins (as in JS, where a second `resolve` is silently ignored; here it is
/// reported to the caller instead).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AlreadySettled<V>(pub V);

impl<V> AlreadySettled<V> {
    /// The value that was refused.
    pub fn into_inner(self) -> V {
        self.0
    }
}

impl<V> fmt::Display for AlreadySettled<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("promise already settled")
    }
}

impl<V> fmt::Debug for AlreadySettled<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AlreadySettled(..)")
    }
}

impl<V> Error for AlreadySettled<V> {}

/// Every input of [`any`](crate::any) failed: their errors, in input order (JS's
/// `AggregateError.errors`). Empty when `any` was given no input.
#[derive(Clone, PartialEq, Eq)]
pub struct AggregateError<E> {
    /// The failures, one per input, in input order.
    pub errors: Vec<E>,
}

impl<E> AggregateError<E> {
    /// The failures, in input order.
    pub fn into_errors(self) -> Vec<E> {
        self.errors
    }
}

impl<E: fmt::Display> fmt::Display for AggregateError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.errors.len() {
            0 => f.write_str("no input to succeed: `any` was given nothing"),
            n => {
                write!(f, "all {n} inputs failed")?;
                for (i, e) in self.errors.iter().enumerate().take(3) {
                    write!(f, "{} [{i}] {e}", if i == 0 { ":" } else { ";" })?;
                }
                if n > 3 {
                    write!(f, "; and {} more", n - 3)?;
                }
                Ok(())
            }
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for AggregateError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AggregateError")
            .field("errors", &self.errors)
            .finish()
    }
}

impl<E: fmt::Debug + fmt::Display> Error for AggregateError<E> {}
