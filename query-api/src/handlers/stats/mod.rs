//! Statistics: the operator's own figures (`own`), finance's dashboard and top customers
//! (`finance`), the analysts' views across every operator and their CSV files (`analytics`).
//!
//! Periods are local days in the zone the read schema records: `from` and `to`
//! (`YYYY-MM-DD`, both included) default to the first and last day of the current local
//! month, and span at most [`PERIOD_DAYS_MAX`] days.

pub mod analytics;
pub mod finance;
pub mod own;

use chrono::{Datelike, Months, NaiveDate};

use crate::errors::ApiError;
use crate::params::Query;
use crate::store::{Bucket, DayRange};

/// Longest period (`to - from`, in days) a statistic sums: a year, leap day included. Keeps
/// every answer to a few hundred daily rows per group.
pub const PERIOD_DAYS_MAX: i64 = 366;

/// `from` and `to` as given; resolved against today once the zone is known.
#[derive(Debug, Clone, Copy)]
pub struct PeriodParams {
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
}

impl PeriodParams {
    /// Reads `from` and `to` (local dates).
    pub fn decode(q: &mut Query) -> PeriodParams {
        PeriodParams {
            from: q.parsed("from"),
            to: q.parsed("to"),
        }
    }

    /// The period, missing ends taken from today's month; `INVALID_PARAMS` naming `from` and
    /// `to` when it runs backwards or spans more than [`PERIOD_DAYS_MAX`] days.
    pub fn resolve(self, today: NaiveDate) -> Result<DayRange, ApiError> {
        let (first, last) = month_of(today);
        let from = self.from.unwrap_or(first);
        let to = self.to.unwrap_or(last);
        let days = (to - from).num_days();
        if !(0..=PERIOD_DAYS_MAX).contains(&days) {
            return Err(ApiError::invalid(&["from", "to"]));
        }
        Ok(DayRange { from, to })
    }
}

/// The first and last day of `day`'s month.
fn month_of(day: NaiveDate) -> (NaiveDate, NaiveDate) {
    let first = day.with_day(1).expect("every month has a first day");
    let last = first
        .checked_add_months(Months::new(1))
        .and_then(|next| next.pred_opt())
        .expect("dates far from the calendar's ends");
    (first, last)
}

/// `period=day|week|month`, `default` when absent.
pub fn bucket(q: &mut Query, default: Bucket) -> Bucket {
    q.one_of("period", Bucket::NAMES)
        .and_then(|name| Bucket::parse(&name))
        .unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn period(query: &str) -> Result<DayRange, ApiError> {
        let mut q = Query::parse(query, &["from", "to"]);
        let params = PeriodParams::decode(&mut q);
        q.finish(params)?.resolve(day("2024-02-10"))
    }

    #[test]
    fn the_default_period_is_the_current_local_month() {
        let range = period("").unwrap();
        assert_eq!(
            (range.from, range.to),
            (day("2024-02-01"), day("2024-02-29"))
        );
        let range = period("from=2024-01-15").unwrap();
        assert_eq!(
            (range.from, range.to),
            (day("2024-01-15"), day("2024-02-29"))
        );
    }

    #[test]
    fn a_period_runs_forwards_and_spans_at_most_366_days() {
        assert!(period("from=2024-01-01&to=2024-12-31").is_ok());
        assert!(period("from=2024-01-01&to=2025-01-01").is_ok());
        assert!(period("from=2024-05-05&to=2024-05-05").is_ok());
        for bad in [
            "from=2024-01-01&to=2025-01-02",
            "from=2024-03-02&to=2024-03-01",
        ] {
            match period(bad) {
                Err(ApiError::InvalidParams { fields }) => assert_eq!(fields, ["from", "to"]),
                other => panic!("{bad}: {other:?}"),
            }
        }
        match period("from=2024-13-01") {
            Err(ApiError::InvalidParams { fields }) => assert_eq!(fields, ["from"]),
            other => panic!("{other:?}"),
        }
    }
}
