//! Decoding JSON bodies field by field, collecting every offending field name so a 400
//! names them all at once.

use std::collections::BTreeSet;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use ledger_core::money::Money;
use serde_json::{Map, Value};

use crate::api_error::ApiError;

pub struct Fields {
    object: Map<String, Value>,
    bad: Vec<String>,
    /// Every name a handler asked about: the rest of the body is unknown and refused.
    known: BTreeSet<String>,
}

impl Fields {
    /// The body must be a JSON object (an empty body counts as `{}` when `empty_ok`).
    pub fn parse(body: &[u8], empty_ok: bool) -> Result<Fields, ApiError> {
        if body.iter().all(u8::is_ascii_whitespace) && empty_ok {
            return Ok(Fields {
                object: Map::new(),
                bad: Vec::new(),
                known: BTreeSet::new(),
            });
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(object)) => Ok(Fields {
                object,
                bad: Vec::new(),
                known: BTreeSet::new(),
            }),
            _ => Err(ApiError::invalid_fields(&["body"])),
        }
    }

    fn reject(&mut self, name: &str) {
        self.bad.push(name.to_owned());
    }

    /// Looks a field up, noting its name as one the endpoint knows.
    fn get(&mut self, name: &str) -> Option<&Value> {
        if !self.known.contains(name) {
            self.known.insert(name.to_owned());
        }
        self.object.get(name)
    }

    pub fn has(&mut self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// A required string of `min..=max` characters (trimmed).
    pub fn text(&mut self, name: &str, min: usize, max: usize) -> String {
        match self.opt_text(name, max) {
            Some(text) if text.chars().count() >= min => text,
            Some(_) => {
                self.reject(name);
                String::new()
            }
            None => {
                if !self.bad.iter().any(|b| b == name) {
                    self.reject(name);
                }
                String::new()
            }
        }
    }

    /// An optional string of at most `max` characters; `null` counts as absent.
    pub fn opt_text(&mut self, name: &str, max: usize) -> Option<String> {
        match self.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().chars().count() <= max => Some(s.trim().to_owned()),
            Some(_) => {
                self.reject(name);
                None
            }
        }
    }

    /// A required secret of `min..=max` characters exactly as sent: unlike text, a
    /// password is not trimmed (its spaces are part of it).
    pub fn secret(&mut self, name: &str, min: usize, max: usize) -> String {
        match self.opt_secret(name, max) {
            Some(secret) if secret.chars().count() >= min => secret,
            other => {
                if other.is_some() || !self.bad.iter().any(|b| b == name) {
                    self.reject(name);
                }
                String::new()
            }
        }
    }

    /// An optional secret of at most `max` characters, untrimmed; `null` counts as absent.
    pub fn opt_secret(&mut self, name: &str, max: usize) -> Option<String> {
        match self.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.chars().count() <= max => Some(s.clone()),
            Some(_) => {
                self.reject(name);
                None
            }
        }
    }

    /// A required id (hyphenated UUID string).
    pub fn id<T: FromStr>(&mut self, name: &str) -> Option<T> {
        let parsed = match self.get(name) {
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        };
        if parsed.is_none() {
            self.reject(name);
        }
        parsed
    }

    /// A required amount: a JSON string with at most two decimals (a number is refused).
    pub fn money(&mut self, name: &str) -> Option<Money> {
        let parsed = match self.get(name) {
            Some(Value::String(s)) => Money::parse(s).ok(),
            _ => None,
        };
        if parsed.is_none() {
            self.reject(name);
        }
        parsed
    }

    pub fn opt_money(&mut self, name: &str) -> Option<Money> {
        if self.has(name) {
            self.money(name)
        } else {
            None
        }
    }

    /// A required JSON integer (not `5.0`, not `"5"`).
    pub fn int(&mut self, name: &str) -> Option<i64> {
        let parsed = self.get(name).and_then(Value::as_i64);
        if parsed.is_none() {
            self.reject(name);
        }
        parsed
    }

    pub fn opt_int(&mut self, name: &str) -> Option<i64> {
        match self.get(name) {
            None | Some(Value::Null) => None,
            Some(_) => self.int(name),
        }
    }

    /// An integer that must lie in `min..=max`.
    pub fn int_in(&mut self, name: &str, min: i64, max: i64) -> Option<i64> {
        let value = self.int(name)?;
        if value < min || value > max {
            self.reject(name);
            return None;
        }
        Some(value)
    }

    pub fn opt_int_in(&mut self, name: &str, min: i64, max: i64) -> Option<i64> {
        match self.get(name) {
            None | Some(Value::Null) => None,
            Some(_) => self.int_in(name, min, max),
        }
    }

    /// A time that must be present: RFC 3339 string, or `null` (→ `None`).
    pub fn nullable_time(&mut self, name: &str) -> Option<DateTime<Utc>> {
        match self.get(name) {
            Some(Value::Null) => None,
            Some(Value::String(s)) => match DateTime::parse_from_rfc3339(s) {
                Ok(t) => Some(t.with_timezone(&Utc)),
                Err(_) => {
                    self.reject(name);
                    None
                }
            },
            _ => {
                self.reject(name);
                None
            }
        }
    }

    /// A required non-empty list of at most `max` JSON integers.
    pub fn int_list(&mut self, name: &str, max: usize) -> Option<Vec<i64>> {
        let parsed = match self.get(name) {
            Some(Value::Array(items)) if !items.is_empty() && items.len() <= max => items
                .iter()
                .map(Value::as_i64)
                .collect::<Option<Vec<i64>>>(),
            _ => None,
        };
        if parsed.is_none() {
            self.reject(name);
        }
        parsed
    }

    /// Like [`Fields::finish`] for bodies whose contract ignores unknown fields (the headset
    /// protocol: headsets in the field send what their version knows).
    pub fn finish_ignoring_unknown(mut self) -> Result<(), ApiError> {
        self.known.extend(self.object.keys().cloned());
        self.finish()
    }

    /// Ok when every field decoded and none is unknown; otherwise `INVALID_PARAMS` naming
    /// each bad or unknown one.
    pub fn finish(mut self) -> Result<(), ApiError> {
        let unknown: Vec<String> = self
            .object
            .keys()
            .filter(|name| !self.known.contains(*name))
            .cloned()
            .collect();
        self.bad.extend(unknown);
        if self.bad.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid_fields(&self.bad))
        }
    }

    /// Records a field that failed a rule checked outside this helper.
    pub fn mark_bad(&mut self, name: &str) {
        self.reject(name);
    }
}
