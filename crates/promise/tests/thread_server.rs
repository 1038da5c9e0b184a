//! The bounded thread-per-request server example: correct replies, never more threads than
//! permits, and a shutdown that cancels idle connections.
#![cfg(not(loom))]

#[allow(dead_code)]
#[path = "../examples/thread_server.rs"]
mod thread_server;

use std::io::{BufRead, BufReader, Write};
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use thread_server::Server;

#[test]
fn serves_every_request_with_at_most_the_permitted_threads() {
    let server = Server::start(3).unwrap();
    thread_server::load(server.addr(), 12, 20).unwrap();
    let stats = server.stats();
    assert_eq!(stats.connections.load(SeqCst), 12);
    assert_eq!(stats.requests.load(SeqCst), 240);
    let max = stats.max_active.load(SeqCst);
    assert!((1..=3).contains(&max), "{max} threads at once");
    server.shutdown().unwrap();
}

#[test]
fn shutdown_cancels_idle_connections() {
    let server = Server::start(2).unwrap();
    let idle = std::net::TcpStream::connect(server.addr()).unwrap();
    let mut reader = BufReader::new(idle.try_clone().unwrap());
    let mut writer = idle;
    writer.write_all(b"hello\n").unwrap();
    let mut reply = String::new();
    reader.read_line(&mut reply).unwrap();
    assert_eq!(reply, "HELLO\n");
    // The connection stays open and idle; shutdown must not wait for the client.
    let start = Instant::now();
    server.shutdown().unwrap();
    assert!(start.elapsed() < Duration::from_secs(5));
}
