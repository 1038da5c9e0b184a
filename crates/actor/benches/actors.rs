//! Spectrum's actors against kameo, ractor, actix and a hand-written tokio task + mpsc + oneshot
//! baseline, in one harness, the same run (and Erlang / Go when `erl` / `go` are on `PATH`).
//!
//! ```text
//! cargo bench -p spectrum-actor --bench actors
//! SPECTRUM_BENCH_ONLY=ask,tell SPECTRUM_BENCH_REPS=5 cargo bench -p spectrum-actor --bench actors
//! ```
//!
//! Every implementation runs single-threaded (Spectrum `workers(1)`, tokio's current-thread
//! runtime under tokio, kameo and ractor, actix's `System`, Go with `GOMAXPROCS=1`, Erlang with
//! `+S 1`), so the figures compare the actor layers, not the schedulers' parallelism (skynet also
//! prints Go on every CPU, `go-allcpus`, for reference). Memory and spawn figures run in a child
//! process per implementation (`VmRSS` before and after). Each in-process figure is the median of
//! `SPECTRUM_BENCH_REPS` (3) alternating runs. Ratios are Spectrum / peer: below 1.0 means
//! Spectrum is faster (for times and bytes) — for throughput the ratio is peer / Spectrum time,
//! printed the same way (below 1.0: Spectrum better).

use std::process::Command;
use std::time::{Duration, Instant};

const IMPLS: [&str; 5] = ["spectrum", "tokio", "kameo", "ractor", "actix"];

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn rss_bytes() -> usize {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}

// ------------------------------------------------------------------------------------------
// Spectrum
// ------------------------------------------------------------------------------------------
mod sp {
    use super::*;
    use spectrum_actor::{Actor, Addr, Context, Handler, SyncHandler};

    pub fn rt() -> spectrum_rt::Runtime {
        spectrum_rt::Runtime::builder().workers(1).build().unwrap()
    }

