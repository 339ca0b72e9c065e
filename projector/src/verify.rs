//! Verify: are the events intact, and do the read tables say what the events say?
//!
//! 1. Every stream's hash chain is recomputed from the stored rows; the first divergence of
//!    each broken stream is reported (aggregate, sequence, position).
//! 2. In one REPEATABLE READ transaction: the live checkpoint is read, a scratch schema is
//!    filled by replaying the events up to it (the projector's own code), every read table is
//!    diffed against it both ways, and every operator balance is recomputed from the events
//!    with plain SQL; then the transaction rolls back, leaving nothing behind.

use std::fmt;

use ledger_core::chain::{self, ChainedEvent, GENESIS, Hash};
use ledger_core::ids::OperatorId;
use rust_decimal::Decimal;
use serde::{Serialize, Serializer};
use tokio_postgres::{Client, IsolationLevel};

use crate::batch;
use crate::checkpoint::{self, Checkpoint};
use crate::rebuild::REPLAY_BATCH_SIZE;
use crate::source::Until;
use crate::tables::{self, Table};
use crate::time_zone;
use crate::{Error, Step, check_schema_name};

/// Scratch schema of the replay; it only ever exists inside verify's transaction.
pub const SCRATCH_SCHEMA: &str = "read_verify";
/// Differing rows shown per table and direction; the counts are always complete.
pub const MAX_SAMPLE_ROWS: i64 = 10;
/// Broken streams listed; the count is always complete.
pub const MAX_REPORTED_BREAKS: usize = 100;
/// Events fetched per round trip while checking chains (bounds memory, not the result).
const CHAIN_FETCH: i32 = 5_000;

/// The full result of a verify (serialized as the query API's verify answer).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifyReport {
    pub chains: ChainReport,
    pub read: ReadReport,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.chains.is_clean() && self.read.is_clean()
    }
}

/// Result of the hash-chain check.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ChainReport {
    pub events: u64,
    pub streams: u64,
    pub broken_streams: u64,
    /// The first divergence of each broken stream (at most [`MAX_REPORTED_BREAKS`]).
    pub breaks: Vec<ChainBreak>,
}

impl ChainReport {
    pub fn is_clean(&self) -> bool {
        self.broken_streams == 0
    }
}

/// Where a stream's chain first diverges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainBreak {
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub position: i64,
    pub problem: ChainProblem,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChainProblem {
    /// The stored hash is not the hash of the stored row and its predecessor.
    HashMismatch { stored: String, computed: String },
    /// The sequence does not follow its predecessor.
    SequenceGap { expected: i64 },
}

/// Result of the read-model check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReadReport {
    /// The live checkpoint the replay stopped at.
    #[serde(serialize_with = "serialize_checkpoint")]
    pub checkpoint: Checkpoint,
    /// Events replayed into the scratch schema.
    pub replayed: u64,
    /// Tables whose contents differ from the replay.
    pub tables: Vec<TableDiff>,
    /// Operators whose balance is not the sum of their money events.
    pub balances: Vec<BalanceMismatch>,
}

impl ReadReport {
    pub fn is_clean(&self) -> bool {
        self.tables.is_empty() && self.balances.is_empty()
    }
}

/// Rows of one table that differ between the replay and the live schema (as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableDiff {
    pub table: &'static str,
    /// The table's primary key columns: each sample row carries their values.
    pub key: &'static [&'static str],
    /// Rows of the replay that the live table lacks (or has with other values).
    pub missing: i64,
    /// Rows of the live table that the replay does not produce.
    pub unexpected: i64,
    /// Each row as its JSON text (`row_to_json`), serialized as the JSON object itself.
    #[serde(serialize_with = "serialize_json_rows")]
    pub missing_sample: Vec<String>,
    #[serde(serialize_with = "serialize_json_rows")]
    pub unexpected_sample: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BalanceMismatch {
    pub operator_id: OperatorId,
    /// What the read table says.
    #[serde(rename = "read_balance", serialize_with = "serialize_money")]
    pub balance: Decimal,
    /// What the operator's money events add up to.
    #[serde(rename = "expected_balance", serialize_with = "serialize_money")]
    pub recomputed: Decimal,
}

/// An amount as a string with two decimals, like every amount of the APIs (`"0.00"`, not the
/// `"0"` an empty sum yields).
fn serialize_money<S: Serializer>(amount: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    let mut amount = *amount;
    amount.rescale(2);
    s.collect_str(&amount)
}

/// A checkpoint as `{tx_id, position, events}`.
fn serialize_checkpoint<S: Serializer>(checkpoint: &Checkpoint, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Shown {
        tx_id: u64,
        position: i64,
        events: i64,
    }
    Shown {
        tx_id: checkpoint.last.tx_id,
        position: checkpoint.last.position,
        events: checkpoint.events,
    }
    .serialize(s)
}

