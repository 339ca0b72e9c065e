//! Settings of the command API: defaults → optional TOML file → `MR_*` environment.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use ledger_core::money::Money;
use ledger_core::operator::Category;
use serde::{Deserialize, Serialize};
use telemetry::DEFAULT_OTLP_SAMPLE_RATIO;

use crate::anomaly::config::{AnomalySettings, Thresholds};
use crate::rate_limit::config::{Limits, RateLimitSettings};

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
    /// Where the headset gRPC service listens (`MR_COMMAND_GRPC_ADDR`): an address, or `off`
    /// (or empty) for none. [`Settings::load`] defaults it to [`BINARY_GRPC_ADDR`]; settings
    /// built in-process (tests) start with it off, so embedded servers never share a port.
    pub command_grpc_addr: String,
    /// Base64 of 32 bytes: the AES-256-GCM key that seals API secrets.
    pub master_key: Secret,
    pub master_key_id: String,
    /// Keys of a master-key rotation in progress, `id:base64[,id:base64…]`: they still open
    /// secrets sealed under them until `rotate-master-key` has resealed those (empty: none).
    pub master_key_previous: Secret,
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
    /// WeChat Pay API v3 (Native). The channel is enabled when `wechat_mch_id` is set; keys
    /// and certificates are PEM text or paths of PEM files.
    pub wechat_base_url: String,
    #[serde(deserialize_with = "id_text")]
    pub wechat_app_id: String,
    #[serde(deserialize_with = "id_text")]
    pub wechat_mch_id: String,
    /// Serial of the merchant certificate (named in every request's `Authorization`).
    #[serde(deserialize_with = "id_text")]
    pub wechat_merchant_serial: String,
    pub wechat_merchant_key: Secret,
    /// One or more platform certificates (PEM), picked by `Wechatpay-Serial`.
    pub wechat_platform_cert: String,
    /// The 32-byte API v3 key (AES-256-GCM key of callback resources).
    pub wechat_api_v3_key: Secret,
    pub wechat_notify_url: String,
    /// Alipay (RSA2). The channel is enabled when `alipay_app_id` is set.
    pub alipay_gateway_url: String,
    #[serde(deserialize_with = "id_text")]
    pub alipay_app_id: String,
    pub alipay_app_key: Secret,
    /// Alipay's public key (PEM), which signs answers and notifies.
    pub alipay_public_key: String,
    pub alipay_notify_url: String,
    /// Recharge orders without a result this long after creation are queried at the gateway.
    pub recharge_query_after_seconds: i64,
    /// Failed queries in a row after which an order needs review (and finance is alerted).
    pub recharge_query_max_failures: u32,
    /// How often the recharge poller looks.
    pub recharge_poll_interval_seconds: u64,
    /// Orders still unpaid this long after creation are closed (at the gateway, then here).
    pub recharge_close_after_seconds: i64,
    /// Redis holding the rate limit counts (`MR_REDIS_URL`); while it is unreachable each
    /// instance counts on its own.
    pub redis_url: Secret,
    /// OTLP/gRPC collector the request spans are exported to (`MR_OTLP_ENDPOINT`, e.g.
    /// `http://127.0.0.1:4317`); empty exports none.
    pub otlp_endpoint: String,
    /// Share of new traces exported (`MR_OTLP_SAMPLE_RATIO`, 0.0–1.0, default 0.1); a
    /// caller's sampled `traceparent` is always followed. One in ten keeps the cost of tracing
    /// within budget at thousands of authorizations a second (docs/PERFORMANCE.md).
    pub otlp_sample_ratio: f64,
    /// Rate limits per IP and per operator (`MR_RATE_LIMIT_*`, see [`RateLimitSettings`]).
    #[serde(flatten)]
    pub rate_limits: RateLimitSettings,
    /// Anomaly locking and client addresses (`MR_ANOMALY_*`, `MR_TRUSTED_PROXIES`, see
    /// [`AnomalySettings`]).
    #[serde(flatten)]
    pub anomaly: AnomalySettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            database_url: "postgres://postgres@127.0.0.1:5432/mrledger".to_owned(),
            command_http_addr: "127.0.0.1:8080".to_owned(),
            command_grpc_addr: GRPC_OFF.to_owned(),
            master_key: Secret::default(),
            master_key_id: "k1".to_owned(),
            master_key_previous: Secret::default(),
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
            wechat_base_url: "https://api.mch.weixin.qq.com".to_owned(),
            wechat_app_id: String::new(),
            wechat_mch_id: String::new(),
            wechat_merchant_serial: String::new(),
            wechat_merchant_key: Secret::default(),
            wechat_platform_cert: String::new(),
            wechat_api_v3_key: Secret::default(),
            wechat_notify_url: String::new(),
            alipay_gateway_url: "https://openapi.alipay.com/gateway.do".to_owned(),
            alipay_app_id: String::new(),
            alipay_app_key: Secret::default(),
            alipay_public_key: String::new(),
            alipay_notify_url: String::new(),
            recharge_query_after_seconds: 300,
            recharge_query_max_failures: 3,
            recharge_poll_interval_seconds: 30,
            recharge_close_after_seconds: 2 * 3600,
            redis_url: Secret("redis://127.0.0.1:6379".to_owned()),
            otlp_endpoint: String::new(),
            otlp_sample_ratio: DEFAULT_OTLP_SAMPLE_RATIO,
            rate_limits: RateLimitSettings::default(),
            anomaly: AnomalySettings::default(),
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

