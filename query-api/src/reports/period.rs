//! Report kinds and the periods they cover, in local dates of the statistics' time zone.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Days, Months, NaiveDate, Weekday};

/// How long a report's period is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportKind {
    /// One local day.
    Daily,
    /// Monday to Sunday.
    Weekly,
    /// A calendar month.
    Monthly,
    /// A calendar year.
    Yearly,
}

impl ReportKind {
    pub const ALL: [ReportKind; 4] = [
        ReportKind::Daily,
        ReportKind::Weekly,
        ReportKind::Monthly,
        ReportKind::Yearly,
    ];
    /// The values of `kind` (API and database).
    pub const NAMES: [&'static str; 4] = ["daily", "weekly", "monthly", "yearly"];

    pub const fn as_str(self) -> &'static str {
        match self {
            ReportKind::Daily => "daily",
            ReportKind::Weekly => "weekly",
            ReportKind::Monthly => "monthly",
            ReportKind::Yearly => "yearly",
        }
    }

    /// The zh-CN and English title of the kind.
    pub const fn title(self) -> &'static str {
        match self {
            ReportKind::Daily => "财务日报 Daily finance report",
            ReportKind::Weekly => "财务周报 Weekly finance report",
            ReportKind::Monthly => "财务月报 Monthly finance report",
            ReportKind::Yearly => "财务年报 Yearly finance report",
        }
    }
}

impl fmt::Display for ReportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown report kind {0:?}")]
pub struct UnknownKind(pub String);

impl FromStr for ReportKind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<ReportKind, UnknownKind> {
        ReportKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

/// Why a period cannot be reported on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    /// `period_start` is not the first day of a period of its kind.
    #[error("period_start is not the first day of a {0} period")]
    NotPeriodStart(ReportKind),
    /// The period has not begun yet in the report's time zone.
    #[error("the period has not begun")]
    InFuture,
}

/// The local days a report covers, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub kind: ReportKind,
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl Period {
    /// The period of `kind` beginning on `start`, which must be its first day (Monday for a
    /// week, the 1st for a month, 1 January for a year).
    pub fn starting(kind: ReportKind, start: NaiveDate) -> Result<Period, PeriodError> {
        if Period::containing(kind, start).start != start {
            return Err(PeriodError::NotPeriodStart(kind));
        }
        Ok(Period::containing(kind, start))
    }

    /// The period of `kind` that `day` falls in.
    pub fn containing(kind: ReportKind, day: NaiveDate) -> Period {
        let start = match kind {
            ReportKind::Daily => day,
            ReportKind::Weekly => day.week(Weekday::Mon).first_day(),
            ReportKind::Monthly => day.with_day(1).expect("every month has a 1st"),
            ReportKind::Yearly => day.with_ordinal(1).expect("every year has a first day"),
        };
        let next = match kind {
            ReportKind::Daily => start + Days::new(1),
            ReportKind::Weekly => start + Days::new(7),
            ReportKind::Monthly => start + Months::new(1),
            ReportKind::Yearly => start + Months::new(12),
        };
        Period {
            kind,
            start,
            end: next
                .pred_opt()
                .expect("dates after the start have a predecessor"),
        }
    }

    /// The last whole period of `kind` before the one holding `today`: yesterday, last
    /// week, last month, last year.
    pub fn last_complete(kind: ReportKind, today: NaiveDate) -> Period {
        let current = Period::containing(kind, today);
        let before = current.start.pred_opt().expect("dates have a predecessor");
        Period::containing(kind, before)
    }

    /// Refuses a period that has not begun by `today` (local).
    pub fn check_begun(&self, today: NaiveDate) -> Result<(), PeriodError> {
        if self.start > today {
            return Err(PeriodError::InFuture);
        }
        Ok(())
    }

    /// Every day of the period, in order.
    pub fn days(&self) -> impl Iterator<Item = NaiveDate> + use<> {
        let end = self.end;
        self.start.iter_days().take_while(move |day| *day <= end)
    }

    /// `2026-11-01 – 2026-11-30`, or one date for a daily report.
    pub fn label(&self) -> String {
        if self.start == self.end {
            self.start.to_string()
        } else {
            format!("{} – {}", self.start, self.end)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn each_kind_covers_its_calendar_period() {
        let cases = [
            (ReportKind::Daily, "2026-03-05", "2026-03-05"),
            // 2026-03-02 is a Monday.
            (ReportKind::Weekly, "2026-03-02", "2026-03-08"),
            (ReportKind::Monthly, "2026-02-01", "2026-02-28"),
            (ReportKind::Monthly, "2028-02-01", "2028-02-29"),
            (ReportKind::Yearly, "2028-01-01", "2028-12-31"),
        ];
        for (kind, start, end) in cases {
            let period = Period::starting(kind, date(start)).unwrap();
            assert_eq!(period.end, date(end), "{kind} {start}");
        }
        assert_eq!(
            Period::starting(ReportKind::Yearly, date("2028-01-01"))
                .unwrap()
                .days()
                .count(),
            366
        );
    }

    #[test]
    fn a_start_that_is_not_the_first_day_of_its_period_is_refused() {
        for (kind, start) in [
            (ReportKind::Weekly, "2026-03-03"),
            (ReportKind::Monthly, "2026-03-02"),
            (ReportKind::Yearly, "2026-02-01"),
        ] {
            assert_eq!(
                Period::starting(kind, date(start)),
                Err(PeriodError::NotPeriodStart(kind)),
                "{kind} {start}"
            );
        }
    }

    #[test]
    fn the_last_complete_period_is_the_one_before_today() {
        // Wednesday 2026-03-04.
        let today = date("2026-03-04");
        let last = |kind| Period::last_complete(kind, today).start;
        assert_eq!(last(ReportKind::Daily), date("2026-03-03"));
        assert_eq!(last(ReportKind::Weekly), date("2026-02-23"));
        assert_eq!(last(ReportKind::Monthly), date("2026-02-01"));
        assert_eq!(last(ReportKind::Yearly), date("2025-01-01"));
    }

    #[test]
    fn a_period_that_has_not_begun_is_refused_and_today_is_accepted() {
        let today = date("2026-03-04");
        let tomorrow = Period::starting(ReportKind::Daily, date("2026-03-05")).unwrap();
        assert_eq!(tomorrow.check_begun(today), Err(PeriodError::InFuture));
        let month = Period::starting(ReportKind::Monthly, date("2026-03-01")).unwrap();
        assert_eq!(month.check_begun(today), Ok(()));
    }

    #[test]
    fn kinds_parse_from_their_names_only() {
        for name in ReportKind::NAMES {
            assert_eq!(name.parse::<ReportKind>().unwrap().as_str(), name);
        }
        assert!("hourly".parse::<ReportKind>().is_err());
    }
}
