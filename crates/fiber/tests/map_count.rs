//! Running out of the *kernel's* memory mappings (`vm.max_map_count`) while mapping a stack is
//! an error that names the limit, never an abort. A child process uses up almost all of its
//! mappings on purpose, then starts fibers.

use std::process::Command;

const CHILD_ENV: &str = "SPECTRUM_FIBER_MAP_COUNT_CHILD";

/// Maps `n` separate one-page regions (alternating protections so the kernel cannot merge them).
fn use_up_mappings(n: usize) -> usize {
    let page = 4096;
    let len = n * page;
    // SAFETY: a fresh anonymous mapping, then protection changes inside it.
    unsafe {
        let base = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        );
        assert_ne!(base, libc::MAP_FAILED);
        let mut made = 1;
        for i in (1..n).step_by(2) {
            if libc::mprotect(
                base.cast::<u8>().add(i * page).cast(),
                page,
                libc::PROT_NONE,
            ) != 0
            {
                break;
            }
            made += 2;
        }
        made
    }
}

fn count_mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}

fn child() {
    let max: usize = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let rt = spectrum_rt::Runtime::builder().workers(1).build().unwrap();
    let _guard = rt.enter();
    // Let the budget allow more than the kernel will.
    spectrum_fiber::set_max_stacks(max);
    // Warm up: runtime threads, allocator arenas, the overflow handler's alternate stack.
    spectrum_rt::Wait::wait(spectrum_fiber::spawn(|| ())).unwrap();
    let free = max - count_mappings();
    use_up_mappings(free.saturating_sub(60));
    let (tx, rx) = spectrum_chan::bounded::<()>(0);
    let mut handles = Vec::new();
    for _ in 0..200 {
        let rx = rx.clone();
        handles.push(spectrum_fiber::spawn(move || {
            let _ = spectrum_rt::Wait::wait(rx.recv());
        }));
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    tx.close();
    let mut failed = 0;
    for h in handles {
        if let Err(e) = spectrum_rt::Wait::wait(h) {
            let msg = e.to_string();
            assert!(msg.contains("vm.max_map_count"), "{msg}");
            failed += 1;
        }
    }
    println!("CHILD-RESULT failed={failed}");
    std::process::exit(0);
}

#[test]
fn running_out_of_kernel_mappings_is_an_error() {
    if std::env::var(CHILD_ENV).is_ok() {
        child();
    }
    if std::fs::read_to_string("/proc/sys/vm/max_map_count").is_err() {
        eprintln!("no /proc/sys/vm/max_map_count: not Linux, nothing to test");
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "running_out_of_kernel_mappings_is_an_error",
            "--exact",
            "--nocapture",
        ])
        .env(CHILD_ENV, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let failed: usize = stdout
        .lines()
        .find_map(|l| l.strip_prefix("CHILD-RESULT failed="))
        .expect("the child reports")
        .parse()
        .unwrap();
    assert!(failed > 0, "some fibers should have found no mapping left");
}
