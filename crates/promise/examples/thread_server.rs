//! A bounded thread-per-request TCP server: one OS thread per connection, plain blocking I/O, and
//! a semaphore that caps the threads — the seed's "threads + blocking" model, with its
//! backpressure at the OS level: at the cap the server stops accepting, and new connections
//! wait in the kernel's listen backlog.
//!
//! Protocol: each request is one line; the reply is the line upper-cased. A connection serves
//! requests until the client closes it.
//!
//! Every connection thread is a Spectrum thread (`spectrum_promise::thread`): a runtime task of
//! kind `Thread`, with a `CancelToken` that is a child of the server's, so stopping the server
//! cancels every handler cooperatively (they check it between requests and on read timeouts).
//! The `spectrum tour` measures this server against its async and fiber versions.
//!
//! ```text
//! cargo run --release -p spectrum-promise --example thread_server -- [max_threads] [clients] [requests]
//! ```

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use spectrum_promise::thread;
use spectrum_rt::cancel::CancelCause;

/// How often a blocked handler or the acceptor looks at its token.
const CHECK_EVERY: Duration = Duration::from_millis(50);

/// A counting semaphore for threads: `acquire` blocks while every permit is taken.
#[derive(Debug)]
pub struct Semaphore {
    permits: Mutex<usize>,
    freed: Condvar,
}

/// A permit; dropping it gives it back.
#[derive(Debug)]
pub struct Permit(Arc<Semaphore>);

impl Semaphore {
    pub fn new(permits: usize) -> Arc<Semaphore> {
        Arc::new(Semaphore {
            permits: Mutex::new(permits),
            freed: Condvar::new(),
        })
    }

    /// Waits for a permit, giving up when the current thread's token is cancelled.
    pub fn acquire(self: &Arc<Self>) -> Result<Permit, CancelCause> {
        let mut permits = self.permits.lock().unwrap();
        loop {
            thread::check()?;
            if *permits > 0 {
                *permits -= 1;
                return Ok(Permit(self.clone()));
            }
            permits = self.freed.wait_timeout(permits, CHECK_EVERY).unwrap().0;
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        *self.0.permits.lock().unwrap() += 1;
        self.0.freed.notify_one();
    }
}

/// What the server saw.
#[derive(Debug, Default)]
pub struct Stats {
    pub connections: AtomicUsize,
    pub requests: AtomicUsize,
    /// Handler threads alive right now, and the most at once.
    pub active: AtomicUsize,
    pub max_active: AtomicUsize,
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    stats: Arc<Stats>,
    acceptor: thread::JoinHandle<io::Result<()>>,
}

impl Server {
    /// Starts a server on a free loopback port with at most `max_threads` handler threads.
    pub fn start(max_threads: usize) -> io::Result<Server> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(Stats::default());
        let permits = Semaphore::new(max_threads);
        let acceptor = thread::Builder::new().name("acceptor").spawn({
            let stats = stats.clone();
            move || accept_loop(listener, permits, stats)
        });
        Ok(Server {
            addr,
            stats,
            acceptor,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Cancels the acceptor's token (and with it every handler's), wakes the acceptor, and
    /// waits for all of them.
    pub fn shutdown(self) -> io::Result<()> {
        self.acceptor
            .cancel_with(CancelCause::new("server shutting down"));
        // `accept` blocks in the kernel: a connection wakes it up to see the token.
        let _ = TcpStream::connect(self.addr);
        self.acceptor
            .join()
            .unwrap_or_else(|e| Err(io::Error::other(e)))
    }
}

fn accept_loop(
    listener: TcpListener,
    permits: Arc<Semaphore>,
    stats: Arc<Stats>,
) -> io::Result<()> {
    let mut handlers: Vec<thread::JoinHandle<()>> = Vec::new();
    loop {
        // At the cap, stop accepting: new clients wait in the kernel's backlog.
        let Ok(permit) = permits.acquire() else { break };
        let (stream, _) = listener.accept()?;
        if thread::is_cancelled() {
            break;
        }
        stats.connections.fetch_add(1, SeqCst);
        handlers.retain(|h| !h.is_finished());
        let stats = stats.clone();
        handlers.push(thread::Builder::new().name("conn").spawn(move || {
            let now = stats.active.fetch_add(1, SeqCst) + 1;
            stats.max_active.fetch_max(now, SeqCst);
            // Ignoring the error: a client that goes away ends its connection, not the server.
            let _ = serve(stream, &stats);
            stats.active.fetch_sub(1, SeqCst);
            drop(permit);
        }));
    }
    // Our token is cancelled, so are the handlers' (children); wait for them.
    for h in handlers {
        let _ = h.join();
    }
    Ok(())
}

/// Serves one connection: a line in, the line upper-cased out, until EOF or cancellation.
fn serve(stream: TcpStream, stats: &Stats) -> io::Result<()> {
    stream.set_read_timeout(Some(CHECK_EVERY))?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let mut line = String::new();
    loop {
        if thread::is_cancelled() {
            return Ok(());
        }
        match reader.read_line(&mut line) {
            Ok(0) => return Ok(()),
            Ok(_) => {
                // Counted before the reply goes out: a client that has read every reply may
                // look at the count at once, before this thread would get to it afterwards.
                stats.requests.fetch_add(1, SeqCst);
                writer.write_all(line.to_uppercase().as_bytes())?;
                line.clear();
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
    }
}

/// One client: connects, sends `requests` lines one at a time, checks each reply.
pub fn client(addr: SocketAddr, id: usize, requests: usize) -> io::Result<()> {
    let stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let mut reply = String::new();
    for i in 0..requests {
        writeln!(writer, "client {id} request {i}")?;
        reply.clear();
        reader.read_line(&mut reply)?;
        let expected = format!("CLIENT {id} REQUEST {i}\n");
        if reply != expected {
            return Err(io::Error::other(format!(
                "got {reply:?}, expected {expected:?}"
            )));
        }
    }
    Ok(())
}

/// Runs `clients` concurrent clients of `requests` requests each; returns the elapsed time.
pub fn load(addr: SocketAddr, clients: usize, requests: usize) -> io::Result<Duration> {
    let start = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|id| std::thread::spawn(move || client(addr, id, requests)))
        .collect();
    for t in threads {
        t.join()
            .map_err(|_| io::Error::other("client panicked"))??;
    }
    Ok(start.elapsed())
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().ok());
    let max_threads = args.next().flatten().unwrap_or(16);
    let clients = args.next().flatten().unwrap_or(64);
    let requests = args.next().flatten().unwrap_or(200);
    let server = Server::start(max_threads)?;
    let elapsed = load(server.addr(), clients, requests)?;
    let stats = server.stats();
    let served = stats.requests.load(SeqCst);
    println!(
        "{clients} clients x {requests} requests, at most {max_threads} threads: {served} requests \
         in {elapsed:.2?} ({:.0} req/s), {} threads at once at most",
        served as f64 / elapsed.as_secs_f64(),
        stats.max_active.load(SeqCst)
    );
    server.shutdown()
}
