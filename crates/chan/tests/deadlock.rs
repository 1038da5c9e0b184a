#![cfg(not(loom))]
//! Guardrails on channels: a task parked on a channel names it (and which side) in the task
//! dump, a task parked in a select says so; tasks that receive from each other in a cycle are
//! reported as a probable deadlock through the channels' handle users (`owners` module), and
//! nothing is reported while a handle's user is unknown or while one of several senders is
//! free to send.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{diag_runtime, wait_for, Seen};

use spectrum_chan::{bounded, Select};
use spectrum_rt::runtime::Diagnostic;
use spectrum_rt::task::{TaskState, WaitOn};
use spectrum_rt::waitgraph;
use spectrum_rt::TaskId;

fn runtime(seen: &Seen) -> spectrum_rt::Runtime {
    diag_runtime(seen, true)
}

/// What each idle task of `rt` waits on.
fn waits(rt: &spectrum_rt::Runtime) -> Vec<(TaskId, WaitOn)> {
    rt.dump()
        .tasks
        .iter()
        .filter(|t| t.info.state == TaskState::Idle)
        .filter_map(|t| Some((t.info.id, t.info.waiting_on?)))
        .collect()
}

fn deadlock_reports(seen: &Seen) -> Vec<String> {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|d| matches!(d, Diagnostic::Deadlock { .. }))
        .map(ToString::to_string)
        .collect()
}

#[test]
fn parked_tasks_name_the_channel_and_side_in_the_dump() {
    let seen = Seen::default();
    let rt = runtime(&seen);
    let (tx, rx) = bounded::<u32>(0);
    let (full_tx, full_rx) = bounded::<u32>(1);
    let (a_tx, a_rx) = bounded::<u32>(1);
    let (b_tx, b_rx) = bounded::<u32>(1);
    assert_eq!(tx.id(), rx.id());
    assert_ne!(tx.id(), full_tx.id());
    let (recv_id, send_id) = (rx.id(), full_tx.id());
    full_tx.try_send(1).unwrap();
    let receiver = rt.spawn(async move { rx.recv().await });
    let sender = rt.spawn(async move { full_tx.send(2).await });
    let selector = rt.spawn(async move {
        let mut sel = Select::new();
        sel.recv(&a_rx);
        sel.recv(&b_rx);
        let op = sel.select().await;
        let i = op.index();
        op.recv(if i == 0 { &a_rx } else { &b_rx })
    });
    wait_for("the three wait notes", || {
        let w = waits(&rt);
        let on = |id| w.iter().find(|(t, _)| *t == id).map(|(_, on)| *on);
        (on(receiver.id()) == Some(WaitOn::ChannelRecv { channel: recv_id })
            && on(sender.id()) == Some(WaitOn::ChannelSend { channel: send_id })
            && on(selector.id()) == Some(WaitOn::Select { cases: 2 }))
        .then_some(())
    });
    rt.block_on(tx.send(7)).unwrap();
    assert_eq!(full_rx.try_recv(), Ok(1));
    b_tx.try_send(9).unwrap();
    rt.block_on(async {
        assert_eq!(receiver.await.unwrap(), Ok(7));
        assert_eq!(sender.await.unwrap(), Ok(()));
        assert_eq!(selector.await.unwrap(), Ok(9));
    });
    assert_eq!(full_rx.try_recv(), Ok(2));
    drop(a_tx);
    assert!(deadlock_reports(&seen).is_empty());
}

#[test]
fn two_tasks_receiving_from_each_other_are_reported_as_a_probable_deadlock() {
    let seen = Seen::default();
    let rt = runtime(&seen);
    let (to_b, from_a) = bounded::<u32>(0);
    let (to_a, from_b) = bounded::<u32>(0);
    let (a_id, b_id) = (to_b.id(), to_a.id());
    // Each sends the other one value, then waits for a second one that never comes: each holds
    // the only sender the other waits on.
    let a = rt.spawn(async move {
        to_b.send(1).await.unwrap();
        let first = from_b.recv().await;
        let second = from_b.recv().await;
        drop(to_b);
        (first, second)
    });
    let b = rt.spawn(async move {
        let first = from_a.recv().await;
        to_a.send(2).await.unwrap();
        let second = from_a.recv().await;
        (first, second)
    });
    let report = wait_for("a deadlock report", || {
        deadlock_reports(&seen).into_iter().next()
    });
    assert!(report.starts_with("probable deadlock: "), "{report}");
    assert!(
        report.contains(&format!("recv on channel #{a_id}")),
        "{report}"
    );
    assert!(
        report.contains(&format!("recv on channel #{b_id}")),
        "{report}"
    );
    assert!(report.contains("(likely)"), "{report}");
    let dump = rt.dump();
    assert_eq!(dump.deadlocks.len(), 1, "{:?}", dump.deadlocks);
    let cycle = &dump.deadlocks[0];
    assert!(!cycle.is_certain());
    let mut tasks: Vec<_> = cycle.tasks().collect();
    tasks.sort();
    let mut expected = vec![a.id(), b.id()];
    expected.sort();
    assert_eq!(tasks, expected);
    assert!(dump.to_json().contains("\"certain\":false"));
    // Cancelling one breaks the cycle: its sender goes, the other's receive sees the close.
    a.cancel();
    rt.block_on(async {
        assert!(a.await.is_err());
        let (first, second) = b.await.unwrap();
        assert_eq!(first, Ok(1));
        assert!(second.is_err(), "closed once the only sender is gone");
    });
    assert_eq!(deadlock_reports(&seen).len(), 1, "reported once");
}

