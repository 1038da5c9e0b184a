//! OTP rules 4–8: links are bidirectional and idempotent, `spawn_link` is atomic, exit signals
//! carry the reason, `normal` is ignored, trapping turns signals into messages, `kill` cannot
//! be trapped but a `killed` reason through a link can.

mod common;

use std::time::Duration;

use common::{Cmd, Events, Ping, Probe};
use spectrum_actor::{ExitReason, NoProc};

async fn settle() {
    spectrum_rt::time::sleep(Duration::from_millis(1)).await;
}

/// Rule 4 + 5 + 6: bidirectional; a crash kills the untrapped peer with the same reason.
#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn link_is_bidirectional_and_propagates_the_reason() {
    let ev = Events::default();
    for crash_first in [true, false] {
        let a = spectrum_actor::spawn(Probe::new("a", &ev));
        let b = spectrum_actor::spawn(Probe::new("b", &ev));
        a.ask(Cmd::Link(b.actor_ref())).await.unwrap();
        let (victim, peer) = if crash_first { (&a, &b) } else { (&b, &a) };
        victim.tell(Cmd::Panic).await.unwrap();
        let r = peer.join().await;
        assert!(
            matches!(&r, ExitReason::Panicked(m) if m.contains("crashed")),
            "{r:?}"
        );
    }
}

/// Rule 4: linking twice makes one link; unlink removes it.
#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn link_is_idempotent_and_unlink_removes_it() {
    let ev = Events::default();
    let a = spectrum_actor::spawn(Probe::new("a", &ev).trapping());
    let b = spectrum_actor::spawn(Probe::new("b", &ev));
    a.ask(Cmd::Link(b.actor_ref())).await.unwrap();
    a.ask(Cmd::Link(b.actor_ref())).await.unwrap();
    b.ask(Cmd::Link(a.actor_ref())).await.unwrap();
    b.stop_with(ExitReason::panicked("x"));
    b.join().await;
    a.ask(Ping).await.unwrap();
    let exits: Vec<_> = ev
        .take()
        .into_iter()
        .filter(|e| e.starts_with("a exit"))
        .collect();
    assert_eq!(exits.len(), 1, "one link, one signal: {exits:?}");

    let c = spectrum_actor::spawn(Probe::new("c", &ev));
    a.ask(Cmd::Link(c.actor_ref())).await.unwrap();
    a.ask(Cmd::Unlink(c.actor_ref())).await.unwrap();
    c.tell(Cmd::Panic).await.unwrap();
    c.join().await;
    a.ask(Ping).await.unwrap();
    assert!(a.is_alive());
    assert!(!ev.take().iter().any(|e| e.starts_with("a exit")));
    a.stop();
    a.join().await;
}

/// Rule 4: `spawn_link` is atomic: a child that dies at once still takes its parent with it.
#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn spawn_link_is_atomic() {
    use spectrum_actor::{Actor, BoxError, Context};
    struct Doomed;
    impl Actor for Doomed {
        async fn started(&mut self, _: &mut Context<Self>) -> Result<(), BoxError> {
            Err("no".into())
        }
    }
    let ev = Events::default();
    let parent = spectrum_actor::spawn(Probe::new("parent", &ev));
    let p = parent.actor_ref();
    let child = spectrum_actor::Builder::new().link(p.clone()).spawn(Doomed);
    let r = child.join().await;
    assert!(matches!(r, ExitReason::Error(_)));
    assert!(matches!(parent.join().await, ExitReason::Error(_)));

    // Linking to an actor that already ended is refused.
    let dead = spectrum_actor::spawn(Probe::new("dead", &ev));
    dead.stop();
    dead.join().await;
    struct Linker(spectrum_actor::ActorRef);
    impl Actor for Linker {
        async fn started(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
            assert_eq!(ctx.link(&self.0), Err(NoProc));
            Ok(())
        }
    }
    let l = spectrum_actor::spawn(Linker(dead.actor_ref()));
    l.stop();
    assert_eq!(l.join().await, ExitReason::Shutdown(None));
}

