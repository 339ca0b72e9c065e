//! Every SQL statement of the query API: reads of the `read` schema and of `events`.
//!
//! **Read only.** Each pooled connection starts with `default_transaction_read_only = on` and a
//! `statement_timeout`, so even a mistaken statement here could not write, and no read can hold
//! a connection for long. Tables are always schema-qualified (`read.operators`, `public.events`).
//!
//! Layout:
//! - `sessions`: is a token's login session live (`public.auth_sessions`, `public.accounts`).
//! - `operators`: operators and what hangs off them (sites, grants, credentials, headset
//!   servers), the admin list and detail page, the operator's own profile.
//! - `ledger`: balances, usage records (charges) and money transactions.
//! - `catalog`: the app catalog.
//! - `applications`: operators' applications for apps.
//! - `refunds`, `invoices`: refund and invoice requests.
//! - `recharges`: online recharge orders.
//! - `messages`: operators' message centers.
//! - `announcements`, `staff`: announcements and staff accounts.
//! - `audit_log`: staff actions.
//! - `audit`: the event store, per stream and in global order.
//! - `stats`: the daily statistics, summed over periods (operator, finance, analysts).
//! - `linked_events`: the same events with their previous hash, for the gRPC stream.

mod alerts;
mod announcements;
mod applications;
mod audit;
mod audit_log;
mod catalog;
mod invoices;
mod ledger;
mod linked_events;
mod messages;
mod operators;
mod recharges;
mod reconciliations;
mod refunds;
mod sessions;
mod staff;
mod stats;

use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use ledger_core::money::Money;
use rust_decimal::Decimal;
use tokio_postgres::error::SqlState;
use tokio_postgres::{NoTls, Row};
use uuid::Uuid;

pub use alerts::{AlertFilter, AlertView};
pub use applications::ApplicationFilter;
pub use audit_log::StaffActionFilter;
pub use catalog::AppFilter;
pub use invoices::{ISSUED, InvoiceFilter};
pub use ledger::{GlobalTransactionFilter, TransactionFilter, UsageFilter};
pub use linked_events::LinkedEvent;
pub use messages::{MessageFilter, MessageRow, MessageRows};
pub use operators::OperatorFilter;
pub use recharges::RechargeFilter;
pub use reconciliations::{
    LineKey, ReconciliationFilter, ReconciliationItemFilter, ReconciliationItemView,
    ReconciliationRunView,
};
pub use refunds::RefundFilter;
pub use stats::{Bucket, DayRange, StatsClock};

use crate::cursor::{self, CursorKey, TimeIdKey};
use crate::settings::Settings;
use crate::views::{Page, Time};

/// Most rows a per-operator sub-list (sites, grants, credentials, headset servers) returns:
/// far above any real arcade operator, and a bound on the response size all the same.
pub const SUB_LIST_MAX: i64 = 1_000;

/// Longest wait to hand a pooled connection back after checking it.
const RECYCLE_TIMEOUT: Duration = Duration::from_secs(1);

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no database connection")]
    Pool(#[from] PoolError),
    #[error("database error")]
    Database(#[from] tokio_postgres::Error),
    /// A read-model row breaks an invariant the projector guarantees (e.g. a negative
    /// balance): a bug to investigate, never shown to a client.
    #[error("read model row breaks an invariant: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// The database could not be reached or did not answer in time: worth retrying later
    /// (503), as opposed to a bug (500).
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Pool(_) => true,
            StoreError::Database(e) => {
                if e.is_closed() {
                    return true;
                }
                match e.code() {
                    Some(code) => {
                        code.code().starts_with("08") // connection exception
                            || *code == SqlState::QUERY_CANCELED // statement_timeout
                            || *code == SqlState::ADMIN_SHUTDOWN
                            || *code == SqlState::CRASH_SHUTDOWN
                            || *code == SqlState::CANNOT_CONNECT_NOW
                            || *code == SqlState::TOO_MANY_CONNECTIONS
                    }
                    // No server code: the socket failed (IO) unless it was a conversion bug.
                    None => std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()),
                }
            }
            StoreError::Corrupt(_) => false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid database_url: {0}")]
pub struct PoolConfigError(String);

/// The read side of the database. Cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct Store {
    pool: Pool,
}

