//! Money of an operator: balance, usage records (charges) and transactions, as pages of the
//! lists and as the keyset-batched rows of their exports (the same statements either way, so
//! an export holds exactly the rows the list pages through).

use chrono::{DateTime, Utc};
use futures_util::Stream;
use ledger_core::ids::{AppId, AuthorizationToken, OperatorId, SiteId};
use ledger_core::money::Money;
use rust_decimal::Decimal;
use tokio_postgres::Row;

use super::operators::existing_operator_list;
use super::{Keyed, Store, StoreError, finish_page, money, split_page};
use crate::cursor::{self, TimePositionKey};
use crate::export::{Batch, keyset_batches};
use crate::views::{
    BalanceView, GlobalTransactionView, Page, SignedMoney, Time, TransactionView, UsageRecordView,
};

/// Rows per statement of an export: one batch is a few hundred kilobytes in memory and a
/// query of a few tens of milliseconds on the list's index, far inside the statement timeout.
pub const EXPORT_BATCH_ROWS: i64 = 5_000;

/// Which usage records to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct UsageFilter {
    /// Authorized at or after.
    pub from: Option<DateTime<Utc>>,
    /// Authorized before.
    pub to: Option<DateTime<Utc>>,
    pub site_id: Option<SiteId>,
    pub app_id: Option<AppId>,
    pub limit: i64,
    pub after: Option<TimePositionKey>,
}

/// Which transactions to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct TransactionFilter {
    /// Occurred at or after.
    pub from: Option<DateTime<Utc>>,
    /// Occurred before.
    pub to: Option<DateTime<Utc>>,
    pub kind: Option<String>,
    pub limit: i64,
    pub after: Option<TimePositionKey>,
}

/// Which money movements of every operator to list (the global monitor), newest first.
#[derive(Debug, Clone, Default)]
pub struct GlobalTransactionFilter {
    pub operator_id: Option<OperatorId>,
    /// Occurred at or after.
    pub from: Option<DateTime<Utc>>,
    /// Occurred before.
    pub to: Option<DateTime<Utc>>,
    pub kind: Option<String>,
    pub limit: i64,
    pub after: Option<TimePositionKey>,
}

fn key_of(row: &Row, time_column: &str) -> Result<TimePositionKey, StoreError> {
    let t: DateTime<Utc> = row.try_get(time_column)?;
    Ok(TimePositionKey {
        t: cursor::micros(t),
        p: row.try_get("position")?,
    })
}

fn usage_view(row: &Row) -> Result<Keyed<UsageRecordView, TimePositionKey>, StoreError> {
    let item = UsageRecordView {
        authorized_at: Time(row.try_get("authorized_at")?),
        session_id: row.try_get("session_id")?,
        authorization_token: AuthorizationToken(row.try_get("authorization_token")?),
        site_id: SiteId(row.try_get("site_id")?),
        site_name: row.try_get("site_name")?,
        app_id: AppId(row.try_get("app_id")?),
        app_name: row.try_get("app_name")?,
        player_count: row.try_get("player_count")?,
        unit_price: money(row, "unit_price")?,
        total_cost: money(row, "total_cost")?,
        balance_after: money(row, "balance_after")?,
        ended_at: row
            .try_get::<_, Option<DateTime<Utc>>>("ended_at")?
            .map(Time),
        duration_seconds: row.try_get("duration_seconds")?,
    };
    Ok(Keyed {
        item,
        key: key_of(row, "authorized_at")?,
    })
}

fn transaction_view(row: &Row) -> Result<Keyed<TransactionView, TimePositionKey>, StoreError> {
    let amount: Decimal = row.try_get("amount")?;
    let magnitude = Money::from_decimal(amount.abs())
        .map_err(|e| StoreError::Corrupt(format!("amount = {amount}: {e}")))?;
    let item = TransactionView {
        position: row.try_get("position")?,
        kind: row.try_get("kind")?,
        amount: SignedMoney {
            negative: amount.is_sign_negative(),
            magnitude,
        },
        balance_after: money(row, "balance_after")?,
        reference: row.try_get("reference")?,
        description: row.try_get("description")?,
        occurred_at: Time(row.try_get("occurred_at")?),
    };
    Ok(Keyed {
        item,
        key: key_of(row, "occurred_at")?,
    })
}

