//! Supervisors: actors that start, watch and restart other actors, as OTP's `supervisor`.
//!
//! A [`Supervisor`] is an ordinary actor (it can be spawned, linked, monitored, registered and
//! supervised), so supervisors nest into trees. It traps exits and links to every child.
//!
//! # Rules (OTP's supervisor behaviour; each one a test in `tests/supervisor_*.rs`)
//!
//! 1. **Strategies** ([`Strategy`]): `OneForOne` restarts the failed child; `OneForAll`
//!    terminates the others (reverse start order) and restarts all in order; `RestForOne`
//!    terminates the children started after the failed one and restarts it and them;
//!    `SimpleOneForOne` is a dynamic pool restarted one for one.
//! 2. **Restart types** ([`Restart`]): `Permanent` always, `Transient` after an exit that is not
//!    normal, `Temporary` never (not even when a sibling's failure terminated it: it is removed).
//! 3. **Intensity**: more than `max_restarts` restarts within `period` (defaults 1 in 5 s, as
//!    OTP) and the supervisor terminates all children in reverse order, then ends with
//!    `Shutdown("reached max restart intensity")`; its own supervisor then applies its strategy
//!    (escalation). The count is per supervisor. Children that crash in a tight loop therefore
//!    end in escalation, not in a spinning supervisor.
//! 4. **Order**: children start in spec order, each one's `started` hook finished before the
//!    next starts (a failure there fails the supervisor's start, after terminating the ones
//!    already started); they are terminated in reverse order.
//! 5. **Shutdown** per child ([`Shutdown`]): `BrutalKill`, `Timeout(t)` (stop, wait `t`, kill),
//!    `Infinity` (the default for child supervisors). A pool shuts its children down
//!    concurrently.
//! 6. **Dynamic children** ([`Addr::start_child`]) are lost when the supervisor itself is
//!    restarted: a restart builds it again from its factory.
//! 7. **Auto shutdown** ([`AutoShutdown`]) ends the supervisor when significant children end.
//! 8. **Backoff** ([`Backoff`], from Akka): restarts of a child wait exponentially longer.
//!
//! # Protocol of a child's exit
//!
//! 1. The child's exit signal arrives on the system lane (the supervisor traps exits); an exit
//!    from its parent supervisor stops it with that reason; other unknown exits are ignored.
//! 2. Decide from the restart type and reason; a child that is not restarted is removed
//!    (temporary, or any child of a pool) or kept as not running (static), and auto shutdown is
//!    checked.
//! 3. Count the restart; past the intensity, escalate (rule 3).
//! 4. Terminate the siblings the strategy names (reverse order), flushing their exit signals
//!    from the supervisor's own lane, then start the group in order — now, or after the
//!    backoff delay through a timer. A start that fails counts as another failure and is retried
//!    on the next turn.

mod spec;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use spec::{
    AutoShutdown, Backoff, ChildKind, ChildSpec, Restart, Shutdown, Strategy, DEFAULT_SHUTDOWN,
};

use crate::actor::{Actor, Handler};
use crate::addr::Addr;
use crate::context::Context;
use crate::error::AskError;
use crate::process::{ActorRef, KeepAlive};
use crate::reason::{ActorId, BoxError, ExitReason};
use crate::signal::Exit;

/// An OTP supervisor, as an actor. Build one with [`Supervisor::builder`], spawn it like any
/// actor (or as a [`ChildSpec::supervisor`] of another), and talk to it through the methods on
/// `Addr<Supervisor>`.
///
/// ```
/// # spectrum_rt::Runtime::new().unwrap().block_on(async {
/// use std::time::Duration;
/// use spectrum_actor::supervisor::{ChildSpec, Strategy, Supervisor};
/// use spectrum_actor::Actor;
/// struct Worker;
/// impl Actor for Worker {}
///
/// let sup = spectrum_actor::spawn(
///     Supervisor::builder()
///         .strategy(Strategy::OneForOne)
///         .intensity(3, Duration::from_secs(5))
///         .child(ChildSpec::new("a", || Worker))
///         .child(ChildSpec::new("b", || Worker))
///         .build(),
/// );
/// assert_eq!(sup.count_children().await.unwrap().active, 2);
/// sup.stop(); // children stop in reverse order, then the supervisor
/// sup.join().await;
/// # });
/// ```
pub struct Supervisor {
    strategy: Strategy,
    max_restarts: u32,
    period: Duration,
    auto_shutdown: AutoShutdown,
    /// Children in start order; `None` marks a removed one (compacted now and then).
    children: Vec<Option<Child>>,
    /// Running children by actor id → position.
    index: HashMap<ActorId, usize>,
    /// Times of recent restarts, for the intensity.
    restarts: VecDeque<Instant>,
    /// The supervisor that started this one.
    pub(crate) parent: Option<ActorId>,
    next_gen: u64,
    removed: usize,
}