impl Store {
    /// Builds the pool. Connections open lazily, so this succeeds while the database is down;
    /// reads then answer 503 and `/health/ready` says so.
    pub fn new(settings: &Settings) -> Result<Store, PoolConfigError> {
        let mut config: tokio_postgres::Config = settings
            .database_url
            .parse()
            .map_err(|e: tokio_postgres::Error| PoolConfigError(e.to_string()))?;
        let session = format!(
            "-c default_transaction_read_only=on -c statement_timeout={}",
            settings.db_statement_timeout_ms
        );
        let options = match config.get_options() {
            Some(existing) if !existing.is_empty() => format!("{existing} {session}"),
            _ => session,
        };
        config.options(options);
        config.application_name("query-api");
        config.connect_timeout(settings.db_connect_timeout());
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(settings.db_pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(settings.db_wait_timeout()))
            .create_timeout(Some(settings.db_connect_timeout()))
            .recycle_timeout(Some(RECYCLE_TIMEOUT))
            .build()
            .map_err(|e| PoolConfigError(e.to_string()))?;
        Ok(Store { pool })
    }

    async fn client(&self) -> Result<deadpool_postgres::Client, StoreError> {
        Ok(self.pool.get().await?)
    }

    /// One round trip to the database (`SELECT 1`), for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        client.query_one("SELECT 1", &[]).await?;
        Ok(())
    }

    /// Whether the operator is known to the read side.
    async fn operator_exists(
        client: &deadpool_postgres::Client,
        operator_id: uuid::Uuid,
    ) -> Result<bool, StoreError> {
        let stmt = client
            .prepare_cached("SELECT 1 FROM read.operators WHERE id = $1")
            .await?;
        Ok(client.query_opt(&stmt, &[&operator_id]).await?.is_some())
    }
}

/// A `NUMERIC(18,2)` column that holds a non-negative amount.
fn money(row: &Row, column: &str) -> Result<Money, StoreError> {
    let value: Decimal = row.try_get(column)?;
    Money::from_decimal(value).map_err(|e| StoreError::Corrupt(format!("{column} = {value}: {e}")))
}

/// A nullable `timestamptz` column.
fn time_opt(row: &Row, column: &str) -> Result<Option<Time>, StoreError> {
    Ok(row.try_get::<_, Option<DateTime<Utc>>>(column)?.map(Time))
}

fn money_opt(row: &Row, column: &str) -> Result<Option<Money>, StoreError> {
    let value: Option<Decimal> = row.try_get(column)?;
    value
        .map(|v| {
            Money::from_decimal(v).map_err(|e| StoreError::Corrupt(format!("{column} = {v}: {e}")))
        })
        .transpose()
}

/// A row of a keyset-paginated page and its key, to build the next cursor from the last one.
struct Keyed<T, K> {
    item: T,
    key: K,
}

/// The page of rows fetched with `limit + 1`: the first `limit`, and a cursor after the last
/// of them when there was more.
fn finish_page<T, K: CursorKey>(rows: Vec<Keyed<T, K>>, limit: i64) -> Page<T> {
    let (rows, more) = split_page(rows, limit);
    let next_cursor = match rows.last() {
        Some(last) if more => Some(cursor::encode(&last.key)),
        _ => None,
    };
    Page {
        items: rows.into_iter().map(|r| r.item).collect(),
        next_cursor,
    }
}

/// The keyset position of a row of a (time DESC, id DESC) list.
fn time_id_key(t: DateTime<Utc>, id: Uuid) -> TimeIdKey {
    TimeIdKey {
        t: cursor::micros(t),
        id,
    }
}

/// A (time, id) cursor as the two query parameters of a keyset condition.
fn time_id_params(after: Option<TimeIdKey>) -> (Option<DateTime<Utc>>, Option<Uuid>) {
    match after {
        Some(key) => (Some(cursor::time(key.t)), Some(key.id)),
        None => (None, None),
    }
}

/// Keeps the first `limit` rows of a page fetched with `limit + 1` and says whether there
/// was more.
fn split_page<T>(mut items: Vec<T>, limit: i64) -> (Vec<T>, bool) {
    let limit = usize::try_from(limit).expect("limits are positive");
    let more = items.len() > limit;
    items.truncate(limit);
    (items, more)
}
