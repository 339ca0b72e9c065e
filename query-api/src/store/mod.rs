//! Every SQL statement of the query API: reads of the `read` schema and of `events`.
//!
//! **Read only.** Each pooled connection starts with a `statement_timeout` and is set to
//! `default_transaction_read_only = on` as soon as it is open, so even a mistaken statement here
//! could not write, and no read can hold a connection for long. Tables are always schema-qualified (`read.operators`, `public.events`).
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
//! - `replica`: primary or streaming replica: where a read goes, replication lag, and the
//!   read-your-writes check of a position token.

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
pub mod replica;
mod sessions;
mod staff;
mod stats;

use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::{
    Hook, HookError, Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime,
};
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

/// Makes a session read only, run once it is open. Not a startup option
/// (`-c default_transaction_read_only=on`): with that, the session reports itself read only
/// before the client's `target_session_attrs=read-write` check, so a URL naming several hosts
/// (PostgreSQL failover) would reject the primary too and never connect.
pub(crate) const READ_ONLY_SESSION: &str = "SET default_transaction_read_only = on";

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

/// The read side of the database: the primary, and a streaming replica when configured.
/// Cheap to clone (the pools are shared).
pub struct Store {
    primary: Pool,
    replica: Option<std::sync::Arc<replica::Replica>>,
    /// Where every read of this handle goes, whatever the request (see [`Clone`]).
    pinned: Option<replica::Target>,
}

/// A clone made while a request is served keeps that request's route: a streamed export
/// reads its later batches after the handler returned, outside the request's scope, from
/// where the request was routed.
impl Clone for Store {
    fn clone(&self) -> Store {
        Store {
            primary: self.primary.clone(),
            replica: self.replica.clone(),
            pinned: self.pinned.or_else(replica::current_route),
        }
    }
}

impl Store {
    /// Builds the pools (and, with a replica, starts watching its lag). Connections open
    /// lazily, so this succeeds while the database is down; reads then answer 503 and
    /// `/health/ready` says so.
    pub fn new(settings: &Settings) -> Result<Store, PoolConfigError> {
        let primary = Self::pool(settings, &settings.database_url)?;
        let replica = match settings.replica_url.trim() {
            "" => None,
            url => {
                let replica = replica::Replica::new(
                    Self::pool(settings, url)?,
                    replica::LagLimits {
                        max_bytes: settings.replica_lag_max_bytes,
                        max_seconds: settings.replica_lag_max_seconds,
                    },
                );
                replica::watch(primary.clone(), &replica);
                Some(replica)
            }
        };
        Ok(Store {
            primary,
            replica,
            pinned: None,
        })
    }

    /// A read-only pool on `url` with the read settings.
    fn pool(settings: &Settings, url: &str) -> Result<Pool, PoolConfigError> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| PoolConfigError(e.to_string()))?;
        let session = format!("-c statement_timeout={}", settings.db_statement_timeout_ms);
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
            .post_create(Hook::async_fn(|client, _| {
                Box::pin(async move {
                    client
                        .batch_execute(READ_ONLY_SESSION)
                        .await
                        .map_err(HookError::Backend)
                })
            }))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(settings.db_wait_timeout()))
            .create_timeout(Some(settings.db_connect_timeout()))
            .recycle_timeout(Some(RECYCLE_TIMEOUT))
            .build()
            .map_err(|e| PoolConfigError(e.to_string()))?;
        Ok(pool)
    }

    /// Where reads go without a token: the replica while its lag is within the limits.
    fn default_target(&self) -> replica::Target {
        match &self.replica {
            Some(replica) if replica.usable() => replica::Target::Replica,
            _ => replica::Target::Primary,
        }
    }

    /// Where this read goes: the handle's pin, else the request's route, else the default.
    fn target(&self) -> replica::Target {
        self.pinned
            .or_else(replica::current_route)
            .unwrap_or_else(|| self.default_target())
    }

    fn pool_of(&self, target: replica::Target) -> &Pool {
        match (target, &self.replica) {
            (replica::Target::Replica, Some(replica)) => &replica.pool,
            _ => &self.primary,
        }
    }

    async fn client(&self) -> Result<deadpool_postgres::Client, StoreError> {
        Ok(self.pool_of(self.target()).get().await?)
    }

    /// One round trip to the primary (`SELECT 1`), for readiness checks: reads fall back to
    /// it whenever the replica cannot serve them.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let client = self.primary.get().await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The query API's sessions are read only once open (not by a start-up option, which a
    /// multi-host URL's `target_session_attrs=read-write` check would see on every host).
    #[tokio::test]
    async fn pooled_sessions_refuse_writes() {
        let url = "postgres://postgres@127.0.0.1:5432/postgres";
        let settings = Settings::new(url, crate::Secret::new("x".repeat(32)));
        let pool = Store::pool(&settings, url).expect("a pool");
        let mut client = pool.get().await.expect("the local PostgreSQL");
        let tx = client.transaction().await.unwrap();
        let refused = tx
            .batch_execute("CREATE TABLE query_api_read_only_probe (x int)")
            .await
            .expect_err("a read-only session refuses DDL");
        assert_eq!(
            refused.code(),
            Some(&tokio_postgres::error::SqlState::READ_ONLY_SQL_TRANSACTION),
            "{refused}"
        );
    }
}
