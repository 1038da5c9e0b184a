//! `all` over 10k inputs against `futures::future::join_all` (and `try_join_all`, the
//! fail-fast peer), in the same run, on the same runtime and on each one's own runtime.
//!
//! Scenarios (10 000 inputs each, built before the clock starts):
//! - `complete`: every input is already settled (resolved promises, or `std::future::ready`).
//! - `pending`: every input is pending when the combinator first polls it; then one task settles
//!   them all, in order, and the combinator finishes.
//!
//! ```text
//! cargo bench -p spectrum-promise --bench all
//! ```

mod harness;

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures::future::{join_all, try_join_all};
use harness::{compare, row, Side};
use spectrum_promise::{all, all_settled, Promise};

const N: usize = 10_000;

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Which combinator a side runs.
#[derive(Clone, Copy)]
enum Comb {
    All,
    AllSettled,
    JoinAll,
    TryJoinAll,
}

/// Runs `comb` over `inputs` and checks the result.
async fn combine<F, E>(comb: Comb, inputs: Vec<F>) -> Duration
where
    F: Future<Output = Result<u64, E>> + Unpin,
    E: std::fmt::Debug,
{
    let start = Instant::now();
    let sum: u64 = match comb {
        Comb::All => all(inputs).await.unwrap().into_iter().sum(),
        Comb::AllSettled => all_settled(inputs)
            .await
            .into_iter()
            .map(Result::unwrap)
            .sum(),
        Comb::JoinAll => join_all(inputs).await.into_iter().map(Result::unwrap).sum(),
        Comb::TryJoinAll => try_join_all(inputs).await.unwrap().into_iter().sum(),
    };
    let took = start.elapsed();
    assert_eq!(sum, (0..N as u64).sum::<u64>());
    took
}

fn complete_promises() -> Vec<Promise<u64, ()>> {
    (0..N as u64).map(Promise::resolved).collect()
}

fn complete_ready() -> Vec<Ready<Result<u64, ()>>> {
    (0..N as u64).map(|i| ready(Ok(i))).collect()
}

/// Pending inputs of kind `K`, and the closure that settles them all.
trait Pending: 'static {
    type Input: Future<Output = Result<u64, Self::Err>> + Unpin + Send + 'static;
    type Err: std::fmt::Debug + Send;
    type Settle: FnOnce() + Send + 'static;
    fn make() -> (Vec<Self::Input>, Self::Settle);
}

struct PendingPromises;

impl Pending for PendingPromises {
    type Input = Promise<u64, ()>;
    type Err = spectrum_promise::PromiseError<()>;
    type Settle = Box<dyn FnOnce() + Send>;
    fn make() -> (Vec<Self::Input>, Self::Settle) {
        let (ps, rs): (Vec<_>, Vec<_>) = (0..N).map(|_| Promise::with_resolver()).unzip();
        let settle = Box::new(move || {
            for (i, r) in rs.into_iter().enumerate() {
                r.resolve(i as u64).unwrap();
            }
        });
        (ps, settle)
    }
}

struct PendingTokio;

impl Pending for PendingTokio {
    type Input = tokio::sync::oneshot::Receiver<u64>;
    type Err = tokio::sync::oneshot::error::RecvError;
    type Settle = Box<dyn FnOnce() + Send>;
    fn make() -> (Vec<Self::Input>, Self::Settle) {
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..N).map(|_| tokio::sync::oneshot::channel()).unzip();
        let settle = Box::new(move || {
            for (i, tx) in txs.into_iter().enumerate() {
                tx.send(i as u64).unwrap();
            }
        });
        (rxs, settle)
    }
}

/// The pending scenario inside a task: spawn the combinator, let it poll every input once,
/// settle them all from this task, and wait for the combinator.
async fn pending_scenario<K: Pending>(
    comb: Comb,
    spawn: impl FnOnce(BoxFut<Duration>) -> BoxFut<Duration>,
    yield_now: impl Fn() -> BoxFut<()>,
) -> Duration {
    let (inputs, settle) = K::make();
    let start = Instant::now();
    let combined = spawn(Box::pin(async move {
        combine(comb, inputs).await;
        Duration::ZERO
    }));
    // Let the combinator run its first poll (it registers with every input).
    for _ in 0..4 {
        yield_now().await;
    }
    settle();
    combined.await;
    start.elapsed()
}

