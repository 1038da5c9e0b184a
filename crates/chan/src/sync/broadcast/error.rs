//! The errors of the broadcast channel: one small type per operation.

use core::fmt;

/// [`Sender::send`](super::Sender::send) found no receiver; the value comes back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> SendError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the broadcast channel has no receivers")
    }
}

impl<T> std::error::Error for SendError<T> {}

/// Why [`Receiver::recv`](super::Receiver::recv) returned no value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecvError {
    /// Every sender is gone and this receiver has seen every value retained.
    Closed,
    /// The receiver fell behind by more than the capacity: this many values were overwritten
    /// before it read them. The next receive returns the oldest value still retained.
    Lagged(u64),
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Closed => f.write_str("the broadcast channel is closed"),
            RecvError::Lagged(n) => write!(f, "the receiver lagged behind by {n} values"),
        }
    }
}

impl std::error::Error for RecvError {}

/// Why [`Receiver::try_recv`](super::Receiver::try_recv) returned no value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryRecvError {
    /// No value this receiver has not seen yet; senders remain.
    Empty,
    /// Every sender is gone and this receiver has seen every value retained.
    Closed,
    /// As [`RecvError::Lagged`]: this many values were missed; the next receive returns the
    /// oldest value still retained.
    Lagged(u64),
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("the broadcast channel has no new value"),
            TryRecvError::Closed => f.write_str("the broadcast channel is closed"),
            TryRecvError::Lagged(n) => write!(f, "the receiver lagged behind by {n} values"),
        }
    }
}

impl std::error::Error for TryRecvError {}

/// The item error of [`RecvStream`](super::RecvStream): this many values were overwritten before
/// the stream read them (as [`RecvError::Lagged`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lagged(pub u64);

impl fmt::Display for Lagged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the receiver lagged behind by {} values", self.0)
    }
}

impl std::error::Error for Lagged {}

/// [`try_channel`](super::try_channel) was asked for a capacity it cannot provide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapacityError {
    /// A capacity of 0: a broadcast channel retains at least one value.
    Zero,
    /// More than [`MAX_CAPACITY`](super::MAX_CAPACITY) slots were asked for.
    TooLarge(usize),
    /// The allocator refused the ring of this many slots.
    OutOfMemory(usize),
}

impl fmt::Display for CapacityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CapacityError::Zero => f.write_str("broadcast channel capacity must be at least 1"),
            CapacityError::TooLarge(n) => write!(
                f,
                "broadcast channel capacity {n} exceeds MAX_CAPACITY ({})",
                super::MAX_CAPACITY
            ),
            CapacityError::OutOfMemory(n) => {
                write!(f, "could not allocate a broadcast ring of {n} slots")
            }
        }
    }
}

impl std::error::Error for CapacityError {}
