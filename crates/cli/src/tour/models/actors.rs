//! Actors: `spectrum::actor` (typed addresses, bounded mailboxes, OTP-style supervision).

use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, Instant};

use spectrum::actor::{self, Actor, Addr, Builder, Context, Handler, Mailbox};
use spectrum::cancel::CancelCause;
use spectrum::net::{TcpListener, TcpStream};
use spectrum::promise::{Promise, Resolver};
use spectrum::scope::{self, BoxError};
use spectrum::time::sleep;
use spectrum::Wait;

use super::{check_sum, consume, item, Pace, Started, ECHO_BUF};
use crate::tour::measure::{rss, Gauge, Live, Unit};
use crate::tour::model::{CancelRun, Cx, FanOutRun, Info, Model, Prop};
use crate::tour::workload::Sizes;

#[derive(Debug)]
pub struct Actors;

static INFO: Info = Info {
    id: "actors",
    name: "Actor",
    surface: "`actor::spawn`, `Builder::{mailbox, spawn_in}`, `Addr::{tell, ask, send_after}`, \
              `Mailbox::{bounded, unbounded}`",
    stack_cost: "one task + a lazily allocated mailbox",
    sync_style: Prop {
        value: "partial (async handlers; sync handlers may block on a fiber)",
        tests: &["crates/actor/tests/fiber.rs::fiber_actor_blocks_only_itself"],
    },
    cancellation: Prop {
        value: "stop / kill, via supervisor or scope",
        tests: &["crates/actor/tests/scope.rs::cancelling_a_scope_stops_its_tree_in_order"],
    },
    backpressure: Prop {
        value: "bounded mailbox: `tell` waits",
        tests: &[
            "crates/actor/tests/backpressure.rs::tell_waits_for_room",
            "crates/actor/tests/backpressure.rs::unbounded_never_waits",
        ],
    },
    fan_out: "Ten backend actors; one request actor per request, whose `started` hook tells each \
              backend a `Call`. A backend answers without blocking its mailbox: \
              `from.send_after(d, Answer(v))` on the timer wheel. The request actor sums the 10 \
              answers, settles the driver's promise and stops.",
    connections: "An acceptor actor (each `Accept` message accepts one connection, spawns its \
                  actor and tells itself `Accept` again); one actor per connection that owns the \
                  socket: each `Echo` message reads, writes back and tells itself `Echo`.",
    pipeline_bounded: "The consumer is an actor with `Mailbox::bounded(64)`; the producer task \
                       `tell`s each item, which waits while the mailbox is full. The handler keeps \
                       the consumer's pace with `sleep(d).await`.",
    pipeline_unbounded: "The same actor with `Mailbox::unbounded()`: `tell` never waits.",
    cancel: "Idle actors holding their state, spawned into one `scope` with \
             `Builder::spawn_in`; cancelling the scope stops every actor gracefully (its \
             `stopping` / `stopped` hooks run) and the scope waits for them.",
    spawn: "`actor::spawn` for every unit, then `ask` each for its number (one round trip), then \
            drop the addresses.",
    parked: "Idle actors holding 64 bytes of state, waiting on an empty mailbox.",
};

// ---- fan-out ----------------------------------------------------------------------------

struct Backend;
impl Actor for Backend {}

struct Call {
    from: Addr<Request>,
    delay: Duration,
    answer: u64,
}

impl Handler<Call> for Backend {
    type Reply = ();
    async fn handle(&mut self, c: Call, _: &mut Context<Self>) {
        // Answer later without holding the mailbox: the timer wheel delivers the reply.
        c.from.send_after(c.delay, Answer(c.answer));
    }
}

struct Request {
    i: usize,
    s: Arc<Sizes>,
    backends: Arc<Vec<Addr<Backend>>>,
    arrived: Instant,
    left: usize,
    sum: u64,
    done: Option<Resolver<Duration, String>>,
    inflight: Arc<Gauge>,
}

struct Answer(u64);

impl Actor for Request {
    async fn started(&mut self, ctx: &mut Context<Self>) -> Result<(), actor::BoxError> {
        for (b, backend) in self.backends.iter().enumerate() {
            let call = Call {
                from: ctx.addr(),
                delay: self.s.backend_delay(self.i, b),
                answer: Sizes::backend_answer(self.i, b),
            };
            if backend.tell(call).await.is_err() {
                return Err("a backend is gone".into());
            }
        }
        Ok(())
    }
}

