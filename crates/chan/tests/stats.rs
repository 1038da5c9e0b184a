#![cfg(not(loom))]
//! Blocked-time counters: backpressure made visible.

use std::thread;
use std::time::Duration;

use spectrum_chan::{bounded, ChannelStats};

#[test]
fn operations_that_never_wait_count_nothing() {
    let (tx, rx) = bounded::<u8>(4);
    for i in 0..4 {
        tx.send(i).wait().unwrap();
    }
    for _ in 0..4 {
        rx.recv().wait().unwrap();
    }
    assert_eq!(tx.stats(), ChannelStats::default());
}

#[test]
fn a_full_channel_shows_sender_backpressure() {
    let (tx, rx) = bounded::<u8>(1);
    tx.try_send(0).unwrap();
    let t = thread::spawn(move || {
        tx.send(1).wait().unwrap();
        tx
    });
    thread::sleep(Duration::from_millis(50));
    rx.recv().wait().unwrap();
    let tx = t.join().unwrap();
    let s = tx.stats();
    assert_eq!(s.send_waits, 1);
    assert!(s.send_blocked >= Duration::from_millis(40), "{s:?}");
    assert_eq!((s.recv_waits, s.recv_blocked), (0, Duration::ZERO));
    assert_eq!(rx.stats(), s, "both halves see the same counters");
}

#[test]
fn an_empty_channel_shows_receiver_waits_including_cancelled_ones() {
    let (tx, rx) = bounded::<u8>(1);
    let rt = spectrum_rt::Runtime::builder().workers(1).build().unwrap();
    rt.block_on(async {
        // A receive that times out still counts as a wait.
        let _ = rx.recv_timeout(Duration::from_millis(20)).await;
    });
    let t = thread::spawn(move || rx.recv().wait().map(|_| rx));
    thread::sleep(Duration::from_millis(100));
    tx.send(1).wait().unwrap();
    t.join().unwrap().unwrap();
    let s = tx.stats();
    assert_eq!(s.recv_waits, 2);
    // 20 ms + 100 ms, less what a loaded machine takes to start the thread, less a tick of the
    // coarse clock per wait (`clock`): both waits' time is there.
    assert!(s.recv_blocked >= Duration::from_millis(60), "{s:?}");
}
