//! The shared counts and block list in Redis. Each failure is one atomic script (one round
//! trip): record it, trim the windows, and trip the IP when a threshold is passed. Time is
//! Redis's own clock, so instances with skewed clocks share one window.
//!
//! Keys under `<prefix>:an:`: `sig:<ip>` (failed signatures, a sorted set of unique
//! members), `keys:<ip>` (distinct key ids, each scored by its last failure), `misused:<ip>`
//! (operators whose real key failed its signature), `tripped:<ip>` (set while a trip is in
//! force, so a trip answers once per block time across every instance) and `blocked` (the
//! block list: IP scored by the end of its block, in Redis milliseconds).

use std::time::Duration;

use ledger_core::ids::OperatorId;
use redis::Script;
use redis::aio::ConnectionManager;

use super::config::Thresholds;
use super::{Counted, Failure, Tripped};

/// Longest key id kept as a member: key ids are client-chosen text.
const KEY_ID_MEMBER_MAX: usize = 100;

const RECORD_FAILURE: &str = r"
local sigs, keys, misused, tripped, blocked = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local kind, key_id, operator, member = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local sig_max, sig_window = tonumber(ARGV[5]), tonumber(ARGV[6])
local keys_max, keys_window = tonumber(ARGV[7]), tonumber(ARGV[8])
local misuse_window, block_ms = tonumber(ARGV[9]), tonumber(ARGV[10])
local enforce, ip = ARGV[11], ARGV[12]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
if kind == 'sig' then
  redis.call('ZADD', sigs, now, member)
  redis.call('PEXPIRE', sigs, sig_window)
  redis.call('ZADD', misused, now, operator)
  redis.call('PEXPIRE', misused, misuse_window)
end
redis.call('ZADD', keys, now, key_id)
redis.call('PEXPIRE', keys, keys_window)
redis.call('ZREMRANGEBYSCORE', sigs, '-inf', now - sig_window)
redis.call('ZREMRANGEBYSCORE', keys, '-inf', now - keys_window)
redis.call('ZREMRANGEBYSCORE', misused, '-inf', now - misuse_window)
local sig_count = redis.call('ZCARD', sigs)
local key_count = redis.call('ZCARD', keys)
if sig_count <= sig_max and key_count <= keys_max then
  return {'0', tostring(sig_count), tostring(key_count)}
end
if not redis.call('SET', tripped, '1', 'NX', 'PX', block_ms) then
  return {'0', tostring(sig_count), tostring(key_count)}
end
if enforce == '1' then
  redis.call('ZADD', blocked, now + block_ms, ip)
  -- Every block lasts block_ms: the list is due to empty when its newest entry ends.
  redis.call('PEXPIRE', blocked, block_ms)
end
local answer = {'1', tostring(sig_count), tostring(key_count)}
for _, op in ipairs(redis.call('ZRANGE', misused, 0, -1)) do
  table.insert(answer, op)
end
return answer
";

/// The blocks in force, with Redis's time: `[now_ms, ip, until_ms, ip, until_ms, …]`.
const READ_BLOCKS: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local answer = {tostring(now)}
local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for _, value in ipairs(entries) do
  table.insert(answer, tostring(value))
end
return answer
";

/// Ends a block and forgets the IP's counts, so one more failure does not trip it again.
const UNBLOCK: &str = r"
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
return {tostring(removed)}
";

/// Why Redis did not answer: the caller counts locally instead.
#[derive(Debug, thiserror::Error)]
pub enum RedisUnavailable {
    #[error("redis error: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("redis answered {0:?}")]
    Malformed(Vec<String>),
}

/// One block as Redis keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedBlock {
    pub ip: String,
    /// How long it still runs, by Redis's clock.
    pub remaining: Duration,
    pub until_ms: i64,
}

