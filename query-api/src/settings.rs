//! Typed settings of the query API: defaults → optional TOML file → environment.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use figment::value::Uncased;
use serde::Deserialize;

/// Shortest accepted JWT secret: HS256 wants a key at least as long as its hash (RFC 7518 §3.2).
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// The `grpc_addr` value that turns the gRPC server off (an empty value does too).
pub const GRPC_OFF: &str = "off";

/// Prefix of every environment variable the query API reads.
pub const ENV_PREFIX: &str = "MR_";

/// Environment variables (after [`ENV_PREFIX`]) and the setting each one fills. Only these are
/// read: the `MR_` namespace is shared with the other binaries, and a command-api variable
/// must never land in a query-api setting by accident.
pub const ENV_KEYS: &[(&str, &str)] = &[
    ("DATABASE_URL", "database_url"),
    ("QUERY_HTTP_ADDR", "http_addr"),
    ("QUERY_GRPC_ADDR", "grpc_addr"),
    ("JWT_SECRET", "jwt_secret"),
    ("QUERY_HTTP_WORKERS", "http_workers"),
    ("QUERY_SHUTDOWN_TIMEOUT_SECONDS", "shutdown_timeout_seconds"),
    ("QUERY_DB_POOL_SIZE", "db_pool_size"),
    ("QUERY_DB_WAIT_TIMEOUT_MS", "db_wait_timeout_ms"),
    ("QUERY_DB_CONNECT_TIMEOUT_MS", "db_connect_timeout_ms"),
    ("QUERY_DB_STATEMENT_TIMEOUT_MS", "db_statement_timeout_ms"),
    ("QUERY_LOG", "log_filter"),
    ("REDIS_URL", "redis_url"),
    ("OTLP_ENDPOINT", "otlp_endpoint"),
    ("OTLP_SAMPLE_RATIO", "otlp_sample_ratio"),
    ("REDIS_CHANNEL", "redis_channel"),
    ("PROJECTOR_LAG_MAX_EVENTS", "projector_lag_max_events"),
    ("PROJECTOR_LAG_MAX_SECONDS", "projector_lag_max_seconds"),
    ("QUERY_REPLICA_URL", "replica_url"),
    ("QUERY_CONSISTENCY_WAIT_MS", "consistency_wait_ms"),
    ("QUERY_REPLICA_LAG_MAX_BYTES", "replica_lag_max_bytes"),
    ("QUERY_REPLICA_LAG_MAX_SECONDS", "replica_lag_max_seconds"),
    ("QUERY_REPORTS_POOL_SIZE", "reports.pool_size"),
    (
        "QUERY_REPORTS_STATEMENT_TIMEOUT_MS",
        "reports.statement_timeout_ms",
    ),
    ("QUERY_REPORTS_SCHEDULE", "reports.schedule"),
    (
        "QUERY_REPORTS_SCHEDULE_INTERVAL_SECONDS",
        "reports.schedule_interval_seconds",
    ),
];

