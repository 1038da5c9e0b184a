//! Handles that send: [`Addr<A>`] (typed by actor), [`Recipient<M, R>`] (typed by message),
//! [`WeakAddr<A>`], and the [`Tell`] and [`Ask`] futures.
//!
//! # Counted handles
//!
//! `Addr`s and `Recipient`s are counted: when the last one is dropped the mailbox closes, the
//! actor handles what is already queued and then stops with [`ExitReason::Normal`] (as a channel
//! closes when its last sender goes). An actor that keeps its own `Addr` in its state keeps
//! itself alive; use [`WeakAddr`] (or [`Context::weak_addr`](crate::Context::weak_addr)) for
//! that. [`ActorRef`]s, links, monitors and timers set by the actor itself are not counted.
//!
//! # Sending
//!
//! | operation | mailbox full | actor stopped |
//! |---|---|---|
//! | [`tell`](Addr::tell) | overflow policy (`Wait`: waits) | `Err(Closed(msg))` |
//! | [`try_tell`](Addr::try_tell) | `Err(Full(msg))` (`Wait`/`Fail`), else policy | `Err(Closed(msg))` |
//! | [`ask`](Addr::ask) | waits (`Wait`), else `Err(Full(msg))` | `Err(Closed(msg))` at once |
//!
//! Messages from one sender to one actor arrive in the order sent (OTP rule 1).

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::{Duration, Instant};

use spectrum_rt::time::Sleep;

use crate::actor::{Actor, Handler};
use crate::cell::{Cell, Mode, Push};
use crate::envelope::{AskEnv, Replier, Slot, SlotPoll, TellEnv};
use crate::error::{AskError, TellError, TryTellError};
use crate::process::{ActorRef, Join, Process};
use crate::reason::{ActorId, ExitReason};

/// How long an [`ask`](Addr::ask) waits for its reply unless told otherwise: 5 s, OTP's default
/// `gen_server:call` timeout.
pub const DEFAULT_ASK_TIMEOUT: Duration = Duration::from_secs(5);

/// Sending `M` (replied with `R`) to some actor, its type erased: what `Recipient` and the
/// futures hold. Implemented by `Cell<A>` for every `A: Handler<M, Reply = R>`.
pub(crate) trait Sink<M, R>: Send + Sync + 'static {
    fn process(&self) -> &dyn Process;
    fn actor_ref(self: Arc<Self>) -> ActorRef;
    fn push_tell(&self, msg: M, mode: Mode, ticket: &mut u64, waker: Option<&Waker>) -> Push<M>;
    fn push_ask(&self, msg: M, slot: &Arc<Slot<R>>, ticket: &mut u64, waker: &Waker) -> Push<M>;
}

impl<A, M> Sink<M, A::Reply> for Cell<A>
where
    A: Handler<M>,
    M: Send + 'static,
{
    fn process(&self) -> &dyn Process {
        self
    }

    fn actor_ref(self: Arc<Self>) -> ActorRef {
        ActorRef::from_process(self)
    }

    fn push_tell(&self, msg: M, mode: Mode, ticket: &mut u64, waker: Option<&Waker>) -> Push<M> {
        match self.push(Box::new(TellEnv { msg }), mode, ticket, waker) {
            Push::Queued => Push::Queued,
            Push::Dropped => Push::Dropped,
            Push::Wait(e) => Push::Wait(e.msg),
            Push::Full(e) => Push::Full(e.msg),
            Push::Closed(e) => Push::Closed(e.msg),
        }
    }

    fn push_ask(
        &self,
        msg: M,
        slot: &Arc<Slot<A::Reply>>,
        ticket: &mut u64,
        waker: &Waker,
    ) -> Push<M> {
        let env = Box::new(AskEnv {
            msg,
            reply: Replier::new(slot.clone()),
        });
        match self.push(env, Mode::Ask, ticket, Some(waker)) {
            Push::Queued => Push::Queued,
            Push::Dropped => Push::Dropped,
            Push::Wait(e) => Push::Wait(e.msg),
            Push::Full(e) => Push::Full(e.msg),
            Push::Closed(e) => Push::Closed(e.msg),
        }
    }
}