struct Child {
    spec: ChildSpec,
    running: Option<KeepAlive>,
    started_at: Option<Instant>,
    /// Consecutive restarts, for backoff.
    consecutive: u32,
    /// A restart scheduled by backoff, by generation.
    pending: Option<u64>,
    /// A significant child that ended for good.
    ended: bool,
}

/// Builds a [`Supervisor`].
#[derive(Debug, Clone)]
#[must_use]
pub struct SupervisorBuilder {
    strategy: Strategy,
    max_restarts: u32,
    period: Duration,
    auto_shutdown: AutoShutdown,
    children: Vec<ChildSpec>,
}

impl Supervisor {
    /// A builder with OTP's defaults: `OneForOne`, intensity 1 restart in 5 s, no children.
    pub fn builder() -> SupervisorBuilder {
        SupervisorBuilder {
            strategy: Strategy::OneForOne,
            max_restarts: 1,
            period: Duration::from_secs(5),
            auto_shutdown: AutoShutdown::Never,
            children: Vec::new(),
        }
    }
}

impl SupervisorBuilder {
    /// The restart strategy.
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// At most `max_restarts` restarts within `period`; one more and the supervisor gives up
    /// (escalates).
    pub fn intensity(mut self, max_restarts: u32, period: Duration) -> Self {
        self.max_restarts = max_restarts;
        self.period = period;
        self
    }

    /// When significant children end the supervisor.
    pub fn auto_shutdown(mut self, auto: AutoShutdown) -> Self {
        self.auto_shutdown = auto;
        self
    }

    /// Adds a child, started after the ones added before it.
    pub fn child(mut self, spec: ChildSpec) -> Self {
        self.children.push(spec);
        self
    }

    /// The supervisor, ready to spawn.
    pub fn build(self) -> Supervisor {
        Supervisor {
            strategy: self.strategy,
            max_restarts: self.max_restarts,
            period: self.period,
            auto_shutdown: self.auto_shutdown,
            children: self
                .children
                .into_iter()
                .map(|spec| Some(Child::new(spec)))
                .collect(),
            index: HashMap::new(),
            restarts: VecDeque::new(),
            parent: None,
            next_gen: 1,
            removed: 0,
        }
    }
}

impl Child {
    fn new(spec: ChildSpec) -> Child {
        Child {
            spec,
            running: None,
            started_at: None,
            consecutive: 0,
            pending: None,
            ended: false,
        }
    }
}

/// Why [`Addr::start_child`] failed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StartChildError {
    /// A child with this id already exists (static strategies).
    AlreadyPresent(Arc<str>),
    /// The child ended before its `started` hook finished.
    Failed(ExitReason),
    /// The supervisor has ended.
    SupervisorGone,
}

impl fmt::Display for StartChildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartChildError::AlreadyPresent(id) => write!(f, "child `{id}` already present"),
            StartChildError::Failed(r) => write!(f, "child failed to start: {r}"),
            StartChildError::SupervisorGone => f.write_str("the supervisor has ended"),
        }
    }
}

impl std::error::Error for StartChildError {}

/// A failed child start during the supervisor's own start.
#[derive(Debug)]
struct StartFailed {
    child: Arc<str>,
    reason: ExitReason,
}

impl fmt::Display for StartFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "child `{}` failed to start: {}", self.child, self.reason)
    }
}

impl std::error::Error for StartFailed {}

/// Names a child: by spec id (static strategies) or by actor id (any child).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChildId {
    /// The spec's id.
    Id(Arc<str>),
    /// The running child's actor id.
    Actor(ActorId),
}

