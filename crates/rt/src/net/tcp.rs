//! TCP: a listener and a stream on the runtime's reactor.

use std::fmt;
use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use mio::Interest;

use crate::io::poll_evented::PollEvented;
use crate::io::scheduled::Direction;

/// A TCP socket server, listening for connections.
///
/// ```
/// # spectrum_rt::Runtime::new().unwrap().block_on(async {
/// use spectrum_rt::net::{TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
/// let addr = listener.local_addr().unwrap();
/// let server = spectrum_rt::spawn(async move {
///     let (mut conn, _) = listener.accept().await.unwrap();
///     let mut buf = [0; 5];
///     conn.read_exact(&mut buf).await.unwrap();
///     conn.write_all(&buf).await.unwrap();
/// });
/// let mut client = TcpStream::connect(addr).await.unwrap();
/// client.write_all(b"hello").await.unwrap();
/// let mut echo = [0; 5];
/// client.read_exact(&mut echo).await.unwrap();
/// assert_eq!(&echo, b"hello");
/// server.await.unwrap();
/// # });
/// ```
pub struct TcpListener {
    io: PollEvented<mio::net::TcpListener>,
}

impl TcpListener {
    /// Binds to `addr` (the first address that works, like `std`).
    ///
    /// # Errors
    ///
    /// If no address could be bound, or outside a runtime.
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        let addrs = resolve(addr).await?;
        let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no addresses to bind to");
        for a in addrs {
            match mio::net::TcpListener::bind(a) {
                Ok(l) => return TcpListener::from_mio(l),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn from_mio(l: mio::net::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener {
            io: PollEvented::new(l, Interest::READABLE)?,
        })
    }

    /// Wraps a std listener (set to non-blocking here).
    ///
    /// # Errors
    ///
    /// If registration with the reactor fails, or outside a runtime.
    pub fn from_std(l: std::net::TcpListener) -> io::Result<TcpListener> {
        l.set_nonblocking(true)?;
        TcpListener::from_mio(mio::net::TcpListener::from_std(l))
    }

    /// Accepts a connection.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a dropped `accept` loses no connection (it stays in the backlog).
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, addr) =
            poll_fn(|cx| self.io.poll_io(cx, Direction::Read, false, |l| l.accept())).await?;
        Ok((TcpStream::from_mio(stream)?, addr))
    }

    /// The bound address.
    ///
    /// # Errors
    ///
    /// As `std::net::TcpListener::local_addr`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("addr", &self.local_addr().ok())
            .finish()
    }
}

/// A TCP connection. Implements `futures_io::{AsyncRead, AsyncWrite}` and offers the same
/// operations as inherent async methods, so `stream.read(&mut buf).await` (or `.wait()` from a
/// fiber) works without extra traits.
pub struct TcpStream {
    io: Arc<PollEvented<mio::net::TcpStream>>,
}

impl TcpStream {
    /// Connects to `addr` (each resolved address in turn, like `std`).
    ///
    /// # Errors
    ///
    /// The last connection error, or outside a runtime.
    ///
    /// # Cancel safety
    ///
    /// Dropping it abandons the attempt and closes the socket.
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let addrs = resolve(addr).await?;
        let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no addresses to connect to");
        for a in addrs {
            match TcpStream::connect_one(a).await {
                Ok(s) => return Ok(s),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    async fn connect_one(addr: SocketAddr) -> io::Result<TcpStream> {
        let stream = TcpStream::from_mio(mio::net::TcpStream::connect(addr)?)?;
        // A non-blocking connect finishes when the socket becomes writable.
        poll_fn(|cx| stream.io.poll_ready(cx, Direction::Write, true)).await?;
        if let Some(e) = stream.io.get_ref().take_error()? {
            return Err(e);
        }
        match stream.io.get_ref().peer_addr() {
            Ok(_) => Ok(stream),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                "connection refused",
            )),
            Err(e) => Err(e),
        }
    }

