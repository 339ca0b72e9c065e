//! What the simulated gateways remember: orders, injected faults and statement overrides.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Wechat,
    Alipay,
}

/// Where a trade stands at the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TradeState {
    NotPaid,
    Success,
    Closed,
    PayError,
}

impl TradeState {
    /// WeChat `trade_state`.
    pub fn wechat(self) -> &'static str {
        match self {
            TradeState::NotPaid => "NOTPAY",
            TradeState::Success => "SUCCESS",
            TradeState::Closed => "CLOSED",
            TradeState::PayError => "PAYERROR",
        }
    }

    /// Alipay `trade_status` (a failed payment closes the trade there).
    pub fn alipay(self) -> &'static str {
        match self {
            TradeState::NotPaid => "WAIT_BUYER_PAY",
            TradeState::Success => "TRADE_SUCCESS",
            TradeState::Closed | TradeState::PayError => "TRADE_CLOSED",
        }
    }
}

/// One callback attempt and the receiver's answer.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub at: DateTime<Utc>,
    /// Notification id (WeChat `id`, Alipay `notify_id`); retries of one callback share it.
    pub notify_id: String,
    pub forged: bool,
    pub attempt: u32,
    /// HTTP status of the answer; `None` when the receiver could not be reached.
    pub status: Option<u16>,
    pub body: String,
    /// Whether the answer means "received" in the gateway's terms.
    pub accepted: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Order {
    pub channel: Channel,
    pub out_trade_no: String,
    pub description: String,
    pub notify_url: String,
    /// Ordered amount in fen (cents).
    pub amount_fen: i64,
    pub created_at: DateTime<Utc>,
    pub state: TradeState,
    /// The gateway's id of the trade (WeChat: given when paid; Alipay: at creation).
    pub transaction_id: Option<String>,
    /// What the payer paid (differs from `amount_fen` only through the `amount` override).
    pub paid_fen: Option<i64>,
    pub paid_at: Option<DateTime<Utc>>,
    /// QR payload returned at creation.
    pub qr: String,
    pub deliveries: Vec<Delivery>,
}

/// A statement line: one paid trade.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatementRow {
    pub out_trade_no: String,
    pub transaction_id: String,
    /// Yuan with two decimals, e.g. "100.00".
    pub amount: String,
    pub paid_at: DateTime<Utc>,
    #[serde(default)]
    pub description: String,
}

#[derive(Default)]
pub struct Store {
    pub orders: Mutex<BTreeMap<String, Order>>,
    /// How many of the next order queries fail.
    pub query_failures: Mutex<u32>,
    /// Statements set through the control API, replacing the computed ones.
    pub statements: Mutex<HashMap<(Channel, NaiveDate), Vec<StatementRow>>>,
}

/// Both gateways date trades in China Standard Time.
pub fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap()
}

impl Store {
    /// Takes one injected query failure, if any is left.
    pub fn take_query_failure(&self) -> bool {
        let mut left = self.query_failures.lock().unwrap();
        if *left > 0 {
            *left -= 1;
            true
        } else {
            false
        }
    }

    pub fn order(&self, out_trade_no: &str) -> Option<Order> {
        self.orders.lock().unwrap().get(out_trade_no).cloned()
    }

    pub fn record_delivery(&self, out_trade_no: &str, delivery: Delivery) {
        if let Some(order) = self.orders.lock().unwrap().get_mut(out_trade_no) {
            order.deliveries.push(delivery);
        }
    }

    /// The statement of `channel` for the Beijing calendar day `date`: the override when one
    /// was set, else every trade of that channel paid that day.
    pub fn statement(&self, channel: Channel, date: NaiveDate) -> Vec<StatementRow> {
        if let Some(rows) = self.statements.lock().unwrap().get(&(channel, date)) {
            return rows.clone();
        }
        self.orders
            .lock()
            .unwrap()
            .values()
            .filter(|o| o.channel == channel && o.state == TradeState::Success)
            .filter_map(|o| {
                let paid_at = o.paid_at?;
                (paid_at.with_timezone(&beijing()).date_naive() == date).then(|| StatementRow {
                    out_trade_no: o.out_trade_no.clone(),
                    transaction_id: o.transaction_id.clone().unwrap_or_default(),
                    amount: yuan(o.paid_fen.unwrap_or(o.amount_fen)),
                    paid_at,
                    description: o.description.clone(),
                })
            })
            .collect()
    }
}

/// Fen as yuan text with two decimals: 10000 → "100.00".
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", fen.abs() / 100, fen.abs() % 100)
}

/// Yuan text (at most two decimals, positive) as fen: "100.00" → 10000.
pub fn parse_yuan(text: &str) -> Option<i64> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || frac.len() > 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let frac: i64 = format!("{frac:0<2}").parse().ok()?;
    whole.checked_mul(100)?.checked_add(frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_round_trips() {
        assert_eq!(yuan(10000), "100.00");
        assert_eq!(yuan(5), "0.05");
        assert_eq!(parse_yuan("100.00"), Some(10000));
        assert_eq!(parse_yuan("0.5"), Some(50));
        assert_eq!(parse_yuan("12"), Some(1200));
        assert_eq!(parse_yuan("1.234"), None);
        assert_eq!(parse_yuan("-1.00"), None);
    }
}
