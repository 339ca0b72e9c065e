//! The binary's typed settings: defaults, then an optional TOML file, then `MR_*`
//! environment variables (layered by `main.rs`; the library never reads the environment).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A value that must never be printed (a database URL may hold a password).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// `MR_DATABASE_URL`.
    pub database_url: Secret,
    /// The read schema this projector fills (`MR_READ_SCHEMA`).
    pub read_schema: String,
    /// `tracing` filter directives (`MR_LOG_FILTER`), e.g. `info,projector=debug`.
    pub log_filter: String,
    /// The time zone statistics days are cut in (`MR_STATS_TIME_ZONE`), a tz database name.
    /// Changing it needs `projector rebuild`: `run` refuses a schema cut in another zone.
    pub stats_time_zone: String,
    /// Redis for live push (`MR_REDIS_URL`); publishing is best effort, Redis may be down.
    pub redis_url: Secret,
    /// The pub/sub channel committed batches' changes go to (`MR_REDIS_CHANNEL`).
    pub redis_channel: String,
    /// Where `/metrics`, `/health` and `/health/ready` are served
    /// (`MR_PROJECTOR_METRICS_ADDR`); `off` for nowhere.
    pub projector_metrics_addr: String,
    /// Unapplied events beyond which `/health/ready` answers 503
    /// (`MR_PROJECTOR_LAG_MAX_EVENTS`).
    pub projector_lag_max_events: i64,
    /// Age of the oldest unapplied event beyond which `/health/ready` answers 503
    /// (`MR_PROJECTOR_LAG_MAX_SECONDS`).
    pub projector_lag_max_seconds: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            database_url: Secret::new("postgres://postgres@127.0.0.1:5432/mrledger"),
            read_schema: crate::READ_SCHEMA.to_owned(),
            log_filter: "info".to_owned(),
            stats_time_zone: crate::DEFAULT_TIME_ZONE.to_owned(),
            redis_url: Secret::new("redis://127.0.0.1:6379"),
            redis_channel: "mr:live".to_owned(),
            projector_metrics_addr: "127.0.0.1:9464".to_owned(),
            projector_lag_max_events: DEFAULT_LAG_MAX_EVENTS,
            projector_lag_max_seconds: DEFAULT_LAG_MAX_SECONDS,
        }
    }
}

/// Default lag limits: the service aims at a lag under 1 s; a backlog this large, or this old,
/// means the projector is stuck or far too slow, not just busy with a burst.
pub const DEFAULT_LAG_MAX_EVENTS: i64 = 10_000;
pub const DEFAULT_LAG_MAX_SECONDS: f64 = 30.0;

/// A lag limit that cannot be met or is not a number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct BadLagLimit {
    pub field: &'static str,
    pub reason: &'static str,
}

/// Refuses lag limits that no projection could meet (negative) or that are not numbers.
pub fn check_lag_limits(max_events: i64, max_seconds: f64) -> Result<(), BadLagLimit> {
    if max_events < 0 {
        return Err(BadLagLimit {
            field: "projector_lag_max_events",
            reason: "must be 0 or more",
        });
    }
    if !max_seconds.is_finite() || max_seconds < 0.0 {
        return Err(BadLagLimit {
            field: "projector_lag_max_seconds",
            reason: "must be a number of seconds, 0 or more",
        });
    }
    Ok(())
}

impl Settings {
    /// Refuses settings the projector could not honour.
    pub fn validate(&self) -> Result<(), BadLagLimit> {
        check_lag_limits(
            self.projector_lag_max_events,
            self.projector_lag_max_seconds,
        )
    }

    /// The lag limits of `/health/ready`.
    pub fn lag_limits(&self) -> crate::metrics::LagLimits {
        crate::metrics::LagLimits {
            max_events: self.projector_lag_max_events,
            max_seconds: self.projector_lag_max_seconds,
        }
    }
}
