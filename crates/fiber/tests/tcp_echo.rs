//! A TCP echo server with one fiber per connection, written as blocking code: `accept`, `read`
//! and `write_all` are the runtime's async socket methods, `.wait()`ed.

use std::time::Duration;

use spectrum_rt::net::{TcpListener, TcpStream};
use spectrum_rt::{Runtime, Wait};

/// Serves until the listener's fiber is cancelled; each connection gets a fiber.
fn serve(listener: TcpListener) {
    loop {
        let (mut stream, _) = listener.accept().wait().unwrap();
        spectrum_fiber::spawn(move || {
            let mut buf = [0u8; 1024];
            loop {
                match stream.read(&mut buf).wait() {
                    Ok(0) | Err(_) => break,
                    Ok(n) => stream.write_all(&buf[..n]).wait().unwrap(),
                }
            }
        })
        .detach();
    }
}

#[test]
fn echo_server_with_a_fiber_per_connection() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let _guard = rt.enter();
    let listener = TcpListener::bind("127.0.0.1:0").wait().unwrap();
    let addr = listener.local_addr().unwrap();
    let server = spectrum_fiber::spawn(move || serve(listener));

    // 64 client fibers, 50 round trips each, all in flight at once.
    let clients: Vec<_> = (0..64u32)
        .map(|c| {
            spectrum_fiber::spawn(move || {
                let mut s = TcpStream::connect(addr).wait().unwrap();
                s.set_nodelay(true).unwrap();
                let mut buf = [0u8; 64];
                for i in 0..50u32 {
                    let msg = format!("client {c} message {i}");
                    s.write_all(msg.as_bytes()).wait().unwrap();
                    s.read_exact(&mut buf[..msg.len()]).wait().unwrap();
                    assert_eq!(&buf[..msg.len()], msg.as_bytes());
                }
                50
            })
        })
        .collect();
    let total: u32 = clients.into_iter().map(|c| c.wait().unwrap()).sum();
    assert_eq!(total, 64 * 50);

    // Cancelling the accept loop unwinds it (the listener closes with it).
    server.cancel();
    assert!(server.wait().unwrap_err().is_cancelled());
    std::thread::sleep(Duration::from_millis(10));
    let refused = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200));
    assert!(refused.is_err(), "the listener should be closed");
}

#[test]
fn a_thread_client_talks_to_a_fiber_server() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let _guard = rt.enter();
    let listener = TcpListener::bind("127.0.0.1:0").wait().unwrap();
    let addr = listener.local_addr().unwrap();
    let server = spectrum_fiber::spawn(move || serve(listener));
    // A plain OS thread with std's blocking socket.
    let client = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(b"ping").unwrap();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).unwrap();
        buf
    });
    assert_eq!(&client.join().unwrap(), b"ping");
    drop(server);
}
