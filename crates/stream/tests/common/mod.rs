//! The parameter table of the rules suite: every source and every operator as a publisher of
//! `u64` (the TCK's `createPublisher(n)` / `createFailedPublisher()`), a manual publisher to
//! drive operators from above (the TCK's `ManualPublisher`), and small waiting helpers.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use spectrum_stream::ops::RetrySpec;
use spectrum_stream::processor::Unicast;
use spectrum_stream::testing::TestProbe;
use spectrum_stream::{
    BoxFlux, Flux, Mono, Overflow, Publisher, StreamError, Subscriber, Subscription,
};
use spectrum_sync::Mutex;

type Make = Arc<dyn Fn(u64) -> BoxFlux<u64> + Send + Sync>;
type Failed = Arc<dyn Fn() -> BoxFlux<u64> + Send + Sync>;
pub type Op = Arc<dyn Fn(BoxFlux<u64>, u64) -> BoxFlux<u64> + Send + Sync>;

/// One publisher under test.
#[derive(Clone)]
pub struct Case {
    pub name: &'static str,
    make: Make,
    failed: Option<Failed>,
    /// The operator, when the case is an operator over a source (for the subscriber rules).
    pub op: Option<Op>,
    /// Most items `make(n)` can emit (the TCK's `maxElementsFromPublisher`).
    pub max: u64,
    /// `make(n)` emits exactly `n` items and completes (false for lossy operators).
    pub exact: bool,
    /// A fresh publisher instance can be subscribed more than once (rule 1.10).
    pub resubscribable: bool,
    /// The failed publisher fails before any item, so without any request.
    pub eager_failure: bool,
}

impl Case {
    pub fn make(&self, n: u64) -> BoxFlux<u64> {
        (self.make)(n)
    }
    pub fn failed(&self) -> Option<BoxFlux<u64>> {
        self.failed.as_ref().map(|f| f())
    }
}

fn source(
    name: &'static str,
    max: u64,
    make: impl Fn(u64) -> BoxFlux<u64> + Send + Sync + 'static,
) -> Case {
    Case {
        name,
        make: Arc::new(make),
        failed: None,
        op: None,
        max,
        exact: true,
        resubscribable: true,
        eager_failure: true,
    }
}

/// An operator case: `f(source, n)` with a `range(0..n)` source, and `f(error, 3)` as the
/// failed publisher.
fn op(
    name: &'static str,
    max: u64,
    f: impl Fn(BoxFlux<u64>, u64) -> BoxFlux<u64> + Send + Sync + 'static,
) -> Case {
    let f: Op = Arc::new(f);
    let (fm, ff) = (f.clone(), f.clone());
    Case {
        name,
        make: Arc::new(move |n| fm(Flux::range(0..n).boxed(), n)),
        failed: Some(Arc::new(move || ff(Flux::error(boom()).boxed(), 3))),
        op: Some(f),
        max,
        exact: true,
        resubscribable: true,
        eager_failure: true,
    }
}

fn lossy(mut c: Case) -> Case {
    c.exact = false;
    c
}

pub fn boom() -> StreamError {
    StreamError::msg("boom")
}

const H: Duration = Duration::from_secs(3600);

