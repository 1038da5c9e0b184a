//! Task dumps of a running Spectrum program: a local endpoint served by a dedicated thread, and
//! the client that fetches the dump as text or JSON.
//!
//! [`Handle::dump`] shows the tree of tasks and scopes, what each task waits on, lost wakers and
//! sampled poll times, but only to code inside the program. This crate gets it out of a program
//! that runs, or hangs: [`serve`] opens a Unix socket, answered by one OS thread of its own
//! (never a runtime task, so it answers while every worker is stuck in a blocking poll), and
//! [`fetch`] (or `spectrum dump <pid>`) asks it for the dump.
//!
//! ```
//! # #[cfg(unix)] {
//! use std::time::Duration;
//! use spectrum_diag::Format;
//! use spectrum_rt::{task::Builder, time, Runtime};
//!
//! let rt = Runtime::builder().workers(2).build().unwrap();
//! let _sleeper = Builder::new()
//!     .name("sleeper")
//!     .spawn_on(async { time::sleep(Duration::from_secs(60)).await }, rt.handle());
//!
//! let endpoint = spectrum_diag::serve(rt.handle()).unwrap();
//! // What `spectrum dump <pid>` does from another process:
//! let text = spectrum_diag::fetch(std::process::id(), Format::Text).unwrap();
//! assert!(text.contains("\"sleeper\""), "{text}");
//! let json = spectrum_diag::fetch(std::process::id(), Format::Json).unwrap();
//! assert!(json.contains("\"name\":\"sleeper\""), "{json}");
//!
//! drop(endpoint); // stops the thread, removes the socket
//! # }
//! ```
//!
//! # Where the endpoint lives
//!
//! `$SPECTRUM_DUMP_DIR/<pid>.sock` when `SPECTRUM_DUMP_DIR` is set (an absolute path; the client
//! must see the same value), else `<temp dir>/spectrum-dump-<euid>/<pid>.sock`, in a directory
//! created with mode 0700 and refused if another user owns it. A second runtime of the same
//! process served at the same time gets `<pid>-2.sock`, a third `<pid>-3.sock` (the lowest free
//! number), reachable with [`fetch_from`]; [`fetch`] asks the first.
//!
//! # Protocol
//!
//! The client connects and writes one line: `text`, `json`, or an empty line (or nothing, just
//! shutting its write half) for text. The server writes the dump (the text tree, or
//! [`Dump::to_json`](spectrum_rt::dump::Dump::to_json) and a newline) and closes the connection.
//! An answer that starts with `error: ` is an error message instead (an unknown request, a
//! runtime that has shut down). Anything that speaks Unix sockets can ask:
//! `echo json | socat - UNIX-CONNECT:/tmp/spectrum-dump-1000/1234.sock`.
//!
//! Unix only: elsewhere every function returns [`io::ErrorKind::Unsupported`].
#![deny(unsafe_code)]

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use spectrum_rt::Handle;

#[cfg(unix)]
mod client;
#[cfg(unix)]
mod path;
#[cfg(unix)]
mod server;
// The crate's only `unsafe`: `geteuid`, `kill(pid, 0)` and `poll`, which std does not wrap.
#[cfg(unix)]
#[allow(unsafe_code)]
mod sys;
#[cfg(not(unix))]
mod unsupported;

#[cfg(unix)]
pub use server::Endpoint;
#[cfg(not(unix))]
pub use unsupported::Endpoint;

/// The environment variable that turns the endpoint on for [`serve_from_env`].
pub const ENV_ENABLE: &str = "SPECTRUM_DUMP";
/// The environment variable that overrides the endpoints' directory.
pub const ENV_DIR: &str = "SPECTRUM_DUMP_DIR";
/// How long [`fetch`] waits for the connection and the whole answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// What an answer that is an error message starts with.
#[cfg_attr(not(unix), allow(dead_code))]
const ERROR_PREFIX: &str = "error: ";

/// The form of a dump.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Format {
    /// The tree `Dump`'s `Display` prints.
    #[default]
    Text,
    /// [`Dump::to_json`](spectrum_rt::dump::Dump::to_json): an object with `workers`, `tasks`,
    /// `scopes`, `injected`.
    Json,
}

impl Format {
    /// The request line that asks for this form (without its newline): `text` or `json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
        }
    }
}

