//! The client side: connect, send the request line, read to the end, all under one deadline.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::sys::{self, Process};
use crate::{path, Format, ERROR_PREFIX};

pub(crate) fn fetch(pid: u32, format: Format, timeout: Duration) -> io::Result<String> {
    let process = sys::process(pid);
    if process == Process::Gone {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no process with pid {pid}"),
        ));
    }
    let (dir, _) = path::dump_dir();
    let socket = path::slot_path(&dir, pid, 1);
    let no_endpoint = |detail: &str| {
        let other_user = if process == Process::OtherUser {
            "; it belongs to another user, whose endpoints are not in this user's directory"
        } else {
            ""
        };
        io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "process {pid} has no Spectrum dump endpoint: run it with SPECTRUM_DUMP=1 or \
                 call spectrum_diag::serve ({detail} {}{other_user})",
                socket.display()
            ),
        )
    };
    match fetch_from(&socket, format, timeout) {
        Ok(dump) => Ok(dump),
        Err(e) => Err(match e.kind() {
            io::ErrorKind::NotFound => no_endpoint("no socket at"),
            // A socket file without a listener: left by an earlier process that had this pid.
            io::ErrorKind::ConnectionRefused => no_endpoint("nobody listens on the stale"),
            io::ErrorKind::TimedOut => io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "process {pid} did not answer within {timeout:?} (its spectrum-dump thread may \
                     be busy with another client)"
                ),
            ),
            kind => io::Error::new(kind, format!("process {pid}: {e}")),
        }),
    }
}

pub(crate) fn fetch_from(socket: &Path, format: Format, timeout: Duration) -> io::Result<String> {
    let deadline = Instant::now() + timeout;
    let stream = connect(socket, timeout)?;
    let timed_out = || {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("{} did not answer within {timeout:?}", socket.display()),
        )
    };
    let left = |deadline: Instant| {
        let left = deadline.saturating_duration_since(Instant::now());
        // A zero timeout means "none" to the OS.
        (!left.is_zero()).then_some(left)
    };
    stream.set_write_timeout(Some(left(deadline).ok_or_else(timed_out)?))?;
    (&stream)
        .write_all(format!("{}\n", format.as_str()).as_bytes())
        .map_err(|e| with_path(socket, "sending the request to", e))?;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        stream.set_read_timeout(Some(left(deadline).ok_or_else(timed_out)?))?;
        match (&stream).read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(timed_out())
            }
            Err(e) => return Err(with_path(socket, "reading the dump from", e)),
        }
    }
    let answer = String::from_utf8(answer).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} answered with bytes that are not UTF-8",
                socket.display()
            ),
        )
    })?;
    if let Some(message) = answer.strip_prefix(ERROR_PREFIX) {
        return Err(io::Error::other(message.trim_end().to_owned()));
    }
    if answer.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("{} closed the connection without a dump", socket.display()),
        ));
    }
    Ok(answer)
}

/// Connects under a timeout. A Unix `connect` blocks only while the listener's backlog is
/// full, which std cannot bound; a helper thread can (it is left behind if the timeout hits and
/// ends when the connect does).
fn connect(socket: &Path, timeout: Duration) -> io::Result<UnixStream> {
    let (tx, rx) = mpsc::channel();
    let path = socket.to_owned();
    thread::Builder::new()
        .name("spectrum-dump-connect".into())
        .spawn(move || {
            let _ = tx.send(UnixStream::connect(&path));
        })?;
    match rx.recv_timeout(timeout) {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(match e.kind() {
            io::ErrorKind::NotFound => io::Error::new(
                e.kind(),
                format!("no dump endpoint at {} (no such file)", socket.display()),
            ),
            io::ErrorKind::ConnectionRefused => io::Error::new(
                e.kind(),
                format!(
                    "nobody serves the dump endpoint at {} (a socket left by a process that \
                     exited?)",
                    socket.display()
                ),
            ),
            _ => with_path(socket, "connecting to", e),
        }),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "connecting to {} timed out after {timeout:?}",
                socket.display()
            ),
        )),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(io::Error::other(format!(
            "connecting to {}: the connect thread died",
            socket.display()
        ))),
    }
}

fn with_path(socket: &Path, what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", socket.display()))
}
