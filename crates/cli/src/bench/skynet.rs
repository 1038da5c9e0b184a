//! Skynet: `leaves` leaves in a 10-ary tree of units; each node starts its 10 children, sums
//! their answers and hands the sum up. For 1M leaves the answer is 499 999 500 000 and the tree has
//! 1 111 111 units. The same tree on every contender:
//!
//! - Spectrum tasks and tokio tasks: identical `async` code (`spawn` + `JoinHandle`); only the
//!   runtime differs.
//! - Spectrum fibers: `fiber::spawn` + `.wait()` on the handles (sync-style).
//! - Spectrum channels: Go's original skynet, tasks answering over rendezvous channels
//!   (`chan::bounded(0)`, Go's unbuffered `make(chan int)`).
//! - Spectrum actors: Erlang's skynet, an actor per node whose children tell it their sums.
//! - Spectrum streams: the tree as one `Flux`, each node `Flux::range(0..10).flat_map_with(child,
//!   10, 1).reduce(sum)` over leaves `Mono::just(i)`; once synchronous (the whole tree runs inside
//!   the root's `subscribe`, as Reactor does without a scheduler), once with every child
//!   subscribed from a task of its own (`subscribe_on`).
//!
//! Every run builds a fresh runtime and drops it after the clock stops, so no other contender's
//! idle runtime shares the two CPUs. This file is also compiled into `benches/skynet.rs` (which
//! adds may), so it depends only on `spectrum` and `tokio`.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use spectrum::Wait;

/// The answer for `leaves` leaves: the sum of `0..leaves`.
pub fn answer(leaves: u64) -> u64 {
    leaves * (leaves - 1) / 2
}

type BoxFuture = Pin<Box<dyn Future<Output = u64> + Send>>;

macro_rules! task_skynet {
    ($name:ident, $spawn:path) => {
        fn $name(num: u64, size: u64) -> BoxFuture {
            Box::pin(async move {
                if size == 1 {
                    return num;
                }
                let sub = size / 10;
                let children: Vec<_> = (0..10).map(|i| $spawn($name(num + i * sub, sub))).collect();
                let mut sum = 0;
                for c in children {
                    sum += c.await.expect("skynet child");
                }
                sum
            })
        }
    };
}

task_skynet!(spectrum_node, spectrum::spawn);
task_skynet!(tokio_node, tokio::spawn);

/// Spectrum async tasks on `workers` workers; the clock starts inside the runtime.
pub fn spectrum_tasks(rt: &spectrum::Runtime, leaves: u64) -> (u64, Duration) {
    rt.block_on(async move {
        spectrum::spawn(async move {
            let t = Instant::now();
            let r = spectrum_node(0, leaves).await;
            (r, t.elapsed())
        })
        .await
        .expect("skynet root")
    })
}

/// tokio tasks, the same code.
pub fn tokio_tasks(rt: &tokio::runtime::Runtime, leaves: u64) -> (u64, Duration) {
    rt.block_on(async move {
        tokio::spawn(async move {
            let t = Instant::now();
            let r = tokio_node(0, leaves).await;
            (r, t.elapsed())
        })
        .await
        .expect("skynet root")
    })
}

fn fiber_node(num: u64, size: u64) -> u64 {
    if size == 1 {
        return num;
    }
    let sub = size / 10;
    let children: Vec<_> = (0..10)
        .map(|i| spectrum::fiber::spawn(move || fiber_node(num + i * sub, sub)))
        .collect();
    children
        .into_iter()
        .map(|c| c.wait().expect("skynet fiber"))
        .sum()
}

/// Spectrum fibers: every node is a fiber; the root is joined from this (non-worker) thread.
pub fn spectrum_fibers(rt: &spectrum::Runtime, leaves: u64) -> (u64, Duration) {
    let _entered = rt.enter();
    let t = Instant::now();
    let r = spectrum::fiber::spawn(move || fiber_node(0, leaves))
        .wait()
        .expect("skynet root fiber");
    (r, t.elapsed())
}

