//! `#[spectrum::main]` and `#[spectrum::test]`, including the leak check.

use std::time::Duration;

#[spectrum::test]
async fn a_test_body_runs_on_a_runtime() {
    assert_eq!(spectrum::spawn(async { 2 }).await.unwrap(), 2);
}

#[spectrum::test(workers = 2)]
async fn workers_can_be_chosen() {
    assert_eq!(spectrum::Handle::current().num_workers(), 2);
}

#[spectrum::test(start_paused = true)]
async fn paused_time_makes_long_sleeps_instant() {
    let wall = std::time::Instant::now();
    spectrum::time::sleep(Duration::from_secs(24 * 3600)).await;
    assert!(wall.elapsed() < Duration::from_secs(1));
}

#[spectrum::test]
async fn tests_may_return_results() -> Result<(), std::io::Error> {
    Ok(())
}

#[spectrum::test(allow_leaks = true)]
async fn leaks_can_be_allowed_explicitly() {
    spectrum::spawn(std::future::pending::<()>()).detach();
}

#[test]
fn a_test_that_leaks_a_task_fails_naming_it() {
    // Run the macro's runner directly so we can observe its failure.
    let res = std::panic::catch_unwind(|| {
        spectrum::__private::run_test(
            spectrum::__private::TestConfig {
                workers: None,
                start_paused: false,
                check_leaks: true,
            },
            async {
                spectrum::task::Builder::new()
                    .name("forgotten-worker")
                    .spawn(std::future::pending::<()>())
                    .detach();
            },
        )
    });
    let payload = res.unwrap_err();
    let msg = payload.downcast_ref::<String>().unwrap();
    assert!(msg.contains("leak check failed"), "{msg}");
    assert!(msg.contains("\"forgotten-worker\""), "{msg}");
    assert!(msg.contains("macros.rs"), "{msg}");
}

#[test]
fn cancelled_tasks_finishing_during_the_grace_period_are_not_leaks() {
    spectrum::__private::run_test(
        spectrum::__private::TestConfig {
            workers: Some(2),
            start_paused: false,
            check_leaks: true,
        },
        async {
            for _ in 0..100 {
                // Dropping the handle cancels; the task completes at its next poll.
                drop(spectrum::spawn(spectrum::time::sleep(Duration::from_secs(
                    60,
                ))));
            }
        },
    );
}