    /// `block_on` runs its future on the calling thread; the benchmark bodies run as a task on
    /// the runtime's one worker instead, like everything under tokio's current-thread runtime.
    pub fn on_worker<F>(f: F) -> F::Output
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let rt = rt();
        rt.block_on(async move { spectrum_rt::spawn(f).await.unwrap() })
    }

    pub struct Idle;
    impl Actor for Idle {}

    pub struct Counter(pub u64);
    impl Actor for Counter {}
    pub struct Inc;
    impl SyncHandler<Inc> for Counter {
        type Reply = ();
        fn handle(&mut self, _: Inc, _: &mut Context<Self>) {
            self.0 += 1;
        }
    }
    pub struct Get;
    impl SyncHandler<Get> for Counter {
        type Reply = u64;
        fn handle(&mut self, _: Get, _: &mut Context<Self>) -> u64 {
            self.0
        }
    }
    /// The async-handler twin of `Get` (a boxed future per message).
    pub struct GetAsync;
    impl Handler<GetAsync> for Counter {
        type Reply = u64;
        async fn handle(&mut self, _: GetAsync, _: &mut Context<Self>) -> u64 {
            self.0
        }
    }

    pub fn idle(n: usize) -> f64 {
        on_worker(async move {
            let before = rss_bytes();
            let v: Vec<_> = (0..n).map(|_| spectrum_actor::spawn(Idle)).collect();
            spectrum_rt::time::sleep(Duration::from_millis(200)).await;
            let after = rss_bytes();
            std::mem::forget(v);
            (after - before) as f64 / n as f64
        })
    }

    pub fn spawn(n: usize) -> f64 {
        on_worker(async move {
            let t = Instant::now();
            let v: Vec<_> = (0..n).map(|_| spectrum_actor::spawn(Idle)).collect();
            let ns = t.elapsed().as_nanos() as f64 / n as f64;
            std::mem::forget(v);
            ns
        })
    }

    pub fn ask(n: usize, sync: bool) -> f64 {
        on_worker(async move {
            let a = spectrum_actor::spawn(Counter(0));
            a.ask(Get).await.unwrap();
            let t = Instant::now();
            for _ in 0..n {
                if sync {
                    a.ask(Get).await.unwrap();
                } else {
                    a.ask(GetAsync).await.unwrap();
                }
            }
            t.elapsed().as_nanos() as f64 / n as f64
        })
    }

    pub fn tell(n: usize) -> f64 {
        on_worker(async move {
            let a = spectrum_actor::spawn(Counter(0));
            a.ask(Get).await.unwrap();
            let t = Instant::now();
            for _ in 0..n {
                a.tell(Inc).await.unwrap();
            }
            assert_eq!(a.ask(Get).without_timeout().await.unwrap(), n as u64);
            t.elapsed().as_nanos() as f64 / n as f64
        })
    }

    pub struct Ring {
        next: Option<Addr<Ring>>,
        done: Option<tokio::sync::oneshot::Sender<()>>,
    }
    impl Actor for Ring {}
    pub struct Token(u64);
    impl Handler<Token> for Ring {
        type Reply = ();
        async fn handle(&mut self, Token(k): Token, _: &mut Context<Self>) {
            if k == 0 {
                if let Some(d) = self.done.take() {
                    let _ = d.send(());
                }
            } else {
                let _ = self.next.as_ref().unwrap().tell(Token(k - 1)).await;
            }
        }
    }
    pub struct SetNext(Addr<Ring>, Option<tokio::sync::oneshot::Sender<()>>);
    impl SyncHandler<SetNext> for Ring {
        type Reply = ();
        fn handle(&mut self, SetNext(a, d): SetNext, _: &mut Context<Self>) {
            self.next = Some(a);
            self.done = d;
        }
    }

    pub fn ring(actors: usize, hops: u64) -> f64 {
        on_worker(async move {
            let ring: Vec<_> = (0..actors)
                .map(|_| {
                    spectrum_actor::spawn(Ring {
                        next: None,
                        done: None,
                    })
                })
                .collect();
            let (tx, rx) = tokio::sync::oneshot::channel();
            let mut tx = Some(tx);
            for i in 0..actors {
                let next = ring[(i + 1) % actors].clone();
                // The actor that sees hop 0 signals: it is hops % actors steps from the start.
                let d = if i == (hops as usize) % actors {
                    tx.take()
                } else {
                    None
                };
                ring[i].ask(SetNext(next, d)).await.unwrap();
            }
            let t = Instant::now();
            ring[0].tell(Token(hops)).await.unwrap();
            rx.await.unwrap();
            let ns = t.elapsed().as_nanos() as f64 / hops as f64;
            for r in &ring {
                r.stop();
            }
            ns
        })
    }

    pub struct Node {
        num: u64,
        size: u64,
        parent: Option<Addr<Node>>,
        root: Option<tokio::sync::oneshot::Sender<u64>>,
        sum: u64,
        pending: u32,
    }
    pub struct Sum(u64);
    impl Node {
        async fn report(&mut self, v: u64) {
            match (&self.parent, self.root.take()) {
                (Some(p), _) => {
                    let _ = p.tell(Sum(v)).await;
                }
                (None, Some(r)) => {
                    let _ = r.send(v);
                }
                _ => {}
            }
        }
    }
    impl Actor for Node {
        async fn started(
            &mut self,
            ctx: &mut Context<Self>,
        ) -> Result<(), spectrum_actor::BoxError> {
            if self.size == 1 {
                self.report(self.num).await;
                ctx.stop();
            } else {
                let step = self.size / 10;
                for i in 0..10 {
                    let _child = spectrum_actor::spawn(Node {
                        num: self.num + i * step,
                        size: step,
                        parent: Some(ctx.addr()),
                        root: None,
                        sum: 0,
                        pending: 0,
                    });
                }
                self.pending = 10;
            }
            Ok(())
        }
    }
    impl Handler<Sum> for Node {
        type Reply = ();
        async fn handle(&mut self, Sum(v): Sum, ctx: &mut Context<Self>) {
            self.sum += v;
            self.pending -= 1;
            if self.pending == 0 {
                let s = self.sum;
                self.report(s).await;
                self.parent = None;
                ctx.stop();
            }
        }
    }

    pub fn skynet(leaves: u64) -> (f64, u64) {
        on_worker(async move {
            let t = Instant::now();
            let (tx, rx) = tokio::sync::oneshot::channel();
            let root = spectrum_actor::spawn(Node {
                num: 0,
                size: leaves,
                parent: None,
                root: Some(tx),
                sum: 0,
                pending: 0,
            });
            let v = rx.await.unwrap();
            let secs = t.elapsed().as_secs_f64();
            drop(root);
            (secs, v)
        })
    }
}

// ------------------------------------------------------------------------------------------
// Hand-written tokio baseline: a task, an mpsc(1024) mailbox, oneshot replies.
// ------------------------------------------------------------------------------------------
mod tk {
    use super::*;
    use tokio::sync::{mpsc, oneshot};

    pub fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    pub enum Msg {
        Inc,
        Get(oneshot::Sender<u64>),
    }

    pub fn counter() -> mpsc::Sender<Msg> {
        let (tx, mut rx) = mpsc::channel::<Msg>(1024);
        tokio::spawn(async move {
            let mut n = 0;
            while let Some(m) = rx.recv().await {
                match m {
                    Msg::Inc => n += 1,
                    Msg::Get(r) => {
                        let _ = r.send(n);
                    }
                }
            }
        });
        tx
    }

    async fn get(a: &mpsc::Sender<Msg>) -> u64 {
        let (tx, rx) = oneshot::channel();
        a.send(Msg::Get(tx)).await.unwrap();
        rx.await.unwrap()
    }