pub struct RedisCounts {
    connection: ConnectionManager,
    prefix: String,
    timeout: Duration,
    record: Script,
    read_blocks: Script,
    unblock: Script,
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl RedisCounts {
    /// Connects lazily: Redis may be down at start-up, local counting covers until it is up.
    pub fn new(url: &str, prefix: &str, timeout: Duration) -> Result<RedisCounts, String> {
        let client = redis::Client::open(url).map_err(|e| format!("MR_REDIS_URL: {e}"))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| format!("MR_REDIS_URL: {e}"))?;
        Ok(RedisCounts {
            connection,
            prefix: format!("{prefix}:an"),
            timeout,
            record: Script::new(RECORD_FAILURE),
            read_blocks: Script::new(READ_BLOCKS),
            unblock: Script::new(UNBLOCK),
        })
    }

    fn per_ip_keys(&self, ip: &str) -> [String; 4] {
        ["sig", "keys", "misused", "tripped"].map(|kind| format!("{}:{kind}:{ip}", self.prefix))
    }

    fn blocked_key(&self) -> String {
        format!("{}:blocked", self.prefix)
    }

    async fn invoke(
        &self,
        invocation: redis::ScriptInvocation<'_>,
    ) -> Result<Vec<String>, RedisUnavailable> {
        let mut connection = self.connection.clone();
        Ok(
            tokio::time::timeout(self.timeout, invocation.invoke_async(&mut connection))
                .await
                .map_err(|_| RedisUnavailable::Timeout(self.timeout))??,
        )
    }

    /// Records one failure from `ip`; `enforce` is false for a trusted IP (counted, never
    /// put on the block list).
    pub async fn record(
        &self,
        ip: &str,
        failure: &Failure,
        thresholds: &Thresholds,
        enforce: bool,
    ) -> Result<Counted, RedisUnavailable> {
        let [sigs, keys, misused, tripped] = self.per_ip_keys(ip);
        let (kind, operator) = match failure {
            Failure::BadSignature { operator, .. } => ("sig", operator.to_string()),
            Failure::UnknownKey { .. } => ("key", String::new()),
        };
        let key_id: String = failure.key_id().chars().take(KEY_ID_MEMBER_MAX).collect();
        let mut invocation = self.record.prepare_invoke();
        invocation
            .key(sigs)
            .key(keys)
            .key(misused)
            .key(tripped)
            .key(self.blocked_key())
            .arg(kind)
            .arg(key_id)
            .arg(operator)
            .arg(uuid::Uuid::new_v4().simple().to_string())
            .arg(thresholds.signature_failures_max)
            .arg(millis(thresholds.signature_window))
            .arg(thresholds.distinct_keys_max)
            .arg(millis(thresholds.distinct_keys_window))
            .arg(millis(thresholds.misuse_window()))
            .arg(millis(thresholds.block))
            .arg(if enforce { "1" } else { "0" })
            .arg(ip);
        let answer = self.invoke(invocation).await?;
        let malformed = || RedisUnavailable::Malformed(answer.clone());
        let number = |i: usize| answer.get(i).and_then(|n| n.parse::<u32>().ok());
        let (Some(failed_signatures), Some(distinct_keys)) = (number(1), number(2)) else {
            return Err(malformed());
        };
        let tripped = match answer[0].as_str() {
            "0" => None,
            "1" => Some(Tripped {
                operators: answer[3..]
                    .iter()
                    .map(|id| id.parse().map(OperatorId).map_err(|_| malformed()))
                    .collect::<Result<_, _>>()?,
                blocked: enforce,
            }),
            _ => return Err(malformed()),
        };
        Ok(Counted {
            failed_signatures,
            distinct_keys,
            tripped,
        })
    }

