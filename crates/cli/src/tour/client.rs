//! The clients of the connections workload, in their own process (`spectrum __tour-client`), so
//! the server's memory is measured alone.
//!
//! Protocol on stdout/stdin with the server child: connect every client (64 at a time, to stay
//! inside the listen backlog) and do one round trip each, print `ready <ms>`; wait for a line on
//! stdin; run every client's round trips at once, print `done <seconds>`; exit.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::time::Instant;

use spectrum::net::TcpStream;
use spectrum::scope::BoxError;

/// Connections made at once while connecting.
const CONNECT_WINDOW: usize = 64;

pub fn main(addr: SocketAddr, clients: usize, rounds: usize, bytes: usize) -> Result<(), BoxError> {
    let rt = spectrum::Runtime::new()?;
    let t = Instant::now();
    let streams = rt.block_on(rt.spawn(async move {
        let mut streams = Vec::with_capacity(clients);
        let mut left = clients;
        while left > 0 {
            let batch: Vec<_> = (0..left.min(CONNECT_WINDOW))
                .map(|_| {
                    spectrum::spawn(async move {
                        let mut s = TcpStream::connect(addr).await?;
                        s.set_nodelay(true)?;
                        round_trip(&mut s, bytes).await?;
                        Ok::<_, std::io::Error>(s)
                    })
                })
                .collect();
            left -= batch.len();
            for c in batch {
                streams.push(c.await??);
            }
        }
        Ok::<_, BoxError>(streams)
    }))??;
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready {:.3}", t.elapsed().as_secs_f64() * 1e3)?;
    out.flush()?;
    let mut go = String::new();
    std::io::stdin().lock().read_line(&mut go)?;
    let t = Instant::now();
    rt.block_on(rt.spawn(async move {
        let clients: Vec<_> = streams
            .into_iter()
            .map(|mut s| {
                spectrum::spawn(async move {
                    for _ in 0..rounds {
                        round_trip(&mut s, bytes).await?;
                    }
                    Ok::<_, std::io::Error>(())
                })
            })
            .collect();
        for c in clients {
            c.await??;
        }
        Ok::<_, BoxError>(())
    }))??;
    writeln!(out, "done {:.6}", t.elapsed().as_secs_f64())?;
    out.flush()?;
    Ok(())
}

async fn round_trip(s: &mut TcpStream, bytes: usize) -> std::io::Result<()> {
    let msg = vec![7u8; bytes];
    let mut back = vec![0u8; bytes];
    s.write_all(&msg).await?;
    s.read_exact(&mut back).await?;
    if back != msg {
        return Err(std::io::Error::other("the echo differs"));
    }
    Ok(())
}
