//! What a headset request carries, decoded and shape-checked before any lookup or crypto:
//! the signing headers ([`SigningHeaders`]) and the JSON bodies of authorize, end and
//! heartbeat (HEADSET-PROTOCOL.md). Pure, so the transports share it and it can be fuzzed.

use crate::body_fields::{BodyError, BodyFields};
use crate::headset_server::{SERVER_ID_MAX, VERSION_MAX};
use crate::ids::{AppId, KeyId, SESSION_RANDOM_LEN, SiteId};

/// Lengths of well-formed signing header values, from the shapes the protocol defines.
/// `X-API-Key`: `mrk_` + 32 hex digits.
pub const KEY_ID_LEN: usize = KeyId::PREFIX.len() + 32;
/// `X-Signature`: padded Base64 of a 32-byte HMAC-SHA256 tag.
pub const SIGNATURE_LEN: usize = 32_usize.div_ceil(3) * 4;
/// `X-Session-ID`: hyphenated UUID, `_`, 13 digits, `_`, the random part.
pub const SESSION_ID_LEN: usize = 36 + 1 + 13 + 1 + SESSION_RANDOM_LEN;
/// `X-Timestamp`: an `i64` in decimal, sign included.
pub const TIMESTAMP_LEN_MAX: usize = 20;

/// A header value over twice its well-formed length is no near miss (a typo, a character
/// too many, which keep the protocol's own codes: `INVALID_API_KEY`, `INVALID_SIGNATURE`,
/// `INVALID_SESSION_ID_FORMAT`) but garbage: it is refused as a malformed parameter before
/// any database lookup or HMAC is spent on it.
const NEAR_MISS_FACTOR: usize = 2;

/// The signing headers; names as sent over HTTP and as gRPC metadata keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    ApiKey,
    Timestamp,
    Signature,
    SessionId,
}

impl Header {
    pub const ALL: [Header; 4] = [
        Header::ApiKey,
        Header::Timestamp,
        Header::Signature,
        Header::SessionId,
    ];

    pub const fn http_name(self) -> &'static str {
        match self {
            Header::ApiKey => "X-API-Key",
            Header::Timestamp => "X-Timestamp",
            Header::Signature => "X-Signature",
            Header::SessionId => "X-Session-ID",
        }
    }

    pub const fn grpc_name(self) -> &'static str {
        match self {
            Header::ApiKey => "x-api-key",
            Header::Timestamp => "x-timestamp",
            Header::Signature => "x-signature",
            Header::SessionId => "x-session-id",
        }
    }

    /// The longest value read; a longer one is refused (see [`NEAR_MISS_FACTOR`]).
    pub const fn len_max(self) -> usize {
        match self {
            Header::ApiKey => KEY_ID_LEN * NEAR_MISS_FACTOR,
            // No integer has more digits: a longer value could not parse anyway.
            Header::Timestamp => TIMESTAMP_LEN_MAX,
            Header::Signature => SIGNATURE_LEN * NEAR_MISS_FACTOR,
            Header::SessionId => SESSION_ID_LEN * NEAR_MISS_FACTOR,
        }
    }
}

/// The signing headers of one request, present and of a possible shape (not yet valid:
/// the key may be unknown, the signature wrong, the session id malformed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningHeaders {
    pub key_id: String,
    /// `X-Timestamp` as a number and exactly as sent (the canonical string signs the text).
    pub timestamp: i64,
    pub timestamp_raw: String,
    pub signature: String,
    /// Present whenever the call needs one (authorize and end).
    pub session_id: Option<String>,
}

