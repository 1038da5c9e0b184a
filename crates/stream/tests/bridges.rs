#![cfg(not(loom))]
//! Bridges: futures streams both ways (request window, 75 % replenishment), channels both ways
//! (backpressure carried across), futures and promises as single-value publishers.

mod common;

use std::pin::Pin;
use std::time::Duration;

use common::{eventually, settle, Manual};
use futures::{Stream, StreamExt};
use spectrum_stream::testing::TestSubscriber;
use spectrum_stream::{ErrorKind, Flux, Mono, Publisher, StreamError};

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn into_stream_requests_a_window_and_replenishes_at_75_percent() {
    let m = Manual::default();
    let mut st = Flux::from_publisher(m.clone()).into_stream_with(8);
    let first = std::future::poll_fn(|cx| match Pin::new(&mut st).poll_next(cx) {
        std::task::Poll::Pending => std::task::Poll::Ready(None),
        r => r,
    })
    .await;
    assert!(first.is_none());
    assert_eq!(m.requested(), 8, "the window");
    for i in 0..8 {
        m.next(i);
    }
    for i in 0..5 {
        assert_eq!(st.next().await.unwrap().unwrap(), i);
    }
    assert_eq!(m.requested(), 8, "5 of 8 taken: below 75 %");
    assert_eq!(st.next().await.unwrap().unwrap(), 5);
    assert_eq!(m.requested(), 14, "6 of 8 taken: 6 more");
    m.error(StreamError::msg("end"));
    assert_eq!(st.next().await.unwrap().unwrap(), 6);
    assert_eq!(st.next().await.unwrap().unwrap(), 7);
    assert_eq!(st.next().await.unwrap().unwrap_err().to_string(), "end");
    assert!(st.next().await.is_none());
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn dropping_the_stream_cancels_the_subscription() {
    let m = Manual::default();
    let mut st = Flux::from_publisher(m.clone()).into_stream();
    m.next(1);
    let _ = futures::poll!(st.next());
    drop(st);
    assert_eq!(m.cancels(), 1);
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn from_stream_polls_only_under_demand() {
    let polled = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let p2 = polled.clone();
    let counting = futures::stream::iter(0..100u64).inspect(move |_| {
        p2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    });
    let (s, p) = TestSubscriber::new(3);
    Flux::from_stream(counting).subscribe(s);
    assert!(eventually(|| p.count() == 3).await);
    settle().await;
    assert_eq!(
        polled.load(std::sync::atomic::Ordering::SeqCst),
        3,
        "no read-ahead"
    );
    p.cancel();
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn from_stream_is_single_use() {
    let f = Flux::from_stream(futures::stream::iter(0..2u64));
    assert_eq!(
        f.clone().collect::<Vec<_>>().await.unwrap(),
        Some(vec![0, 1])
    );
    let e = f.collect::<Vec<_>>().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Rejected);
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn from_receiver_leaves_values_in_the_channel_without_demand() {
    let (tx, rx) = spectrum_chan::bounded::<u64>(4);
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let s2 = sent.clone();
    let producer = spectrum_rt::spawn(async move {
        for i in 0..100 {
            if tx.send(i).await.is_err() {
                return;
            }
            s2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let (s, p) = TestSubscriber::new(2);
    Flux::from_receiver(rx).subscribe(s);
    assert!(eventually(|| p.count() == 2).await);
    settle().await;
    let n = sent.load(std::sync::atomic::Ordering::SeqCst);
    assert!(n <= 2 + 4 + 1, "the producer ran ahead of demand: {n} sent");
    p.request(200);
    assert!(eventually(|| p.is_terminated()).await);
    assert_eq!(p.values(), (0..100).collect::<Vec<_>>());
    producer.await.unwrap();
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn send_to_stops_the_publisher_while_the_channel_is_full() {
    let m = Manual::default();
    let (tx, rx) = spectrum_chan::bounded::<u64>(2);
    let f = Flux::from_publisher(m.clone());
    let pump = spectrum_rt::spawn(f.send_to(tx));
    assert!(eventually(|| m.requested() == 32).await, "a window of 32");
    for i in 0..32 {
        m.next(i);
    }
    settle().await;
    assert_eq!(
        m.requested(),
        32,
        "the channel is full: nothing more is asked for"
    );
    let mut got = Vec::new();
    for _ in 0..30 {
        got.push(rx.recv().await.unwrap());
    }
    assert!(
        eventually(|| m.requested() > 32).await,
        "sends completed: more requested"
    );
    m.complete();
    while let Ok(v) = rx.recv().await {
        got.push(v);
    }
    assert_eq!(got, (0..32).collect::<Vec<_>>());
    assert_eq!(pump.await.unwrap().unwrap(), 32);
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn into_channel_carries_items_and_the_error() {
    let rx = Flux::concat(vec![
        Flux::range(0..3u64).boxed(),
        Flux::error(StreamError::msg("late")).boxed(),
    ])
    .into_channel(1);
    let mut got = Vec::new();
    while let Ok(v) = rx.recv().await {
        got.push(v);
    }
    assert_eq!(got.len(), 4);
    assert_eq!(got[2].as_ref().unwrap(), &2);
    assert_eq!(got[3].as_ref().unwrap_err().to_string(), "late");
}

#[derive(Debug)]
struct Nope;
impl std::fmt::Display for Nope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("nope")
    }
}
impl std::error::Error for Nope {}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn futures_and_promises_become_monos() {
    assert_eq!(Mono::from_future(async { 5 }).await.unwrap(), Some(5));
    let ok: Result<u8, Nope> = Ok(1);
    assert_eq!(
        Mono::from_try_future(async move { ok }).await.unwrap(),
        Some(1)
    );
    let err: Result<u8, Nope> = Err(Nope);
    let e = Mono::from_try_future(async move { err }).await.unwrap_err();
    assert_eq!(e.to_string(), "nope");
    assert!(
        std::error::Error::source(&e).is_some(),
        "the source is kept"
    );
    // A spawned task's handle is a fallible future: Reactor's Mono.fromFuture on a running one.
    let h = spectrum_rt::spawn(async { 40 + 2 });
    assert_eq!(Mono::from_try_future(h).await.unwrap(), Some(42));
    // A cancelled subscription drops the future.
    let (s, p) = TestSubscriber::<u8>::new(1);
    Mono::from_future(async {
        spectrum_rt::time::sleep(Duration::from_secs(3600)).await;
        1u8
    })
    .subscribe(s);
    p.cancel();
    assert!(eventually(|| true).await);
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn sources_that_need_a_runtime_say_so_outside_one() {
    let result = std::thread::spawn(|| {
        let (s, p) = TestSubscriber::<u64>::new(1);
        Flux::defer_stream(|| futures::stream::iter(0..1u64)).subscribe(s);
        p.error().map(|e| e.kind())
    })
    .join()
    .unwrap();
    assert_eq!(result, Some(ErrorKind::NoRuntime));
}
