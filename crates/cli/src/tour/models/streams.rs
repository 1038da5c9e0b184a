//! Reactive streams: `spectrum::stream` (`Flux`, `Mono`, `request(n)` demand).
//!
//! Every workload is an operator chain a Reactor user would write; the few pieces the crate
//! does not offer are small and named here: [`subscribe`] (Reactor's `flux.subscribe()`
//! returning a `Disposable`), [`repeat`] (Reactor's `Mono.repeat()`), and [`Baton`] (the socket
//! half handed from one `concat_map` step to the next: Java shares it by reference, Rust needs
//! an owner).

use std::any::Any;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use spectrum::net::{TcpListener, TcpStream};
use spectrum::scope::BoxError;
use spectrum::stream::{Flux, Mono, Overflow, Publisher, StreamError, Subscriber, Subscription};
use spectrum::time::sleep;

use super::{check_sum, consume, item, Pace, Started, ECHO_BUF};
use crate::tour::measure::{rss, Gauge, Live, Unit};
use crate::tour::model::{CancelRun, Cx, FanOutRun, Info, Model, Prop};
use crate::tour::models::tasks::join;
use crate::tour::workload::Sizes;

#[derive(Debug)]
pub struct Streams;

/// The echo server's `flat_map` concurrency: connections served at once.
const MAX_CONNECTIONS: usize = 1 << 16;

static INFO: Info = Info {
    id: "streams",
    name: "Reactive streams",
    surface: "`stream::{Flux, Mono}`: `flat_map_with`, `concat_map`, `reduce`, `subscribe_on`, `publish_on_with`, `on_backpressure_buffer`, \
              `Mono::from_future`; `Subscriber` / `Subscription` (`request(n)`, `cancel`)",
    stack_cost: "a subscription (a few small allocations per operator); a task only at an async \
                 boundary",
    sync_style: Prop {
        value: "DSL: operator chains, `.await` on the final `Mono`",
        tests: &[
            "crates/stream/tests/operators.rs::flat_map_sequential_keeps_outer_order_with_async_inners",
        ],
    },
    cancellation: Prop {
        value: "`Subscription::cancel`, carried upstream by every operator; the publisher drops \
                the subscriber",
        tests: &[
            "crates/stream/tests/rules_publisher.rs::rule_3_13_cancel_drops_the_subscriber",
            "crates/stream/tests/operators.rs::take_caps_upstream_demand_and_cancels",
        ],
    },
    backpressure: Prop {
        value: "`request(n)` demand, built in; operators bounded by default",
        tests: &[
            "crates/stream/tests/rules_publisher.rs::rule_1_01_never_more_than_requested",
            "crates/stream/tests/operators.rs::flat_map_is_bounded_by_default",
            "crates/stream/tests/bridges.rs::from_stream_polls_only_under_demand",
        ],
    },
    fan_out: "One `Flux` for the whole run, subscribed from a task: `Flux::range(0..requests)\
              .flat_map_with(request, requests, 1)`, where a request is `Flux::range(0..10)\
              .flat_map_with(|b| Mono::from_future(async { sleep(d).await; answer }), 10, 1)\
              .reduce(0, +)` mapped to its latency; `collect().await` gathers the answers. \
              Every backend `Mono` runs its future as a Spectrum task.",
    connections: "The server is one `Flux`: accepts (`repeat(Mono::from_future(accept))`) \
                  `flat_map_with(connection, 65 536, 1)`. A connection is `repeat(Mono::\
                  from_future(read))` (the next read starts only once the last chunk was \
                  taken) `.take_while(non-empty).concat_map(|chunk| Mono::from_future(\
                  write_all))` (one chunk requested at a time, the next once it is written) \
                  `.count()`: two tasks per round trip.",
    pipeline_bounded: "`Flux::generate` makes an item per request, `.subscribe_on()` (on its own \
                       task) `.publish_on_with(None, 64)` (Reactor's `publishOn(s, 64)`: it \
                       requests 64, then 48 each time 48 were taken) `.concat_map(|it| \
                       Mono::from_future(keep the pace, consume))`.",
    pipeline_unbounded: "The same chain with `.on_backpressure_buffer(usize::MAX, \
                         Overflow::Buffer(usize::MAX))` before `publish_on`: it requests \
                         everything, and the source fills it at full speed.",
    cancel: "Per unit, a subscriber holding the state, subscribed to `Flux::never()` with one \
             item requested; cancel = `cancel()` on every `Subscription` (Reactor's \
             `Disposable.Composite::dispose`): the source drops each subscriber at once.",
    spawn: "`Flux::range(0..n).flat_map_with(|i| Mono::from_future(async move { i }), n, 1)\
            .reduce(0, +)` from a root task: n subscriptions at once, each a `Mono` whose \
            future runs as a task.",
    parked: "Subscribers holding 64 bytes of state, each subscribed to `Flux::never()` with one \
             item requested (a subscription waiting for an item that never comes; no task).",
};

