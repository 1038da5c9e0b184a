//! The I/O reactor: one `mio::Poll` per runtime, parked on by one worker at a time.
//!
//! A registered source's token is the address of its `Arc<ScheduledIo>`. The reactor never owns
//! those `Arc`s while they are registered (the socket does); on deregistration the socket hands its
//! `Arc` to `pending_release`, and the reactor drops the pending ones at the start of its next
//! turn, after every event of the previous turn has been dispatched. So an event carrying a token
//! always finds its `ScheduledIo` alive.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use mio::{Events, Interest, Poll, Registry, Token};
use spectrum_sync::atomic::{AtomicUsize, Ordering::*};
use spectrum_sync::Mutex;

use super::scheduled::{ScheduledIo, ERROR, READABLE, READ_CLOSED, WRITABLE, WRITE_CLOSED};

const WAKE_TOKEN: Token = Token(usize::MAX);

/// The exclusive part: held by the worker that parks on it.
pub(crate) struct IoDriver {
    poll: Poll,
    events: Events,
    tick: usize,
}

/// The shared part: registration and waking the parked reactor.
pub(crate) struct IoHandle {
    registry: Registry,
    waker: mio::Waker,
    pending_release: Mutex<Vec<Arc<ScheduledIo>>>,
    num_pending: AtomicUsize,
}

pub(crate) fn new() -> io::Result<(IoDriver, IoHandle)> {
    let poll = Poll::new()?;
    let registry = poll.registry().try_clone()?;
    let waker = mio::Waker::new(&registry, WAKE_TOKEN)?;
    Ok((
        IoDriver {
            poll,
            events: Events::with_capacity(1024),
            tick: 0,
        },
        IoHandle {
            registry,
            waker,
            pending_release: Mutex::new(Vec::new()),
            num_pending: AtomicUsize::new(0),
        },
    ))
}

impl IoDriver {
    /// Waits up to `timeout` for events and dispatches them. Returns how many sources were
    /// woken.
    pub(crate) fn turn(&mut self, handle: &IoHandle, timeout: Option<Duration>) -> usize {
        // Acquire: pairs with the Release increment in `deregister`.
        if handle.num_pending.load(Acquire) > 0 {
            let released = std::mem::take(&mut *handle.pending_release.lock());
            // Release: see above.
            handle.num_pending.fetch_sub(released.len(), Release);
            drop(released);
        }
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return 0,
            Err(e) => panic!("spectrum: the I/O reactor failed: {e}"),
        }
        self.tick = self.tick.wrapping_add(1) & 0xFFFF_FFFF;
        let mut woken = 0;
        for event in self.events.iter() {
            if event.token() == WAKE_TOKEN {
                continue;
            }
            let mut ready = 0;
            if event.is_readable() {
                ready |= READABLE;
            }
            if event.is_writable() {
                ready |= WRITABLE;
            }
            if event.is_read_closed() {
                ready |= READ_CLOSED;
            }
            if event.is_write_closed() {
                ready |= WRITE_CLOSED;
            }
            if event.is_error() {
                ready |= ERROR;
            }
            let ptr = event.token().0 as *const ScheduledIo;
            // SAFETY: tokens are addresses of `ScheduledIo`s that are registered or pending
            // release, and pending ones are only released at the start of a turn (module docs).
            let io = unsafe { &*ptr };
            io.set_readiness_and_wake(self.tick, ready);
            woken += 1;
        }
        woken
    }
}

impl IoHandle {
    /// Registers `source`; the returned `ScheduledIo` carries its readiness.
    pub(crate) fn register(
        &self,
        source: &mut impl mio::event::Source,
        interest: Interest,
    ) -> io::Result<Arc<ScheduledIo>> {
        let io = Arc::new(ScheduledIo::new());
        let token = Token(Arc::as_ptr(&io) as usize);
        self.registry.register(source, token, interest)?;
        Ok(io)
    }

    /// Deregisters `source` and hands its `ScheduledIo` to the reactor for release.
    pub(crate) fn deregister(&self, source: &mut impl mio::event::Source, io: Arc<ScheduledIo>) {
        // Errors mean the source was never registered or the fd is gone; either way no event
        // will name it again after the next turn.
        let _ = self.registry.deregister(source);
        io.wake_all();
        self.pending_release.lock().push(io);
        // Release: pairs with the Acquire in `turn`.
        self.num_pending.fetch_add(1, Release);
    }

    /// Wakes the reactor if a worker is parked in it.
    pub(crate) fn unpark(&self) {
        if let Err(e) = self.waker.wake() {
            panic!("spectrum: failed to wake the I/O reactor: {e}");
        }
    }
}

impl std::fmt::Debug for IoDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IoDriver")
            .field("tick", &self.tick)
            .finish()
    }
}

impl std::fmt::Debug for IoHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IoHandle").finish_non_exhaustive()
    }
}
