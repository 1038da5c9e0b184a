//! Regression: `all` over a lazy iterator whose inputs settle on another worker while `all` is
//! still starting inputs must never sleep through their wake-ups (it used to hang).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use spectrum_promise::{all, Promise, Resolver};

#[test]
fn all_over_inputs_settled_while_it_starts_them_completes() {
    let rt = spectrum_rt::Runtime::builder().workers(2).build().unwrap();
    for round in 0..10 {
        let n = 50_000;
        let queue: Arc<Mutex<Vec<Resolver<u32, ()>>>> = Arc::default();
        let q2 = queue.clone();
        let out = rt.block_on(async move {
            let resolver = spectrum_rt::spawn(async move {
                let mut done = 0;
                while done < n {
                    let next = q2.lock().unwrap().pop();
                    match next {
                        Some(r) => {
                            r.resolve(1).unwrap();
                            done += 1;
                        }
                        None => spectrum_rt::yield_now().await,
                    }
                }
            });
            let q3 = queue.clone();
            let inputs = (0..n).map(move |_| {
                let (p, r) = Promise::with_resolver();
                q3.lock().unwrap().push(r);
                p
            });
            let sum = spectrum_rt::time::timeout(Duration::from_secs(20), all(inputs))
                .await
                .unwrap_or_else(|_| panic!("round {round}: `all` missed a wake-up and hung"))
                .unwrap()
                .into_iter()
                .sum::<u32>();
            resolver.await.unwrap();
            sum
        });
        assert_eq!(out, n as u32);
    }
}
