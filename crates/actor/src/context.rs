//! [`Context`]: what a handler can do besides changing its own state — its addresses, links,
//! monitors, timers, and stopping.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use spectrum_rt::AbortHandle;
use spectrum_sync::atomic::Ordering::Relaxed;

use crate::actor::{Actor, Handler};
use crate::addr::{Addr, WeakAddr};
use crate::cell::{Cell, Next};
use crate::envelope::Envelope;
use crate::error::{NoProc, RegisterError};
use crate::process::ActorRef;
use crate::reason::{ActorId, BoxError, ExitReason};
use crate::signal::{Down, MonitorRef, Signal};
use crate::spawn::Builder;
use crate::timer::TimerRef;

/// The actor's view of itself, passed to every handler and hook.
pub struct Context<A: Actor> {
    pub(crate) cell: Arc<Cell<A>>,
    /// The batch taken from the mailbox, not yet handled.
    pub(crate) local: VecDeque<Box<dyn Envelope<A>>>,
    /// A stop requested by the actor itself, applied after the current turn.
    pub(crate) stop: Option<ExitReason>,
    trap_exit: bool,
    /// Timers set through this context, cancelled when the actor ends.
    timers: Vec<AbortHandle>,
}

impl<A: Actor> Context<A> {
    pub(crate) fn new(cell: Arc<Cell<A>>) -> Context<A> {
        Context {
            cell,
            local: VecDeque::new(),
            stop: None,
            trap_exit: false,
            timers: Vec::new(),
        }
    }

    /// The next item of work (system lane first), for the run loop.
    pub(crate) fn poll_next(&mut self, cx: &mut TaskContext<'_>) -> Poll<Next<A>> {
        // Relaxed: a stale 0 only delays a signal by one message; `refill` re-reads it under
        // the lock before the actor sleeps.
        if self.cell.sys.load(Relaxed) == 0 {
            if let Some(env) = self.local.pop_front() {
                return Poll::Ready(Next::Msg(env));
            }
        }
        self.cell
            .refill(&mut self.local, self.cell.config.budget as usize, cx)
    }

    pub(crate) fn cancel_timers(&mut self) {
        for t in self.timers.drain(..) {
            t.cancel();
        }
    }

    /// This actor's id.
    pub fn id(&self) -> ActorId {
        self.cell.id
    }

    /// This actor's untyped handle.
    pub fn actor_ref(&self) -> ActorRef {
        self.cell.actor_ref()
    }

    /// A counted address of this actor. Keeping it in the actor's own state keeps the actor
    /// alive until it stops itself; prefer [`weak_addr`](Self::weak_addr) there.
    pub fn addr(&self) -> Addr<A> {
        Addr::from_cell(self.cell.clone())
    }

    /// An uncounted address of this actor.
    pub fn weak_addr(&self) -> WeakAddr<A> {
        WeakAddr::from_cell(self.cell.clone())
    }

    /// Messages accepted and not yet handled (this one excluded).
    pub fn mailbox_len(&self) -> usize {
        crate::process::Process::mailbox_len(&*self.cell).saturating_sub(1)
    }

    /// Stops after this turn with [`ExitReason::Normal`] (`stopping` and `stopped` run).
    pub fn stop(&mut self) {
        self.stop_with(ExitReason::Normal);
    }

    /// Stops after this turn with `reason`.
    pub fn stop_with(&mut self, reason: ExitReason) {
        if self.stop.is_none() {
            self.stop = Some(reason);
        }
    }

    /// Ends the actor after this turn with [`ExitReason::Error`]: a crash, as far as links and
    /// supervisors are concerned.
    pub fn fail(&mut self, error: impl Into<BoxError>) {
        self.stop_with(ExitReason::error(error));
    }

    /// Traps exits (OTP `process_flag(trap_exit, true)`): exit signals from linked actors arrive
    /// as [`Actor::on_exit`] calls instead of ending this actor. [`kill`](ActorRef::kill) is
    /// never trapped.
    pub fn trap_exit(&mut self, trap: bool) {
        self.trap_exit = trap;
        self.cell.set_trap_exit(trap);
    }

