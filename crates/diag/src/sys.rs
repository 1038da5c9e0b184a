//! The three system calls std does not wrap: the effective user id, whether a process exists,
//! and `poll(2)` on two descriptors. This module is the crate's only `unsafe` code; each call
//! passes no memory or memory that lives for the whole call.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// The effective user id: the owner of the files this process creates.
pub(crate) fn effective_uid() -> u32 {
    // SAFETY: `geteuid` takes no arguments, touches no memory and always succeeds (POSIX).
    unsafe { libc::geteuid() }
}

/// Whether a process exists, as `kill(pid, 0)` sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Process {
    /// It exists and this process may signal it (same user, or privileged).
    Alive,
    /// It exists but belongs to another user.
    OtherUser,
    /// No process has this pid.
    Gone,
}

/// Looks `pid` up without signalling it.
pub(crate) fn process(pid: u32) -> Process {
    // 0 and pids past `i32::MAX` (negative as `pid_t`) name process groups or every process,
    // never one process: no process has them.
    let Ok(p) = libc::pid_t::try_from(pid) else {
        return Process::Gone;
    };
    if p <= 0 {
        return Process::Gone;
    }
    // SAFETY: signal 0 sends nothing, it only checks that the process exists and may be
    // signalled; `p` is positive, so it names one process, never a group. No memory is passed.
    if unsafe { libc::kill(p, 0) } == 0 {
        return Process::Alive;
    }
    match io::Error::last_os_error().raw_os_error() {
        Some(libc::ESRCH) => Process::Gone,
        Some(libc::EPERM) => Process::OtherUser,
        // Nothing else is documented for signal 0; assume it exists and let the connect tell.
        _ => Process::Alive,
    }
}

/// Blocks until `a` or `b` is readable (or hung up, or in error). Returns which of the two are.
pub(crate) fn wait_readable(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> io::Result<(bool, bool)> {
    let mut fds = [
        libc::pollfd {
            fd: a.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: b.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    loop {
        // SAFETY: `fds` is an initialized array that outlives the call and its length is the
        // one passed; both descriptors stay open while borrowed.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if n >= 0 {
            return Ok((fds[0].revents != 0, fds[1].revents != 0));
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}
