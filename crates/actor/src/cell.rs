//! The cell every handle to an actor points at: its mailbox (see `mailbox` for the invariants
//! and protocols of the user and system lanes), its links, monitors and names, and the death
//! protocol.
//!
//! # Who touches what
//!
//! | field | written by | read by |
//! |---|---|---|
//! | `state.queue`, `state.idle` | senders (append, clear `idle`), the actor (take, set `idle`) | both, under the lock |
//! | `state.taken` | the actor | senders (the bound), under the lock |
//! | `state.ext` (system lane, links, monitors, waiters, names) | anyone, under the lock | anyone, under the lock |
//! | `sys` | writers of the system lane, under the lock | the actor, between messages, without the lock |
//! | `addrs` | `Addr`/`Recipient`/registry clones and drops | the actor when its queue is empty |
//!
//! # Death protocol (`finish`), after the last hook
//!
//! 1. Under the lock: phase `Dead`, record the exit reason, take the queue, links, monitors,
//!    names, waiting senders and waiters. From here every send fails with `Closed(msg)` and every
//!    new link or monitor sees `NoProc`.
//! 2. Release registered names and group memberships (OTP rule 11: before anyone hears of the
//!    death, so a `whereis` after a `Down` never finds the dead actor).
//! 3. Drop the remaining messages: asks in them wake their askers with `Stopped(reason)`; tells
//!    go to the dead-letter office when anyone listens.
//! 4. Send the exit signal to every linked peer (removing the peer's link back) and `Down` to
//!    every monitor; wake joiners and waiting senders.
//!
//! A cell never holds another cell's lock: every cross-actor step locks one cell at a time.

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Waker};

use spectrum_rt::task::{TaskId, WaitOn};
use spectrum_rt::waitgraph::{Holder, Holders, Registration};
use spectrum_sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering::*};
use spectrum_sync::{AtomicWaker, Mutex, MutexGuard};

use crate::actor::Actor;
use crate::envelope::Envelope;
use crate::mailbox::{Mailbox, Overflow};
use crate::process::{ActorRef, Process};
use crate::reason::{ActorId, ExitReason};
use crate::signal::{Down, Exit, MonitorRef, Signal};

/// `sys` bit: a kill (or an untrapped exit signal) is pending.
pub(crate) const SYS_KILL: u8 = 1;
/// `sys` bit: a graceful stop was requested.
pub(crate) const SYS_STOP: u8 = 2;
/// `sys` bit: exit or down signals are queued.
pub(crate) const SYS_SIGNAL: u8 = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    /// `started` is running.
    Starting,
    /// Handling messages.
    Running,
    /// `stopping`/`stopped` are running; the mailbox is closed.
    Stopping,
    /// Ended; `exit` holds the reason.
    Dead,
}

pub(crate) struct Cell<A: Actor> {
    pub(crate) id: ActorId,
    pub(crate) config: Mailbox,
    addrs: AtomicUsize,
    pub(crate) sys: AtomicU8,
    pub(crate) waker: AtomicWaker,
    /// The id of the task that runs the actor (0 until it first runs), for the wait-for graph.
    pub(crate) task: AtomicU64,
    state: Mutex<State<A>>,
}

struct State<A: Actor> {
    queue: VecDeque<Box<dyn Envelope<A>>>,
    /// Messages in the actor's current batch (accepted, not yet handled).
    taken: usize,
    phase: Phase,
    /// The actor is parked waiting for mail (mailbox invariant 3).
    idle: bool,
    /// `start` finished successfully.
    started: bool,
    trap_exit: bool,
    /// Why it ended, once `Dead`.
    exit: Option<ExitReason>,
    ext: Option<Box<Ext>>,
}

