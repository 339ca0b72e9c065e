//! Every error the query API answers with, and the one table mapping each to its HTTP status,
//! stable `error_code` and message. Clients branch on the code, never on the message.
//! 5xx bodies are opaque; their full cause chain goes to the log.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use ledger_core::access::Access;
use serde_json::{Value, json};

use crate::context::{self, Lang};
use crate::envelope::ErrorBody;
use crate::store::StoreError;

/// Stable error codes of the query API (a subset of the system-wide codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidParams,
    Unauthorized,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    VerifyInProgress,
    InvalidPosition,
    PositionNotReached,
    ServiceUnavailable,
    InternalError,
}

/// HTTP status, `error_code`, zh-CN message, English message.
type Row = (StatusCode, &'static str, &'static str, &'static str);

impl ErrorCode {
    /// The table.
    const fn row(self) -> Row {
        match self {
            ErrorCode::InvalidParams => (
                StatusCode::BAD_REQUEST,
                "INVALID_PARAMS",
                "请求参数无效",
                "Invalid request parameters",
            ),
            ErrorCode::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "未登录或访问令牌无效",
                "Missing or invalid access token",
            ),
            ErrorCode::Forbidden => (
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
                "无权访问该资源",
                "Not allowed for this role",
            ),
            ErrorCode::NotFound => (
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "资源不存在",
                "Resource not found",
            ),
            ErrorCode::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                "请求体过大",
                "Request body is too large",
            ),
            ErrorCode::VerifyInProgress => (
                StatusCode::CONFLICT,
                "VERIFY_IN_PROGRESS",
                "校验正在进行中，请稍后重试",
                "A verify is already running, please retry later",
            ),
            ErrorCode::InvalidPosition => (
                StatusCode::BAD_REQUEST,
                "INVALID_POSITION",
                "X-Ledger-Min-Position 不是有效的位置令牌",
                "X-Ledger-Min-Position is not a valid position token",
            ),
            ErrorCode::PositionNotReached => (
                StatusCode::SERVICE_UNAVAILABLE,
                "POSITION_NOT_REACHED",
                "数据尚未同步到所需位置，请稍后重试",
                "The read side has not reached the requested position yet, please retry",
            ),
            ErrorCode::ServiceUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVICE_UNAVAILABLE",
                "服务暂时不可用，请稍后重试",
                "Service temporarily unavailable, please retry later",
            ),
            ErrorCode::InternalError => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_ERROR",
                "服务器内部错误",
                "Internal server error",
            ),
        }
    }

    pub const fn status(self) -> StatusCode {
        self.row().0
    }

    pub const fn as_str(self) -> &'static str {
        self.row().1
    }

    pub const fn message(self, lang: Lang) -> &'static str {
        match lang {
            Lang::Zh => self.row().2,
            Lang::En => self.row().3,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Names the offending query or path parameters.
    #[error("invalid parameters: {fields:?}")]
    InvalidParams { fields: Vec<String> },
    /// Why the token was refused is logged, never told.
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// The role does not pass the route's access (names the scope it lacks).
    #[error("forbidden: needs {}", access.as_str())]
    Forbidden { access: Access },
    /// What was not found (`operator`, `app`, `stream`, `invoice`, `refund`, `route`).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The body is over [`crate::body_limit::BODY_LIMIT`].
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("read failed")]
    Store(#[from] StoreError),
    /// One verify runs at a time per instance.
    #[error("a verify is already running")]
    VerifyInProgress,
    /// `X-Ledger-Min-Position` is not a decimal transaction id.
    #[error("malformed X-Ledger-Min-Position")]
    InvalidPosition,
    /// The projection did not apply the requested position within the wait.
    #[error("position {position} not reached within {waited_ms} ms")]
    PositionNotReached { position: u64, waited_ms: u64 },
    /// A dependency other than the read pool is down (logged with its cause).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A failure the caller cannot fix (logged with its cause).
    #[error("internal: {0}")]
    Internal(String),
    /// A route served without an entry in `ENDPOINTS`: a bug, never the caller's fault.
    #[error("route not declared")]
    RouteNotDeclared,
}

impl ApiError {
    pub fn invalid(fields: &[&str]) -> ApiError {
        ApiError::InvalidParams {
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::InvalidParams { .. } => ErrorCode::InvalidParams,
            ApiError::Unauthorized(_) => ErrorCode::Unauthorized,
            ApiError::Forbidden { .. } => ErrorCode::Forbidden,
            ApiError::NotFound(_) => ErrorCode::NotFound,
            ApiError::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            ApiError::VerifyInProgress => ErrorCode::VerifyInProgress,
            ApiError::InvalidPosition => ErrorCode::InvalidPosition,
            ApiError::PositionNotReached { .. } => ErrorCode::PositionNotReached,
            ApiError::Store(e) if e.is_unavailable() => ErrorCode::ServiceUnavailable,
            ApiError::Unavailable(_) => ErrorCode::ServiceUnavailable,
            ApiError::Store(_) | ApiError::RouteNotDeclared | ApiError::Internal(_) => {
                ErrorCode::InternalError
            }
        }
    }

    fn details(&self) -> Value {
        match self {
            ApiError::InvalidParams { fields } => json!({ "fields": fields }),
            ApiError::Forbidden { access } => json!({ "missing_scope": access.as_str() }),
            ApiError::NotFound(resource) => json!({ "resource": resource }),
            ApiError::PayloadTooLarge => {
                json!({ "max_bytes": crate::body_limit::BODY_LIMIT })
            }
            ApiError::InvalidPosition => json!({ "header": "X-Ledger-Min-Position" }),
            // The token as a string, like the header (an xid8 may exceed 2^53).
            ApiError::PositionNotReached {
                position,
                waited_ms,
            } => json!({ "position": position.to_string(), "waited_ms": waited_ms }),
            ApiError::Unauthorized(_)
            | ApiError::Store(_)
            | ApiError::RouteNotDeclared
            | ApiError::VerifyInProgress
            | ApiError::Unavailable(_)
            | ApiError::Internal(_) => json!({}),
        }
    }
}

/// `error` and its sources, outermost first.
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

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code().status()
    }

    fn error_response(&self) -> HttpResponse {
        let context = context::current();
        let code = self.code();
        if code.status().is_server_error() {
            tracing::error!(request_id = %context.request_id, error = %cause_chain(self), "{}", code.as_str());
        } else if let ApiError::Unauthorized(reason) = self {
            tracing::info!(request_id = %context.request_id, reason, "token refused");
        }
        let mut response = HttpResponse::build(code.status());
        if code == ErrorCode::PositionNotReached {
            // The projector usually applies a commit within milliseconds.
            response.insert_header((actix_web::http::header::RETRY_AFTER, "1"));
        }
        response.json(ErrorBody {
            success: false,
            error_code: code.as_str(),
            message: code.message(context.lang),
            details: self.details(),
            request_id: context.request_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_their_statuses() {
        assert_eq!(
            ApiError::invalid(&["limit"]).status_code(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            ApiError::Unauthorized("x").status_code(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            ApiError::Forbidden {
                access: Access::Scope(ledger_core::access::Scope::EventsRead)
            }
            .status_code(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            ApiError::NotFound("operator").status_code(),
            StatusCode::NOT_FOUND
        );
        let corrupt = ApiError::Store(StoreError::Corrupt("x".into()));
        assert_eq!(corrupt.code().as_str(), "INTERNAL_ERROR");
    }
}
