//! Prometheus metrics of the query API (`GET /metrics`) and the readiness checks beyond the
//! database: Redis (live push), the projector's lag and the read replica's lag.
//!
//! Database figures (balances, projector lag, the oldest open transaction) are read when
//! scraped, through a one-connection pool of their own: when the main pool is exhausted
//! is exactly when the figures are wanted. The queries only read, like everything here.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use projector::metrics::{Lag, LagLimits};
use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};
use serde_json::{Value, json};
use tokio_postgres::NoTls;

use crate::Settings;
use crate::store::Store;

/// Request latency buckets, seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The route label of a request no route matched (never the raw path: unbounded values).
const UNMATCHED_ROUTE: &str = "unmatched";

/// Connections of the monitoring pool: scrapes and probes are rare and short.
const PROBE_CONNECTIONS: usize = 1;

/// Longest a scrape or readiness check waits for the database or Redis.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    /// Sum of balances per operator category, in yuan; a float only at this exposition edge.
    balances: GaugeVec,
    lag_events: IntGauge,
    lag_seconds: Gauge,
    oldest_transaction: Gauge,
    replica_lag_bytes: IntGauge,
    replica_lag_seconds: Gauge,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let metrics = Metrics {
        registry: Registry::new(),
        http_requests: IntCounterVec::new(
            Opts::new(
                "mr_http_requests_total",
                "HTTP requests answered, by method, route pattern and status",
            ),
            &["method", "route", "status"],
        )
        .expect("valid metric"),
        http_duration: HistogramVec::new(
            HistogramOpts::new(
                "mr_http_request_duration_seconds",
                "Time to answer an HTTP request, by method and route pattern",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["method", "route"],
        )
        .expect("valid metric"),
        balances: GaugeVec::new(
            Opts::new(
                "mr_balance_yuan",
                "Sum of operators' balances in the read models, by operator category",
            ),
            &["category"],
        )
        .expect("valid metric"),
        lag_events: IntGauge::new(
            "mr_projector_lag_events",
            "Committed events the read models have not applied yet",
        )
        .expect("valid metric"),
        lag_seconds: Gauge::new(
            "mr_projector_lag_seconds",
            "Age of the oldest committed event the read models have not applied yet",
        )
        .expect("valid metric"),
        oldest_transaction: Gauge::new(
            "mr_db_oldest_transaction_seconds",
            "Age of the oldest open transaction in this database (pg_stat_activity)",
        )
        .expect("valid metric"),
        replica_lag_bytes: IntGauge::new(
            "mr_replica_lag_bytes",
            "WAL bytes the read replica has not replayed yet (primary's current LSN - replay LSN; 0 without a replica)",
        )
        .expect("valid metric"),
        replica_lag_seconds: Gauge::new(
            "mr_replica_lag_seconds",
            "Age of the last transaction the read replica replayed while it is behind (0 when caught up or without a replica)",
        )
        .expect("valid metric"),
    };
    let collectors: [Box<dyn prometheus::core::Collector>; 8] = [
        Box::new(metrics.http_requests.clone()),
        Box::new(metrics.http_duration.clone()),
        Box::new(metrics.balances.clone()),
        Box::new(metrics.lag_events.clone()),
        Box::new(metrics.lag_seconds.clone()),
        Box::new(metrics.oldest_transaction.clone()),
        Box::new(metrics.replica_lag_bytes.clone()),
        Box::new(metrics.replica_lag_seconds.clone()),
    ];
    for collector in collectors {
        metrics
            .registry
            .register(collector)
            .expect("each metric is registered once");
    }
    metrics
});

/// Middleware: counts and times every request under its route pattern.
pub async fn track_requests(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req.match_pattern();
    let route = route.as_deref().unwrap_or(UNMATCHED_ROUTE);
    let response = next.call(req).await?;
    let status = response.status().as_u16().to_string();
    METRICS
        .http_requests
        .with_label_values(&[method.as_str(), route, status.as_str()])
        .inc();
    METRICS
        .http_duration
        .with_label_values(&[method.as_str(), route])
        .observe(started.elapsed().as_secs_f64());
    // Boxed: the request-context middleware around this one takes boxed bodies.
    Ok(response.map_into_boxed_body())
}

#[derive(Debug, thiserror::Error)]
#[error("monitoring pool: {0}")]
pub struct ProbeConfigError(String);

/// What `/metrics` and `/health/ready` consult besides the main pool.
pub struct Probe {
    pool: Pool,
    redis: redis::Client,
    limits: LagLimits,
}

/// One readiness check's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub ok: bool,
    pub detail: Value,
}

