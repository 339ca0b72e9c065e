//! Decoding of path and query parameters, collecting every offending field name so one
//! `INVALID_PARAMS` answer names them all.
//!
//! Query parameters are strict: a parameter an endpoint does not know, or one given twice, is
//! refused too (a mistyped filter must not silently return unfiltered rows).

use std::ops::RangeInclusive;
use std::str::FromStr;

use actix_web::web;
use chrono::{DateTime, Utc};

use crate::cursor::{self, CursorKey};
use crate::errors::ApiError;

/// Rows per page of the operator-scoped lists and the catalog, when not asked for.
pub const PAGE_LIMIT_DEFAULT: i64 = 20;
/// Most rows per page of those lists: keeps every answer small and every query cheap.
pub const PAGE_LIMIT_MAX: i64 = 100;
/// Longest search text (`q`), in characters.
pub const SEARCH_TEXT_MAX: usize = 100;

/// A path segment that must parse as `T` (an id newtype).
pub fn path<T: FromStr>(name: &str, raw: &str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| ApiError::invalid(&[name]))
}

/// The query string of one request, consumed parameter by parameter.
pub struct Query {
    pairs: Vec<(String, String)>,
    bad: Vec<String>,
}

impl Query {
    /// Splits the query string; every name outside `allowed`, and every repeated name, is
    /// recorded as invalid.
    pub fn parse(query_string: &str, allowed: &[&str]) -> Query {
        let mut bad = Vec::new();
        let pairs = match web::Query::<Vec<(String, String)>>::from_query(query_string) {
            Ok(pairs) => pairs.into_inner(),
            Err(_) => {
                bad.push("query".to_owned());
                Vec::new()
            }
        };
        let mut query = Query {
            pairs: Vec::new(),
            bad,
        };
        for (name, value) in pairs {
            if !allowed.contains(&name.as_str()) || query.pairs.iter().any(|(n, _)| *n == name) {
                query.mark(&name);
            } else {
                query.pairs.push((name, value));
            }
        }
        query
    }

    fn mark(&mut self, name: &str) {
        if !self.bad.iter().any(|b| b == name) {
            self.bad.push(name.to_owned());
        }
    }