impl From<&str> for ChildId {
    fn from(s: &str) -> Self {
        ChildId::Id(Arc::from(s))
    }
}

impl From<ActorId> for ChildId {
    fn from(id: ActorId) -> Self {
        ChildId::Actor(id)
    }
}

/// One child, as [`Addr::which_children`] lists it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ChildInfo {
    /// The spec's id.
    pub id: Arc<str>,
    /// The running incarnation, if any.
    pub actor: Option<ActorRef>,
    /// Worker or supervisor.
    pub kind: ChildKind,
    /// Its restart type.
    pub restart: Restart,
}

/// Counts, as [`Addr::count_children`] gives them (OTP `count_children`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ChildCounts {
    /// Child specs (running or not).
    pub specs: usize,
    /// Running children.
    pub active: usize,
    /// Specs of supervisors.
    pub supervisors: usize,
    /// Specs of workers.
    pub workers: usize,
}

/// Starts a child ([`Addr::start_child`]).
#[derive(Debug)]
pub struct StartChild(pub ChildSpec);

/// Terminates a child ([`Addr::terminate_child`]).
#[derive(Debug)]
pub struct TerminateChild(pub ChildId);

/// Lists the children ([`Addr::which_children`]).
#[derive(Debug)]
pub struct WhichChildren;

/// Counts the children ([`Addr::count_children`]).
#[derive(Debug)]
pub struct CountChildren;

/// A restart whose backoff delay has passed (internal).
#[doc(hidden)]
#[derive(Debug)]
pub struct RestartDue {
    generation: u64,
    positions: Vec<usize>,
}

/// Terminates one child by its shutdown spec and waits until it has ended.
async fn terminate(actor: &ActorRef, shutdown: Shutdown) -> ExitReason {
    match shutdown {
        Shutdown::BrutalKill => actor.kill(),
        Shutdown::Infinity => actor.stop(),
        Shutdown::Timeout(t) => {
            actor.stop();
            if let Ok(r) = spectrum_rt::time::timeout(t, actor.join()).await {
                return r;
            }
            actor.kill();
        }
    }
    actor.join().await
}

impl Supervisor {
    fn now() -> Instant {
        spectrum_rt::time::now()
    }

    /// Starts the child at `pos`, waits for its `started` hook.
    async fn start_at(&mut self, pos: usize, me: &ActorRef) -> Result<ActorRef, ExitReason> {
        let child = self.children[pos].as_mut().expect("child");
        child.pending = None;
        let keep = (child.spec.start)(me);
        let actor = keep.0.clone();
        if let Some(name) = &child.spec.register {
            if let Err(e) = crate::registry::register(name.clone(), &actor) {
                actor.kill();
                actor.join().await;
                return Err(ExitReason::error(e));
            }
        }
        child.running = Some(keep);
        child.started_at = Some(Self::now());
        self.index.insert(actor.id(), pos);
        match actor.started().await {
            Ok(()) => Ok(actor),
            Err(reason) => {
                self.forget(&actor);
                Err(reason)
            }
        }
    }

    /// Drops the running incarnation `actor` from the table.
    fn forget(&mut self, actor: &ActorRef) -> Option<usize> {
        let pos = self.index.remove(&actor.id())?;
        if let Some(c) = self.children[pos].as_mut() {
            c.running = None;
        }
        Some(pos)
    }

    /// Terminates the running child at `pos` (if any) and flushes its exit signal.
    async fn terminate_at(&mut self, pos: usize, ctx: &mut Context<Self>) {
        let Some(child) = self.children[pos].as_ref() else {
            return;
        };
        let Some(actor) = child.running.as_ref().map(|k| k.0.clone()) else {
            return;
        };
        let shutdown = child.spec.shutdown;
        terminate(&actor, shutdown).await;
        ctx.cell.take_exit(actor.id());
        self.forget(&actor);
    }

