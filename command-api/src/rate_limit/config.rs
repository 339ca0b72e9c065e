//! Rate limit settings: the limits per scope and where the counts live.

use std::collections::HashMap;

use ledger_core::ids::OperatorId;
use ledger_core::operator::Category;
use serde::{Deserialize, Serialize};

/// Authorizations per operator per window when nothing else is configured (PRODUCT.md X1).
pub const DEFAULT_OPERATOR_LIMIT: u32 = 10;

/// Requests per client IP per window, on every endpoint (PRODUCT.md X1).
pub const DEFAULT_IP_LIMIT: u32 = 100;

/// The sliding window all limits count over.
pub const DEFAULT_WINDOW_SECONDS: u64 = 60;

/// Longest wait for Redis before a check falls back to the in-process limiter: a rate limit
/// must never make a healthy request slow.
pub const DEFAULT_REDIS_TIMEOUT_MS: u64 = 50;

/// Flattened into the command API's settings, so every field is one `MR_*` variable
/// (`MR_RATE_LIMIT_PER_IP`, `MR_RATE_LIMIT_OPERATOR_VIP`, …).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RateLimitSettings {
    /// `false` admits everything without counting (`MR_RATE_LIMIT_ENABLED`): for a deployment
    /// whose gateway in front already limits, and to measure what the limiter costs.
    pub rate_limit_enabled: bool,
    /// Prefix of every Redis key (`<prefix>:ip:<addr>`, `<prefix>:op:<operator id>`), so
    /// several deployments (or parallel tests) can share one Redis without sharing counts.
    pub rate_limit_key_prefix: String,
    pub rate_limit_window_seconds: u64,
    /// Requests per client IP per window, on every endpoint.
    pub rate_limit_per_ip: u32,
    /// Authorizations per operator per window, by operator category.
    pub rate_limit_operator_vip: u32,
    pub rate_limit_operator_standard: u32,
    pub rate_limit_operator_trial: u32,
    /// Per-operator limits that win over the category's: `<operator uuid>=<limit>[,…]`
    /// (a large arcade chain gets more without changing its category).
    pub rate_limit_operator_overrides: String,
    /// Longest wait for Redis per check before the local limiter answers instead.
    pub rate_limit_redis_timeout_ms: u64,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            rate_limit_enabled: true,
            rate_limit_key_prefix: "mr:rl".to_owned(),
            rate_limit_window_seconds: DEFAULT_WINDOW_SECONDS,
            rate_limit_per_ip: DEFAULT_IP_LIMIT,
            rate_limit_operator_vip: DEFAULT_OPERATOR_LIMIT,
            rate_limit_operator_standard: DEFAULT_OPERATOR_LIMIT,
            rate_limit_operator_trial: DEFAULT_OPERATOR_LIMIT,
            rate_limit_operator_overrides: String::new(),
            rate_limit_redis_timeout_ms: DEFAULT_REDIS_TIMEOUT_MS,
        }
    }
}

/// The checked form of [`RateLimitSettings`].
#[derive(Debug, Clone)]
pub struct Limits {
    pub enabled: bool,
    pub key_prefix: String,
    pub window_seconds: u64,
    pub per_ip: u32,
    pub vip: u32,
    pub standard: u32,
    pub trial: u32,
    pub overrides: HashMap<OperatorId, u32>,
    pub redis_timeout_ms: u64,
}

