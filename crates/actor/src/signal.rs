//! Signals of the system lane: exit signals from links ([`Exit`]) and monitor notifications
//! ([`Down`]), and the [`MonitorRef`] that names a monitor.

use std::fmt;
use std::hash::{Hash, Hasher};

use spectrum_sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::process::ActorRef;
use crate::reason::ExitReason;

/// A linked actor ended (OTP `{'EXIT', From, Reason}`), delivered to
/// [`Actor::on_exit`](crate::Actor::on_exit) when the receiver traps exits.
#[derive(Clone, Debug)]
pub struct Exit {
    /// The actor that ended.
    pub from: ActorRef,
    /// Why.
    pub reason: ExitReason,
}

/// A monitored actor ended (OTP `{'DOWN', Ref, process, Pid, Reason}`), delivered to
/// [`Actor::on_down`](crate::Actor::on_down). `reason` is [`ExitReason::NoProc`] when the actor
/// was already gone when the monitor was set up.
#[derive(Clone, Debug)]
pub struct Down {
    /// The monitor that fired (the value [`Context::monitor`](crate::Context::monitor) returned).
    pub monitor: MonitorRef,
    /// The actor that ended.
    pub actor: ActorRef,
    /// Why.
    pub reason: ExitReason,
}

/// Names one monitor. Each call to [`Context::monitor`](crate::Context::monitor) makes a new one,
/// so monitors stack; [`Context::demonitor`](crate::Context::demonitor) removes one.
#[derive(Clone)]
pub struct MonitorRef {
    pub(crate) id: u64,
    pub(crate) target: ActorRef,
}

static NEXT_MONITOR: AtomicU64 = AtomicU64::new(1);

impl MonitorRef {
    pub(crate) fn new(target: ActorRef) -> MonitorRef {
        MonitorRef {
            // Relaxed: a unique counter.
            id: NEXT_MONITOR.fetch_add(1, Relaxed),
            target,
        }
    }

    /// The monitored actor.
    pub fn target(&self) -> &ActorRef {
        &self.target
    }
}

impl PartialEq for MonitorRef {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for MonitorRef {}

impl Hash for MonitorRef {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

impl fmt::Debug for MonitorRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MonitorRef({} on {})", self.id, self.target.id())
    }
}

/// What travels on the system lane besides kill and stop.
#[derive(Debug)]
pub(crate) enum Signal {
    /// A trapped exit, to hand to `on_exit`.
    Exit(Exit),
    /// A monitor fired.
    Down(Down),
}