    /// Terminates every running child at `positions` in reverse order; pools concurrently.
    async fn terminate_all(&mut self, positions: Vec<usize>, ctx: &mut Context<Self>) {
        if self.strategy == Strategy::SimpleOneForOne {
            let running: Vec<(ActorRef, Shutdown)> = positions
                .iter()
                .filter_map(|&p| self.children[p].as_ref())
                .filter_map(|c| c.running.as_ref().map(|k| (k.0.clone(), c.spec.shutdown)))
                .collect();
            let start = Self::now();
            for (a, s) in &running {
                match s {
                    Shutdown::BrutalKill => a.kill(),
                    _ => a.stop(),
                }
            }
            for (a, s) in &running {
                if let Shutdown::Timeout(t) = s {
                    let deadline = start + *t;
                    if spectrum_rt::time::timeout_at(deadline, a.join())
                        .await
                        .is_err()
                    {
                        a.kill();
                    }
                }
                a.join().await;
                ctx.cell.take_exit(a.id());
                self.forget(a);
            }
            return;
        }
        for &pos in positions.iter().rev() {
            self.terminate_at(pos, ctx).await;
        }
    }

    fn positions(&self) -> Vec<usize> {
        (0..self.children.len())
            .filter(|&p| self.children[p].is_some())
            .collect()
    }

    fn remove(&mut self, pos: usize) {
        if let Some(c) = self.children[pos].take() {
            if let Some(k) = &c.running {
                self.index.remove(&k.0.id());
            }
            self.removed += 1;
        }
        if self.removed > 64 && self.removed * 2 > self.children.len() {
            self.compact();
        }
    }

    fn compact(&mut self) {
        self.children.retain(Option::is_some);
        self.removed = 0;
        self.index.clear();
        for (pos, c) in self.children.iter().enumerate() {
            if let Some(k) = c.as_ref().and_then(|c| c.running.as_ref()) {
                self.index.insert(k.0.id(), pos);
            }
        }
    }

    /// Counts a restart; `false` if the intensity is exceeded.
    fn count_restart(&mut self) -> bool {
        let now = Self::now();
        self.restarts.push_back(now);
        while let Some(&t) = self.restarts.front() {
            if now.duration_since(t) >= self.period {
                self.restarts.pop_front();
            } else {
                break;
            }
        }
        self.restarts.len() as u64 <= u64::from(self.max_restarts)
    }

    /// Gives up: terminate everything, then end with `shutdown` (escalation).
    async fn escalate(&mut self, ctx: &mut Context<Self>) {
        let all = self.positions();
        self.terminate_all(all, ctx).await;
        ctx.stop_with(ExitReason::shutdown("reached max restart intensity"));
    }

    /// Handles the exit of the running child at `pos`.
    async fn child_exited(&mut self, pos: usize, reason: ExitReason, ctx: &mut Context<Self>) {
        let (restart, significant) = {
            let c = self.children[pos].as_mut().expect("child");
            if let (Some(b), Some(up)) = (c.spec.backoff, c.started_at) {
                if Self::now().duration_since(up) >= b.reset_after {
                    c.consecutive = 0;
                }
            }
            let restart = match c.spec.restart {
                Restart::Permanent => true,
                Restart::Transient => !reason.is_normal(),
                Restart::Temporary => false,
            };
            (restart, c.spec.significant)
        };
        if !restart {
            if significant {
                if let Some(c) = self.children[pos].as_mut() {
                    c.ended = true;
                }
            }
            let temporary = self.children[pos]
                .as_ref()
                .is_some_and(|c| c.spec.restart == Restart::Temporary);
            if temporary || self.strategy == Strategy::SimpleOneForOne {
                self.remove(pos);
            }
            if significant && self.auto_shutdown_due() {
                let all = self.positions();
                self.terminate_all(all, ctx).await;
                ctx.stop_with(ExitReason::shutdown(
                    "auto shutdown: significant child ended",
                ));
            }
            return;
        }
        if !self.count_restart() {
            self.escalate(ctx).await;
            return;
        }
        let group: Vec<usize> = match self.strategy {
            Strategy::OneForOne | Strategy::SimpleOneForOne => vec![pos],
            Strategy::OneForAll => self.positions(),
            Strategy::RestForOne => self.positions().into_iter().filter(|&p| p >= pos).collect(),
        };
        let others: Vec<usize> = group.iter().copied().filter(|&p| p != pos).collect();
        self.terminate_all(others.clone(), ctx).await;
        // Temporary siblings terminated by the strategy are not restarted (rule 13).
        for &p in &others {
            if self.children[p]
                .as_ref()
                .is_some_and(|c| c.spec.restart == Restart::Temporary)
            {
                self.remove(p);
            }
        }
        let mut group = group;
        group.retain(|&p| self.children[p].is_some());
        let delay = {
            let c = self.children[pos].as_mut().expect("child");
            let d = c.spec.backoff.map(|b| b.delay(c.consecutive));
            c.consecutive = c.consecutive.saturating_add(1);
            d
        };
        match delay {
            Some(d) if !d.is_zero() => {
                let generation = self.next_gen;
                self.next_gen += 1;
                for &p in &group {
                    if let Some(c) = self.children[p].as_mut() {
                        c.pending = Some(generation);
                    }
                }
                ctx.send_after(
                    d,
                    RestartDue {
                        generation,
                        positions: group,
                    },
                );
            }
            _ => self.restart_group(group, ctx).await,
        }
    }

