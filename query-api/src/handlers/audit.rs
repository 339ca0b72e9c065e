//! The event store for auditors: one stream, or everything in global order.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::AppState;
use crate::auth::Caller;
use crate::envelope;
use crate::errors::ApiError;
use crate::params::Query;

/// Events per page when not asked for.
pub const AUDIT_LIMIT_DEFAULT: i64 = 100;
/// Most events per page: events are small, and auditors page through millions.
pub const AUDIT_LIMIT_MAX: i64 = 500;
/// Longest aggregate type name (`Operator`, `Application`, …).
const AGGREGATE_TYPE_MAX: usize = 64;
/// Longest aggregate id (our ids are 36-character UUIDs).
const AGGREGATE_ID_MAX: usize = 128;

pub(super) fn valid_aggregate_type(text: &str) -> bool {
    text.len() <= AGGREGATE_TYPE_MAX
        && text.starts_with(|c: char| c.is_ascii_alphabetic())
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

pub(super) fn valid_aggregate_id(text: &str) -> bool {
    !text.is_empty()
        && text.chars().count() <= AGGREGATE_ID_MAX
        && !text.chars().any(char::is_control)
}

struct StreamRequest {
    aggregate_type: String,
    aggregate_id: String,
    from_sequence: i64,
    limit: i64,
}

fn stream_request(
    aggregate_type: String,
    aggregate_id: String,
    query_string: &str,
) -> Result<StreamRequest, ApiError> {
    let mut bad = Vec::new();
    if !valid_aggregate_type(&aggregate_type) {
        bad.push("aggregate_type");
    }
    if !valid_aggregate_id(&aggregate_id) {
        bad.push("aggregate_id");
    }
    if !bad.is_empty() {
        return Err(ApiError::invalid(&bad));
    }
    let mut q = Query::parse(query_string, &["from_sequence", "limit"]);
    let request = StreamRequest {
        aggregate_type,
        aggregate_id,
        from_sequence: q.int("from_sequence", 1..=i64::MAX, 1),
        limit: q.limit(AUDIT_LIMIT_DEFAULT, AUDIT_LIMIT_MAX),
    };
    q.finish(request)
}

/// `(after_position, limit)` of the global feed.
fn feed_request(query_string: &str) -> Result<(i64, i64), ApiError> {
    let mut q = Query::parse(query_string, &["after_position", "limit"]);
    let request = (
        q.int("after_position", 0..=i64::MAX, 0),
        q.limit(AUDIT_LIMIT_DEFAULT, AUDIT_LIMIT_MAX),
    );
    q.finish(request)
}

pub async fn stream(
    _caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (aggregate_type, aggregate_id) = path.into_inner();
    let r = stream_request(aggregate_type, aggregate_id, req.query_string())?;
    let page = state
        .store
        .stream_events(&r.aggregate_type, &r.aggregate_id, r.from_sequence, r.limit)
        .await?
        .ok_or(ApiError::NotFound("stream"))?;
    Ok(envelope::ok(page))
}

pub async fn feed(
    _caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (after_position, limit) = feed_request(req.query_string())?;
    // An `after_position` that is no event's position cannot be placed in the commit order.
    let page = state
        .store
        .events_after(after_position, limit)
        .await?
        .ok_or(ApiError::invalid(&["after_position"]))?;
    Ok(envelope::ok(page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregate_names_are_checked() {
        assert!(valid_aggregate_type("Operator"));
        assert!(!valid_aggregate_type("1x"));
        assert!(!valid_aggregate_type("a b"));
        assert!(valid_aggregate_id("0190f5a4-7b1c-7d3e-8f00-123456789abc"));
        assert!(!valid_aggregate_id(""));
        assert!(!valid_aggregate_id(&"x".repeat(129)));
    }
}