    pub fn idle(n: usize) -> f64 {
        rt().block_on(async {
            let before = rss_bytes();
            let v: Vec<_> = (0..n).map(|_| counter()).collect();
            tokio::time::sleep(Duration::from_millis(200)).await;
            let after = rss_bytes();
            std::mem::forget(v);
            (after - before) as f64 / n as f64
        })
    }

    pub fn spawn(n: usize) -> f64 {
        rt().block_on(async {
            let t = Instant::now();
            let v: Vec<_> = (0..n).map(|_| counter()).collect();
            let ns = t.elapsed().as_nanos() as f64 / n as f64;
            std::mem::forget(v);
            ns
        })
    }

    pub fn ask(n: usize) -> f64 {
        rt().block_on(async {
            let a = counter();
            get(&a).await;
            let t = Instant::now();
            for _ in 0..n {
                get(&a).await;
            }
            t.elapsed().as_nanos() as f64 / n as f64
        })
    }

    pub fn tell(n: usize) -> f64 {
        rt().block_on(async {
            let a = counter();
            get(&a).await;
            let t = Instant::now();
            for _ in 0..n {
                a.send(Msg::Inc).await.unwrap();
            }
            assert_eq!(get(&a).await, n as u64);
            t.elapsed().as_nanos() as f64 / n as f64
        })
    }

    pub fn ring(actors: usize, hops: u64) -> f64 {
        rt().block_on(async {
            let (done_tx, done_rx) = oneshot::channel::<()>();
            let mut done = Some(done_tx);
            let mut senders = Vec::new();
            let mut receivers = Vec::new();
            for _ in 0..actors {
                let (tx, rx) = mpsc::channel::<u64>(1024);
                senders.push(tx);
                receivers.push(rx);
            }
            for (i, mut rx) in receivers.into_iter().enumerate() {
                let next = senders[(i + 1) % actors].clone();
                let mut d = if i == (hops as usize) % actors {
                    done.take()
                } else {
                    None
                };
                tokio::spawn(async move {
                    while let Some(k) = rx.recv().await {
                        if k == 0 {
                            if let Some(d) = d.take() {
                                let _ = d.send(());
                            }
                            return;
                        }
                        if next.send(k - 1).await.is_err() {
                            return;
                        }
                    }
                });
            }
            let t = Instant::now();
            senders[0].send(hops).await.unwrap();
            done_rx.await.unwrap();
            t.elapsed().as_nanos() as f64 / hops as f64
        })
    }

    fn node(num: u64, size: u64, parent: mpsc::Sender<u64>) {
        tokio::spawn(async move {
            if size == 1 {
                let _ = parent.send(num).await;
                return;
            }
            let (tx, mut rx) = mpsc::channel(1024);
            let step = size / 10;
            for i in 0..10 {
                node(num + i * step, step, tx.clone());
            }
            drop(tx);
            let mut sum = 0;
            for _ in 0..10 {
                sum += rx.recv().await.unwrap();
            }
            let _ = parent.send(sum).await;
        });
    }

    pub fn skynet(leaves: u64) -> (f64, u64) {
        rt().block_on(async {
            let t = Instant::now();
            let (tx, mut rx) = mpsc::channel(1);
            node(0, leaves, tx);
            let v = rx.recv().await.unwrap();
            (t.elapsed().as_secs_f64(), v)
        })
    }
}

// ------------------------------------------------------------------------------------------
// kameo
// ------------------------------------------------------------------------------------------
mod km {
    use super::*;
    use kameo::actor::{ActorRef, Spawn};
    use kameo::message::{Context, Message};

    #[derive(kameo::Actor)]
    pub struct Idle;

    #[derive(kameo::Actor)]
    pub struct Counter(u64);
    pub struct Inc;
    impl Message<Inc> for Counter {
        type Reply = ();
        async fn handle(&mut self, _: Inc, _: &mut Context<Self, Self::Reply>) {
            self.0 += 1;
        }
    }
    pub struct Get;
    impl Message<Get> for Counter {
        type Reply = u64;
        async fn handle(&mut self, _: Get, _: &mut Context<Self, Self::Reply>) -> u64 {
            self.0
        }
    }

    #[derive(kameo::Actor)]
    pub struct Ring {
        next: Option<ActorRef<Ring>>,
        done: Option<tokio::sync::oneshot::Sender<()>>,
    }
    pub struct Token(u64);
    impl Message<Token> for Ring {
        type Reply = ();
        async fn handle(&mut self, Token(k): Token, _: &mut Context<Self, Self::Reply>) {
            if k == 0 {
                if let Some(d) = self.done.take() {
                    let _ = d.send(());
                }
            } else {
                let _ = self.next.as_ref().unwrap().tell(Token(k - 1)).await;
            }
        }
    }
    pub struct SetNext(ActorRef<Ring>, Option<tokio::sync::oneshot::Sender<()>>);
    impl Message<SetNext> for Ring {
        type Reply = ();
        async fn handle(&mut self, SetNext(a, d): SetNext, _: &mut Context<Self, Self::Reply>) {
            self.next = Some(a);
            self.done = d;
        }
    }

