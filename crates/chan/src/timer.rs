//! Timer channels: [`after`], [`tick`] and [`never`](never()), so timeouts are ordinary `select` cases
//! (Go's `time.After`, `time.Tick` and nil channel).
//!
//! `after` and `tick` are real channels fed by a small task on the runtime's timer wheel. The
//! task keeps no `Sender` count once it is done (a "phantom" sender keeps the channel open
//! without one), and it stops as soon as every receiver is gone, so a dropped timer costs
//! nothing after that and never counts as a leaked task for long.

use std::future::{poll_fn, Future as _};
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use spectrum_rt::time::{self, MissedTickBehavior};

use crate::{bounded, Receiver, Sender};

/// A channel that receives the current instant once, `d` from now, and then nothing: it never
/// closes (Go's `time.After`).
///
/// ```
/// # spectrum_rt::Runtime::new().unwrap().block_on(async {
/// use std::time::Duration;
/// use spectrum_chan::{after, bounded, select};
///
/// let (_tx, rx) = bounded::<u32>(1);
/// let got = select! {
///     recv(rx) -> v => v.ok(),
///     recv(after(Duration::from_millis(5))) -> _ => None,
/// };
/// assert_eq!(got, None);
/// # });
/// ```
///
/// # Panics
///
/// Outside a Spectrum runtime (the timer needs one).
#[track_caller]
pub fn after(d: Duration) -> Receiver<Instant> {
    let (tx, rx) = bounded(1);
    let sleep = time::sleep(d);
    spectrum_rt::spawn(async move {
        if until_or_closed(&tx, sleep).await {
            let _ = tx.try_send(time::now());
        }
        tx.into_phantom();
    })
    .detach();
    rx
}

/// A channel that receives the current instant every `period`, the first time one period from
/// now (Go's `time.Tick`). Ticks a slow receiver misses are dropped, not queued.
///
/// # Panics
///
/// If `period` is zero, or outside a Spectrum runtime.
#[track_caller]
pub fn tick(period: Duration) -> Receiver<Instant> {
    let (tx, rx) = bounded(1);
    let mut every = time::interval_at(time::now() + period, period);
    every.set_missed_tick_behavior(MissedTickBehavior::Skip);
    spectrum_rt::spawn(async move {
        let mut closed = pin!(tx.closed());
        loop {
            let fired = poll_fn(|cx| {
                if closed.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(None);
                }
                every.poll_tick(cx).map(Some)
            })
            .await;
            match fired {
                Some(_) => {
                    let _ = tx.try_send(time::now());
                }
                None => break,
            }
        }
    })
    .detach();
    rx
}

/// A channel on which nothing ever arrives and that never closes by itself: a receive case that
/// is never ready (Go's nil channel; an `Option` case set to `None` does the same in `select!`).
pub fn never<T>() -> Receiver<T> {
    let (tx, rx) = bounded(0);
    tx.into_phantom();
    rx
}

/// Waits for `sleep`; true if it elapsed, false if every receiver went away first.
async fn until_or_closed<T>(tx: &Sender<T>, sleep: time::Sleep) -> bool {
    let mut sleep = pin!(sleep);
    let mut closed = pin!(tx.closed());
    poll_fn(|cx| {
        if closed.as_mut().poll(cx).is_ready() {
            return Poll::Ready(false);
        }
        sleep.as_mut().poll(cx).map(|()| true)
    })
    .await
}
