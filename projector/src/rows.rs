//! One struct per read table (field names are column names, so a batch's rows go to
//! PostgreSQL as JSON) and the loading of the current rows a batch touches, one query per
//! table.

use chrono::{DateTime, Utc};
use ledger_core::ids::{
    AnnouncementId, AppId, AppRequestId, AuthorizationToken, InvoiceId, OperatorId,
    RechargeOrderId, RefundId, SiteId, StaffId,
};
use ledger_core::money::Money;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::value::RawValue;
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

use crate::Error;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct OperatorRow {
    pub id: OperatorId,
    pub username: String,
    pub name: String,
    pub phone: String,
    pub email: String,
    pub category: String,
    pub status: String,
    pub locked_at: Option<DateTime<Utc>>,
    pub lock_reason: Option<String>,
    pub balance: Money,
    pub total_credited: Money,
    pub total_charged: Money,
    pub games: i64,
    pub registered_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_sequence: i64,
    pub low_balance_threshold: Money,
    pub total_refunded: Money,
    pub total_invoiced: Money,
    pub deactivated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct CredentialRow {
    pub key_id: String,
    pub operator_id: OperatorId,
    pub fingerprint: String,
    pub issued_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct SiteRow {
    pub id: SiteId,
    pub operator_id: OperatorId,
    pub name: String,
    pub address: String,
    pub status: String,
    pub opened_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct AppRow {
    pub id: AppId,
    pub name: String,
    pub description: String,
    pub unit_price: Money,
    pub min_players: i32,
    pub max_players: i32,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_sequence: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct GrantRow {
    pub operator_id: OperatorId,
    pub app_id: AppId,
    pub expires_at: Option<DateTime<Utc>>,
    pub status: String,
    pub granted_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct UsageRow {
    pub operator_id: OperatorId,
    pub session_id: String,
    pub site_id: SiteId,
    pub app_id: AppId,
    pub app_name: String,
    pub player_count: i32,
    pub unit_price: Money,
    pub total_cost: Money,
    pub balance_after: Money,
    pub authorization_token: AuthorizationToken,
    pub authorized_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<i64>,
    pub position: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct TransactionRow {
    pub position: i64,
    pub operator_id: OperatorId,
    pub kind: &'static str,
    pub amount: Money,
    pub balance_after: Money,
    pub reference: String,
    pub description: String,
    pub occurred_at: DateTime<Utc>,
}

/// One authorized game, as the statistics tables count it (added to its day's figures).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct UsageFact {
    pub operator_id: OperatorId,
    pub site_id: SiteId,
    pub app_id: AppId,
    pub player_count: i64,
    pub total_cost: Money,
    pub authorized_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct HeadsetServerRow {
    pub operator_id: OperatorId,
    pub server_id: String,
    pub site_id: SiteId,
    pub players_online: i32,
    pub version: String,
    pub last_seen_at: DateTime<Utc>,
    pub last_sequence: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct StaffRow {
    pub id: StaffId,
    pub username: String,
    pub name: String,
    pub role: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct AppApplicationRow {
    pub id: AppRequestId,
    pub operator_id: OperatorId,
    pub app_id: AppId,
    pub app_name: String,
    pub reason: String,
    pub status: String,
    pub review_reason: Option<String>,
    pub reviewed_by: Option<String>,
    pub applied_at: DateTime<Utc>,
    pub reviewed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct RefundRow {
    pub id: RefundId,
    pub operator_id: OperatorId,
    pub status: String,
    pub requested_amount: Money,
    pub reason: String,
    pub amount: Option<Money>,
    pub balance_after: Option<Money>,
    pub reject_reason: Option<String>,
    pub reviewed_by: Option<String>,
    pub requested_at: DateTime<Utc>,
    pub reviewed_at: Option<DateTime<Utc>>,
}

/// One online recharge order. `reason` is the latest problem the gateway reported (a failed
/// query, the review flag, a failed payment); it stays as history once the order is decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct RechargeOrderRow {
    pub id: RechargeOrderId,
    pub operator_id: OperatorId,
    pub out_trade_no: String,
    pub channel: String,
    pub amount: Money,
    pub status: String,
    pub transaction_id: Option<String>,
    pub query_failures: i32,
    pub reason: Option<String>,
    pub ordered_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct InvoiceRow {
    pub id: InvoiceId,
    pub operator_id: OperatorId,
    pub status: String,
    pub invoice_type: String,
    pub title: String,
    pub tax_number: String,
    pub amount: Money,
    pub invoice_number: Option<String>,
    pub seller_name: Option<String>,
    pub seller_tax_number: Option<String>,
    pub reject_reason: Option<String>,
    pub reviewed_by: Option<String>,
    pub requested_at: DateTime<Utc>,
    pub issued_at: Option<DateTime<Utc>>,
    pub reviewed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct AnnouncementRow {
    pub id: AnnouncementId,
    pub title: String,
    pub body: String,
    pub published_by: String,
    pub published_at: DateTime<Utc>,
    pub position: i64,
}

/// A message to one operator. Fan-outs (announcements, price changes) are written by SQL
/// over the read tables and never take this form.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct MessageRow {
    pub operator_id: OperatorId,
    pub id: i64,
    pub kind: &'static str,
    pub data: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct StaffActionRow {
    pub position: i64,
    pub actor_id: String,
    pub actor_role: &'static str,
    pub action: String,
    pub aggregate_type: &'static str,
    pub aggregate_id: String,
    /// The event's payload as stored.
    pub details: Box<RawValue>,
    pub source_ip: String,
    pub request_id: String,
    pub occurred_at: DateTime<Utc>,
}

fn money(row: &Row, column: &str, table: &'static str) -> Result<Money, Error> {
    let value: Decimal = row.get(column);
    Money::from_decimal(value).map_err(|e| Error::BadRow {
        table,
        reason: format!("{column} {value}: {e}"),
    })
}

fn uuid(row: &Row, column: &str) -> Uuid {
    row.get(column)
}

pub(crate) async fn operators(
    client: &impl GenericClient,
    ids: &[Uuid],
) -> Result<Vec<OperatorRow>, Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = client
        .query("SELECT * FROM operators WHERE id = ANY($1)", &[&ids])
        .await?;
    rows.iter()
        .map(|r| {
            Ok(OperatorRow {
                id: OperatorId(uuid(r, "id")),
                username: r.get("username"),
                name: r.get("name"),
                phone: r.get("phone"),
                email: r.get("email"),
                category: r.get("category"),
                status: r.get("status"),
                locked_at: r.get("locked_at"),
                lock_reason: r.get("lock_reason"),
                balance: money(r, "balance", "operators")?,
                total_credited: money(r, "total_credited", "operators")?,
                total_charged: money(r, "total_charged", "operators")?,
                games: r.get("games"),
                registered_at: r.get("registered_at"),
                updated_at: r.get("updated_at"),
                last_sequence: r.get("last_sequence"),
                low_balance_threshold: money(r, "low_balance_threshold", "operators")?,
                total_refunded: money(r, "total_refunded", "operators")?,
                total_invoiced: money(r, "total_invoiced", "operators")?,
                deactivated_at: r.get("deactivated_at"),
            })
        })
        .collect()
}

pub(crate) async fn apps(client: &impl GenericClient, ids: &[Uuid]) -> Result<Vec<AppRow>, Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = client
        .query("SELECT * FROM apps WHERE id = ANY($1)", &[&ids])
        .await?;
    rows.iter()
        .map(|r| {
            Ok(AppRow {
                id: AppId(uuid(r, "id")),
                name: r.get("name"),
                description: r.get("description"),
                unit_price: money(r, "unit_price", "apps")?,
                min_players: r.get("min_players"),
                max_players: r.get("max_players"),
                status: r.get("status"),
                created_at: r.get("created_at"),
                updated_at: r.get("updated_at"),
                last_sequence: r.get("last_sequence"),
            })
        })
        .collect()
}

pub(crate) async fn headset_servers(
    client: &impl GenericClient,
    keys: &[(Uuid, String)],
) -> Result<Vec<HeadsetServerRow>, Error> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let (operators, servers): (Vec<Uuid>, Vec<&str>) =
        keys.iter().map(|(o, s)| (*o, s.as_str())).unzip();
    let rows = client
        .query(
            "SELECT * FROM headset_servers WHERE (operator_id, server_id) IN \
             (SELECT * FROM unnest($1::uuid[], $2::text[]))",
            &[&operators, &servers],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| HeadsetServerRow {
            operator_id: OperatorId(uuid(r, "operator_id")),
            server_id: r.get("server_id"),
            site_id: SiteId(uuid(r, "site_id")),
            players_online: r.get("players_online"),
            version: r.get("version"),
            last_seen_at: r.get("last_seen_at"),
            last_sequence: r.get("last_sequence"),
        })
        .collect())
}

pub(crate) async fn credentials(
    client: &impl GenericClient,
    key_ids: &[String],
) -> Result<Vec<CredentialRow>, Error> {
    if key_ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = client
        .query(
            "SELECT * FROM credentials WHERE key_id = ANY($1)",
            &[&key_ids],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| CredentialRow {
            key_id: r.get("key_id"),
            operator_id: OperatorId(uuid(r, "operator_id")),
            fingerprint: r.get("fingerprint"),
            issued_at: r.get("issued_at"),
            ends_at: r.get("ends_at"),
        })
        .collect())
}

pub(crate) async fn sites(
    client: &impl GenericClient,
    ids: &[Uuid],
) -> Result<Vec<SiteRow>, Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = client
        .query("SELECT * FROM sites WHERE id = ANY($1)", &[&ids])
        .await?;
    Ok(rows
        .iter()
        .map(|r| SiteRow {
            id: SiteId(uuid(r, "id")),
            operator_id: OperatorId(uuid(r, "operator_id")),
            name: r.get("name"),
            address: r.get("address"),
            status: r.get("status"),
            opened_at: r.get("opened_at"),
            updated_at: r.get("updated_at"),
            closed_at: r.get("closed_at"),
        })
        .collect())
}

pub(crate) async fn grants(
    client: &impl GenericClient,
    keys: &[(Uuid, Uuid)],
) -> Result<Vec<GrantRow>, Error> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let (operators, apps): (Vec<Uuid>, Vec<Uuid>) = keys.iter().copied().unzip();
    let rows = client
        .query(
            "SELECT * FROM grants WHERE (operator_id, app_id) IN \
             (SELECT * FROM unnest($1::uuid[], $2::uuid[]))",
            &[&operators, &apps],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| GrantRow {
            operator_id: OperatorId(uuid(r, "operator_id")),
            app_id: AppId(uuid(r, "app_id")),
            expires_at: r.get("expires_at"),
            status: r.get("status"),
            granted_at: r.get("granted_at"),
            revoked_at: r.get("revoked_at"),
        })
        .collect())
}

pub(crate) async fn usage_records(
    client: &impl GenericClient,
    keys: &[(Uuid, String)],
) -> Result<Vec<UsageRow>, Error> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let (operators, sessions): (Vec<Uuid>, Vec<&str>) =
        keys.iter().map(|(o, s)| (*o, s.as_str())).unzip();
    let rows = client
        .query(
            "SELECT * FROM usage_records WHERE (operator_id, session_id) IN \
             (SELECT * FROM unnest($1::uuid[], $2::text[]))",
            &[&operators, &sessions],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(UsageRow {
                operator_id: OperatorId(uuid(r, "operator_id")),
                session_id: r.get("session_id"),
                site_id: SiteId(uuid(r, "site_id")),
                app_id: AppId(uuid(r, "app_id")),
                app_name: r.get("app_name"),
                player_count: r.get("player_count"),
                unit_price: money(r, "unit_price", "usage_records")?,
                total_cost: money(r, "total_cost", "usage_records")?,
                balance_after: money(r, "balance_after", "usage_records")?,
                authorization_token: AuthorizationToken(uuid(r, "authorization_token")),
                authorized_at: r.get("authorized_at"),
                ended_at: r.get("ended_at"),
                duration_seconds: r.get("duration_seconds"),
                position: r.get("position"),
            })
        })
        .collect()
}