/// Everything the query API needs to run.
///
/// Sources, later ones winning: the defaults below, then the TOML file given with
/// `--config` (keys = field names, e.g. `http_addr = "0.0.0.0:8081"`), then the environment:
///
/// | variable | field | default |
/// |---|---|---|
/// | `MR_DATABASE_URL` | `database_url` | `postgres://postgres@127.0.0.1:5432/mrledger` |
/// | `MR_QUERY_HTTP_ADDR` | `http_addr` | `127.0.0.1:8081` |
/// | `MR_QUERY_GRPC_ADDR` | `grpc_addr` | `127.0.0.1:8091` (`off` or empty: no gRPC server) |
/// | `MR_JWT_SECRET` | `jwt_secret` | none: required, at least 32 bytes |
/// | `MR_QUERY_HTTP_WORKERS` | `http_workers` | 2 |
/// | `MR_QUERY_SHUTDOWN_TIMEOUT_SECONDS` | `shutdown_timeout_seconds` | 10 |
/// | `MR_QUERY_DB_POOL_SIZE` | `db_pool_size` | 16 |
/// | `MR_QUERY_DB_WAIT_TIMEOUT_MS` | `db_wait_timeout_ms` | 2000 |
/// | `MR_QUERY_DB_CONNECT_TIMEOUT_MS` | `db_connect_timeout_ms` | 2000 |
/// | `MR_QUERY_DB_STATEMENT_TIMEOUT_MS` | `db_statement_timeout_ms` | 5000 |
/// | `MR_QUERY_LOG` | `log_filter` | `info` |
/// | `MR_REDIS_URL` | `redis_url` | `redis://127.0.0.1:6379` |
/// | `MR_OTLP_ENDPOINT` | `otlp_endpoint` | empty: no trace export |
/// | `MR_OTLP_SAMPLE_RATIO` | `otlp_sample_ratio` | 0.1 (callers' sampled traces always kept) |
/// | `MR_REDIS_CHANNEL` | `redis_channel` | `mr:live` |
/// | `MR_PROJECTOR_LAG_MAX_EVENTS` | `projector_lag_max_events` | 10000 |
/// | `MR_PROJECTOR_LAG_MAX_SECONDS` | `projector_lag_max_seconds` | 30 |
/// | `MR_QUERY_REPLICA_URL` | `replica_url` | empty: no replica, every read on the primary |
/// | `MR_QUERY_CONSISTENCY_WAIT_MS` | `consistency_wait_ms` | 2000 |
/// | `MR_QUERY_REPLICA_LAG_MAX_BYTES` | `replica_lag_max_bytes` | 16777216 (16 MiB) |
/// | `MR_QUERY_REPLICA_LAG_MAX_SECONDS` | `replica_lag_max_seconds` | 10 |
/// | `MR_QUERY_REPORTS_POOL_SIZE` | `reports.pool_size` | 2 |
/// | `MR_QUERY_REPORTS_STATEMENT_TIMEOUT_MS` | `reports.statement_timeout_ms` | 120000 |
/// | `MR_QUERY_REPORTS_SCHEDULE` | `reports.schedule` | true |
/// | `MR_QUERY_REPORTS_SCHEDULE_INTERVAL_SECONDS` | `reports.schedule_interval_seconds` | 300 |
///
/// Only the variables of [`ENV_KEYS`] are read; every other `MR_*` variable is ignored.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// PostgreSQL holding the `events` table and the `read` schema.
    #[serde(default = "defaults::database_url")]
    pub database_url: String,
    /// Where `query-api serve` listens.
    #[serde(default = "defaults::http_addr")]
    pub http_addr: SocketAddr,
    /// Where the auditors' gRPC event stream listens: an address, or `off` (or empty) for
    /// none. Read it through [`Settings::grpc_addr`].
    #[serde(default = "defaults::grpc_addr")]
    pub grpc_addr: String,
    /// HS256 secret shared with the command API, which signs the staff tokens.
    pub jwt_secret: Secret,
    /// HTTP worker threads (one per core of the 2-core machines we run on).
    #[serde(default = "defaults::http_workers")]
    pub http_workers: usize,
    /// How long in-flight requests may finish after a shutdown signal.
    #[serde(default = "defaults::shutdown_timeout_seconds")]
    pub shutdown_timeout_seconds: u64,
    /// Connections per process: reads are short, so a few per worker suffice.
    #[serde(default = "defaults::db_pool_size")]
    pub db_pool_size: usize,
    /// Longest wait for a free pooled connection before answering 503.
    #[serde(default = "defaults::db_wait_timeout_ms")]
    pub db_wait_timeout_ms: u64,
    /// Longest time to open a new connection before answering 503.
    #[serde(default = "defaults::db_connect_timeout_ms")]
    pub db_connect_timeout_ms: u64,
    /// Server-side cap on any one statement, so a slow read never holds a connection for long.
    #[serde(default = "defaults::db_statement_timeout_ms")]
    pub db_statement_timeout_ms: u64,
    /// `tracing_subscriber::EnvFilter` directives for the JSON logs.
    #[serde(default = "defaults::log_filter")]
    pub log_filter: String,
    /// Redis whose pub/sub channel carries the projector's changes to SSE clients (may hold
    /// a password). Redis may be down: live push pauses, everything else is served.
    #[serde(default = "defaults::redis_url")]
    pub redis_url: Secret,
    /// OTLP/gRPC collector the request spans are exported to (`http://127.0.0.1:4317`);
    /// empty exports none.
    #[serde(default)]
    pub otlp_endpoint: String,
    /// Share of new traces exported (0.0–1.0); a caller's sampled `traceparent` is followed.
    #[serde(default = "defaults::otlp_sample_ratio")]
    pub otlp_sample_ratio: f64,
    /// The channel the projector publishes on (the same setting there).
    #[serde(default = "defaults::redis_channel")]
    pub redis_channel: String,
    /// Unapplied events beyond which `/health/ready` reports the projection lagging (the
    /// same setting as the projector's).
    #[serde(default = "defaults::projector_lag_max_events")]
    pub projector_lag_max_events: i64,
    /// Age in seconds of the oldest unapplied event beyond which `/health/ready` reports the
    /// projection lagging.
    #[serde(default = "defaults::projector_lag_max_seconds")]
    pub projector_lag_max_seconds: f64,
    /// A streaming replica of `database_url` that serves reads while its lag is within the
    /// limits below (empty: none). Finance reports and the auditors' verify stay on the
    /// primary.
    #[serde(default)]
    pub replica_url: String,
    /// Longest a request carrying `X-Ledger-Min-Position` waits for the projection to apply
    /// that position before answering 503 `POSITION_NOT_REACHED`: a few times the projector's
    /// usual lag, and well below clients' request timeouts.
    #[serde(default = "defaults::consistency_wait_ms")]
    pub consistency_wait_ms: u64,
    /// Replication lag in WAL bytes beyond which reads leave the replica for the primary.
    #[serde(default = "defaults::replica_lag_max_bytes")]
    pub replica_lag_max_bytes: i64,
    /// Replication lag in seconds beyond which reads leave the replica for the primary.
    #[serde(default = "defaults::replica_lag_max_seconds")]
    pub replica_lag_max_seconds: f64,
    /// Finance reports: their own writable pool and the schedule (TOML table `[reports]`).
    #[serde(default)]
    pub reports: ReportSettings,
}

