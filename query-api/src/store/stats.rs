//! Statistics: reads of the daily figures the projector keeps (`read.stats_usage_daily`,
//! `read.stats_money_daily`), summed over a period of local days. Weeks and months are sums
//! of days; no statement here reads raw usage rows.

use chrono::NaiveDate;
use ledger_core::ids::{AppId, OperatorId, SiteId};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{Store, StoreError, money};
use crate::views::stats::{
    AppDistribution, AppFigures, CategoryFigures, Day, FiguresView, FinanceDashboardView, MoneyDay,
    OperatorAppFigures, OperatorSummaryView, OverviewView, PeriodView, PlayerDistribution,
    PlayerDistributionView, SiteFigures, SiteTimeFigures, SiteTimeView, TopCustomer,
    TopCustomersView, TrendPoint, TrendView, UsageFigures, average_players, net, ratio,
};

/// The zone a read schema's days are in before the projector has recorded one (nothing
/// projected yet): the projector's default.
pub const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";

/// The zone the figures are cut in and the current local day there.
#[derive(Debug, Clone)]
pub struct StatsClock {
    pub time_zone: String,
    pub today: NaiveDate,
}

/// Local days from `from` to `to`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl DayRange {
    fn view(self) -> PeriodView {
        PeriodView {
            from: Day(self.from),
            to: Day(self.to),
        }
    }
}

/// The buckets of a trend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Day,
    /// Monday to Sunday.
    Week,
    Month,
}

impl Bucket {
    pub const NAMES: &'static [&'static str] = &["day", "week", "month"];

    pub fn parse(name: &str) -> Option<Bucket> {
        match name {
            "day" => Some(Bucket::Day),
            "week" => Some(Bucket::Week),
            "month" => Some(Bucket::Month),
            _ => None,
        }
    }

    /// Also the `date_trunc` field (whose weeks start on Monday).
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Day => "day",
            Bucket::Week => "week",
            Bucket::Month => "month",
        }
    }
}

/// Usage figures from the columns `sessions`, `player_times` and `spend`.
fn usage(row: &Row) -> Result<UsageFigures, StoreError> {
    Ok(UsageFigures::new(
        row.try_get("sessions")?,
        row.try_get("player_times")?,
        money(row, "spend")?,
    ))
}

/// Sums of the usage columns, zero when there is no row.
const USAGE_SUMS: &str = "coalesce(sum(u.sessions), 0)::bigint AS sessions, \
     coalesce(sum(u.player_times), 0)::bigint AS player_times, \
     coalesce(sum(u.spend), 0) AS spend";

/// An operator's games in a period, by bucket, every bucket of the period included.
const OPERATOR_TREND: &str = "WITH figures AS ( \
         SELECT date_trunc($4, u.day::timestamp)::date AS bucket, \
                sum(u.sessions) AS sessions, sum(u.player_times) AS player_times, \
                sum(u.spend) AS spend \
         FROM read.stats_usage_daily u \
         WHERE u.operator_id = $1 AND u.day BETWEEN $2 AND $3 GROUP BY 1) \
     SELECT b.bucket::date AS bucket, coalesce(f.sessions, 0)::bigint AS sessions, \
            coalesce(f.player_times, 0)::bigint AS player_times, coalesce(f.spend, 0) AS spend \
     FROM generate_series(date_trunc($4, $2::timestamp), $3::timestamp, ('1 ' || $4)::interval) \
          AS b(bucket) \
     LEFT JOIN figures f ON f.bucket = b.bucket::date \
     ORDER BY 1";