    pub fn idle(n: usize) -> f64 {
        tk::rt().block_on(async {
            let before = rss_bytes();
            let v: Vec<_> = (0..n).map(|_| Idle::spawn(Idle)).collect();
            tokio::time::sleep(Duration::from_millis(200)).await;
            let after = rss_bytes();
            std::mem::forget(v);
            (after - before) as f64 / n as f64
        })
    }

    pub fn spawn(n: usize) -> f64 {
        tk::rt().block_on(async {
            let t = Instant::now();
            let v: Vec<_> = (0..n).map(|_| Idle::spawn(Idle)).collect();
            let ns = t.elapsed().as_nanos() as f64 / n as f64;
            std::mem::forget(v);
            ns
        })
    }

    pub fn ask(n: usize) -> f64 {
        tk::rt().block_on(async {
            let a = Counter::spawn(Counter(0));
            a.ask(Get).await.unwrap();
            let t = Instant::now();
            for _ in 0..n {
                a.ask(Get).await.unwrap();
            }
            t.elapsed().as_nanos() as f64 / n as f64
        })
    }

    pub fn tell(n: usize) -> f64 {
        tk::rt().block_on(async {
            let a = Counter::spawn(Counter(0));
            a.ask(Get).await.unwrap();
            let t = Instant::now();
            for _ in 0..n {
                a.tell(Inc).await.unwrap();
            }
            assert_eq!(a.ask(Get).await.unwrap(), n as u64);
            t.elapsed().as_nanos() as f64 / n as f64
        })
    }

    pub fn ring(actors: usize, hops: u64) -> f64 {
        tk::rt().block_on(async {
            let ring: Vec<_> = (0..actors)
                .map(|_| {
                    Ring::spawn(Ring {
                        next: None,
                        done: None,
                    })
                })
                .collect();
            let (tx, rx) = tokio::sync::oneshot::channel();
            let mut tx = Some(tx);
            for i in 0..actors {
                let d = if i == (hops as usize) % actors {
                    tx.take()
                } else {
                    None
                };
                ring[i]
                    .ask(SetNext(ring[(i + 1) % actors].clone(), d))
                    .await
                    .unwrap();
            }
            let t = Instant::now();
            ring[0].tell(Token(hops)).await.unwrap();
            rx.await.unwrap();
            t.elapsed().as_nanos() as f64 / hops as f64
        })
    }
}

// ------------------------------------------------------------------------------------------
// ractor
// ------------------------------------------------------------------------------------------
mod rc {
    use super::*;
    use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

    pub struct Counter;
    pub enum Msg {
        Inc,
        Get(RpcReplyPort<u64>),
    }
    impl Actor for Counter {
        type Msg = Msg;
        type State = u64;
        type Arguments = ();
        async fn pre_start(&self, _: ActorRef<Msg>, _: ()) -> Result<u64, ActorProcessingErr> {
            Ok(0)
        }
        async fn handle(
            &self,
            _: ActorRef<Msg>,
            msg: Msg,
            n: &mut u64,
        ) -> Result<(), ActorProcessingErr> {
            match msg {
                Msg::Inc => *n += 1,
                Msg::Get(r) => {
                    let _ = r.send(*n);
                }
            }
            Ok(())
        }
    }

    pub struct Ring;
    pub enum RingMsg {
        Token(u64),
        SetNext(
            ActorRef<RingMsg>,
            Option<tokio::sync::oneshot::Sender<()>>,
            RpcReplyPort<()>,
        ),
    }
    pub struct RingState {
        next: Option<ActorRef<RingMsg>>,
        done: Option<tokio::sync::oneshot::Sender<()>>,
    }
    impl Actor for Ring {
        type Msg = RingMsg;
        type State = RingState;
        type Arguments = ();
        async fn pre_start(
            &self,
            _: ActorRef<RingMsg>,
            _: (),
        ) -> Result<RingState, ActorProcessingErr> {
            Ok(RingState {
                next: None,
                done: None,
            })
        }
        async fn handle(
            &self,
            _: ActorRef<RingMsg>,
            msg: RingMsg,
            st: &mut RingState,
        ) -> Result<(), ActorProcessingErr> {
            match msg {
                RingMsg::Token(0) => {
                    if let Some(d) = st.done.take() {
                        let _ = d.send(());
                    }
                }
                RingMsg::Token(k) => {
                    let _ = st.next.as_ref().unwrap().cast(RingMsg::Token(k - 1));
                }
                RingMsg::SetNext(a, d, r) => {
                    st.next = Some(a);
                    st.done = d;
                    let _ = r.send(());
                }
            }
            Ok(())
        }
    }