/// An id setting as text, also when the environment spells it as a number
/// (`MR_WECHAT_MCH_ID=1900000109` reaches serde as an integer).
fn id_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
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

/// The `command_grpc_addr` value that turns the gRPC server off (an empty value does too).
pub const GRPC_OFF: &str = "off";

/// The binary's gRPC address unless the file or the environment say otherwise.
pub const BINARY_GRPC_ADDR: &str = "127.0.0.1:8092";

/// Shortest accepted JWT key, so a typo cannot leave tokens forgeable.
pub const JWT_SECRET_MIN: usize = 32;

impl Settings {
    /// The OTLP collector, if traces are exported.
    pub fn otlp_endpoint(&self) -> Option<&str> {
        Some(self.otlp_endpoint.trim()).filter(|e| !e.is_empty())
    }

    pub fn load(config_file: Option<&std::path::Path>) -> Result<Settings, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Serialized::default("command_grpc_addr", BINARY_GRPC_ADDR));
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
        self.master_keys()?;
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
        if self.recharge_query_after_seconds < 0
            || self.recharge_query_max_failures < 1
            || self.recharge_close_after_seconds <= self.recharge_query_after_seconds
        {
            return Err("MR_RECHARGE_QUERY_AFTER_SECONDS must be ≥ 0, \
                        MR_RECHARGE_QUERY_MAX_FAILURES ≥ 1, and MR_RECHARGE_CLOSE_AFTER_SECONDS \
                        greater than the query delay"
                .to_owned());
        }
        crate::payments::Gateways::from_settings(self)?;
        Limits::from_settings(&self.rate_limits)?;
        Thresholds::from_settings(&self.anomaly)?;
        self.grpc_addr()
            .map_err(|e| format!("MR_COMMAND_GRPC_ADDR: neither host:port nor off ({e})"))?;
        Ok(())
    }

    /// The headset gRPC listening address; `None` when the gRPC server is off.
    pub fn grpc_addr(&self) -> Result<Option<std::net::SocketAddr>, std::net::AddrParseError> {
        let text = self.command_grpc_addr.trim();
        if text.is_empty() || text.eq_ignore_ascii_case(GRPC_OFF) {
            return Ok(None);
        }
        text.parse().map(Some)
    }

    /// The current master key and the previous ones of a rotation.
    pub fn master_keys(&self) -> Result<crate::crypto::MasterKeys, String> {
        crate::crypto::MasterKeys::parse(
            &self.master_key_id,
            self.master_key.expose(),
            self.master_key_previous.expose(),
        )
        .map_err(|e| format!("MR_MASTER_KEY: {e}"))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The environment provider hands `MR_WECHAT_MCH_ID=1900000109` over as a number.
    #[test]
    fn numeric_payment_ids_stay_text() {
        let settings: Settings = Figment::from(Serialized::defaults(Settings::default()))
            .merge(("wechat_mch_id", 1_900_000_109_u64))
            .merge(("alipay_app_id", 2_014_072_300_007_148_u64))
            .extract()
            .unwrap();
        assert_eq!(settings.wechat_mch_id, "1900000109");
        assert_eq!(settings.alipay_app_id, "2014072300007148");
        assert_eq!(settings.recharge_query_after_seconds, 300);
        assert_eq!(settings.recharge_query_max_failures, 3);
        assert_eq!(settings.recharge_poll_interval_seconds, 30);
    }

    #[test]
    fn the_grpc_address_is_off_in_process_and_an_address_or_off_otherwise() {
        let mut settings = Settings::default();
        assert_eq!(settings.grpc_addr().unwrap(), None);
        settings.command_grpc_addr = BINARY_GRPC_ADDR.to_owned();
        assert_eq!(
            settings.grpc_addr().unwrap(),
            Some("127.0.0.1:8092".parse().unwrap())
        );
        for off in ["", " ", "off", "OFF"] {
            settings.command_grpc_addr = off.to_owned();
            assert_eq!(settings.grpc_addr().unwrap(), None, "{off:?}");
        }
        settings.command_grpc_addr = "localhost".to_owned();
        assert!(settings.grpc_addr().is_err());
    }
}
