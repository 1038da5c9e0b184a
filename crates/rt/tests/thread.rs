//! Tasks on dedicated OS threads (`task::Builder::spawn_thread`).

use std::time::Duration;

use spectrum_rt::task::{Builder, TaskKind};
use spectrum_rt::{time, Runtime, Wait};

#[test]
fn a_thread_task_is_listed_joinable_and_reports_panics() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    rt.block_on(async {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let h = Builder::new().name("io-thread").spawn_thread(move || {
            rx.recv().unwrap();
            std::thread::current().name().map(str::to_owned)
        });
        time::sleep(Duration::from_millis(5)).await;
        let live = spectrum_rt::Handle::current().live_tasks();
        let t = live.iter().find(|t| t.id == h.id()).expect("listed");
        assert_eq!(t.kind, TaskKind::Thread);
        assert_eq!(t.name.as_deref(), Some("io-thread"));
        tx.send(()).unwrap();
        assert_eq!(h.await.unwrap().as_deref(), Some("io-thread"));

        let e = Builder::new()
            .spawn_thread(|| panic!("thread boom"))
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "task panicked: thread boom");
    });
}

#[test]
fn a_thread_enters_its_runtime() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let h = {
        let _g = rt.enter();
        Builder::new().spawn_thread(|| {
            time::sleep(Duration::from_millis(1)).wait();
            spectrum_rt::spawn(async { 9 }).wait().unwrap()
        })
    };
    assert_eq!(h.wait().unwrap(), 9);
}

#[test]
fn threads_work_without_a_runtime() {
    let h = Builder::new().name("free").spawn_thread(|| 5);
    assert_eq!(h.wait().unwrap(), 5);
    assert!(spectrum_rt::task::live_global_threads()
        .iter()
        .all(|t| t.name.as_deref() != Some("free")));
}
