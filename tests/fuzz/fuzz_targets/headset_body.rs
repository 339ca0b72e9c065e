//! Request body decoding: the strict JSON reader and the authorize, end and heartbeat
//! decoders built on it.
//!
//! Invariants: nothing panics; the strict reader agrees with serde_json wherever both accept
//! (same structure, strings and number values), refuses as malformed only what serde_json
//! also refuses, and accepts what serde_json refuses only for a number beyond `f64`
//! (`1e400`, or an integer of 309 digits, which it keeps without computing it); a decoded body re-encodes
//! to one that decodes to the same value; decoded fields respect their ranges; a refusal
//! names at least one field.
#![no_main]

use ledger_core::body_fields::BodyError;
use ledger_core::headset_request::{AuthorizeBody, EndBody, HeartbeatBody};
use ledger_core::headset_server::{SERVER_ID_MAX, VERSION_MAX};
use ledger_core::strict_json::{self, JsonError, JsonNumber, JsonValue};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Whether the strict reading `ours` and serde_json's `theirs` are the same value.
fn same(ours: &JsonValue, theirs: &Value) -> bool {
    match (ours, theirs) {
        (JsonValue::Null, Value::Null) => true,
        (JsonValue::Bool(a), Value::Bool(b)) => a == b,
        (JsonValue::String(a), Value::String(b)) => a == b,
        (JsonValue::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        (JsonValue::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| same(v, w)))
        }
        (JsonValue::Number(n), Value::Number(m)) => match n {
            // serde_json reads `-0` as the float -0.0.
            JsonNumber::Int(i) => m.as_i64() == Some(*i) || (*i == 0 && m.as_f64() == Some(0.0)),
            JsonNumber::BigInt { negative } => {
                m.as_i64().is_none()
                    && if *negative {
                        m.as_f64().is_some_and(|f| f < 0.0)
                    } else {
                        m.as_u64().is_some() || m.as_f64().is_some_and(|f| f > 0.0)
                    }
            }
            JsonNumber::Fraction => m.is_f64(),
        },
        _ => false,
    }
}

/// Whether `value` holds a number serde_json may find beyond `f64` (a fraction like `1e400`
/// or an integer of 309 digits), which it refuses and the strict reader keeps unevaluated.
fn has_unevaluated_number(value: &JsonValue) -> bool {
    match value {
        JsonValue::Number(JsonNumber::Fraction | JsonNumber::BigInt { .. }) => true,
        JsonValue::Array(items) => items.iter().any(has_unevaluated_number),
        JsonValue::Object(members) => members.values().any(has_unevaluated_number),
        _ => false,
    }
}

fn names_a_field(error: &BodyError) {
    assert!(!error.field_names().is_empty());
}

fuzz_target!(|data: &[u8]| {
    let ours = strict_json::parse(data);
    let theirs = serde_json::from_slice::<Value>(data);
    match (&ours, &theirs) {
        (Ok(ours), Ok(theirs)) => assert!(same(ours, theirs), "{ours:?} vs {theirs:?}"),
        (Ok(ours), Err(e)) => assert!(
            has_unevaluated_number(ours) && e.to_string().contains("number out of range"),
            "accepted what serde_json refuses ({e}): {ours:?}"
        ),
        (Err(JsonError::Malformed(at)), Ok(_)) => panic!("refused valid JSON at byte {at}"),
        (Err(_), _) => {}
    }

    match AuthorizeBody::decode(data) {
        Ok(body) => {
            let again = format!(
                r#"{{"app_id":"{}","site_id":"{}","player_count":{}}}"#,
                body.app_id, body.site_id, body.player_count
            );
            assert_eq!(AuthorizeBody::decode(again.as_bytes()), Ok(body));
        }
        Err(error) => names_a_field(&error),
    }

    match EndBody::decode(data) {
        Ok(body) => {
            let again = match body.duration_seconds {
                Some(d) => format!(r#"{{"duration_seconds":{d}}}"#),
                None => String::new(),
            };
            assert!(
                body.duration_seconds
                    .is_none_or(|d| i64::try_from(d).is_ok())
            );
            assert_eq!(EndBody::decode(again.as_bytes()), Ok(body));
        }
        Err(error) => names_a_field(&error),
    }

    match HeartbeatBody::decode(data) {
        Ok(body) => {
            for (text, max) in [
                (&body.server_id, SERVER_ID_MAX),
                (&body.version, VERSION_MAX),
            ] {
                assert_eq!(text.as_str(), text.trim());
                assert!((1..=max).contains(&text.chars().count()));
            }
            let again = serde_json::json!({
                "site_id": body.site_id.to_string(), "server_id": body.server_id,
                "players_online": body.players_online, "version": body.version,
            });
            let again = serde_json::to_vec(&again).expect("a value encodes");
            assert_eq!(HeartbeatBody::decode(&again), Ok(body));
        }
        Err(error) => names_a_field(&error),
    }
});