fn chan_node(out: spectrum::chan::Sender<u64>, num: u64, size: u64) -> BoxFuture {
    Box::pin(async move {
        if size == 1 {
            let _ = out.send(num).await;
            return 0;
        }
        let sub = size / 10;
        let (tx, rx) = spectrum::chan::bounded(0);
        for i in 0..10 {
            spectrum::spawn(chan_node(tx.clone(), num + i * sub, sub)).detach();
        }
        drop(tx);
        let mut sum = 0;
        for _ in 0..10 {
            sum += rx.recv().await.expect("skynet answer");
        }
        let _ = out.send(sum).await;
        0
    })
}

/// Spectrum channels: Go's skynet, detached tasks answering over rendezvous channels.
pub fn spectrum_channels(rt: &spectrum::Runtime, leaves: u64) -> (u64, Duration) {
    rt.block_on(async move {
        spectrum::spawn(async move {
            let t = Instant::now();
            let (tx, rx) = spectrum::chan::bounded(0);
            spectrum::spawn(chan_node(tx, 0, leaves)).detach();
            let r = rx.recv().await.expect("skynet root answer");
            (r, t.elapsed())
        })
        .await
        .expect("skynet root")
    })
}

/// Where an actor node reports its sum: its parent, or the root's promise.
enum Parent {
    Root(Option<spectrum::promise::Resolver<u64, std::convert::Infallible>>),
    Node(spectrum::actor::Addr<ActorNode>),
}

/// One node of the actor skynet: its `started` hook spawns its children (each holding its
/// address, which keeps it alive); each child tells it a `Sum`; the tenth makes it report up and
/// stop.
struct ActorNode {
    num: u64,
    size: u64,
    parent: Parent,
    sum: u64,
    left: u32,
}

struct Sum(u64);

impl ActorNode {
    async fn report(&mut self, v: u64) {
        match &mut self.parent {
            Parent::Root(done) => {
                if let Some(done) = done.take() {
                    let _ = done.resolve(v);
                }
            }
            Parent::Node(addr) => {
                let _ = addr.tell(Sum(v)).await;
            }
        }
    }
}

impl spectrum::actor::Actor for ActorNode {
    async fn started(
        &mut self,
        ctx: &mut spectrum::actor::Context<Self>,
    ) -> Result<(), spectrum::actor::BoxError> {
        if self.size == 1 {
            self.report(self.num).await;
            ctx.stop();
            return Ok(());
        }
        let sub = self.size / 10;
        for i in 0..10 {
            spectrum::actor::spawn(ActorNode {
                num: self.num + i * sub,
                size: sub,
                parent: Parent::Node(ctx.addr()),
                sum: 0,
                left: 10,
            });
        }
        Ok(())
    }
}

impl spectrum::actor::Handler<Sum> for ActorNode {
    type Reply = ();
    async fn handle(&mut self, Sum(v): Sum, ctx: &mut spectrum::actor::Context<Self>) {
        self.sum += v;
        self.left -= 1;
        if self.left == 0 {
            self.report(self.sum).await;
            ctx.stop();
        }
    }
}

/// Spectrum actors: every node is an actor, answers travel as messages (Erlang's skynet).
pub fn spectrum_actors(rt: &spectrum::Runtime, leaves: u64) -> (u64, Duration) {
    rt.block_on(async move {
        spectrum::spawn(async move {
            let t = Instant::now();
            let (answer, done) = spectrum::promise::Promise::with_resolver();
            let root = spectrum::actor::spawn(ActorNode {
                num: 0,
                size: leaves,
                parent: Parent::Root(Some(done)),
                sum: 0,
                left: 10,
            });
            let r = answer.await.expect("skynet root answer");
            drop(root);
            (r, t.elapsed())
        })
        .await
        .expect("skynet root")
    })
}

/// One node of the streams skynet: a leaf is `Mono::just(num)`; a node is its 10 children
/// merged by `flat_map_with(.., 10, 1)` and summed by `reduce` (boxed: the type would otherwise
/// grow with the depth). With `on_tasks`, each child is subscribed from its own task
/// (`subscribe_on`, Reactor's `subscribeOn(parallel)`); without, the whole tree runs inside the
/// root's `subscribe`, on one thread, as Reactor does without a scheduler.
fn stream_node(num: u64, size: u64, on_tasks: bool) -> spectrum::stream::BoxFlux<u64> {
    use spectrum::stream::{Flux, Mono};
    if size == 1 {
        return Mono::just(num).flux().boxed();
    }
    let sub = size / 10;
    let children = Flux::range(0..10u64);
    if on_tasks {
        children
            .flat_map_with(
                move |i| stream_node(num + i * sub, sub, true).subscribe_on(),
                10,
                1,
            )
            .reduce(0, |sum, v| sum + v)
            .flux()
            .boxed()
    } else {
        children
            .flat_map_with(move |i| stream_node(num + i * sub, sub, false), 10, 1)
            .reduce(0, |sum, v| sum + v)
            .flux()
            .boxed()
    }
}

