//! Fibers in the runtime's task list: kind `Fiber`, the fiber's name, the caller's spawn site,
//! however they were spawned.

use std::time::Duration;

use spectrum_chan::bounded;
use spectrum_rt::task::TaskKind;
use spectrum_rt::{Runtime, TaskInfo, Wait};

fn find(rt: &Runtime, name: &str) -> TaskInfo {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(t) = rt
            .live_tasks()
            .into_iter()
            .find(|t| t.name.as_deref() == Some(name))
        {
            return t;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no live task named {name}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn fibers_are_listed_as_fibers_under_their_names() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let _g = rt.enter();
    let (tx, rx) = bounded::<()>(0);
    let (rx2, rx3) = (rx.clone(), rx.clone());
    let line = line!() + 3;
    let spread = spectrum_fiber::Builder::new()
        .name("spread")
        .spawn(move || rx.recv().wait())
        .unwrap();
    let on = spectrum_fiber::Builder::new()
        .name("on-handle")
        .spawn_on(rt.handle(), move || rx2.recv().wait())
        .unwrap();
    // `spawn_local` needs a worker thread: a fiber spawns it.
    let local = spectrum_fiber::spawn(move || {
        spectrum_fiber::Builder::new()
            .name("local")
            .spawn_local(move || rx3.recv().wait())
            .unwrap()
    })
    .wait()
    .unwrap();

    for name in ["spread", "on-handle", "local"] {
        let t = find(&rt, name);
        assert_eq!(t.kind, TaskKind::Fiber, "{name}");
    }
    let t = find(&rt, "spread");
    assert_eq!(t.location.file(), file!());
    assert_eq!(t.location.line(), line);

    drop(tx);
    for h in [spread, on, local] {
        assert!(h.wait().unwrap().is_err(), "closed, not a value");
    }
}
