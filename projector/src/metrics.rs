//! How far behind the read schema is, and the projector's own `/metrics` and `/health`.
//!
//! The lag is measured against the event store when asked (a scrape, a readiness check), not
//! kept by the loop, so a projector that is stuck or gone still shows a growing lag to the
//! query API, which runs the same [`lag`] query.
//!
//! The projector has no web framework in its tree, so [`serve`] is a minimal HTTP/1.1
//! responder: `GET` of three fixed paths, one request per connection, bounded reads and time.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{Encoder, Gauge, IntCounter, IntGauge, Registry, TextEncoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_postgres::{Config, GenericClient, NoTls};

use crate::{Error, check_schema_name};

/// The `projector_metrics_addr` value that turns the listener off.
pub const METRICS_OFF: &str = "off";

/// Lag counts stop at this many events: counting a backlog of millions on every scrape would
/// cost more than knowing the exact figure is worth (the threshold is far below it).
pub const LAG_COUNT_CAP: i64 = 1_000_000;

/// Longest a request to the listener may take, database queries included: a scraper or a
/// probe that hangs must not hold a task for long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest request head read; the three routes need one short line.
const REQUEST_HEAD_MAX: usize = 8 * 1024;

/// How far the read schema is behind the event store.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lag {
    /// Committed events not yet projected (at most [`LAG_COUNT_CAP`]).
    pub events: i64,
    /// Age of the oldest of them (0 when caught up).
    pub seconds: f64,
}

/// Lag beyond which the projection is reported unhealthy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LagLimits {
    pub max_events: i64,
    pub max_seconds: f64,
}

impl LagLimits {
    /// Whether `lag` stays within both limits.
    pub fn allows(&self, lag: Lag) -> bool {
        lag.events <= self.max_events && lag.seconds <= self.max_seconds
    }
}

/// Measures the lag of `schema` (a validated read schema name) behind `public.events`.
pub async fn lag(client: &impl GenericClient, schema: &str) -> Result<Lag, Error> {
    check_schema_name(schema)?;
    // Committed events after the checkpoint in the tail's own order (the index on
    // (tx_id, position) serves the row comparison).
    let sql = format!(
        "SELECT count(*), \
                COALESCE(EXTRACT(EPOCH FROM clock_timestamp() - min(recorded_at)), 0)::float8 \
         FROM (SELECT e.recorded_at FROM public.events e, {schema}.checkpoint c \
               WHERE (e.tx_id, e.position) > (c.tx_id, c.position) \
               ORDER BY e.tx_id, e.position LIMIT {LAG_COUNT_CAP}) pending"
    );
    let row = client.query_one(&sql, &[]).await?;
    Ok(Lag {
        events: row.get(0),
        seconds: row.get::<_, f64>(1).max(0.0),
    })
}

/// Age in seconds of the oldest transaction open in this database, other than the asking
/// one (0 when none): a long one holds the projector back (it reads below the oldest open
/// transaction) and keeps vacuum from cleaning up.
pub async fn oldest_transaction_seconds(client: &impl GenericClient) -> Result<f64, Error> {
    let row = client
        .query_one(
            "SELECT COALESCE(EXTRACT(EPOCH FROM clock_timestamp() - min(xact_start)), 0)::float8 \
             FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() \
               AND xact_start IS NOT NULL",
            &[],
        )
        .await?;
    Ok(row.get::<_, f64>(0).max(0.0))
}

struct Metrics {
    registry: Registry,
    lag_events: IntGauge,
    lag_seconds: Gauge,
    projected: IntCounter,
    oldest_transaction: Gauge,
    active: IntGauge,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let metrics = Metrics {
        registry: Registry::new(),
        lag_events: IntGauge::new(
            "mr_projector_lag_events",
            "Committed events the read schema has not applied yet",
        )
        .expect("valid metric"),
        lag_seconds: Gauge::new(
            "mr_projector_lag_seconds",
            "Age of the oldest committed event the read schema has not applied yet",
        )
        .expect("valid metric"),
        projected: IntCounter::new(
            "mr_projector_events_projected_total",
            "Events this process has projected",
        )
        .expect("valid metric"),
        oldest_transaction: Gauge::new(
            "mr_db_oldest_transaction_seconds",
            "Age of the oldest open transaction in this database (pg_stat_activity)",
        )
        .expect("valid metric"),
        active: IntGauge::new(
            "mr_projector_active",
            "1 while this process is the active projector, 0 while it stands by",
        )
        .expect("valid metric"),
    };
    let collectors: [Box<dyn prometheus::core::Collector>; 5] = [
        Box::new(metrics.lag_events.clone()),
        Box::new(metrics.lag_seconds.clone()),
        Box::new(metrics.projected.clone()),
        Box::new(metrics.oldest_transaction.clone()),
        Box::new(metrics.active.clone()),
    ];
    for collector in collectors {
        metrics
            .registry
            .register(collector)
            .expect("each metric is registered once");
    }
    metrics
});

/// Notes whether this process is the active projector.
pub fn set_active(active: bool) {
    METRICS.active.set(i64::from(active));
}

/// Counts `n` events projected by this process.
pub fn events_projected(n: usize) {
    METRICS
        .projected
        .inc_by(u64::try_from(n).unwrap_or(u64::MAX));
}