    /// Starts the children at `positions` in order; a failed start is retried on the next turn
    /// (counted as a restart).
    async fn restart_group(&mut self, positions: Vec<usize>, ctx: &mut Context<Self>) {
        let me = ctx.actor_ref();
        for (i, &p) in positions.iter().enumerate() {
            let running = self.children[p].as_ref().map(|c| c.running.is_some());
            if running != Some(false) {
                continue;
            }
            if let Err(_reason) = self.start_at(p, &me).await {
                // Counts as another failure of this child.
                if !self.count_restart() {
                    self.escalate(ctx).await;
                    return;
                }
                let generation = self.next_gen;
                self.next_gen += 1;
                let rest: Vec<usize> = positions[i..].to_vec();
                for &q in &rest {
                    if let Some(c) = self.children[q].as_mut() {
                        c.pending = Some(generation);
                    }
                }
                let _ = ctx.weak_addr().upgrade().map(|a| {
                    a.try_tell(RestartDue {
                        generation,
                        positions: rest,
                    })
                });
                return;
            }
        }
    }

    fn auto_shutdown_due(&self) -> bool {
        let mut significant = self
            .children
            .iter()
            .flatten()
            .filter(|c| c.spec.significant);
        match self.auto_shutdown {
            AutoShutdown::Never => false,
            AutoShutdown::AnySignificant => significant.any(|c| c.ended),
            AutoShutdown::AllSignificant => significant.all(|c| c.ended),
        }
    }

    fn find(&self, id: &ChildId) -> Option<usize> {
        match id {
            ChildId::Actor(a) => self.index.get(a).copied(),
            ChildId::Id(s) => self
                .children
                .iter()
                .position(|c| c.as_ref().is_some_and(|c| &c.spec.id == s)),
        }
    }
}

impl Actor for Supervisor {
    async fn started(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.trap_exit(true);
        let me = ctx.actor_ref();
        for pos in 0..self.children.len() {
            if let Err(reason) = self.start_at(pos, &me).await {
                let child = self.children[pos].as_ref().expect("child").spec.id.clone();
                let started: Vec<usize> = (0..pos).collect();
                self.terminate_all(started, ctx).await;
                return Err(Box::new(StartFailed { child, reason }));
            }
        }
        Ok(())
    }

    async fn stopping(&mut self, ctx: &mut Context<Self>, _reason: &ExitReason) {
        let all = self.positions();
        self.terminate_all(all, ctx).await;
    }

    async fn on_exit(&mut self, exit: Exit, ctx: &mut Context<Self>) {
        let id = exit.from.id();
        if let Some(pos) = self.index.remove(&id) {
            if let Some(c) = self.children[pos].as_mut() {
                c.running = None;
            }
            self.child_exited(pos, exit.reason, ctx).await;
        } else if Some(id) == self.parent {
            ctx.stop_with(exit.reason);
        }
    }
}

impl Handler<StartChild> for Supervisor {
    type Reply = Result<ActorRef, StartChildError>;

