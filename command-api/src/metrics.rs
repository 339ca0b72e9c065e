//! Prometheus metrics of the command API (`GET /metrics`, text exposition format).
//!
//! Counters and histograms are process-wide and moved by one call at each place something
//! happens (an authorization answered, a payment notification handled, a request blocked by a
//! rate limit, any HTTP request). Gauges that describe the database (pool use, the oldest open
//! transaction) are read when scraped, so they are never stale.
//!
//! Labels never carry ids (operators, sessions, paths with ids): each label has a small fixed
//! set of values, so the number of series stays bounded.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use actix_web::HttpResponse;
use deadpool_postgres::Pool;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::api_error::ApiError;
use crate::ledger::recharges::Outcome;

/// Authorization latency buckets: the service aims at milliseconds; the top buckets catch a
/// database that stalls up to the pool's bounded wait.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// The route label of a request no route matched (never the raw path: unbounded values).
const UNMATCHED_ROUTE: &str = "unmatched";

/// Longest wait for the oldest-transaction query while scraping: a scrape must not hang on a
/// database that does not answer.
const SCRAPE_QUERY_TIMEOUT: Duration = Duration::from_secs(2);

struct Metrics {
    registry: Registry,
    auth_requests: IntCounterVec,
    auth_latency: Histogram,
    payment_callbacks: IntCounterVec,
    /// Yuan charged by authorizations; a float only here, at the exposition edge (Prometheus
    /// values are f64), never in any computation of money.
    revenue: prometheus::Counter,
    rate_limit_blocks: IntCounterVec,
    anomaly_blocks: prometheus::IntCounter,
    anomaly_locks: prometheus::IntCounter,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    pool_connections: IntGaugeVec,
    oldest_transaction: prometheus::Gauge,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Metrics {
    fn new() -> Metrics {
        let registry = Registry::new();
        let latency = |name: &str, help: &str| {
            HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec())
        };
        let metrics = Metrics {
            auth_requests: IntCounterVec::new(
                Opts::new(
                    "mr_auth_requests_total",
                    "Game authorizations answered, by result (ok or the error_code)",
                ),
                &["result"],
            )
            .expect("valid metric"),
            auth_latency: Histogram::with_opts(latency(
                "mr_auth_latency_seconds",
                "Time to answer a game authorization",
            ))
            .expect("valid metric"),
            payment_callbacks: IntCounterVec::new(
                Opts::new(
                    "mr_payment_callbacks_total",
                    "Payment gateway notifications handled, by channel and result",
                ),
                &["channel", "result"],
            )
            .expect("valid metric"),
            revenue: prometheus::Counter::new(
                "mr_revenue_yuan_total",
                "Yuan charged by game authorizations (replays not counted)",
            )
            .expect("valid metric"),
            rate_limit_blocks: IntCounterVec::new(
                Opts::new(
                    "mr_rate_limit_blocks_total",
                    "Requests refused by a rate limit, by limit kind",
                ),
                &["kind"],
            )
            .expect("valid metric"),
            anomaly_blocks: prometheus::IntCounter::new(
                "mr_anomaly_blocks_total",
                "Client IPs blocked by anomaly detection (trips, trusted networks excluded)",
            )
            .expect("valid metric"),
            anomaly_locks: prometheus::IntCounter::new(
                "mr_anomaly_locks_total",
                "Operators locked automatically because their keys were misused",
            )
            .expect("valid metric"),
            http_requests: IntCounterVec::new(
                Opts::new(
                    "mr_http_requests_total",
                    "HTTP requests answered, by method, route pattern and status",
                ),
                &["method", "route", "status"],
            )
            .expect("valid metric"),
            http_duration: HistogramVec::new(
                latency(
                    "mr_http_request_duration_seconds",
                    "Time to answer an HTTP request, by method and route pattern",
                ),
                &["method", "route"],
            )
            .expect("valid metric"),
            pool_connections: IntGaugeVec::new(
                Opts::new(
                    "mr_db_pool_connections",
                    "Connections of the main database pool, by state (idle or in_use)",
                ),
                &["state"],
            )
            .expect("valid metric"),
            oldest_transaction: prometheus::Gauge::new(
                "mr_db_oldest_transaction_seconds",
                "Age of the oldest open transaction in this database (pg_stat_activity)",
            )
            .expect("valid metric"),
            registry,
        };
        let collectors: [Box<dyn prometheus::core::Collector>; 11] = [
            Box::new(metrics.auth_requests.clone()),
            Box::new(metrics.auth_latency.clone()),
            Box::new(metrics.payment_callbacks.clone()),
            Box::new(metrics.revenue.clone()),
            Box::new(metrics.rate_limit_blocks.clone()),
            Box::new(metrics.anomaly_blocks.clone()),
            Box::new(metrics.anomaly_locks.clone()),
            Box::new(metrics.http_requests.clone()),
            Box::new(metrics.http_duration.clone()),
            Box::new(metrics.pool_connections.clone()),
            Box::new(metrics.oldest_transaction.clone()),
        ];
        for collector in collectors {
            metrics
                .registry
                .register(collector)
                .expect("each metric is registered once");
        }
        metrics
    }
}

