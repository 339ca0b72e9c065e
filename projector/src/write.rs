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

/// Adds the batch's games to their days' figures (days cut in `$2`, the schema's zone):
/// one row per operator, local day, site and app, summed onto what is there.
const ADD_USAGE_STATS: &str = "INSERT INTO stats_usage_daily AS t \
        SELECT f.operator_id, (f.authorized_at AT TIME ZONE $2::text)::date, f.site_id, f.app_id, \
               count(*), sum(f.player_count), sum(f.total_cost), \
               count(*) FILTER (WHERE f.player_count <= 2), \
               count(*) FILTER (WHERE f.player_count BETWEEN 3 AND 4), \
               count(*) FILTER (WHERE f.player_count BETWEEN 5 AND 8), \
               count(*) FILTER (WHERE f.player_count >= 9) \
        FROM json_to_recordset($1::json) AS f(operator_id uuid, site_id uuid, app_id uuid, \
             player_count bigint, total_cost numeric, authorized_at timestamptz) \
        GROUP BY 1, 2, 3, 4 \
    ON CONFLICT (operator_id, day, site_id, app_id) DO UPDATE SET \
        sessions = t.sessions + EXCLUDED.sessions, \
        player_times = t.player_times + EXCLUDED.player_times, \
        spend = t.spend + EXCLUDED.spend, \
        sessions_upto_2 = t.sessions_upto_2 + EXCLUDED.sessions_upto_2, \
        sessions_3_4 = t.sessions_3_4 + EXCLUDED.sessions_3_4, \
        sessions_5_8 = t.sessions_5_8 + EXCLUDED.sessions_5_8, \
        sessions_9_plus = t.sessions_9_plus + EXCLUDED.sessions_9_plus";

/// Adds the batch's new money rows to their days' figures: recharges (online and staff
/// credits), charges and refunds per operator and local day (cut in `$2`).
const ADD_MONEY_STATS: &str = "INSERT INTO stats_money_daily AS t \
        SELECT f.operator_id, (f.occurred_at AT TIME ZONE $2::text)::date, \
               coalesce(sum(f.amount) FILTER (WHERE f.kind IN ('recharge', 'credit')), 0), \
               count(*) FILTER (WHERE f.kind IN ('recharge', 'credit')), \
               coalesce(sum(f.amount) FILTER (WHERE f.kind = 'charge'), 0), \
               count(*) FILTER (WHERE f.kind = 'charge'), \
               coalesce(sum(f.amount) FILTER (WHERE f.kind = 'refund'), 0), \
               count(*) FILTER (WHERE f.kind = 'refund') \
        FROM json_to_recordset($1::json) \
             AS f(operator_id uuid, kind text, amount numeric, occurred_at timestamptz) \
        WHERE f.kind IN ('recharge', 'credit', 'charge', 'refund') \
        GROUP BY 1, 2 \
    ON CONFLICT (operator_id, day) DO UPDATE SET \
        recharged = t.recharged + EXCLUDED.recharged, \
        recharges = t.recharges + EXCLUDED.recharges, \
        charged = t.charged + EXCLUDED.charged, \
        charges = t.charges + EXCLUDED.charges, \
        refunded = t.refunded + EXCLUDED.refunded, \
        refunds = t.refunds + EXCLUDED.refunds";

/// Adds `rows` to the daily figures with `sql` (one of the `ADD_*_STATS` statements).
async fn add_stats<R: Serialize + std::fmt::Debug + Sync>(
    client: &impl GenericClient,
    sql: &str,
    rows: &[R],
    time_zone: &str,
) -> Result<(), Error> {
    if !rows.is_empty() {
        client.execute(sql, &[&Json(rows), &time_zone]).await?;
    }
    Ok(())
}

/// Writes every row the batch changed since its last write, to the schema on the current
/// `search_path`, and adds its games and money to the daily figures (days cut in
/// `time_zone`, the one the schema records).
pub(crate) async fn changes(
    client: &impl GenericClient,
    state: &State,
    time_zone: &str,
) -> Result<(), Error> {
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
        add_stats(client, ADD_USAGE_STATS, &state.usage_facts, time_zone),
        add_stats(client, ADD_MONEY_STATS, &state.transactions, time_zone),
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