fn spectrum_spawn(f: BoxFut<Duration>) -> BoxFut<Duration> {
    let h = spectrum_rt::spawn(f);
    Box::pin(async move { h.await.unwrap() })
}

fn tokio_spawn(f: BoxFut<Duration>) -> BoxFut<Duration> {
    let h = tokio::spawn(f);
    Box::pin(async move { h.await.unwrap() })
}

fn spectrum_yield() -> BoxFut<()> {
    Box::pin(spectrum_rt::task::yield_now())
}

fn tokio_yield() -> BoxFut<()> {
    Box::pin(tokio::task::yield_now())
}

/// Runs `f` as a task on the Spectrum runtime and returns its duration.
fn in_spectrum<Fut: Future<Output = Duration> + Send + 'static>(
    rt: &spectrum_rt::Runtime,
    f: impl FnOnce() -> Fut,
) -> Duration {
    let fut = f();
    rt.block_on(async move { spectrum_rt::spawn(fut).await.unwrap() })
}

fn in_tokio<Fut: Future<Output = Duration> + Send + 'static>(
    rt: &tokio::runtime::Runtime,
    f: impl FnOnce() -> Fut,
) -> Duration {
    let fut = f();
    rt.block_on(async move { tokio::spawn(fut).await.unwrap() })
}

fn main() {
    println!(
        "`all` over {N} inputs; median time per input of {} alternating repetitions; ratios \
         are the first side / each other side (lower is better for the first)",
        harness::reps()
    );
    let srt = spectrum_rt::Runtime::builder().workers(1).build().unwrap();
    let trt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();

    // 10k already-complete inputs.
    for (label, rt_name) in [("Spectrum rt", "spectrum"), ("tokio rt", "tokio")] {
        let run = |comb: Comb, promises: bool| -> Duration {
            let go = move || async move {
                if promises {
                    combine(comb, complete_promises()).await
                } else {
                    combine(comb, complete_ready()).await
                }
            };
            if rt_name == "spectrum" {
                in_spectrum(&srt, go)
            } else {
                in_tokio(&trt, go)
            }
        };
        for (inputs, promises) in [("resolved Promises", true), ("std::future::ready", false)] {
            let mut sides = [
                Side::new("all", || run(Comb::All, promises)),
                Side::new("join_all", || run(Comb::JoinAll, promises)),
                Side::new("try_join_all", || run(Comb::TryJoinAll, promises)),
                Side::new("all_settled", || run(Comb::AllSettled, promises)),
            ];
            let m = compare(N, &mut sides);
            row(
                &format!("10k complete ({inputs}), all sides on {label}"),
                &sides,
                &m,
            );
        }
    }

    // 10k pending inputs.
    let pend_spectrum = |comb: Comb| {
        in_spectrum(&srt, move || {
            pending_scenario::<PendingPromises>(comb, spectrum_spawn, spectrum_yield)
        })
    };
    let pend_tokio_promises = |comb: Comb| {
        in_tokio(&trt, move || {
            pending_scenario::<PendingPromises>(comb, tokio_spawn, tokio_yield)
        })
    };
    let pend_tokio_oneshot = |comb: Comb| {
        in_tokio(&trt, move || {
            pending_scenario::<PendingTokio>(comb, tokio_spawn, tokio_yield)
        })
    };
    let mut sides = [
        Side::new("all", || pend_spectrum(Comb::All)),
        Side::new("join_all", || pend_spectrum(Comb::JoinAll)),
        Side::new("try_join_all", || pend_spectrum(Comb::TryJoinAll)),
    ];
    let m = compare(N, &mut sides);
    row("10k pending Promises, all sides on Spectrum rt", &sides, &m);
    let mut sides = [
        Side::new("all", || pend_tokio_promises(Comb::All)),
        Side::new("join_all", || pend_tokio_promises(Comb::JoinAll)),
        Side::new("try_join_all", || pend_tokio_promises(Comb::TryJoinAll)),
    ];
    let m = compare(N, &mut sides);
    row("10k pending Promises, all sides on tokio rt", &sides, &m);
    let mut sides = [
        Side::new("all+Promise on Spectrum", || pend_spectrum(Comb::All)),
        Side::new("join_all+oneshot on tokio", || {
            pend_tokio_oneshot(Comb::JoinAll)
        }),
    ];
    let m = compare(N, &mut sides);
    row("10k pending, each on its own rt", &sides, &m);
}
