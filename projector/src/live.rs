//! Live push, the publishing half: after a batch commits, what it changed for people
//! watching (an operator's balance, new games, messages; finance's figures) goes out on a
//! Redis pub/sub channel, where every query-api instance picks it up for its SSE clients.
//!
//! Publishing is best effort and never holds the projector up: a batch's changes are handed
//! to a task of their own through a bounded queue (full → dropped and counted), and that task
//! talks to Redis through a `ConnectionManager`, which reconnects by itself. Redis being down
//! costs live viewers their updates (they refetch on reconnect), never a projected event.
//! Only committed batches are published: [`LiveChanges`] are collected while a batch folds and
//! handed over by the caller after `COMMIT` returned.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ledger_core::ids::{AppId, OperatorId, SessionId, SiteId};
use ledger_core::money::Money;
use ledger_core::operator::OperatorEvent;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::fold::{FanOut, Messages};
use crate::source::{Payload, StoredEvent, StreamId};

/// Version of the message on the channel; query-api ignores messages of another version.
pub const WIRE_VERSION: u32 = 1;

/// Batches waiting to be published. A batch is published within milliseconds; a full queue
/// means Redis is stuck, and then dropping is right (viewers resync when they reconnect).
const QUEUE: usize = 256;

/// How long one `PUBLISH` (or connecting for it) may take before it is given up.
const REDIS_TIMEOUT: Duration = Duration::from_secs(1);

/// At most one warning per this interval while Redis keeps failing.
const WARN_EVERY: Duration = Duration::from_secs(30);

/// Games of one operator kept per message: a batch holds at most `BATCH_SIZE` events anyway;
/// this only bounds the message should that grow.
const USAGE_PER_OPERATOR_MAX: usize = 1000;

/// The balance after the batch and the position of the event that set it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BalanceAt {
    pub balance: Money,
    pub position: i64,
}

/// One authorized game, as an operator's live view shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Usage {
    pub session_id: SessionId,
    pub site_id: SiteId,
    pub app_id: AppId,
    pub app_name: String,
    pub player_count: u32,
    pub unit_price: Money,
    pub total_cost: Money,
    pub balance_after: Money,
    pub authorized_at: DateTime<Utc>,
    pub position: i64,
}

/// What changed for one operator.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OperatorChange {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance: Option<BalanceAt>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub usage: Vec<Usage>,
    /// A message was created or marked read: the unread count may have moved.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub messages: bool,
}

/// What one batch changed for live viewers: the message published on the channel.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LiveChanges {
    pub v: u32,
    pub operators: BTreeMap<OperatorId, OperatorChange>,
    /// A message went to many operators (announcement, price change): every operator's
    /// unread count may have moved.
    pub all_operators_messages: bool,
    /// Money moved: finance's figures of the day changed.
    pub finance: bool,
}

impl LiveChanges {
    pub fn new() -> LiveChanges {
        LiveChanges {
            v: WIRE_VERSION,
            ..LiveChanges::default()
        }
    }

    /// Nothing a viewer would see changed.
    pub fn is_empty(&self) -> bool {
        self.operators.is_empty() && !self.all_operators_messages && !self.finance
    }

    /// Notes an applied event: balances and games of operators' streams.
    pub(crate) fn record(&mut self, event: &StoredEvent) {
        let (StreamId::Operator(operator), Payload::Operator(payload)) =
            (&event.stream, &event.payload)
        else {
            return;
        };
        let position = event.key.position;
        if let Some((_, _, balance_after)) = payload.money_movement() {
            self.finance = true;
            let change = self.operators.entry(*operator).or_default();
            change.balance = Some(BalanceAt {
                balance: balance_after,
                position,
            });
        }
        if let OperatorEvent::GameAuthorized {
            session_id,
            app_id,
            app_name,
            site_id,
            player_count,
            unit_price,
            total_cost,
            balance_after,
            authorized_at,
            ..
        } = payload
        {
            let change = self.operators.entry(*operator).or_default();
            if change.usage.len() < USAGE_PER_OPERATOR_MAX {
                change.usage.push(Usage {
                    session_id: session_id.clone(),
                    site_id: *site_id,
                    app_id: *app_id,
                    app_name: app_name.clone(),
                    player_count: *player_count,
                    unit_price: *unit_price,
                    total_cost: *total_cost,
                    balance_after: *balance_after,
                    authorized_at: *authorized_at,
                    position,
                });
            }
        }
    }

    /// Notes the messages folded since the batch last wrote (created or marked read), before
    /// they are written and forgotten.
    pub(crate) fn record_messages(&mut self, messages: &Messages) {
        for row in messages.created() {
            self.operators.entry(row.operator_id).or_default().messages = true;
        }
        for mark in messages.marks() {
            self.operators.entry(mark.operator_id).or_default().messages = true;
        }
    }

    /// Notes a message to many operators.
    pub(crate) fn record_fan_out(&mut self, _fan_out: &FanOut) {
        // Its recipients are chosen by SQL over the read tables; which of them are watching
        // is for each query-api instance to know.
        self.all_operators_messages = true;
    }
}

/// Hands committed batches' changes to the publishing task. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LivePublisher {
    queue: Option<mpsc::Sender<LiveChanges>>,
}

impl LivePublisher {
    /// Publishes nothing (tests, `rebuild`).
    pub fn disabled() -> LivePublisher {
        LivePublisher { queue: None }
    }

