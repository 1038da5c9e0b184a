//! Mailboxes: the bounded user lane, the system lane above it, and their configuration.
//!
//! # Layout
//!
//! Each actor's shared `Cell` holds one mutex-protected `State`: the user queue (a `VecDeque` of
//! boxed envelopes, which allocates nothing until the first message, so an idle actor costs no
//! buffer), a count of messages the actor has *taken* but not finished, and the rarely used
//! parts (system lane, links, monitors, waiting senders) behind one lazily allocated box. An
//! atomic `sys` word mirrors "something is on the system lane" so the actor checks it between
//! messages without locking, and an `AtomicWaker` holds the actor task's waker.
//!
//! # Invariants
//!
//! 1. **Bound.** `queue.len() + taken <= capacity` whenever a message is accepted: `capacity`
//!    counts messages accepted and not yet handled. (`try_tell` and the drop policies never
//!    exceed it; only the system lane, which holds at most one signal per link or monitor, is
//!    unbounded.)
//! 2. **Order.** The queue is FIFO and one sender's sends are ordered (a sender awaits each
//!    `tell` before the next), so S1 sent before S2 by one sender is handled before S2 (OTP rule
//!    1). Drop policies may drop a message, never reorder two.
//! 3. **No lost wake-up.** `idle` is set only by the actor, under the lock, after it registered
//!    its waker and found the queue and the system lane empty; every producer that changes either
//!    does so under the lock and wakes the actor if it cleared `idle`.
//! 4. **System lane first.** Kill > stop > exit/down signals > user messages: the actor reads
//!    `sys` before every message, and a batch of user messages never delays a signal by more than
//!    the message being handled.
//!
//! # Protocols
//!
//! *Send* (`push`): box the message, lock; if the actor is stopping or dead, give it back as
//! `Closed`; if there is room, append, clear `idle` and wake the actor if it was set; if full,
//! apply the overflow policy (wait as a registered sender, fail with `Full`, drop the newest,
//! drop the oldest queued, or hand it to the dead-letter office).
//!
//! *Receive* (`refill`, by the actor only, when its local batch is empty): register the waker,
//! lock, acknowledge the batch it finished (`taken = 0`, waking as many waiting senders as slots
//! were freed), then: a system item wins; else move up to `budget` messages into the actor's local
//! batch (`taken = n`); else, with no `Addr` left, report `Closed`; else set `idle` and sleep.
//! Taking a batch under one lock acquisition, instead of one message, keeps producer and consumer
//! off each other's cache line (the double-buffered mailbox of Erlang's and Akka's schedulers).

use std::fmt;

/// Messages a mailbox holds by default: 1024.
///
/// Chosen as a burst buffer, not a queue to live in: 1024 pointers is 8 KiB at most (messages are
/// boxed), large enough that a producer and a busy actor overlap (the actor takes batches of up
/// to [`DEFAULT_BUDGET`]), small enough that an overloaded actor pushes back within milliseconds.
/// The buffer grows on demand from nothing and shrinks back when the actor goes idle.
pub const DEFAULT_CAPACITY: usize = 1024;

/// Messages an actor handles per activation before yielding its worker: 64 (tokio's cooperative
/// budget is 128 operations; a message is usually several).
pub const DEFAULT_BUDGET: u32 = 64;

/// What a send does when the mailbox is full.
///
/// `ask` always waits under [`Wait`](Overflow::Wait) and fails with `Full` under every other
/// policy (an ask that is silently dropped would only time out). `try_tell` never waits: under
/// `Wait` and `Fail` it returns `Full(msg)`, under the others it applies the policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Overflow {
    /// `tell` waits for room (backpressure). The default.
    #[default]
    Wait,
    /// `tell` fails at once with `TellError::Full(msg)`.
    Fail,
    /// The new message is dropped (counted in [`Addr::dropped`](crate::Addr::dropped)); the send
    /// succeeds.
    DropNewest,
    /// The oldest message still queued is dropped to make room (counted). If every accepted
    /// message is already in the actor's current batch, the new one is dropped instead.
    DropOldest,
    /// The new message goes to the dead-letter office ([`dead_letters`](crate::dead_letters));
    /// the send succeeds.
    DeadLetter,
}

/// Mailbox settings, given at spawn ([`Builder::mailbox`](crate::Builder::mailbox)).
///
/// ```
/// use spectrum_actor::{Mailbox, Overflow};
///
/// let m = Mailbox::bounded(16).overflow(Overflow::DropOldest).budget(8);
/// assert_eq!(m.capacity(), Some(16));
/// assert_eq!(Mailbox::unbounded().capacity(), None);
/// assert_eq!(Mailbox::default().capacity(), Some(spectrum_actor::DEFAULT_CAPACITY));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Mailbox {
    pub(crate) capacity: usize,
    pub(crate) overflow: Overflow,
    pub(crate) budget: u32,
}

impl Default for Mailbox {
    fn default() -> Self {
        Mailbox::bounded(DEFAULT_CAPACITY)
    }
}

impl Mailbox {
    /// A mailbox of `capacity` messages (at least 1).
    pub fn bounded(capacity: usize) -> Mailbox {
        Mailbox {
            capacity: capacity.max(1),
            overflow: Overflow::Wait,
            budget: DEFAULT_BUDGET,
        }
    }

    /// A mailbox without a bound: sends never wait. Spelled out because it is the one way an
    /// actor's memory can grow without limit.
    pub fn unbounded() -> Mailbox {
        Mailbox {
            capacity: usize::MAX,
            ..Mailbox::bounded(1)
        }
    }

    /// What a send does when the mailbox is full.
    pub fn overflow(mut self, policy: Overflow) -> Mailbox {
        self.overflow = policy;
        self
    }

    /// Messages handled per activation before the actor yields its worker (at least 1).
    pub fn budget(mut self, messages: u32) -> Mailbox {
        self.budget = messages.max(1);
        self
    }

    /// The bound, `None` when unbounded.
    pub fn capacity(&self) -> Option<usize> {
        (self.capacity != usize::MAX).then_some(self.capacity)
    }
}

impl fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailbox")
            .field("capacity", &self.capacity())
            .field("overflow", &self.overflow)
            .field("budget", &self.budget)
            .finish()
    }
}
