//! The services' logs and traces (feature `telemetry`).
//!
//! Logs: JSON lines, one object per event, carrying the ids of the request they were written
//! in (`request_id`, `trace_id`, `operator_id`) from a task-local the request runs in
//! ([`in_request`]): nothing is paid per request for them unless a line is written.
//!
//! Traces: when an OTLP endpoint is configured, every request runs in a span exported as an
//! OpenTelemetry span over OTLP/gRPC, joined to the caller's W3C `traceparent`, sampled by
//! `sample_ratio` (parent-based: a caller's sampling decision is kept). Without an endpoint no
//! span is opened at all; the trace id is then the caller's, or a fresh random one, so log
//! lines and stored events still carry one.

use std::fmt;
use std::future::Future;
use std::sync::OnceLock;

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanExporter};
use tracing::field::{Empty, Field, Visit};
use tracing::{Event, Span, Subscriber};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{FilterExt, LevelFilter, Targets, filter_fn};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Share of new traces exported when a service's settings do not say (`MR_OTLP_SAMPLE_RATIO`).
/// One in ten: exporting every request's span costs about an eighth of authorize throughput
/// on two cores, one in ten about nothing measurable (docs/PERFORMANCE.md); a caller's
/// sampled `traceparent` is followed whatever the ratio, so a traced call stays whole.
pub const DEFAULT_OTLP_SAMPLE_RATIO: f64 = 0.1;

/// A no-op layer installed beside the OpenTelemetry one, so a request can ask the current
/// subscriber whether its spans are exported ([`exporting`]): only then are ids and status
/// worth recording after the span opened; without it what a log line needs is known up front.
/// It also carries the share of new traces kept, so an unsampled request opens no span at all
/// (the OpenTelemetry layer would build its data whatever the sampler then decides).
struct TracesExported {
    sample_ratio: f64,
}

impl<S: tracing::Subscriber> Layer<S> for TracesExported {}

/// The sample ratio of the current subscriber's export, if it exports spans ([`trace_layer`]).
fn export_ratio() -> Option<f64> {
    tracing::dispatcher::get_default(|dispatch| {
        dispatch
            .downcast_ref::<TracesExported>()
            .map(|marker| marker.sample_ratio)
    })
}

/// Whether the current subscriber exports spans.
fn exporting() -> bool {
    export_ratio().is_some()
}

/// Whether a new trace whose id has these random bits is kept at `ratio`.
fn keeps_new_trace(random: u128, ratio: f64) -> bool {
    // 53 random bits as a fraction in [0, 1): exact in an f64.
    let fraction = (random & ((1 << 53) - 1)) as f64 / (1u64 << 53) as f64;
    fraction < ratio
}

/// Where the log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogOutput {
    Stdout,
    Stderr,
}

/// What a service asks of [`init`].
#[derive(Debug, Clone)]
pub struct TelemetryConfig<'a> {
    /// `service.name` of the exported spans (`command-api`, …).
    pub service: &'static str,
    /// `EnvFilter` directives for the log lines (`info`, `command_api=debug,info`).
    pub log_filter: &'a str,
    pub log_output: LogOutput,
    /// OTLP/gRPC collector (`http://127.0.0.1:4317`); `None` exports nothing.
    pub otlp_endpoint: Option<&'a str>,
    /// Share of new traces exported (0.0–1.0); a caller's sampled `traceparent` is always kept.
    pub sample_ratio: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("invalid log filter: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    #[error("OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("a global subscriber is already installed")]
    AlreadyInstalled,
}

/// Keeps the trace pipeline alive; dropping it flushes the spans still queued.
#[must_use = "dropping the guard shuts the trace exporter down"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            // Best effort at exit: a collector that is down must not keep the process.
            let _ = provider.shutdown();
        }
    }
}

/// Installs the process-wide subscriber. Call inside the Tokio runtime when an OTLP endpoint
/// is configured (the gRPC exporter runs on it).
pub fn init(config: &TelemetryConfig<'_>) -> Result<Telemetry, TelemetryError> {
    let filter = EnvFilter::try_new(config.log_filter)?;
    let provider = match config.otlp_endpoint {
        Some(endpoint) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .build()?;
            Some(tracer_provider(
                config.service,
                exporter,
                config.sample_ratio,
            ))
        }
        None => None,
    };
    let traces = provider
        .as_ref()
        .map(|provider| trace_layer(provider, config.sample_ratio));
    let registry = tracing_subscriber::registry().with(traces);
    // Log lines are events only: spans are the trace layer's (their ids reach a line through
    // the request's task-local), so the log layer never formats a span's fields.
    let events = filter.and(filter_fn(|metadata| !metadata.is_span()));
    let installed = match config.log_output {
        LogOutput::Stdout => registry
            .with(json_logs(std::io::stdout).with_filter(events))
            .try_init(),
        LogOutput::Stderr => registry
            .with(json_logs(std::io::stderr).with_filter(events))
            .try_init(),
    };
    installed.map_err(|_| TelemetryError::AlreadyInstalled)?;
    Ok(Telemetry { provider })
}

