//! Reconciliation runs and their items, as the command side stored them (public tables,
//! derived data written once per run).

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::{Stream, StreamExt, stream};
use ledger_core::money::Money;
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::{Keyed, Store, StoreError, finish_page, money, money_opt, time_id_key, time_id_params};
use crate::cursor::{CursorKey, TimeIdKey};
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

    /// One page of a run's items in `line` order (statement order: by `out_trade_no`);
    /// with `kind`, only those.
    pub async fn reconciliation_items(
        &self,
        filter: &ReconciliationItemFilter,
    ) -> Result<Page<ReconciliationItemView>, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(ITEMS_PAGE).await?;
        let after = filter.after.map(|key| key.line);
        let rows = client
            .query(
                &stmt,
                &[&filter.run_id, &filter.kind, &after, &(filter.limit + 1)],
            )
            .await?;
        let rows = rows
            .iter()
            .map(|row| {
                let item = item_view(row)?;
                Ok(Keyed {
                    key: LineKey { line: item.line },
                    item,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(finish_page(rows, filter.limit))
    }

    /// Every item of a run in `line` order (with `kind`, only those), as the database sends
    /// them: the stream owns its pooled connection and holds one row at a time, for exports
    /// of any size. Errors before the first row (no connection, bad statement) come back
    /// here; later ones as the stream's items.
    pub async fn reconciliation_item_stream(
        &self,
        run_id: Uuid,
        kind: Option<String>,
    ) -> Result<
        impl Stream<Item = Result<ReconciliationItemView, StoreError>> + Send + 'static,
        StoreError,
    > {
        let client = self.client().await?;
        let stmt = client.prepare_cached(ITEMS_ALL).await?;
        let params: [&(dyn ToSql + Sync); 2] = [&run_id, &kind];
        let rows = client.query_raw(&stmt, params).await?;
        // The client rides along with the rows: its connection goes back to the pool when the
        // stream ends or is dropped (the client went away), not before.
        Ok(stream::unfold(
            (client, Box::pin(rows)),
            |(client, mut rows)| async move {
                let item = rows.next().await?;
                let item = item
                    .map_err(StoreError::from)
                    .and_then(|row| item_view(&row));
                Some((item, (client, rows)))
            },
        ))
    }
}

/// Which items of a run to list: one page, in `line` order.
#[derive(Debug, Clone)]
pub struct ReconciliationItemFilter {
    pub run_id: Uuid,
    /// One of the item kinds.
    pub kind: Option<String>,
    pub limit: i64,
    pub after: Option<LineKey>,
}

/// Position in a run's items, ordered by `line` ASC (lines count from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineKey {
    pub line: i32,
}

impl CursorKey for LineKey {
    fn is_valid(&self) -> bool {
        self.line > 0
    }
}

/// One page of a run's items after a line (`$3`, none for the first page), `$4` rows.
const ITEMS_PAGE: &str = "SELECT line, kind, out_trade_no, transaction_id, gateway_amount,
        ledger_amount, detail
     FROM reconciliation_items
     WHERE run_id = $1 AND ($2::text IS NULL OR kind = $2)
       AND ($3::integer IS NULL OR line > $3)
     ORDER BY line
     LIMIT $4";

/// All of a run's items (the export).
const ITEMS_ALL: &str = "SELECT line, kind, out_trade_no, transaction_id, gateway_amount,
        ledger_amount, detail
     FROM reconciliation_items
     WHERE run_id = $1 AND ($2::text IS NULL OR kind = $2)
     ORDER BY line";

fn item_view(row: &Row) -> Result<ReconciliationItemView, StoreError> {
    Ok(ReconciliationItemView {
        line: row.try_get("line")?,
        kind: row.try_get("kind")?,
        out_trade_no: row.try_get("out_trade_no")?,
        transaction_id: row.try_get("transaction_id")?,
        gateway_amount: money_opt(row, "gateway_amount")?,
        ledger_amount: money_opt(row, "ledger_amount")?,
        detail: row.try_get("detail")?,
    })
}