/// A typed, cloneable, counted address of an actor of type `A`.
///
/// ```
/// # spectrum_rt::Runtime::new().unwrap().block_on(async {
/// use spectrum_actor::{Actor, Context, SyncHandler, TryTellError};
/// struct Sink(Vec<u32>);
/// impl Actor for Sink {}
/// impl SyncHandler<u32> for Sink {
///     type Reply = usize;
///     fn handle(&mut self, n: u32, _: &mut Context<Self>) -> usize { self.0.push(n); self.0.len() }
/// }
///
/// let sink = spectrum_actor::spawn(Sink(Vec::new()));
/// sink.tell(1).await.unwrap();        // waits for room if the mailbox is full
/// sink.try_tell(2).unwrap();          // never waits
/// assert_eq!(sink.ask(3).await.unwrap(), 3);
/// sink.stop();
/// sink.join().await;
/// assert!(matches!(sink.try_tell(4), Err(TryTellError::Closed(4)))); // the message comes back
/// # });
/// ```
pub struct Addr<A: Actor> {
    cell: Arc<Cell<A>>,
}

impl<A: Actor> Addr<A> {
    /// A counted handle on `cell`.
    pub(crate) fn from_cell(cell: Arc<Cell<A>>) -> Addr<A> {
        cell.retain_addr();
        Addr { cell }
    }

    /// Takes over a count already made.
    pub(crate) fn adopt(cell: Arc<Cell<A>>) -> Addr<A> {
        Addr { cell }
    }

    pub(crate) fn cell(&self) -> &Arc<Cell<A>> {
        &self.cell
    }

    /// Sends `msg`, waiting for room if the mailbox is full (under `Overflow::Wait`; the other
    /// policies decide at once, see [`Overflow`](crate::Overflow)). The reply, if any, is
    /// dropped.
    ///
    /// # Errors
    ///
    /// [`TellError::Closed`] with the message if the actor has stopped, [`TellError::Full`] under
    /// `Overflow::Fail`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes drops the message: it is delivered whole or not
    /// at all.
    pub fn tell<M>(&self, msg: M) -> Tell<'_, M, A::Reply>
    where
        A: Handler<M>,
        M: Send + 'static,
    {
        Tell::new(&*self.cell, msg)
    }

    /// Sends `msg` if there is room now.
    ///
    /// # Errors
    ///
    /// [`TryTellError::Full`] (under `Wait` and `Fail`) or [`TryTellError::Closed`], with the
    /// message.
    pub fn try_tell<M>(&self, msg: M) -> Result<(), TryTellError<M>>
    where
        A: Handler<M>,
        M: Send + 'static,
    {
        try_tell(&*self.cell, msg)
    }

    /// Sends `msg` and waits for the reply, for at most [`DEFAULT_ASK_TIMEOUT`] (change it with
    /// [`Ask::timeout`]).
    ///
    /// # Errors
    ///
    /// See [`AskError`]: `Closed(msg)` at once for an actor that has stopped, `Stopped(reason)`
    /// as soon as an actor that took the message ends without replying, `Timeout` after the
    /// timeout (a late reply is then dropped, never handed to another ask).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the ask: the message may or may not be handled, and its reply
    /// is dropped.
    pub fn ask<M>(&self, msg: M) -> Ask<'_, M, A::Reply>
    where
        A: Handler<M>,
        M: Send + 'static,
    {
        Ask::new(&*self.cell, msg)
    }

    /// A [`Recipient`] for one message type of this actor.
    pub fn recipient<M>(&self) -> Recipient<M, A::Reply>
    where
        A: Handler<M>,
        M: Send + 'static,
    {
        self.cell.retain_addr();
        Recipient {
            sink: self.cell.clone(),
        }
    }