/// A tracer provider batching `exporter`'s spans, named `service`, keeping `sample_ratio` of
/// new traces (and every trace a caller sampled).
pub fn tracer_provider(
    service: &'static str,
    exporter: impl SpanExporter + 'static,
    sample_ratio: f64,
) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            sample_ratio.clamp(0.0, 1.0),
        ))))
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(service).build())
        .build()
}

/// The layer turning spans into OpenTelemetry spans of `provider`. Only our own spans (info
/// and above) go there: the HTTP/2 and gRPC crates would otherwise trace the exporter's own
/// requests, and each export would produce more spans to export.
/// `sample_ratio`: the share of new traces given a span at all (callers' decisions are kept).
pub fn trace_layer<S>(provider: &SdkTracerProvider, sample_ratio: f64) -> impl Layer<S> + use<S>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span>,
{
    let quiet = Targets::new()
        .with_default(LevelFilter::INFO)
        .with_target("h2", LevelFilter::OFF)
        .with_target("hyper", LevelFilter::OFF)
        .with_target("tonic", LevelFilter::OFF)
        .with_target("tower", LevelFilter::OFF)
        .with_target("opentelemetry", LevelFilter::OFF);
    // No source locations, thread names or busy/idle timings: an instrumented request future
    // is entered and left on every poll, and these would cost on each.
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("mr-ledger"))
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false)
        .and_then(TracesExported {
            sample_ratio: sample_ratio.clamp(0.0, 1.0),
        })
        .with_filter(quiet)
}

/// JSON log lines written to `writer`: time, level, target, the event's fields, and the ids of
/// the request it was written in.
pub fn json_logs<S, W>(writer: W) -> impl Layer<S> + use<S, W>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .event_format(RequestJson)
        .with_writer(writer)
}

tokio::task_local! {
    static REQUEST: RequestLog;
}

/// The ids every log line of a request carries.
struct RequestLog {
    request_id: String,
    trace_id: String,
    /// Known once the request's key or token names it.
    operator_id: OnceLock<String>,
}

/// Runs `request` with its ids on every log line written meanwhile.
pub fn in_request<F: Future>(
    request_id: String,
    trace_id: String,
    request: F,
) -> impl Future<Output = F::Output> {
    REQUEST.scope(
        RequestLog {
            request_id,
            trace_id,
            operator_id: OnceLock::new(),
        },
        request,
    )
}

/// One JSON object per event.
struct RequestJson;

impl<S, N> FormatEvent<S, N> for RequestJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        let mut line = serde_json::Map::new();
        line.insert(
            "timestamp".into(),
            chrono::Utc::now()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                .into(),
        );
        line.insert("level".into(), metadata.level().as_str().into());
        line.insert("target".into(), metadata.target().into());
        event.record(&mut JsonFields(&mut line));
        let _ = REQUEST.try_with(|request| {
            line.insert("request_id".into(), request.request_id.clone().into());
            line.insert("trace_id".into(), request.trace_id.clone().into());
            if let Some(operator) = request.operator_id.get() {
                line.insert("operator_id".into(), operator.clone().into());
            }
        });
        writeln!(writer, "{}", serde_json::Value::Object(line))
    }
}

/// Collects an event's fields as JSON values.
struct JsonFields<'a>(&'a mut serde_json::Map<String, serde_json::Value>);

impl Visit for JsonFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().into(), value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
}

/// What the request span is opened with.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// `http` or `grpc`.
    pub protocol: &'static str,
    pub method: &'a str,
    pub path: &'a str,
    /// `None` when only the handler makes it (it records it then, [`record_request_id`]).
    pub request_id: Option<&'a str>,
    /// The caller's W3C trace context headers, if any.
    pub traceparent: Option<&'a str>,
    pub tracestate: Option<&'a str>,
}

