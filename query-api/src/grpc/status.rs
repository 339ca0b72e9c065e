//! The query API's errors as gRPC statuses. The message starts with the stable `error_code`
//! of the HTTP API (`INVALID_PARAMS: after_position`), so clients branch on the same codes.

use actix_web::http::StatusCode;
use tonic::{Code, Status};

use crate::errors::ApiError;

/// The gRPC code of an HTTP status: one table (`crate::errors`) decides the HTTP status of
/// every error, this follows it.
fn grpc_code(status: StatusCode) -> Code {
    match status {
        StatusCode::BAD_REQUEST => Code::InvalidArgument,
        StatusCode::UNAUTHORIZED => Code::Unauthenticated,
        StatusCode::FORBIDDEN => Code::PermissionDenied,
        StatusCode::NOT_FOUND => Code::NotFound,
        StatusCode::CONFLICT => Code::FailedPrecondition,
        StatusCode::SERVICE_UNAVAILABLE => Code::Unavailable,
        _ => Code::Internal,
    }
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Status {
        let code = error.code();
        let detail = match &error {
            ApiError::InvalidParams { fields } => fields.join(", "),
            ApiError::Forbidden { access } => format!("needs {}", access.as_str()),
            ApiError::NotFound(resource) => (*resource).to_owned(),
            ApiError::Unauthorized(reason) => {
                tracing::info!(reason, "gRPC token refused");
                String::new()
            }
            _ => String::new(),
        };
        if code.status().is_server_error() {
            // Opaque to the client, complete in the log.
            tracing::error!(error = %cause_chain(&error), "gRPC call failed");
        }
        let message = if detail.is_empty() {
            code.as_str().to_owned()
        } else {
            format!("{}: {detail}", code.as_str())
        };
        Status::new(grpc_code(code.status()), message)
    }
}

fn cause_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use ledger_core::access::{Access, Scope};

    use super::*;

    #[test]
    fn each_error_gets_its_grpc_code_and_keeps_its_error_code() {
        let cases = [
            (
                ApiError::invalid(&["after_position"]),
                Code::InvalidArgument,
                "INVALID_PARAMS: after_position",
            ),
            (
                ApiError::Unauthorized("x"),
                Code::Unauthenticated,
                "UNAUTHORIZED",
            ),
            (
                ApiError::Forbidden {
                    access: Access::Scope(Scope::EventsRead),
                },
                Code::PermissionDenied,
                "FORBIDDEN: needs events:read",
            ),
            (
                ApiError::NotFound("stream"),
                Code::NotFound,
                "NOT_FOUND: stream",
            ),
        ];
        for (error, code, message) in cases {
            let status = Status::from(error);
            assert_eq!((status.code(), status.message()), (code, message));
        }
    }
}
