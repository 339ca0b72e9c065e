//! Anomaly settings: thresholds, windows, block time, trusted networks and proxies.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::networks::Networks;

/// Failed signatures from one IP the window tolerates; one more trips (PRODUCT.md X2).
pub const DEFAULT_SIGNATURE_FAILURES_MAX: u32 = 20;
pub const DEFAULT_SIGNATURE_WINDOW_SECONDS: u64 = 300;

/// Distinct unknown or failing key ids from one IP the window tolerates; one more trips.
pub const DEFAULT_DISTINCT_KEYS_MAX: u32 = 5;
pub const DEFAULT_DISTINCT_KEYS_WINDOW_SECONDS: u64 = 60;

/// How long a tripped IP stays blocked unless an admin unblocks it first.
pub const DEFAULT_BLOCK_SECONDS: u64 = 900;

/// How often each instance reads the shared block list from Redis: a block made by another
/// instance applies here within this time, at one Redis round trip per interval (not per
/// request).
pub const DEFAULT_BLOCK_REFRESH_MS: u64 = 1_000;

/// Flattened into the command API's settings: each field is one `MR_*` variable
/// (`MR_ANOMALY_SIGNATURE_FAILURES_MAX`, `MR_TRUSTED_PROXIES`, …).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AnomalySettings {
    /// Failed signatures one IP may send within the signature window without tripping.
    pub anomaly_signature_failures_max: u32,
    pub anomaly_signature_window_seconds: u64,
    /// Distinct unknown or failing key ids one IP may present within the key window.
    pub anomaly_distinct_keys_max: u32,
    pub anomaly_distinct_keys_window_seconds: u64,
    pub anomaly_block_seconds: u64,
    pub anomaly_block_refresh_ms: u64,
    /// CIDR list (`10.0.0.0/8,203.0.113.7`) never blocked, e.g. an arcade chain's own egress.
    /// Operators whose keys are misused from there are still locked: the list exempts the
    /// IP block only.
    pub anomaly_trusted_networks: String,
    /// CIDR list of reverse proxies whose `X-Forwarded-For` names the client. Empty (the
    /// default): the peer address is the client, and the header is ignored.
    pub trusted_proxies: String,
}

impl Default for AnomalySettings {
    fn default() -> Self {
        AnomalySettings {
            anomaly_signature_failures_max: DEFAULT_SIGNATURE_FAILURES_MAX,
            anomaly_signature_window_seconds: DEFAULT_SIGNATURE_WINDOW_SECONDS,
            anomaly_distinct_keys_max: DEFAULT_DISTINCT_KEYS_MAX,
            anomaly_distinct_keys_window_seconds: DEFAULT_DISTINCT_KEYS_WINDOW_SECONDS,
            anomaly_block_seconds: DEFAULT_BLOCK_SECONDS,
            anomaly_block_refresh_ms: DEFAULT_BLOCK_REFRESH_MS,
            anomaly_trusted_networks: String::new(),
            trusted_proxies: String::new(),
        }
    }
}

/// The checked form of [`AnomalySettings`].
#[derive(Debug, Clone)]
pub struct Thresholds {
    pub signature_failures_max: u32,
    pub signature_window: Duration,
    pub distinct_keys_max: u32,
    pub distinct_keys_window: Duration,
    pub block: Duration,
    pub block_refresh: Duration,
    pub trusted_networks: Networks,
    pub trusted_proxies: Networks,
}

impl Thresholds {
    pub fn from_settings(s: &AnomalySettings) -> Result<Thresholds, String> {
        for (name, value) in [
            (
                "MR_ANOMALY_SIGNATURE_WINDOW_SECONDS",
                s.anomaly_signature_window_seconds,
            ),
            (
                "MR_ANOMALY_DISTINCT_KEYS_WINDOW_SECONDS",
                s.anomaly_distinct_keys_window_seconds,
            ),
            ("MR_ANOMALY_BLOCK_SECONDS", s.anomaly_block_seconds),
            ("MR_ANOMALY_BLOCK_REFRESH_MS", s.anomaly_block_refresh_ms),
        ] {
            if value == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        Ok(Thresholds {
            signature_failures_max: s.anomaly_signature_failures_max,
            signature_window: Duration::from_secs(s.anomaly_signature_window_seconds),
            distinct_keys_max: s.anomaly_distinct_keys_max,
            distinct_keys_window: Duration::from_secs(s.anomaly_distinct_keys_window_seconds),
            block: Duration::from_secs(s.anomaly_block_seconds),
            block_refresh: Duration::from_millis(s.anomaly_block_refresh_ms),
            trusted_networks: Networks::parse(&s.anomaly_trusted_networks)
                .map_err(|e| format!("MR_ANOMALY_TRUSTED_NETWORKS: {e}"))?,
            trusted_proxies: Networks::parse(&s.trusted_proxies)
                .map_err(|e| format!("MR_TRUSTED_PROXIES: {e}"))?,
        })
    }

    /// The window misused keys are remembered over: the longer of the two, so every
    /// operator whose key counted toward the trip is locked.
    pub fn misuse_window(&self) -> Duration {
        self.signature_window.max(self.distinct_keys_window)
    }
}

#[cfg(test)]
mod tests {
    use figment::Figment;
    use figment::providers::Serialized;

    use super::*;
    use crate::settings::Settings;

    #[test]
    fn defaults_are_the_products_thresholds() {
        let t = Thresholds::from_settings(&AnomalySettings::default()).unwrap();
        assert_eq!(t.signature_failures_max, 20);
        assert_eq!(t.signature_window, Duration::from_secs(300));
        assert_eq!(t.distinct_keys_max, 5);
        assert_eq!(t.distinct_keys_window, Duration::from_secs(60));
        assert!(t.trusted_networks.is_empty());
        assert!(t.trusted_proxies.is_empty());
    }

    #[test]
    fn settings_load_flat_and_bad_networks_are_refused() {
        let settings: Settings = Figment::from(Serialized::defaults(Settings::default()))
            .merge(("anomaly_distinct_keys_max", 9_u32))
            .merge(("anomaly_trusted_networks", "10.0.0.0/8"))
            .extract()
            .unwrap();
        assert_eq!(settings.anomaly.anomaly_distinct_keys_max, 9);
        let error = Thresholds::from_settings(&AnomalySettings {
            anomaly_trusted_networks: "10.0.0.0/33".to_owned(),
            ..AnomalySettings::default()
        })
        .unwrap_err();
        assert!(error.contains("MR_ANOMALY_TRUSTED_NETWORKS"), "{error}");
    }
}
