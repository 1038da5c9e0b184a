#![cfg(not(loom))]
//! Timeout and deadline variants, on a paused clock so they are exact and instant.

use std::time::Duration;

use spectrum_chan::{bounded, RecvTimeoutError, SendTimeoutError};
use spectrum_rt::time;

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn recv_timeout_waits_exactly_the_timeout() {
    let (_tx, rx) = bounded::<u8>(1);
    let start = time::now();
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(250)).await,
        Err(RecvTimeoutError::Timeout)
    );
    assert_eq!(time::now() - start, Duration::from_millis(250));
    let deadline = time::now() + Duration::from_secs(3);
    assert_eq!(
        rx.recv_deadline(deadline).await,
        Err(RecvTimeoutError::Timeout)
    );
    assert_eq!(time::now(), deadline);
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn recv_timeout_gets_a_value_sent_in_time() {
    let (tx, rx) = bounded::<u8>(0);
    let sender = spectrum_rt::spawn(async move {
        time::sleep(Duration::from_millis(100)).await;
        tx.send(3).await.unwrap();
    });
    assert_eq!(rx.recv_timeout(Duration::from_millis(150)).await, Ok(3));
    sender.await.unwrap();
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(1)).await,
        Err(RecvTimeoutError::Closed)
    );
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn send_timeout_and_deadline() {
    let (tx, rx) = bounded::<u8>(1);
    // Room now: succeeds even with a zero timeout.
    tx.send_timeout(1, Duration::ZERO).await.unwrap();
    let start = time::now();
    assert_eq!(
        tx.send_timeout(2, Duration::from_millis(40)).await,
        Err(SendTimeoutError::Timeout(2))
    );
    assert_eq!(time::now() - start, Duration::from_millis(40));
    let receiver = spectrum_rt::spawn(async move {
        time::sleep(Duration::from_millis(10)).await;
        let v = rx.recv().await.unwrap();
        (v, rx)
    });
    tx.send_deadline(3, time::now() + Duration::from_millis(20))
        .await
        .unwrap();
    let (first, rx) = receiver.await.unwrap();
    assert_eq!(first, 1);
    rx.close();
    assert_eq!(
        tx.send_timeout(4, Duration::from_secs(1)).await,
        Err(SendTimeoutError::Closed(4))
    );
}
