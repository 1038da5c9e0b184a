//! Callbacks: continuation-passing code over Spectrum (`promise::callback` adapters both ways).
//!
//! Spectrum has no native callback-style timer or socket API, so this row writes the thin one a
//! callback program would use: [`set_timeout`] and the socket operations each run as a small
//! task that calls the continuation when it completes (libuv's shape), and return the task's
//! handle, which cancels. `callback::from_fn` turns the callback-style whole back into a
//! promise the driver can wait on, and `on_complete_with(Inline, ..)` turns promises into
//! callbacks.

use std::any::Any;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use spectrum::callback::{self, Inline};
use spectrum::net::{TcpListener, TcpStream};
use spectrum::scope::BoxError;
use spectrum::time::sleep;
use spectrum::{JoinHandle, Wait};

use super::{check_sum, consume, item, Pace, Started, ECHO_BUF};
use crate::tour::measure::{rss, Gauge, Live};
use crate::tour::model::{CancelRun, Cx, FanOutRun, Info, Model, Prop};
use crate::tour::workload::Sizes;

#[derive(Debug)]
pub struct Callbacks;

static INFO: Info = Info {
    id: "callbacks",
    name: "Callback",
    surface: "`callback::from_fn`, `Promise::on_complete_with(Inline, ..)`; timers and sockets \
              wrapped as callback APIs (one small task per operation)",
    stack_cost: "none (a closure per pending callback)",
    sync_style: Prop {
        value: "no",
        tests: &["crates/promise/tests/callback_hell.rs::callbacks_version"],
    },
    cancellation: Prop {
        value: "the returned handle cancels; a callback dropped uncalled abandons its promise",
        tests: &[
            "crates/rt/tests/cancel.rs::dropping_the_handle_cancels_and_detach_does_not",
            "crates/promise/tests/from_fn.rs::a_callback_never_called_abandons_the_promise_at_its_last_drop",
        ],
    },
    backpressure: Prop {
        value: "manual: by the primitive used (here, credits returned by an ack callback)",
        tests: &[],
    },
    fan_out: "The handler calls a callback-style backend API 10 times (`set_timeout(d, cb)`: a \
              small task sleeps, then calls `cb`); each callback adds its answer to a shared \
              counter, and the last one calls the request's own completion callback. The driver \
              waits on a `callback::from_fn` promise completed by the last request.",
    connections: "Callback-style socket operations (`accept_cb`, `read_cb`, `write_cb`: each runs \
                  as a small task and calls its continuation with the stream back); the echo \
                  loop is `read_cb` → `write_cb` → `read_cb` ...",
    pipeline_bounded: "The producer emits an item only while it holds a credit (64 at the start); \
                       the consumer, driven by timer callbacks, calls each item's ack callback \
                       when it has taken the item, which returns the credit and resumes the \
                       producer.",
    pipeline_unbounded: "The producer emits every item at once; the consumer's callback-driven \
                         queue holds them.",
    cancel: "`set_timeout(1 h, cb)` per unit, each callback owning the unit's state; cancel = \
             cancel every returned handle.",
    spawn: "Register a callback per unit (`callback::from_fn`, then \
            `on_complete_with(Inline, add to the sum)`), then call every `Done` callback.",
    parked: "Registered callbacks that are never called: `from_fn` + `on_complete_with(Inline, ..)` \
             owning 64 bytes of state; no task.",
};

/// Calls `cb` after `d` on a runtime worker; the returned handle cancels the timer (and drops
/// `cb` uncalled).
fn set_timeout(d: Duration, cb: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    spectrum::spawn(async move {
        sleep(d).await;
        cb();
    })
}

/// `set_timeout` that reports when its task first runs (the cancellation workload waits for all).
fn set_timeout_started(
    d: Duration,
    started: Started,
    cb: impl FnOnce() + Send + 'static,
) -> JoinHandle<()> {
    spectrum::spawn(async move {
        started.hit();
        sleep(d).await;
        cb();
    })
}

type Continue<T> = Box<dyn FnOnce(T) + Send>;

/// A request: calls every backend, sums the answers, calls `done` with the sum.
fn request(s: &Arc<Sizes>, i: usize, done: Continue<u64>) {
    struct Join {
        left: AtomicUsize,
        sum: AtomicU64,
        done: Mutex<Option<Continue<u64>>>,
    }
    let join = Arc::new(Join {
        left: AtomicUsize::new(s.fanout_backends),
        sum: AtomicU64::new(0),
        done: Mutex::new(Some(done)),
    });
    for b in 0..s.fanout_backends {
        let join = join.clone();
        backend(
            s.backend_delay(i, b),
            Sizes::backend_answer(i, b),
            move |answer| {
                // AcqRel on `left`: the last callback sees every other callback's `sum` add.
                join.sum.fetch_add(answer, Relaxed);
                if join.left.fetch_sub(1, AcqRel) == 1 {
                    let done = join.done.lock().expect("lock").take();
                    if let Some(done) = done {
                        done(join.sum.load(Relaxed));
                    }
                }
            },
        );
    }
}

