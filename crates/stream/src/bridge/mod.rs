//! Bridges between publishers and the rest of Spectrum: futures streams, channels, futures and
//! promises, timers.

pub(crate) mod chan;
pub(crate) mod future;
pub(crate) mod interval;
pub(crate) mod stream;
pub(crate) mod task;

pub use chan::FromReceiver;
pub use future::{DeferFuture, FromFuture, Infallible, MapErr};
pub use interval::Interval;
pub use stream::{DeferStream, DeferTryStream, FromStream, IntoStream};