/// Records one answered authorization: its result (`ok` or the error code) and its latency.
pub fn authorization_answered(result: &Result<HttpResponse, ApiError>, started: Instant) {
    authorization_outcome(result.as_ref().err(), started);
}

/// [`authorization_answered`] for any transport (gRPC too): `None` is a success.
pub fn authorization_outcome(error: Option<&ApiError>, started: Instant) {
    let metrics = &*METRICS;
    metrics
        .auth_latency
        .observe(started.elapsed().as_secs_f64());
    let label = error.map_or("ok", |error| error.code.as_str());
    metrics.auth_requests.with_label_values(&[label]).inc();
}

/// Adds a first (not replayed) authorization's `total_cost` to the revenue.
pub fn authorization_charged(answer: &crate::ledger::headset::Answer) {
    if !answer.replayed
        && let Some(yuan) = total_cost(&answer.data_json)
    {
        METRICS.revenue.inc_by(yuan);
    }
}

/// The `total_cost` of an authorization's `data` (a decimal string), as a float for the
/// exposition only.
fn total_cost(data_json: &str) -> Option<f64> {
    #[derive(serde::Deserialize)]
    struct Charged {
        total_cost: rust_decimal::Decimal,
    }
    let charged: Charged = serde_json::from_str(data_json).ok()?;
    rust_decimal::prelude::ToPrimitive::to_f64(&charged.total_cost)
}

/// Records one payment notification of `channel` (`wechat`, `alipay`) and what became of it.
pub fn payment_callback(channel: &str, result: &Result<Outcome, ApiError>) {
    let label = match result {
        Ok(Outcome::Credited) => "credited",
        Ok(Outcome::Duplicate) => "duplicate",
        Ok(Outcome::Failed) => "failed",
        Ok(Outcome::Closed) => "closed",
        Ok(Outcome::Ignored) => "ignored",
        Ok(Outcome::Rejected(_)) => "rejected",
        Err(_) => "error",
    };
    METRICS
        .payment_callbacks
        .with_label_values(&[channel, label])
        .inc();
}

/// Records one request refused by the rate limit of `kind` (e.g. `operator`, `ip`).
pub fn rate_limit_blocked(kind: &str) {
    METRICS.rate_limit_blocks.with_label_values(&[kind]).inc();
}

/// Records one IP blocked by anomaly detection.
pub fn anomaly_blocked() {
    METRICS.anomaly_blocks.inc();
}

/// Records one operator locked by anomaly detection.
pub fn anomaly_locked() {
    METRICS.anomaly_locks.inc();
}

/// Records one answered HTTP request under its route pattern (`None`: no route matched).
pub fn http_request(method: &str, route: Option<&str>, status: u16, elapsed: Duration) {
    let route = route.unwrap_or(UNMATCHED_ROUTE);
    let metrics = &*METRICS;
    metrics
        .http_requests
        .with_label_values(&[method, route, &status.to_string()])
        .inc();
    metrics
        .http_duration
        .with_label_values(&[method, route])
        .observe(elapsed.as_secs_f64());
}

/// Middleware: counts and times every request under its route pattern.
pub async fn track_requests(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req.match_pattern();
    let response = next.call(req).await?;
    http_request(
        &method,
        route.as_deref(),
        response.status().as_u16(),
        started.elapsed(),
    );
    Ok(response)
}

/// The current figures in the text exposition format, database gauges refreshed first.
pub async fn render(pool: &Pool) -> String {
    let metrics = &*METRICS;
    let status = pool.status();
    let idle = i64::try_from(status.available).unwrap_or(i64::MAX);
    let in_use = i64::try_from(status.size.saturating_sub(status.available)).unwrap_or(i64::MAX);
    metrics
        .pool_connections
        .with_label_values(&["idle"])
        .set(idle);
    metrics
        .pool_connections
        .with_label_values(&["in_use"])
        .set(in_use);
    match tokio::time::timeout(SCRAPE_QUERY_TIMEOUT, oldest_transaction_seconds(pool)).await {
        Ok(Ok(seconds)) => metrics.oldest_transaction.set(seconds),
        Ok(Err(error)) => tracing::warn!(%error, "oldest transaction not measured"),
        Err(_) => tracing::warn!("oldest transaction not measured: timed out"),
    }
    let mut text = Vec::new();
    TextEncoder::new()
        .encode(&metrics.registry.gather(), &mut text)
        .expect("the text encoder writes to memory");
    String::from_utf8(text).expect("the text format is UTF-8")
}

/// Age of the oldest transaction open in this database, other than the one asking (0: none).
async fn oldest_transaction_seconds(pool: &Pool) -> anyhow::Result<f64> {
    let client = pool.get().await?;
    let row = client
        .query_one(
            "SELECT COALESCE(EXTRACT(EPOCH FROM clock_timestamp() - min(xact_start)), 0)::float8 \
             FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() \
               AND xact_start IS NOT NULL",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

/// `GET /metrics`.
pub async fn endpoint(state: actix_web::web::Data<crate::http::AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(prometheus::TEXT_FORMAT)
        .body(render(&state.ledger.pool).await)
}
