//! Prints a task dump of a small program: `cargo run -p spectrum-rt --example dump`.

use std::future::pending;
use std::io;
use std::time::Duration;

use spectrum_rt::scope::{scope, BoxError};
use spectrum_rt::task::Builder;
use spectrum_rt::{time, Runtime};

fn main() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let server = rt.spawn(async {
        let _timer = Builder::new().name("ticker").spawn(async {
            let mut every = time::interval(Duration::from_secs(1));
            loop {
                every.tick().await;
            }
        });
        scope(|s| async move {
            for i in 0..3 {
                s.spawn_named(format!("conn-{i}"), async {
                    pending::<Result<(), io::Error>>().await
                })?;
            }
            pending::<Result<(), BoxError>>().await
        })
        .await
        .unwrap();
    });
    let _forgotten = rt.spawn(pending::<()>());
    std::thread::sleep(Duration::from_millis(50));
    println!("{}", rt.dump());
    drop(server);
}
