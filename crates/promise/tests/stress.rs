//! Many promises settled, abandoned, awaited and dropped from many threads and tasks at once:
//! every reader gets exactly the outcome of its promise, and nothing hangs.
#![cfg(not(loom))]

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use spectrum_promise::{Promise, PromiseError};

const PROMISES: usize = 4_000;

/// A value that counts its drops, to check nothing is dropped twice or leaked.
#[derive(Debug)]
struct Counted(usize, Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.1.fetch_add(1, SeqCst);
    }
}

#[spectrum_macros::test(crate = "spectrum_rt", workers = 2)]
async fn settle_abandon_read_and_drop_concurrently() {
    let drops = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    let mut resolvers = Vec::new();
    for i in 0..PROMISES {
        let (p, r) = Promise::<Arc<Counted>, usize>::with_resolver();
        resolvers.push((i, r));
        match i % 4 {
            // Read by a task.
            0 | 1 => readers.push((i, Some(spectrum_rt::spawn(p)))),
            // Read by a shared reader task.
            2 => readers.push((i, Some(spectrum_rt::spawn(p.shared().clone())))),
            // Nobody reads: dropped while the settler runs.
            _ => {
                readers.push((i, None));
                std::thread::spawn(move || drop(p));
            }
        }
    }
    // Four settler threads: resolve, reject, or abandon by dropping.
    let mut chunks: Vec<Vec<_>> = (0..4).map(|_| Vec::new()).collect();
    for (n, entry) in resolvers.into_iter().enumerate() {
        chunks[n % 4].push(entry);
    }
    let settlers: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            let drops = drops.clone();
            std::thread::spawn(move || {
                for (i, r) in chunk {
                    match i % 3 {
                        0 => drop(r.resolve(Arc::new(Counted(i, drops.clone())))),
                        1 => drop(r.reject(i)),
                        _ => drop(r),
                    }
                }
            })
        })
        .collect();
    let mut resolved = 0;
    for (i, reader) in readers {
        let Some(reader) = reader else { continue };
        let out = reader.await.unwrap();
        match (i % 3, out) {
            (0, Ok(value)) => {
                assert_eq!(value.0, i);
                resolved += 1;
            }
            (1, Err(PromiseError::Rejected(v))) => assert_eq!(v, i),
            (2, Err(e)) => assert!(e.is_abandoned()),
            (k, other) => panic!("promise {i} (kind {k}) settled wrongly: {other:?}"),
        }
    }
    for s in settlers {
        s.join().unwrap();
    }
    assert!(resolved > 0);
    // Every resolved value is dropped exactly once, read or not, by one reader or shared.
    common_wait(|| drops.load(SeqCst) == PROMISES.div_ceil(3));
}

fn common_wait(mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "values not dropped exactly once"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}