/// A callback-style backend: answers `answer` after `d`.
fn backend(d: Duration, answer: u64, cb: impl FnOnce(u64) + Send + 'static) {
    set_timeout(d, move || cb(answer)).detach();
}

fn accept_cb(
    l: Arc<TcpListener>,
    cb: impl FnOnce(Arc<TcpListener>, io::Result<TcpStream>) + Send + 'static,
) {
    spectrum::spawn(async move {
        let r = l.accept().await.map(|(s, _)| s);
        cb(l, r);
    })
    .detach();
}

fn read_cb(
    mut s: TcpStream,
    mut buf: Vec<u8>,
    cb: impl FnOnce(TcpStream, Vec<u8>, io::Result<usize>) + Send + 'static,
) {
    spectrum::spawn(async move {
        let r = s.read(&mut buf).await;
        cb(s, buf, r);
    })
    .detach();
}

fn write_cb(
    mut s: TcpStream,
    buf: Vec<u8>,
    n: usize,
    cb: impl FnOnce(TcpStream, Vec<u8>, io::Result<()>) + Send + 'static,
) {
    spectrum::spawn(async move {
        let r = s.write_all(&buf[..n]).await;
        cb(s, buf, r);
    })
    .detach();
}

fn accept_loop(l: Arc<TcpListener>) {
    accept_cb(l, |l, r| {
        if let Ok(s) = r {
            echo(s, vec![0; ECHO_BUF]);
            accept_loop(l);
        }
    });
}

fn echo(s: TcpStream, buf: Vec<u8>) {
    read_cb(s, buf, |s, buf, r| {
        if let Ok(n @ 1..) = r {
            write_cb(s, buf, n, |s, buf, r| {
                if r.is_ok() {
                    echo(s, buf);
                }
            });
        }
    });
}

/// The callback-driven pipeline: shared by the producer's and the consumer's callbacks.
struct Pipe {
    s: Sizes,
    bounded: bool,
    queued: Arc<Gauge>,
    pace: Pace,
    state: Mutex<PipeState>,
    finished: Mutex<Option<callback::Done<(), Infallible>>>,
}

struct PipeState {
    queue: VecDeque<Vec<u8>>,
    produced: usize,
    consumed: usize,
    credits: usize,
    /// The producer ran out of credits and waits for an ack to resume it.
    stalled: bool,
    /// A consumer timer callback is scheduled.
    consumer_armed: bool,
}

impl Pipe {
    /// The producer: emits items while it has credits (or always, unbounded).
    fn produce(self: &Arc<Self>) {
        loop {
            let k = {
                let mut st = self.state.lock().expect("lock");
                if st.produced == self.s.pipe_items {
                    return;
                }
                if self.bounded && st.credits == 0 {
                    st.stalled = true;
                    return;
                }
                st.credits = st.credits.saturating_sub(1);
                st.produced += 1;
                st.produced - 1
            };
            let it = item(k, self.s.pipe_bytes);
            self.queued.add(1);
            self.offer(it);
        }
    }

    /// Hands an item to the consumer, arming its timer callback if it is idle.
    fn offer(self: &Arc<Self>, it: Vec<u8>) {
        let arm = {
            let mut st = self.state.lock().expect("lock");
            st.queue.push_back(it);
            !std::mem::replace(&mut st.consumer_armed, true)
        };
        if arm {
            let me = self.clone();
            set_timeout(Duration::ZERO, move || me.consume()).detach();
        }
    }

    /// The consumer's timer callback: takes every item that is due, acks them, re-arms.
    fn consume(self: &Arc<Self>) {
        let mut acked = 0;
        let next = loop {
            let mut st = self.state.lock().expect("lock");
            if let Some(d) = self.pace.ahead(st.consumed) {
                break Some(d);
            }
            let Some(it) = st.queue.pop_front() else {
                st.consumer_armed = false;
                break None;
            };
            st.consumed += 1;
            drop(st);
            std::hint::black_box(consume(&it));
            drop(it);
            self.queued.add(-1);
            acked += 1;
        };
        if acked > 0 {
            self.ack(acked);
        }
        let done = self.state.lock().expect("lock").consumed == self.s.pipe_items;
        if done {
            if let Some(f) = self.finished.lock().expect("lock").take() {
                let _ = f.resolve(());
            }
            return;
        }
        if let Some(d) = next {
            let me = self.clone();
            set_timeout(d, move || me.consume()).detach();
        }
    }

