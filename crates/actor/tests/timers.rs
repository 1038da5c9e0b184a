//! `send_after` and intervals on Spectrum's timers (paused clock).

use std::time::Duration;

use spectrum_actor::{Actor, BoxError, Context, SyncHandler};

#[derive(Default)]
struct Clock {
    ticks: Vec<u64>,
}
impl Actor for Clock {
    async fn started(&mut self, ctx: &mut Context<Self>) -> Result<(), BoxError> {
        let t0 = spectrum_rt::time::now();
        ctx.interval(Duration::from_millis(10), move || {
            Tick((spectrum_rt::time::now() - t0).as_millis() as u64)
        });
        ctx.send_after(Duration::from_millis(35), Tick(999));
        Ok(())
    }
}
struct Tick(u64);
impl SyncHandler<Tick> for Clock {
    type Reply = ();
    fn handle(&mut self, Tick(t): Tick, _: &mut Context<Self>) {
        self.ticks.push(t);
    }
}
struct Get;
impl SyncHandler<Get> for Clock {
    type Reply = Vec<u64>;
    fn handle(&mut self, _: Get, _: &mut Context<Self>) -> Vec<u64> {
        self.ticks.clone()
    }
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn intervals_and_send_after() {
    let c = spectrum_actor::spawn(Clock::default());
    spectrum_rt::time::sleep(Duration::from_millis(45)).await;
    assert_eq!(c.ask(Get).await.unwrap(), [10, 20, 30, 999, 40]);
    // The actor's timers end with it (the leak check would catch them).
    c.stop();
    c.join().await;
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn addr_send_after_can_be_cancelled_and_ends_with_the_actor() {
    let c = spectrum_actor::spawn(Clock::default());
    let t = c.send_after(Duration::from_millis(5), Tick(1));
    let cancelled = c.send_after(Duration::from_millis(6), Tick(2));
    cancelled.cancel();
    let _pending = c.send_after(Duration::from_secs(3600), Tick(3));
    spectrum_rt::time::sleep(Duration::from_millis(7)).await;
    assert!(t.is_finished());
    assert_eq!(c.ask(Get).await.unwrap(), [1]);
    c.stop();
    c.join().await; // the hour-long timer ends with the actor: no leak
}
