//! Settings of the command API: defaults → optional TOML file → `MR_*` environment.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// A secret setting: usable, never printed.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Every setting of the command API. Environment names are the field names upper-cased with
/// an `MR_` prefix, e.g. `MR_DATABASE_URL`, `MR_COMMAND_HTTP_ADDR`, `MR_MASTER_KEY`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub database_url: String,
    pub command_http_addr: String,
    /// Base64 of 32 bytes: the AES-256-GCM key that seals API secrets.
    pub master_key: Secret,
    pub master_key_id: String,
    /// HS256 key of staff access tokens (shared with the query API).
    pub jwt_secret: Secret,
    pub bootstrap_admin_username: String,
    pub bootstrap_admin_password: Secret,
    /// Connections in the pool: enough for every HTTP worker's concurrent requests.
    pub db_pool_size: usize,
    /// Longest wait for a pooled connection before answering 503 (bounded, so a database
    /// outage fails fast instead of queueing requests).
    pub db_pool_wait_ms: u64,
    /// HTTP worker threads (0: one per core).
    pub http_workers: usize,
    /// Lifetime of staff access tokens.
    pub access_token_seconds: i64,
    pub refresh_token_seconds: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            database_url: "postgres://postgres@127.0.0.1:5432/mrledger".to_owned(),
            command_http_addr: "127.0.0.1:8080".to_owned(),
            master_key: Secret::default(),
            master_key_id: "k1".to_owned(),
            jwt_secret: Secret::default(),
            bootstrap_admin_username: "admin".to_owned(),
            bootstrap_admin_password: Secret::default(),
            db_pool_size: 32,
            db_pool_wait_ms: 2_000,
            http_workers: 0,
            access_token_seconds: 15 * 60,
            refresh_token_seconds: 7 * 24 * 3600,
        }
    }
}

/// Shortest accepted JWT key, so a typo cannot leave tokens forgeable.
pub const JWT_SECRET_MIN: usize = 32;

impl Settings {
    pub fn load(config_file: Option<&std::path::Path>) -> Result<Settings, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = config_file {
            figment = figment.merge(Toml::file_exact(path));
        }
        figment
            .merge(Env::prefixed("MR_"))
            .extract()
            .map_err(Box::new)
    }

    /// Refuses settings the service cannot run safely with.
    pub fn validate(&self) -> Result<(), String> {
        if self.jwt_secret.expose().len() < JWT_SECRET_MIN {
            return Err(format!(
                "MR_JWT_SECRET must have at least {JWT_SECRET_MIN} characters"
            ));
        }
        if self.bootstrap_admin_password.expose().len() < 8 {
            return Err("MR_BOOTSTRAP_ADMIN_PASSWORD must have at least 8 characters".to_owned());
        }
        crate::crypto::MasterKey::from_base64(&self.master_key_id, self.master_key.expose())
            .map_err(|e| format!("MR_MASTER_KEY: {e}"))?;
        Ok(())
    }
}
