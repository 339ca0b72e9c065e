//! The signing headers as a transport hands them over, the canonical string and the
//! signature check.
//!
//! Input: `key\ntimestamp\nsignature\nsession\nmethod\npath\nbody` (missing parts are empty;
//! a part that is not UTF-8 is an absent header). Invariants: reading never panics; accepted
//! headers are trimmed, non-empty and within their length limits, and the timestamp text
//! parses to the timestamp; every refused header is really missing, too long or (the
//! timestamp) not an integer; the canonical string is the four parts joined by newlines;
//! a signature verifies exactly when it is the one `sign` makes.
#![no_main]

use ledger_core::headset_request::{Header, SigningHeaders};
use ledger_core::signing;
use libfuzzer_sys::fuzz_target;

const SECRET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZab";

fn index(header: Header) -> usize {
    match header {
        Header::ApiKey => 0,
        Header::Timestamp => 1,
        Header::Signature => 2,
        Header::SessionId => 3,
    }
}

/// Whether `value` passes the header's shape rule, stated independently of the reader.
fn acceptable(header: Header, value: Option<&str>) -> bool {
    let Some(value) = value.map(str::trim) else {
        return false;
    };
    !value.is_empty()
        && value.len() <= header.len_max()
        && (header != Header::Timestamp || value.parse::<i64>().is_ok())
}

/// A header value as a transport hands it over: text, or absent.
fn text(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok()
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(7, |b| *b == b'\n');
    let mut next = || parts.next().unwrap_or(b"");
    let (key, ts, sig, session, method, path, body) =
        (next(), next(), next(), next(), next(), next(), next());
    let values = [text(key), text(ts), text(sig), text(session)];
    let needs_session = !session.is_empty();
    let lookup = |header: Header| values[index(header)];

    match SigningHeaders::read(lookup, needs_session) {
        Ok(read) => {
            for (header, value) in [
                (Header::ApiKey, read.key_id.as_str()),
                (Header::Timestamp, read.timestamp_raw.as_str()),
                (Header::Signature, read.signature.as_str()),
            ] {
                assert_eq!(value, value.trim());
                assert!(acceptable(header, Some(value)), "{header:?} {value:?}");
            }
            assert_eq!(read.timestamp_raw.parse::<i64>(), Ok(read.timestamp));
            assert_eq!(read.session_id.is_some(), needs_session);
            if let Some(session) = &read.session_id {
                assert!(acceptable(Header::SessionId, Some(session)));
            }

            let method = text(method).unwrap_or("POST");
            let path = text(path).unwrap_or("/");
            let expected = signing::sign(SECRET, &read.timestamp_raw, method, path, body);
            assert!(signing::verify(
                SECRET,
                &read.timestamp_raw,
                method,
                path,
                body,
                &expected
            ));
            // Base64 decoding admits exactly one spelling of each tag: no other text verifies.
            let verified = signing::verify(
                SECRET,
                &read.timestamp_raw,
                method,
                path,
                body,
                &read.signature,
            );
            assert_eq!(verified, read.signature == expected);
        }
        Err(refused) => {
            assert!(!refused.is_empty());
            for header in &refused {
                let relevant = *header != Header::SessionId || needs_session;
                assert!(relevant && !acceptable(*header, values[index(*header)]));
            }
            for header in Header::ALL {
                let required = header != Header::SessionId || needs_session;
                if required && !acceptable(header, values[index(header)]) {
                    assert!(refused.contains(&header), "{header:?} not named");
                }
            }
        }
    }

    if let (Some(ts), Some(method), Some(path)) = (text(ts), text(method), text(path)) {
        let canonical = signing::canonical_bytes(ts, method, path, body);
        let mut expected = Vec::new();
        for part in [ts, &method.to_ascii_uppercase(), path] {
            expected.extend_from_slice(part.as_bytes());
            expected.push(b'\n');
        }
        expected.extend_from_slice(body);
        assert_eq!(canonical, expected);
    }
});
