//! With the `tracing` feature, each task is a span and diagnostics are events.
#![cfg(feature = "tracing")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

#[derive(Default)]
struct Seen {
    spans: Vec<String>,
    events: Vec<String>,
    /// The task span each event was recorded in, by its `name` field.
    event_spans: Vec<Option<String>>,
}

struct Record(Arc<Mutex<Seen>>);

struct Fields(String);
impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={:?} ", field.name(), value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push_str(&format!("{}={} ", field.name(), value));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Record {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut f = Fields(format!(
            "{}:{} ",
            attrs.metadata().target(),
            attrs.metadata().name()
        ));
        attrs.record(&mut f);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(f.0.clone());
        }
        self.0.lock().unwrap().spans.push(f.0);
    }
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut f = Fields(format!("{} ", event.metadata().target()));
        event.record(&mut f);
        let within = ctx
            .event_span(event)
            .and_then(|s| s.extensions().get::<String>().cloned());
        let mut seen = self.0.lock().unwrap();
        seen.events.push(f.0);
        seen.event_spans.push(within);
    }
}

#[test]
fn tasks_are_spans_and_diagnostics_are_events() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let subscriber = tracing_subscriber::registry().with(Record(seen.clone()));
    let _default = tracing::subscriber::set_global_default(subscriber);
    let rt = spectrum_rt::Runtime::builder()
        .workers(2)
        .long_poll_threshold(Some(Duration::from_millis(20)))
        .on_diagnostic(|_| {})
        .build()
        .unwrap();
    rt.block_on(async {
        spectrum_rt::task::Builder::new()
            .name("traced")
            .spawn(async {
                tracing::info!("inside the task");
                std::thread::sleep(Duration::from_millis(120));
            })
            .await
            .unwrap();
    });
    drop(rt);
    let seen = seen.lock().unwrap();
    let span = seen
        .spans
        .iter()
        .find(|s| s.contains("name=traced"))
        .unwrap_or_else(|| panic!("no task span in {:?}", seen.spans));
    assert!(span.starts_with("spectrum::task:task "), "{span}");
    assert!(
        span.contains("id=") && span.contains("kind=Async"),
        "{span}"
    );
    assert!(
        span.contains("spawned_at=") && span.contains("tracing.rs"),
        "{span}"
    );
    let inside = seen
        .events
        .iter()
        .position(|e| e.contains("inside the task"))
        .expect("the task's own event");
    assert!(
        seen.event_spans[inside]
            .as_deref()
            .is_some_and(|s| s.contains("name=traced")),
        "the event is recorded inside the task's span"
    );
    let long_poll = seen
        .events
        .iter()
        .find(|e| e.starts_with("spectrum::diagnostic "))
        .unwrap_or_else(|| panic!("no diagnostic event in {:?}", seen.events));
    assert!(
        long_poll.contains("\"traced\"") && long_poll.contains("running one poll"),
        "{long_poll}"
    );
}
