//! The endpoint: a Unix socket answered by one dedicated OS thread.
//!
//! Invariants:
//!
//! 1. Only the `spectrum-dump` thread touches the listener; it never runs on a worker and never
//!    waits on a task, so it answers while every worker is stuck inside a poll. A dump reads the
//!    runtime's registry under its own short locks, the same as `Handle::dump()` from any thread.
//! 2. The thread sleeps in `poll(2)` on two descriptors: the listener, and one end of a socket
//!    pair whose other end the [`Endpoint`] holds and nobody ever writes to. No timeouts, no
//!    busy loop.
//! 3. Connections are answered one at a time, each bounded by [`REQUEST_TIMEOUT`] to read the
//!    request and [`WRITE_TIMEOUT`] to write the answer, so a stalled client delays the next one
//!    by at most their sum, and never wedges the thread.
//!
//! Shutdown, when the `Endpoint` drops:
//!
//! 1. close the endpoint's end of the pair: the thread's end hangs up, `poll` returns, the
//!    thread sees it and exits (closing rather than writing: a write to a pair whose other end
//!    is gone would raise `SIGPIPE`);
//! 2. join the thread (it may finish answering the current client first, see 3 above);
//! 3. remove the socket file, if it is still the one this endpoint bound (same device and
//!    inode), and give the runtime slot back.

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use spectrum_rt::Handle;

use crate::{path, sys, Format, ERROR_PREFIX};

/// How long a client has to send its request line.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// How long writing an answer may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest request line read (`json\n` is five bytes).
const MAX_REQUEST: u64 = 64;

/// A running dump endpoint; see [`serve`](crate::serve). Dropping it stops the `spectrum-dump`
/// thread and removes the socket file; if a client is being answered right then, the drop
/// waits for that answer (at most a few seconds: the request and write timeouts).
#[derive(Debug)]
pub struct Endpoint {
    path: PathBuf,
    slot: u32,
    /// (device, inode) of the socket file this endpoint bound.
    file_id: (u64, u64),
    /// Our end of the stop pair: closing it wakes the thread for good.
    stop: Option<UnixStream>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Endpoint {
    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        // Step 1.
        drop(self.stop.take());
        // Step 2.
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        // Step 3: never remove a file someone else has put there since.
        if let Ok(m) = fs::symlink_metadata(&self.path) {
            if (m.dev(), m.ino()) == self.file_id {
                let _ = fs::remove_file(&self.path);
            }
        }
        path::release_slot(self.slot);
    }
}

pub(crate) fn serve(handle: &Handle) -> io::Result<Endpoint> {
    let (dir, chosen) = path::dump_dir();
    path::prepare_dir(&dir, chosen)?;
    let slot = path::take_slot();
    let path = path::slot_path(&dir, std::process::id(), slot);
    match start(handle, path, slot) {
        Ok(endpoint) => Ok(endpoint),
        Err(e) => {
            path::release_slot(slot);
            Err(e)
        }
    }
}

fn start(handle: &Handle, path: PathBuf, slot: u32) -> io::Result<Endpoint> {
    let listener = bind(&path)?;
    let cleanup = |e: io::Error| {
        let _ = fs::remove_file(&path);
        e
    };
    // The directory already keeps other users out; this keeps them out of a chosen one too.
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).map_err(cleanup)?;
    let meta = fs::symlink_metadata(&path).map_err(cleanup)?;
    // Nonblocking: a client that gives up between `poll` and `accept` must not block the thread.
    listener.set_nonblocking(true).map_err(cleanup)?;
    let (stop, stop_rx) = UnixStream::pair().map_err(cleanup)?;
    let handle = handle.clone();
    let thread_path = path.clone();
    let thread = thread::Builder::new()
        .name("spectrum-dump".into())
        .spawn(move || run(&listener, &stop_rx, &handle, &thread_path))
        .map_err(|e| {
            cleanup(io::Error::new(
                e.kind(),
                format!("cannot start the spectrum-dump thread: {e}"),
            ))
        })?;
    Ok(Endpoint {
        path,
        slot,
        file_id: (meta.dev(), meta.ino()),
        stop: Some(stop),
        thread: Some(thread),
    })
}

