#![cfg(not(loom))]
//! `select!` and the dynamic `Select` builder beyond Go's rules (see `golang.rs` for those):
//! mixed types, send cases, run-time case counts, deadlines, reuse, and wrong use.

use std::thread;
use std::time::{Duration, Instant};

use spectrum_chan::{
    after, bounded, select, tick, unbounded, RecvError, Select, SelectTimeoutError, SendError,
    TrySelectError,
};
use spectrum_rt::{Runtime, Wait};

#[test]
fn cases_of_different_types_and_directions() {
    let (tx_n, rx_n) = bounded::<u64>(1);
    let (tx_s, rx_s) = bounded::<String>(1);
    tx_s.try_send("hello".into()).unwrap();
    // The send case is ready (room), the String receive too: run both out.
    let mut seen = Vec::new();
    for _ in 0..2 {
        select! {
            wait;
            recv(rx_s) -> s => seen.push(format!("recv {}", s.unwrap())),
            send(tx_n, 42) -> r => { r.unwrap(); seen.push("sent".to_string()) }
            recv(rx_n) -> _ if false => unreachable!(),
        }
    }
    seen.sort();
    assert_eq!(seen, ["recv hello", "sent"]);
    assert_eq!(rx_n.try_recv(), Ok(42));
}

#[test]
fn send_case_on_a_closed_channel_returns_the_value() {
    let (tx, rx) = bounded::<String>(1);
    rx.close();
    let back = select! { wait; send(tx, "v".to_string()) -> r => r.unwrap_err() };
    assert_eq!(back, SendError("v".to_string()));
}

#[test]
fn recv_case_on_a_closed_channel_proceeds_with_closed() {
    let (tx, rx) = bounded::<u8>(1);
    drop(tx);
    let r = select! { wait; recv(rx) -> v => v };
    assert_eq!(r, Err(RecvError::Closed));
}

#[test]
fn arms_can_break_and_continue_the_enclosing_loop() {
    let (tx, rx) = bounded::<u32>(4);
    for i in 0..3 {
        tx.try_send(i).unwrap();
    }
    drop(tx);
    let mut sum = 0;
    loop {
        select! {
            wait;
            recv(rx) -> v => match v {
                Ok(1) => continue,
                Ok(v) => sum += v,
                Err(_) => break,
            },
        }
    }
    assert_eq!(sum, 2);
}

#[test]
fn dynamic_builder_over_a_runtime_chosen_number_of_channels() {
    let chans: Vec<_> = (0..16).map(|_| bounded::<usize>(1)).collect();
    let producers: Vec<_> = chans
        .iter()
        .enumerate()
        .map(|(i, (tx, _))| {
            let tx = tx.clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(i as u64));
                tx.send(i).wait().unwrap();
            })
        })
        .collect();
    let mut sel = Select::new();
    for (_, rx) in &chans {
        sel.recv(rx);
    }
    let mut got = Vec::new();
    for _ in 0..16 {
        let op = sel.select().wait();
        let i = op.index();
        got.push(op.recv(&chans[i].1).unwrap());
    }
    got.sort_unstable();
    assert_eq!(got, (0..16).collect::<Vec<_>>());
    for p in producers {
        p.join().unwrap();
    }
}

#[test]
fn builder_send_cases_are_spent_after_use() {
    let (tx, rx) = unbounded::<u8>();
    let mut sel = Select::new();
    let s = sel.send(&tx, 1);
    let op = sel.try_select().unwrap();
    assert_eq!(op.index(), s);
    op.send(&tx).unwrap();
    assert_eq!(
        sel.try_select().unwrap_err(),
        TrySelectError,
        "the value went out already"
    );
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(sel.len(), 1);
}

#[test]
fn builder_disabled_cases() {
    let (tx, rx) = bounded::<u8>(1);
    tx.try_send(1).unwrap();
    let mut sel = Select::new();
    sel.recv(None::<&spectrum_chan::Receiver<u8>>);
    sel.send(None::<&spectrum_chan::Sender<u8>>, 5);
    assert!(sel.try_select().is_err());
    let i = sel.recv(&rx);
    let op = sel.try_select().unwrap();
    assert_eq!(op.index(), i);
    assert_eq!(op.recv(&rx), Ok(1));
}

#[test]
#[should_panic(expected = "not a receive on this channel")]
fn selected_operation_checks_the_channel() {
    let (tx, rx) = bounded::<u8>(1);
    let (_tx2, rx2) = bounded::<u8>(1);
    tx.try_send(1).unwrap();
    let mut sel = Select::new();
    sel.recv(&rx);
    let op = sel.try_select().unwrap();
    let _ = op.recv(&rx2);
}

#[test]
fn deadline_and_timeout_arms() {
    let rt = Runtime::builder()
        .workers(1)
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let (_tx, rx) = bounded::<u8>(1);
        let start = spectrum_rt::time::now();
        let r = select! { recv(rx) -> _ => "value", timeout(Duration::from_secs(5)) => "timeout" };
        assert_eq!(r, "timeout");
        assert_eq!(spectrum_rt::time::now() - start, Duration::from_secs(5));
        let until = spectrum_rt::time::now() + Duration::from_secs(1);
        let r = select! { recv(rx) -> _ => "value", deadline(until) => "deadline" };
        assert_eq!(r, "deadline");

        // A ready case beats a deadline that has already passed.
        let (tx2, rx2) = bounded::<u8>(1);
        tx2.try_send(1).unwrap();
        let mut sel = Select::new();
        sel.recv(&rx2);
        let op = sel.select_deadline(start).await.unwrap();
        assert_eq!(op.recv(&rx2), Ok(1));
        let mut sel = Select::new();
        sel.recv(&rx2);
        assert_eq!(
            sel.select_timeout(Duration::from_millis(1))
                .await
                .unwrap_err(),
            SelectTimeoutError
        );
    });
}

#[test]
fn wait_mode_with_timers_from_a_thread() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let _guard = rt.enter();
    let ticks = tick(Duration::from_millis(5));
    let stop = after(Duration::from_millis(60));
    let start = Instant::now();
    let mut n = 0;
    loop {
        select! {
            wait;
            recv(ticks) -> t => { t.unwrap(); n += 1; }
            recv(stop) -> _ => break,
        }
    }
    assert!(start.elapsed() >= Duration::from_millis(60));
    assert!((3..=13).contains(&n), "{n} ticks in 60 ms at 5 ms");
}

#[test]
fn blocked_select_is_woken_by_each_kind_of_case() {
    // A receive, a send and a close each wake a parked select.
    let (tx, rx) = bounded::<u8>(0);
    let t = thread::spawn(move || select! { wait; recv(rx) -> v => v });
    thread::sleep(Duration::from_millis(10));
    tx.send(1).wait().unwrap();
    assert_eq!(t.join().unwrap(), Ok(1));

    let (tx, rx) = bounded::<u8>(0);
    let t = thread::spawn(move || select! { wait; send(tx, 2) -> r => r.is_ok() });
    thread::sleep(Duration::from_millis(10));
    assert_eq!(rx.recv().wait(), Ok(2));
    assert!(t.join().unwrap());

    let (tx, rx) = bounded::<u8>(0);
    let t = thread::spawn(move || select! { wait; recv(rx) -> v => v });
    thread::sleep(Duration::from_millis(10));
    tx.close();
    assert_eq!(t.join().unwrap(), Err(RecvError::Closed));
}
