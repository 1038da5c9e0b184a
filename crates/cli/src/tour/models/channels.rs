//! Channels (CSP): `chan::bounded`, `unbounded`, Go-style `close`, between async tasks.

use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, Instant};

use spectrum::chan;
use spectrum::net::TcpListener;
use spectrum::scope::BoxError;
use spectrum::time::sleep;

use super::{check_sum, consume, item, Pace, Started, ECHO_BUF};
use crate::tour::measure::{rss, Gauge, Live};
use crate::tour::model::{CancelRun, Cx, FanOutRun, Info, Model, Prop};
use crate::tour::models::tasks::join;
use crate::tour::workload::Sizes;

#[derive(Debug)]
pub struct Channels;

static INFO: Info = Info {
    id: "channels",
    name: "Channel",
    surface: "`chan::bounded(n)`, `bounded(0)`, `unbounded()`, `close`, between async tasks",
    stack_cost: "small (a channel; the goroutines are tasks)",
    sync_style: Prop {
        value: "yes (thread/fiber) and async",
        tests: &["crates/chan/tests/golang.rs::rule01_unbuffered_send_waits_for_a_receiver"],
    },
    cancellation: Prop {
        value: "Go-style `close`, drop-disconnect",
        tests: &["crates/chan/tests/close.rs::close_wakes_blocked_receivers_and_returns_blocked_senders_values"],
    },
    backpressure: Prop {
        value: "bounded buffer",
        tests: &[
            "crates/chan/tests/golang.rs::rule02_buffered_send_blocks_only_when_full",
            "crates/chan/tests/stats.rs::a_full_channel_shows_sender_backpressure",
        ],
    },
    fan_out: "Go's fan-out: the request task makes a `bounded(10)` reply channel and spawns one \
              task per backend, which sleeps and then sends its answer; the request receives 10 \
              answers and sums them.",
    connections: "A task per direction: the connection's read half feeds a `bounded(16)` channel \
                  of byte chunks, a second task drains it into the write half (CSP: the two \
                  loops share nothing but the channel).",
    pipeline_bounded: "A producer task and a consumer task joined by `chan::bounded(64)`: \
                       `send(item).await` waits while the channel is full.",
    pipeline_unbounded: "The same tasks joined by `chan::unbounded()`.",
    cancel: "One task per unit, each blocked in `done.recv().await` on a shared rendezvous \
             channel; cancel = `done.close()` (Go's `close(done)`): every receiver wakes with \
             `Closed` and its task ends.",
    spawn: "Per unit, a `bounded(1)` channel and a task that sends `i` into it; join = `recv` \
            every channel, from a root task.",
    parked: "Per unit, a task blocked in `recv().await` on its own rendezvous channel (sender \
             kept), holding 64 bytes of state.",
};

