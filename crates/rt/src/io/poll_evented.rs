//! `PollEvented`: a mio source registered with the reactor, plus readiness-driven I/O.

use std::io;
use std::sync::Arc;
use std::task::{Context, Poll};

use mio::Interest;

use super::scheduled::{Direction, ScheduledIo};
use crate::sched::Handle;

pub(crate) struct PollEvented<E: mio::event::Source + std::os::fd::AsRawFd> {
    io: Option<E>,
    scheduled: Option<Arc<ScheduledIo>>,
    handle: Handle,
}

impl<E: mio::event::Source + std::os::fd::AsRawFd> PollEvented<E> {
    /// Registers `io` with the current runtime's reactor.
    pub(crate) fn new(mut io: E, interest: Interest) -> io::Result<Self> {
        let handle = Handle::try_current().map_err(|e| io::Error::other(e.to_string()))?;
        let scheduled = handle.shared().driver.io.register(&mut io, interest)?;
        Ok(PollEvented {
            io: Some(io),
            scheduled: Some(scheduled),
            handle,
        })
    }

    pub(crate) fn get_ref(&self) -> &E {
        self.io.as_ref().expect("I/O source taken")
    }

    fn scheduled(&self) -> &ScheduledIo {
        self.scheduled.as_deref().expect("I/O source taken")
    }

    /// Readiness for `dir`; when pending, notes the socket as what the task waits on.
    fn ready(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        exclusive: bool,
    ) -> Poll<super::scheduled::ReadyEvent> {
        let r = self.scheduled().poll_ready(cx, dir, exclusive);
        if r.is_pending() {
            let fd = self.get_ref().as_raw_fd() as u64;
            crate::task::note_wait(crate::task::WaitOn::Io { fd });
        }
        r
    }

    /// Polls readiness for `dir`.
    pub(crate) fn poll_ready(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        exclusive: bool,
    ) -> Poll<io::Result<()>> {
        let coop = std::task::ready!(crate::coop::poll_proceed(cx));
        let _ = std::task::ready!(self.ready(cx, dir, exclusive));
        coop.made_progress();
        Poll::Ready(Ok(()))
    }

    /// Runs `op` when the source is ready for `dir`, retrying after `WouldBlock` (which clears
    /// the readiness it observed).
    pub(crate) fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        exclusive: bool,
        mut op: impl FnMut(&E) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let coop = std::task::ready!(crate::coop::poll_proceed(cx));
        loop {
            let event = std::task::ready!(self.ready(cx, dir, exclusive));
            match op(self.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.scheduled().clear_readiness(event);
                }
                res => {
                    coop.made_progress();
                    return Poll::Ready(res);
                }
            }
        }
    }

    /// Like [`poll_io`](Self::poll_io) for a byte-stream transfer of `len` bytes: a short
    /// transfer (`0 < n < len`) means the socket buffer was drained (read) or filled (write), so
    /// readiness is cleared at once instead of after the `WouldBlock` the next call would hit —
    /// one system call saved per message (edge-triggered readiness makes this safe: a new edge
    /// comes with a new reactor tick, which the clear does not erase).
    pub(crate) fn poll_transfer(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        len: usize,
        mut op: impl FnMut(&E) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        let coop = std::task::ready!(crate::coop::poll_proceed(cx));
        loop {
            let event = std::task::ready!(self.ready(cx, dir, true));
            match op(self.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.scheduled().clear_readiness(event);
                }
                Ok(n) => {
                    if n > 0 && n < len {
                        self.scheduled().clear_readiness(event);
                    }
                    coop.made_progress();
                    return Poll::Ready(Ok(n));
                }
                res => {
                    coop.made_progress();
                    return Poll::Ready(res);
                }
            }
        }
    }

    /// Runs `op` once without waiting: `WouldBlock` clears readiness and is returned as is.
    pub(crate) fn try_io<R>(
        &self,
        dir: Direction,
        op: impl FnOnce(&E) -> io::Result<R>,
    ) -> io::Result<R> {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        match self.scheduled().poll_ready(&mut cx, dir, false) {
            Poll::Ready(event) => match op(self.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.scheduled().clear_readiness(event);
                    Err(e)
                }
                res => res,
            },
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl<E: mio::event::Source + std::os::fd::AsRawFd> Drop for PollEvented<E> {
    fn drop(&mut self) {
        if let (Some(mut io), Some(s)) = (self.io.take(), self.scheduled.take()) {
            self.handle.shared().driver.io.deregister(&mut io, s);
        }
    }
}

impl<E: mio::event::Source + std::os::fd::AsRawFd + std::fmt::Debug> std::fmt::Debug
    for PollEvented<E>
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PollEvented").field("io", &self.io).finish()
    }
}