impl Store {
    /// The zone the read schema's figures are in, and today there.
    pub async fn stats_clock(&self) -> Result<StatsClock, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT z.time_zone, (now() AT TIME ZONE z.time_zone)::date AS today \
                 FROM (SELECT coalesce((SELECT time_zone FROM read.stats_settings), $1::text) \
                       AS time_zone) z",
            )
            .await?;
        let row = client.query_one(&stmt, &[&DEFAULT_TIME_ZONE]).await?;
        Ok(StatsClock {
            time_zone: row.try_get("time_zone")?,
            today: row.try_get("today")?,
        })
    }

    /// The operator's games per bucket of the period.
    pub async fn operator_trend(
        &self,
        operator_id: OperatorId,
        range: DayRange,
        bucket: Bucket,
        clock: &StatsClock,
    ) -> Result<TrendView, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(OPERATOR_TREND).await?;
        let rows = client
            .query(
                &stmt,
                &[
                    &operator_id.as_uuid(),
                    &range.from,
                    &range.to,
                    &bucket.as_str(),
                ],
            )
            .await?;
        let points = rows
            .iter()
            .map(|row| {
                Ok(TrendPoint {
                    bucket: Day(row.try_get("bucket")?),
                    figures: usage(row)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(TrendView {
            time_zone: clock.time_zone.clone(),
            period: bucket.as_str(),
            range: range.view(),
            points,
        })
    }

    /// The operator's games per app in the period, most spend first.
    pub async fn operator_by_app(
        &self,
        operator_id: OperatorId,
        range: DayRange,
        clock: &StatsClock,
    ) -> Result<FiguresView<AppFigures>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT u.app_id, coalesce(a.name, '') AS app_name, {USAGE_SUMS} \
                 FROM read.stats_usage_daily u LEFT JOIN read.apps a ON a.id = u.app_id \
                 WHERE u.operator_id = $1 AND u.day BETWEEN $2 AND $3 \
                 GROUP BY u.app_id, a.name ORDER BY spend DESC, app_name, u.app_id"
            ))
            .await?;
        let rows = client
            .query(&stmt, &[&operator_id.as_uuid(), &range.from, &range.to])
            .await?;
        let items = rows
            .iter()
            .map(|row| {
                Ok(AppFigures {
                    app_id: AppId(row.try_get("app_id")?),
                    app_name: row.try_get("app_name")?,
                    figures: usage(row)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(FiguresView {
            time_zone: clock.time_zone.clone(),
            range: range.view(),
            items,
        })
    }

    /// The operator's games per site in the period, most spend first.
    pub async fn operator_by_site(
        &self,
        operator_id: OperatorId,
        range: DayRange,
        clock: &StatsClock,
    ) -> Result<FiguresView<SiteFigures>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT u.site_id, coalesce(s.name, '') AS site_name, {USAGE_SUMS} \
                 FROM read.stats_usage_daily u LEFT JOIN read.sites s ON s.id = u.site_id \
                 WHERE u.operator_id = $1 AND u.day BETWEEN $2 AND $3 \
                 GROUP BY u.site_id, s.name ORDER BY spend DESC, site_name, u.site_id"
            ))
            .await?;
        let rows = client
            .query(&stmt, &[&operator_id.as_uuid(), &range.from, &range.to])
            .await?;
        let items = rows
            .iter()
            .map(|row| {
                Ok(SiteFigures {
                    site_id: SiteId(row.try_get("site_id")?),
                    site_name: row.try_get("site_name")?,
                    figures: usage(row)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(FiguresView {
            time_zone: clock.time_zone.clone(),
            range: range.view(),
            items,
        })
    }

    /// The operator's dashboard: the period's games and money, today's and this month's
    /// spend (today as the clock says).
    pub async fn operator_summary(
        &self,
        operator_id: OperatorId,
        range: DayRange,
        clock: &StatsClock,
    ) -> Result<OperatorSummaryView, StoreError> {
        let client = self.client().await?;
        // One scan of the operator's days in the period or in this month so far; FILTER
        // gives each figure its own days.
        let stmt = client
            .prepare_cached(
                "SELECT \
                    coalesce(sum(u.sessions) FILTER (WHERE u.day BETWEEN $2 AND $3), 0)::bigint \
                        AS sessions, \
                    coalesce(sum(u.player_times) FILTER (WHERE u.day BETWEEN $2 AND $3), 0)::bigint \
                        AS player_times, \
                    coalesce(sum(u.spend) FILTER (WHERE u.day BETWEEN $2 AND $3), 0) AS spend, \
                    coalesce(sum(u.spend) FILTER (WHERE u.day = $4), 0) AS today_spend, \
                    coalesce(sum(u.spend) FILTER (WHERE u.day >= date_trunc('month', $4::timestamp)::date \
                                                    AND u.day <= $4), 0) AS month_spend, \
                    (SELECT coalesce(sum(m.recharged), 0) FROM read.stats_money_daily m \
                     WHERE m.operator_id = $1 AND m.day BETWEEN $2 AND $3) AS recharged, \
                    (SELECT coalesce(sum(m.refunded), 0) FROM read.stats_money_daily m \
                     WHERE m.operator_id = $1 AND m.day BETWEEN $2 AND $3) AS refunded \
                 FROM read.stats_usage_daily u \
                 WHERE u.operator_id = $1 \
                   AND (u.day BETWEEN $2 AND $3 \
                        OR u.day BETWEEN date_trunc('month', $4::timestamp)::date AND $4)",
            )
            .await?;
        let row = client
            .query_one(
                &stmt,
                &[&operator_id.as_uuid(), &range.from, &range.to, &clock.today],
            )
            .await?;
        Ok(OperatorSummaryView {
            time_zone: clock.time_zone.clone(),
            range: range.view(),
            figures: usage(&row)?,
            recharged: money(&row, "recharged")?,
            refunded: money(&row, "refunded")?,
            today: Day(clock.today),
            today_spend: money(&row, "today_spend")?,
            month_spend: money(&row, "month_spend")?,
        })
    }
}

/// Money of every operator per day of the date's month up to the date, days without money
/// included; the last row is the date itself.
const MONTH_OF_MONEY: &str = "WITH days AS ( \
         SELECT m.day, sum(m.recharged) AS recharged, sum(m.recharges) AS recharges, \
                sum(m.charged) AS charged, sum(m.charges) AS charges, \
                sum(m.refunded) AS refunded, sum(m.refunds) AS refunds \
         FROM read.stats_money_daily m \
         WHERE m.day BETWEEN date_trunc('month', $1::date::timestamp)::date AND $1 GROUP BY m.day) \
     SELECT g.day::date AS day, coalesce(d.recharged, 0) AS recharged, \
            coalesce(d.recharges, 0)::bigint AS recharges, coalesce(d.charged, 0) AS charged, \
            coalesce(d.charges, 0)::bigint AS charges, coalesce(d.refunded, 0) AS refunded, \
            coalesce(d.refunds, 0)::bigint AS refunds \
     FROM generate_series(date_trunc('month', $1::date::timestamp), $1::date::timestamp, '1 day') AS g(day) \
     LEFT JOIN days d ON d.day = g.day::date \
     ORDER BY 1";

fn money_day(row: &Row) -> Result<MoneyDay, StoreError> {
    let recharged = money(row, "recharged")?;
    let refunded = money(row, "refunded")?;
    Ok(MoneyDay {
        day: Day(row.try_get("day")?),
        recharged,
        recharges: row.try_get("recharges")?,
        consumed: money(row, "charged")?,
        charges: row.try_get("charges")?,
        refunded,
        refunds: row.try_get("refunds")?,
        net: net(recharged, refunded),
    })
}

impl Store {
    /// Finance's day: the date's money across all operators and its month so far.
    pub async fn finance_dashboard(
        &self,
        date: NaiveDate,
        clock: &StatsClock,
    ) -> Result<FinanceDashboardView, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(MONTH_OF_MONEY).await?;
        let month_trend = client
            .query(&stmt, &[&date])
            .await?
            .iter()
            .map(money_day)
            .collect::<Result<Vec<_>, _>>()?;
        let day = month_trend
            .last()
            .filter(|d| d.day == Day(date))
            .cloned()
            .ok_or_else(|| StoreError::Corrupt(format!("no month trend row for {date}")))?;
        Ok(FinanceDashboardView {
            time_zone: clock.time_zone.clone(),
            day,
            month_trend,
        })
    }

    /// The operators who spent most in the period, with their share of the period's revenue.
    pub async fn top_customers(
        &self,
        range: DayRange,
        limit: i64,
        clock: &StatsClock,
    ) -> Result<TopCustomersView, StoreError> {
        let client = self.client().await?;
        let (revenue, top) = tokio::try_join!(
            client.prepare_cached(
                "SELECT coalesce(sum(m.charged), 0) AS revenue FROM read.stats_money_daily m \
                 WHERE m.day BETWEEN $1 AND $2"
            ),
            client.prepare_cached(
                "SELECT m.operator_id, o.username, o.name, o.category, sum(m.charged) AS spend \
                 FROM read.stats_money_daily m JOIN read.operators o ON o.id = m.operator_id \
                 WHERE m.day BETWEEN $1 AND $2 \
                 GROUP BY m.operator_id, o.username, o.name, o.category \
                 HAVING sum(m.charged) > 0 \
                 ORDER BY spend DESC, o.username LIMIT $3"
            ),
        )?;
        let (period, with_limit): ([&(dyn ToSql + Sync); 2], [&(dyn ToSql + Sync); 3]) =
            ([&range.from, &range.to], [&range.from, &range.to, &limit]);
        let (revenue, top) = tokio::try_join!(
            client.query_one(&revenue, &period),
            client.query(&top, &with_limit),
        )?;
        let revenue = money(&revenue, "revenue")?;
        let items = top
            .iter()
            .map(|row| {
                let category: String = row.try_get("category")?;
                let spend = money(row, "spend")?;
                Ok(TopCustomer {
                    operator_id: OperatorId(row.try_get("operator_id")?),
                    username: row.try_get("username")?,
                    name: row.try_get("name")?,
                    vip: category == "vip",
                    category,
                    spend,
                    share_of_revenue: ratio(spend.as_decimal(), revenue.as_decimal(), 4),
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(TopCustomersView {
            time_zone: clock.time_zone.clone(),
            range: range.view(),
            revenue,
            items,
        })
    }

    /// Totals across every operator for the period.
    pub async fn analytics_overview(
        &self,
        range: DayRange,
        clock: &StatsClock,
    ) -> Result<OverviewView, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT (SELECT count(*) FROM read.operators) AS operators_total, \
                        u.operators_active, u.sessions, u.player_times, u.spend, \
                        m.revenue, m.recharged, m.refunded \
                 FROM (SELECT count(DISTINCT u.operator_id) AS operators_active, {USAGE_SUMS} \
                       FROM read.stats_usage_daily u WHERE u.day BETWEEN $1 AND $2) u \
                 CROSS JOIN (SELECT coalesce(sum(m.charged), 0) AS revenue, \
                                    coalesce(sum(m.recharged), 0) AS recharged, \
                                    coalesce(sum(m.refunded), 0) AS refunded \
                             FROM read.stats_money_daily m WHERE m.day BETWEEN $1 AND $2) m"
            ))
            .await?;
        let row = client.query_one(&stmt, &[&range.from, &range.to]).await?;
        let sessions: i64 = row.try_get("sessions")?;
        let player_times: i64 = row.try_get("player_times")?;
        Ok(OverviewView {
            time_zone: clock.time_zone.clone(),
            range: range.view(),
            operators_total: row.try_get("operators_total")?,
            operators_active: row.try_get("operators_active")?,
            sessions,
            player_times,
            average_players: average_players(player_times, sessions),
            revenue: money(&row, "revenue")?,
            recharged: money(&row, "recharged")?,
            refunded: money(&row, "refunded")?,
        })
    }

    /// Every operator × app pair with games in the period, most spend first. Its size is
    /// bounded by the pairs (operators × their apps), not by the history.
    pub async fn analytics_operator_app(
        &self,
        range: DayRange,
        clock: &StatsClock,
    ) -> Result<FiguresView<OperatorAppFigures>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT u.operator_id, coalesce(o.username, '') AS username, \
                        coalesce(o.name, '') AS operator_name, u.app_id, \
                        coalesce(a.name, '') AS app_name, {USAGE_SUMS} \
                 FROM read.stats_usage_daily u \
                 LEFT JOIN read.operators o ON o.id = u.operator_id \
                 LEFT JOIN read.apps a ON a.id = u.app_id \
                 WHERE u.day BETWEEN $1 AND $2 \
                 GROUP BY u.operator_id, o.username, o.name, u.app_id, a.name \
                 ORDER BY spend DESC, username, app_name, u.operator_id, u.app_id"
            ))
            .await?;
        let items = client
            .query(&stmt, &[&range.from, &range.to])
            .await?
            .iter()
            .map(|row| {
                Ok(OperatorAppFigures {
                    operator_id: OperatorId(row.try_get("operator_id")?),
                    username: row.try_get("username")?,
                    operator_name: row.try_get("operator_name")?,
                    app_id: AppId(row.try_get("app_id")?),
                    app_name: row.try_get("app_name")?,
                    figures: usage(row)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(FiguresView {
            time_zone: clock.time_zone.clone(),
            range: range.view(),
            items,
        })
    }

    /// Games per operator category in the period, most spend first; an operator is counted
    /// in the category it has now (categories are few, so are the rows).
    pub async fn analytics_by_category(
        &self,
        range: DayRange,
        clock: &StatsClock,
    ) -> Result<FiguresView<CategoryFigures>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT coalesce(o.category, '') AS category, \
                        count(DISTINCT u.operator_id) AS operators, {USAGE_SUMS} \
                 FROM read.stats_usage_daily u \
                 LEFT JOIN read.operators o ON o.id = u.operator_id \
                 WHERE u.day BETWEEN $1 AND $2 \
                 GROUP BY o.category \
                 ORDER BY spend DESC, category"
            ))
            .await?;
        let items = client
            .query(&stmt, &[&range.from, &range.to])
            .await?
            .iter()
            .map(|row| {
                Ok(CategoryFigures {
                    category: row.try_get("category")?,
                    operators: row.try_get("operators")?,
                    figures: usage(row)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(FiguresView {
            time_zone: clock.time_zone.clone(),
            range: range.view(),
            items,
        })
    }

    /// Every site with games in the period, per bucket, by bucket then site.
    pub async fn analytics_site_time(
        &self,
        range: DayRange,
        bucket: Bucket,
        clock: &StatsClock,
    ) -> Result<SiteTimeView, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT u.operator_id, u.site_id, coalesce(s.name, '') AS site_name, \
                        date_trunc($3, u.day::timestamp)::date AS bucket, {USAGE_SUMS} \
                 FROM read.stats_usage_daily u LEFT JOIN read.sites s ON s.id = u.site_id \
                 WHERE u.day BETWEEN $1 AND $2 \
                 GROUP BY u.operator_id, u.site_id, s.name, 4 \
                 ORDER BY bucket, u.operator_id, site_name, u.site_id"
            ))
            .await?;
        let items = client
            .query(&stmt, &[&range.from, &range.to, &bucket.as_str()])
            .await?
            .iter()
            .map(|row| {
                Ok(SiteTimeFigures {
                    operator_id: OperatorId(row.try_get("operator_id")?),
                    site_id: SiteId(row.try_get("site_id")?),
                    site_name: row.try_get("site_name")?,
                    bucket: Day(row.try_get("bucket")?),
                    figures: usage(row)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(SiteTimeView {
            time_zone: clock.time_zone.clone(),
            period: bucket.as_str(),
            range: range.view(),
            items,
        })
    }

    /// Games per app by player count (up to 2, 3–4, 5–8, 9 and more), and the total.
    pub async fn analytics_player_distribution(
        &self,
        range: DayRange,
        clock: &StatsClock,
    ) -> Result<PlayerDistributionView, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT u.app_id, coalesce(a.name, '') AS app_name, \
                        sum(u.sessions)::bigint AS sessions, \
                        sum(u.sessions_upto_2)::bigint AS upto_2, \
                        sum(u.sessions_3_4)::bigint AS from_3_to_4, \
                        sum(u.sessions_5_8)::bigint AS from_5_to_8, \
                        sum(u.sessions_9_plus)::bigint AS from_9 \
                 FROM read.stats_usage_daily u LEFT JOIN read.apps a ON a.id = u.app_id \
                 WHERE u.day BETWEEN $1 AND $2 \
                 GROUP BY u.app_id, a.name ORDER BY sessions DESC, app_name, u.app_id",
            )
            .await?;
        let items: Vec<AppDistribution> = client
            .query(&stmt, &[&range.from, &range.to])
            .await?
            .iter()
            .map(|row| {
                Ok(AppDistribution {
                    app_id: AppId(row.try_get("app_id")?),
                    app_name: row.try_get("app_name")?,
                    distribution: PlayerDistribution {
                        sessions: row.try_get("sessions")?,
                        upto_2: row.try_get("upto_2")?,
                        from_3_to_4: row.try_get("from_3_to_4")?,
                        from_5_to_8: row.try_get("from_5_to_8")?,
                        from_9: row.try_get("from_9")?,
                    },
                })
            })
            .collect::<Result<_, StoreError>>()?;
        let mut total = PlayerDistribution {
            sessions: 0,
            upto_2: 0,
            from_3_to_4: 0,
            from_5_to_8: 0,
            from_9: 0,
        };
        for item in &items {
            let d = &item.distribution;
            total.sessions += d.sessions;
            total.upto_2 += d.upto_2;
            total.from_3_to_4 += d.from_3_to_4;
            total.from_5_to_8 += d.from_5_to_8;
            total.from_9 += d.from_9;
        }
        Ok(PlayerDistributionView {
            time_zone: clock.time_zone.clone(),
            range: range.view(),
            items,
            total,
        })
    }
}
