//! Resolve → await latency: Spectrum's `Promise` against tokio's `oneshot` and a hand-written
//! oneshot (a mutex around the value and the waker), each on the same runtime in the same run.
//!
//! Scenarios:
//! - `ping-pong`: two tasks hand a value back and forth through fresh one-shot pairs (made
//!   before the clock starts); one round trip = two resolve → wake → await hops.
//! - `make+resolve+await`: one task makes a pair, resolves it and awaits it (no wake): the
//!   allocation and state-machine cost alone.
//!
//! Every primitive runs on both runtimes (they are all plain `Waker` code), so the ratio between
//! primitives on one runtime isolates the primitive.
//!
//! ```text
//! cargo bench -p spectrum-promise --bench latency
//! ```

mod harness;

use std::future::Future;
use std::time::{Duration, Instant};

use harness::{compare, row, Side};
use spectrum_promise::{Promise, Resolver};

const ROUND_TRIPS: usize = 20_000;
const READY_OPS: usize = 200_000;

/// A one-shot channel, as the benchmark uses it.
trait Oneshot: 'static {
    type Tx: Send + 'static;
    type Rx: Future + Send + Unpin + 'static;
    fn pair() -> (Self::Tx, Self::Rx);
    fn send(tx: Self::Tx, v: u64);
    fn value(out: <Self::Rx as Future>::Output) -> u64;
}

struct SpectrumPromise;

impl Oneshot for SpectrumPromise {
    type Tx = Resolver<u64, ()>;
    type Rx = Promise<u64, ()>;
    fn pair() -> (Self::Tx, Self::Rx) {
        let (p, r) = Promise::with_resolver();
        (r, p)
    }
    fn send(tx: Self::Tx, v: u64) {
        tx.resolve(v).unwrap();
    }
    fn value(out: Result<u64, spectrum_promise::PromiseError<()>>) -> u64 {
        out.unwrap()
    }
}

struct TokioOneshot;

impl Oneshot for TokioOneshot {
    type Tx = tokio::sync::oneshot::Sender<u64>;
    type Rx = tokio::sync::oneshot::Receiver<u64>;
    fn pair() -> (Self::Tx, Self::Rx) {
        tokio::sync::oneshot::channel()
    }
    fn send(tx: Self::Tx, v: u64) {
        tx.send(v).unwrap();
    }
    fn value(out: Result<u64, tokio::sync::oneshot::error::RecvError>) -> u64 {
        out.unwrap()
    }
}

/// The simplest correct oneshot: the value and the waker under one std mutex.
mod baseline {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll, Waker};

    type Slot<T> = Arc<Mutex<(Option<T>, Option<Waker>)>>;

    pub struct Sender<T>(Slot<T>);
    pub struct Receiver<T>(Slot<T>);

    pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
        let slot = Arc::new(Mutex::new((None, None)));
        (Sender(slot.clone()), Receiver(slot))
    }

    impl<T> Sender<T> {
        pub fn send(self, value: T) {
            let waker = {
                let mut g = self.0.lock().unwrap();
                g.0 = Some(value);
                g.1.take()
            };
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    impl<T> Future for Receiver<T> {
        type Output = T;
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
            let mut g = self.0.lock().unwrap();
            if let Some(v) = g.0.take() {
                return Poll::Ready(v);
            }
            match &g.1 {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => g.1 = Some(cx.waker().clone()),
            }
            Poll::Pending
        }
    }
}

struct Baseline;

impl Oneshot for Baseline {
    type Tx = baseline::Sender<u64>;
    type Rx = baseline::Receiver<u64>;
    fn pair() -> (Self::Tx, Self::Rx) {
        baseline::channel()
    }
    fn send(tx: Self::Tx, v: u64) {
        tx.send(v);
    }
    fn value(out: u64) -> u64 {
        out
    }
}

