//! Shielding cleanup from cancellation.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::task::{JoinError, JoinHandle};

/// Runs `future` shielded from cancellation: it keeps running if the caller is cancelled (its
/// handle dropped, its scope failing), and the enclosing scope still waits for it. Use it for
/// cleanup that must happen — flushing a buffer, saying goodbye to a peer — and bound it with
/// [`shield_with_timeout`].
///
/// The future runs as its own task; awaiting the returned [`Shielded`] gives its output, and
/// dropping it does not cancel it.
///
/// # Panics
///
/// Outside a Spectrum runtime.
#[track_caller]
pub fn shield<F>(future: F) -> Shielded<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handle = match crate::scope::current_scope_handle() {
        Some(scope) => scope.spawn_shielded(future),
        None => crate::spawn(future),
    };
    Shielded {
        handle: Some(handle),
    }
}

/// [`shield`] bounded by `timeout`: past it, the shielded future is dropped and the result is
/// `Err(Elapsed)`.
///
/// # Panics
///
/// Outside a Spectrum runtime.
#[track_caller]
pub fn shield_with_timeout<F>(
    timeout: Duration,
    future: F,
) -> Shielded<Result<F::Output, crate::time::Elapsed>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    shield(crate::time::timeout(timeout, future))
}

/// Future returned by [`shield`]. Dropping it leaves the shielded work running.
#[must_use = "shielded work runs anyway; await it to get its output"]
pub struct Shielded<T> {
    handle: Option<JoinHandle<T>>,
}

impl<T> Future for Shielded<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let h = self
            .handle
            .as_mut()
            .expect("Shielded polled after completion");
        let out = std::task::ready!(Pin::new(h).poll(cx));
        self.handle = None;
        Poll::Ready(out)
    }
}

impl<T> Drop for Shielded<T> {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.detach();
        }
    }
}

impl<T> std::fmt::Debug for Shielded<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shielded")
            .field("handle", &self.handle)
            .finish()
    }
}