/// Spectrum reactive streams: the tree as one `Flux`, awaited from a task as a `Mono`.
pub fn spectrum_streams(rt: &spectrum::Runtime, leaves: u64, on_tasks: bool) -> (u64, Duration) {
    rt.block_on(async move {
        spectrum::spawn(async move {
            let t = Instant::now();
            let r = spectrum::stream::Mono::from_publisher(stream_node(0, leaves, on_tasks))
                .await
                .expect("skynet stream")
                .expect("skynet answer");
            (r, t.elapsed())
        })
        .await
        .expect("skynet root")
    })
}

/// A Spectrum runtime with `workers` workers. Each run builds its own and drops it afterwards
/// (outside the timed part), so no idle runtime of another contender shares the CPUs.
pub fn spectrum_rt(workers: usize) -> spectrum::Runtime {
    spectrum::Runtime::builder()
        .workers(workers)
        // The default configuration, except that the watchdog's long-poll reports are counted
        // instead of printed (on two shared cores a preempted worker trips it now and then).
        .on_diagnostic(|_| {
            WATCHDOG.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        })
        .build()
        .expect("spectrum runtime")
}

static WATCHDOG: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Diagnostics Spectrum's runtimes reported during the runs.
pub fn watchdog_reports() -> usize {
    WATCHDOG.load(std::sync::atomic::Ordering::Relaxed)
}

/// tokio's current-thread runtime (1 worker) or multi-thread runtime (`workers`).
pub fn tokio_rt(workers: usize) -> tokio::runtime::Runtime {
    if workers == 1 {
        tokio::runtime::Builder::new_current_thread().build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .build()
    }
    .expect("tokio runtime")
}

/// Leaves of the fiber skynet: every waiting node holds a stack, and a 1M-leaf tree keeps more
/// than the stack budget (`fiber::max_stacks()`, 31 741 with Linux's default
/// `vm.max_map_count`) waiting at once; 100k leaves stay under it.
pub const FIBER_LEAVES: u64 = 100_000;

/// One contender of the suite by family (the bench target adds may).
pub fn contender(
    family: &'static str,
    workers: usize,
    leaves: u64,
) -> super::suite::Contender<'static> {
    type Run = Box<dyn FnMut() -> (u64, Duration)>;
    let (name, run): (&str, Run) = match family {
        "spectrum-tasks" => (
            "Spectrum tasks",
            Box::new(move || spectrum_tasks(&spectrum_rt(workers), leaves)),
        ),
        "tokio" if workers == 1 => (
            "tokio tasks (current_thread)",
            Box::new(move || tokio_tasks(&tokio_rt(workers), leaves)),
        ),
        "tokio" => (
            "tokio tasks (multi_thread)",
            Box::new(move || tokio_tasks(&tokio_rt(workers), leaves)),
        ),
        "spectrum-actors" => (
            "Spectrum actors (Erlang's skynet: actors + messages)",
            Box::new(move || spectrum_actors(&spectrum_rt(workers), leaves)),
        ),
        "spectrum-fibers" => (
            "Spectrum fibers",
            Box::new(move || spectrum_fibers(&spectrum_rt(workers), leaves)),
        ),
        "spectrum-streams" => (
            "Spectrum streams (Flux: flat_map + reduce, no task)",
            Box::new(move || spectrum_streams(&spectrum_rt(workers), leaves, false)),
        ),
        "spectrum-streams-tasks" => (
            "Spectrum streams (the same, each child subscribe_on: a task)",
            Box::new(move || spectrum_streams(&spectrum_rt(workers), leaves, true)),
        ),
        _ => (
            "Spectrum channels (Go's skynet: tasks + bounded(0))",
            Box::new(move || spectrum_channels(&spectrum_rt(workers), leaves)),
        ),
    };
    super::suite::Contender {
        name: name.into(),
        family,
        workers,
        leaves,
        run,
    }
}
