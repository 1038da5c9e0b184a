//! Thread + blocking: OS threads with blocking calls (`spectrum::thread`, the runtime's bounded
//! blocking pool).

use std::any::Any;
use std::io::{Read, Write};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use spectrum::scope::BoxError;
use spectrum::thread;
use spectrum::Wait;

use super::{check_sum, consume, item, Pace, Started, ECHO_BUF};
use crate::tour::measure::{rss, Gauge, Live};
use crate::tour::model::{CancelRun, Cx, FanOutRun, Info, Model, Prop};
use crate::tour::workload::Sizes;

#[derive(Debug)]
pub struct Threads;

/// Long enough never to end during a run; cancellation ends it early.
const FOREVER: Duration = Duration::from_secs(3600);

static INFO: Info = Info {
    id: "threads",
    name: "Thread + blocking",
    surface: "`spawn_blocking` (bounded pool), `spectrum::thread::{spawn, scope}`, `std::net`",
    stack_cost: "OS stack (8 MiB reserved)",
    sync_style: Prop {
        value: "yes",
        tests: &["crates/promise/tests/thread_server.rs::serves_every_request_with_at_most_the_permitted_threads"],
    },
    cancellation: Prop {
        value: "cancel token, checked cooperatively; scope joins",
        tests: &[
            "crates/promise/tests/thread_cancel.rs::sleep_returns_early_when_cancelled",
            "crates/promise/tests/thread_cancel.rs::dropping_the_handle_cancels_the_token",
        ],
    },
    backpressure: Prop {
        value: "bounded pool + bounded queue",
        tests: &["crates/rt/tests/blocking.rs::the_pool_is_bounded_and_queues_the_rest"],
    },
    fan_out: "Each request is a job on the runtime's bounded blocking pool (`spawn_blocking`, 512 \
              threads; the other requests queue). Blocking code waits on one thing at a time, so \
              the job calls the backends one after another, each a blocking \
              `std::thread::sleep(d)`, and sums the answers: a request holds its thread for the sum \
              of the delays. (Calling the 10 backends concurrently would take 10 more OS threads \
              per request: 100 000 thread spawns at the spawn cost in section 5.)",
    connections: "A blocking accept loop on its own thread; one `spectrum::thread` per connection \
                  with a blocking `std::net::TcpStream` (`read`, then `write_all`).",
    pipeline_bounded: "A producer thread and a consumer thread (a one-thread pool) joined by a \
                       bounded job queue, std `mpsc::sync_channel(64)`: `send` blocks when it is \
                       full. The consumer blocks in `std::thread::sleep` to keep its pace.",
    pipeline_unbounded: "The same threads joined by std `mpsc::channel()`, which never blocks the \
                         producer.",
    cancel: "`spectrum::thread::scope` with one thread per unit, each blocked in \
             `thread::sleep(1 h)` (which returns early when its token is cancelled); the body \
             calls `Scope::cancel`, and the scope joins every thread.",
    spawn: "`spectrum::thread::spawn(move || i)` for every unit, then `join` each.",
    parked: "Threads each blocked in `thread::sleep(1 h)` (cancellable), holding 64 bytes of state.",
};

impl Model for Threads {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn fan_out(&self, cx: &Cx<'_>, inflight: &Arc<Gauge>) -> Result<FanOutRun, BoxError> {
        let s = Arc::new(cx.sizes.clone());
        let start = Instant::now();
        let requests: Vec<_> = (0..s.fanout_requests)
            .map(|i| {
                let (s, inflight) = (s.clone(), inflight.clone());
                let arrived = Instant::now();
                inflight.add(1);
                cx.rt.spawn_blocking(move || {
                    // Blocking code waits on one thing at a time: the backends, in turn.
                    let mut sum = 0;
                    for b in 0..s.fanout_backends {
                        std::thread::sleep(s.backend_delay(i, b));
                        sum += Sizes::backend_answer(i, b);
                    }
                    inflight.add(-1);
                    if sum != s.expected_sum(i) {
                        return Err(format!("request {i}: wrong sum {sum}"));
                    }
                    Ok(arrived.elapsed())
                })
            })
            .collect();
        let mut latencies = Vec::with_capacity(requests.len());
        for r in requests {
            latencies.push(r.wait()??);
        }
        Ok(FanOutRun {
            latencies,
            total: start.elapsed(),
        })
    }