/// Opens the span one request runs in, joined to the caller's trace, with `trace_id`
/// recorded (the exported span's when traces are exported; else the caller's or a fresh one).
/// `operator_id` and `status` are filled in later ([`record_operator`], [`record_status`]).
pub fn request_span(facts: &RequestFacts<'_>) -> (Span, String) {
    let parent = TraceContextPropagator::new().extract(&TraceHeaders {
        traceparent: facts.traceparent,
        tracestate: facts.tracestate,
    });
    let caller = parent.span().span_context().clone();
    let new_trace = uuid::Uuid::new_v4();
    // Head sampling, parent-based: a caller's decision is kept, a new trace is kept at the
    // configured ratio. Nothing exported, or not sampled: no span to open; log lines take the
    // ids from the task-local.
    let traced = export_ratio().is_some_and(|ratio| {
        if caller.is_valid() {
            caller.is_sampled()
        } else {
            keeps_new_trace(new_trace.as_u128(), ratio)
        }
    });
    if !traced {
        let trace_id = if caller.is_valid() {
            caller.trace_id().to_string()
        } else {
            new_trace.simple().to_string()
        };
        return (Span::none(), trace_id);
    }
    let span = open_request_span(facts);
    if caller.is_valid() {
        // Fails only when the span is disabled or already started: nothing to join then.
        let _ = span.set_parent(parent);
    }
    let exported = span.context().span().span_context().clone();
    let trace_id = if exported.is_valid() {
        exported.trace_id().to_string()
    } else if caller.is_valid() {
        caller.trace_id().to_string()
    } else {
        uuid::Uuid::new_v4().simple().to_string()
    };
    span.record("trace_id", trace_id.as_str());
    (span, trace_id)
}

fn open_request_span(facts: &RequestFacts<'_>) -> Span {
    tracing::info_span!(
        target: "request",
        "request",
        otel.name = %format_args!("{} {}", facts.method, facts.path),
        otel.kind = "server",
        protocol = facts.protocol,
        method = %facts.method,
        path = %facts.path,
        request_id = facts.request_id,
        trace_id = Empty,
        operator_id = Empty,
        status = Empty,
    )
}

/// The span of a gRPC call to `path`, from its request headers: for the servers' `trace_fn`.
/// Without an `x-request-id` the handler records the one it makes ([`record_request_id`]).
pub fn grpc_call_span<'h>(path: &str, header: impl Fn(&str) -> Option<&'h str>) -> Span {
    request_span(&RequestFacts {
        protocol: "grpc",
        method: "POST",
        path,
        request_id: header("x-request-id"),
        traceparent: header("traceparent"),
        tracestate: header("tracestate"),
    })
    .0
}

/// The trace id of the current span when traces are exported (`None` otherwise).
pub fn current_trace_id() -> Option<String> {
    let context = Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

/// Notes on the current request span the request id made by the handler.
pub fn record_request_id(request_id: &str) {
    Span::current().record("request_id", request_id);
}

/// Notes on the current request span the trace id the handler settled on.
pub fn record_trace_id(trace_id: &str) {
    Span::current().record("trace_id", trace_id);
}

/// Notes which operator the request acts for: on its log lines, and on its exported span.
pub fn record_operator(operator_id: impl fmt::Display) {
    let operator_id = operator_id.to_string();
    if exporting() {
        Span::current().record("operator_id", operator_id.as_str());
    }
    let _ = REQUEST.try_with(|request| request.operator_id.set(operator_id));
}

/// Names the exported span after the route that served it (`GET /api/v1/apps/{app_id}`):
/// spans are grouped by name, and a raw path carries ids.
pub fn record_route(span: &Span, method: &str, route: &str) {
    if !exporting() {
        return;
    }
    span.record(
        "otel.name",
        tracing::field::display(format_args!("{method} {route}")),
    );
}

/// Notes the answer's status on `span` (an HTTP status, or a gRPC code name) for the exported
/// span; log lines carry it in the access line.
pub fn record_status(span: &Span, status: impl fmt::Display) {
    if exporting() {
        span.record("status", tracing::field::display(status));
    }
}

/// The two W3C headers, as the propagator reads them.
struct TraceHeaders<'a> {
    traceparent: Option<&'a str>,
    tracestate: Option<&'a str>,
}

