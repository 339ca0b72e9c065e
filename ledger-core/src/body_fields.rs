//! Decoding a JSON request body field by field, collecting every offending field name so a
//! refusal names them all at once.
//!
//! The body is read by [`crate::strict_json`] (duplicate keys, depth and number rules), must
//! be a JSON object, and each typed getter checks one field. Unknown fields: a body decoded
//! with [`BodyFields::finish`] refuses them (staff and operator commands: a misspelt optional
//! field must not be silently ignored); [`BodyFields::finish_ignoring_unknown`] accepts them
//! (the headset protocol: headsets in the field send what their version knows).

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use chrono::{DateTime, Utc};

use crate::money::Money;
use crate::strict_json::{self, JsonError, JsonNumber, JsonValue};

/// Why a body was refused; every case names what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Not JSON, or JSON this reader refuses (a key given twice, nesting too deep).
    #[error("body: {0}")]
    Json(#[from] JsonError),
    /// Valid JSON of another type where an object is expected (names the type found).
    #[error("body must be a JSON object, not {found}")]
    NotAnObject { found: &'static str },
    /// The object's fields that are missing, mistyped, out of range or unknown.
    #[error("invalid fields: {0:?}")]
    Fields(Vec<String>),
}

impl BodyError {
    /// The names a client should look at: the fields, or `body` for the body as a whole.
    pub fn field_names(&self) -> Vec<String> {
        match self {
            BodyError::Json(JsonError::DuplicateKey(key)) => vec![key.clone()],
            BodyError::Json(_) | BodyError::NotAnObject { .. } => vec!["body".to_owned()],
            BodyError::Fields(names) => names.clone(),
        }
    }

    /// A stable word for what was wrong with the body as a whole (`None` for field errors).
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            BodyError::Json(JsonError::Malformed(_)) => Some("malformed_json"),
            BodyError::Json(JsonError::TooDeep) => Some("nesting_too_deep"),
            BodyError::Json(JsonError::DuplicateKey(_)) => Some("duplicate_key"),
            BodyError::NotAnObject { .. } => Some("not_an_object"),
            BodyError::Fields(_) => None,
        }
    }
}

pub struct BodyFields {
    object: BTreeMap<String, JsonValue>,
    bad: Vec<String>,
    /// Every name a decoder asked about: the rest of the body is unknown.
    known: BTreeSet<String>,
}

impl BodyFields {
    /// The body must be a JSON object (an empty body counts as `{}` when `empty_ok`).
    pub fn parse(body: &[u8], empty_ok: bool) -> Result<BodyFields, BodyError> {
        let object = if empty_ok && body.iter().all(u8::is_ascii_whitespace) {
            BTreeMap::new()
        } else {
            match strict_json::parse(body)? {
                JsonValue::Object(object) => object,
                other => {
                    return Err(BodyError::NotAnObject {
                        found: other.kind(),
                    });
                }
            }
        };
        Ok(BodyFields {
            object,
            bad: Vec::new(),
            known: BTreeSet::new(),
        })
    }

    fn reject(&mut self, name: &str) {
        if !self.bad.iter().any(|b| b == name) {
            self.bad.push(name.to_owned());
        }
    }