/// The rarely used part of the state, allocated on first use.
#[derive(Default)]
struct Ext {
    name: Option<Arc<str>>,
    /// A pending kill: the reason and whether `stopped` still runs (untrapped link exits) or not
    /// (`kill`).
    kill: Option<(ExitReason, bool)>,
    stop: Option<ExitReason>,
    signals: VecDeque<Signal>,
    links: HashMap<ActorId, ActorRef>,
    /// Monitors on this actor: monitor id → watcher.
    monitors: HashMap<u64, ActorRef>,
    /// Senders waiting for room: ticket, waker.
    senders: VecDeque<(u64, Waker)>,
    /// Joiners and start waiters.
    waiters: Vec<Waker>,
    /// Registered names and groups (`true`) to release at exit.
    names: Vec<(Arc<str>, bool)>,
    dropped: u64,
    /// This actor in the runtime's wait-for graph, registered the first time a task waits for
    /// it (see `Process::note_reply_wait`).
    graph: Option<(Arc<dyn Holders>, Registration)>,
}

/// What the death protocol takes out of `Ext` under the lock, to act on after it.
struct Departed {
    name: Option<Arc<str>>,
    links: HashMap<ActorId, ActorRef>,
    monitors: HashMap<u64, ActorRef>,
    senders: VecDeque<(u64, Waker)>,
    waiters: Vec<Waker>,
    names: Vec<(Arc<str>, bool)>,
    signals: VecDeque<Signal>,
}

/// What a task waiting for an actor waits for: the task that runs it.
struct ActorTask(TaskId);

impl Holders for ActorTask {
    fn holders(&self, out: &mut Vec<Holder>) {
        out.push(Holder {
            task: self.0,
            certain: true,
        });
    }
}

/// What a send became.
pub(crate) enum Push<E> {
    Queued,
    /// Dropped or dead-lettered by the overflow policy (the send succeeds).
    Dropped,
    /// Registered as a waiting sender (`Overflow::Wait`); the envelope comes back to retry.
    Wait(E),
    Full(E),
    Closed(E),
}

/// How a send may treat a full mailbox.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `tell`: the overflow policy applies, waiting included.
    Tell,
    /// `try_tell`: the policy applies, but never waits.
    TryTell,
    /// `ask`: waits under `Wait`, fails under every other policy.
    Ask,
}

/// What the actor finds when it looks for work.
pub(crate) enum Next<A: Actor> {
    Msg(Box<dyn Envelope<A>>),
    /// Die now with this reason; `true`: run `stopped`.
    Kill(ExitReason, bool),
    Stop(ExitReason),
    Signal(Signal),
    /// No `Addr` left and the queue is empty.
    Closed,
}

static NEXT_TICKET: AtomicU64 = AtomicU64::new(1);

