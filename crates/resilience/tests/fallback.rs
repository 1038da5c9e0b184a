//! Fallback: substitutes for handled errors only, gets the error by value.

use spectrum_resilience::Fallback;

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn handles_only_what_the_predicate_selects() {
    let f =
        Fallback::<String, String>::builder(|e| async move { Ok(format!("recovered from {e}")) })
            .handle_if(|e| e.starts_with("soft"))
            .build();
    assert_eq!(
        f.run(async { Err("soft fail".into()) }).await.unwrap(),
        "recovered from soft fail"
    );
    assert_eq!(
        f.run(async { Err("hard fail".to_string()) }).await,
        Err("hard fail".to_string())
    );
    assert_eq!(
        f.run(async { Ok("fine".to_string()) }).await.unwrap(),
        "fine"
    );
    let m = f.metrics();
    assert_eq!(m.counter("handled"), Some(1));
    assert_eq!(m.counter("passed_through"), Some(1));
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn the_handler_may_fail_too() {
    let f = Fallback::<u32, &str>::new(|_| async { Err("fallback also down") });
    assert_eq!(
        f.run(async { Err("down") }).await,
        Err("fallback also down")
    );
}
