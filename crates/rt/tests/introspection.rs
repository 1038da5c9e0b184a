//! The live-task registry: what `Runtime::live_tasks` reports.

use std::time::Duration;

use spectrum_rt::task::{TaskKind, TaskState};
use spectrum_rt::{time, Runtime};

#[test]
fn live_tasks_report_name_site_parent_state_age_and_polls() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    rt.block_on(async {
        let parent = spectrum_rt::task::Builder::new()
            .name("parent")
            .spawn(async {
                let child = spectrum_rt::task::Builder::new()
                    .name("child")
                    .spawn(async { std::future::pending::<()>().await });
                let child_id = child.id();
                time::sleep(Duration::from_millis(30)).await;
                (child, child_id, spectrum_rt::task_id().unwrap())
            });
        let (child, child_id, parent_id) = parent.await.unwrap();
        let live = spectrum_rt::Handle::current().live_tasks();
        let info = live
            .iter()
            .find(|t| t.id == child_id)
            .expect("child is live");
        assert_eq!(info.name.as_deref(), Some("child"));
        assert_eq!(info.parent, Some(parent_id));
        assert_eq!(info.state, TaskState::Idle);
        assert_eq!(info.kind, TaskKind::Async);
        assert!(info.location.file().ends_with("introspection.rs"));
        assert_eq!(info.polls, 1);
        assert!(info.age >= Duration::from_millis(20), "{:?}", info.age);
        let text = info.to_string();
        assert!(
            text.contains("\"child\"") && text.contains("introspection.rs"),
            "{text}"
        );
        drop(child);
        time::sleep(Duration::from_millis(5)).await;
        assert!(spectrum_rt::Handle::current()
            .live_tasks()
            .iter()
            .all(|t| t.id != child_id));
    });
}

/// Finished tasks leave the registry: once every handle has resolved, nothing is listed. A
/// joiner that is already awake polls the next handle without waiting to be woken, and may see
/// its task complete while the completer is still unlinking it, so this repeats the check.
#[test]
fn a_resolved_handle_never_leaves_its_task_listed() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    for _ in 0..1000 {
        rt.block_on(async {
            let hs: Vec<_> = (0..64)
                .map(|i| spectrum_rt::spawn(async move { i }))
                .collect();
            for h in hs {
                h.await.unwrap();
            }
            let live = spectrum_rt::Handle::current().live_tasks();
            assert!(live.is_empty(), "finished tasks still listed: {live:?}");
        });
    }
}