    /// The raw value; an empty value counts as absent.
    fn raw(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Parses `name` with `parse`, recording a failure.
    fn get<T>(&mut self, name: &str, parse: impl FnOnce(&str) -> Option<T>) -> Option<T> {
        let raw = self.raw(name)?;
        let value = parse(raw);
        if value.is_none() {
            self.mark(name);
        }
        value
    }

    /// An id (or anything `FromStr`).
    pub fn parsed<T: FromStr>(&mut self, name: &str) -> Option<T> {
        self.get(name, |raw| raw.parse().ok())
    }

    /// An RFC 3339 time with an explicit offset, as UTC. An unencoded `+` of the offset
    /// arrives as a space and is taken back.
    pub fn time(&mut self, name: &str) -> Option<DateTime<Utc>> {
        self.get(name, |raw| {
            let parse = |text: &str| {
                DateTime::parse_from_rfc3339(text)
                    .ok()
                    .map(|t| t.with_timezone(&Utc))
            };
            parse(raw).or_else(|| {
                raw.rsplit_once(' ')
                    .and_then(|(time, offset)| parse(&format!("{time}+{offset}")))
            })
        })
    }

    /// An integer within `range`, or `default` when absent.
    pub fn int(&mut self, name: &str, range: RangeInclusive<i64>, default: i64) -> i64 {
        self.get(name, |raw| {
            raw.parse::<i64>().ok().filter(|v| range.contains(v))
        })
        .unwrap_or(default)
    }

    /// A page size: 1..=`max`, `default` when absent.
    pub fn limit(&mut self, default: i64, max: i64) -> i64 {
        self.int("limit", 1..=max, default)
    }

    /// Free text of at most `max_chars` characters, without control characters.
    pub fn text(&mut self, name: &str, max_chars: usize) -> Option<String> {
        self.get(name, |raw| {
            (raw.chars().count() <= max_chars && !raw.chars().any(char::is_control))
                .then(|| raw.to_owned())
        })
    }

    /// A lowercase word (`a-z`, `0-9`, `_`) of at most `max_len` characters.
    pub fn word(&mut self, name: &str, max_len: usize) -> Option<String> {
        self.get(name, |raw| {
            let ok = raw.len() <= max_len
                && raw
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            ok.then(|| raw.to_owned())
        })
    }

    /// One of a fixed set of words.
    pub fn one_of(&mut self, name: &str, allowed: &[&str]) -> Option<String> {
        self.get(name, |raw| allowed.contains(&raw).then(|| raw.to_owned()))
    }

    /// Text that passes `valid`.
    pub fn checked(&mut self, name: &str, valid: impl FnOnce(&str) -> bool) -> Option<String> {
        self.get(name, |raw| valid(raw).then(|| raw.to_owned()))
    }

    /// `true` or `false`, `default` when absent.
    pub fn flag(&mut self, name: &str, default: bool) -> bool {
        self.get(name, |raw| match raw {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        })
        .unwrap_or(default)
    }

    /// A page cursor issued by the same list.
    pub fn cursor<K: CursorKey>(&mut self) -> Option<K> {
        self.get("cursor", cursor::decode)
    }

    /// Checks that `from` < `to` when both are given.
    pub fn time_range(&mut self, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) {
        if let (Some(from), Some(to)) = (from, to)
            && from >= to
        {
            self.mark("from");
            self.mark("to");
        }
    }

    /// `Ok(value)` when every parameter was valid; otherwise `INVALID_PARAMS` naming them.
    pub fn finish<T>(self, value: T) -> Result<T, ApiError> {
        if self.bad.is_empty() {
            Ok(value)
        } else {
            Err(ApiError::InvalidParams { fields: self.bad })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(result: Result<(), ApiError>) -> Vec<String> {
        match result {
            Err(ApiError::InvalidParams { fields }) => fields,
            other => panic!("expected INVALID_PARAMS, got {other:?}"),
        }
    }

    #[test]
    fn every_bad_parameter_is_named() {
        let mut q = Query::parse(
            "limit=0&from=yesterday&site_id=x&extra=1&limit=5",
            &["limit", "from", "site_id"],
        );
        q.limit(20, 100);
        q.time("from");
        q.parsed::<uuid::Uuid>("site_id");
        let mut names = fields(q.finish(()));
        names.sort();
        assert_eq!(names, ["extra", "from", "limit", "site_id"]);
    }

    #[test]
    fn absent_and_empty_parameters_take_defaults() {
        let mut q = Query::parse("limit=&q=", &["limit", "q"]);
        assert_eq!(q.limit(20, 100), 20);
        assert_eq!(q.text("q", 10), None);
        assert!(q.finish(()).is_ok());
    }

    #[test]
    fn times_need_an_offset_and_come_back_in_utc() {
        let mut q = Query::parse(
            "from=2026-11-21T20:30:00%2B08:00&to=2026-11-21T12:30:00",
            &["from", "to"],
        );
        assert_eq!(
            q.time("from").unwrap().to_rfc3339(),
            "2026-11-21T12:30:00+00:00"
        );
        assert_eq!(q.time("to"), None);
        assert_eq!(fields(q.finish(())), ["to"]);
        let mut q = Query::parse("from=2026-11-21T20:30:00+08:00", &["from"]);
        assert_eq!(
            q.time("from").unwrap().to_rfc3339(),
            "2026-11-21T12:30:00+00:00"
        );
    }

    #[test]
    fn flags_are_true_or_false() {
        let mut q = Query::parse("a=true&b=false&c=yes", &["a", "b", "c", "d"]);
        assert!(q.flag("a", false));
        assert!(!q.flag("b", true));
        assert!(q.flag("c", true));
        assert!(q.flag("d", true));
        assert_eq!(fields(q.finish(())), ["c"]);
    }

    #[test]
    fn an_empty_time_range_is_refused() {
        let mut q = Query::parse("", &[]);
        let t = Utc::now();
        q.time_range(Some(t), Some(t));
        assert_eq!(fields(q.finish(())), ["from", "to"]);
    }
}
