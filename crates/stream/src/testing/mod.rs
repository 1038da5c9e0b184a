//! Test tools: a recording [`TestSubscriber`] (the TCK's manual subscriber, with rule checks)
//! and [`StepVerifier`] (Reactor's, with virtual time on Spectrum's paused clock).

mod subscriber;
mod verifier;

pub use subscriber::{Behavior, Event, TestProbe, TestSubscriber, WaitUntil};
pub use verifier::StepVerifier;