/// Rows kept as JSON texts, written out as those JSON values byte for byte (numbers keep
/// their scale: `88.00`); a text that is not JSON, which `row_to_json` never yields, stays a
/// string.
fn serialize_json_rows<S: Serializer>(rows: &[String], s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    #[serde(untagged)]
    enum Row {
        Json(Box<serde_json::value::RawValue>),
        Text(String),
    }
    s.collect_seq(rows.iter().map(|row| {
        serde_json::value::RawValue::from_string(row.clone())
            .map_or_else(|_| Row::Text(row.clone()), Row::Json)
    }))
}

/// Checks the hash chains, then the read schema `schema` against a replay.
pub async fn verify(client: &mut Client, schema: &str) -> Result<VerifyReport, Error> {
    let chains = verify_chains(client).await?;
    let read = verify_read_models(client, schema).await?;
    Ok(VerifyReport { chains, read })
}

/// Recomputes every stream's hash chain from the stored rows.
pub async fn verify_chains(client: &mut Client) -> Result<ChainReport, Error> {
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let portal = tx
        .bind(
            "SELECT aggregate_type, aggregate_id, sequence, position, event_type, event_version, \
                    payload::text, metadata::text, hash \
             FROM public.events ORDER BY aggregate_type, aggregate_id, sequence",
            &[],
        )
        .await?;
    let mut report = ChainReport::default();
    // (aggregate_type, aggregate_id, last sequence, last stored hash, broken)
    let mut current: Option<(String, String, i64, Hash, bool)> = None;
    loop {
        let rows = tx.query_portal(&portal, CHAIN_FETCH).await?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            report.events += 1;
            let aggregate_type: &str = row.get(0);
            let aggregate_id: &str = row.get(1);
            let sequence: i64 = row.get(2);
            let same_stream = current
                .as_ref()
                .is_some_and(|(t, i, ..)| t == aggregate_type && i == aggregate_id);
            if !same_stream {
                report.streams += 1;
                current = Some((
                    aggregate_type.to_owned(),
                    aggregate_id.to_owned(),
                    0,
                    GENESIS,
                    false,
                ));
            }
            let stream = current.as_mut().expect("set above");
            if stream.4 {
                continue;
            }
            let stored: &[u8] = row.get(8);
            let computed = chain::event_hash(
                &stream.3,
                &ChainedEvent {
                    aggregate_type,
                    aggregate_id,
                    sequence,
                    event_type: row.get(4),
                    event_version: row.get(5),
                    payload: row.get(6),
                    metadata: row.get(7),
                },
            );
            let problem = if sequence != stream.2 + 1 {
                Some(ChainProblem::SequenceGap {
                    expected: stream.2 + 1,
                })
            } else if stored != computed {
                Some(ChainProblem::HashMismatch {
                    stored: chain::to_hex(stored),
                    computed: chain::to_hex(&computed),
                })
            } else {
                None
            };
            match problem {
                None => {
                    stream.2 = sequence;
                    stream.3 = computed;
                }
                Some(problem) => {
                    stream.4 = true;
                    report.broken_streams += 1;
                    if report.breaks.len() < MAX_REPORTED_BREAKS {
                        report.breaks.push(ChainBreak {
                            aggregate_type: aggregate_type.to_owned(),
                            aggregate_id: aggregate_id.to_owned(),
                            sequence,
                            position: row.get(3),
                            problem,
                        });
                    }
                }
            }
        }
    }
    tx.rollback().await?;
    Ok(report)
}

/// Replays the events up to `schema`'s checkpoint into a scratch schema and diffs the two.
pub async fn verify_read_models(client: &mut Client, schema: &str) -> Result<ReadReport, Error> {
    check_schema_name(schema)?;
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .start()
        .await?;
    let live = checkpoint::read_schema(&tx, schema).await?;
    tx.execute(
        "SELECT public.mr_create_read_schema($1)",
        &[&SCRATCH_SCHEMA],
    )
    .await?;
    // The replay cuts statistics days in the zone the live schema recorded.
    if let Some(zone) = time_zone::recorded(&tx, schema).await? {
        time_zone::claim(&tx, SCRATCH_SCHEMA, &zone).await?;
    }
    let mut replayed = 0u64;
    while let Step::Projected(n) = batch::project_in(
        &tx,
        SCRATCH_SCHEMA,
        REPLAY_BATCH_SIZE,
        Until::Passed(live.last),
    )
    .await?
    {
        replayed += n as u64;
    }
    let mut diffs = Vec::new();
    for table in tables::ALL {
        if let Some(diff) = diff_table(&tx, &table, SCRATCH_SCHEMA, schema).await? {
            diffs.push(diff);
        }
    }
    let balances = recompute_balances(&tx, schema).await?;
    tx.rollback().await?;
    Ok(ReadReport {
        checkpoint: live,
        replayed,
        tables: diffs,
        balances,
    })
}

