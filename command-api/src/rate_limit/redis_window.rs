//! The shared sliding window: one sorted set per key in Redis, checked and recorded by one
//! Lua script, so a check is one round trip and atomic across every instance.

use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;

use super::Verdict;

/// Drops the entries older than the window, then admits and records the request if fewer
/// than `limit` remain; otherwise says when the oldest entry leaves the window. Time is
/// Redis's own clock (`TIME`), so instances with skewed clocks still share one window.
/// Entries are unique members (a uuid per request) scored by their time in milliseconds; the
/// key expires one window after its last admitted request.
const SLIDING_WINDOW: &str = r"
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, ARGV[3])
  redis.call('PEXPIRE', key, window)
  return {1, 0}
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return {0, tonumber(oldest[2]) + window - now}
";

/// Why Redis did not answer: the caller falls back to the local limiter either way.
#[derive(Debug, thiserror::Error)]
pub enum RedisUnavailable {
    #[error("redis error: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("redis answered {0:?}, not [admitted, retry_ms]")]
    Malformed(Vec<i64>),
}

pub struct RedisWindow {
    connection: ConnectionManager,
    script: Script,
    timeout: Duration,
}

impl RedisWindow {
    /// Connects lazily: Redis may be down at start-up, the local limiter covers until it is up.
    pub fn new(url: &str, timeout: Duration) -> Result<RedisWindow, String> {
        let client = redis::Client::open(url).map_err(|e| format!("MR_REDIS_URL: {e}"))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            // One quick attempt per check; the caller decides when to try Redis again.
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| format!("MR_REDIS_URL: {e}"))?;
        Ok(RedisWindow {
            connection,
            script: Script::new(SLIDING_WINDOW),
            timeout,
        })
    }

    pub async fn check(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
    ) -> Result<Verdict, RedisUnavailable> {
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        let member = uuid::Uuid::new_v4().simple().to_string();
        let mut connection = self.connection.clone();
        let mut invocation = self.script.key(key);
        invocation.arg(limit).arg(window_ms).arg(member);
        let answer: Vec<i64> =
            tokio::time::timeout(self.timeout, invocation.invoke_async(&mut connection))
                .await
                .map_err(|_| RedisUnavailable::Timeout(self.timeout))??;
        match answer.as_slice() {
            [1, _] => Ok(Verdict::Admitted),
            [0, retry_ms] => Ok(Verdict::Refused {
                retry_after: Duration::from_millis(u64::try_from(*retry_ms).unwrap_or(0)),
            }),
            _ => Err(RedisUnavailable::Malformed(answer)),
        }
    }
}
