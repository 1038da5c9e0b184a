//! UDP sockets on the runtime's reactor.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

use mio::Interest;

use super::tcp::resolve;
use crate::io::poll_evented::PollEvented;
use crate::io::scheduled::Direction;

/// A UDP socket. Every operation takes `&self`, so one socket can be shared (e.g. in an `Arc`)
/// by several tasks sending and receiving at once.
///
/// ```
/// # spectrum_rt::Runtime::new().unwrap().block_on(async {
/// use spectrum_rt::net::UdpSocket;
///
/// let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
/// let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
/// a.send_to(b"ping", b.local_addr().unwrap()).await.unwrap();
/// let mut buf = [0; 16];
/// let (n, from) = b.recv_from(&mut buf).await.unwrap();
/// assert_eq!(&buf[..n], b"ping");
/// assert_eq!(from, a.local_addr().unwrap());
/// # });
/// ```
pub struct UdpSocket {
    io: PollEvented<mio::net::UdpSocket>,
}

impl UdpSocket {
    /// Binds to `addr`.
    ///
    /// # Errors
    ///
    /// If no address could be bound, or outside a runtime.
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no addresses to bind to");
        for a in resolve(addr).await? {
            match mio::net::UdpSocket::bind(a) {
                Ok(s) => {
                    return Ok(UdpSocket {
                        io: PollEvented::new(s, Interest::READABLE | Interest::WRITABLE)?,
                    })
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Wraps a std socket (set to non-blocking here).
    ///
    /// # Errors
    ///
    /// If registration fails, or outside a runtime.
    pub fn from_std(s: std::net::UdpSocket) -> io::Result<UdpSocket> {
        s.set_nonblocking(true)?;
        let s = mio::net::UdpSocket::from_std(s);
        Ok(UdpSocket {
            io: PollEvented::new(s, Interest::READABLE | Interest::WRITABLE)?,
        })
    }

    /// Sets the default peer for `send` and `recv`.
    ///
    /// # Errors
    ///
    /// As `std::net::UdpSocket::connect`.
    pub async fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no addresses to connect to");
        for a in resolve(addr).await? {
            match self.io.get_ref().connect(a) {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Sends a datagram to `target`.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a dropped send sent nothing.
    pub async fn send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        poll_fn(|cx| {
            self.io
                .poll_io(cx, Direction::Write, false, |s| s.send_to(buf, target))
        })
        .await
    }

    /// Receives a datagram and its sender.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a dropped receive took no datagram.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| {
            self.io
                .poll_io(cx, Direction::Read, false, |s| s.recv_from(buf))
        })
        .await
    }

    /// Sends to the connected peer.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| {
            self.io
                .poll_io(cx, Direction::Write, false, |s| s.send(buf))
        })
        .await
    }

    /// Receives from the connected peer.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.io.poll_io(cx, Direction::Read, false, |s| s.recv(buf))).await
    }

    /// Tries to receive without waiting.
    ///
    /// # Errors
    ///
    /// `WouldBlock` if nothing is queued.
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.try_io(Direction::Read, |s| s.recv_from(buf))
    }

    /// The bound address.
    ///
    /// # Errors
    ///
    /// As `std`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("addr", &self.local_addr().ok())
            .finish()
    }
}
