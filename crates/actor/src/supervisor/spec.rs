//! What a supervisor is told about its children: [`ChildSpec`] and its settings, and the
//! supervisor-wide [`Strategy`] and [`AutoShutdown`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::actor::Actor;
use crate::mailbox::Mailbox;
use crate::process::{ActorRef, KeepAlive};
use crate::spawn::Builder;
use crate::supervisor::Supervisor;

/// Which children a supervisor restarts when one fails (OTP rule 12).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Strategy {
    /// Restart only the child that failed.
    #[default]
    OneForOne,
    /// Terminate every other child (in reverse start order), then restart them all in order.
    OneForAll,
    /// Terminate the children started after the failed one (in reverse order), then restart it
    /// and them in order.
    RestForOne,
    /// A dynamic pool of children of one kind, added with `start_child` and restarted one for
    /// one; shut down concurrently, in no defined order.
    SimpleOneForOne,
}

/// When a child is restarted (OTP rule 13).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Restart {
    /// Always.
    #[default]
    Permanent,
    /// Only after an exit that is not normal (`Normal` and `Shutdown(_)` are normal).
    Transient,
    /// Never, not even when a sibling's failure terminated it.
    Temporary,
}

/// How a child is terminated (OTP rule 16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shutdown {
    /// Killed at once (untrappable, no hooks).
    BrutalKill,
    /// Asked to stop; killed if it has not ended after this long.
    Timeout(Duration),
    /// Asked to stop, and waited for as long as it takes (the default for child supervisors,
    /// so grandchildren are never orphaned).
    Infinity,
}

/// The default shutdown of a worker: 5 s, as OTP.
pub const DEFAULT_SHUTDOWN: Shutdown = Shutdown::Timeout(Duration::from_secs(5));

/// A child that is a worker or a supervisor (it changes the default shutdown).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildKind {
    /// Any actor.
    Worker,
    /// A [`Supervisor`].
    Supervisor,
}

/// Exponential restart backoff for one child (Akka's `BackoffSupervisor`): the n-th consecutive
/// restart waits `min · 2ⁿ`, at most `max`; a child that stayed up `reset_after` starts over at
/// `min`. Restart intensity still counts every restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay.
    pub min: Duration,
    /// The largest delay.
    pub max: Duration,
    /// Uptime after which the next failure is a first failure again.
    pub reset_after: Duration,
}

impl Backoff {
    /// `min`, doubling up to `max`; reset after `max` of uptime.
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max,
            reset_after: max,
        }
    }

    pub(crate) fn delay(&self, consecutive: u32) -> Duration {
        let factor = 1u32.checked_shl(consecutive.min(31)).unwrap_or(u32::MAX);
        self.min.saturating_mul(factor).min(self.max)
    }
}

/// When a supervisor ends by itself because its significant children ended (OTP rule 18).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AutoShutdown {
    /// Never (the default).
    #[default]
    Never,
    /// When any significant child ends (and is not restarted).
    AnySignificant,
    /// When every significant child has ended.
    AllSignificant,
}

/// Starts one incarnation of a child, linked to the supervisor.
pub(crate) type StartFn = Arc<dyn Fn(&ActorRef) -> KeepAlive + Send + Sync>;

/// How to start and restart one child.
///
/// ```
/// use std::time::Duration;
/// use spectrum_actor::supervisor::{ChildSpec, Restart, Shutdown};
/// use spectrum_actor::Actor;
/// struct Worker;
/// impl Actor for Worker {}
///
/// let spec = ChildSpec::new("worker", || Worker)
///     .restart(Restart::Transient)
///     .shutdown(Shutdown::Timeout(Duration::from_millis(500)));
/// assert_eq!(spec.id(), "worker");
/// ```
#[derive(Clone)]
pub struct ChildSpec {
    pub(crate) id: Arc<str>,
    pub(crate) start: StartFn,
    pub(crate) restart: Restart,
    pub(crate) shutdown: Shutdown,
    pub(crate) kind: ChildKind,
    pub(crate) significant: bool,
    pub(crate) backoff: Option<Backoff>,
    pub(crate) register: Option<Arc<str>>,
}

impl ChildSpec {
    /// A worker made by `factory` (called again for every restart: a restart starts from fresh
    /// state). Defaults: `Permanent`, shutdown `Timeout(5 s)`, default mailbox.
    pub fn new<A, F>(id: impl Into<Arc<str>>, factory: F) -> ChildSpec
    where
        A: Actor,
        F: Fn() -> A + Send + Sync + 'static,
    {
        ChildSpec::with_mailbox(id, Mailbox::default(), factory)
    }

    /// A worker with its own mailbox settings.
    pub fn with_mailbox<A, F>(id: impl Into<Arc<str>>, mailbox: Mailbox, factory: F) -> ChildSpec
    where
        A: Actor,
        F: Fn() -> A + Send + Sync + 'static,
    {
        let id = id.into();
        let name = id.clone();
        ChildSpec {
            id,
            start: Arc::new(move |sup: &ActorRef| {
                let addr = Builder::new()
                    .name(name.clone())
                    .mailbox(mailbox)
                    .link(sup.clone())
                    .spawn(factory());
                KeepAlive::new(addr.actor_ref())
            }),
            restart: Restart::Permanent,
            shutdown: DEFAULT_SHUTDOWN,
            kind: ChildKind::Worker,
            significant: false,
            backoff: None,
            register: None,
        }
    }

    /// A child supervisor (a subtree). Defaults: `Permanent`, shutdown `Infinity`.
    pub fn supervisor<F>(id: impl Into<Arc<str>>, factory: F) -> ChildSpec
    where
        F: Fn() -> Supervisor + Send + Sync + 'static,
    {
        let id = id.into();
        let name = id.clone();
        ChildSpec {
            id,
            start: Arc::new(move |sup: &ActorRef| {
                let mut child = factory();
                child.parent = Some(sup.id());
                let addr = Builder::new()
                    .name(name.clone())
                    .link(sup.clone())
                    .spawn(child);
                KeepAlive::new(addr.actor_ref())
            }),
            restart: Restart::Permanent,
            shutdown: Shutdown::Infinity,
            kind: ChildKind::Supervisor,
            significant: false,
            backoff: None,
            register: None,
        }
    }

    /// The restart type.
    pub fn restart(mut self, restart: Restart) -> ChildSpec {
        self.restart = restart;
        self
    }

    /// How the child is terminated.
    pub fn shutdown(mut self, shutdown: Shutdown) -> ChildSpec {
        self.shutdown = shutdown;
        self
    }

    /// Marks the child significant for [`AutoShutdown`].
    pub fn significant(mut self, significant: bool) -> ChildSpec {
        self.significant = significant;
        self
    }

    /// Restarts wait with exponential backoff.
    pub fn backoff(mut self, backoff: Backoff) -> ChildSpec {
        self.backoff = Some(backoff);
        self
    }

    /// Registers every incarnation under `name` in the [`registry`](crate::registry), so
    /// clients find the current one with `whereis`.
    pub fn register(mut self, name: impl Into<Arc<str>>) -> ChildSpec {
        self.register = Some(name.into());
        self
    }

    /// The child's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The restart type.
    pub fn restart_type(&self) -> Restart {
        self.restart
    }

    /// Worker or supervisor.
    pub fn kind(&self) -> ChildKind {
        self.kind
    }
}

impl fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec")
            .field("id", &self.id)
            .field("restart", &self.restart)
            .field("shutdown", &self.shutdown)
            .field("kind", &self.kind)
            .field("significant", &self.significant)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}
