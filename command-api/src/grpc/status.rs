//! Error codes as gRPC statuses. The gRPC code follows the HTTP status of the error code (one
//! table, `crate::api_error`, decides both); the stable `error_code` travels in the
//! `x-error-code` metadata and starts the message (`INSUFFICIENT_BALANCE: Insufficient
//! balance`); the details of the HTTP body, when there are any, in `x-error-details-bin`
//! (JSON).

use actix_web::http::StatusCode;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Status};

use crate::api_error::{ApiError, ErrorCode};
use crate::context::{Lang, RequestContext};

/// Metadata key of the stable error code.
pub const ERROR_CODE_KEY: &str = "x-error-code";
/// Metadata key of the error details (JSON bytes).
pub const ERROR_DETAILS_KEY: &str = "x-error-details-bin";

/// The gRPC code of an error code, by its HTTP status.
fn grpc_code(code: ErrorCode) -> Code {
    match code.status() {
        StatusCode::BAD_REQUEST => Code::InvalidArgument,
        StatusCode::UNAUTHORIZED => Code::Unauthenticated,
        StatusCode::PAYMENT_REQUIRED => Code::FailedPrecondition,
        StatusCode::FORBIDDEN => Code::PermissionDenied,
        StatusCode::NOT_FOUND => Code::NotFound,
        // A session id used for another request names an existing thing; other conflicts
        // are races the client may retry.
        StatusCode::CONFLICT if code == ErrorCode::SessionIdConflict => Code::AlreadyExists,
        StatusCode::CONFLICT => Code::Aborted,
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::TOO_MANY_REQUESTS => Code::ResourceExhausted,
        StatusCode::SERVICE_UNAVAILABLE => Code::Unavailable,
        _ => Code::Internal,
    }
}

/// The status of `error`, with the request id the events of the call recorded.
pub fn status(error: &ApiError, ctx: &RequestContext) -> Status {
    let code = error.code;
    let message = format!("{}: {}", code.as_str(), code.message(Lang::En));
    let mut metadata = MetadataMap::new();
    metadata.insert(ERROR_CODE_KEY, MetadataValue::from_static(code.as_str()));
    if let Ok(request_id) = ctx.request_id.parse() {
        metadata.insert("x-request-id", request_id);
    }
    let has_details = error.details.as_object().is_none_or(|d| !d.is_empty());
    if has_details {
        let details = serde_json::to_vec(&error.details).expect("JSON serializes");
        metadata.insert_bin(ERROR_DETAILS_KEY, MetadataValue::from_bytes(&details));
    }
    Status::with_metadata(grpc_code(code), message, metadata)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ctx() -> RequestContext {
        RequestContext {
            request_id: "req-1".to_owned(),
            trace_id: "t".to_owned(),
            source_ip: String::new(),
            lang: Lang::Zh,
        }
    }

    #[test]
    fn each_error_gets_the_code_of_its_http_status_and_keeps_its_error_code() {
        let cases = [
            (ErrorCode::InvalidParams, Code::InvalidArgument),
            (ErrorCode::InvalidSignature, Code::Unauthenticated),
            (ErrorCode::TimestampExpired, Code::Unauthenticated),
            (ErrorCode::InsufficientBalance, Code::FailedPrecondition),
            (ErrorCode::AppNotAuthorized, Code::PermissionDenied),
            (ErrorCode::SessionNotFound, Code::NotFound),
            (ErrorCode::SessionIdConflict, Code::AlreadyExists),
            (ErrorCode::Conflict, Code::Aborted),
            (ErrorCode::RateLimitExceeded, Code::ResourceExhausted),
            (ErrorCode::ServiceUnavailable, Code::Unavailable),
            (ErrorCode::InternalError, Code::Internal),
        ];
        for (error_code, grpc) in cases {
            let status = status(&ApiError::new(error_code), &ctx());
            assert_eq!(status.code(), grpc, "{error_code:?}");
            assert_eq!(
                status.metadata().get(ERROR_CODE_KEY).unwrap(),
                error_code.as_str()
            );
            assert!(
                status
                    .message()
                    .starts_with(&format!("{}: ", error_code.as_str()))
            );
            assert_eq!(status.metadata().get("x-request-id").unwrap(), "req-1");
            assert!(status.metadata().get_bin(ERROR_DETAILS_KEY).is_none());
        }
    }

    #[test]
    fn details_travel_as_json() {
        let error = ApiError::invalid_fields(&["app_id"]);
        let status = status(&error, &ctx());
        let bytes = status
            .metadata()
            .get_bin(ERROR_DETAILS_KEY)
            .unwrap()
            .to_bytes()
            .unwrap();
        let details: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(details, json!({ "fields": ["app_id"] }));
    }
}
