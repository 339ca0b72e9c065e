//! Opaque page cursors: the keyset position of the last row of a page.
//!
//! A cursor is base64url (no padding) of a small JSON object. Clients must treat it as
//! opaque; decoding anything that is not a cursor of the expected kind fails, and the caller
//! answers `INVALID_PARAMS` naming `cursor`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Longest cursor text accepted: far above any cursor we issue, so junk is refused cheaply.
pub const MAX_CURSOR_LEN: usize = 512;

/// Position in a list ordered by (time DESC, event position DESC): usage records, transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimePositionKey {
    /// Microseconds since the Unix epoch (PostgreSQL's precision, so the key is exact).
    pub t: i64,
    pub p: i64,
}

/// Position in a list ordered by (time DESC, id DESC): operators by registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeIdKey {
    pub t: i64,
    pub id: Uuid,
}

/// Position in a list ordered by event position DESC alone: an operator's messages, whose id
/// is the position of the event that created them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PositionKey {
    pub p: i64,
}

/// Position in a list ordered by (name ASC, id ASC): the app catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameIdKey {
    pub n: String,
    pub id: Uuid,
}

/// A key of one list. `is_valid` refuses decoded keys no page of ours could have produced.
pub trait CursorKey: Serialize + DeserializeOwned {
    fn is_valid(&self) -> bool {
        true
    }
}

/// Times a key may carry: PostgreSQL's `timestamptz` range we care about (years 1 to 9999).
fn valid_micros(t: i64) -> bool {
    const MIN: i64 = -62_135_596_800_000_000; // 0001-01-01T00:00:00Z
    const MAX: i64 = 253_402_300_799_999_999; // 9999-12-31T23:59:59.999999Z
    (MIN..=MAX).contains(&t)
}

impl CursorKey for TimePositionKey {
    fn is_valid(&self) -> bool {
        valid_micros(self.t) && self.p >= 0
    }
}

impl CursorKey for TimeIdKey {
    fn is_valid(&self) -> bool {
        valid_micros(self.t)
    }
}

impl CursorKey for PositionKey {
    fn is_valid(&self) -> bool {
        self.p > 0
    }
}

impl CursorKey for NameIdKey {}

pub fn encode<K: CursorKey>(key: &K) -> String {
    let json = serde_json::to_vec(key).expect("cursor keys always serialize");
    URL_SAFE_NO_PAD.encode(json)
}

pub fn decode<K: CursorKey>(text: &str) -> Option<K> {
    if text.is_empty() || text.len() > MAX_CURSOR_LEN {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    let key: K = serde_json::from_slice(&bytes).ok()?;
    key.is_valid().then_some(key)
}

/// Microseconds since the epoch, as stored keys carry them.
pub fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// The time a decoded key carries (keys are checked when decoded, so it is in range).
pub fn time(micros: i64) -> DateTime<Utc> {
    assert!(
        valid_micros(micros),
        "cursor times are checked when decoded"
    );
    DateTime::from_timestamp_micros(micros).expect("in range")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_junk_is_refused() {
        let key = TimePositionKey {
            t: 1_763_728_200_123_456,
            p: 42,
        };
        let text = encode(&key);
        assert_eq!(decode::<TimePositionKey>(&text), Some(key));
        assert_eq!(decode::<TimePositionKey>("not a cursor"), None);
        assert_eq!(decode::<TimePositionKey>(""), None);
        // A cursor of another list does not decode as this one.
        let other = encode(&NameIdKey {
            n: "x".into(),
            id: Uuid::nil(),
        });
        assert_eq!(decode::<TimePositionKey>(&other), None);
        // A forged time out of range is refused too.
        let forged = encode(&TimePositionKey { t: i64::MAX, p: 1 });
        assert_eq!(decode::<TimePositionKey>(&forged), None);
    }
}
