//! What a report shows, computed once from the daily figures and then drawn twice (PDF and
//! XLSX). Amounts are decimals, never floats: net revenue can be negative (a day of refunds),
//! so it is no `Money`.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

use super::period::Period;

/// Customers listed under "top customers by spend".
pub const TOP_CUSTOMERS: usize = 10;

/// Money moved on one local day, over every operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayRevenue {
    pub day: NaiveDate,
    pub recharged: Decimal,
    /// Charges for games.
    pub consumed: Decimal,
    pub refunded: Decimal,
}

impl DayRevenue {
    pub fn empty(day: NaiveDate) -> DayRevenue {
        DayRevenue {
            day,
            recharged: Decimal::ZERO,
            consumed: Decimal::ZERO,
            refunded: Decimal::ZERO,
        }
    }

    /// Recharged less refunded: the money that stayed.
    pub fn net(&self) -> Decimal {
        self.recharged - self.refunded
    }
}

/// The headline figures of a period, stored with the report so a list can show them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevenueTotals {
    #[serde(with = "rust_decimal::serde::str")]
    pub recharged: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub consumed: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub refunded: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub net: Decimal,
    pub sessions: i64,
    pub player_times: i64,
}

/// One operator among the biggest spenders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerSpend {
    pub name: String,
    pub username: String,
    /// `vip`, `standard` or `trial`.
    pub category: String,
    pub spend: Decimal,
}

impl CustomerSpend {
    pub fn is_vip(&self) -> bool {
        self.category == "vip"
    }
}

/// Games of one app or one site over the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageLine {
    pub name: String,
    pub sessions: i64,
    pub player_times: i64,
    pub spend: Decimal,
}

impl UsageLine {
    /// Players per game, to two decimals (zero without games).
    pub fn average_players(&self) -> Decimal {
        if self.sessions == 0 {
            return Decimal::ZERO;
        }
        (Decimal::from(self.player_times) / Decimal::from(self.sessions))
            .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
    }
}

/// Everything one report shows.
#[derive(Debug, Clone)]
pub struct ReportDocument {
    pub period: Period,
    pub time_zone: String,
    pub generated_at: DateTime<Utc>,
    /// Every day of the period, days without money included.
    pub days: Vec<DayRevenue>,
    /// At most [`TOP_CUSTOMERS`], biggest spend first.
    pub top_customers: Vec<CustomerSpend>,
    /// Biggest spend first.
    pub apps: Vec<UsageLine>,
    /// Biggest spend first; a site is named with its operator.
    pub sites: Vec<UsageLine>,
}

impl ReportDocument {
    pub fn totals(&self) -> RevenueTotals {
        let sum = |f: fn(&DayRevenue) -> Decimal| self.days.iter().map(f).sum::<Decimal>();
        let (recharged, consumed, refunded) = (
            sum(|d| d.recharged),
            sum(|d| d.consumed),
            sum(|d| d.refunded),
        );
        RevenueTotals {
            recharged: cents(recharged),
            consumed: cents(consumed),
            refunded: cents(refunded),
            net: cents(recharged - refunded),
            sessions: self.apps.iter().map(|a| a.sessions).sum(),
            player_times: self.apps.iter().map(|a| a.player_times).sum(),
        }
    }

    /// A customer's share of the period's revenue (what was consumed), in percent to two
    /// decimals; zero when nothing was consumed.
    pub fn share_percent(&self, spend: Decimal) -> Decimal {
        let revenue = self.totals().consumed;
        if revenue.is_zero() {
            return Decimal::ZERO;
        }
        (spend * Decimal::ONE_HUNDRED / revenue)
            .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
    }
}

/// `value` with exactly two decimals (`0` → `0.00`), so stored totals always read alike.
fn cents(value: Decimal) -> Decimal {
    let mut value = value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    value.rescale(2);
    value
}