/// Every source and operator of the crate, as the rules suite runs them.
pub fn cases() -> Vec<Case> {
    let mut v = vec![
        // ----- sources -----
        source("range", u64::MAX, |n| Flux::range(0..n).boxed()),
        source("from_iterable", u64::MAX, |n| {
            Flux::from_iterable((0..n).collect::<Vec<_>>()).boxed()
        }),
        source("just", 1, |n| {
            if n == 0 {
                Flux::empty().boxed()
            } else {
                Flux::just(0u64).boxed()
            }
        }),
        source("empty", 0, |_| Flux::empty().boxed()),
        source("generate", u64::MAX, |n| {
            Flux::generate(
                || 0u64,
                move |i, sink| {
                    if *i == n {
                        sink.complete();
                    } else {
                        sink.next(*i);
                        *i += 1;
                    }
                },
            )
            .boxed()
        }),
        source("create(Buffer)", 10_000, |n| {
            Flux::create(Overflow::Buffer(n as usize), move |sink| {
                for i in 0..n {
                    sink.next(i);
                }
                sink.complete();
            })
            .boxed()
        }),
        source("create(BufferDropOldest)", 10_000, |n| {
            Flux::create(Overflow::BufferDropOldest(n as usize), move |sink| {
                for i in 0..n {
                    sink.next(i);
                }
                sink.complete();
            })
            .boxed()
        }),
        lossy(source("create(Drop)", u64::MAX, |n| {
            Flux::create(Overflow::Drop, move |sink| {
                for i in 0..n {
                    sink.next(i);
                }
                sink.complete();
            })
            .boxed()
        })),
        lossy(source("create(Latest)", u64::MAX, |n| {
            Flux::create(Overflow::Latest, move |sink| {
                for i in 0..n {
                    sink.next(i);
                }
                sink.complete();
            })
            .boxed()
        })),
        lossy(source("create(Error)", u64::MAX, |n| {
            Flux::create(Overflow::Error, move |sink| {
                for i in 0..n {
                    sink.next(i);
                }
                sink.complete();
            })
            .boxed()
        })),
        source("defer_stream", u64::MAX, |n| {
            Flux::defer_stream(move || futures::stream::iter(0..n)).boxed()
        }),
        Case {
            resubscribable: false,
            ..source("from_stream", u64::MAX, |n| {
                Flux::from_stream(futures::stream::iter(0..n)).boxed()
            })
        },
        Case {
            // Subscribers share the channel's values (MPMC), so not cold.
            resubscribable: false,
            ..source("from_receiver", 10_000, |n| {
                let (tx, rx) = spectrum_chan::bounded(n as usize + 1);
                for i in 0..n {
                    tx.try_send(i).unwrap();
                }
                Flux::from_receiver(rx).boxed()
            })
        },
        Case {
            resubscribable: false,
            ..source("Mono::from_future", 1, |n| {
                Mono::from_future(async move { n })
                    .flux()
                    .filter(move |_| n > 0)
                    .map(|_| 0)
                    .boxed()
            })
        },
        source("Mono::defer_future", 1, |n| {
            Mono::defer_future(move || async move { Ok::<u64, StreamError>(n) })
                .flux()
                .filter(move |_| n > 0)
                .boxed()
        }),
        source("interval", u64::MAX, |n| {
            Flux::interval(Duration::from_millis(1)).take(n).boxed()
        }),
        Case {
            resubscribable: false,
            ..source("Unicast", 10_000, |n| {
                let u = Unicast::new(Overflow::Buffer(usize::MAX));
                for i in 0..n {
                    u.next(i);
                }
                u.complete();
                Flux::from_publisher(u).boxed()
            })
        },
        Case {
            resubscribable: false,
            ..source("Multicast.share", 10_000, |n| {
                Flux::range(0..n)
                    .share_with(Overflow::Buffer(n as usize), 1)
                    .boxed()
            })
        },
        source("boxed", u64::MAX, |n| Flux::range(0..n).boxed().boxed()),
        // ----- operators -----
        op("map", u64::MAX, |s, _| s.map(|x| x + 1).boxed()),
        op("filter", u64::MAX, |s, _| {
            s.map(|x| x * 2)
                .flat_map_sequential(|x| Flux::from_iterable(vec![x, x + 1]))
                .filter(|x| x % 2 == 0)
                .boxed()
        }),
        op("filter_map", u64::MAX, |s, _| {
            s.flat_map_sequential(|x| Flux::from_iterable(vec![x, u64::MAX]))
                .filter_map(|x| (x != u64::MAX).then_some(x))
                .boxed()
        }),
        op("scan", u64::MAX, |s, _| s.scan(0u64, |a, x| a + x).boxed()),
        op("take", u64::MAX, |s, n| {
            s.concat_with_more().take(n).boxed()
        }),
        Case {
            eager_failure: false,
            ..op("skip", u64::MAX, |s, _| {
                Flux::concat(vec![Flux::range(0..3).boxed(), s])
                    .skip(3)
                    .boxed()
            })
        },
        op("take_while", u64::MAX, |s, _| {
            s.concat_with_more().take_while(|x| *x != u64::MAX).boxed()
        }),
        op("distinct_until_changed", u64::MAX, |s, _| {
            s.flat_map_sequential(|x| Flux::from_iterable(vec![x, x]))
                .distinct_until_changed()
                .boxed()
        }),
        op("flat_map(just)", u64::MAX, |s, _| {
            s.flat_map(Flux::just).boxed()
        }),
        op("flat_map(range)", u64::MAX, |s, _| {
            s.flat_map_with(|x| Flux::range(x..x + 1), 4, 2).boxed()
        }),
        op("flat_map(async inner)", 10_000, |s, _| {
            // The inners are made wherever the outer emits (maybe a thread that only
            // requested), so they name their runtime.
            let h = spectrum_rt::Handle::current();
            s.flat_map_with(
                move |x| Flux::just(x).publish_on_with(Some(h.clone()), 2),
                8,
                4,
            )
            .boxed()
        }),
        op("flat_map_unbounded", u64::MAX, |s, _| {
            s.flat_map_unbounded(|x| Flux::range(x..x + 1)).boxed()
        }),
        op("flat_map_sequential", u64::MAX, |s, _| {
            s.flat_map_sequential_with(|x| Flux::range(x..x + 1), 4, 2)
                .boxed()
        }),
        op("concat_map", u64::MAX, |s, _| {
            s.concat_map(|x| Flux::range(x..x + 1)).boxed()
        }),
        op("switch_map", u64::MAX, |s, _| {
            Flux::just(()).switch_map(move |_| s.clone()).boxed()
        }),
        op("merge", u64::MAX, |s, _| {
            Flux::merge(vec![s, Flux::empty().boxed()]).boxed()
        }),
        op("concat", u64::MAX, |s, _| {
            Flux::concat(vec![Flux::empty().boxed(), s]).boxed()
        }),
        op("zip", u64::MAX, |s, n| {
            Flux::zip(s, Flux::range(0..n.saturating_add(1)))
                .map(|(a, _)| a)
                .boxed()
        }),
        op("combine_latest", u64::MAX, |s, _| {
            Flux::combine_latest(Flux::just(0u64), s, |_, b| *b).boxed()
        }),
        op("buffer", u64::MAX, |s, _| {
            s.buffer(3).concat_map(Flux::from_iterable).boxed()
        }),
        op("buffer_timeout", u64::MAX, |s, _| {
            s.buffer_timeout(3, H)
                .concat_map(Flux::from_iterable)
                .boxed()
        }),
        op("buffer_time", u64::MAX, |s, _| {
            s.buffer_time(H).concat_map(Flux::from_iterable).boxed()
        }),
        op("window", u64::MAX, |s, _| {
            s.window(3).concat_map(|w| w).boxed()
        }),
        op("group_by", u64::MAX, |s, _| {
            s.group_by(|x| x % 4).flat_map(|g| g).boxed()
        }),
        op("retry", u64::MAX, |s, _| s.retry(2).boxed()),
        op("retry_when(backoff)", u64::MAX, |s, _| {
            s.retry_when(RetrySpec::backoff(2, Duration::from_millis(5)))
                .boxed()
        }),
        op("timeout", u64::MAX, |s, _| s.timeout(H).boxed()),
        op("on_backpressure_buffer", 10_000, |s, n| {
            s.on_backpressure_buffer(n as usize, Overflow::Buffer(0))
                .boxed()
        }),
        lossy(op("on_backpressure_drop", u64::MAX, |s, _| {
            s.on_backpressure_drop().boxed()
        })),
        lossy(op("on_backpressure_latest", u64::MAX, |s, _| {
            s.on_backpressure_latest().boxed()
        })),
        lossy(op("on_backpressure_error", u64::MAX, |s, _| {
            s.on_backpressure_error().boxed()
        })),
        op("limit_rate", u64::MAX, |s, _| s.limit_rate(4).boxed()),
        op("publish_on", u64::MAX, |s, _| {
            s.publish_on_with(None, 4).boxed()
        }),
        op("subscribe_on", u64::MAX, |s, _| s.subscribe_on().boxed()),
        op("sample", 1, |s, _| s.sample(H).boxed()),
        op("debounce", 1, |s, _| s.debounce(H).boxed()),
        op("throttle", 1, |s, _| s.throttle(H).boxed()),
        op("reduce", 1, |s, n| {
            s.reduce(0u64, |a, x| a + x)
                .flux()
                .filter(move |_| n > 0)
                .boxed()
        }),
        op("collect", 1, |s, n| {
            s.collect::<Vec<_>>()
                .flux()
                .filter_map(move |v| (n > 0).then_some(v.len() as u64))
                .boxed()
        }),
        op("count", 1, |s, n| {
            s.count().flux().filter(move |_| n > 0).boxed()
        }),
        op("last", 1, |s, _| s.last().flux().boxed()),
        Case {
            eager_failure: false, // the round trip polls the stream only under demand
            ..op("into_stream", u64::MAX, |s, _| {
                Flux::defer_try_stream(move || s.clone().into_stream_with(4)).boxed()
            })
        },
        Case {
            eager_failure: false,
            ..op("send_to/from_receiver", u64::MAX, |s, _| {
                Flux::defer_try_stream(move || s.clone().into_channel(2)).boxed()
            })
        },
    ];
    // The failed publishers of sources: `error` itself, and the single-value bridge.
    v.push(Case {
        failed: Some(Arc::new(|| Flux::error(boom()).boxed())),
        ..source("error", 0, |_| Flux::empty().boxed())
    });
    v.push(Case {
        eager_failure: false, // a future is polled only once its item is requested
        failed: Some(Arc::new(|| {
            Mono::defer_future(|| async { Err::<u64, _>(boom()) })
                .flux()
                .boxed()
        })),
        ..source("Mono::defer_future(Err)", 0, |_| Flux::empty().boxed())
    });
    v
}