    /// An uncounted handle, which does not keep the mailbox open.
    pub fn downgrade(&self) -> WeakAddr<A> {
        WeakAddr {
            cell: self.cell.clone(),
        }
    }

    /// The untyped handle (id, lifecycle, links and monitors).
    pub fn actor_ref(&self) -> ActorRef {
        self.cell.actor_ref()
    }

    /// The actor's id.
    pub fn id(&self) -> ActorId {
        self.cell.id
    }

    /// The name given at spawn.
    pub fn name(&self) -> Option<Arc<str>> {
        Process::name(&*self.cell)
    }

    /// True until the actor has ended.
    pub fn is_alive(&self) -> bool {
        self.cell.exit_reason().is_none()
    }

    /// Why the actor ended, once it has.
    pub fn exit_reason(&self) -> Option<ExitReason> {
        self.cell.exit_reason()
    }

    /// Messages accepted and not yet handled.
    pub fn mailbox_len(&self) -> usize {
        self.cell.mailbox_len()
    }

    /// The mailbox bound (`None`: unbounded).
    pub fn capacity(&self) -> Option<usize> {
        self.cell.config.capacity()
    }

    /// Messages dropped by the `DropNewest` / `DropOldest` policies.
    pub fn dropped(&self) -> u64 {
        self.cell.dropped()
    }

    /// Asks the actor to stop gracefully (see [`ActorRef::stop`]).
    pub fn stop(&self) {
        Process::stop(&*self.cell, ExitReason::Shutdown(None));
    }

    /// [`stop`](Self::stop) with a reason.
    pub fn stop_with(&self, reason: ExitReason) {
        Process::stop(&*self.cell, reason);
    }

    /// Kills the actor (see [`ActorRef::kill`]).
    pub fn kill(&self) {
        Process::kill(&*self.cell);
    }

    /// Waits until the actor has ended; returns why.
    pub fn join(&self) -> Join {
        self.actor_ref().join()
    }

    /// Sends `msg` after `delay`, on Spectrum's timer wheel. The timer task ends early if the
    /// actor ends; it holds no count on the mailbox. Dropping the returned
    /// [`TimerRef`](crate::TimerRef) does not cancel it;
    /// [`TimerRef::cancel`](crate::TimerRef::cancel) does.
    ///
    /// # Panics
    ///
    /// Outside a Spectrum runtime.
    #[track_caller]
    pub fn send_after<M>(&self, delay: Duration, msg: M) -> crate::timer::TimerRef
    where
        A: Handler<M>,
        M: Send + 'static,
    {
        crate::timer::send_after(self.downgrade(), delay, msg)
    }
}

impl<A: Actor> Clone for Addr<A> {
    fn clone(&self) -> Self {
        Addr::from_cell(self.cell.clone())
    }
}

impl<A: Actor> Drop for Addr<A> {
    fn drop(&mut self) {
        self.cell.release_addr();
    }
}

impl<A: Actor> PartialEq for Addr<A> {
    fn eq(&self, other: &Self) -> bool {
        self.cell.id == other.cell.id
    }
}

impl<A: Actor> Eq for Addr<A> {}

impl<A: Actor> fmt::Debug for Addr<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Addr<{}>({})", std::any::type_name::<A>(), self.cell.id)
    }
}

/// An uncounted address: sends only while some counted handle keeps the mailbox open.
pub struct WeakAddr<A: Actor> {
    cell: Arc<Cell<A>>,
}

impl<A: Actor> WeakAddr<A> {
    pub(crate) fn from_cell(cell: Arc<Cell<A>>) -> WeakAddr<A> {
        WeakAddr { cell }
    }

    /// A counted `Addr`, unless the mailbox has closed.
    pub fn upgrade(&self) -> Option<Addr<A>> {
        self.cell
            .try_retain_addr()
            .then(|| Addr::adopt(self.cell.clone()))
    }