impl Extractor for TraceHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            "traceparent" => self.traceparent,
            "tracestate" => self.tracestate,
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent", "tracestate"]
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use opentelemetry::Value;
    use opentelemetry_sdk::trace::InMemorySpanExporter;
    use tracing::Instrument;

    use super::*;

    /// Log lines written by the subscriber under test.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> tracing_subscriber::fmt::MakeWriter<'w> for Captured {
        type Writer = Captured;
        fn make_writer(&'w self) -> Captured {
            self.clone()
        }
    }

    const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn facts<'a>(traceparent: Option<&'a str>) -> RequestFacts<'a> {
        RequestFacts {
            protocol: "http",
            method: "POST",
            path: "/api/v1/auth/game/authorize",
            request_id: Some("req-1"),
            traceparent,
            tracestate: None,
        }
    }

    #[tokio::test]
    async fn a_request_span_is_exported_in_the_callers_trace_and_its_ids_reach_the_log() {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let logs = Captured::default();
        let subscriber = tracing_subscriber::registry()
            .with(trace_layer(&provider, 1.0))
            .with(json_logs(logs.clone()));
        let _default = tracing::subscriber::set_default(subscriber);

        let (span, trace_id) = request_span(&facts(Some(TRACEPARENT)));
        in_request("req-1".into(), trace_id.clone(), async {
            record_operator("0193a0b2-0000-7000-8000-000000000001");
            tracing::warn!(reason = "bad signature", "refused");
        })
        .instrument(span.clone())
        .await;
        record_status(&span, 401);
        drop(span);
        provider.force_flush().unwrap();

        assert_eq!(trace_id, CALLER_TRACE);
        let spans = exporter.get_finished_spans().unwrap();
        assert_eq!(spans.len(), 1, "{spans:?}");
        let span = &spans[0];
        assert_eq!(span.name, "POST /api/v1/auth/game/authorize");
        assert_eq!(span.span_context.trace_id().to_string(), CALLER_TRACE);
        assert_eq!(span.parent_span_id.to_string(), "00f067aa0ba902b7");
        let attribute = |key: &str| {
            span.attributes
                .iter()
                .find(|kv| kv.key.as_str() == key)
                .map(|kv| kv.value.clone())
        };
        assert_eq!(attribute("request_id"), Some(Value::from("req-1")));
        assert_eq!(
            attribute("operator_id"),
            Some(Value::from("0193a0b2-0000-7000-8000-000000000001"))
        );
        assert_eq!(attribute("status"), Some(Value::from("401")));

        let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(line["message"], "refused");
        assert_eq!(line["reason"], "bad signature");
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["request_id"], "req-1");
        assert_eq!(line["trace_id"], CALLER_TRACE);
        assert_eq!(line["operator_id"], "0193a0b2-0000-7000-8000-000000000001");
    }

    #[test]
    fn without_a_caller_trace_each_request_starts_its_own() {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let subscriber = tracing_subscriber::registry().with(trace_layer(&provider, 1.0));
        let (first, second) = tracing::subscriber::with_default(subscriber, || {
            let first = request_span(&facts(None)).1;
            let second = request_span(&facts(Some("00-not-a-trace"))).1;
            (first, second)
        });
        provider.force_flush().unwrap();
        assert_ne!(first, second);
        let exported: Vec<String> = exporter
            .get_finished_spans()
            .unwrap()
            .iter()
            .map(|s| s.span_context.trace_id().to_string())
            .collect();
        assert_eq!(exported, vec![first, second]);
    }

    #[test]
    fn a_sample_ratio_keeps_its_share_of_new_traces_and_follows_callers() {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let subscriber = tracing_subscriber::registry().with(trace_layer(&provider, 0.1));
        let traced = tracing::subscriber::with_default(subscriber, || {
            let new: usize = (0..2_000)
                .filter(|_| !request_span(&facts(None)).0.is_none())
                .count();
            // A caller's sampled trace is always followed, an unsampled one never.
            let sampled = request_span(&facts(Some(TRACEPARENT)));
            let unsampled = request_span(&facts(Some(
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
            )));
            assert!(!sampled.0.is_none());
            assert!(unsampled.0.is_none());
            assert_eq!(
                unsampled.1, CALLER_TRACE,
                "the caller's trace id is kept for logs"
            );
            new
        });
        // 10% of 2,000, within a wide margin of chance.
        assert!((120..=280).contains(&traced), "{traced} of 2000 traced");
        assert!(keeps_new_trace(0, 0.1) && !keeps_new_trace(u128::MAX, 0.1));
        assert!(!keeps_new_trace(0, 0.0) && keeps_new_trace(u128::MAX, 1.0));
    }

    #[tokio::test]
    async fn without_trace_export_no_span_opens_and_lines_still_carry_the_ids() {
        let logs = Captured::default();
        let subscriber = tracing_subscriber::registry().with(json_logs(logs.clone()));
        let _default = tracing::subscriber::set_default(subscriber);
        let (span, kept) = request_span(&facts(Some(TRACEPARENT)));
        assert!(span.is_none(), "nothing to export: no span");
        assert_eq!(kept, CALLER_TRACE);
        let made = request_span(&facts(None)).1;
        assert_eq!(made.len(), 32);
        assert!(made.bytes().all(|b| b.is_ascii_hexdigit()));

        in_request("req-2".into(), kept, async {
            tracing::info!("before the operator is known");
            record_operator("0193a0b2-0000-7000-8000-000000000002");
            tracing::info!(count = 3_u64, "after");
        })
        .await;
        tracing::info!("outside any request");

        let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0]["request_id"], "req-2");
        assert_eq!(lines[0]["trace_id"], CALLER_TRACE);
        assert!(lines[0].get("operator_id").is_none(), "{}", lines[0]);
        assert_eq!(
            lines[1]["operator_id"],
            "0193a0b2-0000-7000-8000-000000000002"
        );
        assert_eq!(lines[1]["count"], 3);
        assert!(lines[2].get("request_id").is_none(), "{}", lines[2]);
    }
}