    async fn handle(
        &mut self,
        StartChild(spec): StartChild,
        ctx: &mut Context<Self>,
    ) -> Self::Reply {
        if self.strategy != Strategy::SimpleOneForOne
            && self.find(&ChildId::Id(spec.id.clone())).is_some()
        {
            return Err(StartChildError::AlreadyPresent(spec.id));
        }
        self.children.push(Some(Child::new(spec)));
        let pos = self.children.len() - 1;
        let me = ctx.actor_ref();
        match self.start_at(pos, &me).await {
            Ok(a) => Ok(a),
            Err(reason) => {
                self.remove(pos);
                Err(StartChildError::Failed(reason))
            }
        }
    }
}

impl Handler<TerminateChild> for Supervisor {
    type Reply = bool;

    async fn handle(
        &mut self,
        TerminateChild(id): TerminateChild,
        ctx: &mut Context<Self>,
    ) -> bool {
        let Some(pos) = self.find(&id) else {
            return false;
        };
        self.terminate_at(pos, ctx).await;
        if self.strategy == Strategy::SimpleOneForOne {
            self.remove(pos);
        }
        true
    }
}

impl Handler<WhichChildren> for Supervisor {
    type Reply = Vec<ChildInfo>;

    async fn handle(&mut self, _: WhichChildren, _: &mut Context<Self>) -> Vec<ChildInfo> {
        self.children
            .iter()
            .flatten()
            .map(|c| ChildInfo {
                id: c.spec.id.clone(),
                actor: c.running.as_ref().map(|k| k.0.clone()),
                kind: c.spec.kind,
                restart: c.spec.restart,
            })
            .collect()
    }
}

impl Handler<CountChildren> for Supervisor {
    type Reply = ChildCounts;

    async fn handle(&mut self, _: CountChildren, _: &mut Context<Self>) -> ChildCounts {
        let mut n = ChildCounts::default();
        for c in self.children.iter().flatten() {
            n.specs += 1;
            n.active += usize::from(c.running.is_some());
            match c.spec.kind {
                ChildKind::Supervisor => n.supervisors += 1,
                ChildKind::Worker => n.workers += 1,
            }
        }
        n
    }
}

impl Handler<RestartDue> for Supervisor {
    type Reply = ();

    async fn handle(&mut self, due: RestartDue, ctx: &mut Context<Self>) {
        let positions: Vec<usize> = due
            .positions
            .into_iter()
            .filter(|&p| {
                self.children
                    .get(p)
                    .and_then(Option::as_ref)
                    .is_some_and(|c| c.pending == Some(due.generation))
            })
            .collect();
        self.restart_group(positions, ctx).await;
    }
}

impl Addr<Supervisor> {
    /// Starts a child (OTP `start_child`): appended after the others; for a pool, another
    /// instance. Waits until the child's `started` hook has finished.
    ///
    /// # Errors
    ///
    /// [`StartChildError`].
    pub async fn start_child(&self, spec: ChildSpec) -> Result<ActorRef, StartChildError> {
        match self.ask(StartChild(spec)).without_timeout().await {
            Ok(r) => r,
            Err(_) => Err(StartChildError::SupervisorGone),
        }
    }

    /// Terminates a child by its shutdown spec (OTP `terminate_child`): a static child keeps
    /// its spec (not running), a pool child is removed. `false` if there is no such child.
    ///
    /// # Errors
    ///
    /// The ask's error if the supervisor has ended.
    pub async fn terminate_child(
        &self,
        id: impl Into<ChildId>,
    ) -> Result<bool, AskError<TerminateChild>> {
        self.ask(TerminateChild(id.into())).without_timeout().await
    }

    /// The children, in start order (OTP `which_children`).
    ///
    /// # Errors
    ///
    /// The ask's error if the supervisor has ended.
    pub async fn which_children(&self) -> Result<Vec<ChildInfo>, AskError<WhichChildren>> {
        self.ask(WhichChildren).await
    }

    /// Child counts (OTP `count_children`).
    ///
    /// # Errors
    ///
    /// The ask's error if the supervisor has ended.
    pub async fn count_children(&self) -> Result<ChildCounts, AskError<CountChildren>> {
        self.ask(CountChildren).await
    }
}

impl fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervisor")
            .field("strategy", &self.strategy)
            .field("max_restarts", &self.max_restarts)
            .field("period", &self.period)
            .field("children", &self.index.len())
            .finish_non_exhaustive()
    }
}
