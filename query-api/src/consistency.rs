//! Read-your-writes: the middleware that picks, once per request, where its reads go.
//!
//! A command answer carries `X-Ledger-Position` (the appending transaction's `xid8`); a read
//! that sends it back as `X-Ledger-Min-Position` is served only from a database whose
//! projection has applied that transaction: the replica if it has, else the primary if it
//! has, else after waiting (up to `MR_QUERY_CONSISTENCY_WAIT_MS`) for the primary's
//! projection, else `503 POSITION_NOT_REACHED` with `Retry-After`. A malformed token is
//! `400 INVALID_POSITION`. Without a token nothing is checked: reads go to the replica while
//! its lag is within the limits, else to the primary. Every answer says where it was served
//! from in `X-Ledger-Served-By` (`replica` or `primary`).
//!
//! Cost: nothing without a token; with one, one indexed query on the replica (or, without a
//! replica, on the primary) when it has applied the token, one more on the primary when only
//! the primary has, then one per [`POSITION_POLL`](crate::store::replica::POSITION_POLL)
//! while waiting.

use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;

use crate::AppState;
use crate::errors::ApiError;
use crate::store::replica::{self, RouteError};

/// The request header carrying a read-your-writes token.
pub const MIN_POSITION_HEADER: &str = "x-ledger-min-position";

/// The response header naming the database that served the reads.
pub const SERVED_BY_HEADER: &str = "x-ledger-served-by";

/// Longest token accepted: `u64::MAX` has 20 digits.
const MAX_TOKEN_DIGITS: usize = 20;

/// How long a token may wait for the projection (app data of the server).
#[derive(Debug, Clone, Copy)]
pub struct ConsistencyWait(pub Duration);

/// The token of `X-Ledger-Min-Position`: `None` without the header, an error when it is not
/// a plain decimal transaction id.
pub fn parse_token(value: Option<&HeaderValue>) -> Result<Option<u64>, ApiError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| ApiError::InvalidPosition)?;
    let plain = !text.is_empty()
        && text.len() <= MAX_TOKEN_DIGITS
        && text.bytes().all(|b| b.is_ascii_digit());
    if !plain {
        return Err(ApiError::InvalidPosition);
    }
    text.parse()
        .map(Some)
        .map_err(|_| ApiError::InvalidPosition)
}

/// The middleware (inside the context middleware, so error bodies carry the request id).
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let wait = req.app_data::<web::Data<ConsistencyWait>>().map(|w| w.0);
    let (Some(state), Some(wait)) = (state, wait) else {
        return next.call(req).await;
    };
    let token = parse_token(req.headers().get(MIN_POSITION_HEADER))?;
    let target = state.store.route(token, wait).await.map_err(|e| match e {
        RouteError::NotReached { token, waited } => ApiError::PositionNotReached {
            position: token,
            waited_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
        },
        RouteError::Store(e) => ApiError::Store(e),
    })?;
    let mut response = replica::serve_from(target, next.call(req)).await?;
    response.headers_mut().insert(
        HeaderName::from_static(SERVED_BY_HEADER),
        HeaderValue::from_static(target.as_str()),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(text: &str) -> Result<Option<u64>, ApiError> {
        parse_token(Some(&HeaderValue::from_str(text).unwrap()))
    }

    #[test]
    fn a_token_is_a_plain_decimal_transaction_id() {
        assert_eq!(parse_token(None).unwrap(), None);
        assert_eq!(token("741").unwrap(), Some(741));
        assert_eq!(token("18446744073709551615").unwrap(), Some(u64::MAX));
        for bad in [
            "",
            " 7",
            "7 ",
            "+7",
            "-7",
            "0x1f",
            "7.0",
            "abc",
            "18446744073709551616",
        ] {
            assert!(
                matches!(token(bad), Err(ApiError::InvalidPosition)),
                "{bad:?}"
            );
        }
    }
}
