//! The two body shapes of every answer: `{"success": true, "data"}` and the error body of
//! HEADSET-PROTOCOL.md (`success`, `error_code`, `message`, `details`, `request_id`).

use actix_web::HttpResponse;
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Serialize)]
pub struct Success<T> {
    pub success: bool,
    pub data: T,
}

#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub success: bool,
    pub error_code: &'static str,
    pub message: &'static str,
    /// `{}` when there is nothing to add.
    pub details: Value,
    pub request_id: String,
}

/// 200 with `data`.
pub fn ok<T: Serialize>(data: T) -> HttpResponse {
    HttpResponse::Ok().json(Success {
        success: true,
        data,
    })
}
