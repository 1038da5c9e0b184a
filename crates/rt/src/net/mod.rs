//! Networking: TCP and UDP on the runtime's I/O reactor (mio readiness, edge-triggered).
//!
//! Sockets implement the `futures-io` `AsyncRead`/`AsyncWrite` traits and also offer inherent
//! async methods, so the same socket serves async tasks (`.await`) and fibers or threads
//! (`.wait()`). Each method documents its cancel safety.

pub mod tcp;
mod udp;

pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;
