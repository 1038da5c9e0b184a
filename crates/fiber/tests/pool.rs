//! Stacks come from a pool: fibers that finish give their stacks back and later fibers reuse
//! them, so a steady stream of fibers maps no new memory.

use spectrum_rt::{Runtime, Wait};

/// The pool's counters are process-wide: these tests run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[test]
fn sequential_fibers_reuse_stacks() {
    let _serial = serial();
    let rt = Runtime::builder().workers(2).build().unwrap();
    let _guard = rt.enter();
    // Warm up both workers' caches.
    for _ in 0..10 {
        spectrum_fiber::spawn(|| ()).wait().unwrap();
    }
    let before = spectrum_fiber::stack_stats();
    for i in 0..2000u32 {
        assert_eq!(spectrum_fiber::spawn(move || i).wait().unwrap(), i);
    }
    let after = spectrum_fiber::stack_stats();
    assert!(
        after.fresh_maps - before.fresh_maps <= 2,
        "2000 fibers one after another mapped {} new stacks",
        after.fresh_maps - before.fresh_maps
    );
    assert!(after.mapped <= before.mapped + 2);
}

#[test]
fn bursts_are_served_from_the_pool_the_second_time() {
    let _serial = serial();
    let rt = Runtime::builder().workers(2).build().unwrap();
    let _guard = rt.enter();
    let burst = || {
        let (tx, rx) = spectrum_chan::bounded::<()>(0);
        let hs: Vec<_> = (0..500)
            .map(|_| {
                let rx = rx.clone();
                spectrum_fiber::Builder::new()
                    .stack_size(48 * 1024)
                    .spawn(move || {
                        let _ = rx.recv().wait();
                    })
                    .unwrap()
            })
            .collect();
        drop(rx);
        tx.close();
        for h in hs {
            h.wait().unwrap();
        }
    };
    burst();
    let fresh = spectrum_fiber::stack_stats().fresh_maps;
    burst();
    let again = spectrum_fiber::stack_stats().fresh_maps - fresh;
    // The second burst finds the first one's stacks in the caches and the global pool.
    assert!(again < 250, "the second burst mapped {again} new stacks");
}

#[test]
fn stack_sizes_are_honoured_and_rounded() {
    let _serial = serial();
    let rt = Runtime::builder().workers(1).build().unwrap();
    let _guard = rt.enter();
    let size = |req: usize| {
        spectrum_fiber::Builder::new()
            .stack_size(req)
            .spawn(|| spectrum_fiber::current().unwrap().stack_size())
            .unwrap()
            .wait()
            .unwrap()
    };
    assert_eq!(size(1), spectrum_fiber::MIN_STACK_SIZE);
    assert_eq!(size(100_000), 102_400); // 25 pages
    assert_eq!(
        spectrum_fiber::spawn(|| spectrum_fiber::current().unwrap().stack_size())
            .wait()
            .unwrap(),
        spectrum_fiber::DEFAULT_STACK_SIZE
    );
    let err = spectrum_fiber::Builder::new()
        .stack_size(usize::MAX)
        .spawn(|| ())
        .unwrap_err();
    assert!(matches!(
        err.kind(),
        spectrum_fiber::SpawnErrorKind::StackTooLarge { .. }
    ));
}

#[test]
fn a_big_stack_allows_deep_recursion() {
    fn depth(n: u32) -> u32 {
        // A 256-byte frame the optimiser cannot remove.
        let pad = std::hint::black_box([n as u8; 256]);
        if n == 0 {
            u32::from(pad[0])
        } else {
            depth(n - 1) + 1
        }
    }
    let _serial = serial();
    let rt = Runtime::builder().workers(1).build().unwrap();
    let _guard = rt.enter();
    let h = spectrum_fiber::Builder::new()
        .stack_size(16 << 20)
        .spawn(|| depth(20_000)) // ~5+ MiB of frames
        .unwrap();
    assert_eq!(h.wait().unwrap(), 20_000);
}