    async fn get(a: &ActorRef<Msg>) -> u64 {
        ractor::call!(a, Msg::Get).unwrap()
    }

    pub fn idle(n: usize) -> f64 {
        tk::rt().block_on(async {
            let before = rss_bytes();
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(Actor::spawn(None, Counter, ()).await.unwrap());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            let after = rss_bytes();
            std::mem::forget(v);
            (after - before) as f64 / n as f64
        })
    }

    pub fn spawn(n: usize) -> f64 {
        tk::rt().block_on(async {
            let t = Instant::now();
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(Actor::spawn(None, Counter, ()).await.unwrap());
            }
            let ns = t.elapsed().as_nanos() as f64 / n as f64;
            std::mem::forget(v);
            ns
        })
    }

    pub fn ask(n: usize) -> f64 {
        tk::rt().block_on(async {
            let (a, _h) = Actor::spawn(None, Counter, ()).await.unwrap();
            get(&a).await;
            let t = Instant::now();
            for _ in 0..n {
                get(&a).await;
            }
            let ns = t.elapsed().as_nanos() as f64 / n as f64;
            a.stop(None);
            ns
        })
    }

    pub fn tell(n: usize) -> f64 {
        tk::rt().block_on(async {
            let (a, _h) = Actor::spawn(None, Counter, ()).await.unwrap();
            get(&a).await;
            let t = Instant::now();
            for _ in 0..n {
                a.cast(Msg::Inc).unwrap(); // unbounded mailbox: never waits
            }
            assert_eq!(get(&a).await, n as u64);
            let ns = t.elapsed().as_nanos() as f64 / n as f64;
            a.stop(None);
            ns
        })
    }

    pub fn ring(actors: usize, hops: u64) -> f64 {
        tk::rt().block_on(async {
            let mut ring = Vec::new();
            for _ in 0..actors {
                ring.push(Actor::spawn(None, Ring, ()).await.unwrap().0);
            }
            let (tx, rx) = tokio::sync::oneshot::channel();
            let mut tx = Some(tx);
            for i in 0..actors {
                let next = ring[(i + 1) % actors].clone();
                let d = if i == (hops as usize) % actors {
                    tx.take()
                } else {
                    None
                };
                ractor::call!(ring[i], RingMsg::SetNext, next, d).unwrap();
            }
            let t = Instant::now();
            ring[0].cast(RingMsg::Token(hops)).unwrap();
            rx.await.unwrap();
            let ns = t.elapsed().as_nanos() as f64 / hops as f64;
            for r in &ring {
                r.stop(None);
            }
            ns
        })
    }
}

// ------------------------------------------------------------------------------------------
// actix
// ------------------------------------------------------------------------------------------
mod ax {
    use super::*;
    use actix::prelude::*;

    pub struct Idle;
    impl Actor for Idle {
        type Context = Context<Self>;
    }

    pub struct Counter(u64);
    impl Actor for Counter {
        type Context = Context<Self>;
    }
    #[derive(Message)]
    #[rtype(result = "()")]
    pub struct Inc;
    impl Handler<Inc> for Counter {
        type Result = ();
        fn handle(&mut self, _: Inc, _: &mut Context<Self>) {
            self.0 += 1;
        }
    }
    #[derive(Message)]
    #[rtype(result = "u64")]
    pub struct Get;
    impl Handler<Get> for Counter {
        type Result = u64;
        fn handle(&mut self, _: Get, _: &mut Context<Self>) -> u64 {
            self.0
        }
    }

    pub struct Ring {
        next: Option<Addr<Ring>>,
        done: Option<tokio::sync::oneshot::Sender<()>>,
    }
    impl Actor for Ring {
        type Context = Context<Self>;
    }
    #[derive(Message)]
    #[rtype(result = "()")]
    pub struct Token(u64);
    impl Handler<Token> for Ring {
        type Result = ();
        fn handle(&mut self, Token(k): Token, _: &mut Context<Self>) {
            if k == 0 {
                if let Some(d) = self.done.take() {
                    let _ = d.send(());
                }
            } else {
                self.next.as_ref().unwrap().do_send(Token(k - 1));
            }
        }
    }
    #[derive(Message)]
    #[rtype(result = "()")]
    pub struct SetNext(Addr<Ring>, Option<tokio::sync::oneshot::Sender<()>>);
    impl Handler<SetNext> for Ring {
        type Result = ();
        fn handle(&mut self, SetNext(a, d): SetNext, _: &mut Context<Self>) {
            self.next = Some(a);
            self.done = d;
        }
    }