    /// True if this actor traps exits.
    pub fn is_trapping_exits(&self) -> bool {
        self.trap_exit
    }

    /// Links this actor and `other` (bidirectional, idempotent): when either ends, the other gets
    /// an exit signal with the reason. Linking to itself does nothing.
    ///
    /// # Errors
    ///
    /// [`NoProc`] if `other` has already ended (no link is made).
    pub fn link(&mut self, other: &ActorRef) -> Result<(), NoProc> {
        if other.id() == self.cell.id {
            return Ok(());
        }
        if !other.0.add_link(self.actor_ref()) {
            return Err(NoProc);
        }
        crate::process::Process::add_link(&*self.cell, other.clone());
        Ok(())
    }

    /// Removes the link with `other`, if any (OTP `unlink/1`).
    pub fn unlink(&mut self, other: &ActorRef) {
        other.0.remove_link(self.cell.id);
        crate::process::Process::remove_link(&*self.cell, other.id());
    }

    /// Monitors `target`: when it ends, this actor gets [`Actor::on_down`] with the reason. Each
    /// call makes an independent monitor. Monitoring an actor that has already ended delivers
    /// `Down` with [`ExitReason::NoProc`] at once.
    pub fn monitor(&mut self, target: &ActorRef) -> MonitorRef {
        let mref = MonitorRef::new(target.clone());
        if !target.0.add_monitor(mref.id, self.actor_ref()) {
            crate::process::Process::signal(
                &*self.cell,
                Signal::Down(Down {
                    monitor: mref.clone(),
                    actor: target.clone(),
                    reason: ExitReason::NoProc,
                }),
            );
        }
        mref
    }

    /// Removes a monitor. With `flush`, a `Down` of it already queued is removed too (OTP
    /// `demonitor(Ref, [flush])`).
    pub fn demonitor(&mut self, monitor: &MonitorRef, flush: bool) {
        monitor.target.0.remove_monitor(monitor.id);
        if flush {
            self.cell.take_down(monitor.id);
        }
    }

    /// Spawns `actor` linked to this one, atomically (OTP `spawn_link`).
    pub fn spawn_link<B: Actor>(&mut self, actor: B) -> Addr<B> {
        Builder::new().link(self.actor_ref()).spawn(actor)
    }

    /// Registers this actor under `name` (see [`registry::register`](crate::registry::register)).
    ///
    /// # Errors
    ///
    /// As [`registry::register`](crate::registry::register).
    pub fn register(&self, name: impl Into<Arc<str>>) -> Result<(), RegisterError> {
        crate::registry::register(name, &self.actor_ref())
    }

    /// Sends `msg` to this actor after `delay`. The timer is cancelled if the actor ends first.
    ///
    /// # Panics
    ///
    /// Outside a Spectrum runtime.
    #[track_caller]
    pub fn send_after<M>(&mut self, delay: Duration, msg: M) -> TimerRef
    where
        A: Handler<M>,
        M: Send + 'static,
    {
        let t = crate::timer::send_after(self.weak_addr(), delay, msg);
        self.track(&t);
        t
    }

    /// Sends `make()` to this actor every `period` (first after one period), until the actor
    /// ends or the timer is cancelled. A tick waits for mailbox room, so a slow actor gets
    /// fewer ticks rather than a growing backlog.
    ///
    /// # Panics
    ///
    /// Outside a Spectrum runtime, or if `period` is zero.
    #[track_caller]
    pub fn interval<M, F>(&mut self, period: Duration, make: F) -> TimerRef
    where
        A: Handler<M>,
        M: Send + 'static,
        F: FnMut() -> M + Send + 'static,
    {
        let t = crate::timer::interval(self.weak_addr(), period, make);
        self.track(&t);
        t
    }

    fn track(&mut self, t: &TimerRef) {
        if self.timers.len() >= 16 {
            self.timers.retain(|h| !h.is_finished());
        }
        self.timers.push(t.abort_handle());
    }
}

impl<A: Actor> fmt::Debug for Context<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("actor", &self.cell.id)
            .field("trap_exit", &self.trap_exit)
            .finish_non_exhaustive()
    }
}
