//! Reading request bodies with a hard size limit, refused first with 413.

use actix_web::HttpRequest;
use actix_web::web::Payload;
use futures_util::StreamExt;

use crate::api_error::{ApiError, ErrorCode};

/// Largest body accepted on any endpoint (HEADSET-PROTOCOL.md: over 16 KiB is refused).
pub const BODY_LIMIT: usize = 16 * 1024;

pub async fn read_limited(req: &HttpRequest, mut payload: Payload) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::with(
            ErrorCode::PayloadTooLarge,
            serde_json::json!({ "max_bytes": BODY_LIMIT }),
        )
    };
    let declared = req
        .headers()
        .get("Content-Length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT) {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ApiError::invalid_fields(&["body"]))?;
        if body.len() + chunk.len() > BODY_LIMIT {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