/// `s` followed by items that the operator under test must cut off.
trait MoreExt {
    fn concat_with_more(self) -> BoxFlux<u64>;
}

impl MoreExt for BoxFlux<u64> {
    fn concat_with_more(self) -> BoxFlux<u64> {
        Flux::concat(vec![self, Flux::just(u64::MAX).boxed()]).boxed()
    }
}

/// Waits until `cond` holds, for at most about two seconds of real time. It yields, then
/// sleeps a virtual millisecond, so that under a paused clock the runtime's auto-advance
/// moves time on (interval sources and timers make progress).
pub async fn eventually(cond: impl FnMut() -> bool) -> bool {
    eventually_within(Duration::from_secs(2), cond).await
}

/// [`eventually`] with a limit, for conditions that may legitimately never hold.
pub async fn eventually_within(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        for _ in 0..8 {
            if cond() {
                return true;
            }
            spectrum_rt::task::yield_now().await;
        }
        spectrum_rt::time::sleep(Duration::from_millis(1)).await;
    }
    cond()
}

/// Lets the runtime run other tasks for a while (a few hundred polls).
pub async fn settle() {
    for _ in 0..200 {
        spectrum_rt::task::yield_now().await;
    }
}

thread_local! {
    /// The case being run, for failure messages.
    pub static CURRENT: std::cell::Cell<&'static str> = const { std::cell::Cell::new("") };
}

