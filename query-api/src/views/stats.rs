//! The JSON shapes of the statistics: the operator's own figures, finance's dashboard and
//! top customers, the analysts' views across all operators.
//!
//! Days are local days in the zone the read schema records (`time_zone`, named in every
//! answer) and are printed `YYYY-MM-DD`. Ratios are decimal strings with a fixed number of
//! decimals, rounded half away from zero: `average_players` two, `share_of_revenue` four.

use chrono::NaiveDate;
use ledger_core::ids::{AppId, OperatorId, SiteId};
use ledger_core::money::Money;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Serialize, Serializer};

use super::SignedMoney;

/// A local day, `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Day(pub NaiveDate);

impl Serialize for Day {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0.format("%Y-%m-%d"))
    }
}

/// `numerator / denominator` with exactly `decimals` decimals; `0` over `0` is zero.
pub fn ratio(numerator: Decimal, denominator: Decimal, decimals: u32) -> String {
    let mut value = if denominator.is_zero() {
        Decimal::ZERO
    } else {
        (numerator / denominator)
            .round_dp_with_strategy(decimals, RoundingStrategy::MidpointAwayFromZero)
    };
    value.rescale(decimals);
    value.to_string()
}

/// Players per game, two decimals (`"0.00"` without games).
pub fn average_players(player_times: i64, sessions: i64) -> String {
    ratio(Decimal::from(player_times), Decimal::from(sessions), 2)
}

/// `recharged - refunded`, which may be negative on a day of large refunds.
pub fn net(recharged: Money, refunded: Money) -> SignedMoney {
    if recharged >= refunded {
        SignedMoney {
            negative: false,
            magnitude: recharged.checked_sub(refunded).expect("checked above"),
        }
    } else {
        SignedMoney {
            negative: true,
            magnitude: refunded.checked_sub(recharged).expect("checked above"),
        }
    }
}

/// The games of a group: how many, players in all, players per game, money spent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageFigures {
    pub sessions: i64,
    pub player_times: i64,
    pub average_players: String,
    pub spend: Money,
}

impl UsageFigures {
    pub fn new(sessions: i64, player_times: i64, spend: Money) -> UsageFigures {
        UsageFigures {
            sessions,
            player_times,
            average_players: average_players(player_times, sessions),
            spend,
        }
    }
}

/// The period a statistic covers (local days, both included).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PeriodView {
    pub from: Day,
    pub to: Day,
}

/// One bucket of a trend: a day, a week (from its Monday) or a month (from its first day).
#[derive(Debug, Clone, Serialize)]
pub struct TrendPoint {
    pub bucket: Day,
    #[serde(flatten)]
    pub figures: UsageFigures,
}