impl Handler<Answer> for Request {
    type Reply = ();
    async fn handle(&mut self, Answer(v): Answer, ctx: &mut Context<Self>) {
        self.sum += v;
        self.left -= 1;
        if self.left == 0 {
            self.inflight.add(-1);
            let outcome = if self.sum == self.s.expected_sum(self.i) {
                Ok(self.arrived.elapsed())
            } else {
                Err(format!("request {}: wrong sum {}", self.i, self.sum))
            };
            if let Some(done) = self.done.take() {
                let _ = match outcome {
                    Ok(d) => done.resolve(d).map_err(drop),
                    Err(e) => done.reject(e).map_err(drop),
                };
            }
            ctx.stop();
        }
    }
}

// ---- connections --------------------------------------------------------------------------

struct Acceptor(TcpListener);
struct Accept;
impl Actor for Acceptor {}

impl Handler<Accept> for Acceptor {
    type Reply = ();
    async fn handle(&mut self, _: Accept, ctx: &mut Context<Self>) {
        match self.0.accept().await {
            Ok((stream, _)) => {
                let conn = actor::spawn(Conn {
                    stream,
                    buf: vec![0; ECHO_BUF],
                });
                // The connection actor keeps itself alive through the address it holds in its
                // own `Echo` messages; once its loop ends nothing holds it.
                let _ = conn.try_tell(Echo(conn.clone()));
                let _ = ctx.addr().try_tell(Accept);
            }
            Err(_) => ctx.stop(),
        }
    }
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}
struct Echo(Addr<Conn>);
impl Actor for Conn {}

impl Handler<Echo> for Conn {
    type Reply = ();
    async fn handle(&mut self, Echo(me): Echo, ctx: &mut Context<Self>) {
        match self.stream.read(&mut self.buf).await {
            Ok(n @ 1..) if self.stream.write_all(&self.buf[..n]).await.is_ok() => {
                let _ = me.try_tell(Echo(me.clone()));
            }
            _ => ctx.stop(),
        }
    }
}

// ---- pipeline -----------------------------------------------------------------------------

struct Consumer {
    pace: Pace,
    k: usize,
    queued: Arc<Gauge>,
}
impl Actor for Consumer {}

impl Handler<Vec<u8>> for Consumer {
    type Reply = ();
    async fn handle(&mut self, it: Vec<u8>, _: &mut Context<Self>) {
        if let Some(d) = self.pace.ahead(self.k) {
            sleep(d).await;
        }
        std::hint::black_box(consume(&it));
        drop(it);
        self.queued.add(-1);
        self.k += 1;
    }
}

// ---- cancel, spawn, parked ----------------------------------------------------------------

/// An idle actor holding its unit's state.
struct Holder {
    _unit: Unit,
    started: Started,
}

impl Actor for Holder {
    async fn started(&mut self, _: &mut Context<Self>) -> Result<(), actor::BoxError> {
        self.started.hit();
        Ok(())
    }
}

struct Numbered(u64);
struct Get;
impl Actor for Numbered {}

impl Handler<Get> for Numbered {
    type Reply = u64;
    async fn handle(&mut self, _: Get, _: &mut Context<Self>) -> u64 {
        self.0
    }
}

impl Model for Actors {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn fan_out(&self, cx: &Cx<'_>, inflight: &Arc<Gauge>) -> Result<FanOutRun, BoxError> {
        let s = Arc::new(cx.sizes.clone());
        let backends: Arc<Vec<_>> = Arc::new(
            (0..s.fanout_backends)
                .map(|_| actor::spawn(Backend))
                .collect(),
        );
        let start = Instant::now();
        // The driver keeps each request's address until its answer is in: the last address
        // dropped would stop the actor before its backends' replies arrive.
        let requests: Vec<(Promise<Duration, String>, Addr<Request>)> = (0..s.fanout_requests)
            .map(|i| {
                let (done, resolver) = Promise::with_resolver();
                inflight.add(1);
                let addr = actor::spawn(Request {
                    i,
                    s: s.clone(),
                    backends: backends.clone(),
                    arrived: Instant::now(),
                    left: s.fanout_backends,
                    sum: 0,
                    done: Some(resolver),
                    inflight: inflight.clone(),
                });
                (done, addr)
            })
            .collect();
        let mut latencies = Vec::with_capacity(requests.len());
        for (done, addr) in requests {
            latencies.push(done.wait().map_err(|e| format!("{e:?}"))?);
            drop(addr);
        }
        Ok(FanOutRun {
            latencies,
            total: start.elapsed(),
        })
    }

