//! Bulk writes of a folded batch: one statement per table, rows passed as one JSON array;
//! and the fan-outs, one `INSERT … SELECT` each.

use serde::Serialize;
use tokio_postgres::GenericClient;
use tokio_postgres::types::Json;

use crate::Error;
use crate::fold::{ANNOUNCEMENT, FanOut, PRICE_CHANGE, ReadMark, State};
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

/// Read marks on messages written earlier: each unread message of the operator below the
/// mark (and among its ids, if it names them) gets the time of the first mark covering it.
const MARK_READ: &str = "UPDATE messages m SET read_at = f.read_at FROM ( \
        SELECT DISTINCT ON (msg.operator_id, msg.id) msg.operator_id, msg.id, r.read_at \
        FROM json_to_recordset($1::json) \
             AS r(ord bigint, operator_id uuid, ids bigint[], below bigint, read_at timestamptz) \
        JOIN messages msg ON msg.operator_id = r.operator_id AND msg.read_at IS NULL \
             AND msg.id < r.below AND (r.ids IS NULL OR msg.id = ANY (r.ids)) \
        ORDER BY msg.operator_id, msg.id, r.ord \
    ) f WHERE m.operator_id = f.operator_id AND m.id = f.id";

/// Marks first, then new messages: the marks are for messages written before these, and
/// the new ones already carry the marks that follow them.
async fn messages(client: &impl GenericClient, state: &State) -> Result<(), Error> {
    let marks: Vec<&ReadMark> = state.messages.marks().iter().collect();
    execute(client, MARK_READ.to_owned(), marks).await?;
    execute(
        client,
        insert_sql(&tables::MESSAGES),
        state.messages.created().iter().collect(),
    )
    .await
}

/// Writes every row the batch changed since its last write, to the schema on the current
/// `search_path`.
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
        execute(client, upsert_sql(&tables::STAFF), state.staff.changed()),
        execute(
            client,
            upsert_sql(&tables::APP_APPLICATIONS),
            state.app_applications.changed()
        ),
        execute(
            client,
            upsert_sql(&tables::REFUNDS),
            state.refunds.changed()
        ),
        execute(
            client,
            upsert_sql(&tables::INVOICES),
            state.invoices.changed()
        ),
        execute(
            client,
            upsert_sql(&tables::RECHARGE_ORDERS),
            state.recharge_orders.changed()
        ),
        execute(
            client,
            insert_sql(&tables::ANNOUNCEMENTS),
            state.announcements.iter().collect()
        ),
        execute(
            client,
            insert_sql(&tables::STAFF_ACTIONS),
            state.staff_actions.iter().collect()
        ),
        messages(client, state),
    )?;
    Ok(())
}

/// Delivers a fan-out to its recipients as the read tables stand now. The caller has
/// written everything folded before the fan-out's event and nothing after it.
pub(crate) async fn fan_out(client: &impl GenericClient, fan_out: &FanOut) -> Result<(), Error> {
    match fan_out {
        FanOut::Announcement {
            id,
            data,
            created_at,
        } => {
            client
                .execute(
                    "INSERT INTO messages (operator_id, id, kind, data, created_at) \
                     SELECT o.id, $1::bigint, $2::text, $3::jsonb, $4::timestamptz FROM operators o \
                     WHERE o.status <> 'deactivated'",
                    &[id, &ANNOUNCEMENT, &Json(data), created_at],
                )
                .await?;
        }
        FanOut::PriceChange {
            id,
            app_id,
            data,
            created_at,
        } => {
            client
                .execute(
                    "INSERT INTO messages (operator_id, id, kind, data, created_at) \
                     SELECT g.operator_id, $1::bigint, $2::text, $3::jsonb, $4::timestamptz FROM grants g \
                     WHERE g.app_id = $5 AND g.status = 'active' \
                       AND (g.expires_at IS NULL OR g.expires_at > $4)",
                    &[id, &PRICE_CHANGE, &Json(data), created_at, &app_id.as_uuid()],
                )
                .await?;
        }
    }
    Ok(())
}
