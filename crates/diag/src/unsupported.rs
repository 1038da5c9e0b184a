//! Off Unix: no endpoint (Windows has `AF_UNIX` too, but no `poll` on it through std nor a
//! per-user temp directory convention; not done yet).

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use spectrum_rt::Handle;

use crate::Format;

/// A running dump endpoint (never made off Unix).
#[derive(Debug)]
pub struct Endpoint {
    path: PathBuf,
}

impl Endpoint {
    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn unsupported() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "Spectrum dump endpoints need Unix domain sockets: this platform is not supported yet",
    )
}

pub(crate) fn serve(_: &Handle) -> io::Result<Endpoint> {
    Err(unsupported())
}

pub(crate) fn socket_path(pid: u32) -> PathBuf {
    std::env::var_os(crate::ENV_DIR)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("spectrum-dump"))
        .join(format!("{pid}.sock"))
}

pub(crate) fn fetch(_: u32, _: Format) -> io::Result<String> {
    Err(unsupported())
}

pub(crate) fn fetch_from(_: &Path, _: Format, _: Duration) -> io::Result<String> {
    Err(unsupported())
}
