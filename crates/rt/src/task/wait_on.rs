//! What a task is waiting on: a note the primitives leave in the task for dumps.
//!
//! When a Spectrum primitive returns `Pending` inside a task, it calls [`note_wait`] with what
//! it waits on (a channel and which side, a lock, a timer and its deadline, another task's
//! output...). The note is one word in the task header, written with a relaxed store (the task
//! is the only writer: it runs on one thread at a time), cleared when the task is polled again,
//! and read by `Runtime::live_tasks()` and the task dump. Outside a task it does nothing, so
//! primitives call it unconditionally and stay usable under other executors.

use std::fmt;
use std::time::Duration;

use spectrum_sync::atomic::Ordering::Relaxed;

/// What a task waits on, as far as Spectrum's primitives know.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WaitOn {
    /// Receiving from a channel.
    ChannelRecv {
        /// The channel's id.
        channel: u64,
    },
    /// Sending on a channel (it is full, or a rendezvous has no receiver yet).
    ChannelSend {
        /// The channel's id.
        channel: u64,
    },
    /// Acquiring a lock (mutex or read-write lock).
    Lock {
        /// The lock's id.
        lock: u64,
    },
    /// Acquiring a semaphore permit.
    Semaphore {
        /// The semaphore's id.
        semaphore: u64,
    },
    /// A notification, barrier, once-cell or watch/broadcast change.
    Signal {
        /// The primitive's id.
        id: u64,
    },
    /// A timer.
    Timer {
        /// The deadline, in the runtime clock's milliseconds.
        deadline_ms: u64,
    },
    /// Another task's output (awaiting its `JoinHandle`).
    Join {
        /// The awaited task's id.
        task: u64,
    },
    /// A promise being resolved.
    Promise {
        /// The promise's id.
        promise: u64,
    },
    /// An actor waiting for messages in its own mailbox (idle).
    Mailbox {
        /// The actor's id.
        actor: u64,
    },
    /// Another actor's doing: its reply to an `ask`, room in its full mailbox, or its exit.
    Reply {
        /// The actor's id.
        actor: u64,
    },
    /// Socket readiness.
    Io {
        /// The file descriptor.
        fd: u64,
    },
    /// A `select` over several channel operations (the wait-for graph follows none of them: a
    /// note has room for one object).
    Select {
        /// How many cases the select waits on.
        cases: u64,
    },
}

const PAYLOAD_BITS: u32 = 56;
const PAYLOAD_MASK: u64 = (1 << PAYLOAD_BITS) - 1;

impl WaitOn {
    pub(crate) fn pack(self) -> u64 {
        let (kind, payload) = match self {
            WaitOn::ChannelRecv { channel } => (1, channel),
            WaitOn::ChannelSend { channel } => (2, channel),
            WaitOn::Lock { lock } => (3, lock),
            WaitOn::Semaphore { semaphore } => (4, semaphore),
            WaitOn::Signal { id } => (5, id),
            WaitOn::Timer { deadline_ms } => (6, deadline_ms),
            WaitOn::Join { task } => (7, task),
            WaitOn::Promise { promise } => (8, promise),
            WaitOn::Mailbox { actor } => (9, actor),
            WaitOn::Io { fd } => (10, fd),
            WaitOn::Reply { actor } => (11, actor),
            WaitOn::Select { cases } => (12, cases),
        };
        (kind << PAYLOAD_BITS) | (payload & PAYLOAD_MASK)
    }

    pub(crate) fn unpack(word: u64) -> Option<WaitOn> {
        let p = word & PAYLOAD_MASK;
        Some(match word >> PAYLOAD_BITS {
            1 => WaitOn::ChannelRecv { channel: p },
            2 => WaitOn::ChannelSend { channel: p },
            3 => WaitOn::Lock { lock: p },
            4 => WaitOn::Semaphore { semaphore: p },
            5 => WaitOn::Signal { id: p },
            6 => WaitOn::Timer { deadline_ms: p },
            7 => WaitOn::Join { task: p },
            8 => WaitOn::Promise { promise: p },
            9 => WaitOn::Mailbox { actor: p },
            10 => WaitOn::Io { fd: p },
            11 => WaitOn::Reply { actor: p },
            12 => WaitOn::Select { cases: p },
            _ => return None,
        })
    }