fn money_opt(row: &Row, column: &str, table: &'static str) -> Result<Option<Money>, Error> {
    let value: Option<Decimal> = row.get(column);
    value
        .map(|v| {
            Money::from_decimal(v).map_err(|e| Error::BadRow {
                table,
                reason: format!("{column} {v}: {e}"),
            })
        })
        .transpose()
}

pub(crate) async fn staff(
    client: &impl GenericClient,
    ids: &[Uuid],
) -> Result<Vec<StaffRow>, Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = client
        .query("SELECT * FROM staff WHERE id = ANY($1)", &[&ids])
        .await?;
    Ok(rows
        .iter()
        .map(|r| StaffRow {
            id: StaffId(uuid(r, "id")),
            username: r.get("username"),
            name: r.get("name"),
            role: r.get("role"),
            status: r.get("status"),
            created_at: r.get("created_at"),
            updated_at: r.get("updated_at"),
        })
        .collect())
}

pub(crate) async fn app_applications(
    client: &impl GenericClient,
    ids: &[Uuid],
) -> Result<Vec<AppApplicationRow>, Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = client
        .query("SELECT * FROM app_applications WHERE id = ANY($1)", &[&ids])
        .await?;
    Ok(rows
        .iter()
        .map(|r| AppApplicationRow {
            id: AppRequestId(uuid(r, "id")),
            operator_id: OperatorId(uuid(r, "operator_id")),
            app_id: AppId(uuid(r, "app_id")),
            app_name: r.get("app_name"),
            reason: r.get("reason"),
            status: r.get("status"),
            review_reason: r.get("review_reason"),
            reviewed_by: r.get("reviewed_by"),
            applied_at: r.get("applied_at"),
            reviewed_at: r.get("reviewed_at"),
        })
        .collect())
}

