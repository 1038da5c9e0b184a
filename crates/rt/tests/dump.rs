//! Task dumps: the tree of tasks and scopes, what each waits on, lost wakers, JSON.

use std::future::pending;
use std::io;
use std::time::Duration;

use spectrum_rt::dump::WorkerActivity;
use spectrum_rt::scope::{scope, BoxError};
use spectrum_rt::task::{Builder, TaskState, WaitOn};
use spectrum_rt::{time, Runtime};

#[test]
fn a_dump_shows_the_task_tree_scopes_and_waits() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let handle = rt.handle().clone();
    rt.block_on(async move {
        let (tx, rx) = std::sync::mpsc::channel();
        let parent = Builder::new().name("parent").spawn(async move {
            let sleeper = Builder::new()
                .name("sleeper")
                .spawn(time::sleep(Duration::from_secs(30)));
            let r = scope(|s| async move {
                s.spawn_named("scoped-a", async {
                    pending::<Result<(), io::Error>>().await
                })?;
                s.spawn_named("scoped-b", async {
                    pending::<Result<(), io::Error>>().await
                })?;
                tx.send(s.id()).unwrap();
                sleeper.await.unwrap();
                Ok::<_, BoxError>(())
            })
            .await;
            r.unwrap();
        });
        let scope_id = rx.recv().unwrap();
        time::sleep(Duration::from_millis(50)).await;
        let dump = handle.dump();
        let text = dump.to_string();
        // The tree: parent, its scope, the scope's members, the sleeper under the parent.
        assert!(
            text.contains(&format!("scope #{scope_id} [fail-fast]")),
            "{text}"
        );
        assert!(
            text.contains("\"scoped-a\"") && text.contains("\"scoped-b\""),
            "{text}"
        );
        let parent_line = text.lines().position(|l| l.contains("\"parent\"")).unwrap();
        let scope_line = text
            .lines()
            .position(|l| l.contains(&format!("scope #{scope_id}")))
            .unwrap();
        assert!(scope_line > parent_line, "{text}");
        let sleeper = dump
            .tasks
            .iter()
            .find(|t| t.info.name.as_deref() == Some("sleeper"))
            .unwrap();
        assert!(matches!(
            sleeper.info.waiting_on,
            Some(WaitOn::Timer { .. })
        ));
        let left = sleeper.timer_in.unwrap();
        assert!(
            left > Duration::from_secs(25) && left <= Duration::from_secs(30),
            "{left:?}"
        );
        assert!(text.contains("waiting on a timer"), "{text}");
        // The body of the scope awaits the sleeper's handle.
        let p = dump
            .tasks
            .iter()
            .find(|t| t.info.name.as_deref() == Some("parent"))
            .unwrap();
        assert!(
            matches!(p.info.waiting_on, Some(WaitOn::Join { .. })),
            "{:?}",
            p.info.waiting_on
        );
        let a = dump
            .tasks
            .iter()
            .find(|t| t.info.name.as_deref() == Some("scoped-a"))
            .unwrap();
        assert_eq!(a.info.scope, Some(scope_id));
        assert_eq!(a.info.state, TaskState::Idle);
        // Workers: two, idle or busy, none polling a stuck task.
        assert_eq!(dump.workers.len(), 2);
        assert!(dump
            .workers
            .iter()
            .all(|w| !matches!(w.activity, WorkerActivity::Stopped)));
        // JSON for tools.
        let json = dump.to_json();
        assert!(
            json.starts_with("{\"workers\":[") && json.ends_with("]}"),
            "{json}"
        );
        assert!(
            json.contains("\"name\":\"scoped-a\"")
                && json.contains(&format!("\"scope\":{scope_id}"))
        );
        parent.cancel();
        let _ = parent.await;
    });
}

#[test]
fn a_task_nothing_can_wake_is_flagged_as_a_lost_waker() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    rt.block_on(async {
        // Pending forever, and it never stored its waker anywhere.
        let lost = Builder::new().name("forgotten").spawn(pending::<()>());
        // This one keeps its waker in a slot, so it could be woken.
        let (tx, rx) = std::sync::mpsc::channel();
        let parked = Builder::new()
            .name("parked")
            .spawn(std::future::poll_fn(move |cx| {
                let _ = tx.send(cx.waker().clone());
                std::task::Poll::<()>::Pending
            }));
        let _waker = rx.recv().unwrap();
        time::sleep(Duration::from_millis(10)).await;
        let dump = spectrum_rt::Handle::current().dump();
        let flagged: Vec<_> = dump
            .lost_wakers()
            .map(|t| t.info.name.clone().unwrap())
            .collect();
        assert_eq!(flagged, ["forgotten"]);
        assert!(dump.to_string().contains("LOST WAKER"));
        drop((lost, parked));
    });
}

#[test]
fn a_long_poll_is_sampled_into_the_dump() {
    let rt = Runtime::builder()
        .workers(1)
        .on_diagnostic(|_| {})
        .build()
        .unwrap();
    let handle = rt.handle().clone();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let busy = rt.spawn(async move {
        // Busy for ~60 ms in one poll, then waits so it is still alive for the dump.
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(60) {
            std::hint::spin_loop();
        }
        let _keep = tx;
        pending::<()>().await
    });
    std::thread::sleep(Duration::from_millis(100));
    let dump = handle.dump();
    let t = dump.tasks.iter().find(|t| t.info.id == busy.id()).unwrap();
    let polling = t.polling.unwrap();
    assert!(polling >= Duration::from_millis(20), "sampled {polling:?}");
    assert!(t.longest_poll.unwrap() >= Duration::from_millis(20));
    drop(busy);
    let _ = rx.recv();
}
