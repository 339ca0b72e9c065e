//! The JSON shapes the query API answers with: what the store returns and handlers encode.
//!
//! Money is [`Money`] (a string with exactly two decimals), times are [`Time`] (RFC 3339 UTC
//! with `Z`), ids are the ledger-core newtypes (hyphenated UUIDs).

use chrono::{DateTime, SecondsFormat, Utc};
use ledger_core::ids::{
    AnnouncementId, AppId, AppRequestId, AuthorizationToken, InvoiceId, OperatorId,
    RechargeOrderId, RefundId, SiteId, StaffId,
};
use ledger_core::money::Money;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

pub mod stats;

/// A point in time, printed as RFC 3339 UTC with `Z` and only the fraction digits it needs
/// (`2026-11-21T12:30:00Z`, `2026-11-21T12:30:00.123456Z`): exact to the stored microsecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Time(pub DateTime<Utc>);

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

/// A signed amount with exactly two decimals (`"-50.00"`, `"50.00"`), for ledger rows whose
/// sign is part of the fact. Built from a [`Money`] magnitude, so the scale is always checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedMoney {
    pub negative: bool,
    pub magnitude: Money,
}

impl Serialize for SignedMoney {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let sign = if self.negative && !self.magnitude.is_zero() {
            "-"
        } else {
            ""
        };
        serializer.collect_str(&format_args!("{sign}{}", self.magnitude))
    }
}

/// One page of a keyset-paginated list; `next_cursor` is null on the last page.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// An operator as the console shows it (the fixed core of ADMIN-API.md: `balance`, `status`).
#[derive(Debug, Serialize)]
pub struct OperatorView {
    pub id: OperatorId,
    pub username: String,
    pub name: String,
    pub phone: String,
    pub email: String,
    pub category: String,
    pub status: String,
    pub locked_at: Option<Time>,
    pub lock_reason: Option<String>,
    pub balance: Money,
    pub total_credited: Money,
    pub total_charged: Money,
    pub total_refunded: Money,
    pub total_invoiced: Money,
    pub games: i64,
    /// Below this balance a charge sends the operator a low-balance message.
    pub low_balance_threshold: Money,
    pub registered_at: Time,
    pub updated_at: Time,
    pub deactivated_at: Option<Time>,
}

/// The money totals of an operator's whole history.
#[derive(Debug, Serialize)]
pub struct OperatorTotals {
    pub total_credited: Money,
    pub total_charged: Money,
    pub total_refunded: Money,
    pub total_invoiced: Money,
    pub games: i64,
}

/// The admin detail page of an operator: the operator, its totals, sites and grants.
#[derive(Debug, Serialize)]
pub struct OperatorDetailView {
    #[serde(flatten)]
    pub operator: OperatorView,
    pub totals: OperatorTotals,
    pub sites: Vec<SiteView>,
    pub grants: Vec<GrantView>,
}

/// An operator's own profile, with what it may still invoice.
#[derive(Debug, Serialize)]
pub struct ProfileView {
    pub id: OperatorId,
    pub username: String,
    pub name: String,
    pub phone: String,
    pub email: String,
    pub category: String,
    pub status: String,
    pub locked_at: Option<Time>,
    pub lock_reason: Option<String>,
    pub balance: Money,
    pub low_balance_threshold: Money,
    pub total_credited: Money,
    pub total_charged: Money,
    pub total_refunded: Money,
    pub total_invoiced: Money,
    /// Credited − refunded − invoiced − invoice requests pending review, never below zero.
    pub invoiceable_amount: Money,
    pub registered_at: Time,
}

/// Who an item of a staff list belongs to; null fields when the operator is not (yet) in the
/// read model.
#[derive(Debug, Serialize)]
pub struct OperatorRef {
    pub username: Option<String>,
    pub name: Option<String>,
}

/// An operator's balance and how far the read side had got when it was read.
#[derive(Debug, Serialize)]
pub struct BalanceView {
    pub operator_id: OperatorId,
    pub balance: Money,
    /// Position of the last event the projector applied (the balance reflects every event up
    /// to it).
    pub as_of_position: i64,
}

/// One authorized game (a charge), with its end once the headset reported it.
#[derive(Debug, Serialize)]
pub struct UsageRecordView {
    pub authorized_at: Time,
    pub session_id: String,
    pub authorization_token: AuthorizationToken,
    pub site_id: SiteId,
    /// Null when the site is not (yet) in the read model.
    pub site_name: Option<String>,
    pub app_id: AppId,
    /// The app's name when the game was authorized.
    pub app_name: String,
    pub player_count: i32,
    pub unit_price: Money,
    pub total_cost: Money,
    pub balance_after: Money,
    pub ended_at: Option<Time>,
    pub duration_seconds: Option<i64>,
}

/// One money movement of an operator.
#[derive(Debug, Serialize)]
pub struct TransactionView {
    pub position: i64,
    pub kind: String,
    pub amount: SignedMoney,
    pub balance_after: Money,
    pub reference: String,
    pub description: String,
    pub occurred_at: Time,
}