impl Store {
    /// The operator's balance and the checkpoint it reflects, read in one statement so both
    /// come from the same snapshot.
    pub async fn balance(
        &self,
        operator_id: OperatorId,
    ) -> Result<Option<BalanceView>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT o.balance, c.position
                 FROM read.operators o CROSS JOIN read.checkpoint c
                 WHERE o.id = $1",
            )
            .await?;
        let Some(row) = client.query_opt(&stmt, &[&operator_id.as_uuid()]).await? else {
            return Ok(None);
        };
        Ok(Some(BalanceView {
            operator_id,
            balance: money(&row, "balance")?,
            as_of_position: row.try_get("position")?,
        }))
    }

    /// A page of the operator's usage records; `None` when the operator is unknown.
    pub async fn usage_records(
        &self,
        operator_id: OperatorId,
        filter: &UsageFilter,
    ) -> Result<Option<Page<UsageRecordView>>, StoreError> {
        let client = self.client().await?;
        let rows = usage_rows(&client, operator_id, filter).await?;
        let page = finish_page(rows, filter.limit);
        existing_operator_page(&client, operator_id, page).await
    }

    /// Every usage record the filter selects (its `limit` and `after` are ignored), in the
    /// list's order, read in batches of [`EXPORT_BATCH_ROWS`]; `None` when the operator is
    /// unknown. Each batch is its own statement, so rows projected during the download appear
    /// only where the keyset has not passed yet (newer rows never: the first batch started
    /// from the newest).
    pub async fn usage_record_export(
        &self,
        operator_id: OperatorId,
        filter: UsageFilter,
    ) -> Result<
        Option<impl Stream<Item = Result<UsageRecordView, StoreError>> + Send + 'static>,
        StoreError,
    > {
        if !self.known_operator(operator_id).await? {
            return Ok(None);
        }
        let store = self.clone();
        Ok(Some(keyset_batches(move |after| {
            let store = store.clone();
            let filter = UsageFilter {
                limit: EXPORT_BATCH_ROWS,
                after,
                ..filter.clone()
            };
            async move {
                let client = store.client().await?;
                let rows = usage_rows(&client, operator_id, &filter).await?;
                Ok(batch(rows, filter.limit))
            }
        })))
    }

    /// A page of the operator's money movements; `None` when the operator is unknown.
    pub async fn transactions(
        &self,
        operator_id: OperatorId,
        filter: &TransactionFilter,
    ) -> Result<Option<Page<TransactionView>>, StoreError> {
        let client = self.client().await?;
        let rows = transaction_rows(&client, operator_id, filter).await?;
        let page = finish_page(rows, filter.limit);
        existing_operator_page(&client, operator_id, page).await
    }

    /// Every money movement the filter selects, as [`Store::usage_record_export`] reads
    /// usage records; `None` when the operator is unknown.
    pub async fn transaction_export(
        &self,
        operator_id: OperatorId,
        filter: TransactionFilter,
    ) -> Result<
        Option<impl Stream<Item = Result<TransactionView, StoreError>> + Send + 'static>,
        StoreError,
    > {
        if !self.known_operator(operator_id).await? {
            return Ok(None);
        }
        let store = self.clone();
        Ok(Some(keyset_batches(move |after| {
            let store = store.clone();
            let filter = TransactionFilter {
                limit: EXPORT_BATCH_ROWS,
                after,
                ..filter.clone()
            };
            async move {
                let client = store.client().await?;
                let rows = transaction_rows(&client, operator_id, &filter).await?;
                Ok(batch(rows, filter.limit))
            }
        })))
    }

    /// Whether the read side knows the operator (one short statement; the connection goes
    /// back to the pool at once).
    async fn known_operator(&self, operator_id: OperatorId) -> Result<bool, StoreError> {
        let client = self.client().await?;
        Store::operator_exists(&client, operator_id.as_uuid()).await
    }

    /// A page of every operator's money movements, newest first.
    pub async fn global_transactions(
        &self,
        filter: &GlobalTransactionFilter,
    ) -> Result<Page<GlobalTransactionView>, StoreError> {
        let client = self.client().await?;
        let rows = global_transaction_rows(&client, filter).await?;
        Ok(finish_page(rows, filter.limit))
    }

    /// Every money movement of the global monitor's filter, in its order, read in batches of
    /// [`EXPORT_BATCH_ROWS`] (see [`Store::usage_record_export`]).
    pub fn global_transaction_export(
        &self,
        filter: GlobalTransactionFilter,
    ) -> impl Stream<Item = Result<GlobalTransactionView, StoreError>> + Send + 'static {
        let store = self.clone();
        keyset_batches(move |after| {
            let store = store.clone();
            let filter = GlobalTransactionFilter {
                limit: EXPORT_BATCH_ROWS,
                after,
                ..filter.clone()
            };
            async move {
                let client = store.client().await?;
                let rows = global_transaction_rows(&client, &filter).await?;
                Ok(batch(rows, filter.limit))
            }
        })
    }
}

