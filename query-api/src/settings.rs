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

/// Prefix of every environment variable the query API reads.
pub const ENV_PREFIX: &str = "MR_";

/// Environment variables (after [`ENV_PREFIX`]) and the setting each one fills. Only these are
/// read: the `MR_` namespace is shared with the other binaries, and a command-api variable
/// must never land in a query-api setting by accident.
pub const ENV_KEYS: &[(&str, &str)] = &[
    ("DATABASE_URL", "database_url"),
    ("QUERY_HTTP_ADDR", "http_addr"),
    ("JWT_SECRET", "jwt_secret"),
    ("QUERY_HTTP_WORKERS", "http_workers"),
    ("QUERY_SHUTDOWN_TIMEOUT_SECONDS", "shutdown_timeout_seconds"),
    ("QUERY_DB_POOL_SIZE", "db_pool_size"),
    ("QUERY_DB_WAIT_TIMEOUT_MS", "db_wait_timeout_ms"),
    ("QUERY_DB_CONNECT_TIMEOUT_MS", "db_connect_timeout_ms"),
    ("QUERY_DB_STATEMENT_TIMEOUT_MS", "db_statement_timeout_ms"),
    ("QUERY_LOG", "log_filter"),
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
/// | `MR_JWT_SECRET` | `jwt_secret` | none: required, at least 32 bytes |
/// | `MR_QUERY_HTTP_WORKERS` | `http_workers` | 2 |
/// | `MR_QUERY_SHUTDOWN_TIMEOUT_SECONDS` | `shutdown_timeout_seconds` | 10 |
/// | `MR_QUERY_DB_POOL_SIZE` | `db_pool_size` | 16 |
/// | `MR_QUERY_DB_WAIT_TIMEOUT_MS` | `db_wait_timeout_ms` | 2000 |
/// | `MR_QUERY_DB_CONNECT_TIMEOUT_MS` | `db_connect_timeout_ms` | 2000 |
/// | `MR_QUERY_DB_STATEMENT_TIMEOUT_MS` | `db_statement_timeout_ms` | 5000 |
/// | `MR_QUERY_LOG` | `log_filter` | `info` |
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
}

mod defaults {
    use std::net::{Ipv4Addr, SocketAddr};

    pub fn database_url() -> String {
        "postgres://postgres@127.0.0.1:5432/mrledger".to_owned()
    }
    pub fn http_addr() -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, 8081))
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
    pub fn log_filter() -> String {
        "info".to_owned()
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
            jwt_secret,
            http_workers: defaults::http_workers(),
            shutdown_timeout_seconds: defaults::shutdown_timeout_seconds(),
            db_pool_size: defaults::db_pool_size(),
            db_wait_timeout_ms: defaults::db_wait_timeout_ms(),
            db_connect_timeout_ms: defaults::db_connect_timeout_ms(),
            db_statement_timeout_ms: defaults::db_statement_timeout_ms(),
            log_filter: defaults::log_filter(),
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
        if self.http_workers == 0 {
            return invalid("http_workers", "must be at least 1");
        }
        if self.db_pool_size == 0 {
            return invalid("db_pool_size", "must be at least 1");
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

    pub fn db_wait_timeout(&self) -> Duration {
        Duration::from_millis(self.db_wait_timeout_ms)
    }

    pub fn db_connect_timeout(&self) -> Duration {
        Duration::from_millis(self.db_connect_timeout_ms)
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
