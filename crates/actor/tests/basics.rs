//! Actors, messages and hooks: turns, typed replies, lifecycle order, counted addresses.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use spectrum_actor::{Actor, BoxError, Context, ExitReason, Handler, SyncHandler};

#[derive(Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, s: impl Into<String>) {
        self.0.lock().unwrap().push(s.into());
    }
}

struct Hooks {
    log: Log,
}

impl Actor for Hooks {
    async fn started(&mut self, _: &mut Context<Self>) -> Result<(), BoxError> {
        self.log.push("started");
        Ok(())
    }
    async fn stopping(&mut self, _: &mut Context<Self>, r: &ExitReason) {
        self.log.push(format!("stopping {r}"));
    }
    async fn stopped(&mut self, _: &mut Context<Self>, r: &ExitReason) {
        self.log.push(format!("stopped {r}"));
    }
}

struct Note(&'static str);
impl SyncHandler<Note> for Hooks {
    type Reply = ();
    fn handle(&mut self, n: Note, _: &mut Context<Self>) {
        self.log.push(n.0);
    }
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn hooks_run_in_order() {
    let log = Log::default();
    let shared = log.0.clone();
    let a = spectrum_actor::spawn(Hooks { log });
    a.tell(Note("one")).await.unwrap();
    a.ask(Note("two")).await.unwrap();
    a.stop();
    assert_eq!(a.join().await, ExitReason::Shutdown(None));
    assert_eq!(
        *shared.lock().unwrap(),
        [
            "started",
            "one",
            "two",
            "stopping shutdown",
            "stopped shutdown"
        ]
    );
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn last_addr_dropped_drains_then_stops_normally() {
    let log = Log::default();
    let shared = log.0.clone();
    let a = spectrum_actor::spawn(Hooks { log });
    let r = a.actor_ref();
    a.try_tell(Note("queued")).unwrap();
    drop(a);
    assert_eq!(r.join().await, ExitReason::Normal);
    assert_eq!(
        *shared.lock().unwrap(),
        ["started", "queued", "stopping normal", "stopped normal"]
    );
}

/// Non-reentrant turns: state held across `.await` is never seen half-updated.
struct Turns {
    inside: bool,
    count: u32,
}
impl Actor for Turns {}
struct Work;
impl Handler<Work> for Turns {
    type Reply = u32;
    async fn handle(&mut self, _: Work, _: &mut Context<Self>) -> u32 {
        assert!(!self.inside, "two turns overlapped");
        self.inside = true;
        spectrum_rt::time::sleep(Duration::from_millis(1)).await;
        spectrum_rt::task::yield_now().await;
        self.count += 1;
        self.inside = false;
        self.count
    }
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true, workers = 2)]
async fn handlers_are_turn_based_across_awaits() {
    let a = spectrum_actor::spawn(Turns {
        inside: false,
        count: 0,
    });
    let mut asks = Vec::new();
    for _ in 0..20 {
        let a = a.clone();
        asks.push(spectrum_rt::spawn(
            async move { a.ask(Work).await.unwrap() },
        ));
    }
    let mut replies = Vec::new();
    for h in asks {
        replies.push(h.await.unwrap());
    }
    replies.sort_unstable();
    assert_eq!(replies, (1..=20).collect::<Vec<_>>());
    a.stop();
    a.join().await;
}

struct FailStart;
impl Actor for FailStart {
    async fn started(&mut self, _: &mut Context<Self>) -> Result<(), BoxError> {
        Err("no config".into())
    }
    async fn stopped(&mut self, _: &mut Context<Self>, _: &ExitReason) {
        panic!("stopped must not run after a failed start");
    }
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn failed_start_ends_with_error_and_no_hooks() {
    let a = spectrum_actor::spawn(FailStart);
    let r = a.join().await;
    assert!(
        matches!(&r, ExitReason::Error(e) if e.to_string() == "no config"),
        "{r:?}"
    );
}

struct Panicky;
impl Actor for Panicky {}
struct Boom;
impl Handler<Boom> for Panicky {
    type Reply = ();
    async fn handle(&mut self, _: Boom, _: &mut Context<Self>) {
        panic!("boom");
    }
}
struct Fail;
impl SyncHandler<Fail> for Panicky {
    type Reply = ();
    fn handle(&mut self, _: Fail, ctx: &mut Context<Self>) {
        ctx.fail("bad input");
    }
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn panic_in_handler_ends_actor_with_reason() {
    let a = spectrum_actor::spawn(Panicky);
    a.tell(Boom).await.unwrap();
    assert_eq!(a.join().await, ExitReason::panicked("boom"));
    let b = spectrum_actor::spawn(Panicky);
    b.tell(Fail).await.unwrap();
    let r = b.join().await;
    assert!(
        matches!(&r, ExitReason::Error(e) if e.to_string() == "bad input"),
        "{r:?}"
    );
    assert!(!r.is_normal());
}

struct BadStop;
impl Actor for BadStop {
    async fn stopped(&mut self, _: &mut Context<Self>, _: &ExitReason) {
        panic!("stopped hook exploded");
    }
}

#[test]
fn panicking_stopped_hook_is_contained() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let rt = spectrum_rt::Runtime::builder()
        .workers(1)
        .on_diagnostic(move |d| s.lock().unwrap().push(d.to_string()))
        .build()
        .unwrap();
    rt.block_on(async {
        let a = spectrum_actor::spawn(BadStop);
        a.stop();
        assert_eq!(a.join().await, ExitReason::Shutdown(None));
        // The runtime and other actors carry on.
        let b = spectrum_actor::spawn(BadStop);
        assert!(b.is_alive());
        b.kill();
        assert_eq!(b.join().await, ExitReason::Killed); // kill: no hooks
    });
    // (A long-poll report may precede it: printing the panic's backtrace takes a while.)
    let seen = seen.lock().unwrap();
    let hook: Vec<_> = seen
        .iter()
        .filter(|d| d.contains("`stopped` hook"))
        .collect();
    assert_eq!(hook.len(), 1, "{seen:?}");
    assert!(hook[0].contains("contained"), "{seen:?}");
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn actors_are_named_tasks_waiting_on_their_mailbox() {
    let a = spectrum_actor::Builder::new()
        .name("inventory")
        .spawn(Turns {
            inside: false,
            count: 0,
        });
    a.ask(Work).await.unwrap(); // started and idle again
    spectrum_rt::time::sleep(Duration::from_millis(5)).await;
    let tasks = spectrum_rt::Handle::current().live_tasks();
    let t = tasks
        .iter()
        .find(|t| t.name.as_deref() == Some("inventory"))
        .expect("the actor's task is listed");
    assert_eq!(
        t.waiting_on,
        Some(spectrum_rt::task::WaitOn::Mailbox {
            actor: a.id().as_u64()
        })
    );
    let unnamed = spectrum_actor::spawn(Panicky);
    spectrum_rt::task::yield_now().await;
    let tasks = spectrum_rt::Handle::current().live_tasks();
    assert!(tasks.iter().any(|t| t.name.as_deref() == Some("Panicky")));
    a.stop();
    unnamed.stop();
    a.join().await;
    unnamed.join().await;
}

#[test]
fn auto_traits() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<spectrum_actor::Addr<Panicky>>();
    send_sync::<spectrum_actor::Recipient<Boom>>();
    send_sync::<spectrum_actor::ActorRef>();
    send_sync::<spectrum_actor::WeakAddr<Panicky>>();
    send::<Context<Panicky>>();
}