    fn echo_server(&self, _cx: &Cx<'_>, listener: std::net::TcpListener) -> Result<(), BoxError> {
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut c) = conn else { return };
                thread::spawn(move || {
                    let _ = c.set_nodelay(true);
                    let mut buf = vec![0; ECHO_BUF];
                    while let Ok(n @ 1..) = c.read(&mut buf) {
                        if c.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                })
                .detach();
            }
        })
        .detach();
        Ok(())
    }

    fn pipeline(&self, cx: &Cx<'_>, bounded: bool, queued: &Arc<Gauge>) -> Result<(), BoxError> {
        let s = cx.sizes.clone();
        // The producer's end of either queue: `false` once the consumer has hung up.
        type Push = Box<dyn Fn(Vec<u8>) -> bool + Send>;
        let (tx, rx): (Push, mpsc::Receiver<Vec<u8>>) = if bounded {
            let (tx, rx) = mpsc::sync_channel(s.pipe_cap);
            (Box::new(move |v| tx.send(v).is_ok()), rx)
        } else {
            let (tx, rx) = mpsc::channel();
            (Box::new(move |v| tx.send(v).is_ok()), rx)
        };
        let q = queued.clone();
        let rate = s.pipe_rate_per_ms;
        let consumer = thread::spawn(move || {
            let pace = Pace::new(rate);
            let mut sum = 0;
            for (k, it) in rx.into_iter().enumerate() {
                if let Some(d) = pace.ahead(k) {
                    std::thread::sleep(d);
                }
                sum += consume(&it);
                q.add(-1);
            }
            sum
        });
        for k in 0..s.pipe_items {
            let it = item(k, s.pipe_bytes);
            queued.add(1);
            if !tx(it) {
                return Err("the consumer hung up".into());
            }
        }
        drop(tx);
        consumer.join()?;
        Ok(())
    }

    fn cancel(&self, _cx: &Cx<'_>, n: usize, live: &Live) -> Result<CancelRun, BoxError> {
        let started = Started::default();
        let mut at = None;
        thread::scope(|s| {
            for _ in 0..n {
                let (unit, started) = (live.unit(), started.clone());
                s.spawn(move || {
                    let _unit = unit;
                    started.hit();
                    let _ = thread::sleep(FOREVER);
                });
            }
            let ok = started.wait(n);
            at = Some((rss(), Instant::now(), ok));
            s.cancel();
        });
        let (rss_started, at, ok) = at.expect("the scope body ran");
        ok?;
        live.wait_zero(Duration::from_secs(10));
        Ok(CancelRun {
            rss_started,
            stop: at.elapsed(),
        })
    }

    fn spawn_join(&self, _cx: &Cx<'_>, n: usize) -> Result<(), BoxError> {
        let hs: Vec<_> = (0..n as u64).map(|i| thread::spawn(move || i)).collect();
        let mut sum = 0;
        for h in hs {
            sum += h.join()?;
        }
        Ok(check_sum(sum, n)?)
    }

    fn parked(&self, _cx: &Cx<'_>, n: usize, live: &Live) -> Result<Box<dyn Any>, BoxError> {
        let started = Started::default();
        let hs: Vec<_> = (0..n)
            .map(|_| {
                let (unit, started) = (live.unit(), started.clone());
                thread::spawn(move || {
                    let _unit = unit;
                    started.hit();
                    let _ = thread::sleep(FOREVER);
                })
            })
            .collect();
        started.wait(n)?;
        Ok(Box::new(hs))
    }
}
