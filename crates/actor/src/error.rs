//! Errors, one small type per operation; each gives the message back when it was not delivered.

use std::error::Error;
use std::fmt;

use crate::process::ActorRef;
use crate::reason::ExitReason;

/// Why a [`tell`](crate::Addr::tell) did not deliver its message.
#[derive(PartialEq, Eq)]
pub enum TellError<M> {
    /// The mailbox is full and its policy is `Overflow::Fail`.
    Full(M),
    /// The actor has stopped (or is stopping).
    Closed(M),
}

/// Why a [`try_tell`](crate::Addr::try_tell) did not deliver its message.
#[derive(PartialEq, Eq)]
pub enum TryTellError<M> {
    /// The mailbox is full (policy `Wait` or `Fail`).
    Full(M),
    /// The actor has stopped (or is stopping).
    Closed(M),
}

/// Why an [`ask`](crate::Addr::ask) got no reply.
pub enum AskError<M> {
    /// The mailbox is full and its policy is not `Overflow::Wait`; the message was not sent.
    Full(M),
    /// The actor had stopped (or was stopping): the message was not sent. This is immediate.
    Closed(M),
    /// No reply within the ask's timeout. A reply that comes later is dropped.
    Timeout,
    /// The actor took the message but ended before replying, for this reason (immediate: the
    /// asker is told as soon as the actor ends).
    Stopped(ExitReason),
}

macro_rules! give_back {
    ($t:ident { $($v:ident),* } $(, $extra:pat)?) => {
        impl<M> $t<M> {
            /// The message, if the error carries it.
            pub fn into_inner(self) -> Option<M> {
                match self {
                    $($t::$v(m) => Some(m),)*
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }

            /// True if the actor had stopped.
            pub fn is_closed(&self) -> bool {
                matches!(self, $t::Closed(_))
            }

            /// True if the mailbox was full.
            pub fn is_full(&self) -> bool {
                matches!(self, $t::Full(_))
            }
        }
    };
}

give_back!(TellError { Full, Closed });
give_back!(TryTellError { Full, Closed });
give_back!(AskError { Full, Closed });

impl<M> AskError<M> {
    /// True if the ask timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, AskError::Timeout)
    }
}

impl<M> fmt::Debug for TellError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TellError::Full(_) => f.write_str("Full(..)"),
            TellError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<M> fmt::Debug for TryTellError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryTellError::Full(_) => f.write_str("Full(..)"),
            TryTellError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<M> fmt::Debug for AskError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AskError::Full(_) => f.write_str("Full(..)"),
            AskError::Closed(_) => f.write_str("Closed(..)"),
            AskError::Timeout => f.write_str("Timeout"),
            AskError::Stopped(r) => f.debug_tuple("Stopped").field(r).finish(),
        }
    }
}

impl<M> fmt::Display for TellError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TellError::Full(_) => f.write_str("mailbox full: message returned"),
            TellError::Closed(_) => f.write_str("actor stopped: message returned"),
        }
    }
}

impl<M> fmt::Display for TryTellError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryTellError::Full(_) => f.write_str("mailbox full: message returned"),
            TryTellError::Closed(_) => f.write_str("actor stopped: message returned"),
        }
    }
}

impl<M> fmt::Display for AskError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AskError::Full(_) => f.write_str("mailbox full: message returned"),
            AskError::Closed(_) => f.write_str("actor stopped: message returned"),
            AskError::Timeout => f.write_str("ask timed out"),
            AskError::Stopped(r) => write!(f, "actor stopped before replying ({r})"),
        }
    }
}

impl<M> Error for TellError<M> {}
impl<M> Error for TryTellError<M> {}
impl<M> Error for AskError<M> {}

impl<M> From<TryTellError<M>> for TellError<M> {
    fn from(e: TryTellError<M>) -> Self {
        match e {
            TryTellError::Full(m) => TellError::Full(m),
            TryTellError::Closed(m) => TellError::Closed(m),
        }
    }
}

/// Why [`registry::register`](crate::registry::register) failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegisterError {
    /// Another live actor holds the name.
    Taken(ActorRef),
    /// The actor to register has ended.
    NoProc,
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterError::Taken(a) => write!(f, "name already registered by actor {}", a.id()),
            RegisterError::NoProc => f.write_str("the actor has ended"),
        }
    }
}

impl Error for RegisterError {}

/// [`Context::link`](crate::Context::link) to an actor that has ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoProc;

impl fmt::Display for NoProc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no such actor (it has ended)")
    }
}

impl Error for NoProc {}
