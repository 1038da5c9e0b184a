//! OTP rules 9–11: monitors are unidirectional and stack; `Down` carries the reason, `noproc`
//! for an actor already gone; `demonitor` (with flush); names are released before `Down`.

mod common;

use std::time::Duration;

use common::{Cmd, Events, Ping, Probe};
use spectrum_actor::{registry, ExitReason};

/// Rule 9: unidirectional and stackable.
#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn monitors_are_unidirectional_and_stack() {
    let ev = Events::default();
    let w = spectrum_actor::spawn(Probe::new("w", &ev));
    let t = spectrum_actor::spawn(Probe::new("t", &ev));
    let tid = t.id();
    let m1 = w.ask(Cmd::Monitor(t.actor_ref())).await.unwrap().unwrap();
    let m2 = w.ask(Cmd::Monitor(t.actor_ref())).await.unwrap().unwrap();
    assert_ne!(m1, m2);
    // The watcher ending does not affect the target.
    t.tell(Cmd::Panic).await.unwrap();
    t.join().await;
    w.ask(Ping).await.unwrap();
    let downs: Vec<_> = ev
        .snapshot()
        .into_iter()
        .filter(|e| e == &format!("w down {tid} panicked: t crashed"))
        .collect();
    assert_eq!(downs.len(), 2, "two monitors, two DOWNs");
    assert!(w.is_alive(), "a monitor never kills the watcher");

    let t2 = spectrum_actor::spawn(Probe::new("t2", &ev));
    w.ask(Cmd::Monitor(t2.actor_ref())).await.unwrap();
    w.stop();
    w.join().await;
    t2.ask(Ping).await.unwrap();
    assert!(
        t2.is_alive(),
        "unidirectional: the target does not hear of the watcher"
    );
    t2.stop();
    t2.join().await;
}

/// Rule 10: an actor already gone gives `Down(noproc)` at once.
#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn monitoring_a_dead_actor_gives_noproc() {
    let ev = Events::default();
    let w = spectrum_actor::spawn(Probe::new("w", &ev));
    let t = spectrum_actor::spawn(Probe::new("t", &ev));
    t.stop();
    t.join().await;
    w.ask(Cmd::Monitor(t.actor_ref())).await.unwrap();
    w.ask(Ping).await.unwrap();
    assert!(ev
        .snapshot()
        .contains(&format!("w down {} {}", t.id(), ExitReason::NoProc)));
    w.stop();
    w.join().await;
}

/// Rule 10: demonitor removes the monitor; with flush also a queued `Down`.
#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn demonitor_and_flush() {
    let ev = Events::default();
    let w = spectrum_actor::spawn(Probe::new("w", &ev));
    let t = spectrum_actor::spawn(Probe::new("t", &ev));
    let m = w.ask(Cmd::Monitor(t.actor_ref())).await.unwrap().unwrap();
    w.ask(Cmd::Demonitor(m, false)).await.unwrap();
    t.stop();
    t.join().await;
    w.ask(Ping).await.unwrap();
    assert!(!ev.snapshot().iter().any(|e| e.starts_with("w down")));

    // Flush: the target dies while the watcher is in the middle of a turn, so its Down is
    // queued; demonitor with flush in that same turn removes it.
    let t2 = spectrum_actor::spawn(Probe::new("t2", &ev));
    let m2 = w.ask(Cmd::Monitor(t2.actor_ref())).await.unwrap().unwrap();
    w.tell(Cmd::SleepDemonitor(Duration::from_millis(10), m2))
        .await
        .unwrap();
    spectrum_rt::time::sleep(Duration::from_millis(1)).await;
    t2.stop();
    t2.join().await;
    w.ask(Ping).await.unwrap();
    assert!(
        !ev.snapshot().iter().any(|e| e.starts_with("w down")),
        "{:?}",
        ev.snapshot()
    );
    w.stop();
    w.join().await;
}

/// Rule 11: the name is released before `Down` is delivered.
#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn names_are_released_before_down() {
    use spectrum_actor::{Actor, Context, Down};
    struct Checker(String, Events);
    impl Actor for Checker {
        async fn on_down(&mut self, d: Down, _: &mut Context<Self>) {
            self.1.push(format!(
                "down; whereis = {:?}",
                registry::whereis(&self.0).map(|r| r.id())
            ));
            let _ = d;
        }
    }
    impl spectrum_actor::Handler<Cmd> for Checker {
        type Reply = ();
        async fn handle(&mut self, c: Cmd, ctx: &mut Context<Self>) {
            if let Cmd::Monitor(a) = c {
                ctx.monitor(&a);
            }
        }
    }
    let ev = Events::default();
    let t = spectrum_actor::spawn(Probe::new("t", &ev));
    registry::register("monitors-rule-11", &t.actor_ref()).unwrap();
    let w = spectrum_actor::spawn(Checker("monitors-rule-11".into(), ev.clone()));
    w.ask(Cmd::Monitor(t.actor_ref())).await.unwrap();
    t.stop();
    t.join().await;
    w.ask(Cmd::Sleep(Duration::ZERO)).await.unwrap();
    assert!(ev.snapshot().contains(&"down; whereis = None".to_string()));
    w.stop();
    w.join().await;
}
