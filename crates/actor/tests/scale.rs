//! 100k actors under a supervisor tree: start, restart some, count, stop in order, no leak.
//! `SPECTRUM_ACTOR_SCALE=1000000` runs a million.

use std::time::{Duration, Instant};

use spectrum_actor::supervisor::{ChildSpec, Strategy, Supervisor};
use spectrum_actor::{Actor, Context, SyncHandler};

struct Worker(u32);
impl Actor for Worker {}
struct Crash;
impl SyncHandler<Crash> for Worker {
    type Reply = ();
    fn handle(&mut self, _: Crash, _: &mut Context<Self>) {
        panic!("worker {} crashed", self.0);
    }
}

#[spectrum_macros::test(crate = "spectrum_rt", workers = 2)]
async fn hundred_thousand_actors_under_a_supervisor_tree() {
    let total: usize = std::env::var("SPECTRUM_ACTOR_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    const POOLS: usize = 10;
    let per_pool = total / POOLS;
    let t0 = Instant::now();
    let mut root = Supervisor::builder()
        .strategy(Strategy::OneForOne)
        .intensity(10, Duration::from_secs(5));
    for p in 0..POOLS {
        root = root.child(ChildSpec::supervisor(format!("pool-{p}"), move || {
            let mut b = Supervisor::builder().intensity(100, Duration::from_secs(5));
            for i in 0..per_pool {
                let n = (p * per_pool + i) as u32;
                b = b.child(ChildSpec::new("w", move || Worker(n)));
            }
            b.build()
        }));
    }
    let root = spectrum_actor::spawn(root.build());
    let pools = root.which_children().await.unwrap();
    let mut actors = 0;
    let mut first = Vec::new();
    for p in &pools {
        let pool = p.actor.as_ref().unwrap().addr::<Supervisor>().unwrap();
        let kids = pool.which_children().await.unwrap();
        actors += kids.iter().filter(|c| c.actor.is_some()).count();
        first.push((pool, kids[0].actor.clone().unwrap()));
    }
    assert_eq!(actors, POOLS * per_pool);
    let started = t0.elapsed();
    assert!(spectrum_rt::Handle::current().live_tasks().len() > POOLS * per_pool);

    // Crash the first worker of every pool: each pool restarts its own.
    for (_, w) in &first {
        w.addr::<Worker>().unwrap().tell(Crash).await.unwrap();
    }
    for (pool, w) in &first {
        w.join().await;
        loop {
            let c = pool.count_children().await.unwrap();
            if c.active == per_pool {
                break;
            }
            spectrum_rt::time::sleep(Duration::from_millis(1)).await;
        }
    }
    drop(first);
    let t1 = Instant::now();
    root.stop();
    root.join().await;
    eprintln!(
        "{} actors: started in {:?}, stopped in {:?}",
        POOLS * per_pool,
        started,
        t1.elapsed()
    );
}