#[derive(Debug, Serialize)]
pub struct SiteView {
    pub id: SiteId,
    pub name: String,
    pub address: String,
    pub status: String,
    pub opened_at: Time,
    pub updated_at: Time,
    pub closed_at: Option<Time>,
}

/// An app grant with the app's current terms and whether it has expired by now.
#[derive(Debug, Serialize)]
pub struct GrantView {
    pub app_id: AppId,
    /// The app's current catalog entry; null fields when the app is not in the read model.
    pub app_name: Option<String>,
    pub unit_price: Option<Money>,
    pub min_players: Option<i32>,
    pub max_players: Option<i32>,
    pub app_status: Option<String>,
    pub status: String,
    pub granted_at: Time,
    pub expires_at: Option<Time>,
    pub revoked_at: Option<Time>,
    /// `expires_at` is at or before the time of the request.
    pub expired: bool,
}

/// An app the operator may run: the app's current terms and the grant's expiry.
#[derive(Debug, Serialize)]
pub struct AuthorizedAppView {
    pub app_id: AppId,
    pub name: String,
    pub unit_price: Money,
    pub min_players: i32,
    pub max_players: i32,
    pub app_status: String,
    pub granted_at: Time,
    pub expires_at: Option<Time>,
    /// `expires_at` is at or before the time of the request.
    pub expired: bool,
}

/// An operator's application for an app.
#[derive(Debug, Serialize)]
pub struct ApplicationView {
    pub id: AppRequestId,
    pub operator_id: OperatorId,
    pub app_id: AppId,
    pub app_name: String,
    pub reason: String,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
    pub review_reason: Option<String>,
    pub reviewed_by: Option<String>,
    pub applied_at: Time,
    pub reviewed_at: Option<Time>,
}

/// An application in the admins' review list.
#[derive(Debug, Serialize)]
pub struct StaffApplicationView {
    #[serde(flatten)]
    pub application: ApplicationView,
    pub operator: OperatorRef,
}

/// A refund request and, once reviewed, its outcome.
#[derive(Debug, Serialize)]
pub struct RefundView {
    pub id: RefundId,
    pub operator_id: OperatorId,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
    /// The balance when the request was made.
    pub requested_amount: Money,
    pub reason: String,
    /// What was refunded: the balance at approval.
    pub amount: Option<Money>,
    pub balance_after: Option<Money>,
    pub reject_reason: Option<String>,
    pub reviewed_by: Option<String>,
    pub requested_at: Time,
    pub reviewed_at: Option<Time>,
}

/// The operator behind a refund request, as finance reviews it.
#[derive(Debug, Serialize)]
pub struct RefundOperatorView {
    pub username: Option<String>,
    pub name: Option<String>,
    /// Recharged, all time.
    pub total_credited: Option<Money>,
    /// Spent on games, all time.
    pub total_charged: Option<Money>,
    /// The balance now (what an approval would refund).
    pub balance: Option<Money>,
}

/// A refund request in finance's review list.
#[derive(Debug, Serialize)]
pub struct FinanceRefundView {
    #[serde(flatten)]
    pub refund: RefundView,
    pub operator: RefundOperatorView,
}

/// An invoice request and, once issued, the invoice.
#[derive(Debug, Serialize)]
pub struct InvoiceView {
    pub id: InvoiceId,
    pub operator_id: OperatorId,
    /// `pending`, `issued` or `rejected`.
    pub status: String,
    /// `general` or `special`.
    pub invoice_type: String,
    pub title: String,
    pub tax_number: String,
    pub amount: Money,
    pub invoice_number: Option<String>,
    pub seller_name: Option<String>,
    pub seller_tax_number: Option<String>,
    pub reject_reason: Option<String>,
    pub reviewed_by: Option<String>,
    pub requested_at: Time,
    pub issued_at: Option<Time>,
    pub reviewed_at: Option<Time>,
    /// The invoice is issued, so its PDF can be downloaded (`…/invoices/{id}/pdf`).
    pub pdf_available: bool,
}

/// An invoice request in finance's review list.
#[derive(Debug, Serialize)]
pub struct FinanceInvoiceView {
    #[serde(flatten)]
    pub invoice: InvoiceView,
    pub operator: OperatorRef,
}

/// An online recharge order and what the gateway said about it.
#[derive(Debug, Serialize)]
pub struct RechargeOrderView {
    pub id: RechargeOrderId,
    pub operator_id: OperatorId,
    /// Our order number at the gateway.
    pub out_trade_no: String,
    /// `wechat` or `alipay`.
    pub channel: String,
    pub amount: Money,
    /// `pending`, `succeeded`, `failed`, `closed` or `needs_review`.
    pub status: String,
    /// The gateway's id of the payment, once paid.
    pub transaction_id: Option<String>,
    /// Gateway queries that failed in a row.
    pub query_failures: i32,
    /// The latest problem the gateway reported (failed query, review, failed payment).
    pub reason: Option<String>,
    pub ordered_at: Time,
    pub paid_at: Option<Time>,
    pub updated_at: Time,
}

