//! The reads behind a report: the statistics' daily tables (`read.stats_money_daily`,
//! `read.stats_usage_daily`) grouped over the period, and the names of operators, apps and
//! sites. Never a raw usage row: a year is at most 366 days of per-operator figures.
//!
//! Everything is read in one `REPEATABLE READ READ ONLY` transaction, so the revenue, the
//! customers and the usage of one report come from the same moment of the projection.

use chrono::{NaiveDate, Utc};
use deadpool_postgres::Transaction;
use rust_decimal::Decimal;

use super::model::{CustomerSpend, DayRevenue, ReportDocument, TOP_CUSTOMERS, UsageLine};
use super::period::Period;
use crate::store::StoreError;

/// The zone of the days when the projector has not recorded one yet (an empty read schema):
/// the projector's own default.
pub const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";

/// The zone the statistics' days are cut in, and today's date there.
pub async fn zone_and_today(tx: &Transaction<'_>) -> Result<(String, NaiveDate), StoreError> {
    let zone: Option<String> = tx
        .query_opt("SELECT time_zone FROM read.stats_settings", &[])
        .await?
        .map(|row| row.try_get(0))
        .transpose()?;
    let zone = zone.unwrap_or_else(|| DEFAULT_TIME_ZONE.to_owned());
    let today: NaiveDate = tx
        .query_one("SELECT (now() AT TIME ZONE $1::text)::date", &[&zone])
        .await?
        .try_get(0)?;
    Ok((zone, today))
}

/// Every figure of `period`'s report (the zone comes from [`zone_and_today`]).
pub async fn load_document(
    tx: &Transaction<'_>,
    period: Period,
    time_zone: String,
) -> Result<ReportDocument, StoreError> {
    let days = revenue_by_day(tx, period).await?;
    let top_customers = top_customers(tx, period).await?;
    let apps = usage(tx, period, USAGE_BY_APP).await?;
    let sites = usage(tx, period, USAGE_BY_SITE).await?;
    Ok(ReportDocument {
        period,
        time_zone,
        generated_at: Utc::now(),
        days,
        top_customers,
        apps,
        sites,
    })
}

/// Every day of the period, with zeros for days without money.
async fn revenue_by_day(
    tx: &Transaction<'_>,
    period: Period,
) -> Result<Vec<DayRevenue>, StoreError> {
    let rows = tx
        .query(
            "SELECT day, sum(recharged) AS recharged, sum(charged) AS consumed,
                    sum(refunded) AS refunded
             FROM read.stats_money_daily
             WHERE day BETWEEN $1 AND $2
             GROUP BY day
             ORDER BY day",
            &[&period.start, &period.end],
        )
        .await?;
    let mut found = rows.iter().peekable();
    let mut days = Vec::new();
    for day in period.days() {
        let mut revenue = DayRevenue::empty(day);
        if let Some(row) = found.next_if(|row| row.get::<_, NaiveDate>("day") == day) {
            revenue.recharged = row.try_get("recharged")?;
            revenue.consumed = row.try_get("consumed")?;
            revenue.refunded = row.try_get("refunded")?;
        }
        days.push(revenue);
    }
    if found.next().is_some() {
        return Err(StoreError::Corrupt(
            "money figures outside the period's days".to_owned(),
        ));
    }
    Ok(days)
}

async fn top_customers(
    tx: &Transaction<'_>,
    period: Period,
) -> Result<Vec<CustomerSpend>, StoreError> {
    let limit = i64::try_from(TOP_CUSTOMERS).expect("small constant");
    let rows = tx
        .query(
            "SELECT coalesce(o.name, '') AS name, coalesce(o.username, s.operator_id::text) AS username,
                    coalesce(o.category, '') AS category, s.spend
             FROM (SELECT operator_id, sum(charged) AS spend
                   FROM read.stats_money_daily
                   WHERE day BETWEEN $1 AND $2
                   GROUP BY operator_id
                   HAVING sum(charged) > 0
                   ORDER BY spend DESC, operator_id
                   LIMIT $3) s
             LEFT JOIN read.operators o ON o.id = s.operator_id
             ORDER BY s.spend DESC, s.operator_id",
            &[&period.start, &period.end, &limit],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(CustomerSpend {
                name: row.try_get("name")?,
                username: row.try_get("username")?,
                category: row.try_get("category")?,
                spend: row.try_get("spend")?,
            })
        })
        .collect()
}

/// Games per app, biggest spend first.
const USAGE_BY_APP: &str = "
    SELECT coalesce(a.name, u.app_id::text) AS name, u.sessions, u.player_times, u.spend
    FROM (SELECT app_id, sum(sessions)::bigint AS sessions,
                 sum(player_times)::bigint AS player_times, sum(spend) AS spend
          FROM read.stats_usage_daily
          WHERE day BETWEEN $1 AND $2
          GROUP BY app_id) u
    LEFT JOIN read.apps a ON a.id = u.app_id
    ORDER BY u.spend DESC, name";

/// Games per site, named `operator · site`, biggest spend first.
const USAGE_BY_SITE: &str = "
    SELECT coalesce(o.name, u.operator_id::text) || ' · ' || coalesce(s.name, u.site_id::text)
               AS name,
           u.sessions, u.player_times, u.spend
    FROM (SELECT operator_id, site_id, sum(sessions)::bigint AS sessions,
                 sum(player_times)::bigint AS player_times, sum(spend) AS spend
          FROM read.stats_usage_daily
          WHERE day BETWEEN $1 AND $2
          GROUP BY operator_id, site_id) u
    LEFT JOIN read.operators o ON o.id = u.operator_id
    LEFT JOIN read.sites s ON s.id = u.site_id
    ORDER BY u.spend DESC, name";

async fn usage(
    tx: &Transaction<'_>,
    period: Period,
    sql: &str,
) -> Result<Vec<UsageLine>, StoreError> {
    let rows = tx.query(sql, &[&period.start, &period.end]).await?;
    rows.iter()
        .map(|row| {
            Ok(UsageLine {
                name: row.try_get("name")?,
                sessions: row.try_get("sessions")?,
                player_times: row.try_get("player_times")?,
                spend: row.try_get::<_, Decimal>("spend")?,
            })
        })
        .collect()
}
