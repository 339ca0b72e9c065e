//! Rebuild: replay the whole history into a fresh schema beside the live one, then swap
//! names in one transaction. The live projector keeps running throughout: it waits on the
//! projection lock during the swap and then finds the new schema under the old name.

use std::time::{Duration, Instant};

use tokio_postgres::Client;

use crate::batch::{self, BATCH_SIZE};
use crate::source::Until;
use crate::tables;
use crate::time_zone::{self, DEFAULT_TIME_ZONE};
use crate::{Error, Step, check_schema_name, project_batch_of};

/// Schema the rebuild fills before the swap.
pub const NEXT_SCHEMA: &str = "read_next";
/// Name the replaced schema has between the swap and its drop (same transaction).
const OLD_SCHEMA: &str = "read_old";

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
    let mut events = 0u64;
    while let Step::Projected(n) = project_batch_of(client, NEXT_SCHEMA, REPLAY_BATCH_SIZE).await? {
        events += n as u64;
        tracing::debug!(events, "rebuild progress");
    }
    analyze_next(client).await?;
    let tx = client.transaction().await?;
    batch::lock(&tx).await?;
    while let Step::Projected(n) =
        batch::project_in(&tx, NEXT_SCHEMA, BATCH_SIZE, Until::Horizon).await?
    {
        events += n as u64;
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