    pub fn idle(n: usize) -> f64 {
        System::new().block_on(async {
            let before = rss_bytes();
            let v: Vec<_> = (0..n).map(|_| Idle.start()).collect();
            actix::clock::sleep(Duration::from_millis(200)).await;
            let after = rss_bytes();
            std::mem::forget(v);
            (after - before) as f64 / n as f64
        })
    }

    pub fn spawn(n: usize) -> f64 {
        System::new().block_on(async {
            let t = Instant::now();
            let v: Vec<_> = (0..n).map(|_| Idle.start()).collect();
            let ns = t.elapsed().as_nanos() as f64 / n as f64;
            std::mem::forget(v);
            ns
        })
    }

    pub fn ask(n: usize) -> f64 {
        System::new().block_on(async {
            let a = Counter(0).start();
            a.send(Get).await.unwrap();
            let t = Instant::now();
            for _ in 0..n {
                a.send(Get).await.unwrap();
            }
            t.elapsed().as_nanos() as f64 / n as f64
        })
    }

    pub fn tell(n: usize) -> f64 {
        System::new().block_on(async {
            let a = Counter(0).start();
            a.send(Get).await.unwrap();
            let t = Instant::now();
            for _ in 0..n {
                a.do_send(Inc); // actix's tell: ignores the mailbox bound
            }
            assert_eq!(a.send(Get).await.unwrap(), n as u64);
            t.elapsed().as_nanos() as f64 / n as f64
        })
    }

    pub fn ring(actors: usize, hops: u64) -> f64 {
        System::new().block_on(async {
            let ring: Vec<_> = (0..actors)
                .map(|_| {
                    Ring {
                        next: None,
                        done: None,
                    }
                    .start()
                })
                .collect();
            let (tx, rx) = tokio::sync::oneshot::channel();
            let mut tx = Some(tx);
            for i in 0..actors {
                let d = if i == (hops as usize) % actors {
                    tx.take()
                } else {
                    None
                };
                ring[i]
                    .send(SetNext(ring[(i + 1) % actors].clone(), d))
                    .await
                    .unwrap();
            }
            let t = Instant::now();
            ring[0].do_send(Token(hops));
            rx.await.unwrap();
            t.elapsed().as_nanos() as f64 / hops as f64
        })
    }
}

// ------------------------------------------------------------------------------------------
// Erlang and Go, when installed (sources written to a temp dir and run with the same sizes).
// ------------------------------------------------------------------------------------------
const GO_SKYNET: &str = r#"package main
import ("fmt"; "os"; "strconv"; "time")
func skynet(c chan int, num, size int) {
    if size == 1 { c <- num; return }
    rc := make(chan int, 10); sum := 0
    for i := 0; i < 10; i++ { go skynet(rc, num+i*size/10, size/10) }
    for i := 0; i < 10; i++ { sum += <-rc }
    c <- sum
}
func main() {
    leaves, _ := strconv.Atoi(os.Args[1])
    c := make(chan int, 1); t := time.Now()
    go skynet(c, 0, leaves); r := <-c
    fmt.Printf("%f %d\n", time.Since(t).Seconds(), r)
}
"#;

const ERL_BENCH: &str = r#"-module(spectrum_bench).
-export([main/1]).
main([What, N]) ->
    Count = list_to_integer(N),
    case What of
        "ask" -> ask(Count);
        "skynet" -> skynet(Count)
    end,
    halt().
ask(N) ->
    P = spawn(fun Loop() -> receive {get, From} -> From ! {ok, 1}, Loop() end end),
    T0 = erlang:monotonic_time(nanosecond),
    [begin P ! {get, self()}, receive {ok, _} -> ok end end || _ <- lists:seq(1, N)],
    T1 = erlang:monotonic_time(nanosecond),
    io:format("~f~n", [(T1 - T0) / N]).
skynet(Leaves) ->
    T0 = erlang:monotonic_time(nanosecond),
    Self = self(),
    spawn(fun() -> node(Self, 0, Leaves) end),
    receive {sum, S} -> ok end,
    T1 = erlang:monotonic_time(nanosecond),
    io:format("~f ~p~n", [(T1 - T0) / 1.0e9, S]).
node(Parent, Num, 1) -> Parent ! {sum, Num};
node(Parent, Num, Size) ->
    Self = self(), Step = Size div 10,
    [spawn(fun() -> node(Self, Num + I * Step, Step) end) || I <- lists:seq(0, 9)],
    Parent ! {sum, collect(10, 0)}.
collect(0, Acc) -> Acc;
collect(K, Acc) -> receive {sum, V} -> collect(K - 1, Acc + V) end.
"#;

