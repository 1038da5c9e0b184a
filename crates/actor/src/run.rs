//! The run loop: an actor's whole life as one future, the body of its task.
//!
//! # Steps
//!
//! 1. `started`, guarded (below). Failure ends the actor with no other hook.
//! 2. Turns: take the next item (system lane first: kill > stop > signals > messages; see
//!    `mailbox`), run it to completion, guarded. After `budget` messages in one activation the
//!    task yields its worker.
//! 3. A graceful stop (stop request, `Context::stop`, the last `Addr` gone, a cancelled task)
//!    closes the mailbox and runs `stopping`.
//! 4. `stopped` runs on every exit but a kill or a failed start; then the cell's death protocol
//!    (`cell` module docs).
//!
//! *Guarded* polling: every handler and hook future is polled inside `catch_unwind` (a panic ends
//! the actor with [`ExitReason::Panicked`], never the worker) and after a look at the kill bit,
//! so a kill drops the current handler at its next suspension point. While a handler is pending,
//! the actor's waker stays registered in the cell, so a kill wakes it whatever it waits on.
//!
//! *Two stages*: until its first poll the task holds only the actor and its cell (`Unstarted`,
//! which ends the actor like a failed start if the task is dropped unpolled); the first poll moves
//! them into the boxed loop. A spawned actor that has not run yet is therefore small — skynet
//! spawns a whole tree before its leaves run — and an actor that lives for one poll reuses the
//! box the previous one freed.
//!
//! *Forced cancellation* (a scope cancelling the task, or `Builder::run`'s future dropped): the
//! `Finisher` guard owns the actor; its destructor moves the actor into a shielded task
//! (`spectrum_rt::cancel::shield`, joined by the enclosing scope) that runs `stopping` and
//! `stopped` and the death protocol — so a supervisor in a cancelled scope still stops its
//! children in order — or, when the runtime is shutting down, runs the death protocol at once.

use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use spectrum_rt::runtime::Diagnostic;
use spectrum_sync::atomic::Ordering::Relaxed;

use crate::actor::Actor;
use crate::cell::{Cell, Next, Phase, SYS_KILL};
use crate::context::Context;
use crate::envelope::BoxFuture;
use crate::reason::ExitReason;
use crate::signal::Signal;

/// Why a guarded poll stopped early.
enum Abort {
    /// Killed (or an untrapped exit signal); `true`: `stopped` still runs.
    Kill(ExitReason, bool),
    Panic(ExitReason),
}

/// Polls `fut` guarded: kill check, then the poll inside `catch_unwind`.
struct Guarded<'c, A: Actor, F> {
    cell: &'c Cell<A>,
    fut: F,
}

impl<A: Actor, F: Future + Unpin> Future for Guarded<'_, A, F> {
    type Output = Result<F::Output, Abort>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let me = self.get_mut();
        if let Some(abort) = killed(me.cell) {
            return Poll::Ready(Err(abort));
        }
        let fut = &mut me.fut;
        match catch_unwind(AssertUnwindSafe(|| Pin::new(fut).poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => {
                me.cell.waker.register(cx.waker());
                match killed(me.cell) {
                    Some(abort) => Poll::Ready(Err(abort)),
                    None => Poll::Pending,
                }
            }
            Err(payload) => Poll::Ready(Err(Abort::Panic(ExitReason::from_panic(&*payload)))),
        }
    }
}

fn killed<A: Actor>(cell: &Cell<A>) -> Option<Abort> {
    // Relaxed: the kill reason itself is read under the lock.
    if cell.sys.load(Relaxed) & SYS_KILL == 0 {
        return None;
    }
    cell.pending_kill().map(|(r, hooks)| Abort::Kill(r, hooks))
}

fn guarded<A: Actor, F: Future + Unpin>(cell: &Cell<A>, fut: F) -> Guarded<'_, A, F> {
    Guarded { cell, fut }
}

/// The actor and its context, owned by the run loop (or by the shielded cleanup).
struct Core<A: Actor> {
    actor: A,
    ctx: Context<A>,
    /// The context's cell again, so the hooks' guards can borrow it while the hook borrows the
    /// context (one count taken at spawn instead of one per hook).
    cell: Arc<Cell<A>>,
    /// `stopping` ran to its end (or was cut short by a kill or a panic): the cleanup of a
    /// cancelled task does not run it again.
    stopping_done: bool,
    /// The mailbox is closed (`Cell::set_stopping` ran): later steps need not close it again.
    closed: bool,
}

