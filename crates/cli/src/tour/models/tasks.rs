//! async/await: Spectrum tasks (`spawn`, `scope`, `JoinHandle`, timers, TCP).

use std::any::Any;
use std::collections::VecDeque;
use std::future::pending;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use spectrum::cancel::CancelCause;
use spectrum::net::TcpListener;
use spectrum::scope::{self, BoxError};
use spectrum::time::sleep;
use spectrum::Wait;

use super::{check_sum, consume, item, Pace, Started, ECHO_BUF};
use crate::tour::measure::{rss, Gauge, Live};
use crate::tour::model::{CancelRun, Cx, FanOutRun, Info, Model, Prop};
use crate::tour::workload::Sizes;

#[derive(Debug)]
pub struct Tasks;

static INFO: Info = Info {
    id: "tasks",
    name: "async/await",
    surface: "`spectrum::spawn`, `scope`, `JoinHandle`, `time::sleep`, `net`",
    stack_cost: "future size + one task header",
    sync_style: Prop {
        value: "yes",
        tests: &["crates/rt/tests/scope.rs::scope_waits_for_every_child"],
    },
    cancellation: Prop {
        value: "structured: scope + drop, with cause and deadline",
        tests: &[
            "crates/rt/tests/scope.rs::dropping_a_scope_future_cancels_its_children",
            "crates/rt/tests/cancel.rs::dropping_the_handle_cancels_and_detach_does_not",
        ],
    },
    backpressure: Prop {
        value: "await a bounded window of `JoinHandle`s (bounded channels: see the channel row)",
        tests: &[],
    },
    fan_out: "A task per request opens a `scope` and spawns one child task per backend (each \
              `sleep(d).await`, then its answer); the request awaits the children's handles and \
              sums the answers.",
    connections: "An accept-loop task; one task per connection: `read(&mut buf).await`, then \
                  `write_all(..).await`.",
    pipeline_bounded: "One task per item (it sleeps until the consumer's slot for it, then takes \
                       it); the producer keeps at most 64 in flight by awaiting the oldest \
                       `JoinHandle` before spawning the next.",
    pipeline_unbounded: "The same tasks, spawned without the window (fire and forget): every \
                         item waits in a spawned task.",
    cancel: "Tasks spawned in one `scope`, each `pending().await` holding its state; the scope \
             body calls `cancel_with(cause)`.",
    spawn: "`spawn(async move { i })` for every unit from a root task, then `.await` every \
            `JoinHandle`.",
    parked: "Tasks each `pending().await`-ing, holding 64 bytes of state.",
};

