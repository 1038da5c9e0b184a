//! Chaos: injection at a rate, switchable at run time, reproducible with a seed.

use std::time::Duration;

use spectrum_resilience::Chaos;
use spectrum_rt::time;

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn faults_are_injected_at_the_configured_rate() {
    let chaos = Chaos::<u32, &str>::builder()
        .fault(0.25, || "boom")
        .seed(1)
        .build()
        .unwrap();
    let mut faults = 0;
    for _ in 0..10_000 {
        if chaos.run(async { Ok(1) }).await.is_err() {
            faults += 1;
        }
    }
    assert!(
        (2_300..2_700).contains(&faults),
        "{faults} of 10000 at 25 %"
    );
    assert_eq!(chaos.metrics().counter("faults"), Some(faults));
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn a_seed_injects_on_the_same_calls() {
    let pattern = |seed| async move {
        let chaos = Chaos::<u32, &str>::builder()
            .fault(0.5, || "x")
            .seed(seed)
            .build()
            .unwrap();
        let mut v = Vec::new();
        for _ in 0..64 {
            v.push(chaos.run(async { Ok(1) }).await.is_ok());
        }
        v
    };
    assert_eq!(pattern(3).await, pattern(3).await);
    assert_ne!(pattern(3).await, pattern(4).await);
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn latency_and_outcomes_are_injected_and_switchable_at_run_time() {
    let chaos = Chaos::<u32, &str>::builder()
        .latency(1.0, Duration::from_millis(200))
        .outcome(0.0, || Ok(99))
        .build()
        .unwrap();
    let start = time::now();
    assert_eq!(chaos.run(async { Ok(1) }).await, Ok(1));
    assert_eq!(time::now() - start, Duration::from_millis(200));

    chaos.set_latency_rate(0.0).unwrap();
    chaos.set_outcome_rate(1.0).unwrap();
    let start = time::now();
    assert_eq!(chaos.run(async { Ok(1) }).await, Ok(99));
    assert_eq!(time::now() - start, Duration::ZERO);

    chaos.disable();
    assert_eq!(chaos.run(async { Ok(1) }).await, Ok(1));
    assert_eq!(chaos.metrics().state, Some("disabled"));
    assert!(chaos.set_fault_rate(1.5).is_err());
}
