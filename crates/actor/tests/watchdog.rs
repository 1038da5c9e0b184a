//! An actor that never yields is a long poll like any task: the runtime's watchdog names it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use spectrum_actor::{Actor, Builder, Context, SyncHandler};

struct Spinner;
impl Actor for Spinner {}
struct Spin;
impl SyncHandler<Spin> for Spinner {
    type Reply = ();
    fn handle(&mut self, _: Spin, _: &mut Context<Self>) {
        std::thread::sleep(Duration::from_millis(200)); // blocks its worker
    }
}

#[test]
fn watchdog_reports_an_actor_that_never_yields() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let rt = spectrum_rt::Runtime::builder()
        .workers(1)
        .long_poll_threshold(Some(Duration::from_millis(50)))
        .on_diagnostic(move |d| s.lock().unwrap().push(d.clone()))
        .build()
        .unwrap();
    rt.block_on(async {
        let a = Builder::new().name("spinner").spawn(Spinner);
        a.ask(Spin).without_timeout().await.unwrap();
        a.stop();
        a.join().await;
    });
    let seen = seen.lock().unwrap();
    assert!(
        seen.iter().any(|d| matches!(
            d,
            spectrum_rt::runtime::Diagnostic::LongPoll { name: Some(n), .. } if n == "spinner"
        )),
        "{seen:?}"
    );
}