/// Serves dumps of `handle`'s runtime on a Unix socket at [`socket_path`] of this process (or
/// `<pid>-<n>.sock` for the n-th runtime served at once), from a dedicated thread named
/// `spectrum-dump`, until the [`Endpoint`] drops.
///
/// A socket left at that path by a dead process that had the same pid is replaced.
///
/// The endpoint keeps a [`Handle`] (the runtime offers no weaker reference): after the runtime
/// shuts down, it answers "runtime has shut down", and the runtime's bookkeeping stays allocated
/// until the endpoint drops.
///
/// # Errors
///
/// If the directory cannot be created or is owned by another user, the socket cannot be bound
/// (a path too long, a file that is not a socket in the way, a live process serving it from
/// another PID namespace), or the thread cannot start. [`io::ErrorKind::Unsupported`] off Unix.
pub fn serve(handle: &Handle) -> io::Result<Endpoint> {
    #[cfg(unix)]
    return server::serve(handle);
    #[cfg(not(unix))]
    return unsupported::serve(handle);
}

/// [`serve`]s only when the environment variable `SPECTRUM_DUMP` is `1` (or `true`, `yes`,
/// `on`); returns `Ok(None)` when it is unset, empty, `0`, `false`, `no` or `off`. A program
/// calls it once at start so that an operator can opt in without a rebuild:
///
/// ```no_run
/// let rt = spectrum_rt::Runtime::new().unwrap();
/// let _endpoint = spectrum_diag::serve_from_env(rt.handle()).unwrap();
/// // ... SPECTRUM_DUMP=1 ./program & spectrum dump $!
/// ```
///
/// # Errors
///
/// Those of [`serve`], and [`io::ErrorKind::InvalidInput`] for any other value of the variable.
pub fn serve_from_env(handle: &Handle) -> io::Result<Option<Endpoint>> {
    let value = std::env::var_os(ENV_ENABLE).unwrap_or_default();
    let value = value.to_string_lossy();
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "0" | "false" | "no" | "off" => Ok(None),
        "1" | "true" | "yes" | "on" => serve(handle).map(Some),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{ENV_ENABLE}={value:?}: expected 1 (serve task dumps) or 0"),
        )),
    }
}

/// The socket [`fetch`] connects to for process `pid`: `$SPECTRUM_DUMP_DIR/<pid>.sock`, or
/// `<temp dir>/spectrum-dump-<euid>/<pid>.sock`.
pub fn socket_path(pid: u32) -> PathBuf {
    #[cfg(unix)]
    {
        let (dir, _) = path::dump_dir();
        path::slot_path(&dir, pid, 1)
    }
    #[cfg(not(unix))]
    unsupported::socket_path(pid)
}

/// Fetches a dump from the first runtime that process `pid` serves (see [`serve`]), waiting at
/// most [`DEFAULT_TIMEOUT`].
///
/// # Errors
///
/// - [`io::ErrorKind::NotFound`]: no process has this pid, or it serves no endpoint ("process
///   1234 has no Spectrum dump endpoint: run it with SPECTRUM_DUMP=1 or call
///   spectrum_diag::serve");
/// - [`io::ErrorKind::TimedOut`]: no full answer in time;
/// - [`io::ErrorKind::Other`]: the endpoint answered with an error ("runtime has shut down");
/// - [`io::ErrorKind::Unsupported`] off Unix; other I/O errors, with the socket's path.
pub fn fetch(pid: u32, format: Format) -> io::Result<String> {
    #[cfg(unix)]
    return client::fetch(pid, format, DEFAULT_TIMEOUT);
    #[cfg(not(unix))]
    return unsupported::fetch(pid, format);
}

/// Fetches a dump from the endpoint at `socket` (for instance [`Endpoint::path`], or a second
/// runtime's `<pid>-2.sock`), waiting at most `timeout` for the connection and the answer.
///
/// # Errors
///
/// As [`fetch`], with the OS's errors for the socket (`NotFound`, `ConnectionRefused`,
/// `PermissionDenied`) and the path in the message.
pub fn fetch_from(socket: &Path, format: Format, timeout: Duration) -> io::Result<String> {
    #[cfg(unix)]
    return client::fetch_from(socket, format, timeout);
    #[cfg(not(unix))]
    return unsupported::fetch_from(socket, format, timeout);
}
