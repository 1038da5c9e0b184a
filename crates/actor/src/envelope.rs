//! Envelopes: a message of any type the actor handles, boxed for its mailbox, and the reply slot
//! an `ask` waits on.
//!
//! # Invariants
//!
//! 1. An envelope is consumed exactly once: dispatched to its handler, or dropped (the actor
//!    ended, an overflow policy dropped it) — and a dropped ask envelope drops its [`Replier`],
//!    which tells the asker that no reply will come.
//! 2. Each `ask` has its own [`Slot`]; the asker that times out marks it `Abandoned` and the late
//!    reply is dropped there. A reply can therefore never reach another ask.
//!
//! # Slot protocol
//!
//! `Waiting(waker)` → `Ready(reply)` (the replier, waking the asker) → `Taken` (the asker); or
//! `Waiting` → `NoReply` (the replier dropped without replying: the actor ended); or any state →
//! `Abandoned` (the asker dropped the ask, e.g. on timeout). Every transition is made under the
//! slot's mutex; the waker is woken after the lock is released.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Waker};

use spectrum_sync::Mutex;

use crate::actor::{Actor, Handler};
use crate::context::Context;

/// A handler's future, boxed: the message type is erased in the mailbox.
pub(crate) type BoxFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// One message in an actor's mailbox.
pub(crate) trait Envelope<A: Actor>: Send {
    /// Hands the message to its handler. A synchronous handler runs here and `None` comes back;
    /// otherwise the handler's future, to be polled to completion.
    fn dispatch<'a>(
        self: Box<Self>,
        actor: &'a mut A,
        ctx: &'a mut Context<A>,
    ) -> Option<BoxFuture<'a>>;

    /// The message itself, for the dead-letter office (an ask's replier is dropped).
    fn into_message(self: Box<Self>) -> Box<dyn Any + Send>;

    /// The message's type name.
    fn type_name(&self) -> &'static str;
}

/// A `tell`: the message alone.
pub(crate) struct TellEnv<M> {
    pub(crate) msg: M,
}

impl<A, M> Envelope<A> for TellEnv<M>
where
    A: Handler<M>,
    M: Send + 'static,
{
    fn dispatch<'a>(
        self: Box<Self>,
        actor: &'a mut A,
        ctx: &'a mut Context<A>,
    ) -> Option<BoxFuture<'a>> {
        match actor.handle_now(self.msg, ctx) {
            Ok(_) => None,
            Err(msg) => Some(Box::pin(async move {
                let _ = actor.handle(msg, ctx).await;
            })),
        }
    }

    fn into_message(self: Box<Self>) -> Box<dyn Any + Send> {
        Box::new(self.msg)
    }

    fn type_name(&self) -> &'static str {
        std::any::type_name::<M>()
    }
}

/// An `ask`: the message and where its reply goes.
pub(crate) struct AskEnv<M, R> {
    pub(crate) msg: M,
    pub(crate) reply: Replier<R>,
}

impl<A, M> Envelope<A> for AskEnv<M, A::Reply>
where
    A: Handler<M>,
    M: Send + 'static,
{
    fn dispatch<'a>(
        self: Box<Self>,
        actor: &'a mut A,
        ctx: &'a mut Context<A>,
    ) -> Option<BoxFuture<'a>> {
        let AskEnv { msg, reply } = *self;
        match actor.handle_now(msg, ctx) {
            Ok(r) => {
                reply.send(r);
                None
            }
            Err(msg) => Some(Box::pin(async move {
                let r = actor.handle(msg, ctx).await;
                reply.send(r);
            })),
        }
    }

    fn into_message(self: Box<Self>) -> Box<dyn Any + Send> {
        Box::new(self.msg)
    }

    fn type_name(&self) -> &'static str {
        std::any::type_name::<M>()
    }
}

enum SlotState<R> {
    Waiting(Option<Waker>),
    Ready(R),
    Taken,
    NoReply,
    Abandoned,
}

/// Where one ask's reply lands (module docs: the protocol).
pub(crate) struct Slot<R> {
    state: Mutex<SlotState<R>>,
}

/// What the asker finds in its slot.
pub(crate) enum SlotPoll<R> {
    Reply(R),
    NoReply,
    Pending,
}

impl<R> Slot<R> {
    pub(crate) fn new() -> Arc<Slot<R>> {
        Arc::new(Slot {
            state: Mutex::new(SlotState::Waiting(None)),
        })
    }

    pub(crate) fn poll(&self, cx: &mut TaskContext<'_>) -> SlotPoll<R> {
        let mut st = self.state.lock();
        match std::mem::replace(&mut *st, SlotState::Taken) {
            SlotState::Ready(r) => SlotPoll::Reply(r),
            SlotState::NoReply => SlotPoll::NoReply,
            SlotState::Waiting(w) => {
                let w = match w {
                    Some(w) if w.will_wake(cx.waker()) => w,
                    _ => cx.waker().clone(),
                };
                *st = SlotState::Waiting(Some(w));
                SlotPoll::Pending
            }
            SlotState::Taken | SlotState::Abandoned => SlotPoll::NoReply,
        }
    }

    /// The asker gives up (timeout or drop): a late reply is dropped here.
    pub(crate) fn abandon(&self) {
        let old = std::mem::replace(&mut *self.state.lock(), SlotState::Abandoned);
        drop(old); // a reply that arrived is dropped outside the lock
    }
}

/// The actor's end of a slot. Dropping it without replying wakes the asker with "no reply".
pub(crate) struct Replier<R> {
    slot: Option<Arc<Slot<R>>>,
}

impl<R> Replier<R> {
    pub(crate) fn new(slot: Arc<Slot<R>>) -> Replier<R> {
        Replier { slot: Some(slot) }
    }

    fn send(mut self, reply: R) {
        if let Some(slot) = self.slot.take() {
            finish(&slot, SlotState::Ready(reply));
        }
    }
}

fn finish<R>(slot: &Slot<R>, new: SlotState<R>) {
    let mut st = slot.state.lock();
    match &mut *st {
        SlotState::Waiting(w) => {
            let w = w.take();
            *st = new;
            drop(st);
            if let Some(w) = w {
                w.wake();
            }
        }
        // Abandoned (timed out): the late reply is dropped, outside the lock.
        _ => {
            drop(st);
            drop(new);
        }
    }
}

impl<R> Drop for Replier<R> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            finish(&slot, SlotState::NoReply);
        }
    }
}
