//! Limits, not crashes: when the process has mapped as many fiber stacks as it may, spawning
//! returns a clear error saying how to raise the limit; it never aborts. (One test per process
//! state: the stack budget is global, so this file holds a single test.)

use std::time::Duration;

use spectrum_fiber::SpawnErrorKind;
use spectrum_rt::{JoinError, Runtime, Wait};

#[test]
fn the_stack_limit_is_an_error_not_an_abort() {
    assert_eq!(
        spectrum_fiber::max_stacks(),
        {
            let max = std::fs::read_to_string("/proc/sys/vm/max_map_count")
                .ok()
                .and_then(|s| s.trim().parse::<usize>().ok())
                .unwrap_or(65530);
            (max - 2048.max(max / 32)) / 2
        },
        "the default budget follows vm.max_map_count"
    );
    let rt = Runtime::builder().workers(2).build().unwrap();
    let _guard = rt.enter();
    let limit = 40;
    spectrum_fiber::set_max_stacks(limit);
    assert_eq!(spectrum_fiber::max_stacks(), limit);

    // Fill the budget with parked fibers.
    let (release_tx, release_rx) = spectrum_chan::bounded::<()>(0);
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let parked: Vec<_> = (0..limit)
        .map(|_| {
            let rx = release_rx.clone();
            let started = started_tx.clone();
            spectrum_fiber::spawn(move || {
                started.send(()).unwrap();
                let _ = rx.recv().wait();
            })
        })
        .collect();
    for _ in 0..limit {
        started_rx.recv().unwrap();
    }
    assert_eq!(spectrum_fiber::stack_stats().mapped, limit);

    // The fallible spawn says so, and gives the closure back.
    let err = spectrum_fiber::try_spawn(|| "not spawned").unwrap_err();
    assert!(err.is_stack_limit());
    assert!(matches!(
        err.kind(),
        SpawnErrorKind::StackLimit { limit: 40, .. }
    ));
    let msg = err.to_string();
    assert!(msg.contains("vm.max_map_count"), "{msg}");
    assert!(msg.contains("sysctl -w vm.max_map_count="), "{msg}");
    assert_eq!(err.into_inner()(), "not spawned");

    // The infallible one panics with the same message (a panic, not an abort).
    let panic = std::panic::catch_unwind(|| spectrum_fiber::spawn(|| ())).unwrap_err();
    let text = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(text.contains("fiber stack limit reached"), "{text}");

    // Finishing fibers frees budget again.
    release_tx.close();
    for p in parked {
        p.wait().unwrap();
    }
    let ok = spectrum_fiber::try_spawn(|| 5).expect("room again");
    assert_eq!(ok.wait().unwrap(), 5);

    // Stacks are taken when a fiber starts: fibers spawned faster than they start may pass the
    // early check and find the budget spent when they start. They end with a clear panic,
    // and nothing aborts.
    let (release_tx, release_rx) = spectrum_chan::bounded::<()>(0);
    let burst: Vec<_> = (0..limit + 20)
        .map(|_| {
            let rx = release_rx.clone();
            spectrum_fiber::Builder::new().spawn(move || {
                let _ = rx.recv().wait();
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    release_tx.close();
    let (mut ran, mut refused, mut late) = (0, 0, 0);
    for b in burst {
        match b {
            Ok(h) => match h.wait() {
                Ok(()) => ran += 1,
                Err(JoinError::Panicked(p)) => {
                    assert!(
                        p.message().unwrap().contains("fiber stack limit reached"),
                        "{p:?}"
                    );
                    late += 1;
                }
                Err(e) => panic!("{e}"),
            },
            Err(e) => {
                assert!(e.is_stack_limit());
                refused += 1;
            }
        }
    }
    assert_eq!(ran + refused + late, limit + 20);
    assert!(
        ran <= limit,
        "at most {limit} fibers held stacks at once, {ran} ran"
    );
    assert!(
        refused + late >= 20,
        "{refused} refused, {late} failed at start"
    );
    spectrum_fiber::set_max_stacks(31_741);
}
