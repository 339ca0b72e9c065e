//! Reconciliation runs and their items, as the command side stored them (public tables,
//! derived data written once per run).

use chrono::{DateTime, NaiveDate, Utc};
use ledger_core::money::Money;
use serde::Serialize;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{Keyed, Store, StoreError, finish_page, money, money_opt, time_id_key, time_id_params};
use crate::cursor::TimeIdKey;
use crate::views::{Page, Time};

/// Which runs to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct ReconciliationFilter {
    /// `wechat` or `alipay`.
    pub channel: Option<String>,
    pub limit: i64,
    pub after: Option<TimeIdKey>,
}

#[derive(Debug, Serialize)]
pub struct ReconciliationRunView {
    pub id: Uuid,
    pub channel: String,
    pub bill_date: String,
    pub created_by: String,
    pub created_at: Time,
    pub matched: i32,
    pub missing_in_ledger: i32,
    pub missing_at_gateway: i32,
    pub amount_mismatch: i32,
    pub gateway_count: i32,
    pub gateway_total: Money,
    pub ledger_count: i32,
    pub ledger_total: Money,
}

#[derive(Debug, Serialize)]
pub struct ReconciliationItemView {
    pub line: i32,
    pub kind: String,
    pub out_trade_no: String,
    pub transaction_id: Option<String>,
    pub gateway_amount: Option<Money>,
    pub ledger_amount: Option<Money>,
    pub detail: Option<String>,
}

const RUN_SELECT: &str = "SELECT id, channel, bill_date, created_by, created_at, matched,
        missing_in_ledger, missing_at_gateway, amount_mismatch, gateway_count, gateway_total,
        ledger_count, ledger_total
     FROM reconciliation_runs";

fn run_view(row: &Row) -> Result<Keyed<ReconciliationRunView, TimeIdKey>, StoreError> {
    let created_at: DateTime<Utc> = row.try_get("created_at")?;
    let id: Uuid = row.try_get("id")?;
    let bill_date: NaiveDate = row.try_get("bill_date")?;
    Ok(Keyed {
        key: time_id_key(created_at, id),
        item: ReconciliationRunView {
            id,
            channel: row.try_get("channel")?,
            bill_date: bill_date.to_string(),
            created_by: row.try_get("created_by")?,
            created_at: Time(created_at),
            matched: row.try_get("matched")?,
            missing_in_ledger: row.try_get("missing_in_ledger")?,
            missing_at_gateway: row.try_get("missing_at_gateway")?,
            amount_mismatch: row.try_get("amount_mismatch")?,
            gateway_count: row.try_get("gateway_count")?,
            gateway_total: money(row, "gateway_total")?,
            ledger_count: row.try_get("ledger_count")?,
            ledger_total: money(row, "ledger_total")?,
        },
    })
}

impl Store {
    pub async fn reconciliation_runs(
        &self,
        filter: &ReconciliationFilter,
    ) -> Result<Page<ReconciliationRunView>, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "{RUN_SELECT}
             WHERE ($1::text IS NULL OR channel = $1)
               AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3::uuid))
             ORDER BY created_at DESC, id DESC
             LIMIT $4"
        );
        let stmt = client.prepare_cached(&sql).await?;
        let (after_time, after_id) = time_id_params(filter.after);
        let rows = client
            .query(
                &stmt,
                &[&filter.channel, &after_time, &after_id, &(filter.limit + 1)],
            )
            .await?;
        let rows = rows.iter().map(run_view).collect::<Result<Vec<_>, _>>()?;
        Ok(finish_page(rows, filter.limit))
    }

    pub async fn reconciliation_run(
        &self,
        run_id: Uuid,
    ) -> Result<Option<ReconciliationRunView>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!("{RUN_SELECT} WHERE id = $1"))
            .await?;
        client
            .query_opt(&stmt, &[&run_id])
            .await?
            .as_ref()
            .map(|row| run_view(row).map(|keyed| keyed.item))
            .transpose()
    }

    /// A run's items in statement order (by `out_trade_no`); with `kind`, only those.
    pub async fn reconciliation_items(
        &self,
        run_id: Uuid,
        kind: Option<&str>,
    ) -> Result<Vec<ReconciliationItemView>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT line, kind, out_trade_no, transaction_id, gateway_amount, ledger_amount,
                        detail
                 FROM reconciliation_items
                 WHERE run_id = $1 AND ($2::text IS NULL OR kind = $2)
                 ORDER BY line",
            )
            .await?;
        client
            .query(&stmt, &[&run_id, &kind])
            .await?
            .iter()
            .map(|row| {
                Ok(ReconciliationItemView {
                    line: row.try_get("line")?,
                    kind: row.try_get("kind")?,
                    out_trade_no: row.try_get("out_trade_no")?,
                    transaction_id: row.try_get("transaction_id")?,
                    gateway_amount: money_opt(row, "gateway_amount")?,
                    ledger_amount: money_opt(row, "ledger_amount")?,
                    detail: row.try_get("detail")?,
                })
            })
            .collect()
    }
}
