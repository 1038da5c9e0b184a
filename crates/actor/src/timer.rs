//! Delayed and periodic messages on Spectrum's timer wheel: [`Addr::send_after`],
//! [`Context::send_after`] and [`Context::interval`].
//!
//! Each timer is a small task holding an uncounted address: it never keeps an actor alive, and
//! it ends as soon as its actor does (it waits on the timer and on the actor's exit at once).
//! Timers set through a `Context` are also cancelled when the actor ends.
//!
//! [`Addr::send_after`]: crate::Addr::send_after
//! [`Context::send_after`]: crate::Context::send_after
//! [`Context::interval`]: crate::Context::interval

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use spectrum_rt::AbortHandle;

use crate::actor::Handler;
use crate::addr::WeakAddr;

/// A running timer: cancel it, or let it go (dropping it does not cancel it).
#[derive(Debug, Clone)]
pub struct TimerRef {
    handle: AbortHandle,
}

impl TimerRef {
    /// Cancels the timer if it has not fired (an interval stops ticking).
    pub fn cancel(&self) {
        self.handle.cancel();
    }

    /// True once it fired (a one-shot timer), was cancelled, or its actor ended.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    pub(crate) fn abort_handle(&self) -> AbortHandle {
        self.handle.clone()
    }
}

#[track_caller]
pub(crate) fn send_after<A, M>(to: WeakAddr<A>, delay: Duration, msg: M) -> TimerRef
where
    A: Handler<M>,
    M: Send + 'static,
{
    let target = to.actor_ref();
    let h = spectrum_rt::task::Builder::new()
        .name("actor timer")
        .spawn(async move {
            let mut sleep = pin!(spectrum_rt::time::sleep(delay));
            let mut exit = target.join();
            let fired = poll_fn(|cx| {
                if std::pin::Pin::new(&mut exit).poll(cx).is_ready() {
                    return Poll::Ready(false);
                }
                sleep.as_mut().poll(cx).map(|()| true)
            })
            .await;
            if fired {
                let _ = to.tell(msg).await;
            }
        });
    let t = TimerRef {
        handle: h.abort_handle(),
    };
    h.detach();
    t
}

#[track_caller]
pub(crate) fn interval<A, M, F>(to: WeakAddr<A>, period: Duration, mut make: F) -> TimerRef
where
    A: Handler<M>,
    M: Send + 'static,
    F: FnMut() -> M + Send + 'static,
{
    assert!(!period.is_zero(), "`interval` needs a period above zero");
    let target = to.actor_ref();
    let start = spectrum_rt::time::now() + period;
    let h = spectrum_rt::task::Builder::new()
        .name("actor interval")
        .spawn(async move {
            let mut ticks = spectrum_rt::time::interval_at(start, period);
            let mut exit = target.join();
            loop {
                let tick = poll_fn(|cx| {
                    if std::pin::Pin::new(&mut exit).poll(cx).is_ready() {
                        return Poll::Ready(false);
                    }
                    ticks.poll_tick(cx).map(|_| true)
                })
                .await;
                if !tick || to.tell(make()).await.is_err() {
                    break;
                }
            }
        });
    let t = TimerRef {
        handle: h.abort_handle(),
    };
    h.detach();
    t
}
