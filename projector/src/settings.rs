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
        }
    }
}
