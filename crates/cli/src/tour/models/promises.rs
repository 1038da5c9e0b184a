//! Future / Promise: `Promise` + `Resolver`, chaining and the `all` combinator
//! (`spectrum::promise`).

use std::any::Any;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::pending;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use spectrum::callback::Inline;
use spectrum::net::{TcpListener, TcpStream};
use spectrum::promise::{self, all, Promise, PromiseError, Resolver};
use spectrum::scope::BoxError;
use spectrum::time::sleep;
use spectrum::Wait;

use super::{check_sum, consume, item, Pace, Started, ECHO_BUF};
use crate::tour::measure::{rss, Gauge, Live};
use crate::tour::model::{CancelRun, Cx, FanOutRun, Info, Model, Prop};
use crate::tour::workload::Sizes;

#[derive(Debug)]
pub struct Promises;

static INFO: Info = Info {
    id: "promises",
    name: "Future / Promise",
    surface: "`promise::spawn`, `Promise::with_resolver`, `map` / `and_then`, `all(..).limit(n)`, \
              `on_complete_with`",
    stack_cost: "small (one promise; a task per producer or chained step)",
    sync_style: Prop {
        value: "partial (chains; `.wait()` from threads)",
        tests: &["crates/promise/tests/chaining.rs::map_and_then_compose_in_order"],
    },
    cancellation: Prop {
        value: "drop cancels; combinators cancel their inputs",
        tests: &[
            "crates/promise/tests/chaining.rs::dropping_a_chained_promise_cancels_the_chain_up_to_its_source",
            "crates/promise/tests/all.rs::cancelled_promise_inputs_cancel_their_tasks",
        ],
    },
    backpressure: Prop {
        value: "`.limit(n)` on the combinators",
        tests: &["crates/promise/tests/limit.rs::all_never_runs_more_than_the_limit"],
    },
    fan_out: "Each backend call is a promise (`promise::spawn(async { sleep(d).await; Ok(answer) \
              })`); the request is `promise::spawn(all(calls)).map(sum)` (JS \
              `Promise.all(calls).then(sum)`). The driver `.wait()`s on each request's promise.",
    connections: "Each socket operation returns a promise (`read_p`, `write_p`); a message is the \
                  chain `read_p(s).and_then(write_p)`, and its `on_complete_with(Inline, ..)` \
                  starts the next chain (no promise nesting per message). Accepts are promises too.",
    pipeline_bounded: "`offer(item)` returns a promise that the consumer resolves when it takes \
                       the item; the producer awaits `all(items.map(offer)).limit(64)`, which \
                       starts the next offer only when one settles. The consumer task is woken \
                       by a one-shot promise (a doorbell) when it has nothing to do.",
    pipeline_unbounded: "Every offer made up front (JS `items.map(offer)`), then awaited in \
                         order: nothing holds the producer back. (Not `all(offers)`: see the \
                         note on `all` in the report.)",
    cancel: "A promise per unit (`promise::spawn` of a pending future owning the state), all \
             awaited by one `all(..)` in a task; cancel = cancel that task, which drops `all`, \
             which drops (cancels) every input.",
    spawn: "`promise::spawn(async move { Ok(i) })` for every unit, then `all(promises)` in a \
            root task.",
    parked: "Promises whose producing task (`promise::spawn`) waits forever, holding 64 bytes of \
             state.",
};

type Chunk = (TcpStream, Vec<u8>);

fn read_p(mut s: TcpStream, mut buf: Vec<u8>) -> Promise<(TcpStream, Vec<u8>, usize), io::Error> {
    promise::spawn(async move {
        let n = s.read(&mut buf).await?;
        Ok((s, buf, n))
    })
}

fn write_p(mut s: TcpStream, buf: Vec<u8>, n: usize) -> Promise<Option<Chunk>, io::Error> {
    promise::spawn(async move {
        s.write_all(&buf[..n]).await?;
        Ok(Some((s, buf)))
    })
}

/// One message per chain; the chain's completion callback starts the next.
fn echo(s: TcpStream, buf: Vec<u8>) {
    read_p(s, buf)
        .and_then(|(s, buf, n)| {
            if n == 0 {
                Promise::resolved(None)
            } else {
                write_p(s, buf, n)
            }
        })
        .on_complete_with(Inline, |r| {
            if let Ok(Some((s, buf))) = r {
                echo(s, buf);
            }
        });
}

fn accept(l: Arc<TcpListener>) {
    let l2 = l.clone();
    promise::spawn(async move { l2.accept().await.map(|(s, _)| s) }).on_complete_with(
        Inline,
        move |r: Result<TcpStream, PromiseError<io::Error>>| {
            if let Ok(s) = r {
                echo(s, vec![0; ECHO_BUF]);
                accept(l);
            }
        },
    );
}

/// The consumer's side of the pipeline: offered items with the resolvers that settle their
/// offers, and a doorbell to wake the consumer when it waits for items.
#[derive(Default)]
struct Inbox {
    items: VecDeque<(Vec<u8>, Resolver<(), Infallible>)>,
    doorbell: Option<Resolver<(), Infallible>>,
}

fn offer(inbox: &Arc<Mutex<Inbox>>, it: Vec<u8>) -> Promise<(), Infallible> {
    let (taken, resolver) = Promise::with_resolver();
    let bell = {
        let mut b = inbox.lock().expect("lock");
        b.items.push_back((it, resolver));
        b.doorbell.take()
    };
    if let Some(bell) = bell {
        let _ = bell.resolve(());
    }
    taken
}