    /// Looks a field up, noting its name as one the decoder knows.
    fn get(&mut self, name: &str) -> Option<&JsonValue> {
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
            _ => {
                self.reject(name);
                String::new()
            }
        }
    }

    /// An optional string of at most `max` characters; `null` counts as absent.
    pub fn opt_text(&mut self, name: &str, max: usize) -> Option<String> {
        match self.get(name) {
            None | Some(JsonValue::Null) => None,
            Some(JsonValue::String(s)) if s.trim().chars().count() <= max => {
                Some(s.trim().to_owned())
            }
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
            _ => {
                self.reject(name);
                String::new()
            }
        }
    }

    /// An optional secret of at most `max` characters, untrimmed; `null` counts as absent.
    pub fn opt_secret(&mut self, name: &str, max: usize) -> Option<String> {
        match self.get(name) {
            None | Some(JsonValue::Null) => None,
            Some(JsonValue::String(s)) if s.chars().count() <= max => Some(s.clone()),
            Some(_) => {
                self.reject(name);
                None
            }
        }
    }

    /// A required id (hyphenated UUID string).
    pub fn id<T: FromStr>(&mut self, name: &str) -> Option<T> {
        let parsed = match self.get(name) {
            Some(JsonValue::String(s)) => s.parse().ok(),
            _ => None,
        };
        if parsed.is_none() {
            self.reject(name);
        }
        parsed
    }

    /// A required amount: a JSON string with at most two decimals (a number is refused:
    /// money never travels as a float).
    pub fn money(&mut self, name: &str) -> Option<Money> {
        let parsed = match self.get(name) {
            Some(JsonValue::String(s)) => Money::parse(s).ok(),
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

    /// A required JSON integer within `i64` (not `5.0`, not `"5"`, not `1e3`).
    pub fn int(&mut self, name: &str) -> Option<i64> {
        let parsed = match self.get(name) {
            Some(JsonValue::Number(JsonNumber::Int(n))) => Some(*n),
            _ => None,
        };
        if parsed.is_none() {
            self.reject(name);
        }
        parsed
    }

    /// A required JSON integer of any size, one beyond `i64` saturating to `i64::MIN` or
    /// `i64::MAX`: for counts whose range rule is the business's to answer (a player count of
    /// 99999999999999999999 is out of the app's range, not a malformed request).
    pub fn saturating_int(&mut self, name: &str) -> Option<i64> {
        let parsed = match self.get(name) {
            Some(JsonValue::Number(JsonNumber::Int(n))) => Some(*n),
            Some(JsonValue::Number(JsonNumber::BigInt { negative })) => {
                Some(if *negative { i64::MIN } else { i64::MAX })
            }
            _ => None,
        };
        if parsed.is_none() {
            self.reject(name);
        }
        parsed
    }

    pub fn opt_int(&mut self, name: &str) -> Option<i64> {
        match self.get(name) {
            None | Some(JsonValue::Null) => None,
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
            None | Some(JsonValue::Null) => None,
            Some(_) => self.int_in(name, min, max),
        }
    }

    /// A time that must be present: RFC 3339 string, or `null` (→ `None`).
    pub fn nullable_time(&mut self, name: &str) -> Option<DateTime<Utc>> {
        match self.get(name) {
            Some(JsonValue::Null) => None,
            Some(JsonValue::String(s)) => match DateTime::parse_from_rfc3339(s) {
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

    /// A required non-empty list of at most `max` JSON integers within `i64`.
    pub fn int_list(&mut self, name: &str, max: usize) -> Option<Vec<i64>> {
        let parsed = match self.get(name) {
            Some(JsonValue::Array(items)) if !items.is_empty() && items.len() <= max => items
                .iter()
                .map(|item| match item {
                    JsonValue::Number(JsonNumber::Int(n)) => Some(*n),
                    _ => None,
                })
                .collect::<Option<Vec<i64>>>(),
            _ => None,
        };
        if parsed.is_none() {
            self.reject(name);
        }
        parsed
    }

    /// Records a field that failed a rule checked outside this helper.
    pub fn mark_bad(&mut self, name: &str) {
        self.reject(name);
    }

    /// Like [`BodyFields::finish`] for bodies whose contract ignores unknown fields.
    pub fn finish_ignoring_unknown(mut self) -> Result<(), BodyError> {
        self.known.extend(self.object.keys().cloned());
        self.finish()
    }

    /// Ok when every field decoded and none is unknown; otherwise the names of each bad or
    /// unknown one.
    pub fn finish(mut self) -> Result<(), BodyError> {
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
            Err(BodyError::Fields(self.bad))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::AppId;

    #[test]
    fn a_body_that_is_not_an_object_names_what_it_is() {
        for (body, found) in [
            (&b"[]"[..], "array"),
            (b"\"x\"", "string"),
            (b"5", "number"),
            (b"null", "null"),
        ] {
            let error = BodyFields::parse(body, true).err();
            assert_eq!(error, Some(BodyError::NotAnObject { found }));
            assert_eq!(error.unwrap().field_names(), ["body"]);
        }
    }

    #[test]
    fn an_empty_body_is_an_empty_object_only_where_allowed() {
        assert!(BodyFields::parse(b"  ", true).unwrap().finish().is_ok());
        assert!(matches!(
            BodyFields::parse(b"", false),
            Err(BodyError::Json(JsonError::Malformed(0)))
        ));
    }

    #[test]
    fn a_duplicate_key_names_that_key() {
        let error = BodyFields::parse(br#"{"player_count": 1, "player_count": 9}"#, false)
            .err()
            .unwrap();
        assert_eq!(error.field_names(), ["player_count"]);
        assert_eq!(error.reason(), Some("duplicate_key"));
    }

    #[test]
    fn integers_are_bounded_and_never_wrap() {
        let body = br#"{"a": 99999999999999999999, "b": -99999999999999999999, "c": 5.0,
                        "d": 1e400, "e": "5", "f": 7}"#;
        let mut f = BodyFields::parse(body, false).unwrap();
        assert_eq!(f.int("a"), None);
        assert_eq!(f.saturating_int("a"), Some(i64::MAX));
        assert_eq!(f.saturating_int("b"), Some(i64::MIN));
        assert_eq!(f.saturating_int("c"), None);
        assert_eq!(f.int("d"), None);
        assert_eq!(f.int("e"), None);
        assert_eq!(f.int_in("f", 0, 6), None);
        assert_eq!(
            f.finish(),
            Err(BodyError::Fields(
                ["a", "c", "d", "e", "f"].map(String::from).to_vec()
            ))
        );
    }

    #[test]
    fn money_as_a_json_number_is_refused() {
        let mut f = BodyFields::parse(br#"{"amount": 10.5, "ok": "10.50"}"#, false).unwrap();
        assert_eq!(f.money("amount"), None);
        assert_eq!(f.money("ok"), Some(Money::parse("10.50").unwrap()));
        assert_eq!(f.finish(), Err(BodyError::Fields(vec!["amount".into()])));
    }

    #[test]
    fn unknown_fields_are_refused_unless_the_contract_ignores_them() {
        let body = br#"{"app_id": "0192f1a4-7b7e-7c3e-9a55-3f2b8f1e0c11", "extra": 1}"#;
        let mut f = BodyFields::parse(body, false).unwrap();
        assert!(f.id::<AppId>("app_id").is_some());
        assert_eq!(f.finish(), Err(BodyError::Fields(vec!["extra".into()])));
        let mut f = BodyFields::parse(body, false).unwrap();
        assert!(f.id::<AppId>("app_id").is_some());
        assert_eq!(f.finish_ignoring_unknown(), Ok(()));
    }
}
