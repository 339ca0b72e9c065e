//! Traces and logs of the real binaries: with `MR_OTLP_ENDPOINT` set, each request's span
//! reaches the collector over OTLP/gRPC in the caller's trace (W3C `traceparent`), named after
//! its route and carrying the request id, the operator and the status; the same trace id and
//! request id are in the events the request wrote and on its JSON log lines.

use std::path::Path;
use std::time::{Duration, Instant};

use proto::headset::v1::ConfigRequest;
use serde_json::{Value, json};
use tests::cluster::Cluster;
use tests::headset_grpc::{CONFIG_METHOD, GrpcHeadsetClient};
use tests::otlp_sink::{OtlpSink, ReceivedSpan};

const PASSWORD: &str = "Traced-Passw0rd!";
/// The exporter sends a batch this often in the test (`OTEL_BSP_SCHEDULE_DELAY`, ms).
const EXPORT_DELAY_MS: &str = "100";
const EXPORTED_WITHIN: Duration = Duration::from_secs(10);

const COMMAND_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const COMMAND_PARENT: &str = "b7ad6b7169203331";
const QUERY_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const QUERY_PARENT: &str = "00f067aa0ba902b7";
const GRPC_TRACE: &str = "5b8efff798038103d269b633813fc60c";
const GRPC_PARENT: &str = "eee19b7ec3c1b174";

fn traceparent(trace: &str, parent: &str) -> String {
    format!("00-{trace}-{parent}-01")
}

/// Waits until the collector holds a span of `trace` from `service`.
async fn exported(sink: &OtlpSink, service: &str, trace: &str) -> ReceivedSpan {
    let started = Instant::now();
    loop {
        if let Some(span) = sink
            .spans()
            .into_iter()
            .find(|s| s.service == service && s.trace_id == trace)
        {
            return span;
        }
        assert!(
            started.elapsed() < EXPORTED_WITHIN,
            "no span of trace {trace} from {service}; received: {:#?}",
            sink.spans()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The JSON log lines of `binary` written inside a span of `trace`.
fn log_lines_of_trace(logs: &Path, binary: &str, trace: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(logs.join(format!("{binary}.log"))).unwrap_or_default();
    text.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["trace_id"] == trace)
        .collect()
}

#[tokio::test]
async fn request_spans_reach_the_collector_in_the_callers_trace_and_match_logs_and_events() {
    let sink = OtlpSink::start("127.0.0.1:0").await.unwrap();
    let logs = std::env::temp_dir().join(format!("mr-telemetry-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&logs).unwrap();
    let endpoint = sink.endpoint();
    let cluster = Cluster::start_capturing_logs(
        &[
            ("MR_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", EXPORT_DELAY_MS),
            // Access lines are debug: asked for by their target.
            ("RUST_LOG", "info,access=debug"),
        ],
        &logs,
    )
    .await;

    let url = format!("{}/api/v1/auth/operator/register", cluster.command);
    let body = json!({"username": "traced_arcade", "name": "追踪体验馆", "phone": "13800138000",
                      "email": "traced@example.com", "password": PASSWORD});
    let created = cluster.call("POST", &url, None, Some(body)).await.ok();
    let operator = created["operator"]["id"].as_str().unwrap().to_owned();
    let token = cluster.token("operator", "traced_arcade", PASSWORD).await;

    // A command in the caller's trace, with the caller's request id.
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{}/api/v1/operator/sites", cluster.command))
        .bearer_auth(&token)
        .header("traceparent", traceparent(COMMAND_TRACE, COMMAND_PARENT))
        .header("X-Request-ID", "telemetry-site-1")
        .json(&json!({"name": "朝阳店", "address": "北京市朝阳区"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);

    let span = exported(&sink, "command-api", COMMAND_TRACE).await;
    assert_eq!(span.name, "POST /api/v1/operator/sites");
    assert_eq!(span.parent_span_id, COMMAND_PARENT);
    assert_eq!(span.attribute("request_id"), Some("telemetry-site-1"));
    assert_eq!(span.attribute("operator_id"), Some(operator.as_str()));
    assert_eq!(span.attribute("status"), Some("201"));

    // The event the command wrote names the same trace and request.
    let client = cluster.db.client().await;
    let row = client
        .query_one(
            "SELECT metadata->>'trace_id', metadata->>'request_id' FROM events \
             WHERE aggregate_id = $1 ORDER BY sequence DESC LIMIT 1",
            &[&operator],
        )
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, Option<String>>(0).as_deref(),
        Some(COMMAND_TRACE)
    );
    assert_eq!(
        row.get::<_, Option<String>>(1).as_deref(),
        Some("telemetry-site-1")
    );

    // A read on query-api, in another trace.
    let response = http
        .get(format!("{}/api/v1/operator/sites", cluster.query))
        .bearer_auth(&token)
        .header("traceparent", traceparent(QUERY_TRACE, QUERY_PARENT))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let span = exported(&sink, "query-api", QUERY_TRACE).await;
    assert_eq!(span.name, "GET /api/v1/operator/sites");
    assert_eq!(span.parent_span_id, QUERY_PARENT);
    assert_eq!(span.attribute("request_id"), Some(request_id.as_str()));
    assert_eq!(span.attribute("operator_id"), Some(operator.as_str()));
    assert_eq!(span.attribute("status"), Some("200"));

    // A headset call over gRPC, in a third trace: the handler's own request id is on the span.
    let grpc = GrpcHeadsetClient::new(
        &cluster.command_grpc,
        operator.parse().unwrap(),
        created["credentials"]["key_id"].as_str().unwrap(),
        created["credentials"]["secret"].as_str().unwrap(),
    );
    let mut request = grpc.signed(CONFIG_METHOD, ConfigRequest {}, None, None);
    request.metadata_mut().insert(
        "traceparent",
        traceparent(GRPC_TRACE, GRPC_PARENT).parse().unwrap(),
    );
    grpc.send_config(request).await.unwrap();
    let span = exported(&sink, "command-api", GRPC_TRACE).await;
    assert_eq!(span.name, format!("POST {CONFIG_METHOD}"));
    assert_eq!(span.parent_span_id, GRPC_PARENT);
    assert_eq!(span.attribute("operator_id"), Some(operator.as_str()));
    let grpc_request_id = span.attribute("request_id").expect("a request id");
    assert!(
        uuid::Uuid::parse_str(grpc_request_id).is_ok(),
        "{grpc_request_id}"
    );

    // Each service's access line carries the trace id, the request id and the operator.
    for (binary, trace, request_id) in [
        ("command-api", COMMAND_TRACE, "telemetry-site-1"),
        ("query-api", QUERY_TRACE, request_id.as_str()),
    ] {
        let started = Instant::now();
        let line = loop {
            let lines = log_lines_of_trace(&logs, binary, trace);
            if let Some(line) = lines.into_iter().find(|l| l["target"] == "access") {
                break line;
            }
            assert!(
                started.elapsed() < EXPORTED_WITHIN,
                "no access line of trace {trace} in {binary}.log"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(line["request_id"], request_id, "{line}");
        assert_eq!(line["operator_id"], operator.as_str(), "{line}");
        assert!(line["elapsed_us"].is_u64(), "{line}");
    }
    drop(cluster);
    let _ = std::fs::remove_dir_all(&logs);
}