pub(crate) async fn refunds(
    client: &impl GenericClient,
    ids: &[Uuid],
) -> Result<Vec<RefundRow>, Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = client
        .query("SELECT * FROM refunds WHERE id = ANY($1)", &[&ids])
        .await?;
    rows.iter()
        .map(|r| {
            Ok(RefundRow {
                id: RefundId(uuid(r, "id")),
                operator_id: OperatorId(uuid(r, "operator_id")),
                status: r.get("status"),
                requested_amount: money(r, "requested_amount", "refunds")?,
                reason: r.get("reason"),
                amount: money_opt(r, "amount", "refunds")?,
                balance_after: money_opt(r, "balance_after", "refunds")?,
                reject_reason: r.get("reject_reason"),
                reviewed_by: r.get("reviewed_by"),
                requested_at: r.get("requested_at"),
                reviewed_at: r.get("reviewed_at"),
            })
        })
        .collect()
}

pub(crate) async fn invoices(
    client: &impl GenericClient,
    ids: &[Uuid],
) -> Result<Vec<InvoiceRow>, Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = client
        .query("SELECT * FROM invoices WHERE id = ANY($1)", &[&ids])
        .await?;
    rows.iter()
        .map(|r| {
            Ok(InvoiceRow {
                id: InvoiceId(uuid(r, "id")),
                operator_id: OperatorId(uuid(r, "operator_id")),
                status: r.get("status"),
                invoice_type: r.get("invoice_type"),
                title: r.get("title"),
                tax_number: r.get("tax_number"),
                amount: money(r, "amount", "invoices")?,
                invoice_number: r.get("invoice_number"),
                seller_name: r.get("seller_name"),
                seller_tax_number: r.get("seller_tax_number"),
                reject_reason: r.get("reject_reason"),
                reviewed_by: r.get("reviewed_by"),
                requested_at: r.get("requested_at"),
                issued_at: r.get("issued_at"),
                reviewed_at: r.get("reviewed_at"),
            })
        })
        .collect()
}

pub(crate) async fn recharge_orders(
    client: &impl GenericClient,
    ids: &[Uuid],
) -> Result<Vec<RechargeOrderRow>, Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = client
        .query("SELECT * FROM recharge_orders WHERE id = ANY($1)", &[&ids])
        .await?;
    rows.iter()
        .map(|r| {
            Ok(RechargeOrderRow {
                id: RechargeOrderId(uuid(r, "id")),
                operator_id: OperatorId(uuid(r, "operator_id")),
                out_trade_no: r.get("out_trade_no"),
                channel: r.get("channel"),
                amount: money(r, "amount", "recharge_orders")?,
                status: r.get("status"),
                transaction_id: r.get("transaction_id"),
                query_failures: r.get("query_failures"),
                reason: r.get("reason"),
                ordered_at: r.get("ordered_at"),
                paid_at: r.get("paid_at"),
                updated_at: r.get("updated_at"),
            })
        })
        .collect()
}