    /// The ack callback: returns credits and resumes a stalled producer.
    fn ack(self: &Arc<Self>, n: usize) {
        let resume = {
            let mut st = self.state.lock().expect("lock");
            st.credits += n;
            std::mem::replace(&mut st.stalled, false)
        };
        if resume {
            self.produce();
        }
    }
}

impl Model for Callbacks {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn fan_out(&self, cx: &Cx<'_>, inflight: &Arc<Gauge>) -> Result<FanOutRun, BoxError> {
        let s = Arc::new(cx.sizes.clone());
        let n = s.fanout_requests;
        let latencies = Arc::new(Mutex::new(Vec::with_capacity(n)));
        let errors = Arc::new(AtomicUsize::new(0));
        let left = Arc::new(AtomicUsize::new(n));
        let start = Instant::now();
        let all_done = callback::from_fn::<(), Infallible, _>(|all_done| {
            for i in 0..n {
                let arrived = Instant::now();
                inflight.add(1);
                let (s2, inflight, latencies, errors, left, all_done) = (
                    s.clone(),
                    inflight.clone(),
                    latencies.clone(),
                    errors.clone(),
                    left.clone(),
                    all_done.clone(),
                );
                request(
                    &s,
                    i,
                    Box::new(move |sum| {
                        inflight.add(-1);
                        if sum != s2.expected_sum(i) {
                            errors.fetch_add(1, Relaxed);
                        }
                        latencies.lock().expect("lock").push(arrived.elapsed());
                        if left.fetch_sub(1, AcqRel) == 1 {
                            let _ = all_done.resolve(());
                        }
                    }),
                );
            }
        });
        all_done.wait()?;
        let total = start.elapsed();
        if errors.load(Relaxed) > 0 {
            return Err(format!("{} requests summed wrong", errors.load(Relaxed)).into());
        }
        let latencies = std::mem::take(&mut *latencies.lock().expect("lock"));
        Ok(FanOutRun { latencies, total })
    }

    fn echo_server(&self, _cx: &Cx<'_>, listener: std::net::TcpListener) -> Result<(), BoxError> {
        accept_loop(Arc::new(TcpListener::from_std(listener)?));
        Ok(())
    }

    fn pipeline(&self, cx: &Cx<'_>, bounded: bool, queued: &Arc<Gauge>) -> Result<(), BoxError> {
        let s = cx.sizes.clone();
        let finished = callback::from_fn::<(), Infallible, _>(|done| {
            let pipe = Arc::new(Pipe {
                pace: Pace::new(s.pipe_rate_per_ms),
                state: Mutex::new(PipeState {
                    queue: VecDeque::new(),
                    produced: 0,
                    consumed: 0,
                    credits: s.pipe_cap,
                    stalled: false,
                    consumer_armed: false,
                }),
                s,
                bounded,
                queued: queued.clone(),
                finished: Mutex::new(Some(done)),
            });
            pipe.produce();
        });
        finished.wait()?;
        Ok(())
    }

    fn cancel(&self, _cx: &Cx<'_>, n: usize, live: &Live) -> Result<CancelRun, BoxError> {
        let started = Started::default();
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let unit = live.unit();
                set_timeout_started(Duration::from_secs(3600), started.clone(), move || {
                    drop(unit)
                })
            })
            .collect();
        started.wait(n)?;
        let rss_started = rss();
        let at = Instant::now();
        for h in &handles {
            h.cancel();
        }
        live.wait_zero(Duration::from_secs(10));
        let stop = at.elapsed();
        drop(handles);
        Ok(CancelRun { rss_started, stop })
    }

    fn spawn_join(&self, _cx: &Cx<'_>, n: usize) -> Result<(), BoxError> {
        let sum = Arc::new(AtomicU64::new(0));
        let mut dones = Vec::with_capacity(n);
        for _ in 0..n {
            let sum = sum.clone();
            callback::from_fn::<u64, Infallible, _>(|done| dones.push(done)).on_complete_with(
                Inline,
                move |r| {
                    sum.fetch_add(r.unwrap_or(0), Relaxed);
                },
            );
        }
        for (i, done) in dones.into_iter().enumerate() {
            let _ = done.resolve(i as u64);
        }
        Ok(check_sum(sum.load(Relaxed), n)?)
    }

    fn parked(&self, _cx: &Cx<'_>, n: usize, live: &Live) -> Result<Box<dyn Any>, BoxError> {
        let mut dones = Vec::with_capacity(n);
        for _ in 0..n {
            let unit = live.unit();
            callback::from_fn::<(), Infallible, _>(|done| dones.push(done))
                .on_complete_with(Inline, move |_| drop(unit));
        }
        Ok(Box::new(dones))
    }
}