    fn echo_server(&self, _cx: &Cx<'_>, listener: std::net::TcpListener) -> Result<(), BoxError> {
        let acceptor = actor::spawn(Acceptor(TcpListener::from_std(listener)?));
        acceptor
            .try_tell(Accept)
            .map_err(|_| "the acceptor is gone")?;
        // The acceptor lives as long as the process: its address is never dropped.
        std::mem::forget(acceptor);
        Ok(())
    }

    fn pipeline(&self, cx: &Cx<'_>, bounded: bool, queued: &Arc<Gauge>) -> Result<(), BoxError> {
        let s = cx.sizes.clone();
        let mailbox = if bounded {
            Mailbox::bounded(s.pipe_cap)
        } else {
            Mailbox::unbounded()
        };
        let consumer = Builder::new().mailbox(mailbox).spawn(Consumer {
            pace: Pace::new(s.pipe_rate_per_ms),
            k: 0,
            queued: queued.clone(),
        });
        let ended = consumer.actor_ref();
        let q = queued.clone();
        let producer = cx.rt.spawn(async move {
            for k in 0..s.pipe_items {
                let it = item(k, s.pipe_bytes);
                q.add(1);
                if consumer.tell(it).await.is_err() {
                    return Err("the consumer stopped early".to_string());
                }
            }
            // Dropping the last address closes the mailbox: the actor drains it and stops.
            drop(consumer);
            Ok(())
        });
        producer.wait()??;
        let reason = ended.join().wait();
        if !reason.is_normal() {
            return Err(format!("the consumer ended with {reason:?}").into());
        }
        if queued.get() != 0 {
            return Err(format!("{} items were never consumed", queued.get()).into());
        }
        Ok(())
    }

    fn cancel(&self, cx: &Cx<'_>, n: usize, live: &Live) -> Result<CancelRun, BoxError> {
        let started = Started::default();
        let (tx, rx) = std::sync::mpsc::channel();
        let live2 = live.clone();
        let body = async move {
            scope::scope(|s| async move {
                let mut addrs = Vec::with_capacity(n);
                for _ in 0..n {
                    let holder = Holder {
                        _unit: live2.unit(),
                        started: started.clone(),
                    };
                    addrs.push(Builder::new().spawn_in(&s, holder)?.0);
                }
                while started.count() < n {
                    sleep(Duration::from_millis(1)).await;
                }
                tx.send((rss(), Instant::now()))
                    .map_err(|e| e.to_string())?;
                s.cancel_with(CancelCause::new("tour: cancel the scope"));
                drop(addrs);
                Ok::<_, BoxError>(())
            })
            .await
        };
        let _ = cx.rt.block_on(cx.rt.spawn(body))?;
        let (rss_started, at) = rx.recv()?;
        live.wait_zero(Duration::from_secs(10));
        Ok(CancelRun {
            rss_started,
            stop: at.elapsed(),
        })
    }

    fn spawn_join(&self, cx: &Cx<'_>, n: usize) -> Result<(), BoxError> {
        let sum = cx.rt.block_on(cx.rt.spawn(async move {
            let addrs: Vec<_> = (0..n as u64).map(|i| actor::spawn(Numbered(i))).collect();
            let mut sum = 0;
            for a in &addrs {
                sum += a.ask(Get).await.map_err(|e| format!("{e:?}"))?;
            }
            Ok::<_, String>(sum)
        }))??;
        Ok(check_sum(sum, n)?)
    }

    fn parked(&self, _cx: &Cx<'_>, n: usize, live: &Live) -> Result<Box<dyn Any>, BoxError> {
        let started = Started::default();
        let addrs: Vec<_> = (0..n)
            .map(|_| {
                actor::spawn(Holder {
                    _unit: live.unit(),
                    started: started.clone(),
                })
            })
            .collect();
        started.wait(n)?;
        Ok(Box::new(addrs))
    }
}
