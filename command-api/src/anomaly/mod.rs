//! Anomaly locking (PRODUCT.md X2), counting failures only, so a NAT in front of many healthy
//! headset servers is never punished: more than `signature_failures_max` failed signatures
//! (`INVALID_SIGNATURE`) from one client IP within the signature window, or more than
//! `distinct_keys_max` distinct unknown (`INVALID_API_KEY`) or failing key ids from one IP
//! within the key window, trips that IP. A tripped IP is blocked for the block time (every
//! request answered 429 `RATE_LIMIT_EXCEEDED` with `reason: "ip_blocked"`, the protocol's
//! code for "back off", except from trusted networks), every operator whose real
//! key failed its signature from there is locked (`OperatorLocked`, reason naming the IP and
//! the counts), and a security alert is recorded and logged. Admins unlock operators with
//! the existing unlock command and unblock IPs here.
//!
//! Costs: a failure is one Redis round trip (an atomic script); a successful request costs
//! nothing extra in Redis: the block check reads this instance's copy of the block list,
//! refreshed from Redis once per interval. With Redis unreachable, failures are counted and
//! blocks kept per instance.
//!
//! Layout:
//! - [`config`]: the settings and their checked form ([`config::Thresholds`]).
//! - [`networks`]: CIDR lists (trusted networks, trusted proxies).
//! - [`client_ip`]: the client address behind a trusted proxy (`X-Forwarded-For`).
//! - [`redis_counts`]: the shared counts and block list, and their Lua scripts.
//! - [`local_counts`]: the per-instance counts used while Redis is unreachable.
//! - [`blocks`]: this instance's copy of the block list.
//! - [`response`]: what a trip sets off: operator locks, the alert, metrics.
//! - [`alerts`]: the `security_alerts` table.
//! - [`http`]: the block middleware, the failure hook of the headset edges, admin routes.

pub mod alerts;
pub mod blocks;
pub mod client_ip;
pub mod config;
pub mod http;
pub mod local_counts;
pub mod networks;
pub mod redis_counts;
pub mod response;

use std::net::IpAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use ledger_core::ids::OperatorId;
use serde::Serialize;

use self::blocks::BlockList;
use self::config::Thresholds;
use self::local_counts::LocalCounts;
use self::redis_counts::{RedisCounts, RedisUnavailable};

/// After Redis fails, failures are counted locally this long before Redis is tried again.
const REDIS_RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// A failure that counts toward a trip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// `INVALID_API_KEY`: no such key, or no longer live.
    UnknownKey { key_id: String },
    /// `INVALID_SIGNATURE` with a real key of `operator`.
    BadSignature {
        key_id: String,
        operator: OperatorId,
    },
}

impl Failure {
    pub fn key_id(&self) -> &str {
        match self {
            Failure::UnknownKey { key_id } | Failure::BadSignature { key_id, .. } => key_id,
        }
    }
}

/// The counts of an IP after one more failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    pub failed_signatures: u32,
    pub distinct_keys: u32,
    /// Set when this failure tripped the IP (once per block time, across instances).
    pub tripped: Option<Tripped>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tripped {
    /// Operators whose real keys failed their signatures from the IP within the window.
    pub operators: Vec<OperatorId>,
    /// Whether the IP was put on the block list (false for a trusted network).
    pub blocked: bool,
}

/// One block, as admins list it.
#[derive(Debug, Clone, Serialize)]
pub struct BlockView {
    pub ip: String,
    pub retry_after_seconds: u64,
    /// `shared` (in Redis, every instance) or `instance` (made while Redis was unreachable).
    pub scope: &'static str,
}

pub struct AnomalyGuard {
    thresholds: Thresholds,
    redis: RedisCounts,
    local: LocalCounts,
    blocks: BlockList,
    redis_skipped_until: Mutex<Option<Instant>>,
}

impl AnomalyGuard {
    /// `key_prefix` is the rate limiter's, so deployments sharing a Redis keep apart.
    pub fn new(
        thresholds: Thresholds,
        redis_url: &str,
        key_prefix: &str,
        redis_timeout: Duration,
    ) -> Result<AnomalyGuard, String> {
        Ok(AnomalyGuard {
            redis: RedisCounts::new(redis_url, key_prefix, redis_timeout)?,
            thresholds,
            local: LocalCounts::default(),
            blocks: BlockList::default(),
            redis_skipped_until: Mutex::new(None),
        })
    }