/// `-1234567.8` → `-1,234,567.80`: two decimals and thousands separators.
pub fn amount(value: Decimal) -> String {
    let plain = format!(
        "{:.2}",
        value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
    );
    let (sign, digits) = match plain.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", plain.as_str()),
    };
    let (whole, fraction) = digits.split_once('.').expect("formatted with two decimals");
    format!("{sign}{}.{fraction}", group_thousands(whole))
}

/// `1234567` → `1,234,567`.
pub fn count(value: i64) -> String {
    let plain = value.unsigned_abs().to_string();
    let sign = if value < 0 { "-" } else { "" };
    format!("{sign}{}", group_thousands(&plain))
}

fn group_thousands(digits: &str) -> String {
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn amounts_have_two_decimals_and_thousands_separators() {
        for (value, shown) in [
            ("0", "0.00"),
            ("5.5", "5.50"),
            ("999.99", "999.99"),
            ("1000", "1,000.00"),
            ("-1234567.8", "-1,234,567.80"),
            ("9999999999999999.99", "9,999,999,999,999,999.99"),
        ] {
            assert_eq!(amount(dec(value)), shown);
        }
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(12), "12");
    }

    #[test]
    fn average_players_and_shares_round_to_two_decimals() {
        let line = UsageLine {
            name: "A".into(),
            sessions: 3,
            player_times: 10,
            spend: dec("1"),
        };
        assert_eq!(line.average_players(), dec("3.33"));
        let none = UsageLine {
            sessions: 0,
            player_times: 0,
            ..line
        };
        assert_eq!(none.average_players(), Decimal::ZERO);
    }
}

/// A month of figures for the renderers' tests.
#[cfg(test)]
pub mod sample {
    use chrono::TimeZone;

    use super::*;
    use crate::reports::period::{Period, ReportKind};

    pub fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    /// November 2026: 1,000.50 recharged on the 2nd, 120.25 refunded on the 3rd, games
    /// worth 300.00 + 45.50 by two customers.
    pub fn november() -> ReportDocument {
        let period = Period::starting(ReportKind::Monthly, "2026-11-01".parse().unwrap()).unwrap();
        let mut days: Vec<DayRevenue> = period.days().map(DayRevenue::empty).collect();
        days[1].recharged = dec("1000.50");
        days[1].consumed = dec("300.00");
        days[2].refunded = dec("120.25");
        days[2].consumed = dec("45.50");
        ReportDocument {
            period,
            time_zone: "Asia/Shanghai".to_owned(),
            generated_at: Utc.with_ymd_and_hms(2026, 12, 1, 0, 5, 0).unwrap(),
            days,
            top_customers: vec![
                CustomerSpend {
                    name: "星空VR体验馆".to_owned(),
                    username: "starry".to_owned(),
                    category: "vip".to_owned(),
                    spend: dec("300.00"),
                },
                CustomerSpend {
                    name: "Moon Arcade".to_owned(),
                    username: "moon".to_owned(),
                    category: "standard".to_owned(),
                    spend: dec("45.50"),
                },
            ],
            apps: vec![
                UsageLine {
                    name: "太空探险 Space".to_owned(),
                    sessions: 5,
                    player_times: 12,
                    spend: dec("300.00"),
                },
                UsageLine {
                    name: "Zombie Run".to_owned(),
                    sessions: 1,
                    player_times: 2,
                    spend: dec("45.50"),
                },
            ],
            sites: vec![UsageLine {
                name: "星空VR体验馆 · 朝阳店".to_owned(),
                sessions: 6,
                player_times: 14,
                spend: dec("345.50"),
            }],
        }
    }

    #[test]
    fn totals_add_up_the_days_and_shares_split_the_revenue() {
        let doc = november();
        let totals = doc.totals();
        assert_eq!(totals.recharged, dec("1000.50"));
        assert_eq!(totals.consumed, dec("345.50"));
        assert_eq!(totals.refunded, dec("120.25"));
        assert_eq!(totals.net, dec("880.25"));
        assert_eq!((totals.sessions, totals.player_times), (6, 14));
        assert_eq!(doc.share_percent(dec("300.00")), dec("86.83"));
        assert_eq!(doc.share_percent(dec("45.50")), dec("13.17"));
    }
}