    /// The actor's id.
    pub fn id(&self) -> ActorId {
        self.cell.id
    }

    /// The untyped handle.
    pub fn actor_ref(&self) -> ActorRef {
        self.cell.actor_ref()
    }

    /// `tell` without upgrading: goes through while the actor is alive, even when no counted
    /// handle is left (the actor itself, its timers).
    pub(crate) fn tell<M>(&self, msg: M) -> Tell<'_, M, A::Reply>
    where
        A: Handler<M>,
        M: Send + 'static,
    {
        Tell::new(&*self.cell, msg)
    }
}

impl<A: Actor> Clone for WeakAddr<A> {
    fn clone(&self) -> Self {
        WeakAddr {
            cell: self.cell.clone(),
        }
    }
}

impl<A: Actor> fmt::Debug for WeakAddr<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "WeakAddr<{}>({})",
            std::any::type_name::<A>(),
            self.cell.id
        )
    }
}

/// An address typed by message instead of by actor: any actor that handles `M` with reply `R`.
/// Counted, like [`Addr`].
///
/// ```
/// # spectrum_rt::Runtime::new().unwrap().block_on(async {
/// use spectrum_actor::{Actor, Context, Recipient, SyncHandler};
/// struct Ping;
/// struct A;
/// struct B;
/// impl Actor for A {}
/// impl Actor for B {}
/// impl SyncHandler<Ping> for A { type Reply = &'static str; fn handle(&mut self, _: Ping, _: &mut Context<Self>) -> &'static str { "a" } }
/// impl SyncHandler<Ping> for B { type Reply = &'static str; fn handle(&mut self, _: Ping, _: &mut Context<Self>) -> &'static str { "b" } }
///
/// let (a, b) = (spectrum_actor::spawn(A), spectrum_actor::spawn(B));
/// let all: Vec<Recipient<Ping, &str>> = vec![a.recipient(), b.recipient()];
/// let mut replies = Vec::new();
/// for r in &all {
///     replies.push(r.ask(Ping).await.unwrap());
/// }
/// assert_eq!(replies, ["a", "b"]);
/// # a.stop(); b.stop(); a.join().await; b.join().await;
/// # });
/// ```
pub struct Recipient<M: Send + 'static, R: Send + 'static = ()> {
    pub(crate) sink: Arc<dyn Sink<M, R>>,
}

impl<M: Send + 'static, R: Send + 'static> Recipient<M, R> {
    pub(crate) fn upgrade(sink: Arc<dyn Sink<M, R>>) -> Option<Recipient<M, R>> {
        sink.process().try_retain().then_some(Recipient { sink })
    }

    /// Sends `msg`, waiting for room (see [`Addr::tell`]).
    ///
    /// # Errors
    ///
    /// As [`Addr::tell`].
    ///
    /// # Cancel safety
    ///
    /// As [`Addr::tell`].
    pub fn tell(&self, msg: M) -> Tell<'_, M, R> {
        Tell::new(&*self.sink, msg)
    }

    /// Sends `msg` if there is room now (see [`Addr::try_tell`]).
    ///
    /// # Errors
    ///
    /// As [`Addr::try_tell`].
    pub fn try_tell(&self, msg: M) -> Result<(), TryTellError<M>> {
        try_tell(&*self.sink, msg)
    }

    /// Sends `msg` and waits for the reply (see [`Addr::ask`]).
    ///
    /// # Errors
    ///
    /// As [`Addr::ask`].
    ///
    /// # Cancel safety
    ///
    /// As [`Addr::ask`].
    pub fn ask(&self, msg: M) -> Ask<'_, M, R> {
        Ask::new(&*self.sink, msg)
    }

    /// The actor's id.
    pub fn id(&self) -> ActorId {
        self.sink.process().id()
    }

    /// The untyped handle.
    pub fn actor_ref(&self) -> ActorRef {
        self.sink.clone().actor_ref()
    }

    /// True until the actor has ended.
    pub fn is_alive(&self) -> bool {
        self.sink.process().exit_reason().is_none()
    }
}

