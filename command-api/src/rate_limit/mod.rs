//! Rate limits (PRODUCT.md X1): per client IP on every endpoint, per operator on game
//! authorization. Counts live in Redis (a sliding window, one atomic script per check) so
//! every instance shares them; when Redis cannot answer, an in-process window with the same
//! limits takes over (per instance) and readiness reports `"rate_limiter": "local"`.
//!
//! Where the checks sit in the headset protocol's order: the per-IP check runs first, before
//! the body is read (a middleware around every route); the per-operator check runs in the
//! authorize handler once params are valid and the key id is known (the operator comes from
//! the key), before timestamp, signature and everything that could charge — a refused
//! authorization charges nothing.
//!
//! Layout:
//! - [`config`]: the settings and their checked form ([`config::Limits`]).
//! - [`redis_window`]: the Redis window and its Lua script.
//! - [`leases`]: blocks of admissions taken at once for very large limits.
//! - [`local`]: the in-process window used while Redis is unreachable.
//! - [`http`]: the per-IP middleware, the authorize hook and the 429 answer.

pub mod config;
pub mod http;
pub mod leases;
pub mod local;
pub mod redis_window;

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ledger_core::ids::OperatorId;
use ledger_core::operator::Category;

use self::config::Limits;
use self::leases::{Leases, lease_size};
use self::local::LocalWindow;
use self::redis_window::RedisWindow;

/// After Redis fails, checks stay local this long before Redis is tried again: a dead Redis
/// costs one timeout per interval, not one per request.
const REDIS_RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// While Redis stays unreachable, the fallback is logged at most once per interval.
const FALLBACK_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// How long an operator's category is trusted before it is read again (only read when
/// categories have different limits): a category change applies within this time.
const CATEGORY_CACHE_TTL: Duration = Duration::from_secs(60);

/// Whether this process's limiter currently counts locally (Redis unreachable); for metrics.
/// With several limiters in one process (tests), the last check wins.
pub static LOCAL_FALLBACK_ACTIVE: AtomicBool = AtomicBool::new(false);

/// Requests refused with 429 by this process, both scopes; for metrics.
pub static REJECTED_TOTAL: AtomicU64 = AtomicU64::new(0);

/// The answer of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Admitted,
    Refused { retry_after: Duration },
}

/// A refused request: what the 429 tells the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exceeded {
    pub limit: u32,
    pub window_seconds: u64,
    /// Whole seconds until a request would be admitted (at least 1).
    pub retry_after: u64,
}

/// Where the counts currently live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Redis,
    Local,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Redis => "redis",
            Backend::Local => "local",
        }
    }
}

pub struct RateLimiter {
    limits: Limits,
    redis: RedisWindow,
    leases: Leases,
    local: LocalWindow,
    using_local: AtomicBool,
    /// Until when checks skip Redis (it failed recently).
    redis_skipped_until: Mutex<Option<Instant>>,
    last_fallback_log: Mutex<Option<Instant>>,
    categories: Mutex<HashMap<OperatorId, (Category, Instant)>>,
}

