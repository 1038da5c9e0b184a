//! Test actors shared by the behaviour tests.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use spectrum_actor::{
    Actor, ActorRef, BoxError, Context, Down, Exit, ExitReason, Handler, MonitorRef, SyncHandler,
};

/// A shared, ordered event log.
#[derive(Clone, Default)]
pub struct Events(pub Arc<Mutex<Vec<String>>>);

impl Events {
    pub fn push(&self, s: impl Into<String>) {
        self.0.lock().unwrap().push(s.into());
    }
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
    pub fn snapshot(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// A test actor that logs its life and obeys commands.
pub struct Probe {
    pub name: String,
    pub events: Events,
    pub trap: bool,
    /// How long `stopping` takes.
    pub linger: Duration,
}

impl Probe {
    pub fn new(name: &str, events: &Events) -> Probe {
        Probe {
            name: name.to_owned(),
            events: events.clone(),
            trap: false,
            linger: Duration::ZERO,
        }
    }
    pub fn trapping(mut self) -> Probe {
        self.trap = true;
        self
    }
    pub fn lingering(mut self, d: Duration) -> Probe {
        self.linger = d;
        self
    }
}

impl Actor for Probe {
    async fn started(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        ctx.trap_exit(self.trap);
        self.events.push(format!("{} started", self.name));
        Ok(())
    }
    async fn stopping(&mut self, _: &mut Context<Self>, _: &ExitReason) {
        if !self.linger.is_zero() {
            spectrum_rt::time::sleep(self.linger).await;
        }
    }
    async fn stopped(&mut self, _: &mut Context<Self>, r: &ExitReason) {
        self.events.push(format!("{} stopped {r}", self.name));
    }
    async fn on_exit(&mut self, e: Exit, _: &mut Context<Self>) {
        self.events
            .push(format!("{} exit {} {}", self.name, e.from.id(), e.reason));
    }
    async fn on_down(&mut self, d: Down, _: &mut Context<Self>) {
        self.events
            .push(format!("{} down {} {}", self.name, d.actor.id(), d.reason));
    }
}

/// Commands for `Probe`.
pub enum Cmd {
    Panic,
    Stop(ExitReason),
    Link(ActorRef),
    Unlink(ActorRef),
    Monitor(ActorRef),
    Demonitor(MonitorRef, bool),
    TrapExit(bool),
    Sleep(Duration),
    /// Sleep, then demonitor (with flush) in the same turn.
    SleepDemonitor(Duration, MonitorRef),
}

impl Handler<Cmd> for Probe {
    type Reply = Option<MonitorRef>;
    async fn handle(&mut self, cmd: Cmd, ctx: &mut Context<Self>) -> Option<MonitorRef> {
        match cmd {
            Cmd::Panic => panic!("{} crashed", self.name),
            Cmd::Stop(r) => ctx.stop_with(r),
            Cmd::Link(a) => ctx.link(&a).unwrap(),
            Cmd::Unlink(a) => ctx.unlink(&a),
            Cmd::Monitor(a) => return Some(ctx.monitor(&a)),
            Cmd::Demonitor(m, flush) => ctx.demonitor(&m, flush),
            Cmd::TrapExit(t) => ctx.trap_exit(t),
            Cmd::Sleep(d) => spectrum_rt::time::sleep(d).await,
            Cmd::SleepDemonitor(d, m) => {
                spectrum_rt::time::sleep(d).await;
                ctx.demonitor(&m, true);
            }
        }
        None
    }
}

/// Answers with its own id: proves it is alive and has handled everything before.
pub struct Ping;
impl SyncHandler<Ping> for Probe {
    type Reply = ();
    fn handle(&mut self, _: Ping, _: &mut Context<Self>) {}
}

use spectrum_actor::supervisor::{ChildSpec, Supervisor};
use spectrum_actor::Addr;

/// A `Probe` child spec.
pub fn probe_spec(id: &'static str, ev: &Events) -> ChildSpec {
    let ev = ev.clone();
    ChildSpec::new(id, move || Probe::new(id, &ev))
}

/// The running incarnation of child `id`.
pub async fn child(sup: &Addr<Supervisor>, id: &str) -> Option<ActorRef> {
    sup.which_children()
        .await
        .unwrap()
        .into_iter()
        .find(|c| &*c.id == id)
        .and_then(|c| c.actor)
}

/// Waits until child `id` runs as an incarnation other than `old`.
pub async fn restarted(sup: &Addr<Supervisor>, id: &str, old: &ActorRef) -> ActorRef {
    for _ in 0..10_000 {
        if let Some(a) = child(sup, id).await {
            if &a != old {
                return a;
            }
        }
        spectrum_rt::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("child {id} was not restarted");
}

/// Crashes `actor` (a `Probe`).
pub async fn crash(actor: &ActorRef) {
    let addr = actor.addr::<Probe>().expect("a Probe");
    let _ = addr.tell(Cmd::Panic).await;
    actor.join().await;
}

/// The events that match a prefix.
pub fn starting_with(ev: &Events, prefix: &str) -> Vec<String> {
    ev.snapshot()
        .into_iter()
        .filter(|e| e.starts_with(prefix))
        .collect()
}