impl SigningHeaders {
    /// Reads the headers through `lookup` (`None`: absent or not text). A value is trimmed;
    /// empty, longer than [`Header::len_max`] or (the timestamp) not an integer, it is
    /// refused. Every refused header is named, in [`Header::ALL`] order.
    pub fn read<'a>(
        lookup: impl Fn(Header) -> Option<&'a str>,
        needs_session: bool,
    ) -> Result<SigningHeaders, Vec<Header>> {
        let value = |header: Header| {
            lookup(header)
                .map(str::trim)
                .filter(|v| !v.is_empty() && v.len() <= header.len_max())
        };
        let key_id = value(Header::ApiKey);
        let timestamp =
            value(Header::Timestamp).and_then(|raw| raw.parse::<i64>().ok().map(|ts| (ts, raw)));
        let signature = value(Header::Signature);
        let session_id = if needs_session {
            value(Header::SessionId).map(Some)
        } else {
            Some(None)
        };
        match (key_id, timestamp, signature, session_id) {
            (Some(key_id), Some((timestamp, raw)), Some(signature), Some(session_id)) => {
                Ok(SigningHeaders {
                    key_id: key_id.to_owned(),
                    timestamp,
                    timestamp_raw: raw.to_owned(),
                    signature: signature.to_owned(),
                    session_id: session_id.map(str::to_owned),
                })
            }
            (key_id, timestamp, signature, session_id) => Err([
                (Header::ApiKey, key_id.is_some()),
                (Header::Timestamp, timestamp.is_some()),
                (Header::Signature, signature.is_some()),
                (Header::SessionId, session_id.is_some()),
            ]
            .into_iter()
            .filter(|(_, ok)| !ok)
            .map(|(header, _)| header)
            .collect()),
        }
    }
}

/// `POST /api/v1/auth/game/authorize`: `{"app_id", "site_id", "player_count"}`; unknown
/// fields ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeBody {
    pub app_id: AppId,
    pub site_id: SiteId,
    /// Any JSON integer: one beyond 64 bits saturates, so the app's range rule answers it
    /// (`PLAYER_COUNT_OUT_OF_RANGE`), as for any other integer outside the range.
    pub player_count: i64,
}

impl AuthorizeBody {
    pub fn decode(body: &[u8]) -> Result<AuthorizeBody, BodyError> {
        let mut f = BodyFields::parse(body, false)?;
        let app_id = f.id("app_id");
        let site_id = f.id("site_id");
        let player_count = f.saturating_int("player_count");
        f.finish_ignoring_unknown()?;
        Ok(AuthorizeBody {
            app_id: app_id.expect("finish checked it"),
            site_id: site_id.expect("finish checked it"),
            player_count: player_count.expect("finish checked it"),
        })
    }
}

/// `POST /api/v1/auth/game/end`: `{"duration_seconds": <int ≥ 0>}`, the body itself
/// optional; unknown fields ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndBody {
    pub duration_seconds: Option<u64>,
}

impl EndBody {
    pub fn decode(body: &[u8]) -> Result<EndBody, BodyError> {
        let mut f = BodyFields::parse(body, true)?;
        let duration = f.opt_int_in("duration_seconds", 0, i64::MAX);
        f.finish_ignoring_unknown()?;
        Ok(EndBody {
            duration_seconds: duration.map(|d| u64::try_from(d).expect("range-checked")),
        })
    }
}

/// `POST /api/v1/auth/headset/heartbeat`; unknown fields ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatBody {
    pub site_id: SiteId,
    /// 1 to [`SERVER_ID_MAX`] characters (trimmed).
    pub server_id: String,
    pub players_online: u32,
    /// 1 to [`VERSION_MAX`] characters (trimmed).
    pub version: String,
}