fn on_path(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Go's skynet with `GOMAXPROCS` = `procs` (1 for the single-threaded comparison; 0 leaves Go's
/// default, every CPU).
fn go_skynet(leaves: u64, procs: usize) -> Option<(f64, u64)> {
    let dir = std::env::temp_dir().join("spectrum-actor-bench-go");
    std::fs::create_dir_all(&dir).ok()?;
    std::fs::write(dir.join("main.go"), GO_SKYNET).ok()?;
    let mut go = Command::new("go");
    go.args(["run", "main.go", &leaves.to_string()])
        .current_dir(&dir);
    if procs > 0 {
        go.env("GOMAXPROCS", procs.to_string());
    }
    let out = go.output().ok()?;
    let s = String::from_utf8_lossy(&out.stdout);
    let mut it = s.split_whitespace();
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// Runs the Erlang module on one scheduler (`+S 1`), like every other implementation here.
fn erl(what: &str, n: u64) -> Option<String> {
    let dir = std::env::temp_dir().join("spectrum-actor-bench-erl");
    std::fs::create_dir_all(&dir).ok()?;
    std::fs::write(dir.join("spectrum_bench.erl"), ERL_BENCH).ok()?;
    Command::new("erlc")
        .arg("spectrum_bench.erl")
        .current_dir(&dir)
        .status()
        .ok()?;
    let out = Command::new("erl")
        .args([
            "+S",
            "1",
            "+P",
            "4000000",
            "-noshell",
            "-run",
            "spectrum_bench",
            "main",
            what,
            &n.to_string(),
        ])
        .current_dir(&dir)
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

// ------------------------------------------------------------------------------------------
// Harness
// ------------------------------------------------------------------------------------------

fn child(workload: &str, imp: &str, n: usize) -> Option<f64> {
    let out = Command::new(std::env::current_exe().ok()?)
        .args(["--child", workload, imp, &n.to_string()])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "  {imp} {workload}: child failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn run_child(workload: &str, imp: &str, n: usize) -> f64 {
    match (workload, imp) {
        ("idle", "spectrum") => sp::idle(n),
        ("idle", "tokio") => tk::idle(n),
        ("idle", "kameo") => km::idle(n),
        ("idle", "ractor") => rc::idle(n),
        ("idle", "actix") => ax::idle(n),
        ("spawn", "spectrum") => sp::spawn(n),
        ("spawn", "tokio") => tk::spawn(n),
        ("spawn", "kameo") => km::spawn(n),
        ("spawn", "ractor") => rc::spawn(n),
        ("spawn", "actix") => ax::spawn(n),
        _ => panic!("unknown child {workload} {imp}"),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

struct Row {
    name: String,
    unit: &'static str,
    values: Vec<(String, Option<f64>)>,
    /// Lower is better (times, bytes).
    lower_better: bool,
}

fn print_row(r: &Row) {
    let sp = r
        .values
        .iter()
        .find(|(k, _)| k == "spectrum")
        .and_then(|(_, v)| *v);
    let mut line = format!("{:<44}", r.name);
    for (k, v) in &r.values {
        match v {
            Some(v) => line += &format!(" {k}={v:.1}{}", r.unit),
            None => line += &format!(" {k}=—"),
        }
    }
    println!("{line}");
    if let Some(s) = sp {
        let mut ratios = String::from("    ratios (spectrum / peer, <1 = spectrum better):");
        for (k, v) in &r.values {
            if k == "spectrum" || k.starts_with("spectrum") {
                continue;
            }
            if let Some(v) = v {
                let ratio = if r.lower_better { s / v } else { v / s };
                ratios += &format!(" {k} {ratio:.2}x");
            }
        }
        println!("{ratios}");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() >= 5 && args[1] == "--child" {
        let n: usize = args[4].parse().unwrap();
        println!("{}", run_child(&args[2], &args[3], n));
        return;
    }
    let only = std::env::var("SPECTRUM_BENCH_ONLY").unwrap_or_default();
    let want = |w: &str| only.is_empty() || only.split(',').any(|o| o == w);
    let reps = env_usize("SPECTRUM_BENCH_REPS", 3);
    let idle_n = env_usize("SPECTRUM_BENCH_IDLE", 100_000);
    let spawn_n = env_usize("SPECTRUM_BENCH_SPAWN", 1_000_000);
    let ask_n = env_usize("SPECTRUM_BENCH_ASK", 200_000);
    let tell_n = env_usize("SPECTRUM_BENCH_TELL", 2_000_000);
    let ring_n = env_usize("SPECTRUM_BENCH_RING", 1_000);
    let hops = env_usize("SPECTRUM_BENCH_HOPS", 1_000_000) as u64;
    let leaves = env_usize("SPECTRUM_BENCH_SKYNET", 1_000_000) as u64;
    let has_go = on_path("go");
    let has_erl = on_path("erl") && on_path("erlc");
    println!(
        "spectrum-actor benchmarks (single-threaded runtimes; median of {reps}); Go: {}, Erlang: {}",
        if has_go { "yes" } else { "not installed" },
        if has_erl { "yes" } else { "not installed" }
    );

    if want("idle") {
        let values = IMPLS
            .iter()
            .map(|i| (i.to_string(), child("idle", i, idle_n)))
            .collect();
        print_row(&Row {
            name: format!("idle actor RSS ({idle_n} actors, B/actor)"),
            unit: " B",
            values,
            lower_better: true,
        });
    }
    if want("spawn") {
        let values = IMPLS
            .iter()
            .map(|i| (i.to_string(), child("spawn", i, spawn_n)))
            .collect();
        print_row(&Row {
            name: format!("spawn {spawn_n} actors (ns/actor)"),
            unit: " ns",
            values,
            lower_better: true,
        });
    }
    if want("ask") {
        let mut m: Vec<(String, Vec<f64>)> = [
            "spectrum",
            "spectrum-async",
            "tokio",
            "kameo",
            "ractor",
            "actix",
        ]
        .iter()
        .map(|k| (k.to_string(), Vec::new()))
        .collect();
        for _ in 0..reps {
            m[0].1.push(sp::ask(ask_n, true));
            m[1].1.push(sp::ask(ask_n, false));
            m[2].1.push(tk::ask(ask_n));
            m[3].1.push(km::ask(ask_n));
            m[4].1.push(rc::ask(ask_n));
            m[5].1.push(ax::ask(ask_n));
        }
        let mut values: Vec<(String, Option<f64>)> =
            m.into_iter().map(|(k, v)| (k, Some(median(v)))).collect();
        if has_erl {
            values.push((
                "erlang".into(),
                erl("ask", ask_n as u64).and_then(|s| s.parse().ok()),
            ));
        }
        print_row(&Row {
            name: format!("ask round trip ({ask_n}, ns; spectrum = sync handler)"),
            unit: " ns",
            values,
            lower_better: true,
        });
    }
    if want("tell") {
        let mut m: Vec<(String, Vec<f64>)> =
            IMPLS.iter().map(|k| (k.to_string(), Vec::new())).collect();
        for _ in 0..reps {
            m[0].1.push(sp::tell(tell_n));
            m[1].1.push(tk::tell(tell_n));
            m[2].1.push(km::tell(tell_n));
            m[3].1.push(rc::tell(tell_n));
            m[4].1.push(ax::tell(tell_n));
        }
        let values = m
            .into_iter()
            .map(|(k, v)| (k, Some(1e3 / median(v))))
            .collect();
        print_row(&Row {
            name: format!("tell from one producer ({tell_n}, M msgs/s)"),
            unit: " M/s",
            values,
            lower_better: false,
        });
    }
    if want("ring") {
        let mut m: Vec<(String, Vec<f64>)> =
            IMPLS.iter().map(|k| (k.to_string(), Vec::new())).collect();
        for _ in 0..reps {
            m[0].1.push(sp::ring(ring_n, hops));
            m[1].1.push(tk::ring(ring_n, hops));
            m[2].1.push(km::ring(ring_n, hops));
            m[3].1.push(rc::ring(ring_n, hops));
            m[4].1.push(ax::ring(ring_n, hops));
        }
        let values = m.into_iter().map(|(k, v)| (k, Some(median(v)))).collect();
        print_row(&Row {
            name: format!("ring of {ring_n} actors, {hops} hops (ns/hop)"),
            unit: " ns",
            values,
            lower_better: true,
        });
    }
    if want("skynet") {
        let mut s = Vec::new();
        let mut t = Vec::new();
        for _ in 0..reps {
            let (secs, v) = sp::skynet(leaves);
            assert_eq!(v, leaves * (leaves - 1) / 2);
            s.push(secs * 1e3);
            let (secs, v) = tk::skynet(leaves);
            assert_eq!(v, leaves * (leaves - 1) / 2);
            t.push(secs * 1e3);
        }
        let mut values = vec![
            ("spectrum".to_string(), Some(median(s))),
            ("tokio".to_string(), Some(median(t))),
        ];
        if has_go {
            values.push(("go".into(), go_skynet(leaves, 1).map(|(s, _)| s * 1e3)));
            // Go's default (every CPU), for reference: not a single-threaded figure.
            values.push((
                "go-allcpus".into(),
                go_skynet(leaves, 0).map(|(s, _)| s * 1e3),
            ));
        }
        if has_erl {
            values.push((
                "erlang".into(),
                erl("skynet", leaves)
                    .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
                    .map(|s| s * 1e3),
            ));
        }
        print_row(&Row {
            name: format!(
                "skynet, {} actors, sum {} (ms)",
                leaves + leaves / 9,
                leaves * (leaves - 1) / 2
            ),
            unit: " ms",
            values,
            lower_better: true,
        });
    }
}