/// What the listener needs to answer.
#[derive(Debug, Clone)]
pub struct Probe {
    pub config: Config,
    pub schema: String,
    pub limits: LagLimits,
}

/// Binds the listener unless `addr` is [`METRICS_OFF`] (or empty).
pub async fn bind(addr: &str) -> std::io::Result<Option<TcpListener>> {
    if addr.is_empty() || addr == METRICS_OFF {
        return Ok(None);
    }
    TcpListener::bind(addr).await.map(Some)
}

/// Answers `GET /metrics`, `GET /health` and `GET /health/ready` on `listener` forever.
pub async fn serve(listener: TcpListener, probe: Probe) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let probe = probe.clone();
                tokio::spawn(async move {
                    if tokio::time::timeout(REQUEST_TIMEOUT, answer(stream, &probe))
                        .await
                        .is_err()
                    {
                        tracing::debug!("metrics request timed out");
                    }
                });
            }
            Err(error) => {
                tracing::warn!(%error, "metrics listener accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// A response: status line, content type, body.
struct Reply {
    status: &'static str,
    content_type: &'static str,
    body: String,
}

impl Reply {
    fn json(status: &'static str, body: serde_json::Value) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            body: body.to_string(),
        }
    }
}

async fn answer(mut stream: TcpStream, probe: &Probe) {
    let Some(target) = read_target(&mut stream).await else {
        let reply = Reply::json(
            "400 Bad Request",
            serde_json::json!({ "error": { "code": "INVALID_REQUEST",
                "message": "expected a GET request line" } }),
        );
        return write_reply(&mut stream, reply).await;
    };
    let reply = match target.as_str() {
        "/health" => Reply::json(
            "200 OK",
            serde_json::json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }),
        ),
        "/health/ready" => ready(probe).await,
        "/metrics" => Reply {
            status: "200 OK",
            content_type: prometheus::TEXT_FORMAT,
            body: render(probe).await,
        },
        _ => Reply::json(
            "404 Not Found",
            serde_json::json!({ "error": { "code": "NOT_FOUND",
                "message": "only /metrics, /health and /health/ready are served here" } }),
        ),
    };
    write_reply(&mut stream, reply).await;
}

/// The path of a `GET` request, once its head has arrived whole (`None` otherwise).
async fn read_target(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 || head.len() + n > REQUEST_HEAD_MAX {
            return None;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let line = std::str::from_utf8(&head).ok()?.lines().next()?;
    let mut parts = line.split(' ');
    let (method, target) = (parts.next()?, parts.next()?);
    let path = target.split('?').next()?;
    (method == "GET").then(|| path.to_owned())
}

async fn write_reply(stream: &mut TcpStream, reply: Reply) {
    let head = format!(
        "HTTP/1.1 {}\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        reply.status,
        reply.content_type,
        reply.body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(reply.body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Connects for one request: the listener holds no connection between scrapes.
async fn connect(config: &Config) -> Result<tokio_postgres::Client, Error> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// Database and lag figures, refreshed into the gauges (left as they were when unreachable).
async fn measure(probe: &Probe) -> Result<Lag, Error> {
    let client = connect(&probe.config).await?;
    let lag = lag(&client, &probe.schema).await?;
    let oldest = oldest_transaction_seconds(&client).await?;
    METRICS.lag_events.set(lag.events);
    METRICS.lag_seconds.set(lag.seconds);
    METRICS.oldest_transaction.set(oldest);
    Ok(lag)
}

async fn render(probe: &Probe) -> String {
    if let Err(error) = measure(probe).await {
        tracing::warn!(%error, "lag not measured for /metrics");
    }
    let mut text = Vec::new();
    TextEncoder::new()
        .encode(&METRICS.registry.gather(), &mut text)
        .expect("the text encoder writes to memory");
    String::from_utf8(text).expect("the text format is UTF-8")
}

/// Ready when the database answers and the lag is within its limits; 503 otherwise.
async fn ready(probe: &Probe) -> Reply {
    let limits = serde_json::json!({ "max_events": probe.limits.max_events,
                                     "max_seconds": probe.limits.max_seconds });
    let (database, lag_check, message) = match measure(probe).await {
        Ok(lag) => {
            let ok = probe.limits.allows(lag);
            let check = serde_json::json!({ "ok": ok, "events": lag.events,
                                            "seconds": lag.seconds, "limits": limits });
            let message = (!ok).then_some("The read models lag the ledger beyond the limits");
            (true, check, message)
        }
        Err(error) => {
            tracing::warn!(%error, "readiness: database unavailable");
            (
                false,
                serde_json::json!({ "ok": false, "limits": limits }),
                Some("The database does not answer"),
            )
        }
    };
    let mut body = serde_json::json!({
        "status": if message.is_none() { "ok" } else { "unavailable" },
        "version": env!("CARGO_PKG_VERSION"),
        "checks": { "database": { "ok": database }, "projector_lag": lag_check },
    });
    match message {
        None => Reply::json("200 OK", body),
        Some(message) => {
            body["error"] =
                serde_json::json!({ "code": "SERVICE_UNAVAILABLE", "message": message });
            Reply::json("503 Service Unavailable", body)
        }
    }
}
