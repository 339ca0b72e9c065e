//! The message the projector publishes after each committed batch (`projector::live`), as
//! read here. Amounts stay JSON strings; unknown fields are ignored so the projector can add
//! some, and a message of another `v` is dropped.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ledger_core::ids::{AppId, OperatorId, SessionId, SiteId};
use ledger_core::money::Money;
use serde::{Deserialize, Serialize};

/// The version of the message this instance understands.
pub const WIRE_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LiveChanges {
    pub v: u32,
    #[serde(default)]
    pub operators: BTreeMap<OperatorId, OperatorChange>,
    #[serde(default)]
    pub all_operators_messages: bool,
    #[serde(default)]
    pub finance: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OperatorChange {
    pub balance: Option<BalanceAt>,
    #[serde(default)]
    pub usage: Vec<Usage>,
    #[serde(default)]
    pub messages: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BalanceAt {
    pub balance: Money,
    pub position: i64,
}

/// One authorized game; sent to the operator as the `usage` event's data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// Why a message from the channel was dropped.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("not a live message: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("message version {0}, this instance reads {WIRE_VERSION}")]
    Version(u32),
}

impl LiveChanges {
    pub fn parse(payload: &[u8]) -> Result<LiveChanges, WireError> {
        let changes: LiveChanges = serde_json::from_slice(payload)?;
        if changes.v != WIRE_VERSION {
            return Err(WireError::Version(changes.v));
        }
        Ok(changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_published_batch_parses_with_its_amounts_and_operators() {
        let operator = "0190a0b0-0000-7000-8000-000000000001";
        let payload = format!(
            r#"{{"v":1,"operators":{{"{operator}":{{"balance":{{"balance":"88.00","position":42}},
            "usage":[{{"session_id":"s1","site_id":"0190a0b0-0000-7000-8000-000000000002",
            "app_id":"0190a0b0-0000-7000-8000-000000000003","app_name":"A","player_count":3,
            "unit_price":"4.00","total_cost":"12.00","balance_after":"88.00",
            "authorized_at":"2026-12-06T04:00:00Z","position":42}}],"messages":true}}}},
            "all_operators_messages":false,"finance":true,"added_later":1}}"#
        );
        let changes = LiveChanges::parse(payload.as_bytes()).unwrap();
        let change = &changes.operators[&OperatorId(operator.parse().unwrap())];
        assert_eq!(change.balance.as_ref().unwrap().position, 42);
        assert_eq!(change.usage[0].total_cost.to_string(), "12.00");
        assert!(change.messages && changes.finance && !changes.all_operators_messages);
    }

    #[test]
    fn another_version_or_garbage_is_refused() {
        assert!(matches!(
            LiveChanges::parse(br#"{"v":2}"#),
            Err(WireError::Version(2))
        ));
        assert!(matches!(
            LiveChanges::parse(b"hello"),
            Err(WireError::Malformed(_))
        ));
    }
}
