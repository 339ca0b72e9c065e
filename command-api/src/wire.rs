//! Wire formats shared by every response: times and the success envelope.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

/// RFC 3339 UTC with `Z` and milliseconds, e.g. `2026-11-21T12:30:00.000Z`.
pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn opt_time(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(time)
}

/// `{"success": true, "data": …}` with the given status.
pub fn success<T: Serialize>(status: StatusCode, request_id: &str, data: &T) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("X-Request-ID", request_id))
        .json(serde_json::json!({ "success": true, "data": data }))
}

/// The success envelope around an already serialized `data` object, so a replay can
/// return the original bytes exactly.
pub fn success_raw(request_id: &str, data_json: &str, replayed: bool) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response.insert_header(("X-Request-ID", request_id));
    if replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    response
        .content_type("application/json")
        .body(format!("{{\"success\":true,\"data\":{data_json}}}"))
}