impl Model for Channels {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn fan_out(&self, cx: &Cx<'_>, inflight: &Arc<Gauge>) -> Result<FanOutRun, BoxError> {
        let s = Arc::new(cx.sizes.clone());
        let inflight = inflight.clone();
        join(cx.rt.spawn(async move {
            let start = Instant::now();
            let requests: Vec<_> = (0..s.fanout_requests)
                .map(|i| {
                    let (s, inflight) = (s.clone(), inflight.clone());
                    let arrived = Instant::now();
                    inflight.add(1);
                    spectrum::spawn(async move {
                        let (tx, rx) = chan::bounded(s.fanout_backends);
                        for b in 0..s.fanout_backends {
                            let (tx, d) = (tx.clone(), s.backend_delay(i, b));
                            spectrum::spawn(async move {
                                sleep(d).await;
                                let _ = tx.send(Sizes::backend_answer(i, b)).await;
                            })
                            .detach();
                        }
                        drop(tx);
                        let mut sum = 0;
                        for _ in 0..s.fanout_backends {
                            sum += rx.recv().await.map_err(|e| e.to_string())?;
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
                latencies.push(r.await.map_err(|e| e.to_string())??);
            }
            Ok::<_, BoxError>(FanOutRun {
                latencies,
                total: start.elapsed(),
            })
        }))?
    }

    fn echo_server(&self, cx: &Cx<'_>, listener: std::net::TcpListener) -> Result<(), BoxError> {
        let listener = TcpListener::from_std(listener)?;
        cx.rt
            .spawn(async move {
                while let Ok((c, _)) = listener.accept().await {
                    let (mut r, mut w) = c.into_split();
                    let (tx, rx) = chan::bounded::<Vec<u8>>(16);
                    spectrum::spawn(async move {
                        let mut buf = vec![0; ECHO_BUF];
                        while let Ok(n @ 1..) = r.read(&mut buf).await {
                            if tx.send(buf[..n].to_vec()).await.is_err() {
                                return;
                            }
                        }
                    })
                    .detach();
                    spectrum::spawn(async move {
                        while let Ok(chunk) = rx.recv().await {
                            if w.write_all(&chunk).await.is_err() {
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
        let consumer = cx.rt.spawn(async move {
            let pace = Pace::new(rate);
            let mut k = 0;
            while let Ok(it) = rx.recv().await {
                if let Some(d) = pace.ahead(k) {
                    sleep(d).await;
                }
                std::hint::black_box(consume(&it));
                drop(it);
                q.add(-1);
                k += 1;
            }
            k
        });
        let q = queued.clone();
        let producer = cx.rt.spawn(async move {
            for k in 0..n {
                let it = item(k, s.pipe_bytes);
                q.add(1);
                if tx.send(it).await.is_err() {
                    return;
                }
            }
        });
        join(producer)?;
        let taken = join(consumer)?;
        if taken != n {
            return Err(format!("the consumer took {taken} of {n} items").into());
        }
        Ok(())
    }

    fn cancel(&self, cx: &Cx<'_>, n: usize, live: &Live) -> Result<CancelRun, BoxError> {
        let started = Started::default();
        let (done_tx, done_rx) = chan::bounded::<()>(0);
        for _ in 0..n {
            let (unit, started, done) = (live.unit(), started.clone(), done_rx.clone());
            cx.rt
                .spawn(async move {
                    let _unit = unit;
                    started.hit();
                    let _ = done.recv().await;
                })
                .detach();
        }
        drop(done_rx);
        started.wait(n)?;
        let rss_started = rss();
        let at = Instant::now();
        done_tx.close();
        live.wait_zero(Duration::from_secs(10));
        Ok(CancelRun {
            rss_started,
            stop: at.elapsed(),
        })
    }

    fn spawn_join(&self, cx: &Cx<'_>, n: usize) -> Result<(), BoxError> {
        let sum = join(cx.rt.spawn(async move {
            let rxs: Vec<_> = (0..n as u64)
                .map(|i| {
                    let (tx, rx) = chan::bounded(1);
                    spectrum::spawn(async move {
                        let _ = tx.send(i).await;
                    })
                    .detach();
                    rx
                })
                .collect();
            let mut sum = 0;
            for rx in rxs {
                sum += rx.recv().await.unwrap_or(0);
            }
            sum
        }))?;
        Ok(check_sum(sum, n)?)
    }

    fn parked(&self, cx: &Cx<'_>, n: usize, live: &Live) -> Result<Box<dyn Any>, BoxError> {
        let started = Started::default();
        let parked: Vec<_> = (0..n)
            .map(|_| {
                let (unit, started) = (live.unit(), started.clone());
                let (tx, rx) = chan::bounded::<()>(0);
                let h = cx.rt.spawn(async move {
                    let _unit = unit;
                    started.hit();
                    let _ = rx.recv().await;
                });
                (tx, h)
            })
            .collect();
        started.wait(n)?;
        Ok(Box::new(parked))
    }
}
