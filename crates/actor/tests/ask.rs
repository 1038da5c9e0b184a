//! OTP message rules 2 and 3: `ask` times out and a late reply never reaches a later ask;
//! asking a dead actor fails at once.

use std::time::Duration;

use spectrum_actor::{Actor, AskError, Context, ExitReason, Handler, SyncHandler};

struct Sleeper;
impl Actor for Sleeper {}

/// Replies with its argument after sleeping that many milliseconds.
struct Echo(u64);
impl Handler<Echo> for Sleeper {
    type Reply = u64;
    async fn handle(&mut self, Echo(ms): Echo, _: &mut Context<Self>) -> u64 {
        spectrum_rt::time::sleep(Duration::from_millis(ms)).await;
        ms
    }
}

struct Die;
impl Handler<Die> for Sleeper {
    type Reply = u64;
    async fn handle(&mut self, _: Die, _: &mut Context<Self>) -> u64 {
        spectrum_rt::time::sleep(Duration::from_millis(50)).await;
        panic!("died mid-ask");
    }
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn ask_timeout_drops_the_late_reply() {
    let a = spectrum_actor::spawn(Sleeper);
    let t0 = spectrum_rt::time::now();
    let r = a.ask(Echo(100)).timeout(Duration::from_millis(10)).await;
    assert!(matches!(r, Err(AskError::Timeout)));
    assert_eq!(spectrum_rt::time::now() - t0, Duration::from_millis(10));
    // The next ask is queued behind the slow one; it must get its own reply (7), never the late
    // reply (100) of the ask that timed out.
    assert_eq!(a.ask(Echo(7)).await.unwrap(), 7);
    a.stop();
    a.join().await;
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn default_ask_timeout_is_five_seconds() {
    let a = spectrum_actor::spawn(Sleeper);
    let t0 = spectrum_rt::time::now();
    assert!(a.ask(Echo(60_000)).await.unwrap_err().is_timeout());
    assert_eq!(
        spectrum_rt::time::now() - t0,
        spectrum_actor::DEFAULT_ASK_TIMEOUT
    );
    a.kill();
    a.join().await;
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn asking_a_dead_actor_fails_at_once() {
    let a = spectrum_actor::spawn(Sleeper);
    a.stop();
    a.join().await;
    let t0 = spectrum_rt::time::now();
    match a.ask(Echo(1)).await {
        Err(AskError::Closed(Echo(1))) => {}
        other => panic!("{:?}", other.map(|_| ())),
    }
    assert_eq!(spectrum_rt::time::now(), t0, "no waiting for the timeout");
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn ask_fails_as_soon_as_the_actor_dies() {
    let a = spectrum_actor::spawn(Sleeper);
    let t0 = spectrum_rt::time::now();
    match a.ask(Die).await {
        Err(AskError::Stopped(ExitReason::Panicked(m))) => assert_eq!(&*m, "died mid-ask"),
        other => panic!("{:?}", other.map(|_| ())),
    }
    assert_eq!(spectrum_rt::time::now() - t0, Duration::from_millis(50));
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn queued_asks_fail_with_the_reason_when_the_actor_stops() {
    let a = spectrum_actor::spawn(Sleeper);
    let a2 = a.clone();
    let slow = spectrum_rt::spawn(async move { a2.ask(Echo(20)).await.is_ok() });
    let a3 = a.clone();
    let queued = spectrum_rt::spawn(async move {
        match a3.ask(Echo(1)).await {
            Err(AskError::Stopped(r)) => r,
            other => panic!("{:?}", other.map(|_| ())),
        }
    });
    spectrum_rt::time::sleep(Duration::from_millis(5)).await;
    a.stop();
    assert!(slow.await.unwrap(), "the turn in progress completes");
    assert_eq!(queued.await.unwrap(), ExitReason::Shutdown(None));
}

struct Add;
impl Actor for Add {}
impl SyncHandler<(u32, u32)> for Add {
    type Reply = u32;
    fn handle(&mut self, (a, b): (u32, u32), _: &mut Context<Self>) -> u32 {
        a + b
    }
}

#[test]
fn ask_blocks_a_thread_with_wait() {
    use spectrum_rt::Wait;
    let rt = spectrum_rt::Runtime::builder().workers(1).build().unwrap();
    let a = rt.block_on(async { spectrum_actor::spawn(Add) });
    let t = std::thread::spawn(move || {
        let r = a.ask((2, 3)).without_timeout().wait().unwrap();
        a.stop();
        r
    });
    assert_eq!(t.join().unwrap(), 5);
}