#[test]
fn a_sender_moved_to_a_task_before_its_first_use_is_not_guessed() {
    // The parent makes the channel and hands the sender to a worker that takes a while: the
    // parent waits on the receive, and the sender's user is unknown until the worker sends.
    let seen = Seen::default();
    let rt = runtime(&seen);
    let (tx, rx) = bounded::<u32>(0);
    let parent = rt.spawn(async move {
        let worker = spectrum_rt::spawn(async move {
            spectrum_rt::time::sleep(Duration::from_millis(300)).await;
            tx.send(5).await.unwrap();
        });
        let got = rx.recv().await;
        worker.await.unwrap();
        got
    });
    std::thread::sleep(Duration::from_millis(150));
    let dump = rt.dump();
    assert!(dump.deadlocks.is_empty(), "{:?}", dump.deadlocks);
    assert_eq!(rt.block_on(parent).unwrap(), Ok(5));
    assert!(deadlock_reports(&seen).is_empty());
}

#[test]
fn a_receiver_with_one_free_sender_among_its_senders_is_not_stuck() {
    // As in the two-task cycle, but the channel into A has a second sender, C, which has used
    // it (so its user is known) and now sleeps: A can still receive from C, so nothing is
    // stuck, though A and B wait on each other.
    let seen = Seen::default();
    let rt = runtime(&seen);
    let (to_b, from_a) = bounded::<u32>(0);
    let (to_a, from_b) = bounded::<u32>(0);
    let c_tx = to_a.clone();
    let (go, gone) = bounded::<()>(0);
    let a = rt.spawn(async move {
        to_b.send(1).await.unwrap();
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(from_b.recv().await.unwrap());
        }
        drop(to_b);
        got.sort_unstable();
        got
    });
    let b = rt.spawn(async move {
        let first = from_a.recv().await;
        to_a.send(2).await.unwrap();
        (first, from_a.recv().await)
    });
    let c = rt.spawn(async move {
        c_tx.send(10).await.unwrap();
        gone.recv().await.unwrap();
        c_tx.send(11).await.unwrap();
    });
    // A has its first two values and waits for the third; B waits on A; C waits to be told.
    let (a_id, b_id, c_id) = (a.id(), b.id(), c.id());
    let edges = wait_for("A waiting on both of its senders' users", || {
        let e = waitgraph::edges(waits(&rt));
        let mut from_a: Vec<_> = e.iter().filter(|e| e.from == a_id).map(|e| e.to).collect();
        from_a.sort();
        let mut want = vec![b_id, c_id];
        want.sort();
        (from_a == want && e.iter().any(|e| e.from == b_id && e.to == a_id)).then_some(e)
    });
    assert!(edges.iter().all(|e| e.any && !e.certain), "{edges:?}");
    // C waits on a channel whose sender nobody has used (the test thread holds it): no edge,
    // so C is free, and so are A and B.
    assert!(waitgraph::cycles(&edges).is_empty(), "{edges:?}");
    std::thread::sleep(Duration::from_millis(100));
    assert!(deadlock_reports(&seen).is_empty());
    rt.block_on(go.send(())).unwrap();
    rt.block_on(async {
        c.await.unwrap();
        assert_eq!(a.await.unwrap(), vec![2, 10, 11]);
        let (first, second) = b.await.unwrap();
        assert_eq!(first, Ok(1));
        assert!(second.is_err());
    });
    assert!(deadlock_reports(&seen).is_empty());
}

#[test]
fn a_sender_shared_by_many_tasks_stops_naming_a_user() {
    let seen = Seen::default();
    let rt = runtime(&seen);
    let (tx, rx) = bounded::<u32>(0);
    let tx = Arc::new(tx);
    let users = 20u32;
    let receiver = rt.spawn(async move {
        for _ in 0..users {
            rx.recv().await.unwrap();
        }
        rx.recv().await
    });
    let named = |rt: &spectrum_rt::Runtime| -> Vec<TaskId> {
        waitgraph::edges(waits(rt))
            .iter()
            .filter(|e| e.from == receiver.id())
            .map(|e| e.to)
            .collect()
    };
    for i in 0..users {
        let tx = tx.clone();
        let user = rt.spawn(async move { tx.send(i).await.unwrap() });
        let id = user.id();
        rt.block_on(user).unwrap();
        if i == 0 {
            // One user so far: the receiver waits for it (a task that has ended: no cycle).
            wait_for("the receiver naming the first user", || {
                (named(&rt) == [id]).then_some(())
            });
        }
    }
    // Passed between 20 tasks, the handle is shared, not moved: its user is unknown for good.
    wait_for("the receiver waiting again", || {
        waits(&rt)
            .iter()
            .any(|(t, _)| *t == receiver.id())
            .then_some(())
    });
    assert!(named(&rt).is_empty());
    drop(tx);
    assert!(rt.block_on(receiver).unwrap().is_err());
}