impl RateLimiter {
    pub fn new(limits: Limits, redis_url: &str) -> Result<RateLimiter, String> {
        let redis = RedisWindow::new(redis_url, Duration::from_millis(limits.redis_timeout_ms))?;
        Ok(RateLimiter {
            limits,
            redis,
            leases: Leases::default(),
            local: LocalWindow::default(),
            using_local: AtomicBool::new(false),
            redis_skipped_until: Mutex::new(None),
            last_fallback_log: Mutex::new(None),
            categories: Mutex::new(HashMap::new()),
        })
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Where the last check counted: readiness and metrics show it.
    pub fn backend(&self) -> Backend {
        if self.using_local.load(Ordering::Relaxed) {
            Backend::Local
        } else {
            Backend::Redis
        }
    }

    /// One request from `ip`, on any endpoint.
    pub async fn check_ip(&self, ip: &str) -> Result<(), Exceeded> {
        let key = format!("{}:ip:{ip}", self.limits.key_prefix);
        let verdict = self.check(&key, self.limits.per_ip).await;
        verdict.inspect_err(|_| crate::metrics::rate_limit_blocked("ip"))
    }

    /// One game authorization of `operator`. `category` loads the operator's category; it is
    /// only called when the categories' limits differ and the operator has no override, and
    /// its answer is kept for [`CATEGORY_CACHE_TTL`]. Its error (the store's) is passed on.
    pub async fn check_operator<F, Fut, E>(
        &self,
        operator: OperatorId,
        category: F,
    ) -> Result<Result<(), Exceeded>, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Category, E>>,
    {
        let category =
            if self.limits.categories_differ() && !self.limits.overrides.contains_key(&operator) {
                self.category_of(operator, category).await?
            } else {
                Category::default()
            };
        let limit = self.limits.of_operator(operator, category);
        let key = format!("{}:op:{operator}", self.limits.key_prefix);
        let verdict = self.check(&key, limit).await;
        Ok(verdict.inspect_err(|_| crate::metrics::rate_limit_blocked("operator")))
    }

    async fn category_of<F, Fut, E>(&self, operator: OperatorId, load: F) -> Result<Category, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Category, E>>,
    {
        let now = Instant::now();
        if let Some((category, at)) = self
            .categories
            .lock()
            .expect("category cache lock")
            .get(&operator)
            && now - *at < CATEGORY_CACHE_TTL
        {
            return Ok(*category);
        }
        let category = load().await?;
        self.categories
            .lock()
            .expect("category cache lock")
            .insert(operator, (category, now));
        Ok(category)
    }

    async fn check(&self, key: &str, limit: u32) -> Result<(), Exceeded> {
        if !self.limits.enabled {
            return Ok(());
        }
        let leasing = limit > redis_window::EXACT_LIMIT_MAX;
        if leasing && self.leases.take(key, Instant::now()) {
            return Ok(());
        }
        let window = Duration::from_secs(self.limits.window_seconds);
        let ask = if leasing { lease_size(limit) } else { 1 };
        let verdict = match self.redis_if_worth_trying() {
            false => self.local_check(key, limit, window),
            true => match self.redis.check(key, limit, window, ask).await {
                Ok((verdict, granted)) => {
                    self.redis_answered();
                    if verdict == Verdict::Admitted && granted > 1 {
                        // This request is the first of the lease.
                        self.leases.grant(key, granted - 1, Instant::now());
                    }
                    verdict
                }
                Err(cause) => {
                    self.redis_failed(&cause);
                    self.local_check(key, limit, window)
                }
            },
        };
        match verdict {
            Verdict::Admitted => Ok(()),
            Verdict::Refused { retry_after } => {
                REJECTED_TOTAL.fetch_add(1, Ordering::Relaxed);
                Err(Exceeded {
                    limit,
                    window_seconds: self.limits.window_seconds,
                    retry_after: whole_seconds_at_least_one(retry_after),
                })
            }
        }
    }

    fn local_check(&self, key: &str, limit: u32, window: Duration) -> Verdict {
        self.local.check(key, limit, window, Instant::now())
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

    fn redis_answered(&self) {
        if self.using_local.swap(false, Ordering::Relaxed) {
            tracing::info!("rate limiter: redis answers again, counting in redis");
        }
        LOCAL_FALLBACK_ACTIVE.store(false, Ordering::Relaxed);
    }

    fn redis_failed(&self, cause: &redis_window::RedisUnavailable) {
        let now = Instant::now();
        *self.redis_skipped_until.lock().expect("redis retry lock") =
            Some(now + REDIS_RETRY_INTERVAL);
        self.using_local.store(true, Ordering::Relaxed);
        LOCAL_FALLBACK_ACTIVE.store(true, Ordering::Relaxed);
        let mut last = self.last_fallback_log.lock().expect("fallback log lock");
        if last.is_none_or(|at| now - at >= FALLBACK_LOG_INTERVAL) {
            *last = Some(now);
            tracing::warn!(%cause, "rate limiter: redis unreachable, counting per instance");
        }
    }
}

fn whole_seconds_at_least_one(duration: Duration) -> u64 {
    duration
        .as_millis()
        .div_ceil(1000)
        .max(1)
        .try_into()
        .unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::config::RateLimitSettings;
    use super::*;

    fn limiter(per_ip: u32) -> (RateLimiter, String) {
        let prefix = format!("mr:rl:unit:{}", uuid::Uuid::new_v4().simple());
        let settings = RateLimitSettings {
            rate_limit_key_prefix: prefix.clone(),
            rate_limit_per_ip: per_ip,
            ..RateLimitSettings::default()
        };
        let limits = Limits::from_settings(&settings).unwrap();
        (
            RateLimiter::new(limits, "redis://127.0.0.1:6379").unwrap(),
            prefix,
        )
    }

    /// The sum of the window counters Redis holds under `prefix`.
    async fn counted_in_redis(prefix: &str) -> i64 {
        let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
        let mut redis = client.get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}:*"))
            .query_async(&mut redis)
            .await
            .unwrap();
        let mut total = 0;
        for key in keys {
            let n: i64 = redis::cmd("GET")
                .arg(&key)
                .query_async(&mut redis)
                .await
                .unwrap();
            total += n;
        }
        total
    }

    #[tokio::test]
    async fn a_large_limit_takes_admissions_from_redis_a_lease_at_a_time() {
        let (limiter, prefix) = limiter(5_000);
        // 1% of 5,000: one round trip per 50 requests.
        for _ in 0..120 {
            limiter.check_ip("192.0.2.1").await.unwrap();
        }
        assert_eq!(counted_in_redis(&prefix).await, 150);
        assert_eq!(limiter.backend(), Backend::Redis);
    }

    #[tokio::test]
    async fn leases_never_admit_past_the_limit() {
        let (limiter, _) = limiter(1_001);
        let mut admitted = 0;
        for _ in 0..1_100 {
            if limiter.check_ip("192.0.2.2").await.is_ok() {
                admitted += 1;
            }
        }
        assert_eq!(admitted, 1_001);
    }
}