impl HeartbeatBody {
    pub fn decode(body: &[u8]) -> Result<HeartbeatBody, BodyError> {
        let mut f = BodyFields::parse(body, false)?;
        let site_id = f.id("site_id");
        let server_id = f.text("server_id", 1, SERVER_ID_MAX);
        let players_online = f.int_in("players_online", 0, i64::from(u32::MAX));
        let version = f.text("version", 1, VERSION_MAX);
        f.finish_ignoring_unknown()?;
        Ok(HeartbeatBody {
            site_id: site_id.expect("finish checked it"),
            server_id,
            players_online: u32::try_from(players_online.expect("finish checked it"))
                .expect("range-checked"),
            version,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "0192f1a4-7b7e-7c3e-9a55-3f2b8f1e0c11";
    const SITE: &str = "0192f1a4-7b7e-7c3e-9a55-3f2b8f1e0c22";

    fn headers<'a>(pairs: &'a [(Header, &'a str)]) -> impl Fn(Header) -> Option<&'a str> + 'a {
        move |h| pairs.iter().find(|(k, _)| *k == h).map(|(_, v)| *v)
    }

    #[test]
    fn well_shaped_headers_are_read_trimmed() {
        let sig = "A".repeat(43) + "=";
        let session = format!("{APP}_1763728200000_abcDEF0123456789");
        let pairs = [
            (Header::ApiKey, " mrk_0123456789abcdef0123456789abcdef "),
            (Header::Timestamp, "1763728200"),
            (Header::Signature, sig.as_str()),
            (Header::SessionId, session.as_str()),
        ];
        let read = SigningHeaders::read(headers(&pairs), true).unwrap();
        assert_eq!(read.key_id, "mrk_0123456789abcdef0123456789abcdef");
        assert_eq!(read.timestamp, 1_763_728_200);
        assert_eq!(read.session_id.as_deref(), Some(session.as_str()));
        assert_eq!(session.len(), SESSION_ID_LEN);
        assert_eq!(SIGNATURE_LEN, 44);
        assert_eq!(
            Header::ALL.map(Header::len_max),
            [72, TIMESTAMP_LEN_MAX, 88, 134]
        );
    }

    #[test]
    fn over_long_or_missing_headers_are_named_before_any_lookup() {
        let long = "A".repeat(10_000);
        let pairs = [
            (Header::ApiKey, long.as_str()),
            (Header::Timestamp, "99999999999999999999"),
            (Header::Signature, long.as_str()),
        ];
        assert_eq!(
            SigningHeaders::read(headers(&pairs), true),
            Err(Header::ALL.to_vec())
        );
        // Without a session, its absence is fine.
        let pairs = [
            (Header::ApiKey, "mrk_x"),
            (Header::Timestamp, "1"),
            (Header::Signature, &long[..Header::Signature.len_max() + 1]),
        ];
        assert_eq!(
            SigningHeaders::read(headers(&pairs), false),
            Err(vec![Header::Signature])
        );
        // A near miss is left to the checks that name it precisely.
        let near_miss = format!("{}x", "A".repeat(SIGNATURE_LEN));
        let pairs = [
            (Header::ApiKey, "mrk_x"),
            (Header::Timestamp, "1"),
            (Header::Signature, near_miss.as_str()),
        ];
        assert!(SigningHeaders::read(headers(&pairs), false).is_ok());
    }

    #[test]
    fn a_player_count_beyond_64_bits_saturates_for_the_range_rule() {
        let body = format!(
            r#"{{"app_id": "{APP}", "site_id": "{SITE}", "player_count": 99999999999999999999}}"#
        );
        assert_eq!(
            AuthorizeBody::decode(body.as_bytes()).unwrap().player_count,
            i64::MAX
        );
        let body = format!(r#"{{"app_id": "{APP}", "site_id": "{SITE}", "player_count": 2.0}}"#);
        assert_eq!(
            AuthorizeBody::decode(body.as_bytes()),
            Err(BodyError::Fields(vec!["player_count".into()]))
        );
    }

    #[test]
    fn end_takes_an_empty_body_and_refuses_a_negative_duration() {
        assert_eq!(
            EndBody::decode(b""),
            Ok(EndBody {
                duration_seconds: None
            })
        );
        assert_eq!(
            EndBody::decode(br#"{"duration_seconds": -1}"#),
            Err(BodyError::Fields(vec!["duration_seconds".into()]))
        );
        assert_eq!(
            EndBody::decode(br#"{"duration_seconds": 99999999999999999999}"#),
            Err(BodyError::Fields(vec!["duration_seconds".into()]))
        );
    }

    #[test]
    fn heartbeat_names_every_bad_field() {
        let body = br#"{"site_id": "x", "server_id": "", "players_online": 4294967296,
                        "version": "1", "extra": true}"#;
        assert_eq!(
            HeartbeatBody::decode(body),
            Err(BodyError::Fields(
                ["site_id", "server_id", "players_online"]
                    .map(String::from)
                    .to_vec()
            ))
        );
    }
}
