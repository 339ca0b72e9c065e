//! Refund requests, with the operator's money as finance reviews them.

use chrono::{DateTime, Utc};
use ledger_core::ids::{OperatorId, RefundId};
use tokio_postgres::Row;

use super::{Keyed, Store, StoreError, finish_page, money, money_opt, time_id_key, time_id_params};
use crate::cursor::TimeIdKey;
use crate::views::{FinanceRefundView, Page, RefundOperatorView, RefundView, Time};

/// Which refund requests to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct RefundFilter {
    pub operator_id: Option<OperatorId>,
    /// `pending`, `approved` or `rejected`.
    pub status: Option<String>,
    pub limit: i64,
    pub after: Option<TimeIdKey>,
}

const REFUND_SELECT: &str =
    "SELECT r.id, r.operator_id, r.status, r.requested_amount, r.reason, r.amount,
        r.balance_after, r.reject_reason, r.reviewed_by, r.requested_at, r.reviewed_at,
        o.username, o.name, o.total_credited, o.total_charged, o.balance
     FROM read.refunds r
     LEFT JOIN read.operators o ON o.id = r.operator_id";

fn refund_view(row: &Row) -> Result<Keyed<FinanceRefundView, TimeIdKey>, StoreError> {
    let requested_at: DateTime<Utc> = row.try_get("requested_at")?;
    let id = row.try_get("id")?;
    Ok(Keyed {
        key: time_id_key(requested_at, id),
        item: FinanceRefundView {
            refund: RefundView {
                id: RefundId(id),
                operator_id: OperatorId(row.try_get("operator_id")?),
                status: row.try_get("status")?,
                requested_amount: money(row, "requested_amount")?,
                reason: row.try_get("reason")?,
                amount: money_opt(row, "amount")?,
                balance_after: money_opt(row, "balance_after")?,
                reject_reason: row.try_get("reject_reason")?,
                reviewed_by: row.try_get("reviewed_by")?,
                requested_at: Time(requested_at),
                reviewed_at: row
                    .try_get::<_, Option<DateTime<Utc>>>("reviewed_at")?
                    .map(Time),
            },
            operator: RefundOperatorView {
                username: row.try_get("username")?,
                name: row.try_get("name")?,
                total_credited: money_opt(row, "total_credited")?,
                total_charged: money_opt(row, "total_charged")?,
                balance: money_opt(row, "balance")?,
            },
        },
    })
}

impl Store {
    pub async fn refunds(
        &self,
        filter: &RefundFilter,
    ) -> Result<Page<FinanceRefundView>, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "{REFUND_SELECT}
             WHERE ($1::uuid IS NULL OR r.operator_id = $1)
               AND ($2::text IS NULL OR r.status = $2)
               AND ($3::timestamptz IS NULL OR (r.requested_at, r.id) < ($3, $4::uuid))
             ORDER BY r.requested_at DESC, r.id DESC
             LIMIT $5"
        );
        let stmt = client.prepare_cached(&sql).await?;
        let (after_time, after_id) = time_id_params(filter.after);
        let rows = client
            .query(
                &stmt,
                &[
                    &filter.operator_id.map(|o| o.as_uuid()),
                    &filter.status,
                    &after_time,
                    &after_id,
                    &(filter.limit + 1),
                ],
            )
            .await?;
        let rows = rows
            .iter()
            .map(refund_view)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(finish_page(rows, filter.limit))
    }

    pub async fn refund(
        &self,
        refund_id: RefundId,
    ) -> Result<Option<FinanceRefundView>, StoreError> {
        let client = self.client().await?;
        let sql = format!("{REFUND_SELECT} WHERE r.id = $1");
        let stmt = client.prepare_cached(&sql).await?;
        client
            .query_opt(&stmt, &[&refund_id.as_uuid()])
            .await?
            .as_ref()
            .map(|row| refund_view(row).map(|keyed| keyed.item))
            .transpose()
    }
}