// ---- the pieces the crate leaves to the user ------------------------------------------------

/// What Reactor's `flux.subscribe()` returns: a handle whose `dispose` cancels the subscription.
#[derive(Clone, Default)]
struct Disposable(Arc<OnceLock<Arc<dyn Subscription>>>);

impl Disposable {
    fn dispose(&self) {
        if let Some(s) = self.0.get() {
            s.cancel();
        }
    }
}

/// A subscriber that requests `demand` items, ignores them, and holds `state` until the
/// subscription ends. It hands its subscription to the [`Disposable`] and keeps no reference to
/// it (a subscriber holding its own subscription would be a cycle until the stream ends).
struct Holding<St> {
    slot: Option<Disposable>,
    demand: u64,
    _state: St,
}

impl<T: Send + 'static, St: Send + 'static> Subscriber<T> for Holding<St> {
    fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
        if let Some(slot) = self.slot.take() {
            let _ = slot.0.set(s.clone());
        }
        s.request(self.demand);
    }
    fn on_next(&mut self, _: T) {}
    fn on_error(&mut self, _: StreamError) {}
    fn on_complete(&mut self) {}
}

/// Subscribes to `p` with `demand`, the subscriber holding `state`.
fn subscribe<P: Publisher, St: Send + 'static>(p: &P, demand: u64, state: St) -> Disposable {
    let d = Disposable::default();
    p.subscribe(Holding {
        slot: Some(d.clone()),
        demand,
        _state: state,
    });
    d
}

/// `make()`'s `Mono`, subscribed again each time the previous one has completed and its item was
/// taken (Reactor's `Mono.repeat()`): a `generate` of ticks, one per request, `concat_map`ped.
fn repeat<Q, F>(make: F) -> Flux<impl Publisher<Item = Q::Item>>
where
    F: Fn() -> Q + Send + Sync + 'static,
    Q: Publisher,
{
    Flux::generate(|| (), |_: &mut (), sink| sink.next(())).concat_map(move |()| make())
}

/// A value handed from one step of a sequential chain (`concat_map`) to the next: each step
/// takes it and puts it back before it completes, and `concat_map` never runs two at once.
struct Baton<T>(Mutex<Option<T>>);

impl<T> Baton<T> {
    fn new(v: T) -> Arc<Self> {
        Arc::new(Baton(Mutex::new(Some(v))))
    }
    fn take(&self) -> Option<T> {
        self.0.lock().ok()?.take()
    }
    fn put(&self, v: T) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some(v);
        }
    }
}

/// One connection: reads on demand, writes back, counts the chunks echoed.
fn connection(stream: TcpStream) -> impl Publisher<Item = u64> {
    let (r, w) = stream.into_split();
    let reader = Baton::new((r, vec![0u8; ECHO_BUF]));
    let writer = Baton::new(w);
    repeat(move || {
        let reader = reader.clone();
        Mono::from_future(async move {
            let Some((mut r, mut buf)) = reader.take() else {
                return Vec::new();
            };
            let chunk = match r.read(&mut buf).await {
                Ok(n) => buf[..n].to_vec(),
                Err(_) => Vec::new(),
            };
            reader.put((r, buf));
            chunk
        })
    })
    .take_while(|chunk| !chunk.is_empty())
    .concat_map(move |chunk| {
        let writer = writer.clone();
        Mono::from_future(async move {
            let Some(mut w) = writer.take() else {
                return false;
            };
            let ok = w.write_all(&chunk).await.is_ok();
            writer.put(w);
            ok
        })
    })
    .take_while(|ok| *ok)
    .count()
}

impl Model for Streams {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn fan_out(&self, cx: &Cx<'_>, inflight: &Arc<Gauge>) -> Result<FanOutRun, BoxError> {
        let s = Arc::new(cx.sizes.clone());
        let inflight = inflight.clone();
        join(cx.rt.spawn(async move {
            let start = Instant::now();
            let (n, backends) = (s.fanout_requests, s.fanout_backends);
            let s2 = s.clone();
            let request = move |i: usize| {
                let (s, inflight) = (s2.clone(), inflight.clone());
                let arrived = Instant::now();
                inflight.add(1);
                Flux::range(0..s.fanout_backends)
                    .flat_map_with(
                        move |b| {
                            let d = s.backend_delay(i, b);
                            Mono::from_future(async move {
                                sleep(d).await;
                                Sizes::backend_answer(i, b)
                            })
                        },
                        backends,
                        1,
                    )
                    .reduce(0u64, |sum, v| sum + v)
                    .map(move |sum| {
                        inflight.add(-1);
                        (i, sum, arrived.elapsed())
                    })
            };
            let answers: Vec<_> = Flux::range(0..n)
                .flat_map_with(request, n.max(1), 1)
                .collect()
                .await?
                .unwrap_or_default();
            let total = start.elapsed();
            if answers.len() != n {
                return Err(format!("{} of {n} requests answered", answers.len()).into());
            }
            let mut latencies = Vec::with_capacity(n);
            for (i, sum, latency) in answers {
                if sum != s.expected_sum(i) {
                    return Err(format!("request {i}: wrong sum {sum}").into());
                }
                latencies.push(latency);
            }
            Ok::<_, BoxError>(FanOutRun { latencies, total })
        }))?
    }

