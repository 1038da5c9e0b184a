//! Fiber-backed actors: plain sync handlers that block with `.wait()` suspend only their fiber.

use std::time::Duration;

use spectrum_actor::{Actor, Builder, Context, SyncHandler};
use spectrum_rt::Wait;

struct Blocking {
    peer: Option<spectrum_actor::Addr<Blocking>>,
}
impl Actor for Blocking {}

struct Nap(u64);
impl SyncHandler<Nap> for Blocking {
    type Reply = u64;
    fn handle(&mut self, Nap(ms): Nap, _: &mut Context<Self>) -> u64 {
        // Sync code: sleep with `.wait()`, and ask another actor synchronously.
        spectrum_rt::time::sleep(Duration::from_millis(ms)).wait();
        match &self.peer {
            Some(p) => p.ask(Nap(ms)).wait().unwrap() + ms,
            None => ms,
        }
    }
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn fiber_actor_blocks_only_itself() {
    let leaf = Builder::new().spawn_fiber(Blocking { peer: None }).unwrap();
    let top = Builder::new()
        .spawn_fiber(Blocking {
            peer: Some(leaf.clone()),
        })
        .unwrap();
    // While `top` blocks in `.wait()`, this task (same single worker) keeps running.
    let pending = {
        let top = top.clone();
        spectrum_rt::spawn(async move { top.ask(Nap(10)).await.unwrap() })
    };
    spectrum_rt::time::sleep(Duration::from_millis(5)).await;
    assert!(!pending.is_finished());
    assert_eq!(pending.await.unwrap(), 20);
    top.stop();
    leaf.stop();
    top.join().await;
    leaf.join().await;
}
