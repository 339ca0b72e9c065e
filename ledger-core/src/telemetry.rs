//! The services' logs and traces (feature `telemetry`): JSON log lines, one object per line,
//! each carrying the fields of the request span it was written in (`request_id`, `trace_id`,
//! `operator_id`); and, when an OTLP endpoint is configured, every request span exported as an
//! OpenTelemetry span over OTLP/gRPC, joined to the caller's trace when it sent a W3C
//! `traceparent` header.
//!
//! Without an endpoint no OpenTelemetry layer is installed (nothing to pay per request for
//! spans nobody receives); the trace id is then the caller's, or a fresh random one, so log
//! lines and stored events still carry one.

use std::fmt;

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanExporter};
use tracing::Span;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// A no-op layer installed beside the OpenTelemetry one, so a request can ask the current
/// subscriber whether its spans are exported ([`exporting`]): only then are ids and status
/// worth recording after the span opened; without it what a log line needs is known up front.
struct TracesExported;

impl<S: tracing::Subscriber> Layer<S> for TracesExported {}

/// Whether the current subscriber exports spans ([`trace_layer`] is in it).
fn exporting() -> bool {
    tracing::dispatcher::get_default(|dispatch| dispatch.downcast_ref::<TracesExported>().is_some())
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
            Some(tracer_provider(config.service, exporter))
        }
        None => None,
    };
    let traces = provider.as_ref().map(trace_layer);
    let registry = tracing_subscriber::registry().with(traces);
    let installed = match config.log_output {
        LogOutput::Stdout => registry
            .with(json_logs(std::io::stdout).with_filter(filter))
            .try_init(),
        LogOutput::Stderr => registry
            .with(json_logs(std::io::stderr).with_filter(filter))
            .try_init(),
    };
    installed.map_err(|_| TelemetryError::AlreadyInstalled)?;
    Ok(Telemetry { provider })
}

/// A tracer provider batching `exporter`'s spans, named `service`.
pub fn tracer_provider(
    service: &'static str,
    exporter: impl SpanExporter + 'static,
) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(service).build())
        .build()
}

/// The layer turning spans into OpenTelemetry spans of `provider`. Only our own spans (info
/// and above) go there: the HTTP/2 and gRPC crates would otherwise trace the exporter's own
/// requests, and each export would produce more spans to export.
pub fn trace_layer<S>(provider: &SdkTracerProvider) -> impl Layer<S> + use<S>
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
        .and_then(TracesExported)
        .with_filter(quiet)
}

/// JSON log lines written to `writer`: the event's fields at the top level, the request span's
/// fields under `span`.
pub fn json_logs<S, W>(writer: W) -> impl Layer<S> + use<S, W>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_writer(writer)
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
    if !exporting() {
        // Known before the span opens, so it is formatted once with the other fields.
        let trace_id = if caller.is_valid() {
            caller.trace_id().to_string()
        } else {
            uuid::Uuid::new_v4().simple().to_string()
        };
        let span = open_request_span(facts, Some(&trace_id));
        return (span, trace_id);
    }
    let span = open_request_span(facts, None);
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

fn open_request_span(facts: &RequestFacts<'_>, trace_id: Option<&str>) -> Span {
    tracing::info_span!(
        target: "request",
        "request",
        otel.name = %format_args!("{} {}", facts.method, facts.path),
        otel.kind = "server",
        protocol = facts.protocol,
        method = %facts.method,
        path = %facts.path,
        request_id = facts.request_id,
        trace_id = trace_id,
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

/// Notes on the current request span which operator the request acts for.
pub fn record_operator(operator_id: impl fmt::Display) {
    Span::current().record("operator_id", tracing::field::display(operator_id));
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

    #[test]
    fn a_request_span_is_exported_in_the_callers_trace_and_its_fields_reach_the_log() {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let logs = Captured::default();
        let subscriber = tracing_subscriber::registry()
            .with(trace_layer(&provider))
            .with(json_logs(logs.clone()));

        let trace_id = tracing::subscriber::with_default(subscriber, || {
            let (span, trace_id) = request_span(&facts(Some(TRACEPARENT)));
            span.in_scope(|| {
                record_operator("0193a0b2-0000-7000-8000-000000000001");
                tracing::warn!(reason = "bad signature", "refused");
            });
            record_status(&span, 401);
            trace_id
        });
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
        assert_eq!(line["span"]["request_id"], "req-1");
        assert_eq!(line["span"]["trace_id"], CALLER_TRACE);
        assert_eq!(
            line["span"]["operator_id"],
            "0193a0b2-0000-7000-8000-000000000001"
        );
    }

    #[test]
    fn without_a_caller_trace_each_request_starts_its_own() {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let subscriber = tracing_subscriber::registry().with(trace_layer(&provider));
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
    fn without_trace_export_the_callers_trace_id_is_kept_or_one_is_made() {
        let logs = Captured::default();
        let subscriber = tracing_subscriber::registry().with(json_logs(logs.clone()));
        let (kept, made) = tracing::subscriber::with_default(subscriber, || {
            let (span, kept) = request_span(&facts(Some(TRACEPARENT)));
            span.in_scope(|| tracing::info!("inside"));
            (kept, request_span(&facts(None)).1)
        });
        assert_eq!(kept, CALLER_TRACE);
        assert_eq!(made.len(), 32);
        assert!(made.bytes().all(|b| b.is_ascii_hexdigit()));
        let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(line["span"]["trace_id"], CALLER_TRACE);
    }
}