/// The rows of one page or batch: at most `filter.limit + 1`, to tell whether more follow.
async fn usage_rows(
    client: &deadpool_postgres::Client,
    operator_id: OperatorId,
    filter: &UsageFilter,
) -> Result<Vec<Keyed<UsageRecordView, TimePositionKey>>, StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT u.authorized_at, u.position, u.session_id, u.authorization_token, u.site_id,
                    s.name AS site_name, u.app_id, u.app_name, u.player_count, u.unit_price,
                    u.total_cost, u.balance_after, u.ended_at, u.duration_seconds
             FROM read.usage_records u
             LEFT JOIN read.sites s ON s.id = u.site_id AND s.operator_id = u.operator_id
             WHERE u.operator_id = $1
               AND ($2::timestamptz IS NULL OR u.authorized_at >= $2)
               AND ($3::timestamptz IS NULL OR u.authorized_at < $3)
               AND ($4::uuid IS NULL OR u.site_id = $4)
               AND ($5::uuid IS NULL OR u.app_id = $5)
               AND ($6::timestamptz IS NULL OR (u.authorized_at, u.position) < ($6, $7::bigint))
             ORDER BY u.authorized_at DESC, u.position DESC
             LIMIT $8",
        )
        .await?;
    let (after_time, after_position) = after_params(filter.after);
    let rows = client
        .query(
            &stmt,
            &[
                &operator_id.as_uuid(),
                &filter.from,
                &filter.to,
                &filter.site_id.map(|s| s.as_uuid()),
                &filter.app_id.map(|a| a.as_uuid()),
                &after_time,
                &after_position,
                &(filter.limit + 1),
            ],
        )
        .await?;
    rows.iter().map(usage_view).collect()
}

/// The rows of one page or batch of an operator's transactions (`filter.limit + 1` at most).
async fn transaction_rows(
    client: &deadpool_postgres::Client,
    operator_id: OperatorId,
    filter: &TransactionFilter,
) -> Result<Vec<Keyed<TransactionView, TimePositionKey>>, StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT position, kind, amount, balance_after, reference, description, occurred_at
             FROM read.transactions
             WHERE operator_id = $1
               AND ($2::timestamptz IS NULL OR occurred_at >= $2)
               AND ($3::timestamptz IS NULL OR occurred_at < $3)
               AND ($4::text IS NULL OR kind = $4)
               AND ($5::timestamptz IS NULL OR (occurred_at, position) < ($5, $6::bigint))
             ORDER BY occurred_at DESC, position DESC
             LIMIT $7",
        )
        .await?;
    let (after_time, after_position) = after_params(filter.after);
    let rows = client
        .query(
            &stmt,
            &[
                &operator_id.as_uuid(),
                &filter.from,
                &filter.to,
                &filter.kind,
                &after_time,
                &after_position,
                &(filter.limit + 1),
            ],
        )
        .await?;
    rows.iter().map(transaction_view).collect()
}

/// The rows of one page or batch of the global monitor (`filter.limit + 1` at most).
async fn global_transaction_rows(
    client: &deadpool_postgres::Client,
    filter: &GlobalTransactionFilter,
) -> Result<Vec<Keyed<GlobalTransactionView, TimePositionKey>>, StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT t.position, t.operator_id, o.username AS operator_username, t.kind, t.amount,
                    t.balance_after, t.reference, t.description, t.occurred_at
             FROM read.transactions t
             LEFT JOIN read.operators o ON o.id = t.operator_id
             WHERE ($1::uuid IS NULL OR t.operator_id = $1)
               AND ($2::timestamptz IS NULL OR t.occurred_at >= $2)
               AND ($3::timestamptz IS NULL OR t.occurred_at < $3)
               AND ($4::text IS NULL OR t.kind = $4)
               AND ($5::timestamptz IS NULL OR (t.occurred_at, t.position) < ($5, $6::bigint))
             ORDER BY t.occurred_at DESC, t.position DESC
             LIMIT $7",
        )
        .await?;
    let (after_time, after_position) = after_params(filter.after);
    let rows = client
        .query(
            &stmt,
            &[
                &filter.operator_id.map(|o| o.as_uuid()),
                &filter.from,
                &filter.to,
                &filter.kind,
                &after_time,
                &after_position,
                &(filter.limit + 1),
            ],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let Keyed { item, key } = transaction_view(row)?;
            Ok(Keyed {
                item: GlobalTransactionView {
                    operator_id: OperatorId(row.try_get("operator_id")?),
                    operator_username: row.try_get("operator_username")?,
                    transaction: item,
                },
                key,
            })
        })
        .collect()
}

/// The rows fetched with `limit + 1` as an export batch: the first `limit`, and the key of
/// the last of them when there was more.
fn batch<T>(rows: Vec<Keyed<T, TimePositionKey>>, limit: i64) -> Batch<T, TimePositionKey> {
    let (rows, more) = split_page(rows, limit);
    let next = rows.last().filter(|_| more).map(|last| last.key);
    Batch {
        rows: rows.into_iter().map(|r| r.item).collect(),
        next,
    }
}

fn after_params(after: Option<TimePositionKey>) -> (Option<DateTime<Utc>>, Option<i64>) {
    match after {
        Some(key) => (Some(cursor::time(key.t)), Some(key.p)),
        None => (None, None),
    }
}

async fn existing_operator_page<T>(
    client: &deadpool_postgres::Client,
    operator_id: OperatorId,
    page: Page<T>,
) -> Result<Option<Page<T>>, StoreError> {
    let next_cursor = page.next_cursor;
    Ok(existing_operator_list(client, operator_id, page.items)
        .await?
        .map(|items| Page { items, next_cursor }))
}