impl<A: Actor> Cell<A> {
    pub(crate) fn new(config: Mailbox, name: Option<Arc<str>>) -> Cell<A> {
        Cell {
            id: ActorId::next(),
            config,
            addrs: AtomicUsize::new(0),
            sys: AtomicU8::new(0),
            waker: AtomicWaker::new(),
            task: AtomicU64::new(0),
            state: Mutex::new(State {
                queue: VecDeque::new(),
                taken: 0,
                phase: Phase::Starting,
                idle: false,
                started: false,
                trap_exit: false,
                exit: None,
                ext: name.map(|name| {
                    Box::new(Ext {
                        name: Some(name),
                        ..Ext::default()
                    })
                }),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<A>> {
        self.state.lock()
    }

    // ---- user lane: senders ----

    /// Offers an envelope (module docs of `mailbox`: *Send*). `ticket` identifies a waiting
    /// sender across polls (0: not waiting).
    pub(crate) fn push<E: Envelope<A> + 'static>(
        &self,
        env: Box<E>,
        mode: Mode,
        ticket: &mut u64,
        waker: Option<&Waker>,
    ) -> Push<Box<E>> {
        let mut st = self.lock();
        if st.phase >= Phase::Stopping {
            if *ticket != 0 {
                st.remove_sender(*ticket);
                *ticket = 0;
            }
            return Push::Closed(env);
        }
        if st.queue.len() + st.taken < self.config.capacity {
            if *ticket != 0 {
                st.remove_sender(*ticket);
                *ticket = 0;
            }
            st.queue.push_back(env);
            let wake = std::mem::take(&mut st.idle);
            drop(st);
            if wake {
                self.waker.wake();
            }
            return Push::Queued;
        }
        match (self.config.overflow, mode) {
            (Overflow::Wait, Mode::Tell | Mode::Ask) => match waker {
                Some(w) => {
                    let ext = st.ext();
                    if *ticket != 0 {
                        if let Some(e) = ext.senders.iter_mut().find(|e| e.0 == *ticket) {
                            if !e.1.will_wake(w) {
                                e.1 = w.clone();
                            }
                            return Push::Wait(env);
                        }
                    }
                    // Relaxed: a unique counter.
                    *ticket = NEXT_TICKET.fetch_add(1, Relaxed);
                    ext.senders.push_back((*ticket, w.clone()));
                    Push::Wait(env)
                }
                None => Push::Full(env),
            },
            (Overflow::Wait | Overflow::Fail, _) | (_, Mode::Ask) => Push::Full(env),
            (Overflow::DropNewest, _) => {
                st.ext().dropped += 1;
                drop(st);
                drop(env);
                Push::Dropped
            }
            (Overflow::DropOldest, _) => match st.queue.pop_front() {
                Some(old) => {
                    st.queue.push_back(env);
                    st.ext().dropped += 1;
                    drop(st);
                    drop(old);
                    Push::Dropped
                }
                None => {
                    st.ext().dropped += 1;
                    drop(st);
                    drop(env);
                    Push::Dropped
                }
            },
            (Overflow::DeadLetter, _) => {
                let name = st.ext.as_ref().and_then(|e| e.name.clone());
                drop(st);
                let type_name = env.type_name();
                crate::dead_letter::publish(
                    self.id,
                    name,
                    type_name,
                    crate::dead_letter::DeadLetterReason::MailboxFull,
                    env.into_message(),
                );
                Push::Dropped
            }
        }
    }

    /// A waiting sender gives up (its future was dropped): leave the queue, or, if it had been
    /// woken for a free slot it will not use, pass the wake-up on.
    pub(crate) fn cancel_wait(&self, ticket: u64) {
        let mut st = self.lock();
        if !st.remove_sender(ticket) && st.queue.len() + st.taken < self.config.capacity {
            if let Some((_, w)) = st.ext.as_mut().and_then(|e| e.senders.pop_front()) {
                drop(st);
                w.wake();
            }
        }
    }

    // ---- user and system lanes: the actor ----

    /// Looks for work when the local batch is empty, or when `sys` is set (module docs of
    /// `mailbox`: *Receive*). Moves up to `max` messages into `local`.
    pub(crate) fn refill(
        &self,
        local: &mut VecDeque<Box<dyn Envelope<A>>>,
        max: usize,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Next<A>> {
        self.waker.register(cx.waker());
        let mut st = self.lock();
        // Acknowledge the finished batch (what is still in `local` is not finished).
        let freed = st.taken - local.len();
        st.taken = local.len();
        if freed > 0 {
            if let Some(ext) = st.ext.as_mut() {
                for _ in 0..freed.min(ext.senders.len()) {
                    if let Some((_, w)) = ext.senders.pop_front() {
                        w.wake();
                    }
                }
            }
        }
        // Relaxed: written under the lock we hold.
        if self.sys.load(Relaxed) != 0 {
            if let Some(next) = st.take_system(&self.sys) {
                return Poll::Ready(next);
            }
        }
        if let Some(env) = local.pop_front() {
            return Poll::Ready(Next::Msg(env));
        }
        if !st.queue.is_empty() {
            let n = st.queue.len().min(max);
            local.extend(st.queue.drain(..n));
            st.taken = n;
            let env = local.pop_front().expect("batch of at least one");
            return Poll::Ready(Next::Msg(env));
        }
        // Acquire: pairs with the AcqRel decrement in `release`.
        if self.addrs.load(Acquire) == 0 {
            return Poll::Ready(Next::Closed);
        }
        st.idle = true;
        if st.queue.capacity() > 64 {
            // Idle: give a burst's buffer back.
            st.queue.shrink_to(16);
        }
        drop(st);
        if local.capacity() > 64 {
            local.shrink_to(16);
        }
        spectrum_rt::task::note_wait(spectrum_rt::task::WaitOn::Mailbox {
            actor: self.id.as_u64(),
        });
        Poll::Pending
    }

    /// `started` finished: the actor handles messages from now on — or, with `stopping` (it
    /// asked to stop from `started`), [`set_stopping`](Self::set_stopping) at once, under the
    /// same lock (an actor that lives for one poll takes its own lock three times, not four).
    pub(crate) fn set_running(&self, stopping: bool) {
        let mut st = self.lock();
        st.phase = if stopping {
            Phase::Stopping
        } else {
            Phase::Running
        };
        st.started = true;
        let (waiters, senders) = match st.ext.as_mut() {
            Some(e) => (
                std::mem::take(&mut e.waiters),
                if stopping {
                    std::mem::take(&mut e.senders)
                } else {
                    VecDeque::new()
                },
            ),
            None => return,
        };
        drop(st);
        for w in waiters {
            w.wake();
        }
        for (_, w) in senders {
            w.wake();
        }
    }

    /// A graceful stop begins: close the mailbox to senders.
    pub(crate) fn set_stopping(&self) {
        let mut st = self.lock();
        if st.phase < Phase::Stopping {
            st.phase = Phase::Stopping;
        }
        let senders = st.ext.as_mut().map(|e| std::mem::take(&mut e.senders));
        drop(st);
        for (_, w) in senders.into_iter().flatten() {
            w.wake();
        }
    }

    pub(crate) fn phase(&self) -> Phase {
        self.lock().phase
    }

    /// The pending kill, if any: its reason and whether `stopped` still runs.
    pub(crate) fn pending_kill(&self) -> Option<(ExitReason, bool)> {
        self.lock().ext.as_ref().and_then(|e| e.kill.clone())
    }

    /// Before `stopped` runs after an untrapped exit signal: that "kill" has been acted on, so
    /// it must not abort the hook (a real `kill` still does).
    pub(crate) fn clear_soft_kill(&self) {
        let mut st = self.lock();
        if let Some(ext) = st.ext.as_mut() {
            if matches!(ext.kill, Some((_, true))) {
                ext.kill = None;
                // Relaxed: under the lock.
                self.sys.fetch_and(!SYS_KILL, Relaxed);
            }
        }
    }

    pub(crate) fn set_trap_exit(&self, trap: bool) {
        self.lock().trap_exit = trap;
    }

    /// Removes a queued `Down` of monitor `id` (demonitor with flush).
    pub(crate) fn take_down(&self, id: u64) {
        let mut st = self.lock();
        if let Some(ext) = st.ext.as_mut() {
            ext.signals
                .retain(|s| !matches!(s, Signal::Down(d) if d.monitor.id == id));
            if ext.signals.is_empty() {
                // Relaxed: under the lock.
                self.sys.fetch_and(!SYS_SIGNAL, Relaxed);
            }
        }
    }

    /// Removes a queued exit signal from `from` (a child the supervisor terminated itself).
    pub(crate) fn take_exit(&self, from: ActorId) {
        let mut st = self.lock();
        if let Some(ext) = st.ext.as_mut() {
            ext.signals
                .retain(|s| !matches!(s, Signal::Exit(e) if e.from.id() == from));
            if ext.signals.is_empty() {
                // Relaxed: under the lock.
                self.sys.fetch_and(!SYS_SIGNAL, Relaxed);
            }
        }
    }

    /// Messages dropped by the overflow policy so far.
    pub(crate) fn dropped(&self) -> u64 {
        self.lock().ext.as_ref().map_or(0, |e| e.dropped)
    }

    // ---- counted handles ----

    /// One more `Addr`: Relaxed as for `Arc::clone` (the caller already holds one, or is the
    /// actor itself).
    pub(crate) fn retain_addr(&self) {
        self.addrs.fetch_add(1, Relaxed);
    }

    /// One more `Addr` unless the count already reached zero (the mailbox is closing).
    pub(crate) fn try_retain_addr(&self) -> bool {
        let mut n = self.addrs.load(Relaxed);
        loop {
            if n == 0 {
                return false;
            }
            match self.addrs.compare_exchange_weak(n, n + 1, Relaxed, Relaxed) {
                Ok(_) => return true,
                Err(cur) => n = cur,
            }
        }
    }

    pub(crate) fn release_addr(&self) {
        // AcqRel: the last release pairs with the actor's Acquire load in `refill`, so the actor
        // sees every message sent through the handle before it sees the count at zero.
        if self.addrs.fetch_sub(1, AcqRel) == 1 {
            let mut st = self.lock();
            let wake = std::mem::take(&mut st.idle);
            drop(st);
            if wake {
                self.waker.wake();
            }
        }
    }

    // ---- death ----

    /// The death protocol (module docs). `local` is the unfinished batch.
    pub(crate) fn finish(
        self: &Arc<Self>,
        reason: ExitReason,
        local: VecDeque<Box<dyn Envelope<A>>>,
    ) {
        let mut st = self.lock();
        if st.phase == Phase::Dead {
            return;
        }
        st.phase = Phase::Dead;
        st.idle = false;
        st.taken = 0;
        let queue = std::mem::take(&mut st.queue);
        st.exit = Some(reason.clone());
        let ext = st.ext.as_mut().map(|e| {
            e.kill = None;
            e.stop = None;
            Departed {
                name: e.name.clone(),
                links: std::mem::take(&mut e.links),
                monitors: std::mem::take(&mut e.monitors),
                senders: std::mem::take(&mut e.senders),
                waiters: std::mem::take(&mut e.waiters),
                names: std::mem::take(&mut e.names),
                signals: std::mem::take(&mut e.signals),
            }
        });
        // Relaxed: under the lock; nobody acts on `sys` of a dead actor.
        self.sys.store(0, Relaxed);
        drop(st);

        // Most actors never had a name, link, monitor, waiter or waiting sender (no `Ext`):
        // steps 2 and 4 have nothing to do.
        let Some(ext) = ext else {
            self.drop_leftovers(None, local, queue);
            return;
        };
        // 2. Names and groups go first (OTP rule 11).
        for (n, group) in ext.names {
            if group {
                crate::group::remove_member(&n, self.id);
            } else {
                crate::registry::remove_if(&n, self.id);
            }
        }
        // 3. Leftover messages.
        drop(ext.signals);
        self.drop_leftovers(ext.name, local, queue);
        // 4. Signals, then wake-ups.
        if !ext.links.is_empty() || !ext.monitors.is_empty() {
            self.notify_death(ext.links, ext.monitors, &reason);
        }
        for w in ext.waiters {
            w.wake();
        }
        for (_, w) in ext.senders {
            w.wake();
        }
    }

    /// Step 3 of the death protocol: messages never handled are dropped (an ask's asker hears
    /// `Stopped`), or published as dead letters when someone listens.
    fn drop_leftovers(
        &self,
        name: Option<Arc<str>>,
        local: VecDeque<Box<dyn Envelope<A>>>,
        queue: VecDeque<Box<dyn Envelope<A>>>,
    ) {
        if local.is_empty() && queue.is_empty() {
            return;
        }
        let listening = crate::dead_letter::is_listening();
        for env in local.into_iter().chain(queue) {
            if listening {
                let type_name = env.type_name();
                crate::dead_letter::publish(
                    self.id,
                    name.clone(),
                    type_name,
                    crate::dead_letter::DeadLetterReason::Stopped,
                    env.into_message(),
                );
            } else {
                drop(env);
            }
        }
    }

    /// Step 4 of the death protocol for an actor that has links or monitors.
    fn notify_death(
        self: &Arc<Self>,
        links: HashMap<ActorId, ActorRef>,
        monitors: HashMap<u64, ActorRef>,
        reason: &ExitReason,
    ) {
        let me = self.actor_ref();
        for (_, peer) in links {
            peer.0.link_exit(me.clone(), reason.clone());
        }
        for (id, watcher) in monitors {
            watcher.0.signal(Signal::Down(Down {
                monitor: MonitorRef {
                    id,
                    target: me.clone(),
                },
                actor: me.clone(),
                reason: reason.clone(),
            }));
        }
    }

    pub(crate) fn actor_ref(self: &Arc<Self>) -> ActorRef {
        ActorRef::from_process(self.clone())
    }
}

impl<A: Actor> State<A> {
    fn ext(&mut self) -> &mut Ext {
        self.ext.get_or_insert_with(Box::default)
    }

    fn remove_sender(&mut self, ticket: u64) -> bool {
        match self.ext.as_mut() {
            Some(ext) => match ext.senders.iter().position(|e| e.0 == ticket) {
                Some(i) => {
                    ext.senders.remove(i);
                    true
                }
                None => false,
            },
            None => false,
        }
    }

    /// Takes the highest-priority system item (kill > stop > signal) and updates `sys`.
    fn take_system(&mut self, sys: &AtomicU8) -> Option<Next<A>> {
        let ext = self.ext.as_mut()?;
        if let Some((reason, hooks)) = ext.kill.clone() {
            // The kill stays recorded (a later hook is aborted too); the bit stays set.
            return Some(Next::Kill(reason, hooks));
        }
        if let Some(reason) = ext.stop.take() {
            // Relaxed: under the lock.
            sys.fetch_and(!SYS_STOP, Relaxed);
            return Some(Next::Stop(reason));
        }
        if let Some(s) = ext.signals.pop_front() {
            if ext.signals.is_empty() {
                sys.fetch_and(!SYS_SIGNAL, Relaxed);
            }
            return Some(Next::Signal(s));
        }
        sys.store(0, Relaxed);
        None
    }
}

impl<A: Actor> Cell<A> {
    /// Records a system item and wakes the actor; `false` if it is dead.
    fn system(&self, f: impl FnOnce(&mut Ext, bool) -> u8) -> bool {
        let mut st = self.lock();
        if st.phase == Phase::Dead {
            return false;
        }
        let trap = st.trap_exit;
        let bit = f(st.ext(), trap);
        if bit != 0 {
            // Relaxed: published by the unlock below (the actor reads it under the lock, or
            // re-checks under it before sleeping).
            self.sys.fetch_or(bit, Relaxed);
            let wake = std::mem::take(&mut st.idle);
            drop(st);
            // Also wakes a handler parked on something else, so a kill interrupts it.
            if wake || bit & SYS_KILL != 0 {
                self.waker.wake();
            }
        }
        true
    }

    fn deliver(&self, signal: Signal) -> bool {
        self.system(|ext, trap| match signal {
            Signal::Exit(e) if !trap => {
                // OTP rule 6: `normal` is ignored, anything else kills (hooks still run).
                if matches!(e.reason, ExitReason::Normal) {
                    0
                } else {
                    if ext.kill.is_none() {
                        ext.kill = Some((e.reason, true));
                    }
                    SYS_KILL
                }
            }
            s => {
                ext.signals.push_back(s);
                SYS_SIGNAL
            }
        })
    }
}

impl<A: Actor> Process for Cell<A> {
    fn id(&self) -> ActorId {
        self.id
    }

    fn name(&self) -> Option<Arc<str>> {
        self.lock().ext.as_ref().and_then(|e| e.name.clone())
    }

    fn signal(&self, signal: Signal) -> bool {
        self.deliver(signal)
    }

    fn link_exit(&self, from: ActorRef, reason: ExitReason) {
        {
            let mut st = self.lock();
            if let Some(ext) = st.ext.as_mut() {
                ext.links.remove(&from.id());
            }
        }
        self.deliver(Signal::Exit(Exit { from, reason }));
    }

    fn kill(&self) {
        self.system(|ext, _| {
            ext.kill = Some((ExitReason::Killed, false));
            SYS_KILL
        });
    }

    fn stop(&self, reason: ExitReason) {
        self.system(|ext, _| {
            if ext.stop.is_none() {
                ext.stop = Some(reason);
            }
            SYS_STOP
        });
    }

    fn add_link(&self, peer: ActorRef) -> bool {
        let mut st = self.lock();
        if st.phase == Phase::Dead {
            return false;
        }
        st.ext().links.insert(peer.id(), peer);
        true
    }

    fn remove_link(&self, peer: ActorId) {
        if let Some(ext) = self.lock().ext.as_mut() {
            ext.links.remove(&peer);
        }
    }

    fn add_monitor(&self, id: u64, watcher: ActorRef) -> bool {
        let mut st = self.lock();
        if st.phase == Phase::Dead {
            return false;
        }
        st.ext().monitors.insert(id, watcher);
        true
    }

    fn remove_monitor(&self, id: u64) {
        let removed = self
            .lock()
            .ext
            .as_mut()
            .and_then(|e| e.monitors.remove(&id));
        drop(removed);
    }

    fn poll_exit(&self, cx: &mut TaskContext<'_>) -> Poll<ExitReason> {
        let mut st = self.lock();
        if let Some(r) = &st.exit {
            return Poll::Ready(r.clone());
        }
        let ext = st.ext();
        if !ext.waiters.iter().any(|w| w.will_wake(cx.waker())) {
            ext.waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }

    fn poll_started(&self, cx: &mut TaskContext<'_>) -> Poll<Result<(), ExitReason>> {
        let mut st = self.lock();
        if st.started {
            return Poll::Ready(Ok(()));
        }
        if let Some(r) = &st.exit {
            return Poll::Ready(Err(r.clone()));
        }
        let ext = st.ext();
        if !ext.waiters.iter().any(|w| w.will_wake(cx.waker())) {
            ext.waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }

    fn exit_reason(&self) -> Option<ExitReason> {
        self.lock().exit.clone()
    }

    fn note_reply_wait(&self) {
        let on = WaitOn::Reply {
            actor: self.id.as_u64(),
        };
        spectrum_rt::task::note_wait(on);
        // Relaxed: set once, before the actor first handles anything; a waiter that reads 0
        // (the actor has not run yet) registers on a later wait.
        let Some(task) = TaskId::from_u64(self.task.load(Relaxed)) else {
            return;
        };
        let mut st = self.lock();
        let ext = st.ext.get_or_insert_with(Default::default);
        if ext.graph.is_none() {
            let holders: Arc<dyn Holders> = Arc::new(ActorTask(task));
            let registration = spectrum_rt::waitgraph::register(on, Arc::downgrade(&holders));
            ext.graph = Some((holders, registration));
        }
    }

    fn mailbox_len(&self) -> usize {
        let st = self.lock();
        st.queue.len() + st.taken
    }

    fn retain(&self) {
        self.retain_addr();
    }

    fn try_retain(&self) -> bool {
        self.try_retain_addr()
    }

    fn cancel_wait(&self, ticket: u64) {
        Cell::cancel_wait(self, ticket);
    }

    fn release(&self) {
        self.release_addr();
    }

    fn add_name(&self, name: Arc<str>, group: bool) -> bool {
        let mut st = self.lock();
        if st.phase == Phase::Dead {
            return false;
        }
        st.ext().names.push((name, group));
        true
    }

    fn forget_name(&self, name: &str, group: bool) {
        if let Some(ext) = self.lock().ext.as_mut() {
            if let Some(i) = ext
                .names
                .iter()
                .position(|(n, g)| &**n == name && *g == group)
            {
                ext.names.swap_remove(i);
            }
        }
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}
