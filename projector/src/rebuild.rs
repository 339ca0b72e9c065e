//! Rebuild: replay the whole history into a fresh schema beside the live one, then swap
//! names in one transaction. The live projector keeps running throughout: it waits on the
//! projection lock during the swap and then finds the new schema under the old name.

use std::time::{Duration, Instant};

use tokio_postgres::Client;

use crate::batch::{self, BATCH_SIZE};
use crate::source::Until;
use crate::tables;
use crate::time_zone::{self, DEFAULT_TIME_ZONE};
use crate::{Error, Step, check_schema_name};

/// Schema the rebuild fills before the swap.
pub const NEXT_SCHEMA: &str = "read_next";
/// Name the replaced schema has between the swap and its drop (same transaction).
const OLD_SCHEMA: &str = "read_old";
/// Session advisory lock held for a whole rebuild: two at once would drop each other's
/// [`NEXT_SCHEMA`].
pub const REBUILD_LOCK: i64 = 7_262_736_511;

/// Events per transaction while replaying into a schema nobody reads yet (rebuild, verify).
/// The live [`BATCH_SIZE`] is small to keep lag and lock time short; a replay has neither
/// concern, and a large batch pays the per-batch work once per this many events: the round
/// trips, the commit, and above all loading and rewriting every operator row the batch
/// touches (1,000 games spread over 1,000 operators rewrite up to 1,000 operator rows).
/// Verify replays in one transaction, which cannot prune the row versions it replaced itself,
/// so there each batch also lengthens every later lookup: 300 batches took 230 s, 16 take
/// 21 s (docs/PERFORMANCE.md, "Replay and rebuild"). 50,000 measured no faster than 20,000.
pub const REPLAY_BATCH_SIZE: i64 = 20_000;

/// What a rebuild did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuildReport {
    pub events: u64,
    pub elapsed: Duration,
}

impl RebuildReport {
    pub fn events_per_second(&self) -> u64 {
        let micros = self.elapsed.as_micros().max(1);
        u64::try_from(u128::from(self.events) * 1_000_000 / micros).unwrap_or(u64::MAX)
    }
}

/// Rebuilds `schema` (normally [`crate::READ_SCHEMA`]) from the events, keeping the time
/// zone its statistics are cut in ([`DEFAULT_TIME_ZONE`] if it records none).
pub async fn rebuild(client: &mut Client, schema: &str) -> Result<RebuildReport, Error> {
    check_schema_name(schema)?;
    let zone = time_zone::recorded(&*client, schema)
        .await?
        .unwrap_or_else(|| DEFAULT_TIME_ZONE.to_owned());
    rebuild_in_zone(client, schema, &zone).await
}

/// Rebuilds `schema` from the events with its statistics cut in `time_zone`: how a new
/// zone is taken into use.
pub async fn rebuild_in_zone(
    client: &mut Client,
    schema: &str,
    time_zone: &str,
) -> Result<RebuildReport, Error> {
    check_schema_name(schema)?;
    time_zone::check(&*client, time_zone).await?;
    let locked: bool = client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&REBUILD_LOCK])
        .await?
        .get(0);
    if !locked {
        return Err(Error::RebuildRunning);
    }
    let rebuilt = replay_and_swap(client, schema, time_zone).await;
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&REBUILD_LOCK])
        .await?;
    rebuilt
}

/// The rebuild proper, run under the rebuild lock.
async fn replay_and_swap(
    client: &mut Client,
    schema: &str,
    time_zone: &str,
) -> Result<RebuildReport, Error> {
    let started = Instant::now();
    {
        let tx = client.transaction().await?;
        tx.batch_execute(&format!("DROP SCHEMA IF EXISTS {NEXT_SCHEMA} CASCADE"))
            .await?;
        tx.execute("SELECT public.mr_create_read_schema($1)", &[&NEXT_SCHEMA])
            .await?;
        time_zone::claim(&tx, NEXT_SCHEMA, time_zone).await?;
        tx.commit().await?;
    }
    // Replay without the projection lock (nobody else writes the new schema; the rebuild
    // lock keeps a second rebuild out), so the live projector goes on meanwhile. Each loop
    // stops at the first short batch: events keep arriving under load, and a loop that
    // waited for an empty batch could chase the tail for as long as the load lasts.
    let mut events = replay_until_short_batch(client, REPLAY_BATCH_SIZE).await?;
    analyze_next(client).await?;
    let tx = client.transaction().await?;
    batch::lock(&tx).await?;
    loop {
        let Step::Projected(n) =
            batch::project_in(&tx, NEXT_SCHEMA, BATCH_SIZE, Until::Horizon).await?
        else {
            break;
        };
        events += n as u64;
        if (n as i64) < BATCH_SIZE {
            break;
        }
    }
    tx.batch_execute(&format!(
        "ALTER SCHEMA {schema} RENAME TO {OLD_SCHEMA}; \
         ALTER SCHEMA {NEXT_SCHEMA} RENAME TO {schema}; \
         DROP SCHEMA {OLD_SCHEMA} CASCADE;"
    ))
    .await?;
    tx.commit().await?;
    let report = RebuildReport {
        events,
        elapsed: started.elapsed(),
    };
    tracing::info!(
        events,
        elapsed_ms = report.elapsed.as_millis() as u64,
        events_per_second = report.events_per_second(),
        "read schema rebuilt and swapped"
    );
    Ok(report)
}

/// Replays the tail into [`NEXT_SCHEMA`], a transaction per batch of `limit` events, until
/// a batch comes back short: the schema then stands where the tail stood a moment ago.
async fn replay_until_short_batch(client: &mut Client, limit: i64) -> Result<u64, Error> {
    let mut events = 0u64;
    loop {
        let tx = client.transaction().await?;
        let step = batch::project_in(&tx, NEXT_SCHEMA, limit, Until::Horizon).await?;
        tx.commit().await?;
        let Step::Projected(n) = step else {
            return Ok(events);
        };
        events += n as u64;
        tracing::debug!(events, "rebuild progress");
        if (n as i64) < limit {
            return Ok(events);
        }
    }
}

/// Gathers planner statistics for the filled tables before the swap (outside the projection
/// lock): fresh tables have none until autovacuum gets to them, and the queries run right
/// after the swap would otherwise be planned blind.
async fn analyze_next(client: &Client) -> Result<(), Error> {
    for table in tables::ALL {
        client
            .batch_execute(&format!("ANALYZE {NEXT_SCHEMA}.{}", table.name))
            .await?;
    }
    Ok(())
}
