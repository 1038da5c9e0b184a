//! The endpoint's life: where its socket goes, with which permissions, how a second runtime is
//! named, how a stale socket is replaced, and that dropping it stops the thread and removes the
//! socket.
#![cfg(unix)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use spectrum_diag::{fetch, fetch_from, serve, socket_path, Format};
use spectrum_rt::task::Builder;
use spectrum_rt::Runtime;

/// Slots are per process: one test serves at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn spectrum_dump_threads() -> usize {
    // Linux shows each thread's name; elsewhere this check is skipped.
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim_end() == "spectrum-dump")
        .count()
}

#[test]
fn dropping_the_endpoint_stops_its_thread_and_removes_the_socket() {
    let _serial = serial();
    let rt = Runtime::builder().workers(1).build().unwrap();
    let before = spectrum_dump_threads();
    let endpoint = serve(rt.handle()).unwrap();
    let path = endpoint.path().to_owned();
    assert!(path.exists());
    // An answer proves the thread runs (so it has its name).
    fetch_from(&path, Format::Text, Duration::from_secs(5)).unwrap();
    if cfg!(target_os = "linux") {
        assert_eq!(spectrum_dump_threads(), before + 1);
    }
    drop(endpoint);
    assert!(!path.exists(), "{} is still there", path.display());
    if cfg!(target_os = "linux") {
        assert_eq!(spectrum_dump_threads(), before);
    }
    let e = fetch(std::process::id(), Format::Text).unwrap_err();
    assert!(
        e.to_string().contains("has no Spectrum dump endpoint"),
        "{e}"
    );
}

#[test]
fn the_socket_is_private_to_its_user() {
    let _serial = serial();
    let rt = Runtime::builder().workers(1).build().unwrap();
    let endpoint = serve(rt.handle()).unwrap();
    let meta = std::fs::metadata(endpoint.path()).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    if std::env::var_os(spectrum_diag::ENV_DIR).is_none() {
        let dir = endpoint.path().parent().unwrap();
        let dmeta = std::fs::symlink_metadata(dir).unwrap();
        assert!(dmeta.is_dir());
        assert_eq!(dmeta.permissions().mode() & 0o777, 0o700);
        assert_eq!(dmeta.uid(), meta.uid());
        assert!(
            dir.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("spectrum-dump-"),
            "{}",
            dir.display()
        );
    }
}

#[test]
fn a_second_runtime_gets_the_next_slot_and_the_first_slot_is_reused() {
    let _serial = serial();
    let pid = std::process::id();
    let (a, b) = (
        Runtime::builder().workers(1).build().unwrap(),
        Runtime::builder().workers(1).build().unwrap(),
    );
    let _ta = Builder::new()
        .name("in-a")
        .spawn_on(std::future::pending::<()>(), a.handle());
    let _tb = Builder::new()
        .name("in-b")
        .spawn_on(std::future::pending::<()>(), b.handle());
    let ea = serve(a.handle()).unwrap();
    let eb = serve(b.handle()).unwrap();
    assert_eq!(ea.path(), socket_path(pid));
    assert_eq!(
        eb.path(),
        socket_path(pid).with_file_name(format!("{pid}-2.sock"))
    );
    let text = fetch(pid, Format::Text).unwrap();
    assert!(
        text.contains("\"in-a\"") && !text.contains("\"in-b\""),
        "{text}"
    );
    let text = fetch_from(eb.path(), Format::Text, Duration::from_secs(5)).unwrap();
    assert!(
        text.contains("\"in-b\"") && !text.contains("\"in-a\""),
        "{text}"
    );
    // Slot 1 frees up: the next endpoint is the one `fetch(pid)` finds.
    drop(ea);
    let eb2 = serve(b.handle()).unwrap();
    assert_eq!(eb2.path(), socket_path(pid));
    let text = fetch(pid, Format::Text).unwrap();
    assert!(text.contains("\"in-b\""), "{text}");
    drop(eb);
    drop(eb2);
}

#[test]
fn a_stale_socket_of_a_dead_process_with_the_same_pid_is_replaced() {
    let _serial = serial();
    let rt = Runtime::builder().workers(1).build().unwrap();
    let path = socket_path(std::process::id());
    // Make sure the directory exists (a first endpoint creates it), then leave a socket file
    // with no listener behind, as a process killed with SIGKILL would.
    drop(serve(rt.handle()).unwrap());
    drop(UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let endpoint = serve(rt.handle()).unwrap();
    assert_eq!(endpoint.path(), path);
    let text = fetch(std::process::id(), Format::Text).unwrap();
    assert!(text.starts_with("Spectrum runtime:"), "{text}");
    drop(endpoint);
    assert!(!path.exists());
}

#[test]
fn a_file_that_is_not_a_socket_is_not_removed() {
    let _serial = serial();
    let rt = Runtime::builder().workers(1).build().unwrap();
    let path = socket_path(std::process::id());
    drop(serve(rt.handle()).unwrap());
    std::fs::write(&path, "not a socket").unwrap();
    let e = serve(rt.handle()).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
    assert!(
        e.to_string()
            .contains("a file that is not a socket is in the way"),
        "{e}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "not a socket");
    std::fs::remove_file(&path).unwrap();
    // The failed serve gave its slot back.
    let endpoint = serve(rt.handle()).unwrap();
    assert_eq!(endpoint.path(), Path::new(&path));
}

#[test]
fn an_endpoint_can_move_to_and_be_shared_with_other_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<spectrum_diag::Endpoint>();
}
