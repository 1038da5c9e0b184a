//! TCP and UDP over loopback: an echo server with many connections.

use std::sync::Arc;
use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt};
use spectrum_rt::net::{TcpListener, TcpStream, UdpSocket};
use spectrum_rt::{time, Runtime};

async fn echo_server(listener: TcpListener) {
    loop {
        let (mut conn, _) = listener.accept().await.unwrap();
        spectrum_rt::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                match conn.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if conn.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
        })
        .detach();
    }
}

#[test]
fn echo_with_many_connections() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = spectrum_rt::spawn(echo_server(listener));
        let clients: Vec<_> = (0..200u32)
            .map(|i| {
                spectrum_rt::spawn(async move {
                    let mut s = TcpStream::connect(addr).await.unwrap();
                    s.set_nodelay(true).unwrap();
                    for round in 0..20u32 {
                        let msg = format!("client {i} round {round} {}", "x".repeat(i as usize));
                        s.write_all(msg.as_bytes()).await.unwrap();
                        let mut back = vec![0; msg.len()];
                        s.read_exact(&mut back).await.unwrap();
                        assert_eq!(back, msg.as_bytes());
                    }
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
        server.cancel();
        assert!(server.await.unwrap_err().is_cancelled());
    });
}

#[test]
fn futures_io_traits_and_split_halves_work() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = spectrum_rt::spawn(echo_server(listener));
        let s = TcpStream::connect(addr).await.unwrap();
        let (mut r, mut w) = s.into_split();
        let writer = spectrum_rt::spawn(async move {
            for i in 0..100u8 {
                AsyncWriteExt::write_all(&mut w, &[i; 100]).await.unwrap();
            }
            w.shutdown().unwrap();
        });
        let mut total = Vec::new();
        while total.len() < 10_000 {
            let mut buf = [0u8; 1000];
            let n = AsyncReadExt::read(&mut r, &mut buf).await.unwrap();
            assert!(n > 0);
            total.extend_from_slice(&buf[..n]);
        }
        writer.await.unwrap();
        for (i, chunk) in total.chunks(100).enumerate() {
            assert!(chunk.iter().all(|&b| b == i as u8));
        }
        drop(server);
    });
}

#[test]
fn connect_to_a_closed_port_fails_cleanly() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    rt.block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let e = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
    });
}

#[test]
fn a_cancelled_read_loses_no_data() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accept = spectrum_rt::spawn(async move { listener.accept().await.unwrap().0 });
        let mut client = TcpStream::connect(addr).await.unwrap();
        let mut server_side = accept.await.unwrap();
        let mut buf = [0u8; 16];
        // Time out a read with nothing to read, then send: the next read gets all of it.
        assert!(
            time::timeout(Duration::from_millis(10), client.read(&mut buf))
                .await
                .is_err()
        );
        server_side.write_all(b"after cancel").await.unwrap();
        let n = client.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"after cancel");
    });
}

#[test]
fn udp_is_shared_between_tasks() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    rt.block_on(async {
        let server = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let addr = server.local_addr().unwrap();
        // Two receivers on one socket.
        let receivers: Vec<_> = (0..2)
            .map(|_| {
                let s = server.clone();
                spectrum_rt::spawn(async move {
                    let mut got = 0;
                    let mut buf = [0u8; 64];
                    while got < 50 {
                        let (n, from) = s.recv_from(&mut buf).await.unwrap();
                        s.send_to(&buf[..n], from).await.unwrap();
                        got += 1;
                    }
                })
            })
            .collect();
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client.connect(addr).await.unwrap();
        let mut echoed = 0;
        for i in 0..100u32 {
            client.send(&i.to_le_bytes()).await.unwrap();
            let mut buf = [0u8; 4];
            let n = time::timeout(Duration::from_secs(5), client.recv(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(n, 4);
            assert_eq!(u32::from_le_bytes(buf), i);
            echoed += 1;
        }
        assert_eq!(echoed, 100);
        for r in receivers {
            r.await.unwrap();
        }
    });
}