    /// The id of the object waited on (channel, lock, task, ...), for wait-for graphs; `None` for
    /// timers and selects.
    pub fn object(&self) -> Option<u64> {
        match *self {
            WaitOn::Timer { .. } | WaitOn::Select { .. } => None,
            WaitOn::ChannelRecv { channel } | WaitOn::ChannelSend { channel } => Some(channel),
            WaitOn::Lock { lock } => Some(lock),
            WaitOn::Semaphore { semaphore } => Some(semaphore),
            WaitOn::Signal { id } => Some(id),
            WaitOn::Join { task } => Some(task),
            WaitOn::Promise { promise } => Some(promise),
            WaitOn::Mailbox { actor } | WaitOn::Reply { actor } => Some(actor),
            WaitOn::Io { fd } => Some(fd),
        }
    }

    /// A stable name for the kind of wait (`"channel_recv"`, `"lock"`, `"timer"`, ...), for tools.
    pub fn kind_name(&self) -> &'static str {
        match self {
            WaitOn::ChannelRecv { .. } => "channel_recv",
            WaitOn::ChannelSend { .. } => "channel_send",
            WaitOn::Lock { .. } => "lock",
            WaitOn::Semaphore { .. } => "semaphore",
            WaitOn::Signal { .. } => "signal",
            WaitOn::Timer { .. } => "timer",
            WaitOn::Join { .. } => "join",
            WaitOn::Promise { .. } => "promise",
            WaitOn::Mailbox { .. } => "mailbox",
            WaitOn::Reply { .. } => "reply",
            WaitOn::Io { .. } => "io",
            WaitOn::Select { .. } => "select",
        }
    }

    /// A timer's remaining time given the runtime clock's `now_ms`.
    pub fn remaining(&self, now_ms: u64) -> Option<Duration> {
        match *self {
            WaitOn::Timer { deadline_ms } => {
                Some(Duration::from_millis(deadline_ms.saturating_sub(now_ms)))
            }
            _ => None,
        }
    }
}

impl fmt::Display for WaitOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitOn::ChannelRecv { channel } => write!(f, "recv on channel #{channel}"),
            WaitOn::ChannelSend { channel } => write!(f, "send on channel #{channel}"),
            WaitOn::Lock { lock } => write!(f, "lock #{lock}"),
            WaitOn::Semaphore { semaphore } => write!(f, "semaphore #{semaphore}"),
            WaitOn::Signal { id } => write!(f, "signal #{id}"),
            WaitOn::Timer { deadline_ms } => write!(f, "timer (deadline at {deadline_ms} ms)"),
            WaitOn::Join { task } => write!(f, "task #{task}"),
            WaitOn::Promise { promise } => write!(f, "promise #{promise}"),
            WaitOn::Mailbox { actor } => write!(f, "its mailbox (actor #{actor})"),
            WaitOn::Reply { actor } => write!(f, "actor #{actor}"),
            WaitOn::Io { fd } => write!(f, "socket fd {fd}"),
            WaitOn::Select { cases } => write!(f, "select over {cases} cases"),
        }
    }
}

/// Notes what the current task waits on (call it when returning `Pending`). Outside a task it
/// does nothing.
#[inline]
pub fn note_wait(on: WaitOn) {
    crate::context::with(|cx| {
        if let Some(task) = cx.current_task.get() {
            // SAFETY: the current task pointer is valid while its poll runs (see `Context`).
            let header = unsafe { task.as_ref() };
            // Relaxed: a diagnostic note; only this task writes it, dumps read it racily.
            header.waiting.store(on.pack(), Relaxed);
        }
    });
}

/// As [`note_wait`], and returns the current task's id as a number (0 outside a task): one
/// look-up for a primitive that also records which task used it.
#[inline]
pub fn note_wait_by(on: WaitOn) -> u64 {
    crate::context::with(|cx| match cx.current_task.get() {
        Some(task) => {
            // SAFETY: as in `note_wait`.
            let header = unsafe { task.as_ref() };
            // Relaxed: as in `note_wait`.
            header.waiting.store(on.pack(), Relaxed);
            header.id.as_u64()
        }
        None => 0,
    })
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn packing_round_trips() {
        for w in [
            WaitOn::ChannelRecv { channel: 7 },
            WaitOn::ChannelSend {
                channel: PAYLOAD_MASK,
            },
            WaitOn::Lock { lock: 1 },
            WaitOn::Semaphore { semaphore: 2 },
            WaitOn::Signal { id: 3 },
            WaitOn::Timer {
                deadline_ms: 123_456,
            },
            WaitOn::Join { task: 99 },
            WaitOn::Promise { promise: 5 },
            WaitOn::Mailbox { actor: 6 },
            WaitOn::Reply { actor: 8 },
            WaitOn::Io { fd: 4 },
            WaitOn::Select { cases: 3 },
        ] {
            assert_eq!(WaitOn::unpack(w.pack()), Some(w));
        }
        assert_eq!(WaitOn::unpack(0), None);
    }
}
