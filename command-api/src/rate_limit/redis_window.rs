//! The shared sliding window in Redis, checked and recorded by one Lua script, so a check is
//! one round trip and atomic across every instance: exact for ordinary limits, two counters
//! for very large ones ([`EXACT_LIMIT_MAX`]).

use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;

use super::Verdict;

/// Limits up to this many requests per window are counted exactly (a log of every admission);
/// larger ones — a chain's override, a benchmark's raised limits — by two counters, so no
/// key ever holds more than a few bytes however high the limit.
pub const EXACT_LIMIT_MAX: u32 = 1000;

/// One round trip, atomic, on Redis's own clock (`TIME`), so instances with skewed clocks
/// share one window. Answers `{1, 0, granted}` (admitted and recorded, `granted` admissions
/// in all: 1, or a lease) or `{0, retry_ms, 0}`.
///
/// - `limit <= EXACT_LIMIT_MAX`: a sorted set of admissions (unique members scored by their
///   time in ms); entries older than the window are dropped, the request is admitted if
///   fewer than `limit` remain, else it may retry when the oldest leaves the window. The key
///   expires one window after its last admission.
/// - larger limits (asking for a lease of `ARGV[5]` admissions, at least 1): the sliding window
///   counter — a count per fixed window (`<key>:w<index>`),
///   the previous window's count weighted by the share of it still inside the sliding window
///   plus the current one must leave room for this request. It errs by at most the previous
///   window's uneven spread, which matters little at such limits; retry is when the estimate
///   leaves room if nothing else arrives. Counters expire two windows after their last use.
const SLIDING_WINDOW: &str = r"
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
if limit <= tonumber(ARGV[4]) then
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) < limit then
    redis.call('ZADD', key, now, ARGV[3])
    redis.call('PEXPIRE', key, window)
    return {1, 0, 1}
  end
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return {0, tonumber(oldest[2]) + window - now, 0}
end
local index = math.floor(now / window)
local into = now - index * window
local current_key = key .. ':w' .. index
local previous = tonumber(redis.call('GET', key .. ':w' .. (index - 1)) or '0')
local current = tonumber(redis.call('GET', current_key) or '0')
local room = math.floor(limit - previous * (window - into) / window - current)
if room >= 1 then
  local granted = math.min(room, tonumber(ARGV[5]))
  redis.call('INCRBY', current_key, granted)
  redis.call('PEXPIRE', current_key, window * 2)
  return {1, 0, granted}
end
local wait
if current + 1 <= limit and previous > 0 then
  wait = math.ceil(window * (1 - (limit - current - 1) / previous)) - into
else
  local later = 0
  if current > 0 then
    later = math.max(0, math.ceil(window * (1 - (limit - 1) / current)))
  end
  wait = window - into + later
end
return {0, math.max(wait, 1), 0}
";

/// Why Redis did not answer: the caller falls back to the local limiter either way.
#[derive(Debug, thiserror::Error)]
pub enum RedisUnavailable {
    #[error("redis error: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("redis answered {0:?}, not [admitted, retry_ms, granted]")]
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

    /// One request under `limit`, asking for `lease` admissions at once where the limit is
    /// large enough to count with counters; answers the verdict and the admissions granted.
    pub async fn check(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
        lease: u32,
    ) -> Result<(Verdict, u32), RedisUnavailable> {
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        let member = uuid::Uuid::new_v4().simple().to_string();
        let mut connection = self.connection.clone();
        let mut invocation = self.script.key(key);
        invocation
            .arg(limit)
            .arg(window_ms)
            .arg(member)
            .arg(EXACT_LIMIT_MAX)
            .arg(lease.max(1));
        let answer: Vec<i64> =
            tokio::time::timeout(self.timeout, invocation.invoke_async(&mut connection))
                .await
                .map_err(|_| RedisUnavailable::Timeout(self.timeout))??;
        match answer.as_slice() {
            [1, _, granted] => Ok((
                Verdict::Admitted,
                u32::try_from(*granted).unwrap_or(1).max(1),
            )),
            [0, retry_ms, _] => Ok((
                Verdict::Refused {
                    retry_after: Duration::from_millis(u64::try_from(*retry_ms).unwrap_or(0)),
                },
                0,
            )),
            _ => Err(RedisUnavailable::Malformed(answer)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window() -> RedisWindow {
        RedisWindow::new("redis://127.0.0.1:6379", Duration::from_secs(2)).unwrap()
    }

    fn fresh_key() -> String {
        format!("mr:rl:unit:{}", uuid::Uuid::new_v4().simple())
    }

    async fn admitted(window: &RedisWindow, key: &str, limit: u32, n: u32, span: Duration) -> u32 {
        let mut admitted = 0;
        for _ in 0..n {
            if window.check(key, limit, span, 1).await.unwrap().0 == Verdict::Admitted {
                admitted += 1;
            }
        }
        admitted
    }

    #[tokio::test]
    async fn small_limits_are_exact_and_say_when_to_retry() {
        let (window, key) = (window(), fresh_key());
        let span = Duration::from_secs(60);
        assert_eq!(admitted(&window, &key, 10, 15, span).await, 10);
        match window.check(&key, 10, span, 1).await.unwrap().0 {
            Verdict::Refused { retry_after } => {
                assert!(retry_after > Duration::from_secs(59), "{retry_after:?}")
            }
            Verdict::Admitted => panic!("the eleventh was admitted"),
        }
    }

    #[tokio::test]
    async fn large_limits_count_with_two_counters_and_keep_the_limit() {
        let (window, key) = (window(), fresh_key());
        // An hour's window: the test never straddles two of them in practice.
        let span = Duration::from_secs(3600);
        let limit = EXACT_LIMIT_MAX + 1;
        assert_eq!(admitted(&window, &key, limit, limit + 5, span).await, limit);
        match window.check(&key, limit, span, 1).await.unwrap().0 {
            Verdict::Refused { retry_after } => assert!(retry_after > Duration::ZERO),
            Verdict::Admitted => panic!("admitted beyond the limit"),
        }
        // Two counters at most, never one entry per request.
        let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
        let mut redis = client.get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{key}*"))
            .query_async(&mut redis)
            .await
            .unwrap();
        assert_eq!(keys.len(), 1, "{keys:?}");
        let kind: String = redis::cmd("TYPE")
            .arg(&keys[0])
            .query_async(&mut redis)
            .await
            .unwrap();
        assert_eq!(kind, "string");
    }

    #[tokio::test]
    async fn a_lease_is_granted_whole_while_there_is_room_and_cut_at_the_limit() {
        let (window, key) = (window(), fresh_key());
        let span = Duration::from_secs(3600);
        let limit = 2000;
        let granted = window.check(&key, limit, span, 1500).await.unwrap();
        assert_eq!(granted, (Verdict::Admitted, 1500));
        // Only 500 left: the next lease is cut to them, then nothing is left.
        let granted = window.check(&key, limit, span, 1500).await.unwrap();
        assert_eq!(granted, (Verdict::Admitted, 500));
        let (verdict, granted) = window.check(&key, limit, span, 1500).await.unwrap();
        assert!(matches!(verdict, Verdict::Refused { .. }), "{verdict:?}");
        assert_eq!(granted, 0);
    }
}