    fn from_mio(s: mio::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream {
            io: Arc::new(PollEvented::new(
                s,
                Interest::READABLE | Interest::WRITABLE,
            )?),
        })
    }

    /// Wraps a connected std stream (set to non-blocking here).
    ///
    /// # Errors
    ///
    /// If registration with the reactor fails, or outside a runtime.
    pub fn from_std(s: std::net::TcpStream) -> io::Result<TcpStream> {
        s.set_nonblocking(true)?;
        TcpStream::from_mio(mio::net::TcpStream::from_std(s))
    }

    /// Reads into `buf`; `Ok(0)` means the peer closed its side.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: if dropped before completing, no data was read.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| poll_read(&self.io, cx, buf)).await
    }

    /// Reads exactly `buf.len()` bytes.
    ///
    /// # Errors
    ///
    /// `UnexpectedEof` if the peer closes first.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: bytes read before cancellation are lost with the future.
    pub async fn read_exact(&mut self, mut buf: &mut [u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read(buf).await? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => buf = &mut buf[n..],
            }
        }
        Ok(())
    }

    /// Writes some of `buf`, returning how much.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: if dropped before completing, nothing was written.
    pub async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| poll_write(&self.io, cx, buf)).await
    }

    /// Writes all of `buf`.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: a prefix of `buf` may have been written when the future is dropped.
    pub async fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        write_all(&self.io, buf).await
    }

    /// Shuts down the write half (the peer reads end-of-stream).
    ///
    /// # Errors
    ///
    /// As `std::net::TcpStream::shutdown`.
    pub fn shutdown_write(&self) -> io::Result<()> {
        self.io.get_ref().shutdown(Shutdown::Write)
    }

    /// The peer's address.
    ///
    /// # Errors
    ///
    /// If the socket is not connected.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// As `std`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Sets `TCP_NODELAY`.
    ///
    /// # Errors
    ///
    /// As `std`.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.get_ref().set_nodelay(nodelay)
    }

    /// Splits into owned read and write halves that can move to different tasks.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        (
            OwnedReadHalf {
                io: self.io.clone(),
            },
            OwnedWriteHalf { io: self.io },
        )
    }
}

/// Writes all of `buf` (shared by the stream and its write half).
async fn write_all(io: &PollEvented<mio::net::TcpStream>, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match poll_fn(|cx| poll_write(io, cx, buf)).await? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => buf = &buf[n..],
        }
    }
    Ok(())
}

fn poll_read(
    io: &PollEvented<mio::net::TcpStream>,
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<io::Result<usize>> {
    let len = buf.len();
    io.poll_transfer(cx, Direction::Read, len, |mut s| s.read(buf))
}

fn poll_write(
    io: &PollEvented<mio::net::TcpStream>,
    cx: &mut Context<'_>,
    buf: &[u8],
) -> Poll<io::Result<usize>> {
    io.poll_transfer(cx, Direction::Write, buf.len(), |mut s| s.write(buf))
}

impl AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        poll_read(&self.io, cx, buf)
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        poll_write(&self.io, cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.shutdown_write())
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("local", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .finish()
    }
}

/// The read half of a [`TcpStream`] (see [`TcpStream::into_split`]).
pub struct OwnedReadHalf {
    io: Arc<PollEvented<mio::net::TcpStream>>,
}

/// The write half of a [`TcpStream`]; dropping it does not close the socket until the read half
/// is gone too (call [`OwnedWriteHalf::shutdown`] to send end-of-stream).
pub struct OwnedWriteHalf {
    io: Arc<PollEvented<mio::net::TcpStream>>,
}

impl OwnedReadHalf {
    /// Reads into `buf`. See [`TcpStream::read`].
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| poll_read(&self.io, cx, buf)).await
    }
}

impl OwnedWriteHalf {
    /// Writes some of `buf`. See [`TcpStream::write`].
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe.
    pub async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| poll_write(&self.io, cx, buf)).await
    }

    /// Writes all of `buf`.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe (a prefix may have been written).
    pub async fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        write_all(&self.io, buf).await
    }

    /// Shuts down the write direction.
    ///
    /// # Errors
    ///
    /// As `std`.
    pub fn shutdown(&self) -> io::Result<()> {
        self.io.get_ref().shutdown(Shutdown::Write)
    }
}

impl AsyncRead for OwnedReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        poll_read(&self.io, cx, buf)
    }
}

impl AsyncWrite for OwnedWriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        poll_write(&self.io, cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.shutdown())
    }
}

impl fmt::Debug for OwnedReadHalf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OwnedReadHalf")
    }
}

impl fmt::Debug for OwnedWriteHalf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OwnedWriteHalf")
    }
}

/// Resolves addresses with `std`'s `ToSocketAddrs`. Literal addresses (`"127.0.0.1:80"`, a
/// `SocketAddr`) involve no I/O; a host name goes through the OS resolver, which blocks the
/// calling thread: in async code, resolve names with `spawn_blocking` first.
pub(crate) async fn resolve(addr: impl ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
    Ok(addr.to_socket_addrs()?.collect())
}
