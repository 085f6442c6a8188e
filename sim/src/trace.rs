//! The run's trace: a `tracing` layer that records every event of peerlink
//! (and of the simulator's own fault log) as a [`TraceRecord`] — simulated
//! time, host, message, then the fields of the connection's spans and of the
//! event in order. Wall time, thread ids and pointers never appear. The
//! SHA-256 of the records' canonical lines is the run's fingerprint.

use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

pub use crate::record::TraceRecord;

thread_local! {
    /// Simulated time for events emitted by the runner itself (outside any
    /// host, where turmoil has no current host clock).
    static RUNNER_TIME: Cell<Duration> = const { Cell::new(Duration::ZERO) };
}

/// Sets the simulated time stamped on runner events.
pub fn set_runner_time(t: Duration) {
    RUNNER_TIME.with(|c| c.set(t));
}

/// Whose code runs now, on a backend where every host shares one runtime
/// (the event backend; turmoil names the host with its own span instead).
#[derive(Clone, Debug, Default)]
pub enum TaskHost {
    /// The runner (or turmoil): host from the span, else `sim`.
    #[default]
    Runner,
    /// A task of this host.
    Host(Arc<str>),
    /// A task of a crashed incarnation: its events are not recorded.
    Muted,
}

thread_local! {
    static TASK_HOST: RefCell<TaskHost> = const { RefCell::new(TaskHost::Runner) };
}

/// Sets whose code runs now on this thread (see [`TaskHost`]).
pub fn set_task_host(host: TaskHost) {
    TASK_HOST.with(|h| *h.borrow_mut() = host);
}

/// The recorded events and the running hash of their lines.
#[derive(Debug, Default)]
pub struct Trace {
    records: Vec<TraceRecord>,
    hasher: Sha256,
    count: usize,
    keep_lines: bool,
}

impl Trace {
    /// A trace that keeps its records (for `replay --trace`) or only hashes.
    pub fn new(keep_lines: bool) -> Self {
        Trace {
            keep_lines,
            ..Trace::default()
        }
    }

    /// Records one event: hashes its canonical line, keeps it if asked to.
    pub fn push(&mut self, record: TraceRecord) {
        self.hasher.update(record.to_string().as_bytes());
        self.hasher.update(b"\n");
        self.count += 1;
        if self.keep_lines {
            self.records.push(record);
        }
    }

    /// Records kept (when asked for).
    pub fn records(&self) -> &[TraceRecord] {
        &self.records
    }

    /// Number of events recorded.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Hex SHA-256 over all canonical lines so far.
    pub fn hash(&self) -> String {
        let digest = self.hasher.clone().finalize();
        digest.iter().fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }
}

/// Shared handle on a [`Trace`].
pub type TraceSink = Arc<Mutex<Trace>>;

/// The layer that feeds a [`TraceSink`].
pub struct TraceLayer {
    sink: TraceSink,
}

impl TraceLayer {
    /// A layer writing into `sink`.
    pub fn new(sink: TraceSink) -> Self {
        TraceLayer { sink }
    }
}

/// Formatted fields of a span, kept in its extensions.
struct SpanFields {
    /// turmoil's per-host span carries the host name.
    host: Option<String>,
    fields: Vec<(String, String)>,
}

/// Collects the message and the fields (formatted) in recorded order.
#[derive(Default)]
struct FieldWriter {
    message: String,
    fields: Vec<(String, String)>,
    host: Option<String>,
}

impl Visit for FieldWriter {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            name => self.fields.push((name.to_string(), format!("{value:?}"))),
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_string(),
            "name" => self.host = Some(value.to_string()),
            name => self.fields.push((name.to_string(), value.to_string())),
        }
    }
}

fn is_recorded(meta: &tracing::Metadata<'_>) -> bool {
    let target = meta.target();
    *meta.level() <= Level::DEBUG && (target.starts_with("peerlink") || target.starts_with("sim"))
}

impl<S> Layer<S> for TraceLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, meta: &'static tracing::Metadata<'static>) -> Interest {
        // Spans are always needed (turmoil's names the host); events only
        // when recorded, so turmoil's per-step trace events cost nothing.
        if meta.is_span() || is_recorded(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut w = FieldWriter::default();
        attrs.record(&mut w);
        let host = (attrs.metadata().name() == "node")
            .then_some(w.host)
            .flatten();
        span.extensions_mut().insert(SpanFields {
            host,
            fields: w.fields,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut w = FieldWriter::default();
        values.record(&mut w);
        let mut extensions = span.extensions_mut();
        if let Some(f) = extensions.get_mut::<SpanFields>() {
            f.fields.extend(w.fields);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if !is_recorded(event.metadata()) {
            return;
        }
        let mut host = match TASK_HOST.with(|h| h.borrow().clone()) {
            TaskHost::Runner => String::from("sim"),
            TaskHost::Host(name) => name.to_string(),
            TaskHost::Muted => return,
        };
        let mut w = FieldWriter::default();
        event.record(&mut w);
        let mut fields = Vec::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(f) = span.extensions().get::<SpanFields>() {
                    if let Some(h) = &f.host {
                        host.clone_from(h);
                    }
                    fields.extend(f.fields.iter().cloned());
                }
            }
        }
        fields.extend(w.fields);
        let t = turmoil::sim_elapsed().unwrap_or_else(|| RUNNER_TIME.with(Cell::get));
        let record = TraceRecord::new(t, host, w.message, fields);
        self.sink
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(record);
    }
}
