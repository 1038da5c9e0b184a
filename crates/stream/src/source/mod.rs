//! Sources: where items come from.
//!
//! | source | Reactor | runs on |
//! |---|---|---|
//! | [`Flux::range`](crate::Flux::range), [`Flux::from_iterable`](crate::Flux::from_iterable), [`Flux::just`](crate::Flux::just), [`Flux::empty`](crate::Flux::empty), [`Flux::error`](crate::Flux::error), [`Flux::never`](crate::Flux::never) | same names | the requesting thread |
//! | [`Flux::generate`](crate::Flux::generate) | `generate` | the requesting thread |
//! | [`Flux::create`](crate::Flux::create) | `create` | the pushing thread, or the requesting one for buffered items |
//! | [`Flux::from_stream`](crate::Flux::from_stream), [`Flux::from_receiver`](crate::Flux::from_receiver), [`Mono::from_future`](crate::Mono::from_future), [`Flux::interval`](crate::Flux::interval) | `from(Publisher)`, `fromFuture`, `interval` | a Spectrum task per subscription |

mod create;
mod generate;
pub(crate) mod iter;
pub(crate) mod pull;

pub use create::{Create, FluxSink, Overflow};
pub use generate::{Generate, SyncSink};
pub use iter::{Iter, Just, Terminal};