    fn echo_server(&self, cx: &Cx<'_>, listener: std::net::TcpListener) -> Result<(), BoxError> {
        let listener = Arc::new(TcpListener::from_std(listener)?);
        cx.rt
            .spawn(async move {
                let server = repeat(move || {
                    let l = listener.clone();
                    Mono::from_future(async move { l.accept().await.map(|(c, _)| c).ok() })
                })
                .take_while(Option::is_some)
                .filter_map(|c| c)
                .flat_map_with(connection, MAX_CONNECTIONS, 1);
                let _ = server.for_each(|_chunks_echoed| {}).await;
            })
            .detach();
        Ok(())
    }

    fn pipeline(&self, cx: &Cx<'_>, bounded: bool, queued: &Arc<Gauge>) -> Result<(), BoxError> {
        let s = cx.sizes.clone();
        let (n, bytes, cap, rate) = (s.pipe_items, s.pipe_bytes, s.pipe_cap, s.pipe_rate_per_ms);
        let (q_make, q_take) = (queued.clone(), queued.clone());
        let taken = join(cx.rt.spawn(async move {
            // One item per request, only when requested (Reactor's `generate`).
            let source = Flux::generate(
                || 0usize,
                move |k, sink| {
                    q_make.add(1);
                    sink.next((*k, item(*k, bytes)));
                    *k += 1;
                    if *k == n {
                        sink.complete();
                    }
                },
            )
            .subscribe_on();
            let pace = Pace::new(rate);
            let consumer = move |(k, it): (usize, Vec<u8>)| {
                let q = q_take.clone();
                Mono::from_future(async move {
                    if let Some(d) = pace.ahead(k) {
                        sleep(d).await;
                    }
                    let sum = consume(&it);
                    drop(it);
                    q.add(-1);
                    sum
                })
            };
            if bounded {
                source
                    .publish_on_with(None, cap)
                    .concat_map(consumer)
                    .count()
                    .await
            } else {
                source
                    .on_backpressure_buffer(usize::MAX, Overflow::Buffer(usize::MAX))
                    .publish_on_with(None, cap)
                    .concat_map(consumer)
                    .count()
                    .await
            }
        }))??;
        match taken {
            Some(t) if t == n as u64 => Ok(()),
            t => Err(format!("the consumer took {} of {n} items", t.unwrap_or(0)).into()),
        }
    }

    fn cancel(&self, _cx: &Cx<'_>, n: usize, live: &Live) -> Result<CancelRun, BoxError> {
        let started = Started::default();
        let never = Flux::<spectrum::stream::source::Terminal<()>>::never();
        let subscriptions: Vec<Disposable> = (0..n)
            .map(|_| {
                let d = subscribe(&never, 1, live.unit());
                started.hit();
                d
            })
            .collect();
        started.wait(n)?;
        let rss_started = rss();
        let at = Instant::now();
        for d in &subscriptions {
            d.dispose();
        }
        live.wait_zero(Duration::from_secs(10));
        let stop = at.elapsed();
        drop(subscriptions);
        Ok(CancelRun { rss_started, stop })
    }

    fn spawn_join(&self, cx: &Cx<'_>, n: usize) -> Result<(), BoxError> {
        let sum = join(cx.rt.spawn(async move {
            Flux::range(0..n as u64)
                .flat_map_with(|i| Mono::from_future(async move { i }), n.max(1), 1)
                .reduce(0u64, |sum, i| sum + i)
                .await
        }))??;
        Ok(check_sum(sum.unwrap_or(0), n)?)
    }

    fn parked(&self, _cx: &Cx<'_>, n: usize, live: &Live) -> Result<Box<dyn Any>, BoxError> {
        let never = Flux::<spectrum::stream::source::Terminal<()>>::never();
        let parked: Vec<Disposable> = (0..n)
            .map(|_| subscribe::<_, Unit>(&never, 1, live.unit()))
            .collect();
        if live.live() != n {
            return Err(format!("{} of {n} subscriptions hold their state", live.live()).into());
        }
        Ok(Box::new(parked))
    }
}
