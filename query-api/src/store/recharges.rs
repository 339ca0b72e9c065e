//! Online recharge orders: an operator's own, and finance's list across operators.

use chrono::{DateTime, Utc};
use ledger_core::ids::{OperatorId, RechargeOrderId};
use tokio_postgres::Row;

use super::{Keyed, Store, StoreError, finish_page, money, time_id_key, time_id_params, time_opt};
use crate::cursor::TimeIdKey;
use crate::views::{FinanceRechargeView, OperatorRef, Page, RechargeOrderView, Time};

/// Which recharge orders to list, newest order first.
#[derive(Debug, Clone, Default)]
pub struct RechargeFilter {
    pub operator_id: Option<OperatorId>,
    /// `pending`, `succeeded`, `failed`, `closed` or `needs_review`.
    pub status: Option<String>,
    /// `wechat` or `alipay`.
    pub channel: Option<String>,
    /// Ordered at or after.
    pub from: Option<DateTime<Utc>>,
    /// Ordered before.
    pub to: Option<DateTime<Utc>>,
    pub limit: i64,
    pub after: Option<TimeIdKey>,
}

const RECHARGE_SELECT: &str =
    "SELECT r.id, r.operator_id, r.out_trade_no, r.channel, r.amount, r.status,
        r.transaction_id, r.query_failures, r.reason, r.ordered_at, r.paid_at, r.updated_at,
        o.username AS operator_username, o.name AS operator_name
     FROM read.recharge_orders r
     LEFT JOIN read.operators o ON o.id = r.operator_id";

fn recharge_view(row: &Row) -> Result<Keyed<FinanceRechargeView, TimeIdKey>, StoreError> {
    let ordered_at: DateTime<Utc> = row.try_get("ordered_at")?;
    let id = row.try_get("id")?;
    Ok(Keyed {
        key: time_id_key(ordered_at, id),
        item: FinanceRechargeView {
            order: RechargeOrderView {
                id: RechargeOrderId(id),
                operator_id: OperatorId(row.try_get("operator_id")?),
                out_trade_no: row.try_get("out_trade_no")?,
                channel: row.try_get("channel")?,
                amount: money(row, "amount")?,
                status: row.try_get("status")?,
                transaction_id: row.try_get("transaction_id")?,
                query_failures: row.try_get("query_failures")?,
                reason: row.try_get("reason")?,
                ordered_at: Time(ordered_at),
                paid_at: time_opt(row, "paid_at")?,
                updated_at: Time(row.try_get("updated_at")?),
            },
            operator: OperatorRef {
                username: row.try_get("operator_username")?,
                name: row.try_get("operator_name")?,
            },
        },
    })
}

impl Store {
    pub async fn recharges(
        &self,
        filter: &RechargeFilter,
    ) -> Result<Page<FinanceRechargeView>, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "{RECHARGE_SELECT}
             WHERE ($1::uuid IS NULL OR r.operator_id = $1)
               AND ($2::text IS NULL OR r.status = $2)
               AND ($3::text IS NULL OR r.channel = $3)
               AND ($4::timestamptz IS NULL OR r.ordered_at >= $4)
               AND ($5::timestamptz IS NULL OR r.ordered_at < $5)
               AND ($6::timestamptz IS NULL OR (r.ordered_at, r.id) < ($6, $7::uuid))
             ORDER BY r.ordered_at DESC, r.id DESC
             LIMIT $8"
        );
        let stmt = client.prepare_cached(&sql).await?;
        let (after_time, after_id) = time_id_params(filter.after);
        let rows = client
            .query(
                &stmt,
                &[
                    &filter.operator_id.map(|o| o.as_uuid()),
                    &filter.status,
                    &filter.channel,
                    &filter.from,
                    &filter.to,
                    &after_time,
                    &after_id,
                    &(filter.limit + 1),
                ],
            )
            .await?;
        let rows = rows
            .iter()
            .map(recharge_view)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(finish_page(rows, filter.limit))
    }

    /// One order; with `owner`, only if it is that operator's.
    pub async fn recharge(
        &self,
        order_id: RechargeOrderId,
        owner: Option<OperatorId>,
    ) -> Result<Option<FinanceRechargeView>, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "{RECHARGE_SELECT} WHERE r.id = $1 AND ($2::uuid IS NULL OR r.operator_id = $2)"
        );
        let stmt = client.prepare_cached(&sql).await?;
        client
            .query_opt(&stmt, &[&order_id.as_uuid(), &owner.map(|o| o.as_uuid())])
            .await?
            .as_ref()
            .map(|row| recharge_view(row).map(|keyed| keyed.item))
            .transpose()
    }
}