impl Limits {
    pub fn from_settings(s: &RateLimitSettings) -> Result<Limits, String> {
        if s.rate_limit_key_prefix.trim().is_empty() {
            return Err("MR_RATE_LIMIT_KEY_PREFIX must not be empty".to_owned());
        }
        if s.rate_limit_window_seconds == 0 {
            return Err("MR_RATE_LIMIT_WINDOW_SECONDS must be at least 1".to_owned());
        }
        if s.rate_limit_redis_timeout_ms == 0 {
            return Err("MR_RATE_LIMIT_REDIS_TIMEOUT_MS must be at least 1".to_owned());
        }
        for (name, limit) in [
            ("MR_RATE_LIMIT_PER_IP", s.rate_limit_per_ip),
            ("MR_RATE_LIMIT_OPERATOR_VIP", s.rate_limit_operator_vip),
            (
                "MR_RATE_LIMIT_OPERATOR_STANDARD",
                s.rate_limit_operator_standard,
            ),
            ("MR_RATE_LIMIT_OPERATOR_TRIAL", s.rate_limit_operator_trial),
        ] {
            if limit == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        Ok(Limits {
            enabled: s.rate_limit_enabled,
            key_prefix: s.rate_limit_key_prefix.trim().to_owned(),
            window_seconds: s.rate_limit_window_seconds,
            per_ip: s.rate_limit_per_ip,
            vip: s.rate_limit_operator_vip,
            standard: s.rate_limit_operator_standard,
            trial: s.rate_limit_operator_trial,
            overrides: parse_overrides(&s.rate_limit_operator_overrides)?,
            redis_timeout_ms: s.rate_limit_redis_timeout_ms,
        })
    }

    /// The authorization limit of an operator: its own override, else its category's.
    pub fn of_operator(&self, operator: OperatorId, category: Category) -> u32 {
        self.overrides
            .get(&operator)
            .copied()
            .unwrap_or(match category {
                Category::Vip => self.vip,
                Category::Standard => self.standard,
                Category::Trial => self.trial,
            })
    }

    /// Whether the category matters at all (it costs a look at the operator's state).
    pub fn categories_differ(&self) -> bool {
        self.vip != self.standard || self.standard != self.trial
    }
}

fn parse_overrides(text: &str) -> Result<HashMap<OperatorId, u32>, String> {
    let bad = |entry: &str| {
        format!("MR_RATE_LIMIT_OPERATOR_OVERRIDES: `{entry}` is not `<operator uuid>=<limit ≥ 1>`")
    };
    let mut overrides = HashMap::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (id, limit) = entry.split_once('=').ok_or_else(|| bad(entry))?;
        let id = uuid::Uuid::parse_str(id.trim()).map_err(|_| bad(entry))?;
        let limit: u32 = limit.trim().parse().map_err(|_| bad(entry))?;
        if limit == 0 {
            return Err(bad(entry));
        }
        overrides.insert(OperatorId(id), limit);
    }
    Ok(overrides)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_override_wins_over_the_category() {
        let vip = uuid::Uuid::new_v4();
        let settings = RateLimitSettings {
            rate_limit_operator_vip: 50,
            rate_limit_operator_overrides: format!(" {vip}=500 ,"),
            ..RateLimitSettings::default()
        };
        let limits = Limits::from_settings(&settings).unwrap();
        assert_eq!(limits.of_operator(OperatorId(vip), Category::Vip), 500);
        let other = OperatorId(uuid::Uuid::new_v4());
        assert_eq!(limits.of_operator(other, Category::Vip), 50);
        assert_eq!(limits.of_operator(other, Category::Trial), 10);
    }

    #[test]
    fn malformed_overrides_and_zero_limits_are_refused() {
        for overrides in [
            "not-a-uuid=5",
            "3f1c1f4e-0b5e-4c55-9a55-2d1a8e0f7a11=0",
            "x",
        ] {
            let settings = RateLimitSettings {
                rate_limit_operator_overrides: overrides.to_owned(),
                ..RateLimitSettings::default()
            };
            let error = Limits::from_settings(&settings).unwrap_err();
            assert!(
                error.contains("MR_RATE_LIMIT_OPERATOR_OVERRIDES"),
                "{error}"
            );
        }
        let settings = RateLimitSettings {
            rate_limit_per_ip: 0,
            ..RateLimitSettings::default()
        };
        assert!(
            Limits::from_settings(&settings)
                .unwrap_err()
                .contains("MR_RATE_LIMIT_PER_IP")
        );
    }
}

#[cfg(test)]
mod loading {
    use figment::Figment;
    use figment::providers::Serialized;

    use crate::settings::Settings;

    /// The limits are flattened into the settings: each is one top-level `MR_*` name.
    #[test]
    fn limits_load_as_top_level_settings() {
        let settings: Settings = Figment::from(Serialized::defaults(Settings::default()))
            .merge(("rate_limit_per_ip", 7_u32))
            .merge(("rate_limit_operator_vip", 500_u32))
            .merge(("rate_limit_key_prefix", "prod:rl"))
            .extract()
            .unwrap();
        assert_eq!(settings.rate_limits.rate_limit_per_ip, 7);
        assert_eq!(settings.rate_limits.rate_limit_operator_vip, 500);
        assert_eq!(settings.rate_limits.rate_limit_operator_trial, 10);
        assert_eq!(settings.rate_limits.rate_limit_key_prefix, "prod:rl");
        assert_eq!(settings.redis_url.expose(), "redis://127.0.0.1:6379");
    }
}