pub fn current() -> &'static str {
    CURRENT.with(|c| c.get())
}

/// Waits (with a real-time limit) for the probe to see `n` items or a terminal signal.
pub async fn await_count(p: &TestProbe<u64>, n: u64) {
    let ok = eventually(|| p.count() >= n || p.is_terminated()).await;
    assert!(ok, "{}: timed out waiting for {n} items: {p:?}", current());
}

pub async fn await_terminal(p: &TestProbe<u64>) {
    let ok = eventually(|| p.is_terminated()).await;
    assert!(
        ok,
        "{}: timed out waiting for a terminal signal: {p:?}",
        current()
    );
}

// ----- the manual publisher ------------------------------------------------------------------

#[derive(Default)]
struct ManualState {
    subscriber: Option<Box<dyn Subscriber<u64>>>,
    requested: u64,
    request_calls: u64,
    cancels: u64,
    subscriptions: u64,
}

/// A publisher driven by the test: it records what its subscriber asks for and sends what the
/// test says (the TCK's `ManualPublisher`).
#[derive(Clone, Default)]
pub struct Manual {
    st: Arc<Mutex<ManualState>>,
}

struct ManualSubscription {
    st: Arc<Mutex<ManualState>>,
}

impl Subscription for ManualSubscription {
    fn request(&self, n: u64) {
        let mut g = self.st.lock();
        g.request_calls += 1;
        g.requested = g.requested.saturating_add(n);
    }
    fn cancel(&self) {
        self.st.lock().cancels += 1;
    }
}

/// A subscription that only records (for a second `on_subscribe`, rule 2.5).
#[derive(Default)]
pub struct Recorder {
    pub cancelled: std::sync::atomic::AtomicBool,
}

impl Subscription for Recorder {
    fn request(&self, _: u64) {}
    fn cancel(&self) {
        self.cancelled
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Publisher for Manual {
    type Item = u64;
    fn subscribe<S: Subscriber<u64>>(&self, s: S) {
        let mut b: Box<dyn Subscriber<u64>> = Box::new(s);
        b.on_subscribe(Arc::new(ManualSubscription {
            st: self.st.clone(),
        }));
        let mut g = self.st.lock();
        g.subscriber = Some(b);
        g.subscriptions += 1;
    }
}

impl Manual {
    fn with<R>(&self, f: impl FnOnce(&mut dyn Subscriber<u64>) -> R) -> Option<R> {
        let mut s = self.st.lock().subscriber.take()?;
        let r = f(&mut *s);
        let mut g = self.st.lock();
        if g.subscriber.is_none() {
            g.subscriber = Some(s);
        }
        Some(r)
    }
    pub fn subscribed(&self) -> bool {
        self.st.lock().subscriber.is_some()
    }
    pub fn next(&self, v: u64) {
        self.with(|s| s.on_next(v));
    }
    pub fn complete(&self) {
        self.with(|s| s.on_complete());
    }
    pub fn error(&self, e: StreamError) {
        self.with(|s| s.on_error(e));
    }
    pub fn subscribe_again(&self, sub: Arc<dyn Subscription>) {
        self.with(|s| s.on_subscribe(sub));
    }
    pub fn subscriptions(&self) -> u64 {
        self.st.lock().subscriptions
    }
    pub fn requested(&self) -> u64 {
        self.st.lock().requested
    }
    pub fn request_calls(&self) -> u64 {
        self.st.lock().request_calls
    }
    pub fn cancels(&self) -> u64 {
        self.st.lock().cancels
    }
}