/// Binds `path`, replacing a socket left behind by a dead process.
fn bind(path: &Path) -> io::Result<UnixListener> {
    let context = |e: io::Error| {
        let hint = if e.kind() == io::ErrorKind::InvalidInput {
            format!(
                " (socket paths are limited to about 100 bytes: set {} to a shorter directory)",
                path::DIR_VAR
            )
        } else {
            String::new()
        };
        io::Error::new(
            e.kind(),
            format!(
                "cannot bind the dump endpoint at {}: {e}{hint}",
                path.display()
            ),
        )
    };
    match UnixListener::bind(path) {
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {}
        other => return other.map_err(context),
    }
    // A file has our name. This slot is ours in this process and no two live processes share a
    // pid, so it was left by a dead process that had this pid; unless another PID namespace
    // shares the directory, which a connect tells.
    let meta = fs::symlink_metadata(path).map_err(context)?;
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "cannot bind the dump endpoint at {}: a file that is not a socket is in the way",
                path.display()
            ),
        ));
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "cannot bind the dump endpoint at {}: a live process serves it (another PID \
                 namespace sharing the directory?)",
                path.display()
            ),
        )),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            fs::remove_file(path).map_err(context)?;
            UnixListener::bind(path).map_err(context)
        }
        Err(e) => Err(context(e)),
    }
}

/// The `spectrum-dump` thread.
fn run(listener: &UnixListener, stop: &UnixStream, handle: &Handle, path: &Path) {
    loop {
        let (incoming, stopped) = match sys::wait_readable(listener.as_fd(), stop.as_fd()) {
            Ok(r) => r,
            Err(e) => {
                eprintln!(
                    "spectrum-dump: the endpoint {} stopped: {e}",
                    path.display()
                );
                return;
            }
        };
        if stopped {
            return;
        }
        if !incoming {
            continue;
        }
        match listener.accept() {
            Ok((stream, _)) => answer(stream, handle),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::Interrupted
                        | io::ErrorKind::ConnectionAborted
                ) => {}
            // Out of descriptors or memory: the connection stays queued and `poll` would return at
            // once, so back off instead of spinning.
            Err(_) => thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Reads one request line and writes the answer (errors start with [`ERROR_PREFIX`]).
fn answer(stream: UnixStream, handle: &Handle) {
    // BSDs hand out accepted sockets with the listener's O_NONBLOCK.
    if stream.set_nonblocking(false).is_err()
        || stream.set_read_timeout(Some(REQUEST_TIMEOUT)).is_err()
        || stream.set_write_timeout(Some(WRITE_TIMEOUT)).is_err()
    {
        return;
    }
    let body = match read_request(&stream) {
        Ok(format) => render(handle, format),
        Err(message) => format!("{ERROR_PREFIX}{message}\n"),
    };
    let _ = (&stream).write_all(body.as_bytes());
    // Dropping `stream` closes the connection: the client reads to the end.
}

fn read_request(stream: &UnixStream) -> Result<Format, String> {
    let mut line = Vec::new();
    match BufReader::new(stream.take(MAX_REQUEST)).read_until(b'\n', &mut line) {
        Ok(_) => {}
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            return Err(format!(
                "no request line within {REQUEST_TIMEOUT:?} (send `text` or `json`, then a newline)"
            ))
        }
        Err(e) => return Err(format!("reading the request: {e}")),
    }
    let request = String::from_utf8_lossy(&line);
    match request.trim() {
        "" | "text" => Ok(Format::Text),
        "json" => Ok(Format::Json),
        other => Err(format!(
            "unknown request {other:?}: send `text` or `json`, then a newline"
        )),
    }
}

fn render(handle: &Handle, format: Format) -> String {
    if handle.is_shutdown() {
        return format!("{ERROR_PREFIX}runtime has shut down\n");
    }
    // A bug in the dump must not take the endpoint down with it.
    catch_unwind(AssertUnwindSafe(|| {
        let dump = handle.dump();
        match format {
            Format::Text => dump.to_string(),
            Format::Json => {
                let mut json = dump.to_json();
                json.push('\n');
                json
            }
        }
    }))
    .unwrap_or_else(|_| format!("{ERROR_PREFIX}the dump panicked (see the program's stderr)\n"))
}
