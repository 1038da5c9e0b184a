//! Fallback: replace a failure with a substitute result.
//!
//! The handler receives the error (by value: it may return it, or wrap it) and produces the
//! substitute asynchronously (a cache read, a default, a degraded answer). A predicate chooses
//! which errors it handles; the others pass through unchanged. The handler's future is boxed, so
//! the cost of a fallback is paid only when it runs.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::metrics::{self, Counter, Metered, PolicyKind, PolicySnapshot};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type Pred<X> = Box<dyn Fn(&X) -> bool + Send + Sync>;
type Handler<T, X> = Box<dyn Fn(X) -> BoxFuture<Result<T, X>> + Send + Sync>;

/// Replaces failures (of type `X`) with a substitute `Result<T, X>`.
///
/// ```
/// # spectrum_rt::Wait::wait(async {
/// use spectrum_resilience::Fallback;
///
/// let fallback = Fallback::<&str, String>::value("cached");
/// assert_eq!(fallback.run(async { Err("down".to_string()) }).await, Ok("cached"));
/// assert_eq!(fallback.run(async { Ok("fresh") }).await, Ok("fresh"));
/// # });
/// ```
pub struct Fallback<T, X> {
    inner: Arc<Inner<T, X>>,
}

impl<T, X> Clone for Fallback<T, X> {
    fn clone(&self) -> Self {
        Fallback {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<T, X> {
    handler: Handler<T, X>,
    handle_if: Option<Pred<X>>,
    name: String,
    handled: Counter,
    passed_through: Counter,
}

/// Builds a [`Fallback`].
pub struct FallbackBuilder<T, X> {
    handler: Handler<T, X>,
    handle_if: Option<Pred<X>>,
    name: String,
}

impl<T: 'static, X: 'static> FallbackBuilder<T, X> {
    /// Names the policy (shown in metrics and dumps).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Handles only the errors for which `f` is true (default: all).
    pub fn handle_if(mut self, f: impl Fn(&X) -> bool + Send + Sync + 'static) -> Self {
        self.handle_if = Some(Box::new(f));
        self
    }

    /// Builds the policy (a fallback has nothing to validate).
    pub fn build(self) -> Fallback<T, X> {
        let inner = Arc::new(Inner {
            handler: self.handler,
            handle_if: self.handle_if,
            name: self.name,
            handled: Counter::default(),
            passed_through: Counter::default(),
        });
        metrics::register(&inner);
        Fallback { inner }
    }
}

impl<T: 'static, X: 'static> Fallback<T, X> {
    /// Starts building a fallback whose handler is `f`.
    pub fn builder<F, Fut>(f: F) -> FallbackBuilder<T, X>
    where
        F: Fn(X) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, X>> + Send + 'static,
    {
        FallbackBuilder {
            handler: Box::new(move |x| Box::pin(f(x))),
            handle_if: None,
            name: String::new(),
        }
    }

    /// A fallback handling every error with `f`.
    pub fn new<F, Fut>(f: F) -> Fallback<T, X>
    where
        F: Fn(X) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, X>> + Send + 'static,
    {
        Self::builder(f).build()
    }

    /// A fallback replacing every error with a clone of `value`.
    pub fn value(value: T) -> Fallback<T, X>
    where
        T: Clone + Send + Sync,
        X: Send,
    {
        Self::new(move |_| std::future::ready(Ok(value.clone())))
    }
}

impl<T, X> Fallback<T, X> {
    /// True if this fallback would handle `err`.
    pub fn handles(&self, err: &X) -> bool {
        self.inner.handle_if.as_ref().is_none_or(|p| p(err))
    }

    /// Substitutes for `err` (whether or not the predicate would handle it).
    ///
    /// # Errors
    ///
    /// Whatever the handler returns.
    pub async fn handle(&self, err: X) -> Result<T, X> {
        self.inner.handled.inc();
        (self.inner.handler)(err).await
    }

    /// Runs `fut`, substituting for its error if the predicate handles it.
    ///
    /// # Errors
    ///
    /// An error the predicate does not handle, or the handler's own.
    ///
    /// # Cancel safety
    ///
    /// As cancel-safe as `fut` and the handler.
    pub async fn run<F>(&self, fut: F) -> Result<T, X>
    where
        F: Future<Output = Result<T, X>>,
    {
        match fut.await {
            Ok(v) => Ok(v),
            Err(e) => self.recover(e).await,
        }
    }

    pub(crate) async fn recover(&self, err: X) -> Result<T, X> {
        if self.handles(&err) {
            self.handle(err).await
        } else {
            self.inner.passed_through.inc();
            Err(err)
        }
    }

    /// Counters `handled`, `passed_through`.
    pub fn metrics(&self) -> PolicySnapshot {
        self.inner.snapshot()
    }
}

impl<T, X> Metered for Inner<T, X> {
    fn snapshot(&self) -> PolicySnapshot {
        PolicySnapshot::new(&self.name, PolicyKind::Fallback)
            .counter_value("handled", self.handled.get())
            .counter_value("passed_through", self.passed_through.get())
    }
}

impl<T, X> fmt::Debug for Fallback<T, X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fallback")
            .field("name", &self.inner.name)
            .finish_non_exhaustive()
    }
}

impl<T, X> fmt::Debug for FallbackBuilder<T, X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackBuilder")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}
