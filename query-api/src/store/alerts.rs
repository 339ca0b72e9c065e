//! Finance alerts as the command side records them (public table `finance_alerts`), each
//! with the current state of its recharge order from the read side, so finance sees at a
//! glance whether it still needs a hand.

use chrono::{DateTime, Utc};
use ledger_core::money::Money;
use serde::Serialize;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{Keyed, Store, StoreError, finish_page, money_opt};
use crate::cursor::PositionKey;
use crate::views::{Page, Time};

/// Which alerts to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    /// `recharge_needs_review` or `payment_not_applied`.
    pub kind: Option<String>,
    /// `wechat` or `alipay`.
    pub channel: Option<String>,
    pub limit: i64,
    pub after: Option<PositionKey>,
}

#[derive(Debug, Serialize)]
pub struct AlertView {
    pub id: i64,
    pub kind: String,
    pub channel: String,
    pub out_trade_no: String,
    /// The gateway's transaction, when it named one.
    pub transaction_id: Option<String>,
    pub operator_id: Option<Uuid>,
    pub operator_name: Option<String>,
    /// The gateway's amount for a refused payment; the order's for one under review.
    pub amount: Option<Money>,
    pub reason: String,
    /// The order's status now (`read.recharge_orders`); null for an order unknown here.
    pub order_status: Option<String>,
    pub first_seen_at: Time,
    pub last_seen_at: Time,
    pub occurrences: i32,
}

fn alert_view(row: &Row) -> Result<Keyed<AlertView, PositionKey>, StoreError> {
    let id: i64 = row.try_get("id")?;
    let transaction_id: String = row.try_get("transaction_id")?;
    let first: DateTime<Utc> = row.try_get("first_seen_at")?;
    let last: DateTime<Utc> = row.try_get("last_seen_at")?;
    Ok(Keyed {
        key: PositionKey { p: id },
        item: AlertView {
            id,
            kind: row.try_get("kind")?,
            channel: row.try_get("channel")?,
            out_trade_no: row.try_get("out_trade_no")?,
            transaction_id: (!transaction_id.is_empty()).then_some(transaction_id),
            operator_id: row.try_get("operator_id")?,
            operator_name: row.try_get("operator_name")?,
            amount: money_opt(row, "amount")?,
            reason: row.try_get("reason")?,
            order_status: row.try_get("order_status")?,
            first_seen_at: Time(first),
            last_seen_at: Time(last),
            occurrences: row.try_get("occurrences")?,
        },
    })
}

impl Store {
    pub async fn finance_alerts(
        &self,
        filter: &AlertFilter,
    ) -> Result<Page<AlertView>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT a.id, a.kind, a.channel, a.out_trade_no, a.transaction_id,
                        coalesce(a.operator_id, r.operator_id) AS operator_id,
                        o.name AS operator_name, a.amount, a.reason, r.status AS order_status,
                        a.first_seen_at, a.last_seen_at, a.occurrences
                 FROM finance_alerts a
                 LEFT JOIN read.recharge_orders r ON r.out_trade_no = a.out_trade_no
                 LEFT JOIN read.operators o ON o.id = coalesce(a.operator_id, r.operator_id)
                 WHERE ($1::text IS NULL OR a.kind = $1)
                   AND ($2::text IS NULL OR a.channel = $2)
                   AND ($3::bigint IS NULL OR a.id < $3)
                 ORDER BY a.id DESC
                 LIMIT $4",
            )
            .await?;
        let after = filter.after.map(|key| key.p);
        let rows = client
            .query(
                &stmt,
                &[&filter.kind, &filter.channel, &after, &(filter.limit + 1)],
            )
            .await?;
        let rows = rows.iter().map(alert_view).collect::<Result<Vec<_>, _>>()?;
        Ok(finish_page(rows, filter.limit))
    }
}