#[derive(Debug, Serialize)]
pub struct TrendView {
    pub time_zone: String,
    pub period: &'static str,
    #[serde(flatten)]
    pub range: PeriodView,
    pub points: Vec<TrendPoint>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AppFigures {
    pub app_id: AppId,
    pub app_name: String,
    #[serde(flatten)]
    pub figures: UsageFigures,
}

#[derive(Debug, Clone, Serialize)]
pub struct SiteFigures {
    pub site_id: SiteId,
    pub site_name: String,
    #[serde(flatten)]
    pub figures: UsageFigures,
}

/// A list of figures over a period, in the zone it was cut in.
#[derive(Debug, Serialize)]
pub struct FiguresView<T> {
    pub time_zone: String,
    #[serde(flatten)]
    pub range: PeriodView,
    pub items: Vec<T>,
}

/// The operator's dashboard: the period's games and money, and today's and this month's
/// spend.
#[derive(Debug, Serialize)]
pub struct OperatorSummaryView {
    pub time_zone: String,
    #[serde(flatten)]
    pub range: PeriodView,
    #[serde(flatten)]
    pub figures: UsageFigures,
    pub recharged: Money,
    pub refunded: Money,
    pub today: Day,
    pub today_spend: Money,
    pub month_spend: Money,
}

/// Money of one day across all operators.
#[derive(Debug, Clone, Serialize)]
pub struct MoneyDay {
    pub day: Day,
    /// Online recharges and staff credits.
    pub recharged: Money,
    pub recharges: i64,
    /// Charges for games.
    pub consumed: Money,
    pub charges: i64,
    pub refunded: Money,
    pub refunds: i64,
    /// `recharged - refunded`: the money that stayed with the platform that day.
    pub net: SignedMoney,
}

#[derive(Debug, Serialize)]
pub struct FinanceDashboardView {
    pub time_zone: String,
    #[serde(flatten)]
    pub day: MoneyDay,
    /// Every day of the date's month up to the date, days without money included.
    pub month_trend: Vec<MoneyDay>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TopCustomer {
    pub operator_id: OperatorId,
    pub username: String,
    pub name: String,
    pub category: String,
    pub vip: bool,
    pub spend: Money,
    /// `spend / revenue` of the period, four decimals.
    pub share_of_revenue: String,
}

#[derive(Debug, Serialize)]
pub struct TopCustomersView {
    pub time_zone: String,
    #[serde(flatten)]
    pub range: PeriodView,
    /// Everything charged in the period, by every operator.
    pub revenue: Money,
    pub items: Vec<TopCustomer>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OverviewView {
    pub time_zone: String,
    #[serde(flatten)]
    pub range: PeriodView,
    pub operators_total: i64,
    /// Operators with at least one game in the period.
    pub operators_active: i64,
    pub sessions: i64,
    pub player_times: i64,
    pub average_players: String,
    /// Everything charged for games.
    pub revenue: Money,
    pub recharged: Money,
    pub refunded: Money,
}

#[derive(Debug, Clone, Serialize)]
pub struct OperatorAppFigures {
    pub operator_id: OperatorId,
    pub username: String,
    pub operator_name: String,
    pub app_id: AppId,
    pub app_name: String,
    #[serde(flatten)]
    pub figures: UsageFigures,
}

/// Games of the operators of one category (their category now, not at the time of play).
#[derive(Debug, Clone, Serialize)]
pub struct CategoryFigures {
    pub category: String,
    /// Operators of the category with games in the period.
    pub operators: i64,
    #[serde(flatten)]
    pub figures: UsageFigures,
}

#[derive(Debug, Clone, Serialize)]
pub struct SiteTimeFigures {
    pub operator_id: OperatorId,
    pub site_id: SiteId,
    pub site_name: String,
    pub bucket: Day,
    #[serde(flatten)]
    pub figures: UsageFigures,
}

#[derive(Debug, Serialize)]
pub struct SiteTimeView {
    pub time_zone: String,
    pub period: &'static str,
    #[serde(flatten)]
    pub range: PeriodView,
    pub items: Vec<SiteTimeFigures>,
}

/// Games of one app by player count.
#[derive(Debug, Clone, Serialize)]
pub struct PlayerDistribution {
    pub sessions: i64,
    pub upto_2: i64,
    #[serde(rename = "3_4")]
    pub from_3_to_4: i64,
    #[serde(rename = "5_8")]
    pub from_5_to_8: i64,
    #[serde(rename = "9_plus")]
    pub from_9: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct AppDistribution {
    pub app_id: AppId,
    pub app_name: String,
    #[serde(flatten)]
    pub distribution: PlayerDistribution,
}

#[derive(Debug, Serialize)]
pub struct PlayerDistributionView {
    pub time_zone: String,
    #[serde(flatten)]
    pub range: PeriodView,
    pub items: Vec<AppDistribution>,
    pub total: PlayerDistribution,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_have_fixed_decimals_and_round_half_away_from_zero() {
        assert_eq!(average_players(0, 0), "0.00");
        assert_eq!(average_players(9, 3), "3.00");
        assert_eq!(average_players(10, 3), "3.33");
        assert_eq!(average_players(5, 3), "1.67");
        assert_eq!(average_players(1, 8), "0.13");
        assert_eq!(ratio(Decimal::from(1), Decimal::from(4), 4), "0.2500");
        assert_eq!(ratio(Decimal::from(1), Decimal::from(3), 4), "0.3333");
        assert_eq!(ratio(Decimal::from(5), Decimal::ZERO, 4), "0.0000");
    }

    #[test]
    fn net_is_signed() {
        let m = |t| Money::parse(t).unwrap();
        let json = |n| serde_json::to_string(&n).unwrap();
        assert_eq!(json(net(m("100"), m("30.5"))), "\"69.50\"");
        assert_eq!(json(net(m("10"), m("30"))), "\"-20.00\"");
        assert_eq!(json(net(m("0"), m("0"))), "\"0.00\"");
    }

    #[test]
    fn days_print_as_iso_dates() {
        let day = Day(NaiveDate::from_ymd_opt(2026, 1, 5).unwrap());
        assert_eq!(serde_json::to_string(&day).unwrap(), "\"2026-01-05\"");
    }
}
