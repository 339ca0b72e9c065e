//! Where a read is served: the primary, or a streaming replica of it, and how far each has
//! come.
//!
//! With a replica configured, reads go to it while its replication lag is within the limits
//! (measured every [`WATCH_INTERVAL`] by a background task); beyond them, or while it does
//! not answer, reads fall back to the primary. A request that carries a read-your-writes
//! token (`X-Ledger-Min-Position`, the `xid8` a command answered) is served only where the
//! projection has applied that transaction: the replica if it has, else the primary if it
//! has, else it waits (bounded) for the primary's projection.
//!
//! The choice is made once per request ([`crate::consistency`]) and kept in a task-local that
//! [`Store::client`](super::Store) reads; a store cloned while serving the request (the
//! streamed exports) keeps it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;

use super::{Store, StoreError};

/// How often the background task measures the replica's lag to decide where reads go.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// Pause between two looks at the primary's checkpoint while a token waits for it: short
/// against the projector's own gather time (20 ms), and one cheap indexed query each.
pub const POSITION_POLL: Duration = Duration::from_millis(10);

/// Which database serves a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Primary,
    Replica,
}

impl Target {
    /// The value of `X-Ledger-Served-By`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Target::Primary => "primary",
            Target::Replica => "replica",
        }
    }
}

tokio::task_local! {
    /// Where the current request's reads go.
    pub(super) static ROUTE: Target;
}

/// Runs `future` with its reads sent to `target`.
pub async fn serve_from<F: Future>(target: Target, future: F) -> F::Output {
    ROUTE.scope(target, future).await
}

/// The route of the request being served, if any.
pub(super) fn current_route() -> Option<Target> {
    ROUTE.try_with(|target| *target).ok()
}

/// Replication lag beyond which reads leave the replica.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LagLimits {
    pub max_bytes: i64,
    pub max_seconds: f64,
}

impl LagLimits {
    pub fn allows(&self, lag: ReplicaLag) -> bool {
        lag.bytes <= self.max_bytes && lag.seconds <= self.max_seconds
    }
}

/// How far the replica's replay is behind the primary's WAL.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplicaLag {
    /// WAL bytes written by the primary and not yet replayed by the replica.
    pub bytes: i64,
    /// Age of the last transaction the replica replayed, counted only while `bytes > 0`
    /// (an idle primary writes nothing, and its replica is then not behind at all).
    pub seconds: f64,
}

/// The replica's pool and whether reads may go to it.
pub(super) struct Replica {
    pub(super) pool: Pool,
    /// Lag within the limits at the last measurement (false until the first one).
    usable: AtomicBool,
    limits: LagLimits,
}

impl Replica {
    pub(super) fn new(pool: Pool, limits: LagLimits) -> Arc<Replica> {
        Arc::new(Replica {
            pool,
            usable: AtomicBool::new(false),
            limits,
        })
    }

    pub(super) fn usable(&self) -> bool {
        self.usable.load(Ordering::Relaxed)
    }
}

/// Measures the replica's lag every [`WATCH_INTERVAL`] and sets whether reads go to it;
/// ends when the store is dropped.
pub(super) fn watch(primary: Pool, replica: &Arc<Replica>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let replica = Arc::downgrade(replica);
    runtime.spawn(async move {
        let mut was_usable = None;
        loop {
            let Some(replica) = replica.upgrade() else {
                return;
            };
            let measured =
                tokio::time::timeout(WATCH_INTERVAL, measure_with(&primary, &replica.pool)).await;
            let usable = match measured {
                Ok(Ok(lag)) => replica.limits.allows(lag),
                Ok(Err(error)) => {
                    if was_usable != Some(false) {
                        tracing::warn!(%error, "replica lag not measured: reads go to the primary");
                    }
                    false
                }
                Err(_) => false,
            };
            if was_usable.is_some() && was_usable != Some(usable) {
                tracing::warn!(usable, "replica usability changed");
            }
            was_usable = Some(usable);
            replica.usable.store(usable, Ordering::Relaxed);
            drop(replica);
            tokio::time::sleep(WATCH_INTERVAL).await;
        }
    });
}