impl Probe {
    /// Builds the monitoring pool (connections open lazily) and the Redis client.
    pub fn new(settings: &Settings) -> Result<Probe, ProbeConfigError> {
        let mut config: tokio_postgres::Config = settings
            .database_url
            .parse()
            .map_err(|e: tokio_postgres::Error| ProbeConfigError(e.to_string()))?;
        config.application_name("query-api monitoring");
        config.connect_timeout(PROBE_TIMEOUT);
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(PROBE_CONNECTIONS)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(PROBE_TIMEOUT))
            .create_timeout(Some(PROBE_TIMEOUT))
            .recycle_timeout(Some(PROBE_TIMEOUT))
            .build()
            .map_err(|e| ProbeConfigError(e.to_string()))?;
        let redis = redis::Client::open(settings.redis_url.expose())
            .map_err(|e| ProbeConfigError(e.to_string()))?;
        Ok(Probe {
            pool,
            redis,
            limits: LagLimits {
                max_events: settings.projector_lag_max_events,
                max_seconds: settings.projector_lag_max_seconds,
            },
        })
    }

    /// The projector's lag, measured now.
    async fn lag(&self) -> anyhow::Result<Lag> {
        let client = self.pool.get().await?;
        Ok(projector::metrics::lag(&**client, projector::READ_SCHEMA).await?)
    }

    /// Refreshes the database gauges (left as they were when the database does not answer).
    async fn refresh(&self) -> anyhow::Result<()> {
        let client = self.pool.get().await?;
        let lag = projector::metrics::lag(&**client, projector::READ_SCHEMA).await?;
        let oldest = projector::metrics::oldest_transaction_seconds(&**client).await?;
        let balances = client
            .query(
                "SELECT category, sum(balance)::float8 FROM read.operators GROUP BY category",
                &[],
            )
            .await?;
        METRICS.lag_events.set(lag.events);
        METRICS.lag_seconds.set(lag.seconds);
        METRICS.oldest_transaction.set(oldest);
        // A category without operators any more leaves the exposition rather than stay stale.
        METRICS.balances.reset();
        for row in balances {
            let category: String = row.get(0);
            METRICS
                .balances
                .with_label_values(&[category.as_str()])
                .set(row.get(1));
        }
        Ok(())
    }

    /// The current figures in the text exposition format; the replica's lag is measured
    /// through `store`'s pools (primary and replica).
    pub async fn render(&self, store: &Store) -> String {
        match tokio::time::timeout(PROBE_TIMEOUT, self.refresh()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "database figures not measured"),
            Err(_) => tracing::warn!("database figures not measured: timed out"),
        }
        match tokio::time::timeout(PROBE_TIMEOUT, store.replica_lag()).await {
            Ok(None) => {}
            Ok(Some(Ok(lag))) => {
                METRICS.replica_lag_bytes.set(lag.bytes);
                METRICS.replica_lag_seconds.set(lag.seconds);
            }
            Ok(Some(Err(error))) => tracing::warn!(%error, "replica lag not measured"),
            Err(_) => tracing::warn!("replica lag not measured: timed out"),
        }
        let mut text = Vec::new();
        TextEncoder::new()
            .encode(&METRICS.registry.gather(), &mut text)
            .expect("the text encoder writes to memory");
        String::from_utf8(text).expect("the text format is UTF-8")
    }

    /// Redis answers a `PING` (live push works).
    pub async fn redis(&self) -> Check {
        let ping = async {
            let mut connection = self.redis.get_multiplexed_async_connection().await?;
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
        };
        let ok = matches!(tokio::time::timeout(PROBE_TIMEOUT, ping).await, Ok(Ok(_)));
        Check {
            ok,
            detail: json!({ "ok": ok }),
        }
    }

    /// The replica's lag is within the limits (`None` without a replica). Beyond them reads
    /// go to the primary, so this only degrades readiness.
    pub async fn replica(&self, store: &Store) -> Option<Check> {
        let limits = store.replica_limits()?;
        let limits_json =
            json!({ "max_bytes": limits.max_bytes, "max_seconds": limits.max_seconds });
        let serving = if store.serving_from_replica() {
            "replica"
        } else {
            "primary"
        };
        let check = match tokio::time::timeout(PROBE_TIMEOUT, store.replica_lag()).await {
            Ok(Some(Ok(lag))) => {
                let ok = limits.allows(lag);
                Check {
                    ok,
                    detail: json!({ "ok": ok, "bytes": lag.bytes, "seconds": lag.seconds,
                                    "limits": limits_json, "reads_served_by": serving }),
                }
            }
            _ => Check {
                ok: false,
                detail: json!({ "ok": false, "limits": limits_json, "reads_served_by": serving }),
            },
        };
        Some(check)
    }

    /// The projector's lag is within the configured limits.
    pub async fn projector_lag(&self) -> Check {
        let limits = json!({ "max_events": self.limits.max_events,
                             "max_seconds": self.limits.max_seconds });
        match tokio::time::timeout(PROBE_TIMEOUT, self.lag()).await {
            Ok(Ok(lag)) => {
                let ok = self.limits.allows(lag);
                Check {
                    ok,
                    detail: json!({ "ok": ok, "events": lag.events, "seconds": lag.seconds,
                                    "limits": limits }),
                }
            }
            _ => Check {
                ok: false,
                detail: json!({ "ok": false, "limits": limits }),
            },
        }
    }
}
