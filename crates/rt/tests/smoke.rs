use std::time::{Duration, Instant};

use spectrum_rt::{time, Runtime, Wait};

#[test]
fn spawn_join_sleep_and_wait() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let v = rt.block_on(async {
        let hs: Vec<_> = (0..1000)
            .map(|i| spectrum_rt::spawn(async move { i }))
            .collect();
        let mut s = 0u64;
        for h in hs {
            s += h.await.unwrap();
        }
        s
    });
    assert_eq!(v, 499_500);
    let t = Instant::now();
    rt.block_on(async { time::sleep(Duration::from_millis(20)).await });
    assert!(t.elapsed() >= Duration::from_millis(20));
    let _g = rt.enter();
    assert_eq!(spectrum_rt::spawn(async { 5 }).wait().unwrap(), 5);
}
