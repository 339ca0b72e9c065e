//! Settings of the command API: defaults → optional TOML file → `MR_*` environment.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use ledger_core::money::Money;
use ledger_core::operator::Category;
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
    /// Consecutive wrong passwords that lock an account's login, and for how long.
    pub login_max_failures: i32,
    pub login_lockout_seconds: i64,
    /// argon2id cost of password hashes: memory (KiB) and passes. Production keeps the
    /// crate's defaults (the OWASP baseline); tests lower them because every test logs in
    /// several times and the default cost (~19 MiB, tens of ms per hash) would dominate.
    /// Existing hashes keep the cost they were made with (it is in their PHC string).
    pub password_hash_memory_kib: u32,
    pub password_hash_iterations: u32,
    /// Login password of the demo operator that `seed-demo` creates (empty: no login).
    pub demo_operator_password: Secret,
    /// Low-balance alert thresholds per operator category (yuan, as decimal strings).
    #[serde(deserialize_with = "amount_text")]
    pub low_balance_vip: String,
    #[serde(deserialize_with = "amount_text")]
    pub low_balance_standard: String,
    #[serde(deserialize_with = "amount_text")]
    pub low_balance_trial: String,
    /// The seller printed on issued invoices.
    pub invoice_seller_name: String,
    pub invoice_seller_tax_number: String,
    /// Grant-expiry reminders: how many days before expiry, and how often the job looks.
    pub grant_reminder_days: i64,
    pub grant_reminder_interval_seconds: u64,
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
            login_max_failures: 5,
            login_lockout_seconds: 15 * 60,
            password_hash_memory_kib: argon2::Params::DEFAULT_M_COST,
            password_hash_iterations: argon2::Params::DEFAULT_T_COST,
            demo_operator_password: Secret::default(),
            low_balance_vip: "1000".to_owned(),
            low_balance_standard: "100".to_owned(),
            low_balance_trial: "50".to_owned(),
            invoice_seller_name: "MR Ledger 示例科技有限公司".to_owned(),
            invoice_seller_tax_number: "91310000MA1MRLEDGR".to_owned(),
            grant_reminder_days: 7,
            grant_reminder_interval_seconds: 3600,
        }
    }
}

/// An amount setting as text, also when the environment spells it as a number
/// (`MR_LOW_BALANCE_TRIAL=50` reaches serde as an integer): `Money` parses the text, so no
/// float ever holds it.
fn amount_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        Text(String),
        Whole(u64),
    }
    Ok(match Text::deserialize(deserializer)? {
        Text::Text(text) => text,
        Text::Whole(n) => n.to_string(),
    })
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
        if !ledger_core::account_rules::valid_username(&self.bootstrap_admin_username) {
            return Err(
                "MR_BOOTSTRAP_ADMIN_USERNAME must be 3 to 20 of A-Z a-z 0-9 _ (a staff username)"
                    .to_owned(),
            );
        }
        if self.bootstrap_admin_password.expose().len() < 8 {
            return Err("MR_BOOTSTRAP_ADMIN_PASSWORD must have at least 8 characters".to_owned());
        }
        crate::crypto::MasterKey::from_base64(&self.master_key_id, self.master_key.expose())
            .map_err(|e| format!("MR_MASTER_KEY: {e}"))?;
        for category in [Category::Vip, Category::Standard, Category::Trial] {
            self.low_balance_threshold(category)?;
        }
        if self.login_max_failures < 1 || self.login_lockout_seconds < 1 {
            return Err(
                "MR_LOGIN_MAX_FAILURES and MR_LOGIN_LOCKOUT_SECONDS must be positive".to_owned(),
            );
        }
        crate::accounts::password::Passwords::params(self)
            .map_err(|e| format!("MR_PASSWORD_HASH_MEMORY_KIB / _ITERATIONS: {e}"))?;
        Ok(())
    }

    /// The configured low-balance threshold of a category.
    pub fn low_balance_threshold(&self, category: Category) -> Result<Money, String> {
        let (name, text) = match category {
            Category::Vip => ("MR_LOW_BALANCE_VIP", &self.low_balance_vip),
            Category::Standard => ("MR_LOW_BALANCE_STANDARD", &self.low_balance_standard),
            Category::Trial => ("MR_LOW_BALANCE_TRIAL", &self.low_balance_trial),
        };
        Money::parse(text).map_err(|e| format!("{name}: {e}"))
    }
}
