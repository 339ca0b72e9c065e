//! The request body size limit: a body over [`BODY_LIMIT`] is `413 PAYLOAD_TOO_LARGE` in the
//! standard error body, on every route.
//!
//! A declared `Content-Length` over the limit is refused before routing, authentication or
//! any read; a chunked body is cut off by the body extractor's limit ([`payload_config`]),
//! whose plain 413 is rendered here in the standard error body.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::CONTENT_LENGTH;
use actix_web::middleware::Next;
use actix_web::{ResponseError, web};

use crate::errors::ApiError;

/// Largest request body accepted. The query API's only body is a report request of a few
/// dozen bytes; the limit matches the command API's (16 KiB) so one rule holds for both.
pub const BODY_LIMIT: usize = 16 * 1024;

/// The limit for body extractors (`web::Bytes`), registered as app data.
pub fn payload_config() -> web::PayloadConfig {
    web::PayloadConfig::new(BODY_LIMIT)
}

fn declared_too_large(req: &ServiceRequest) -> bool {
    req.headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > BODY_LIMIT as u64)
}

/// The middleware (inside the context middleware, so the error body carries the request id).
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if declared_too_large(&req) {
        let response = ApiError::PayloadTooLarge.error_response();
        return Ok(req.into_response(response));
    }
    let response = next.call(req).await?.map_into_boxed_body();
    let overflowed = response
        .response()
        .error()
        .and_then(|e| e.as_error::<PayloadError>())
        .is_some_and(|e| matches!(e, PayloadError::Overflow));
    if overflowed {
        let (req, _) = response.into_parts();
        return Ok(ServiceResponse::new(
            req,
            ApiError::PayloadTooLarge.error_response(),
        ));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use actix_web::http::StatusCode;
    use actix_web::middleware::from_fn;
    use actix_web::{App, HttpResponse, test as actix_test};

    use super::*;

    async fn echo_len(body: web::Bytes) -> HttpResponse {
        HttpResponse::Ok().body(body.len().to_string())
    }

    #[actix_web::test]
    async fn declared_and_streamed_oversize_bodies_are_payload_too_large() {
        let app = actix_test::init_service(
            App::new()
                .app_data(payload_config())
                .wrap(from_fn(middleware))
                .route("/", web::post().to(echo_len)),
        )
        .await;
        let small = actix_test::TestRequest::post()
            .uri("/")
            .set_payload(vec![b'a'; BODY_LIMIT])
            .to_request();
        assert_eq!(
            actix_test::call_service(&app, small).await.status(),
            StatusCode::OK
        );
        let declared = actix_test::TestRequest::post()
            .uri("/")
            .insert_header((CONTENT_LENGTH, "1000000"))
            .to_request();
        let response = actix_test::call_service(&app, declared).await;
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let body: serde_json::Value = actix_test::read_body_json(response).await;
        assert_eq!(body["error_code"], "PAYLOAD_TOO_LARGE");
        // No Content-Length (as when chunked): the extractor's limit cuts it off.
        let mut streamed = actix_test::TestRequest::post()
            .uri("/")
            .set_payload(vec![b'a'; BODY_LIMIT + 1])
            .to_request();
        streamed.headers_mut().remove(CONTENT_LENGTH);
        let response = actix_test::call_service(&app, streamed).await;
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let body: serde_json::Value = actix_test::read_body_json(response).await;
        assert_eq!(body["error_code"], "PAYLOAD_TOO_LARGE");
    }
}
