//! Go's classic channel deadlock, written with fibers: two fibers each wait to receive what the
//! other will never send. Go stops the whole program ("all goroutines are asleep"); Spectrum's
//! runtime reports the two fibers, the channels and who holds them as a probable deadlock (the
//! channels know the fibers that last used their senders), while everything else keeps running.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use spectrum_rt::runtime::Diagnostic;
use spectrum_rt::{Runtime, Wait};

#[test]
fn two_fibers_waiting_on_each_other_are_reported() {
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let rt = Runtime::builder()
        .workers(2)
        .detect_deadlocks(Some(Duration::from_millis(20)))
        .on_diagnostic({
            let seen = seen.clone();
            move |d| {
                if let Diagnostic::Deadlock { .. } = d {
                    seen.lock().unwrap().push(d.to_string());
                }
            }
        })
        .build()
        .unwrap();
    let _guard = rt.enter();
    let (ping_tx, ping_rx) = spectrum_chan::bounded::<u32>(0);
    let (pong_tx, pong_rx) = spectrum_chan::bounded::<u32>(0);
    let (ping_id, pong_id) = (ping_tx.id(), pong_tx.id());
    let pinger = spectrum_fiber::spawn(move || {
        ping_tx.send(1).wait().unwrap();
        let reply = pong_rx.recv().wait().unwrap();
        // Bug: waits for a second reply it never asked for, still holding `ping_tx`.
        (reply, pong_rx.recv().wait())
    });
    let ponger = spectrum_fiber::spawn(move || {
        let v = ping_rx.recv().wait().unwrap();
        pong_tx.send(v + 1).wait().unwrap();
        // Bug: waits for a second ping, still holding `pong_tx`.
        ping_rx.recv().wait()
    });
    let start = Instant::now();
    let report = loop {
        if let Some(r) = seen.lock().unwrap().first().cloned() {
            break r;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no deadlock report"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(report.starts_with("probable deadlock: "), "{report}");
    for needle in [
        format!("recv on channel #{ping_id}"),
        format!("recv on channel #{pong_id}"),
        format!("task {}", pinger.id()),
        format!("task {}", ponger.id()),
    ] {
        assert!(report.contains(&needle), "{needle} not in {report}");
    }
    // The runtime itself is fine: other work runs beside the two stuck fibers.
    assert_eq!(spectrum_fiber::spawn(|| 6 * 7).wait().unwrap(), 42);
    // Cancelling one unwinds it, dropping its sender; the other sees the close and returns.
    pinger.cancel();
    assert!(pinger.wait().is_err());
    assert!(ponger.wait().unwrap().is_err());
}
