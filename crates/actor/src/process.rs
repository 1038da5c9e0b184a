//! [`ActorRef`]: an untyped handle to any actor (OTP's pid), and the `Process` trait behind it.
//!
//! An `ActorRef` can stop, kill, join, link and monitor an actor of any type, but not send it
//! messages (that takes a typed [`Addr`](crate::Addr) or [`Recipient`](crate::Recipient)). It
//! does not keep the actor's mailbox open: only `Addr`s and `Recipient`s count (see
//! [`Addr`](crate::Addr)).

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use crate::reason::{ActorId, ExitReason};
use crate::signal::Signal;

/// What an actor's shared cell offers to code that does not know the actor's type: the
/// signal, link, monitor and lifecycle side. Implemented by `Cell<A>` only.
pub(crate) trait Process: Send + Sync + 'static {
    fn id(&self) -> ActorId;
    fn name(&self) -> Option<Arc<str>>;
    /// Delivers an exit or down signal; `false` if the actor is gone.
    fn signal(&self, signal: Signal) -> bool;
    /// A linked peer ended: drop the link to it and deliver its exit signal.
    fn link_exit(&self, from: ActorRef, reason: ExitReason);
    fn kill(&self);
    fn stop(&self, reason: ExitReason);
    /// Records a link to `peer`; `false` if this actor is gone.
    fn add_link(&self, peer: ActorRef) -> bool;
    fn remove_link(&self, peer: ActorId);
    /// Records a monitor held by `watcher`; `false` if this actor is gone.
    fn add_monitor(&self, id: u64, watcher: ActorRef) -> bool;
    fn remove_monitor(&self, id: u64);
    fn poll_exit(&self, cx: &mut TaskContext<'_>) -> Poll<ExitReason>;
    fn poll_started(&self, cx: &mut TaskContext<'_>) -> Poll<Result<(), ExitReason>>;
    fn exit_reason(&self) -> Option<ExitReason>;
    fn mailbox_len(&self) -> usize;
    /// Notes that the current task waits for this actor (its reply, room in its mailbox, its
    /// exit), and puts the actor in the runtime's wait-for graph.
    fn note_reply_wait(&self);
    /// One more counted handle (`Addr`, `Recipient`, registry entry, supervisor).
    fn retain(&self);
    /// [`retain`](Self::retain) unless the count reached zero (the mailbox is closing).
    fn try_retain(&self) -> bool;
    /// A waiting sender gave up.
    fn cancel_wait(&self, ticket: u64);
    /// One counted handle fewer; the last one closes the mailbox.
    fn release(&self);
    /// Records a registered name or group, released when the actor ends; `false` if it is gone.
    fn add_name(&self, name: Arc<str>, group: bool) -> bool;
    fn forget_name(&self, name: &str, group: bool);
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

/// An untyped handle to an actor: its id, name and lifecycle. Cheap to clone; equal when it
/// names the same actor. It does not keep the actor's mailbox open.
///
/// ```
/// # spectrum_rt::Runtime::new().unwrap().block_on(async {
/// use spectrum_actor::{Actor, ExitReason};
/// struct Idle;
/// impl Actor for Idle {}
///
/// let addr = spectrum_actor::spawn(Idle);
/// let r = addr.actor_ref();
/// assert!(r.is_alive());
/// r.stop();
/// assert_eq!(r.join().await, ExitReason::shutdown_default());
/// # });
/// ```
#[derive(Clone)]
pub struct ActorRef(pub(crate) Arc<dyn Process>);

impl ActorRef {
    /// The actor's id.
    pub fn id(&self) -> ActorId {
        self.0.id()
    }

    /// The name given at spawn, if any.
    pub fn name(&self) -> Option<Arc<str>> {
        self.0.name()
    }

    /// True until the actor has ended (its links and monitors notified).
    pub fn is_alive(&self) -> bool {
        self.0.exit_reason().is_none()
    }

    /// Why it ended, once it has.
    pub fn exit_reason(&self) -> Option<ExitReason> {
        self.0.exit_reason()
    }

    /// Messages waiting in its mailbox (including the batch it is working through).
    pub fn mailbox_len(&self) -> usize {
        self.0.mailbox_len()
    }

    /// Asks it to stop gracefully with [`ExitReason::Shutdown`]: it finishes its current turn,
    /// runs `stopping` and `stopped`, and ends. Not trappable; a no-op on an actor that ended.
    pub fn stop(&self) {
        self.0.stop(ExitReason::Shutdown(None));
    }

    /// [`stop`](Self::stop) with another reason.
    pub fn stop_with(&self, reason: ExitReason) {
        self.0.stop(reason);
    }

    /// Kills it (OTP `exit(Pid, kill)`): untrappable and immediate. The current handler is dropped
    /// at its next suspension point, no hook runs, and it ends with [`ExitReason::Killed`]. A
    /// handler that never suspends cannot be interrupted (the runtime's long-poll watchdog
    /// reports it).
    pub fn kill(&self) {
        self.0.kill();
    }

    /// Waits until the actor has ended and returns why.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future has no effect on the actor.
    pub fn join(&self) -> Join {
        Join {
            actor: self.clone(),
        }
    }

    /// A typed, counted address, if the actor is an `A` and its mailbox is still open.
    pub fn addr<A: crate::Actor>(&self) -> Option<crate::Addr<A>> {
        let cell = self.downcast::<crate::cell::Cell<A>>()?;
        crate::WeakAddr::from_cell(cell).upgrade()
    }

    /// Waits until the actor's `started` hook has finished: `Err(reason)` if it ended first.
    pub(crate) fn started(&self) -> Started {
        Started {
            actor: self.clone(),
        }
    }

    pub(crate) fn from_process(p: Arc<dyn Process>) -> ActorRef {
        ActorRef(p)
    }

    /// Downcasts to the typed cell, for typed look-ups (registry, groups).
    pub(crate) fn downcast<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.0.clone().into_any().downcast::<T>().ok()
    }
}

impl ExitReason {
    /// `Shutdown(None)`, the reason [`ActorRef::stop`] gives.
    pub fn shutdown_default() -> ExitReason {
        ExitReason::Shutdown(None)
    }
}

impl PartialEq for ActorRef {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }
}

impl Eq for ActorRef {}

impl Hash for ActorRef {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id().hash(state);
    }
}

impl fmt::Debug for ActorRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "ActorRef({} \"{n}\")", self.id()),
            None => write!(f, "ActorRef({})", self.id()),
        }
    }
}

/// Future returned by [`ActorRef::join`] and [`Addr::join`](crate::Addr::join): the exit reason.
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Join {
    actor: ActorRef,
}

impl Future for Join {
    type Output = ExitReason;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<ExitReason> {
        let r = self.actor.0.poll_exit(cx);
        if r.is_pending() {
            self.actor.0.note_reply_wait();
        }
        r
    }
}

/// Future returned by [`ActorRef::started`].
#[derive(Debug)]
pub(crate) struct Started {
    actor: ActorRef,
}

impl Future for Started {
    type Output = Result<(), ExitReason>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        self.actor.0.poll_started(cx)
    }
}

/// A counted, untyped handle: keeps the mailbox open like an `Addr` (for supervisors and the
/// registry).
pub(crate) struct KeepAlive(pub(crate) ActorRef);

impl KeepAlive {
    pub(crate) fn new(actor: ActorRef) -> KeepAlive {
        actor.0.retain();
        KeepAlive(actor)
    }
}

impl Drop for KeepAlive {
    fn drop(&mut self) {
        self.0 .0.release();
    }
}

impl fmt::Debug for KeepAlive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
