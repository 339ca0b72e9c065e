//! Bulk writes of a folded batch: one statement per table, rows passed as one JSON array.

use serde::Serialize;
use tokio_postgres::GenericClient;
use tokio_postgres::types::Json;

use crate::Error;
use crate::fold::State;
use crate::tables::{self, Table};

/// `INSERT … SELECT * FROM json_populate_recordset(…)`, updating rows that exist.
fn upsert_sql(table: &Table) -> String {
    let key = table.key.join(", ");
    let rest: Vec<&str> = table
        .columns
        .iter()
        .copied()
        .filter(|c| !table.key.contains(c))
        .collect();
    let excluded: Vec<String> = rest.iter().map(|c| format!("EXCLUDED.{c}")).collect();
    format!(
        "INSERT INTO {name} SELECT * FROM json_populate_recordset(NULL::{name}, $1::json) \
         ON CONFLICT ({key}) DO UPDATE SET ({rest}) = ROW({excluded})",
        name = table.name,
        rest = rest.join(", "),
        excluded = excluded.join(", "),
    )
}

/// Plain `INSERT`: for rows written once, where a conflict would mean a double.
fn insert_sql(table: &Table) -> String {
    format!(
        "INSERT INTO {name} SELECT * FROM json_populate_recordset(NULL::{name}, $1::json)",
        name = table.name
    )
}

async fn execute<R: Serialize + std::fmt::Debug + Sync>(
    client: &impl GenericClient,
    sql: String,
    rows: Vec<&R>,
) -> Result<(), Error> {
    if !rows.is_empty() {
        client.execute(&sql, &[&Json(rows)]).await?;
    }
    Ok(())
}

/// Writes every row the batch changed, to the schema on the current `search_path`.
pub(crate) async fn changes(client: &impl GenericClient, state: &State) -> Result<(), Error> {
    // Independent statements: sent together, PostgreSQL runs them in order on one connection.
    tokio::try_join!(
        execute(
            client,
            upsert_sql(&tables::OPERATORS),
            state.operators.changed()
        ),
        execute(
            client,
            upsert_sql(&tables::CREDENTIALS),
            state.credentials.changed()
        ),
        execute(client, upsert_sql(&tables::SITES), state.sites.changed()),
        execute(client, upsert_sql(&tables::APPS), state.apps.changed()),
        execute(client, upsert_sql(&tables::GRANTS), state.grants.changed()),
        execute(
            client,
            upsert_sql(&tables::USAGE_RECORDS),
            state.usage_records.changed()
        ),
        execute(
            client,
            insert_sql(&tables::TRANSACTIONS),
            state.transactions.iter().collect()
        ),
        execute(
            client,
            upsert_sql(&tables::HEADSET_SERVERS),
            state.headset_servers.changed()
        ),
    )?;
    Ok(())
}
