//! The full pipeline on a successful no-op call, against the same stack built from tower layers,
//! in the same process. Run: `cargo bench -p spectrum-resilience --bench pipeline`.
//!
//! Stacks (each layer configured so that it never trips on this workload):
//!
//! - **spectrum, tower's subset**: retry (3 attempts) → rate limiter (GCRA) → timeout (1 s,
//!   cooperative token + grace) → bulkhead (1024), on a 1-worker Spectrum runtime.
//! - **tower**: `RateLimitLayer` → `RetryLayer` (3 attempts) → `TimeoutLayer` (1 s) →
//!   `ConcurrencyLimitLayer` (1024) → `service_fn`, on a current-thread tokio runtime with timers.
//!   (`RateLimit` is not `Clone`, which `Retry` needs below it, so it sits outermost: the set of
//!   layers is the same, one position differs.)
//! - **spectrum, full**: the subset plus a circuit breaker and a fallback (tower has neither).
//!
//! Rounds alternate between the stacks; medians are reported, and the ratio is spectrum/tower
//! (below 1.0 means Spectrum is faster).

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::time::{Duration, Instant};

use spectrum_resilience::{
    Backoff, Bulkhead, CircuitBreaker, Error, Fallback, Pipeline, Quota, RateLimiter, Retry,
    Timeout,
};
use tower::{Service, ServiceBuilder, ServiceExt};

const CALLS: u32 = 200_000;
const ROUNDS: usize = 9;

fn spectrum_pipeline(full: bool) -> Pipeline<u64, Infallible> {
    let mut b = Pipeline::builder()
        .retry(
            Retry::builder()
                .max_attempts(3)
                .backoff(Backoff::constant(Duration::from_millis(1)))
                .build()
                .unwrap(),
        )
        .rate_limiter(RateLimiter::new(Quota::per_second(1_000_000_000)).unwrap())
        .timeout(Timeout::new(Duration::from_secs(1)).unwrap())
        .bulkhead(Bulkhead::builder().max_concurrent(1024).build().unwrap());
    if full {
        b = b
            .breaker(CircuitBreaker::builder().build().unwrap())
            .fallback(Fallback::new(|_e: Error<Infallible>| async { Ok(0) }));
    }
    b.build()
}

#[derive(Clone)]
struct Attempts(u32);

impl<Req: Clone, Res, E> tower::retry::Policy<Req, Res, E> for Attempts {
    type Future = std::future::Ready<()>;