    pub fn thresholds(&self) -> &Thresholds {
        &self.thresholds
    }

    /// The client address of a request from `peer` carrying `forwarded_for`.
    pub fn client_ip(&self, peer: Option<IpAddr>, forwarded_for: Option<&str>) -> String {
        client_ip::client_ip(peer, forwarded_for, &self.thresholds.trusted_proxies)
    }

    /// Whole seconds `ip` stays blocked (at least 1), if it is. No Redis round trip.
    pub fn blocked_for(&self, ip: &str) -> Option<u64> {
        let left = self.blocks.remaining(ip, Instant::now())?;
        Some(
            left.as_millis()
                .div_ceil(1000)
                .max(1)
                .try_into()
                .unwrap_or(u64::MAX),
        )
    }

    /// Counts one failure from `ip`.
    pub async fn record(&self, ip: &str, failure: &Failure) -> Counted {
        let enforce = !self.thresholds.trusted_networks.contains_text(ip);
        let t = &self.thresholds;
        let (counted, shared) = match self.redis_if_worth_trying() {
            true => match self.redis.record(ip, failure, t, enforce).await {
                Ok(counted) => (counted, true),
                Err(cause) => {
                    self.redis_failed(&cause);
                    (
                        self.local.record(ip, failure, t, enforce, Instant::now()),
                        false,
                    )
                }
            },
            false => (
                self.local.record(ip, failure, t, enforce, Instant::now()),
                false,
            ),
        };
        if counted.tripped.as_ref().is_some_and(|t| t.blocked) {
            self.blocks.add(ip, Instant::now() + t.block, shared);
        }
        counted
    }

    /// Ends the block of `ip` on every instance (the others drop it at their next refresh)
    /// and forgets its counts; whether it was blocked.
    pub async fn unblock(&self, ip: &str) -> bool {
        let here = self.blocks.remove(ip);
        self.local.forget(ip);
        let shared = match self.redis.unblock(ip).await {
            Ok(removed) => removed,
            Err(cause) => {
                tracing::warn!(%cause, ip, "anomaly: unblock not written to redis; other instances keep the block until it ends");
                false
            }
        };
        here || shared
    }

    /// The blocks in force: the shared list, and this instance's local ones.
    pub async fn list_blocks(&self) -> Vec<BlockView> {
        let now = Instant::now();
        let seconds = |d: Duration| {
            d.as_millis()
                .div_ceil(1000)
                .max(1)
                .try_into()
                .unwrap_or(u64::MAX)
        };
        let mut views: Vec<BlockView> = match self.redis.blocks().await {
            Ok(blocks) => {
                self.blocks.replace_shared(&blocks, now);
                blocks
                    .into_iter()
                    .map(|b| BlockView {
                        ip: b.ip,
                        retry_after_seconds: seconds(b.remaining),
                        scope: "shared",
                    })
                    .collect()
            }
            Err(cause) => {
                tracing::warn!(%cause, "anomaly: block list not readable from redis");
                Vec::new()
            }
        };
        views.extend(
            self.blocks
                .local_only(now)
                .into_iter()
                .map(|(ip, left)| BlockView {
                    ip,
                    retry_after_seconds: seconds(left),
                    scope: "instance",
                }),
        );
        views.sort_by(|a, b| a.ip.cmp(&b.ip));
        views
    }

    /// Reads the shared block list once per refresh interval while the guard lives.
    pub fn spawn_refresher(self: &Arc<Self>) {
        let guard: Weak<AnomalyGuard> = Arc::downgrade(self);
        let interval = self.thresholds.block_refresh;
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(guard) = guard.upgrade() else {
                    return;
                };
                if let Ok(blocks) = guard.redis.blocks().await {
                    guard.blocks.replace_shared(&blocks, Instant::now());
                }
            }
        });
    }

    fn redis_if_worth_trying(&self) -> bool {
        let mut skipped = self.redis_skipped_until.lock().expect("redis retry lock");
        match *skipped {
            Some(until) if Instant::now() < until => false,
            Some(_) => {
                *skipped = None;
                true
            }
            None => true,
        }
    }

    fn redis_failed(&self, cause: &RedisUnavailable) {
        *self.redis_skipped_until.lock().expect("redis retry lock") =
            Some(Instant::now() + REDIS_RETRY_INTERVAL);
        tracing::warn!(%cause, "anomaly: redis unreachable, counting failures per instance");
    }
}
