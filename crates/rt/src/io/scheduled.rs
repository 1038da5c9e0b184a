//! Per-socket readiness: what the reactor has seen, and who waits for it.
//!
//! # Protocol
//!
//! `readiness` packs the reactor's turn counter (`tick`, upper bits) with readiness flags. The
//! reactor *sets* flags (or-ing in what epoll reported) and stamps its tick; an operation that
//! hits `WouldBlock` *clears* the flags it observed, but only if the tick is still the one it
//! observed: if the reactor reported new readiness in between, clearing would lose that edge (epoll
//! is edge-triggered through mio) and the task would sleep forever.
//!
//! Waiters register under the `waiters` lock and re-check readiness while holding it; the reactor
//! sets readiness before taking the lock to wake them. So a waiter either sees the readiness or is
//! registered before the wake.

use std::task::{Context, Poll, Waker};

use spectrum_sync::atomic::{AtomicUsize, Ordering::*};
use spectrum_sync::Mutex;

pub(crate) const READABLE: usize = 0b0_0001;
pub(crate) const WRITABLE: usize = 0b0_0010;
pub(crate) const READ_CLOSED: usize = 0b0_0100;
pub(crate) const WRITE_CLOSED: usize = 0b0_1000;
pub(crate) const ERROR: usize = 0b1_0000;
const READY_MASK: usize = 0b1_1111;
const TICK_SHIFT: u32 = 16;

/// Which way an operation goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

impl Direction {
    fn mask(self) -> usize {
        match self {
            Direction::Read => READABLE | READ_CLOSED | ERROR,
            Direction::Write => WRITABLE | WRITE_CLOSED | ERROR,
        }
    }
}

/// Readiness observed at one reactor tick.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReadyEvent {
    tick: usize,
    ready: usize,
}

#[derive(Default)]
struct Waiters {
    /// The single `&mut` reader (`AsyncRead`, `read(&mut self)`).
    reader: Option<Waker>,
    /// The single `&mut` writer.
    writer: Option<Waker>,
    /// Waiters through `&self` (UDP sockets, accept): any number, deduplicated by task.
    shared: Vec<(Direction, Waker)>,
}

pub(crate) struct ScheduledIo {
    readiness: AtomicUsize,
    waiters: Mutex<Waiters>,
}

impl ScheduledIo {
    pub(crate) fn new() -> ScheduledIo {
        ScheduledIo {
            readiness: AtomicUsize::new(0),
            waiters: Mutex::new(Waiters::default()),
        }
    }

    /// The reactor reports `ready` at `tick`, then wakes the matching waiters.
    pub(crate) fn set_readiness_and_wake(&self, tick: usize, ready: usize) {
        let stamped = tick << TICK_SHIFT;
        // AcqRel: Release publishes the readiness to waiters (pairs with the Acquire loads in
        // `poll_ready`); the waiters lock below orders it before the wake.
        let _ = self.readiness.fetch_update(AcqRel, Acquire, |curr| {
            Some(stamped | (curr & READY_MASK) | ready)
        });
        let mut woken: [Option<Waker>; 2] = [None, None];
        let mut more = Vec::new();
        {
            let mut w = self.waiters.lock();
            if ready & Direction::Read.mask() != 0 {
                woken[0] = w.reader.take();
            }
            if ready & Direction::Write.mask() != 0 {
                woken[1] = w.writer.take();
            }
            if !w.shared.is_empty() {
                let mut i = 0;
                while i < w.shared.len() {
                    if ready & w.shared[i].0.mask() != 0 {
                        more.push(w.shared.swap_remove(i).1);
                    } else {
                        i += 1;
                    }
                }
            }
        }
        woken
            .into_iter()
            .flatten()
            .chain(more)
            .for_each(Waker::wake);
    }

    /// Ready for `dir`, or registers the waker (as the single `&mut` side when `exclusive`).
    pub(crate) fn poll_ready(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        exclusive: bool,
    ) -> Poll<ReadyEvent> {
        // Acquire: pairs with the Release in `set_readiness_and_wake`.
        let curr = self.readiness.load(Acquire);
        if curr & dir.mask() != 0 {
            return Poll::Ready(ReadyEvent {
                tick: curr >> TICK_SHIFT,
                ready: curr & dir.mask(),
            });
        }
        let mut w = self.waiters.lock();
        let slot = match (exclusive, dir) {
            (true, Direction::Read) => Some(&mut w.reader),
            (true, Direction::Write) => Some(&mut w.writer),
            (false, _) => None,
        };
        match slot {
            Some(slot) => match slot {
                Some(old) if old.will_wake(cx.waker()) => {}
                _ => *slot = Some(cx.waker().clone()),
            },
            None => {
                if !w
                    .shared
                    .iter()
                    .any(|(d, old)| *d == dir && old.will_wake(cx.waker()))
                {
                    w.shared.push((dir, cx.waker().clone()));
                }
            }
        }
        // Re-check under the lock: the reactor sets readiness before it locks to wake.
        // Acquire: as above.
        let curr = self.readiness.load(Acquire);
        if curr & dir.mask() != 0 {
            return Poll::Ready(ReadyEvent {
                tick: curr >> TICK_SHIFT,
                ready: curr & dir.mask(),
            });
        }
        Poll::Pending
    }

    /// An operation hit `WouldBlock` after observing `event`: clear what it saw, unless the
    /// reactor has reported something newer since.
    pub(crate) fn clear_readiness(&self, event: ReadyEvent) {
        // Closed and error states are sticky: once the peer closed, every later read returns.
        let clear = event.ready & (READABLE | WRITABLE);
        // AcqRel: a CAS on the same word the reactor writes; the tick comparison is the point.
        let _ = self.readiness.fetch_update(AcqRel, Acquire, |curr| {
            if curr >> TICK_SHIFT != event.tick {
                None
            } else {
                Some(curr & !clear)
            }
        });
    }

    /// Wakes everyone (deregistration, shutdown) so no waiter sleeps on a dead source.
    pub(crate) fn wake_all(&self) {
        self.set_readiness_and_wake(0, READ_CLOSED | WRITE_CLOSED | ERROR);
    }
}

impl std::fmt::Debug for ScheduledIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Relaxed: a debug snapshot.
        f.debug_struct("ScheduledIo")
            .field("readiness", &self.readiness.load(Relaxed))
            .finish()
    }
}
