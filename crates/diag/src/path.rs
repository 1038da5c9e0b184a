//! Where endpoints live: one directory per user, one socket per runtime.
//!
//! Invariants:
//!
//! 1. The directory is `$SPECTRUM_DUMP_DIR` when set (non-empty), else
//!    `<temp dir>/spectrum-dump-<euid>`. The default one is created with mode 0700 and used only
//!    when it is a real directory (not a symlink) owned by this user: in a shared `/tmp` anyone
//!    can create a name first, and a socket in someone else's directory could be swapped.
//! 2. Runtime slot 1 of process `pid` is `<pid>.sock`; slot `n > 1` is `<pid>-<n>.sock`. Slots are
//!    handed out lowest-free-first within a process, so the first live endpoint is always the one
//!    `fetch(pid)` finds.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::sys;

/// The environment variable that overrides the endpoints' directory.
pub(crate) const DIR_VAR: &str = crate::ENV_DIR;

/// The directory endpoints go in, and whether the user chose it.
pub(crate) fn dump_dir() -> (PathBuf, bool) {
    match std::env::var_os(DIR_VAR) {
        Some(d) if !d.is_empty() => (PathBuf::from(d), true),
        _ => (
            std::env::temp_dir().join(format!("spectrum-dump-{}", sys::effective_uid())),
            false,
        ),
    }
}

/// The socket of runtime slot `slot` of process `pid`.
pub(crate) fn slot_path(dir: &Path, pid: u32, slot: u32) -> PathBuf {
    if slot <= 1 {
        dir.join(format!("{pid}.sock"))
    } else {
        dir.join(format!("{pid}-{slot}.sock"))
    }
}

/// Creates the directory if needed and checks it is safe to serve from (invariant 1).
pub(crate) fn prepare_dir(dir: &Path, chosen: bool) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.mode(0o700).recursive(chosen);
    match builder.create(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("cannot create the dump directory {}: {e}", dir.display()),
            ))
        }
    }
    if chosen {
        // The user picked it: follow symlinks, only insist on a directory.
        if !fs::metadata(dir)?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{DIR_VAR}={} is not a directory", dir.display()),
            ));
        }
        return Ok(());
    }
    let meta = fs::symlink_metadata(dir)?;
    if !meta.file_type().is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{} is in the way of the dump directory and is not a directory (remove it, or \
                 set {DIR_VAR})",
                dir.display()
            ),
        ));
    }
    let me = sys::effective_uid();
    if meta.uid() != me {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "the dump directory {} belongs to user {}, not to this user ({me}): refusing to \
                 serve from it (set {DIR_VAR} to a directory of your own)",
                dir.display(),
                meta.uid()
            ),
        ));
    }
    if meta.mode() & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Runtime slots in use in this process (invariant 2).
static SLOTS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Takes the lowest free slot.
pub(crate) fn take_slot() -> u32 {
    let mut used = SLOTS.lock().unwrap_or_else(|e| e.into_inner());
    let slot = (1..).find(|n| !used.contains(n)).unwrap_or(1);
    used.push(slot);
    slot
}

/// Gives a slot back.
pub(crate) fn release_slot(slot: u32) {
    let mut used = SLOTS.lock().unwrap_or_else(|e| e.into_inner());
    used.retain(|&n| n != slot);
}