    fn retry(&mut self, _req: &mut Req, result: &mut Result<Res, E>) -> Option<Self::Future> {
        match result {
            Ok(_) => None,
            Err(_) if self.0 > 1 => {
                self.0 -= 1;
                Some(std::future::ready(()))
            }
            Err(_) => None,
        }
    }

    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

type BoxErr = Box<dyn std::error::Error + Send + Sync>;

fn tower_stack() -> impl Service<u64, Response = u64, Error = BoxErr, Future: Send> + Send + 'static
{
    ServiceBuilder::new()
        .rate_limit(1_000_000_000, Duration::from_secs(1))
        .retry(Attempts(3))
        .timeout(Duration::from_secs(1))
        .concurrency_limit(1024)
        .service(tower::service_fn(
            |x: u64| async move { Ok::<_, BoxErr>(x) },
        ))
}

fn per_call(start: Instant) -> f64 {
    start.elapsed().as_nanos() as f64 / f64::from(CALLS)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Both runtimes run the loop inside a spawned task, as application code would.
fn run_spectrum(rt: &spectrum_rt::Runtime, p: &Pipeline<u64, Infallible>) -> f64 {
    let p = p.clone();
    rt.block_on(rt.spawn(async move {
        let start = Instant::now();
        for i in 0..u64::from(CALLS) {
            let v = p.call(|_| async move { Ok(black_box(i)) }).await.unwrap();
            black_box(v);
        }
        per_call(start)
    }))
    .unwrap()
}

fn run_tower<S>(rt: &tokio::runtime::Runtime, svc: S) -> (f64, S)
where
    S: Service<u64, Response = u64, Error = BoxErr> + Send + 'static,
    S::Future: Send,
{
    let mut svc = svc;
    rt.block_on(rt.spawn(async move {
        let start = Instant::now();
        for i in 0..u64::from(CALLS) {
            let v = svc.ready().await.unwrap().call(black_box(i)).await.unwrap();
            black_box(v);
        }
        (per_call(start), svc)
    }))
    .unwrap()
}

/// The floor: awaiting the bare no-op future on each runtime.
fn run_bare_spectrum(rt: &spectrum_rt::Runtime) -> f64 {
    rt.block_on(async {
        let start = Instant::now();
        for i in 0..u64::from(CALLS) {
            let f: Pin<&mut dyn Future<Output = u64>> = std::pin::pin!(async move { black_box(i) });
            black_box(f.await);
        }
        per_call(start)
    })
}

fn main() {
    // The loops never yield (every call completes on its first poll), which the long-poll
    // watchdog would report every 10 ms; tokio's runtime has no watchdog either.
    let srt = spectrum_rt::Runtime::builder()
        .workers(1)
        .long_poll_threshold(None)
        .build()
        .unwrap();
    let trt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let subset = spectrum_pipeline(false);
    let full = spectrum_pipeline(true);
    let tower_svc = {
        let _g = trt.enter();
        tower_stack()
    };
    // Warm up.
    run_spectrum(&srt, &subset);
    run_spectrum(&srt, &full);
    let mut tower_svc = run_tower(&trt, tower_svc).1;

    let (mut s, mut f, mut t, mut r, mut bare) = (vec![], vec![], vec![], vec![], vec![]);
    for round in 0..ROUNDS {
        let (a, b, c) = if round % 2 == 0 {
            let a = run_spectrum(&srt, &subset);
            let b = run_spectrum(&srt, &full);
            let (c, svc) = run_tower(&trt, tower_svc);
            tower_svc = svc;
            (a, b, c)
        } else {
            let (c, svc) = run_tower(&trt, tower_svc);
            tower_svc = svc;
            let a = run_spectrum(&srt, &subset);
            (a, run_spectrum(&srt, &full), c)
        };
        s.push(a);
        f.push(b);
        t.push(c);
        r.push(a / c);
        bare.push(run_bare_spectrum(&srt));
    }
    let (s, f, t, r, bare) = (
        median(&mut s),
        median(&mut f),
        median(&mut t),
        median(&mut r),
        median(&mut bare),
    );
    println!("pipeline overhead, successful no-op call ({CALLS} calls x {ROUNDS} alternating rounds, medians)");
    println!("| stack | ns/call | vs tower |");
    println!("|---|---:|---:|");
    println!("| tower: rate_limit > retry > timeout > concurrency_limit | {t:.1} | 1.00x |");
    println!("| spectrum: retry > rate limit > timeout > bulkhead | {s:.1} | {r:.2}x |");
    println!(
        "| spectrum full: + fallback + circuit breaker | {f:.1} | {:.2}x |",
        f / t
    );
    println!("| (floor: bare no-op await on the spectrum runtime) | {bare:.1} | |");
    println!();
    println!("one policy alone (same loop, medians of {ROUNDS}):");
    println!("| policy | ns/call |");
    println!("|---|---:|");
    type Make = fn() -> Pipeline<u64, Infallible>;
    let singles: [(&str, Make); 6] = [
        ("none (empty pipeline)", || Pipeline::builder().build()),
        ("retry", || {
            Pipeline::builder()
                .retry(Retry::builder().max_attempts(3).build().unwrap())
                .build()
        }),
        ("circuit breaker", || {
            Pipeline::builder()
                .breaker(CircuitBreaker::builder().build().unwrap())
                .build()
        }),
        ("rate limiter", || {
            Pipeline::builder()
                .rate_limiter(RateLimiter::new(Quota::per_second(1_000_000_000)).unwrap())
                .build()
        }),
        ("timeout", || {
            Pipeline::builder()
                .timeout(Timeout::new(Duration::from_secs(1)).unwrap())
                .build()
        }),
        ("bulkhead", || {
            Pipeline::builder()
                .bulkhead(Bulkhead::builder().max_concurrent(1024).build().unwrap())
                .build()
        }),
    ];
    for (name, make) in singles {
        let p = make();
        let mut v: Vec<f64> = (0..ROUNDS).map(|_| run_spectrum(&srt, &p)).collect();
        println!("| {name} | {:.1} |", median(&mut v));
    }
    let ok_ratio = r <= 1.0;
    let ok_abs = f <= 200.0;
    println!(
        "targets: <= 1.0x tower: {}; full pipeline <= 200 ns: {}",
        if ok_ratio { "met" } else { "NOT met" },
        if ok_abs { "met" } else { "NOT met" }
    );
}