    /// Starts the publishing task for `channel` on the Redis at `url`. Only a malformed URL
    /// fails here; Redis itself is contacted lazily and may come and go.
    pub fn start(url: &str, channel: &str) -> Result<LivePublisher, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_lazy_with_config(client, config)?;
        let (queue, batches) = mpsc::channel(QUEUE);
        tokio::spawn(publish_all(connection, channel.to_owned(), batches));
        Ok(LivePublisher { queue: Some(queue) })
    }

    /// Queues a committed batch's changes; never waits.
    pub fn publish(&self, changes: LiveChanges) {
        let Some(queue) = &self.queue else { return };
        if changes.is_empty() {
            return;
        }
        if let Err(mpsc::error::TrySendError::Full(_)) = queue.try_send(changes) {
            tracing::debug!("live push queue full: a batch's changes were dropped");
        }
    }
}

/// Publishes queued changes until every [`LivePublisher`] is dropped.
async fn publish_all(
    mut connection: ConnectionManager,
    channel: String,
    mut batches: mpsc::Receiver<LiveChanges>,
) {
    let mut failures = FailureLog::default();
    while let Some(changes) = batches.recv().await {
        let message = serde_json::to_string(&changes).expect("live changes serialize");
        let sent = tokio::time::timeout(
            REDIS_TIMEOUT,
            redis::cmd("PUBLISH")
                .arg(&channel)
                .arg(&message)
                .query_async::<i64>(&mut connection),
        )
        .await;
        match sent {
            Ok(Ok(_receivers)) => failures.recovered(),
            Ok(Err(e)) => failures.failed(&e.to_string()),
            Err(_) => failures.failed("timed out"),
        }
    }
}

/// Rate-limits the warnings of a Redis that stays down.
#[derive(Debug, Default)]
struct FailureLog {
    dropped: u64,
    last_warning: Option<Instant>,
}

impl FailureLog {
    fn failed(&mut self, error: &str) {
        self.dropped += 1;
        let due = self
            .last_warning
            .is_none_or(|at| at.elapsed() >= WARN_EVERY);
        if due {
            tracing::warn!(
                error,
                dropped = self.dropped,
                "live push: publishing to Redis failed; projecting goes on"
            );
            self.last_warning = Some(Instant::now());
        }
    }

    fn recovered(&mut self) {
        if self.dropped > 0 {
            tracing::info!(dropped = self.dropped, "live push: Redis reachable again");
            self.dropped = 0;
            self.last_warning = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::checkpoint::EventKey;

    const OPERATOR: &str = "0190a0b0-0000-7000-8000-000000000001";
    const OTHER: &str = "0190a0b0-0000-7000-8000-000000000009";

    fn operator_event(operator: &str, position: i64, payload: serde_json::Value) -> StoredEvent {
        StoredEvent {
            key: EventKey { tx_id: 7, position },
            stream: StreamId::Operator(OperatorId(operator.parse().unwrap())),
            sequence: position,
            payload: Payload::Operator(serde_json::from_value(payload).unwrap()),
            recorded: None,
        }
    }

    fn game(position: i64, balance_after: &str) -> StoredEvent {
        operator_event(
            OPERATOR,
            position,
            json!({"GameAuthorized": {
                "session_id": format!("{OPERATOR}_1795262400000_sess{position:012}"),
                "authorization_token": "0190a0b0-0000-7000-8000-0000000000aa",
                "app_id": "0190a0b0-0000-7000-8000-000000000003",
                "app_name": "太空探险",
                "site_id": "0190a0b0-0000-7000-8000-000000000002",
                "player_count": 5,
                "unit_price": "10.00",
                "total_cost": "50.00",
                "balance_after": balance_after,
                "authorized_at": "2026-11-21T12:30:00Z"
            }}),
        )
    }

    #[test]
    fn games_give_their_operator_the_last_balance_and_every_usage() {
        let mut changes = LiveChanges::new();
        changes.record(&game(10, "450.00"));
        changes.record(&game(11, "400.00"));
        let change = &changes.operators[&OperatorId(OPERATOR.parse().unwrap())];
        assert_eq!(
            change.balance,
            Some(BalanceAt {
                balance: Money::parse("400.00").unwrap(),
                position: 11
            })
        );
        assert_eq!(change.usage.len(), 2);
        assert_eq!(change.usage[1].total_cost.to_string(), "50.00");
        assert!(changes.finance && !change.messages && changes.operators.len() == 1);
    }

    #[test]
    fn events_that_move_no_money_leave_nothing_to_publish() {
        let mut changes = LiveChanges::new();
        changes.record(&operator_event(
            OTHER,
            3,
            json!({"GameEnded": {
                "session_id": format!("{OTHER}_1795262400000_sess000000000001"),
                "duration_seconds": 754,
                "ended_at": "2026-11-21T12:22:34Z"
            }}),
        ));
        assert!(changes.is_empty());
    }

    #[test]
    fn the_message_on_the_channel_has_the_shape_query_api_reads() {
        let mut changes = LiveChanges::new();
        changes.record(&game(10, "450.00"));
        let message = serde_json::to_value(&changes).unwrap();
        assert_eq!(message["v"], WIRE_VERSION);
        assert_eq!(message["finance"], true);
        assert_eq!(message["all_operators_messages"], false);
        let change = &message["operators"][OPERATOR];
        assert_eq!(
            change["balance"],
            json!({"balance": "450.00", "position": 10})
        );
        assert_eq!(change["usage"][0]["position"], 10);
        assert_eq!(change["usage"][0]["player_count"], 5);
        assert!(change.get("messages").is_none());
    }
}