impl<A: Actor> Core<A> {
    /// Steps 1–3: returns the exit reason and whether `stopped` runs.
    async fn live(&mut self) -> (ExitReason, bool) {
        let Core {
            actor,
            ctx,
            cell,
            closed,
            ..
        } = self;
        let cell = &**cell;
        // Blocks scope the hook's future (dropped before `ctx` is read again) and its outcome
        // (not kept in the future across the awaits below).
        let stopping = {
            let started = {
                let hook = pin!(actor.started(ctx));
                guarded(cell, hook).await
            };
            match started {
                Ok(Ok(())) => ctx.stop.is_some(),
                Ok(Err(e)) => return (ExitReason::Error(Arc::from(e)), false),
                Err(Abort::Kill(r, _)) | Err(Abort::Panic(r)) => return (r, false),
            }
        };
        // An actor that stops from `started` closes its mailbox with the same lock.
        cell.set_running(stopping);
        *closed = stopping;
        let budget = cell.config.budget;
        let mut handled = 0u32;
        let reason = loop {
            if let Some(r) = ctx.stop.take() {
                break r;
            }
            // What to run is decided without an await, and only its future (16 bytes) is held
            // while it runs: an `await` inside a `match` on the mailbox item would keep the item
            // (64 bytes) in every actor's task for its whole life. Signal hooks are boxed for
            // the same reason (they are rare: one per trapped exit or monitor).
            let mut is_msg = false;
            let fut: Option<BoxFuture<'_>> = match poll_fn(|cx| ctx.poll_next(cx)).await {
                Next::Msg(env) => {
                    is_msg = true;
                    let (a, c) = (&mut *actor, &mut *ctx);
                    match catch_unwind(AssertUnwindSafe(move || env.dispatch(a, c))) {
                        Ok(fut) => fut,
                        Err(payload) => return (ExitReason::from_panic(&*payload), true),
                    }
                }
                Next::Kill(r, hooks) => return (r, hooks),
                Next::Stop(r) => break r,
                Next::Closed => break ExitReason::Normal,
                Next::Signal(Signal::Exit(e)) => Some(Box::pin(actor.on_exit(e, ctx))),
                Next::Signal(Signal::Down(d)) => Some(Box::pin(actor.on_down(d, ctx))),
            };
            if let Some(fut) = fut {
                match guarded(cell, fut).await {
                    Ok(()) => {}
                    Err(Abort::Kill(r, hooks)) => return (r, hooks),
                    Err(Abort::Panic(r)) => return (r, true),
                }
            }
            if !is_msg {
                handled = 0;
                continue;
            }
            handled += 1;
            if handled >= budget {
                handled = 0;
                spectrum_rt::task::yield_now().await;
            }
        };
        self.graceful(reason).await
    }

    /// Step 3: close the mailbox and run `stopping`.
    async fn graceful(&mut self, reason: ExitReason) -> (ExitReason, bool) {
        let Core {
            actor, ctx, cell, ..
        } = self;
        let cell = &**cell;
        if !std::mem::replace(&mut self.closed, true) {
            cell.set_stopping();
        }
        let outcome = guarded(cell, pin!(actor.stopping(ctx, &reason))).await;
        self.stopping_done = true;
        match outcome {
            Ok(()) => (reason, true),
            Err(Abort::Kill(r, hooks)) => (r, hooks),
            Err(Abort::Panic(r)) => (r, true),
        }
    }

    /// Step 4's hook: `stopped`, with a panic contained and reported.
    async fn stopped(&mut self, reason: &ExitReason) {
        // `stopping` is over (or skipped, after a kill) once `stopped` begins.
        self.stopping_done = true;
        let closed = std::mem::replace(&mut self.closed, true);
        let Core {
            actor, ctx, cell, ..
        } = self;
        let cell = &**cell;
        if !closed {
            cell.set_stopping();
        }
        // Relaxed: a kill recorded by another thread concurrently with this load is one that
        // arrived after the check, and aborts the hook as one arriving after `clear_soft_kill`
        // would; the bit itself is re-read under the lock there.
        if cell.sys.load(Relaxed) & SYS_KILL != 0 {
            cell.clear_soft_kill();
        }
        if let Err(Abort::Panic(p)) = guarded(cell, pin!(actor.stopped(ctx, reason))).await {
            if let Ok(h) = spectrum_rt::Handle::try_current() {
                h.report(Diagnostic::Misuse {
                    message: format!(
                        "actor {} ({}): its `stopped` hook panicked ({p}); the panic was \
                         contained and the actor ended with reason `{reason}`",
                        cell.id,
                        std::any::type_name::<A>()
                    ),
                    location: None,
                });
            }
        }
    }
}

/// Owns the core; finishes the actor exactly once, even when the task is dropped.
struct Finisher<A: Actor> {
    core: Option<Core<A>>,
    /// Already running in the shielded cleanup task: never shield again.
    shielded: bool,
}