impl Model for Promises {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn fan_out(&self, cx: &Cx<'_>, inflight: &Arc<Gauge>) -> Result<FanOutRun, BoxError> {
        let s = Arc::new(cx.sizes.clone());
        let start = Instant::now();
        let requests: Vec<Promise<Result<Duration, String>, PromiseError<io::Error>>> = (0..s
            .fanout_requests)
            .map(|i| {
                let arrived = Instant::now();
                inflight.add(1);
                let calls: Vec<Promise<u64, io::Error>> = (0..s.fanout_backends)
                    .map(|b| {
                        let d = s.backend_delay(i, b);
                        promise::spawn(async move {
                            sleep(d).await;
                            Ok(Sizes::backend_answer(i, b))
                        })
                    })
                    .collect();
                let (s, inflight) = (s.clone(), inflight.clone());
                promise::spawn(all(calls)).map(move |answers| {
                    inflight.add(-1);
                    let sum: u64 = answers.iter().sum();
                    if sum != s.expected_sum(i) {
                        return Err(format!("request {i}: wrong sum {sum}"));
                    }
                    Ok(arrived.elapsed())
                })
            })
            .collect();
        // The driver waits on each request in turn (the requests run concurrently regardless).
        let mut latencies = Vec::with_capacity(requests.len());
        for r in requests {
            latencies.push(r.wait().map_err(|e| format!("{e:?}"))??);
        }
        let total = start.elapsed();
        Ok(FanOutRun { latencies, total })
    }

    fn echo_server(&self, _cx: &Cx<'_>, listener: std::net::TcpListener) -> Result<(), BoxError> {
        accept(Arc::new(TcpListener::from_std(listener)?));
        Ok(())
    }

    fn pipeline(&self, cx: &Cx<'_>, bounded: bool, queued: &Arc<Gauge>) -> Result<(), BoxError> {
        let s = cx.sizes.clone();
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let (n, rate) = (s.pipe_items, s.pipe_rate_per_ms);
        let consumer = {
            let (inbox, queued) = (inbox.clone(), queued.clone());
            spectrum::spawn(async move {
                let pace = Pace::new(rate);
                let mut sum = 0;
                for k in 0..n {
                    let (it, taken) = loop {
                        let bell = {
                            let mut b = inbox.lock().expect("lock");
                            if let Some(next) = b.items.pop_front() {
                                break next;
                            }
                            let (bell, ring) = Promise::<(), Infallible>::with_resolver();
                            b.doorbell = Some(ring);
                            bell
                        };
                        let _ = bell.await;
                    };
                    if let Some(d) = pace.ahead(k) {
                        sleep(d).await;
                    }
                    sum += consume(&it);
                    drop(it);
                    queued.add(-1);
                    let _ = taken.resolve(());
                }
                sum
            })
        };
        let producer = {
            let queued = queued.clone();
            spectrum::spawn(async move {
                let offer_item = |k| {
                    let it = item(k, s.pipe_bytes);
                    queued.add(1);
                    offer(&inbox, it)
                };
                let taken = if bounded {
                    // Lazy: `.limit(64)` pulls the next offer only when one has settled.
                    all((0..n).map(offer_item)).limit(s.pipe_cap).await
                } else {
                    // Every offer made up front (JS `items.map(offer)`), then awaited in order.
                    // (Not `all(offers)`: with inputs settling while it starts them, `all` can
                    // miss a wake-up; the tour's report lists it.)
                    let offers: Vec<_> = (0..n).map(offer_item).collect();
                    let mut taken = Vec::with_capacity(n);
                    for o in offers {
                        match o.await {
                            Ok(v) => taken.push(v),
                            Err(e) => return Err(format!("{e:?}")),
                        }
                    }
                    Ok(taken)
                };
                taken.map(|v| v.len()).map_err(|e| format!("{e:?}"))
            })
        };
        let taken = producer.wait()??;
        consumer.wait()?;
        if taken != n {
            return Err(format!("{taken} of {n} offers settled").into());
        }
        Ok(())
    }

    fn cancel(&self, cx: &Cx<'_>, n: usize, live: &Live) -> Result<CancelRun, BoxError> {
        let started = Started::default();
        let promises: Vec<Promise<(), Infallible>> = (0..n)
            .map(|_| {
                let (unit, started) = (live.unit(), started.clone());
                promise::spawn(async move {
                    let _unit = unit;
                    started.hit();
                    pending::<Result<(), Infallible>>().await
                })
            })
            .collect();
        let waiting = cx.rt.spawn(async move { all(promises).await });
        started.wait(n)?;
        let rss_started = rss();
        let at = Instant::now();
        waiting.cancel();
        live.wait_zero(Duration::from_secs(10));
        Ok(CancelRun {
            rss_started,
            stop: at.elapsed(),
        })
    }

    fn spawn_join(&self, cx: &Cx<'_>, n: usize) -> Result<(), BoxError> {
        let values = cx.rt.block_on(spectrum::spawn(async move {
            let ps: Vec<Promise<u64, Infallible>> = (0..n as u64)
                .map(|i| promise::spawn(async move { Ok(i) }))
                .collect();
            all(ps).await
        }))?;
        let values = values.map_err(|e| format!("{e:?}"))?;
        Ok(check_sum(values.iter().sum(), n)?)
    }

    fn parked(&self, _cx: &Cx<'_>, n: usize, live: &Live) -> Result<Box<dyn Any>, BoxError> {
        let started = Started::default();
        // The child has entered the runtime, so `promise::spawn` works on this thread.
        let ps: Vec<Promise<(), Infallible>> = (0..n)
            .map(|_| {
                let (unit, started) = (live.unit(), started.clone());
                promise::spawn(async move {
                    let _unit = unit;
                    started.hit();
                    pending::<Result<(), Infallible>>().await
                })
            })
            .collect();
        started.wait(n)?;
        Ok(Box::new(ps))
    }
}
