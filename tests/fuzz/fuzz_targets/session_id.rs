//! Session id parsing (`{operatorId}_{timestampMillis}_{16 alphanumerics}`).
//!
//! Invariants: parsing never panics; an accepted id prints back exactly as given, parses
//! again to the same id, has the one well-formed length (within the header's limit), names an operator whose
//! printed id is its first part and a 13-digit timestamp, and passes the window check at its
//! own time; the window check never panics for any clock.
#![no_main]

use chrono::{DateTime, TimeDelta};
use ledger_core::headset_request::{Header, SESSION_ID_LEN, SigningHeaders};
use ledger_core::ids::SessionId;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(id) = SessionId::parse(text) else {
        return;
    };
    assert_eq!(id.as_str(), text);
    assert_eq!(id.to_string(), text);
    assert_eq!(SessionId::parse(id.as_str()), Ok(id.clone()));
    assert_eq!(text.len(), SESSION_ID_LEN);

    let operator = id.operator_id();
    assert!(text.starts_with(&format!("{operator}_")));
    assert!(id.check_operator(operator).is_ok());

    let millis = id.timestamp_millis();
    assert!((0..10_000_000_000_000).contains(&millis));
    let own_time = DateTime::from_timestamp_millis(millis).expect("13 digits are a valid time");
    assert!(id.check_window(own_time, TimeDelta::zero()).is_ok());
    for clock in [
        DateTime::<chrono::Utc>::MIN_UTC,
        DateTime::<chrono::Utc>::MAX_UTC,
    ] {
        let _ = id.check_window(clock, TimeDelta::seconds(300));
    }

    // An accepted id always passes the header's length rule.
    let read = SigningHeaders::read(
        |header| match header {
            Header::ApiKey => Some("mrk_0123456789abcdef0123456789abcdef"),
            Header::Timestamp => Some("1763728200"),
            Header::Signature => Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
            Header::SessionId => Some(text),
        },
        true,
    )
    .expect("an accepted session id is a well-shaped header");
    assert_eq!(read.session_id.as_deref(), Some(text));
});