    /// The blocks in force.
    pub async fn blocks(&self) -> Result<Vec<SharedBlock>, RedisUnavailable> {
        let mut invocation = self.read_blocks.prepare_invoke();
        invocation.key(self.blocked_key());
        let answer = self.invoke(invocation).await?;
        let malformed = || RedisUnavailable::Malformed(answer.clone());
        let now: i64 = answer
            .first()
            .and_then(|n| n.parse().ok())
            .ok_or_else(malformed)?;
        answer[1..]
            .chunks(2)
            .map(|pair| match pair {
                [ip, until] => {
                    let until_ms: i64 = until.parse().map_err(|_| malformed())?;
                    let left = u64::try_from(until_ms - now).unwrap_or(0);
                    Ok(SharedBlock {
                        ip: ip.clone(),
                        remaining: Duration::from_millis(left),
                        until_ms,
                    })
                }
                _ => Err(malformed()),
            })
            .collect()
    }

    /// Ends the block of `ip` (and forgets its counts); whether one was in the list.
    pub async fn unblock(&self, ip: &str) -> Result<bool, RedisUnavailable> {
        let [sigs, keys, misused, tripped] = self.per_ip_keys(ip);
        let mut invocation = self.unblock.prepare_invoke();
        invocation
            .key(self.blocked_key())
            .key(sigs)
            .key(keys)
            .key(misused)
            .key(tripped)
            .arg(ip);
        let answer = self.invoke(invocation).await?;
        Ok(answer.first().is_some_and(|n| n != "0"))
    }
}

/// Against the Redis of the test environment (`127.0.0.1:6379`), each test under a prefix of
/// its own.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::anomaly::config::AnomalySettings;

    fn counts() -> RedisCounts {
        let prefix = format!("test:{}", uuid::Uuid::new_v4().simple());
        RedisCounts::new("redis://127.0.0.1:6379", &prefix, Duration::from_secs(2)).unwrap()
    }

    fn thresholds() -> Thresholds {
        Thresholds::from_settings(&AnomalySettings::default()).unwrap()
    }

    #[tokio::test]
    async fn the_script_trips_once_blocks_and_forgets_on_unblock() {
        let (redis, t) = (counts(), thresholds());
        let operator = OperatorId(uuid::Uuid::new_v4());
        let failure = Failure::BadSignature {
            key_id: "mrk_real".to_owned(),
            operator,
        };
        for n in 1..=20 {
            let counted = redis
                .record("198.51.100.1", &failure, &t, true)
                .await
                .unwrap();
            assert_eq!((counted.failed_signatures, counted.distinct_keys), (n, 1));
            assert!(counted.tripped.is_none());
        }
        let counted = redis
            .record("198.51.100.1", &failure, &t, true)
            .await
            .unwrap();
        assert_eq!(
            counted.tripped,
            Some(Tripped {
                operators: vec![operator],
                blocked: true
            })
        );
        let again = redis
            .record("198.51.100.1", &failure, &t, true)
            .await
            .unwrap();
        assert!(again.tripped.is_none(), "one trip per block time");
        let blocks = redis.blocks().await.unwrap();
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].ip, "198.51.100.1");
        assert!(blocks[0].remaining <= t.block && blocks[0].remaining > Duration::ZERO);

        assert!(redis.unblock("198.51.100.1").await.unwrap());
        assert!(redis.blocks().await.unwrap().is_empty());
        let fresh = redis
            .record("198.51.100.1", &failure, &t, true)
            .await
            .unwrap();
        assert_eq!(fresh.failed_signatures, 1, "the counts were forgotten");
        assert!(!redis.unblock("198.51.100.2").await.unwrap());
    }

    #[tokio::test]
    async fn a_trusted_ip_trips_without_a_block_and_unknown_keys_name_no_operator() {
        let (redis, t) = (counts(), thresholds());
        for n in 0..6 {
            let failure = Failure::UnknownKey {
                key_id: format!("mrk_{n}"),
            };
            let counted = redis
                .record("203.0.113.5", &failure, &t, false)
                .await
                .unwrap();
            assert_eq!(counted.tripped.is_some(), n == 5, "failure {n}");
            if let Some(tripped) = counted.tripped {
                assert_eq!(
                    tripped,
                    Tripped {
                        operators: vec![],
                        blocked: false
                    }
                );
            }
        }
        assert!(redis.blocks().await.unwrap().is_empty());
    }
}
