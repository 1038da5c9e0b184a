//! What `fetch` says when there is nothing to ask: no such process, a process without an
//! endpoint, a stale socket. (No test here serves, so this process has no endpoint.)
#![cfg(unix)]

use std::io::ErrorKind;
use std::os::unix::net::UnixListener;
use std::time::Duration;

use spectrum_diag::{fetch, fetch_from, socket_path, Format};

#[test]
fn a_pid_with_no_process() {
    // 0 and pids past i32::MAX name groups or every process in kill(2): never one process.
    for pid in [0, u32::MAX, i32::MAX as u32 + 1] {
        let e = fetch(pid, Format::Text).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{pid}");
        assert_eq!(e.to_string(), format!("no process with pid {pid}"));
    }
    // A process that was there and exited (and was reaped).
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let e = fetch(pid, Format::Json).unwrap_err();
    assert_eq!(e.to_string(), format!("no process with pid {pid}"));
}

#[test]
fn a_process_without_an_endpoint() {
    let pid = std::process::id();
    let e = fetch(pid, Format::Text).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!(
            "process {pid} has no Spectrum dump endpoint: run it with SPECTRUM_DUMP=1 or call \
             spectrum_diag::serve ("
        )),
        "{msg}"
    );
    assert!(
        msg.contains(&socket_path(pid).display().to_string()),
        "{msg}"
    );
}

#[test]
fn a_socket_nobody_listens_on() {
    let dir = std::env::temp_dir().join(format!("spectrum-diag-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("stale.sock");
    let _ = std::fs::remove_file(&path);
    drop(UnixListener::bind(&path).unwrap()); // leaves the file, with no listener
    let e = fetch_from(&path, Format::Text, Duration::from_secs(1)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    assert!(e.to_string().contains(&path.display().to_string()), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_listener_that_never_answers_times_out() {
    let dir = std::env::temp_dir().join(format!("spectrum-diag-silent-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("silent.sock");
    let _ = std::fs::remove_file(&path);
    // Bound and listening (the kernel completes the connect), but nobody ever accepts.
    let _listener = UnixListener::bind(&path).unwrap();
    let e = fetch_from(&path, Format::Text, Duration::from_millis(200)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut);
    assert_eq!(
        e.to_string(),
        format!("{} did not answer within 200ms", path.display())
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
