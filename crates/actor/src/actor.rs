//! The traits an actor implements: [`Actor`] (state and lifecycle hooks), [`Handler`] (one per
//! message type, async, with a typed reply) and [`SyncHandler`] (the same with a plain function).
//!
//! # Turns
//!
//! An actor handles one message at a time, to completion, before it looks at the next
//! (turn-based, non-reentrant): a handler may hold `&mut self` across `.await` and no other
//! message sees the state half-updated. Between turns the run loop looks at the system lane first
//! (kill, then stop, then exit and down signals), then at user messages.
//!
//! # Hooks, in order
//!
//! 1. [`started`](Actor::started) runs before the first message. An error or panic ends the actor
//!    (no further hook runs); a supervisor's ordered start waits for it.
//! 2. Messages, signals ([`on_exit`](Actor::on_exit) when trapping exits,
//!    [`on_down`](Actor::on_down) for monitors).
//! 3. [`stopping`](Actor::stopping) runs on a graceful stop (a stop request, `Context::stop`,
//!    the last `Addr` dropped, a cancelled scope), after the current turn.
//! 4. [`stopped`](Actor::stopped) runs on every exit except [`kill`](crate::ActorRef::kill) and a
//!    failed start: after a graceful stop, a panic, an error or a link's exit signal. A panic in
//!    it is contained (reported, the exit reason is kept).

use std::future::Future;

use crate::context::Context;
use crate::reason::{BoxError, ExitReason};
use crate::signal::{Down, Exit};

/// An actor: state owned by one task, reached only through messages.
///
/// ```
/// use spectrum_actor::{Actor, Context, Handler};
///
/// struct Counter(u64);
/// impl Actor for Counter {}
///
/// struct Add(u64);
/// impl Handler<Add> for Counter {
///     type Reply = u64;
///     async fn handle(&mut self, Add(n): Add, _ctx: &mut Context<Self>) -> u64 {
///         self.0 += n;
///         self.0
///     }
/// }
///
/// # spectrum_rt::Runtime::new().unwrap().block_on(async {
/// let counter = spectrum_actor::spawn(Counter(0));
/// counter.tell(Add(1)).await.unwrap();
/// assert_eq!(counter.ask(Add(2)).await.unwrap(), 3);
/// # counter.stop(); counter.join().await;
/// # });
/// ```
pub trait Actor: Sized + Send + 'static {
    /// Runs once, before the first message. An `Err` ends the actor with
    /// [`ExitReason::Error`] and no other hook runs.
    fn started(
        &mut self,
        ctx: &mut Context<Self>,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        let _ = ctx;
        async { Ok(()) }
    }

    /// Runs when a graceful stop begins, after the current turn. The mailbox is already closed:
    /// sends fail and queued messages are dropped after `stopped`. If the actor's task is
    /// cancelled while this hook is suspended (its scope is cancelled as the stop begins), the
    /// hook runs again from the start in the shielded cleanup task, so it must tolerate a second
    /// run (a supervisor's does: it terminates the children still running).
    fn stopping(
        &mut self,
        ctx: &mut Context<Self>,
        reason: &ExitReason,
    ) -> impl Future<Output = ()> + Send {
        let _ = (ctx, reason);
        async {}
    }

    /// Runs last, on every exit but a kill or a failed start. A panic here is caught, reported to
    /// the runtime's diagnostic hook, and does not change the exit reason.
    fn stopped(
        &mut self,
        ctx: &mut Context<Self>,
        reason: &ExitReason,
    ) -> impl Future<Output = ()> + Send {
        let _ = (ctx, reason);
        async {}
    }

    /// A linked actor ended and this actor traps exits ([`Context::trap_exit`]): OTP's
    /// `{'EXIT', From, Reason}` message. The default ignores it.
    fn on_exit(&mut self, exit: Exit, ctx: &mut Context<Self>) -> impl Future<Output = ()> + Send {
        let _ = (exit, ctx);
        async {}
    }

    /// A monitored actor ended: OTP's `{'DOWN', Ref, process, Pid, Reason}`. The default ignores
    /// it.
    fn on_down(&mut self, down: Down, ctx: &mut Context<Self>) -> impl Future<Output = ()> + Send {
        let _ = (down, ctx);
        async {}
    }
}

/// Handling of one message type `M`, with a typed reply.
///
/// `tell` drops the reply; `ask` returns it. A panic ends the actor with
/// [`ExitReason::Panicked`]; to end it with an error, call [`Context::fail`].
pub trait Handler<M: Send + 'static>: Actor {
    /// What `ask` returns.
    type Reply: Send + 'static;

    /// Handles one message. Runs alone: no other message of this actor is handled until it
    /// returns.
    fn handle(
        &mut self,
        msg: M,
        ctx: &mut Context<Self>,
    ) -> impl Future<Output = Self::Reply> + Send;

    /// Runs the handler synchronously when it can; `Err(msg)` means "poll [`handle`] instead".
    /// Overridden only by the [`SyncHandler`] blanket implementation, which saves the boxing of
    /// a future per message.
    #[doc(hidden)]
    fn handle_now(&mut self, msg: M, ctx: &mut Context<Self>) -> Result<Self::Reply, M> {
        let _ = ctx;
        Err(msg)
    }
}

/// A handler that is a plain function: it never awaits (or, in a fiber-backed actor
/// ([`Builder::spawn_fiber`](crate::Builder::spawn_fiber)), blocks with `.wait()`, which suspends
/// only the fiber). Implementing it implements [`Handler`], and messages skip the per-message
/// future allocation.
///
/// ```
/// use spectrum_actor::{Actor, Context, SyncHandler};
///
/// struct Echo;
/// impl Actor for Echo {}
/// impl SyncHandler<String> for Echo {
///     type Reply = String;
///     fn handle(&mut self, s: String, _ctx: &mut Context<Self>) -> String {
///         s
///     }
/// }
/// # spectrum_rt::Runtime::new().unwrap().block_on(async {
/// let echo = spectrum_actor::spawn(Echo);
/// assert_eq!(echo.ask("hi".to_string()).await.unwrap(), "hi");
/// # });
/// ```
pub trait SyncHandler<M: Send + 'static>: Actor {
    /// What `ask` returns.
    type Reply: Send + 'static;

    /// Handles one message.
    fn handle(&mut self, msg: M, ctx: &mut Context<Self>) -> Self::Reply;
}

impl<A: SyncHandler<M>, M: Send + 'static> Handler<M> for A {
    type Reply = <A as SyncHandler<M>>::Reply;

    fn handle(
        &mut self,
        msg: M,
        ctx: &mut Context<Self>,
    ) -> impl Future<Output = Self::Reply> + Send {
        std::future::ready(SyncHandler::handle(self, msg, ctx))
    }

    fn handle_now(&mut self, msg: M, ctx: &mut Context<Self>) -> Result<Self::Reply, M> {
        Ok(SyncHandler::handle(self, msg, ctx))
    }
}