/// The two tasks of a ping-pong, given a way to spawn and join the second one.
async fn ping_pong<K: Oneshot, J>(
    spawn: impl FnOnce(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) -> J,
) -> Duration
where
    J: Future,
{
    let (a_tx, a_rx): (Vec<_>, Vec<_>) = (0..ROUND_TRIPS).map(|_| K::pair()).unzip();
    let (b_tx, b_rx): (Vec<_>, Vec<_>) = (0..ROUND_TRIPS).map(|_| K::pair()).unzip();
    let start = Instant::now();
    let pong = spawn(Box::pin(async move {
        for (rx, tx) in a_rx.into_iter().zip(b_tx) {
            let v = K::value(rx.await);
            K::send(tx, v + 1);
        }
    }));
    let mut sum = 0;
    for (i, (tx, rx)) in a_tx.into_iter().zip(b_rx).enumerate() {
        K::send(tx, i as u64);
        sum += K::value(rx.await);
    }
    pong.await;
    let took = start.elapsed();
    assert_eq!(sum, (1..=ROUND_TRIPS as u64).sum::<u64>());
    took
}

async fn make_resolve_await<K: Oneshot>() -> Duration {
    let start = Instant::now();
    let mut sum = 0;
    for i in 0..READY_OPS as u64 {
        let (tx, rx) = K::pair();
        K::send(tx, i);
        sum += K::value(rx.await);
    }
    let took = start.elapsed();
    assert_eq!(sum, (0..READY_OPS as u64).sum::<u64>());
    took
}

fn on_spectrum<K: Oneshot>(rt: &spectrum_rt::Runtime, ping: bool) -> Duration {
    rt.block_on(async move {
        spectrum_rt::spawn(async move {
            if ping {
                ping_pong::<K, _>(|f| {
                    let pong = spectrum_rt::spawn(f);
                    async move { pong.await.unwrap() }
                })
                .await
            } else {
                make_resolve_await::<K>().await
            }
        })
        .await
        .unwrap()
    })
}

fn on_tokio<K: Oneshot>(rt: &tokio::runtime::Runtime, ping: bool) -> Duration {
    rt.block_on(async move {
        tokio::spawn(async move {
            if ping {
                ping_pong::<K, _>(|f| {
                    let pong = tokio::spawn(f);
                    async move { pong.await.unwrap() }
                })
                .await
            } else {
                make_resolve_await::<K>().await
            }
        })
        .await
        .unwrap()
    })
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument is a filter we ignore.
    println!(
        "resolve -> await latency; median ns per op of {} alternating repetitions; \
         ratios are Promise / peer (lower is better for Promise)",
        harness::reps()
    );
    println!("| scenario | Promise | tokio oneshot | hand-written oneshot | Promise vs tokio | Promise vs hand-written |");
    for workers in [1, 2] {
        let srt = spectrum_rt::Runtime::builder()
            .workers(workers)
            .build()
            .unwrap();
        let trt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .build()
            .unwrap();
        for (scenario, ping, ops) in [
            ("ping-pong (per round trip)", true, ROUND_TRIPS),
            ("make+resolve+await", false, READY_OPS),
        ] {
            let mut sides = [
                Side::new("Promise", || on_spectrum::<SpectrumPromise>(&srt, ping)),
                Side::new("tokio oneshot", || on_spectrum::<TokioOneshot>(&srt, ping)),
                Side::new("hand-written", || on_spectrum::<Baseline>(&srt, ping)),
            ];
            let m = compare(ops, &mut sides);
            row(
                &format!("{scenario}, all on Spectrum rt ({workers} worker)"),
                &sides,
                &m,
            );
            let mut sides = [
                Side::new("Promise", || on_tokio::<SpectrumPromise>(&trt, ping)),
                Side::new("tokio oneshot", || on_tokio::<TokioOneshot>(&trt, ping)),
                Side::new("hand-written", || on_tokio::<Baseline>(&trt, ping)),
            ];
            let m = compare(ops, &mut sides);
            row(
                &format!("{scenario}, all on tokio rt ({workers} worker)"),
                &sides,
                &m,
            );
            let mut sides = [
                Side::new("Promise on Spectrum", || {
                    on_spectrum::<SpectrumPromise>(&srt, ping)
                }),
                Side::new("tokio oneshot on tokio", || {
                    on_tokio::<TokioOneshot>(&trt, ping)
                }),
            ];
            let m = compare(ops, &mut sides);
            row(
                &format!("{scenario}, each on its own rt ({workers} worker)"),
                &sides,
                &m,
            );
        }
    }
}
