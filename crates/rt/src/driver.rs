//! The driver: the I/O reactor and the timer wheel, serviced together by a parked worker.

use std::io;
use std::time::Duration;

use crate::io::driver::{self as io_driver, IoDriver, IoHandle};
use crate::sched::Shared;
use crate::time::driver::TimeHandle;

/// The exclusive part, held by the worker that parks on it.
#[derive(Debug)]
pub(crate) struct Driver {
    io: IoDriver,
}

/// The shared part: registration, timers and waking the parked worker.
#[derive(Debug)]
pub(crate) struct DriverHandle {
    pub(crate) io: IoHandle,
    pub(crate) time: TimeHandle,
}

pub(crate) fn new(start_paused: bool) -> io::Result<(Driver, DriverHandle)> {
    let (io, io_handle) = io_driver::new()?;
    Ok((
        Driver { io },
        DriverHandle {
            io: io_handle,
            time: TimeHandle::new(start_paused),
        },
    ))
}

impl Driver {
    /// Waits for I/O until the next timer (or `timeout`), then fires due timers.
    ///
    /// With a paused clock and an idle runtime, it does not wait for the next timer: it jumps
    /// the clock to it (auto-advance), so tests with long sleeps finish at once.
    pub(crate) fn park(&mut self, shared: &Shared, timeout: Option<Duration>) {
        let handle = &shared.driver;
        let time = &handle.time;
        let next = time.next_expiration_for_park();
        let mut wait = timeout;
        if let Some(tick) = next {
            let until = time
                .clock
                .tick_to_instant(tick)
                .saturating_duration_since(time.clock.now());
            wait = Some(wait.map_or(until, |t| t.min(until)));
        }
        if time.clock.is_paused() && wait != Some(Duration::ZERO) && shared.can_auto_advance() {
            let events = self.io.turn(&handle.io, Some(Duration::ZERO));
            if events == 0 {
                // Read the wheel again: a timer registered since `next` was read (from
                // `block_on`'s thread, say) woke the driver, and the turn above has just
                // consumed that wake-up. With the stale `next` the driver would jump past that
                // timer, or, with no timer before, sleep with no timeout and never fire it (a
                // test under the paused clock hung so, about once in 200 runs on a loaded
                // machine). Reading again re-arms `next_wake`, so a timer registered after this
                // read wakes the turn below.
                match time.next_expiration_for_park() {
                    Some(tick) => time.clock.advance_to(time.clock.tick_to_instant(tick)),
                    None => {
                        self.io.turn(&handle.io, timeout);
                    }
                }
            }
        } else {
            self.io.turn(&handle.io, wait);
        }
        time.unparked();
        time.process();
        shared.tick_coarse_clock();
    }
}

impl DriverHandle {
    /// Wakes the worker parked on the driver, if any.
    pub(crate) fn unpark(&self) {
        self.io.unpark();
    }
}
