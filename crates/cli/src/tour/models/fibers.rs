//! Fibers: Go-style sync code on the scheduler (`spectrum::fiber`), blocking with `.wait()`.

use std::any::Any;
use std::collections::VecDeque;
use std::future::pending;
use std::sync::Arc;
use std::time::{Duration, Instant};

use spectrum::chan;
use spectrum::fiber;
use spectrum::net::TcpListener;
use spectrum::scope::BoxError;
use spectrum::time::sleep;
use spectrum::Wait;

use super::{check_sum, consume, item, Pace, Started, ECHO_BUF};
use crate::tour::measure::{rss, Gauge, Live};
use crate::tour::model::{CancelRun, Cx, FanOutRun, Info, Model, Prop};
use crate::tour::workload::Sizes;

#[derive(Debug)]
pub struct Fibers;

/// Fibers alive at once in the fan-out: below the default stack budget (`fiber::max_stacks()`,
/// 31 741 with Linux's default `vm.max_map_count`), so `--full` runs its 100k requests through
/// a window of this many.
const FAN_OUT_WINDOW: usize = 20_000;

static INFO: Info = Info {
    id: "fibers",
    name: "Fiber",
    surface: "`fiber::spawn`, `fiber::scope`, `.wait()` on any future",
    stack_cost: "pooled guarded stack, ~1 page resident",
    sync_style: Prop {
        value: "yes",
        tests: &["crates/fiber/tests/tcp_echo.rs::echo_server_with_a_fiber_per_connection"],
    },
    cancellation: Prop {
        value: "structured: forced unwind at the next suspension",
        tests: &[
            "crates/fiber/tests/cancel.rs::dropping_the_handle_unwinds_the_stack",
            "crates/fiber/tests/scope.rs::cancel_cancels_every_child_and_later_spawns",
        ],
    },
    backpressure: Prop {
        value: "blocks on bounded channels",
        tests: &["crates/chan/tests/golang.rs::rule02_buffered_send_blocks_only_when_full"],
    },
    fan_out: "A fiber per request (at most 20 000 alive, below the stack budget: only `--full` \
              reaches it). It starts one async task per backend (`spawn(sleep(d))`) and blocks on \
              each `JoinHandle` with `.wait()`, Go's `go` + `wg.Wait()` shape; a fiber per backend \
              would need 110 000 stacks and the budget is 31 741.",
    connections: "An accept-loop fiber; one fiber per connection, written as blocking code: \
                  `read(&mut buf).wait()`, then `write_all(..).wait()`.",
    pipeline_bounded: "A producer fiber and a consumer fiber joined by `chan::bounded(64)`: \
                       `send(item).wait()` suspends the producer while the channel is full. The \
                       consumer keeps its pace with `sleep(d).wait()`.",
    pipeline_unbounded: "The same fibers joined by `chan::unbounded()`.",
    cancel: "`fiber::scope` with one fiber per unit, each blocked in `pending().wait()`; the body \
             calls `Scope::cancel`: every fiber unwinds its stack, dropping its state, and the \
             scope joins them.",
    spawn:
        "`fiber::spawn(move || i)` for every unit from the main thread, then `.wait()` on every \
            handle.",
    parked: "Fibers each blocked in `pending().wait()`, holding 64 bytes of state.",
};

impl Model for Fibers {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn fan_out(&self, cx: &Cx<'_>, inflight: &Arc<Gauge>) -> Result<FanOutRun, BoxError> {
        let s = Arc::new(cx.sizes.clone());
        let start = Instant::now();
        let mut window = VecDeque::new();
        let mut latencies = Vec::with_capacity(s.fanout_requests);
        for i in 0..s.fanout_requests {
            let (s, inflight) = (s.clone(), inflight.clone());
            let arrived = Instant::now();
            inflight.add(1);
            window.push_back(fiber::spawn(move || {
                let calls: Vec<_> = (0..s.fanout_backends)
                    .map(|b| {
                        let d = s.backend_delay(i, b);
                        spectrum::spawn(async move {
                            sleep(d).await;
                            Sizes::backend_answer(i, b)
                        })
                    })
                    .collect();
                let sum: u64 = calls.into_iter().map(|c| c.wait().unwrap_or(0)).sum();
                inflight.add(-1);
                if sum != s.expected_sum(i) {
                    return Err(format!("request {i}: wrong sum {sum}"));
                }
                Ok(arrived.elapsed())
            }));
            if window.len() >= FAN_OUT_WINDOW {
                latencies.push(window.pop_front().expect("full").wait()??);
            }
        }
        for f in window {
            latencies.push(f.wait()??);
        }
        Ok(FanOutRun {
            latencies,
            total: start.elapsed(),
        })
    }

    fn echo_server(&self, _cx: &Cx<'_>, listener: std::net::TcpListener) -> Result<(), BoxError> {
        let listener = TcpListener::from_std(listener)?;
        fiber::spawn(move || {
            while let Ok((mut c, _)) = listener.accept().wait() {
                fiber::spawn(move || {
                    let mut buf = vec![0; ECHO_BUF];
                    while let Ok(n @ 1..) = c.read(&mut buf).wait() {
                        if c.write_all(&buf[..n]).wait().is_err() {
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
        let (tx, rx) = if bounded {
            chan::bounded::<Vec<u8>>(s.pipe_cap)
        } else {
            chan::unbounded::<Vec<u8>>()
        };
        let (n, rate) = (s.pipe_items, s.pipe_rate_per_ms);
        let q = queued.clone();
        let consumer = fiber::spawn(move || {
            let pace = Pace::new(rate);
            let mut sum = 0;
            let mut k = 0;
            while let Ok(it) = rx.recv().wait() {
                if let Some(d) = pace.ahead(k) {
                    sleep(d).wait();
                }
                sum += consume(&it);
                drop(it);
                q.add(-1);
                k += 1;
            }
            (k, sum)
        });
        let q = queued.clone();
        let producer = fiber::spawn(move || {
            for k in 0..n {
                let it = item(k, s.pipe_bytes);
                q.add(1);
                if tx.send(it).wait().is_err() {
                    return;
                }
            }
        });
        producer.wait()?;
        let (taken, _) = consumer.wait()?;
        if taken != n {
            return Err(format!("the consumer took {taken} of {n} items").into());
        }
        Ok(())
    }

    fn cancel(&self, _cx: &Cx<'_>, n: usize, live: &Live) -> Result<CancelRun, BoxError> {
        let started = Started::default();
        let mut at = None;
        fiber::scope(|s| {
            for _ in 0..n {
                let (unit, started) = (live.unit(), started.clone());
                s.spawn(move || {
                    let _unit = unit;
                    started.hit();
                    pending::<()>().wait();
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
        let hs: Vec<_> = (0..n as u64).map(|i| fiber::spawn(move || i)).collect();
        let mut sum = 0;
        for h in hs {
            sum += h.wait()?;
        }
        Ok(check_sum(sum, n)?)
    }

    fn parked(&self, _cx: &Cx<'_>, n: usize, live: &Live) -> Result<Box<dyn Any>, BoxError> {
        let started = Started::default();
        let hs: Vec<_> = (0..n)
            .map(|_| {
                let (unit, started) = (live.unit(), started.clone());
                fiber::spawn(move || {
                    let _unit = unit;
                    started.hit();
                    pending::<()>().wait();
                })
            })
            .collect();
        started.wait(n)?;
        Ok(Box::new(hs))
    }
}