impl Model for Tasks {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn fan_out(&self, cx: &Cx<'_>, inflight: &Arc<Gauge>) -> Result<FanOutRun, BoxError> {
        let s = Arc::new(cx.sizes.clone());
        let inflight = inflight.clone();
        cx.rt.block_on(async move {
            spectrum::spawn(async move {
                let start = Instant::now();
                let requests: Vec<_> = (0..s.fanout_requests)
                    .map(|i| {
                        let (s, inflight) = (s.clone(), inflight.clone());
                        let arrived = Instant::now();
                        inflight.add(1);
                        spectrum::spawn(async move {
                            let sum = scope::scope(|sc| {
                                let s = s.clone();
                                async move {
                                    let calls = (0..s.fanout_backends)
                                        .map(|b| {
                                            let d = s.backend_delay(i, b);
                                            sc.spawn(async move {
                                                sleep(d).await;
                                                Ok::<_, io::Error>(Sizes::backend_answer(i, b))
                                            })
                                        })
                                        .collect::<Result<Vec<_>, _>>()?;
                                    let mut sum = 0;
                                    for c in calls {
                                        sum += c.await?;
                                    }
                                    Ok::<_, BoxError>(sum)
                                }
                            })
                            .await
                            .map_err(|e| e.to_string())?;
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
                    latencies.push(r.await.map_err(|e| e.to_string())??);
                }
                Ok::<_, BoxError>(FanOutRun {
                    latencies,
                    total: start.elapsed(),
                })
            })
            .await?
        })
    }

    fn echo_server(&self, cx: &Cx<'_>, listener: std::net::TcpListener) -> Result<(), BoxError> {
        let listener = TcpListener::from_std(listener)?;
        cx.rt
            .spawn(async move {
                while let Ok((mut c, _)) = listener.accept().await {
                    spectrum::spawn(async move {
                        let mut buf = vec![0; ECHO_BUF];
                        while let Ok(n @ 1..) = c.read(&mut buf).await {
                            if c.write_all(&buf[..n]).await.is_err() {
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
        let queued = queued.clone();
        cx.rt.block_on(spectrum::spawn(async move {
            let pace = Pace::new(s.pipe_rate_per_ms);
            let mut window = VecDeque::new();
            for k in 0..s.pipe_items {
                let it = item(k, s.pipe_bytes);
                queued.add(1);
                let q = queued.clone();
                let h = spectrum::spawn(async move {
                    if let Some(d) = pace.ahead(k) {
                        sleep(d).await;
                    }
                    let sum = consume(&it);
                    q.add(-1);
                    sum
                });
                window.push_back(h);
                if bounded && window.len() >= s.pipe_cap {
                    window.pop_front().expect("full window").await?;
                }
            }
            // Unbounded, every handle is kept only to join at the end (dropping one would cancel
            // its task): the tasks all run at once regardless.
            for h in window {
                h.await?;
            }
            Ok::<_, BoxError>(())
        }))?
    }

    fn cancel(&self, cx: &Cx<'_>, n: usize, live: &Live) -> Result<CancelRun, BoxError> {
        let live2 = live.clone();
        let started = Started::default();
        let (tx, rx) = std::sync::mpsc::channel();
        let body = {
            let started = started.clone();
            async move {
                scope::scope(|s| async move {
                    for _ in 0..n {
                        let unit = live2.unit();
                        let started = started.clone();
                        s.spawn(async move {
                            let _unit = unit;
                            started.hit();
                            pending::<Result<(), io::Error>>().await
                        })?;
                    }
                    while started.count() < n {
                        sleep(Duration::from_millis(1)).await;
                    }
                    let rss_started = rss();
                    tx.send((rss_started, Instant::now()))
                        .map_err(|e| e.to_string())?;
                    s.cancel_with(CancelCause::new("tour: cancel the scope"));
                    Ok::<_, BoxError>(())
                })
                .await
            }
        };
        let result = cx.rt.block_on(spectrum::spawn(body))?;
        if result.is_ok() {
            return Err("the cancelled scope reported success".into());
        }
        let (rss_started, at) = rx.recv()?;
        live.wait_zero(Duration::from_secs(10));
        Ok(CancelRun {
            rss_started,
            stop: at.elapsed(),
        })
    }

    fn spawn_join(&self, cx: &Cx<'_>, n: usize) -> Result<(), BoxError> {
        let sum = cx.rt.block_on(spectrum::spawn(async move {
            let hs: Vec<_> = (0..n as u64)
                .map(|i| spectrum::spawn(async move { i }))
                .collect();
            let mut sum = 0;
            for h in hs {
                sum += h.await?;
            }
            Ok::<_, BoxError>(sum)
        }))??;
        Ok(check_sum(sum, n)?)
    }

    fn parked(&self, cx: &Cx<'_>, n: usize, live: &Live) -> Result<Box<dyn Any>, BoxError> {
        let started = Started::default();
        let hs: Vec<_> = (0..n)
            .map(|_| {
                let (unit, started) = (live.unit(), started.clone());
                cx.rt.spawn(async move {
                    let _unit = unit;
                    started.hit();
                    pending::<()>().await
                })
            })
            .collect();
        started.wait(n)?;
        Ok(Box::new(hs))
    }
}

/// Blocks on a task handle from the child's main thread (used by other models too).
pub fn join<T>(h: spectrum::JoinHandle<T>) -> Result<T, BoxError> {
    Ok(h.wait()?)
}