/// The replica's lag: its replay position first, then the primary's current WAL position,
/// so the difference is never negative.
pub async fn measure_with(primary: &Pool, replica: &Pool) -> Result<ReplicaLag, StoreError> {
    let replica = replica.get().await?;
    let replayed = replica
        .query_one(
            "SELECT pg_last_wal_replay_lsn()::text, \
                    coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0)::float8",
            &[],
        )
        .await?;
    let Some(replay_lsn) = replayed.get::<_, Option<String>>(0) else {
        return Err(StoreError::Corrupt(
            "the replica database is not in recovery (not a streaming replica)".to_owned(),
        ));
    };
    let age: f64 = replayed.get(1);
    let primary = primary.get().await?;
    let behind = primary
        .query_one(
            "SELECT greatest(pg_wal_lsn_diff(pg_current_wal_lsn(), $1::text::pg_lsn), 0)::int8",
            &[&replay_lsn],
        )
        .await?;
    let bytes: i64 = behind.get(0);
    Ok(ReplicaLag {
        bytes,
        seconds: if bytes > 0 { age.max(0.0) } else { 0.0 },
    })
}

/// Whether the projection behind `client` has applied every event of transaction `token`:
/// its checkpoint is past that transaction, or at it with no later event of it left (a batch
/// may end inside a transaction). One indexed query.
pub(super) async fn reached(
    client: &deadpool_postgres::Client,
    token: u64,
) -> Result<bool, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT c.tx_id > $1::text::xid8 \
                 OR (c.tx_id = $1::text::xid8 AND NOT EXISTS ( \
                     SELECT 1 FROM public.events e \
                     WHERE e.tx_id = c.tx_id AND e.position > c.position)) \
             FROM read.checkpoint c",
        )
        .await?;
    let row = client.query_one(&statement, &[&token.to_string()]).await?;
    Ok(row.get(0))
}

/// Why a token could not be honoured.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// Neither the replica nor the primary applied the transaction within the wait.
    #[error("position {token} not reached within {waited:?}")]
    NotReached { token: u64, waited: Duration },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Store {
    /// Where a request's reads go: without a token, the replica while usable, else the
    /// primary; with one, the first of replica and primary whose projection has applied it,
    /// waiting up to `wait` for the primary's. Costs one query when the replica (or, without
    /// one, the primary) has already applied the token, nothing without a token.
    pub async fn route(&self, token: Option<u64>, wait: Duration) -> Result<Target, RouteError> {
        let Some(token) = token else {
            return Ok(self.default_target());
        };
        if let Some(replica) = self.replica.as_ref().filter(|r| r.usable()) {
            let on_replica = async {
                let client = replica.pool.get().await?;
                reached(&client, token).await
            };
            match on_replica.await {
                Ok(true) => return Ok(Target::Replica),
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(%error, "replica checkpoint not read: asking the primary")
                }
            }
        }
        let deadline = Instant::now() + wait;
        let client = self.primary.get().await.map_err(StoreError::from)?;
        loop {
            if reached(&client, token).await? {
                return Ok(Target::Primary);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(RouteError::NotReached {
                    token,
                    waited: wait,
                });
            }
            tokio::time::sleep(POSITION_POLL.min(deadline - now)).await;
        }
    }

    /// The replica's lag now (`None` without a replica).
    pub async fn replica_lag(&self) -> Option<Result<ReplicaLag, StoreError>> {
        let replica = self.replica.as_ref()?;
        Some(measure_with(&self.primary, &replica.pool).await)
    }

    /// The replica's lag limits (`None` without a replica).
    pub fn replica_limits(&self) -> Option<LagLimits> {
        self.replica.as_ref().map(|r| r.limits)
    }

    /// Whether reads without a token go to the replica now.
    pub fn serving_from_replica(&self) -> bool {
        self.default_target() == Target::Replica
    }
}