/// The finance reports' pool and schedule (see `crate::reports`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportSettings {
    /// Connections of the reports pool: the schedule holds one for its lock while another
    /// reads and stores, so at least 2; reports are rare, so no more are needed.
    pub pool_size: usize,
    /// Statement timeout of the reports pool: a year of daily figures is read in one go.
    pub statement_timeout_ms: u64,
    /// Whether this instance runs the schedule (only one instance works at a time anyway).
    pub schedule: bool,
    /// How often the schedule looks for missing reports.
    pub schedule_interval_seconds: u64,
}

impl Default for ReportSettings {
    fn default() -> Self {
        ReportSettings {
            pool_size: 2,
            statement_timeout_ms: 120_000,
            schedule: true,
            schedule_interval_seconds: 300,
        }
    }
}

impl ReportSettings {
    /// Longest wait for a reports connection: generations queue behind each other.
    pub fn wait_timeout(&self) -> Duration {
        Duration::from_millis(self.statement_timeout_ms)
    }

    pub fn schedule_interval(&self) -> Duration {
        Duration::from_secs(self.schedule_interval_seconds)
    }
}

mod defaults {
    use std::net::{Ipv4Addr, SocketAddr};

    pub fn database_url() -> String {
        "postgres://postgres@127.0.0.1:5432/mrledger".to_owned()
    }
    pub fn http_addr() -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, 8081))
    }
    pub fn grpc_addr() -> String {
        "127.0.0.1:8091".to_owned()
    }
    pub fn http_workers() -> usize {
        2
    }
    pub fn shutdown_timeout_seconds() -> u64 {
        10
    }
    pub fn db_pool_size() -> usize {
        16
    }
    pub fn db_wait_timeout_ms() -> u64 {
        2_000
    }
    pub fn db_connect_timeout_ms() -> u64 {
        2_000
    }
    pub fn db_statement_timeout_ms() -> u64 {
        5_000
    }
    pub fn otlp_sample_ratio() -> f64 {
        telemetry::DEFAULT_OTLP_SAMPLE_RATIO
    }
    pub fn log_filter() -> String {
        "info".to_owned()
    }
    pub fn redis_url() -> super::Secret {
        super::Secret::new("redis://127.0.0.1:6379")
    }
    pub fn projector_lag_max_events() -> i64 {
        projector::settings::DEFAULT_LAG_MAX_EVENTS
    }
    pub fn projector_lag_max_seconds() -> f64 {
        projector::settings::DEFAULT_LAG_MAX_SECONDS
    }
    pub fn redis_channel() -> String {
        "mr:live".to_owned()
    }
    pub fn consistency_wait_ms() -> u64 {
        2_000
    }
    pub fn replica_lag_max_bytes() -> i64 {
        16 * 1024 * 1024
    }
    pub fn replica_lag_max_seconds() -> f64 {
        10.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("configuration file {0} does not exist")]
    MissingFile(String),
    #[error(transparent)]
    Figment(#[from] Box<figment::Error>),
    #[error("invalid setting {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

impl Settings {
    /// Settings with every default, for tests and embedding: only the two facts without a
    /// sensible default are asked for.
    pub fn new(database_url: impl Into<String>, jwt_secret: Secret) -> Settings {
        Settings {
            database_url: database_url.into(),
            http_addr: defaults::http_addr(),
            // Embedded servers (tests) open no gRPC port unless asked: a fixed port would
            // collide between them.
            grpc_addr: GRPC_OFF.to_owned(),
            jwt_secret,
            http_workers: defaults::http_workers(),
            shutdown_timeout_seconds: defaults::shutdown_timeout_seconds(),
            db_pool_size: defaults::db_pool_size(),
            db_wait_timeout_ms: defaults::db_wait_timeout_ms(),
            db_connect_timeout_ms: defaults::db_connect_timeout_ms(),
            db_statement_timeout_ms: defaults::db_statement_timeout_ms(),
            log_filter: defaults::log_filter(),
            redis_url: defaults::redis_url(),
            otlp_endpoint: String::new(),
            otlp_sample_ratio: defaults::otlp_sample_ratio(),
            redis_channel: defaults::redis_channel(),
            projector_lag_max_events: defaults::projector_lag_max_events(),
            projector_lag_max_seconds: defaults::projector_lag_max_seconds(),
            replica_url: String::new(),
            consistency_wait_ms: defaults::consistency_wait_ms(),
            replica_lag_max_bytes: defaults::replica_lag_max_bytes(),
            replica_lag_max_seconds: defaults::replica_lag_max_seconds(),
            reports: ReportSettings::default(),
        }
    }

    /// Loads the settings of the `query-api` binary (see the type's documentation for the
    /// sources). Called by `main` only: the library itself never reads the environment.
    pub fn load(config_file: Option<&Path>) -> Result<Settings, SettingsError> {
        let mut figment = Figment::new();
        if let Some(path) = config_file {
            if !path.is_file() {
                return Err(SettingsError::MissingFile(path.display().to_string()));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let env = Env::prefixed(ENV_PREFIX).filter_map(|key| {
            ENV_KEYS
                .iter()
                .find(|(var, _)| key.as_str().eq_ignore_ascii_case(var))
                .map(|(_, field)| Uncased::from_borrowed(field))
        });
        let settings: Settings = figment.merge(env).extract().map_err(Box::new)?;
        settings.validate()?;
        Ok(settings)
    }

    /// Refuses settings the service could not run safely with.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |field, reason: &str| {
            Err(SettingsError::Invalid {
                field,
                reason: reason.to_owned(),
            })
        };
        if self.jwt_secret.expose().len() < MIN_JWT_SECRET_BYTES {
            return invalid("jwt_secret", "must be at least 32 bytes");
        }
        if self.database_url.parse::<tokio_postgres::Config>().is_err() {
            return invalid("database_url", "not a PostgreSQL connection string");
        }
        if !self.replica_url.trim().is_empty()
            && self.replica_url.parse::<tokio_postgres::Config>().is_err()
        {
            return invalid("replica_url", "not a PostgreSQL connection string");
        }
        if self.replica_lag_max_bytes < 0 {
            return invalid("replica_lag_max_bytes", "must not be negative");
        }
        if self.replica_lag_max_seconds.is_nan() || self.replica_lag_max_seconds < 0.0 {
            return invalid("replica_lag_max_seconds", "must be a number ≥ 0");
        }
        if self.grpc_addr().is_err() {
            return invalid("grpc_addr", "neither an address (host:port) nor off");
        }
        if redis::Client::open(self.redis_url.expose()).is_err() {
            return invalid("redis_url", "not a redis:// URL");
        }
        if self.redis_channel.is_empty() {
            return invalid("redis_channel", "must not be empty");
        }
        if let Err(reason) = projector::settings::check_lag_limits(
            self.projector_lag_max_events,
            self.projector_lag_max_seconds,
        ) {
            return invalid(reason.field, reason.reason);
        }
        if self.http_workers == 0 {
            return invalid("http_workers", "must be at least 1");
        }
        if self.db_pool_size == 0 {
            return invalid("db_pool_size", "must be at least 1");
        }
        if self.reports.pool_size < 2 {
            return invalid("reports.pool_size", "must be at least 2");
        }
        if self.reports.statement_timeout_ms == 0 {
            return invalid("reports.statement_timeout_ms", "must be greater than 0");
        }
        if self.reports.schedule_interval_seconds == 0 {
            return invalid(
                "reports.schedule_interval_seconds",
                "must be greater than 0",
            );
        }
        for (field, value) in [
            ("db_wait_timeout_ms", self.db_wait_timeout_ms),
            ("db_connect_timeout_ms", self.db_connect_timeout_ms),
            ("db_statement_timeout_ms", self.db_statement_timeout_ms),
        ] {
            if value == 0 {
                return invalid(field, "must be greater than 0");
            }
        }
        Ok(())
    }

    /// The gRPC listening address; `None` when the gRPC server is off.
    pub fn grpc_addr(&self) -> Result<Option<SocketAddr>, std::net::AddrParseError> {
        let text = self.grpc_addr.trim();
        if text.is_empty() || text.eq_ignore_ascii_case(GRPC_OFF) {
            return Ok(None);
        }
        text.parse().map(Some)
    }

    pub fn db_wait_timeout(&self) -> Duration {
        Duration::from_millis(self.db_wait_timeout_ms)
    }

    pub fn db_connect_timeout(&self) -> Duration {
        Duration::from_millis(self.db_connect_timeout_ms)
    }

    pub fn consistency_wait(&self) -> Duration {
        Duration::from_millis(self.consistency_wait_ms)
    }
}

/// A secret string: `Debug` and `Display` never show it.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself; call only where it is used, never to log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_contains_the_secret() {
        let settings = Settings::new(
            "postgres://x@localhost/db",
            Secret::new("s3cr3t-value-that-is-long-enough!"),
        );
        assert!(!format!("{settings:?}").contains("s3cr3t"));
    }

    #[test]
    fn the_grpc_address_is_an_address_or_off() {
        let mut settings = Settings::new(
            "postgres://x@localhost/db",
            Secret::new("s3cr3t-value-that-is-long-enough!"),
        );
        assert_eq!(settings.grpc_addr().unwrap(), None);
        settings.grpc_addr = defaults::grpc_addr();
        assert_eq!(
            settings.grpc_addr().unwrap(),
            Some("127.0.0.1:8091".parse().unwrap())
        );
        for off in ["", " ", "off", "OFF"] {
            settings.grpc_addr = off.to_owned();
            assert_eq!(settings.grpc_addr().unwrap(), None, "{off:?}");
        }
        settings.grpc_addr = "localhost".to_owned();
        assert!(matches!(
            settings.validate(),
            Err(SettingsError::Invalid {
                field: "grpc_addr",
                ..
            })
        ));
    }

    #[test]
    fn a_short_jwt_secret_is_refused() {
        let settings = Settings::new("postgres://x@localhost/db", Secret::new("short"));
        assert!(matches!(
            settings.validate(),
            Err(SettingsError::Invalid {
                field: "jwt_secret",
                ..
            })
        ));
    }
}
