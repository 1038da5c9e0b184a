//! `thread::spawn`: OS threads as runtime tasks, with the runtime's JoinHandle vocabulary.
#![cfg(not(loom))]

use std::time::Duration;

use spectrum_promise::thread;
use spectrum_promise::Promise;
use spectrum_rt::task::TaskKind;
use spectrum_rt::{Runtime, Wait};

#[test]
fn join_returns_the_value() {
    let h = thread::spawn(|| 6 * 7);
    assert_eq!(h.join().unwrap(), 42);
}

#[test]
fn works_without_a_runtime_and_names_the_os_thread() {
    let h = thread::Builder::new()
        .name("plain")
        .spawn(|| std::thread::current().name().map(str::to_owned));
    assert_eq!(h.name(), Some("plain"));
    assert_eq!(h.join().unwrap().as_deref(), Some("plain"));
}

#[test]
fn a_thread_is_a_listed_task_of_kind_thread_and_enters_the_runtime() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let (gate, open) = Promise::<(), ()>::with_resolver();
    let h = {
        let _enter = rt.enter();
        thread::Builder::new().name("blocking-io").spawn(move || {
            gate.wait().unwrap();
            // The runtime is entered here: timers and spawns work with `.wait()`.
            spectrum_rt::time::sleep(Duration::from_millis(1)).wait();
            spectrum_rt::spawn(async { 5 }).wait().unwrap()
        })
    };
    let info = rt
        .live_tasks()
        .into_iter()
        .find(|t| t.id == h.id())
        .expect("the thread is listed");
    assert_eq!(info.kind, TaskKind::Thread);
    assert_eq!(info.name.as_deref(), Some("blocking-io"));
    open.resolve(()).unwrap();
    assert_eq!(h.join().unwrap(), 5);
    rt.handle()
        .check_no_leaks(Duration::from_secs(1))
        .expect("a joined thread leaves no task behind");
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn async_code_awaits_a_thread_without_blocking() {
    let h = thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(5));
        "done"
    });
    assert!(!h.is_finished());
    assert_eq!(h.await.unwrap(), "done");
}

#[test]
fn a_detached_thread_runs_to_the_end() {
    let (tx, rx) = std::sync::mpsc::channel();
    let h = thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(5));
        let cancelled = thread::is_cancelled();
        tx.send(cancelled).unwrap();
    });
    let token = h.token().clone();
    h.detach();
    assert_eq!(rx.recv(), Ok(false), "detaching does not cancel");
    assert!(!token.is_cancelled());
}

#[test]
fn stack_size_is_honoured() {
    let h = thread::Builder::new()
        .stack_size(4 * 1024 * 1024)
        .spawn(|| {
            // 2 MiB on the stack would overflow a small default stack on some platforms.
            let big = [1u8; 2 * 1024 * 1024];
            big.iter().map(|&b| b as usize).sum::<usize>()
        });
    assert_eq!(h.join().unwrap(), 2 * 1024 * 1024);
}