/// Rule 6: a `normal` exit does not kill an untrapped peer; `shutdown` does.
#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn normal_exit_is_ignored_by_untrapped_peers() {
    let ev = Events::default();
    let a = spectrum_actor::spawn(Probe::new("a", &ev));
    let b = spectrum_actor::spawn(Probe::new("b", &ev));
    a.ask(Cmd::Link(b.actor_ref())).await.unwrap();
    b.tell(Cmd::Stop(ExitReason::Normal)).await.unwrap();
    b.join().await;
    settle().await;
    a.ask(Ping).await.unwrap();
    assert!(a.is_alive());

    let c = spectrum_actor::spawn(Probe::new("c", &ev));
    a.ask(Cmd::Link(c.actor_ref())).await.unwrap();
    c.stop(); // shutdown is not `normal`: it kills the untrapped peer
    assert_eq!(a.join().await, ExitReason::Shutdown(None));
}

/// Rule 7: a trapping peer gets the signal as a message and lives on.
#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn trap_exit_turns_signals_into_messages() {
    let ev = Events::default();
    let a = spectrum_actor::spawn(Probe::new("a", &ev).trapping());
    let b = spectrum_actor::spawn(Probe::new("b", &ev));
    let bid = b.id();
    a.ask(Cmd::Link(b.actor_ref())).await.unwrap();
    b.tell(Cmd::Panic).await.unwrap();
    b.join().await;
    a.ask(Ping).await.unwrap();
    assert!(ev
        .snapshot()
        .contains(&format!("a exit {bid} panicked: b crashed")));
    // Normal exits are delivered to a trapping peer too.
    let c = spectrum_actor::spawn(Probe::new("c", &ev));
    let cid = c.id();
    a.ask(Cmd::Link(c.actor_ref())).await.unwrap();
    c.tell(Cmd::Stop(ExitReason::Normal)).await.unwrap();
    c.join().await;
    a.ask(Ping).await.unwrap();
    assert!(ev.snapshot().contains(&format!("a exit {cid} normal")));
    assert!(a.is_alive());
    a.stop();
    a.join().await;
}

/// Rule 8: `kill` cannot be trapped; `killed` arriving through a link can.
#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn kill_is_untrappable_but_killed_through_a_link_is() {
    let ev = Events::default();
    let a = spectrum_actor::spawn(Probe::new("a", &ev).trapping());
    let b = spectrum_actor::spawn(Probe::new("b", &ev).trapping());
    let bid = b.id();
    a.ask(Cmd::Link(b.actor_ref())).await.unwrap();
    b.kill();
    assert_eq!(b.join().await, ExitReason::Killed);
    a.ask(Ping).await.unwrap();
    assert!(a.is_alive(), "killed through a link is trappable");
    assert!(ev.snapshot().contains(&format!("a exit {bid} killed")));
    assert!(
        !ev.snapshot().iter().any(|e| e.starts_with("b stopped")),
        "a kill runs no hook"
    );
    a.kill();
    assert_eq!(a.join().await, ExitReason::Killed);
}

/// An untrapped link exit interrupts a handler in progress (an exit signal is not a message).
#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn exit_signal_interrupts_a_busy_peer() {
    let ev = Events::default();
    let a = spectrum_actor::spawn(Probe::new("a", &ev));
    let b = spectrum_actor::spawn(Probe::new("b", &ev));
    a.ask(Cmd::Link(b.actor_ref())).await.unwrap();
    a.tell(Cmd::Sleep(Duration::from_secs(60))).await.unwrap();
    settle().await;
    let t0 = spectrum_rt::time::now();
    b.tell(Cmd::Panic).await.unwrap();
    assert!(a.join().await.is_panic());
    assert!(spectrum_rt::time::now() - t0 < Duration::from_secs(1));
    // `stopped` still runs for a link death (only `kill` skips hooks).
    assert!(ev.snapshot().iter().any(|e| e.starts_with("a stopped")));
}