/// A recharge order in finance's list.
#[derive(Debug, Serialize)]
pub struct FinanceRechargeView {
    #[serde(flatten)]
    pub order: RechargeOrderView,
    pub operator: OperatorRef,
}

/// One message of an operator's message center, in the request's language.
#[derive(Debug, Serialize)]
pub struct MessageView {
    pub id: i64,
    /// `announcement`, `price_change`, `low_balance` or `grant_expiry`.
    pub kind: String,
    pub title: String,
    pub body: String,
    /// The facts the text is rendered from.
    pub data: serde_json::Value,
    pub created_at: Time,
    pub read_at: Option<Time>,
}

/// A page of messages, newest first, with the operator's unread count.
#[derive(Debug, Serialize)]
pub struct MessagePage {
    pub items: Vec<MessageView>,
    pub unread_count: i64,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct UnreadCountView {
    pub unread_count: i64,
}

/// A money movement in the global monitor.
#[derive(Debug, Serialize)]
pub struct GlobalTransactionView {
    pub operator_id: OperatorId,
    pub operator_username: Option<String>,
    #[serde(flatten)]
    pub transaction: TransactionView,
}

#[derive(Debug, Serialize)]
pub struct AnnouncementView {
    pub id: AnnouncementId,
    pub title: String,
    pub body: String,
    /// The staff member who published it.
    pub published_by: String,
    pub published_at: Time,
}

/// A staff account (never its password).
#[derive(Debug, Serialize)]
pub struct StaffView {
    pub id: StaffId,
    pub username: String,
    pub name: String,
    pub role: String,
    /// `active` or `disabled`.
    pub status: String,
    pub created_at: Time,
    pub updated_at: Time,
}

/// What a staff action was done to.
#[derive(Debug, Serialize)]
pub struct TargetView {
    #[serde(rename = "type")]
    pub aggregate_type: String,
    pub id: String,
}

/// One staff action of the audit log.
#[derive(Debug, Serialize)]
pub struct StaffActionView {
    pub position: i64,
    pub actor_id: String,
    /// Null when the actor is not a known staff account.
    pub actor_username: Option<String>,
    pub actor_role: String,
    /// The event type recorded.
    pub action: String,
    pub target: TargetView,
    /// The event's payload.
    pub details: serde_json::Value,
    pub source_ip: String,
    pub request_id: String,
    pub occurred_at: Time,
}

/// An API credential's public part: never its secret.
#[derive(Debug, Serialize)]
pub struct CredentialView {
    pub key_id: String,
    /// Hex SHA-256 of the secret.
    pub fingerprint: String,
    pub issued_at: Time,
    pub ends_at: Option<Time>,
    /// The key is accepted at the time of the request (`ends_at` null or later).
    pub live: bool,
}

#[derive(Debug, Serialize)]
pub struct HeadsetServerView {
    pub server_id: String,
    pub site_id: SiteId,
    pub site_name: Option<String>,
    pub players_online: i32,
    pub version: String,
    pub last_seen_at: Time,
}

#[derive(Debug, Serialize)]
pub struct AppView {
    pub id: AppId,
    pub name: String,
    pub description: String,
    pub unit_price: Money,
    pub min_players: i32,
    pub max_players: i32,
    pub status: String,
    pub created_at: Time,
    pub updated_at: Time,
}

/// One stored event, for auditors. `payload` and `metadata` are the stored JSON texts,
/// byte for byte (the hash chain covers exactly those bytes).
#[derive(Debug, Serialize)]
pub struct EventView {
    pub position: i64,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: Box<RawValue>,
    pub metadata: Box<RawValue>,
    /// Hex of the 32-byte chain hash.
    pub hash: String,
    pub recorded_at: Time,
}

/// A page of one stream's events; `next_from_sequence` is null on the last page.
#[derive(Debug, Serialize)]
pub struct StreamPage {
    pub items: Vec<EventView>,
    pub next_from_sequence: Option<i64>,
}

/// A page of the global event feed. `next_after_position` is where to continue (the last
/// position returned, or the requested one when nothing new is visible yet).
#[derive(Debug, Serialize)]
pub struct FeedPage {
    pub items: Vec<EventView>,
    pub next_after_position: i64,
    /// Fewer items than asked for: the feed is caught up for now.
    pub caught_up: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_in_utc_with_z() {
        let t = DateTime::parse_from_rfc3339("2026-11-21T20:30:00.123456+08:00").unwrap();
        let json = serde_json::to_string(&Time(t.with_timezone(&Utc))).unwrap();
        assert_eq!(json, "\"2026-11-21T12:30:00.123456Z\"");
    }

    #[test]
    fn signed_money_prints_two_decimals_and_its_sign() {
        let m = Money::parse("50").unwrap();
        let out = |negative| {
            serde_json::to_string(&SignedMoney {
                negative,
                magnitude: m,
            })
            .unwrap()
        };
        assert_eq!(out(true), "\"-50.00\"");
        assert_eq!(out(false), "\"50.00\"");
        let zero = SignedMoney {
            negative: true,
            magnitude: Money::ZERO,
        };
        assert_eq!(serde_json::to_string(&zero).unwrap(), "\"0.00\"");
    }
}