async fn diff_table(
    tx: &tokio_postgres::Transaction<'_>,
    table: &Table,
    expected: &str,
    actual: &str,
) -> Result<Option<TableDiff>, Error> {
    let columns = table.columns.join(", ");
    let one_way = |from: &str, minus: &str| {
        format!(
            "SELECT count(*), coalesce((array_agg(row_to_json(d)::text))[1:{MAX_SAMPLE_ROWS}], '{{}}') \
             FROM (SELECT {columns} FROM {from}.{name} EXCEPT ALL SELECT {columns} FROM {minus}.{name}) d",
            name = table.name,
        )
    };
    let (missing_sql, unexpected_sql) = (one_way(expected, actual), one_way(actual, expected));
    let (missing, unexpected) = tokio::try_join!(
        tx.query_one(&missing_sql, &[]),
        tx.query_one(&unexpected_sql, &[])
    )?;
    let diff = TableDiff {
        table: table.name,
        key: table.key,
        missing: missing.get(0),
        unexpected: unexpected.get(0),
        missing_sample: missing.get(1),
        unexpected_sample: unexpected.get(1),
    };
    Ok((diff.missing > 0 || diff.unexpected > 0).then_some(diff))
}

/// Each operator's balance against the sum of its stream's money events up to the last
/// event applied to it, computed by PostgreSQL from the JSON, independently of the fold.
async fn recompute_balances(
    tx: &tokio_postgres::Transaction<'_>,
    schema: &str,
) -> Result<Vec<BalanceMismatch>, Error> {
    let rows = tx
        .query(
            &format!(
                "SELECT id, balance, recomputed FROM ( \
                     SELECT o.id, o.balance, coalesce(sum(CASE e.event_type \
                         WHEN 'BalanceCredited' THEN (e.payload->'BalanceCredited'->>'amount')::numeric \
                         WHEN 'GameAuthorized' THEN -(e.payload->'GameAuthorized'->>'total_cost')::numeric \
                         WHEN 'RefundApproved' THEN -(e.payload->'RefundApproved'->>'amount')::numeric \
                         WHEN 'RechargeSucceeded' THEN (e.payload->'RechargeSucceeded'->>'amount')::numeric \
                     END), 0) AS recomputed \
                     FROM {schema}.operators o \
                     LEFT JOIN public.events e ON e.aggregate_type = 'Operator' \
                          AND e.aggregate_id = o.id::text AND e.sequence <= o.last_sequence \
                          AND e.event_type IN ('BalanceCredited', 'GameAuthorized', 'RefundApproved', \
                                               'RechargeSucceeded') \
                     GROUP BY o.id, o.balance \
                 ) b WHERE balance <> recomputed \
                 ORDER BY id"
            ),
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| BalanceMismatch {
            operator_id: OperatorId(r.get(0)),
            balance: r.get(1),
            recomputed: r.get(2),
        })
        .collect())
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.chains;
        writeln!(
            f,
            "hash chains: {} events in {} streams, {} broken",
            c.events, c.streams, c.broken_streams
        )?;
        for b in &c.breaks {
            write!(
                f,
                "  {} {} sequence {} (position {}): ",
                b.aggregate_type, b.aggregate_id, b.sequence, b.position
            )?;
            match &b.problem {
                ChainProblem::HashMismatch { stored, computed } => {
                    writeln!(f, "stored hash {stored}, computed {computed}")?;
                }
                ChainProblem::SequenceGap { expected } => {
                    writeln!(f, "expected sequence {expected}")?
                }
            }
        }
        let r = &self.read;
        writeln!(
            f,
            "read models: checkpoint tx {} position {} ({} events), {} events replayed, {} tables differ, {} balances wrong",
            r.checkpoint.last.tx_id,
            r.checkpoint.last.position,
            r.checkpoint.events,
            r.replayed,
            r.tables.len(),
            r.balances.len()
        )?;
        for t in &r.tables {
            writeln!(
                f,
                "  {}: {} rows missing or different, {} unexpected",
                t.table, t.missing, t.unexpected
            )?;
            for row in &t.missing_sample {
                writeln!(f, "    replay: {row}")?;
            }
            for row in &t.unexpected_sample {
                writeln!(f, "    live:   {row}")?;
            }
        }
        for b in &r.balances {
            writeln!(
                f,
                "  operator {}: balance {}, events say {}",
                b.operator_id, b.balance, b.recomputed
            )?;
        }
        write!(
            f,
            "{}",
            if self.is_clean() {
                "OK"
            } else {
                "DIFFERENCES FOUND"
            }
        )
    }
}
