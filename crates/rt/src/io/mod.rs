//! The I/O reactor (mio readiness) and the glue that turns readiness into futures.

pub(crate) mod driver;
pub(crate) mod poll_evented;
pub(crate) mod scheduled;

pub use futures_io::{AsyncRead, AsyncWrite};
