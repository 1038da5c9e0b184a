//! TCP echo over loopback, 1 000 connections, one fiber per connection on the server, against
//! the same server written with async tasks on Spectrum, in the same run with the same clients
//! (1 000 async tasks, each doing request/response round trips of 64 bytes).
//!
//! `cargo bench -p spectrum-fiber --bench tcp_echo`

#[path = "harness/mod.rs"]
mod harness;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use harness::Contender;
use spectrum_rt::net::{TcpListener, TcpStream};
use spectrum_rt::{Runtime, Wait};

const CONNECTIONS: usize = 1_000;
const ROUND_TRIPS: usize = 50;
const MSG: usize = 64;

fn fiber_server(listener: TcpListener) {
    loop {
        let Ok((mut s, _)) = listener.accept().wait() else {
            return;
        };
        spectrum_fiber::spawn(move || {
            let _ = s.set_nodelay(true);
            let mut buf = [0u8; 4096];
            loop {
                match s.read(&mut buf).wait() {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if s.write_all(&buf[..n]).wait().is_err() {
                            return;
                        }
                    }
                }
            }
        })
        .detach();
    }
}

async fn task_server(listener: TcpListener) {
    loop {
        let Ok((mut s, _)) = listener.accept().await else {
            return;
        };
        spectrum_rt::spawn(async move {
            let _ = s.set_nodelay(true);
            let mut buf = [0u8; 4096];
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if s.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
        })
        .detach();
    }
}

/// Runs the clients against `addr`; returns the time for all round trips (connections made
/// first, outside the timing).
fn clients(rt: &Runtime, addr: SocketAddr) -> Duration {
    rt.block_on(async move {
        let mut streams = Vec::with_capacity(CONNECTIONS);
        for _ in 0..CONNECTIONS {
            let s = TcpStream::connect(addr).await.unwrap();
            s.set_nodelay(true).unwrap();
            streams.push(s);
        }
        let start = Instant::now();
        let tasks: Vec<_> = streams
            .into_iter()
            .map(|mut s| {
                spectrum_rt::spawn(async move {
                    let msg = [7u8; MSG];
                    let mut buf = [0u8; MSG];
                    for _ in 0..ROUND_TRIPS {
                        s.write_all(&msg).await.unwrap();
                        s.read_exact(&mut buf).await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        start.elapsed()
    })
}

fn run(rt: &Runtime, fibers: bool) -> Duration {
    let _g = rt.enter();
    let listener = TcpListener::bind("127.0.0.1:0").wait().unwrap();
    let addr = listener.local_addr().unwrap();
    let server = if fibers {
        spectrum_fiber::spawn(move || fiber_server(listener))
    } else {
        spectrum_rt::spawn(task_server(listener))
    };
    let t = clients(rt, addr);
    server.cancel();
    let _ = server.wait();
    // Let the per-connection servers see their clients' EOF and finish.
    std::thread::sleep(Duration::from_millis(50));
    t
}

fn main() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let mut contenders = [
        Contender {
            name: "server: one fiber per connection",
            run: Box::new(|| run(&rt, true)),
        },
        Contender {
            name: "server: one async task per connection",
            run: Box::new(|| run(&rt, false)),
        },
    ];
    let ops = (CONNECTIONS * ROUND_TRIPS) as u64;
    let m = harness::compare(
        "TCP echo, 1k connections x 50 round trips of 64 B (time per round trip)",
        ops,
        5,
        &mut contenders,
    );
    println!(
        "  throughput: fibers {:.0} round trips/s, async tasks {:.0} round trips/s: fibers = {:.2}x async",
        1e9 / m[0],
        1e9 / m[1],
        m[1] / m[0]
    );
}