impl<A: Actor> Finisher<A> {
    fn finish(&mut self, reason: ExitReason) {
        if let Some(mut core) = self.core.take() {
            core.ctx.cancel_timers();
            let local = std::mem::take(&mut core.ctx.local);
            let Core {
                actor, ctx, cell, ..
            } = core;
            // The actor's state goes before anyone hears of the death.
            drop(actor);
            drop(ctx);
            cell.finish(reason, local);
        }
    }
}

impl<A: Actor> Drop for Finisher<A> {
    fn drop(&mut self) {
        let Some(core) = self.core.take() else {
            return;
        };
        let reason = ExitReason::shutdown("task cancelled");
        let runs_hooks = core.ctx.cell.phase() >= Phase::Running;
        let live_rt = spectrum_rt::Handle::try_current().is_ok_and(|h| !h.is_shutdown());
        if runs_hooks && live_rt && !self.shielded {
            let mut f = Finisher {
                core: Some(core),
                shielded: true,
            };
            let cleanup = async move {
                let f = &mut f;
                let c = f.core.as_mut().expect("core");
                // Not stopping yet, or cancelled in the middle of `stopping` (a scope that
                // cancels its tasks as their stop begins): run it (again) under the shield.
                let (reason, hooks) = if c.ctx.cell.phase() < Phase::Stopping || !c.stopping_done {
                    c.graceful(reason).await
                } else {
                    (reason, true)
                };
                if hooks {
                    c.stopped(&reason).await;
                }
                f.finish(reason);
            };
            drop(spectrum_rt::cancel::shield(cleanup));
        } else {
            self.core = Some(core);
            self.finish(reason);
        }
    }
}

/// The actor's task body.
pub(crate) fn run<A: Actor>(
    actor: A,
    cell: Arc<Cell<A>>,
) -> impl Future<Output = ExitReason> + Send {
    run_then(actor, cell, |reason| reason)
}

/// [`run`], with `then` applied to the exit reason inside the same future (a wrapping `async`
/// block would hold a second copy of the whole loop's state).
///
/// Two stages, so that a spawned actor that has not run yet is small: the task's future holds
/// only the actor and its cell ([`Unstarted`]); its first poll moves them into the boxed run loop
/// ([`running`]). A tree that spawns a million actors before the first of them runs (skynet's
/// breadth-first start) then holds a million small tasks instead of a million run loops; an
/// actor that starts, works and ends in one poll reuses the box its predecessor just freed.
pub(crate) fn run_then<A: Actor, T>(
    actor: A,
    cell: Arc<Cell<A>>,
    then: impl FnOnce(ExitReason) -> T + Send,
) -> impl Future<Output = T> + Send {
    let mut start = Unstarted {
        parts: Some((actor, cell)),
    };
    async move {
        let (actor, cell) = start.parts.take().expect("polled after completion");
        Box::pin(running(actor, cell, then)).await
    }
}

/// An actor whose task has not been polled yet. Dropped unpolled (the runtime shut down, the
/// scope was cancelled), it ends the actor as the run loop's `Finisher` does before `started`:
/// no hook runs; links, monitors and joiners hear `shutdown`.
struct Unstarted<A: Actor> {
    parts: Option<(A, Arc<Cell<A>>)>,
}

impl<A: Actor> Drop for Unstarted<A> {
    fn drop(&mut self) {
        if let Some((actor, cell)) = self.parts.take() {
            // The actor's state goes before anyone hears of the death.
            drop(actor);
            cell.finish(ExitReason::shutdown("task cancelled"), Default::default());
        }
    }
}

/// The run loop proper: steps 1–4 of the module docs.
///
/// The `Finisher` is built here and captured by the `async` block, which uses it in place: an
/// `async fn` taking the actor would keep the argument and the `Core` it moves into as two
/// separate slots of the future, so every task would carry the actor's state twice.
fn running<A: Actor, T>(
    actor: A,
    cell: Arc<Cell<A>>,
    then: impl FnOnce(ExitReason) -> T + Send,
) -> impl Future<Output = T> + Send {
    let mut f = Finisher {
        core: Some(Core {
            actor,
            ctx: Context::new(cell.clone()),
            cell,
            stopping_done: false,
            closed: false,
        }),
        shielded: false,
    };
    async move {
        let f = &mut f;
        let core = f.core.as_mut().expect("core");
        if let Some(task) = spectrum_rt::task_id() {
            // Relaxed: read by waiters for the wait-for graph only (see
            // `Process::note_reply_wait`).
            core.cell.task.store(task.as_u64(), Relaxed);
        }
        let (reason, hooks) = core.live().await;
        if hooks {
            core.stopped(&reason).await;
        }
        f.finish(reason.clone());
        then(reason)
    }
}