impl<M: Send + 'static, R: Send + 'static> Clone for Recipient<M, R> {
    fn clone(&self) -> Self {
        self.sink.process().retain();
        Recipient {
            sink: self.sink.clone(),
        }
    }
}

impl<M: Send + 'static, R: Send + 'static> Drop for Recipient<M, R> {
    fn drop(&mut self) {
        self.sink.process().release();
    }
}

impl<M: Send + 'static, R: Send + 'static> fmt::Debug for Recipient<M, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Recipient<{}>({})",
            std::any::type_name::<M>(),
            self.sink.process().id()
        )
    }
}

fn try_tell<M: Send + 'static, R: Send + 'static>(
    sink: &dyn Sink<M, R>,
    msg: M,
) -> Result<(), TryTellError<M>> {
    let mut ticket = 0;
    match sink.push_tell(msg, Mode::TryTell, &mut ticket, None) {
        Push::Queued | Push::Dropped => Ok(()),
        Push::Full(m) | Push::Wait(m) => Err(TryTellError::Full(m)),
        Push::Closed(m) => Err(TryTellError::Closed(m)),
    }
}

/// Future returned by [`Addr::tell`] and [`Recipient::tell`].
#[must_use = "futures do nothing unless polled"]
pub struct Tell<'a, M: Send + 'static, R: Send + 'static> {
    sink: &'a dyn Sink<M, R>,
    msg: Option<M>,
    ticket: u64,
}

// The message is moved, never pinned.
impl<M: Send + 'static, R: Send + 'static> Unpin for Tell<'_, M, R> {}

impl<'a, M: Send + 'static, R: Send + 'static> Tell<'a, M, R> {
    fn new(sink: &'a dyn Sink<M, R>, msg: M) -> Self {
        Tell {
            sink,
            msg: Some(msg),
            ticket: 0,
        }
    }
}

impl<M: Send + 'static, R: Send + 'static> Future for Tell<'_, M, R> {
    type Output = Result<(), TellError<M>>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let me = self.get_mut();
        // A loop of tells that never wait must still let other tasks run.
        let coop = std::task::ready!(spectrum_rt::coop::poll_proceed(cx));
        let msg = me.msg.take().expect("Tell polled after completion");
        match me
            .sink
            .push_tell(msg, Mode::Tell, &mut me.ticket, Some(cx.waker()))
        {
            Push::Queued | Push::Dropped => {
                coop.made_progress();
                Poll::Ready(Ok(()))
            }
            Push::Wait(m) => {
                me.msg = Some(m);
                me.sink.process().note_reply_wait();
                Poll::Pending
            }
            Push::Full(m) => Poll::Ready(Err(TellError::Full(m))),
            Push::Closed(m) => Poll::Ready(Err(TellError::Closed(m))),
        }
    }
}

impl<M: Send + 'static, R: Send + 'static> Drop for Tell<'_, M, R> {
    fn drop(&mut self) {
        if self.ticket != 0 {
            self.sink.process().cancel_wait(self.ticket);
        }
    }
}

impl<M: Send + 'static, R: Send + 'static> fmt::Debug for Tell<'_, M, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tell")
            .field("actor", &self.sink.process().id())
            .field("sent", &self.msg.is_none())
            .finish()
    }
}

enum AskState<M, R> {
    Send(M),
    Wait(Arc<Slot<R>>),
    /// No reply will come: waiting for the exit reason.
    Stopped,
    Done,
}

/// Future returned by [`Addr::ask`] and [`Recipient::ask`].
#[must_use = "futures do nothing unless polled"]
pub struct Ask<'a, M: Send + 'static, R: Send + 'static> {
    sink: &'a dyn Sink<M, R>,
    state: AskState<M, R>,
    ticket: u64,
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    sleep: Option<Pin<Box<Sleep>>>,
    _reply: PhantomData<fn() -> R>,
}

