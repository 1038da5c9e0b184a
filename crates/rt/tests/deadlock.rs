//! The wait-for graph: cycles through joins show in dumps; cycles through registered primitives
//! are found by the periodic check and reported once.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use spectrum_rt::runtime::Diagnostic;
use spectrum_rt::task::{self, TaskId, WaitOn};
use spectrum_rt::waitgraph::{self, Holder, Holders};
use spectrum_rt::Runtime;

#[test]
fn two_tasks_awaiting_each_other_show_as_a_deadlock_in_the_dump() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let (a, b) = rt.block_on(async {
        let (to_a, from_main_a) = futures::channel::oneshot::channel();
        let (to_b, from_main_b) = futures::channel::oneshot::channel();
        let a = task::Builder::new().name("a").spawn(async move {
            let other: spectrum_rt::JoinHandle<()> = from_main_a.await.unwrap();
            let _ = other.await;
        });
        let b = task::Builder::new().name("b").spawn(async move {
            let other: spectrum_rt::JoinHandle<()> = from_main_b.await.unwrap();
            let _ = other.await;
        });
        let (ida, idb) = (a.id(), b.id());
        to_a.send(b).unwrap();
        to_b.send(a).unwrap();
        (ida, idb)
    });
    let dump = wait_for(|| Some(rt.dump()).filter(|d| !d.deadlocks.is_empty()));
    assert_eq!(dump.deadlocks.len(), 1, "{dump}");
    let cycle = &dump.deadlocks[0];
    assert!(cycle.is_certain());
    let mut members: Vec<TaskId> = cycle.tasks().collect();
    members.sort();
    let mut expected = vec![a, b];
    expected.sort();
    assert_eq!(members, expected);
    let text = dump.to_string();
    assert!(text.contains("!! deadlock: task #"), "{text}");
    for (x, y) in [(a, b), (b, a)] {
        let edge = format!("task {x} waits on task {y} held by task {y}");
        assert!(text.contains(&edge), "{edge} missing from\n{text}");
    }
    assert!(dump
        .to_json()
        .contains("\"deadlocks\":[{\"certain\":true,\"edges\":[{\"from\":"));
}

/// A stand-in for a lock: one holder; waiters note `WaitOn::Lock` and stay pending.
struct FakeLock {
    id: u64,
    holder: AtomicU64,
}

impl Holders for FakeLock {
    fn holders(&self, out: &mut Vec<Holder>) {
        if let Some(task) = TaskId::from_u64(self.holder.load(SeqCst)) {
            out.push(Holder {
                task,
                certain: true,
            });
        }
    }
}

struct WaitForever(u64);

impl Future for WaitForever {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        task::note_wait(WaitOn::Lock { lock: self.0 });
        Poll::Pending
    }
}

#[test]
fn the_periodic_check_reports_a_lock_cycle_once_with_the_tasks_names() {
    let seen = Arc::new(Mutex::new(Vec::<Diagnostic>::new()));
    let rt = Runtime::builder()
        .workers(2)
        .detect_deadlocks(Some(Duration::from_millis(20)))
        .on_diagnostic({
            let seen = seen.clone();
            move |d| seen.lock().unwrap().push(d.clone())
        })
        .build()
        .unwrap();
    let locks: Vec<Arc<FakeLock>> = (0..2)
        .map(|i| {
            Arc::new(FakeLock {
                id: 0xdead_0000 + i,
                holder: AtomicU64::new(0),
            })
        })
        .collect();
    let regs: Vec<_> = locks
        .iter()
        .map(|l| {
            let weak = Arc::downgrade(l);
            waitgraph::register(WaitOn::Lock { lock: l.id }, weak)
        })
        .collect();
    let handles: Vec<_> = rt.block_on(async {
        (0..2)
            .map(|i| {
                let mine = locks[i].clone();
                let other = locks[1 - i].id;
                task::Builder::new()
                    .name(format!("philosopher-{i}"))
                    .spawn(async move {
                        mine.holder
                            .store(spectrum_rt::task_id().unwrap().as_u64(), SeqCst);
                        WaitForever(other).await;
                    })
            })
            .collect()
    });
    let report = wait_for(|| {
        seen.lock()
            .unwrap()
            .iter()
            .find(|d| matches!(d, Diagnostic::Deadlock { .. }))
            .cloned()
    });
    let Diagnostic::Deadlock { cycle, tasks } = &report else {
        unreachable!()
    };
    assert!(cycle.is_certain());
    assert_eq!(cycle.edges.len(), 2);
    assert_eq!(tasks.len(), 2);
    let text = report.to_string();
    assert!(text.starts_with("deadlock: task #"), "{text}");
    assert!(
        text.contains("philosopher-0") && text.contains("philosopher-1"),
        "{text}"
    );
    assert!(
        text.contains(&format!("lock #{}", 0xdead_0000u64)),
        "{text}"
    );
    // Reported once, however many checks run while it lasts.
    std::thread::sleep(Duration::from_millis(150));
    let count = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|d| matches!(d, Diagnostic::Deadlock { .. }))
        .count();
    assert_eq!(count, 1);
    drop(handles);
    drop(regs);
}

#[test]
fn no_report_without_a_cycle_or_when_the_check_is_off() {
    let seen = Arc::new(Mutex::new(0usize));
    let rt = Runtime::builder()
        .workers(1)
        .detect_deadlocks(None)
        .on_diagnostic({
            let seen = seen.clone();
            move |_| *seen.lock().unwrap() += 1
        })
        .build()
        .unwrap();
    let lock = Arc::new(FakeLock {
        id: 0xbeef_0001,
        holder: AtomicU64::new(0),
    });
    let weak: std::sync::Weak<dyn Holders> = Arc::downgrade(&lock) as _;
    let _reg = waitgraph::register(WaitOn::Lock { lock: lock.id }, weak);
    let h = rt.spawn({
        let lock = lock.clone();
        async move {
            lock.holder
                .store(spectrum_rt::task_id().unwrap().as_u64(), SeqCst);
            WaitForever(lock.id).await;
        }
    });
    // Self-wait through a registered lock: a cycle, but the check is off.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(*seen.lock().unwrap(), 0);
    // The dump still shows it.
    let dump = wait_for(|| Some(rt.dump()).filter(|d| !d.deadlocks.is_empty()));
    assert_eq!(dump.deadlocks[0].edges.len(), 1);
    drop(h);
}

fn wait_for<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "condition not reached in 10 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
