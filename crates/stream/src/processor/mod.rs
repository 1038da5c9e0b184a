//! Processors (rule 4): stages that are both subscriber and publisher, usable as hot sources.
//!
//! - [`Multicast`]: every item to every current subscriber, per-subscriber demand and
//!   overflow policy.
//! - [`Unicast`]: one subscriber, a queue; the windows and groups of `window` / `group_by`.

mod multicast;
mod unicast;

pub use multicast::{Multicast, Share};
pub use unicast::Unicast;