impl<M: Send + 'static, R: Send + 'static> Unpin for Ask<'_, M, R> {}

impl<'a, M: Send + 'static, R: Send + 'static> Ask<'a, M, R> {
    fn new(sink: &'a dyn Sink<M, R>, msg: M) -> Self {
        Ask {
            sink,
            state: AskState::Send(msg),
            ticket: 0,
            timeout: Some(DEFAULT_ASK_TIMEOUT),
            deadline: None,
            sleep: None,
            _reply: PhantomData,
        }
    }

    /// Waits at most `timeout` (from the first poll, mailbox wait included).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Waits as long as it takes. The ask still fails at once if the actor ends.
    pub fn without_timeout(mut self) -> Self {
        self.timeout = None;
        self
    }

    /// Polls the timeout; arms the timer on the first `Pending`.
    fn poll_deadline(&mut self, cx: &mut TaskContext<'_>) -> Poll<()> {
        let Some(deadline) = self.deadline else {
            return Poll::Pending;
        };
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(spectrum_rt::time::sleep_until(deadline)));
        sleep.as_mut().poll_elapsed(cx)
    }
}

impl<M: Send + 'static, R: Send + 'static> Future for Ask<'_, M, R> {
    type Output = Result<R, AskError<M>>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let me = self.get_mut();
        let coop = std::task::ready!(spectrum_rt::coop::poll_proceed(cx));
        if me.deadline.is_none() {
            if let Some(t) = me.timeout {
                me.deadline = spectrum_rt::time::try_now().and_then(|now| now.checked_add(t));
            }
        }
        loop {
            match std::mem::replace(&mut me.state, AskState::Done) {
                AskState::Send(msg) => {
                    let slot = Slot::new();
                    match me.sink.push_ask(msg, &slot, &mut me.ticket, cx.waker()) {
                        Push::Queued => me.state = AskState::Wait(slot),
                        Push::Wait(m) => {
                            me.state = AskState::Send(m);
                            break;
                        }
                        Push::Full(m) => return Poll::Ready(Err(AskError::Full(m))),
                        Push::Dropped => unreachable!("asks are never dropped by policy"),
                        Push::Closed(m) => return Poll::Ready(Err(AskError::Closed(m))),
                    }
                }
                AskState::Wait(slot) => match slot.poll(cx) {
                    SlotPoll::Reply(r) => {
                        coop.made_progress();
                        return Poll::Ready(Ok(r));
                    }
                    SlotPoll::NoReply => me.state = AskState::Stopped,
                    SlotPoll::Pending => {
                        me.state = AskState::Wait(slot);
                        break;
                    }
                },
                AskState::Stopped => match me.sink.process().poll_exit(cx) {
                    Poll::Ready(reason) => return Poll::Ready(Err(AskError::Stopped(reason))),
                    Poll::Pending => {
                        me.state = AskState::Stopped;
                        break;
                    }
                },
                AskState::Done => panic!("Ask polled after completion"),
            }
        }
        if me.poll_deadline(cx).is_ready() {
            if let AskState::Wait(slot) = std::mem::replace(&mut me.state, AskState::Done) {
                slot.abandon();
            }
            return Poll::Ready(Err(AskError::Timeout));
        }
        me.sink.process().note_reply_wait();
        Poll::Pending
    }
}

impl<M: Send + 'static, R: Send + 'static> Drop for Ask<'_, M, R> {
    fn drop(&mut self) {
        if self.ticket != 0 {
            self.sink.process().cancel_wait(self.ticket);
        }
        if let AskState::Wait(slot) = &self.state {
            slot.abandon();
        }
    }
}

impl<M: Send + 'static, R: Send + 'static> fmt::Debug for Ask<'_, M, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ask")
            .field("actor", &self.sink.process().id())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}
