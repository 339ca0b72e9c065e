//! The one table of error codes: HTTP status, stable `error_code`, and messages in zh-CN and
//! English. Clients branch on the code, never on the message.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde_json::{Value, json};

use crate::context::{Lang, RequestContext};
use crate::store::StoreError;

macro_rules! error_codes {
    ($($variant:ident = ($status:literal, $code:literal, $zh:literal, $en:literal),)*) => {
        /// Every error the command API answers with.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode { $($variant,)* }

        impl ErrorCode {
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)* }
            }
            pub fn status(self) -> StatusCode {
                match self {
                    $(ErrorCode::$variant => StatusCode::from_u16($status).expect("valid status"),)*
                }
            }
            pub fn message(self, lang: Lang) -> &'static str {
                match (self, lang) {
                    $((ErrorCode::$variant, Lang::Zh) => $zh, (ErrorCode::$variant, Lang::En) => $en,)*
                }
            }
        }
    };
}

error_codes! {
    InvalidParams = (400, "INVALID_PARAMS", "请求参数无效", "Invalid request parameters"),
    InvalidApiKey = (401, "INVALID_API_KEY", "API 密钥无效", "Invalid API key"),
    InvalidSignature = (401, "INVALID_SIGNATURE", "请求签名无效", "Invalid request signature"),
    TimestampExpired = (401, "TIMESTAMP_EXPIRED", "请求时间戳已过期", "Request timestamp is outside the accepted window"),
    AccountDeactivated = (403, "ACCOUNT_DEACTIVATED", "账户已注销", "Account is deactivated"),
    AccountLocked = (403, "ACCOUNT_LOCKED", "账户已被锁定", "Account is locked"),
    InvalidSessionIdFormat = (400, "INVALID_SESSION_ID_FORMAT", "会话 ID 格式无效", "Invalid session id format"),
    SessionIdOperatorMismatch = (400, "SESSION_ID_OPERATOR_MISMATCH", "会话 ID 与运营商不匹配", "Session id names another operator"),
    SessionIdExpired = (400, "SESSION_ID_EXPIRED", "会话 ID 已过期", "Session id timestamp is outside the accepted window"),
    SiteNotFound = (404, "SITE_NOT_FOUND", "场地不存在", "Site not found"),
    SiteInactive = (403, "SITE_INACTIVE", "场地已停用", "Site is closed"),
    AppNotFound = (404, "APP_NOT_FOUND", "应用不存在", "App not found"),
    AppInactive = (403, "APP_INACTIVE", "应用已下架", "App is retired"),
    AppNotAuthorized = (403, "APP_NOT_AUTHORIZED", "未获得该应用的授权", "App is not authorized for this operator"),
    AuthorizationExpired = (403, "AUTHORIZATION_EXPIRED", "应用授权已过期", "App authorization has expired"),
    PlayerCountOutOfRange = (400, "PLAYER_COUNT_OUT_OF_RANGE", "玩家人数超出范围", "Player count is out of the app's range"),
    InsufficientBalance = (402, "INSUFFICIENT_BALANCE", "余额不足", "Insufficient balance"),
    SessionIdConflict = (409, "SESSION_ID_CONFLICT", "会话 ID 已用于其他请求", "Session id was already used for a different request"),
    SessionNotFound = (404, "SESSION_NOT_FOUND", "会话不存在", "Session not found"),
    PayloadTooLarge = (413, "PAYLOAD_TOO_LARGE", "请求体过大", "Request body is too large"),
    RateLimitExceeded = (429, "RATE_LIMIT_EXCEEDED", "请求过于频繁", "Rate limit exceeded"),
    ServiceUnavailable = (503, "SERVICE_UNAVAILABLE", "服务暂时不可用，请稍后重试（未产生扣费）", "Service temporarily unavailable; nothing was charged"),
    Unauthorized = (401, "UNAUTHORIZED", "未登录或登录已失效", "Authentication required"),
    Forbidden = (403, "FORBIDDEN", "无权执行此操作", "Permission denied"),
    NotFound = (404, "NOT_FOUND", "资源不存在", "Not found"),
    Conflict = (409, "CONFLICT", "操作与当前状态冲突", "Conflicts with the current state"),
    InternalError = (500, "INTERNAL_ERROR", "服务器内部错误", "Internal server error"),
    InvalidCredentials = (401, "INVALID_CREDENTIALS", "用户名或密码错误", "Invalid username or password"),
    LoginLocked = (429, "LOGIN_LOCKED", "登录失败次数过多，请稍后再试", "Too many failed logins; try again later"),
    UsernameTaken = (409, "USERNAME_TAKEN", "用户名已被占用", "Username is already taken"),
    AppAlreadyGranted = (409, "APP_ALREADY_GRANTED", "已拥有该应用的授权", "The app is already granted"),
    ApplicationPending = (409, "APPLICATION_PENDING", "该应用的申请正在审核中", "An application for this app is already pending"),
    ApplicationNotFound = (404, "APPLICATION_NOT_FOUND", "没有待审核的该申请", "No pending application with this id"),
    RefundAlreadyOpen = (409, "REFUND_ALREADY_OPEN", "已有一笔退款申请在审核中", "A refund request is already open"),
    RefundNotFound = (404, "REFUND_NOT_FOUND", "没有待审核的该退款申请", "No open refund request with this id"),
    NothingToRefund = (409, "NOTHING_TO_REFUND", "余额为零，无可退款金额", "The balance is zero: nothing to refund"),
    InvoiceAmountExceeded = (409, "INVOICE_AMOUNT_EXCEEDED", "开票金额超过可开票金额", "Amount exceeds the invoiceable amount"),
    RechargeOrderNotOpen = (409, "RECHARGE_ORDER_NOT_OPEN", "充值订单已结束或不存在", "The recharge order is not open"),
    RechargeAmountMismatch = (409, "RECHARGE_AMOUNT_MISMATCH", "支付金额与订单金额不符", "The paid amount differs from the order"),
    PaymentChannelUnavailable = (503, "PAYMENT_CHANNEL_UNAVAILABLE", "该支付渠道暂不可用", "This payment channel is not available"),
    PaymentGatewayUnavailable = (503, "PAYMENT_GATEWAY_UNAVAILABLE", "支付网关暂时无法下单，订单已记录，请稍后重试", "The payment gateway could not open the order; it is recorded as pending, try again later"),
    InvoiceNotFound = (404, "INVOICE_NOT_FOUND", "没有待审核的该发票申请", "No pending invoice request with this id"),
}

/// An error answer: a code and its details (`{}` when there is nothing to add).
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub details: Value,
}

impl ApiError {
    pub fn new(code: ErrorCode) -> Self {
        ApiError {
            code,
            details: json!({}),
        }
    }

    pub fn with(code: ErrorCode, details: Value) -> Self {
        ApiError { code, details }
    }

    /// `INVALID_PARAMS` naming the offending fields.
    pub fn invalid_fields<S: AsRef<str>>(fields: &[S]) -> Self {
        let names: Vec<&str> = fields.iter().map(AsRef::as_ref).collect();
        ApiError::with(ErrorCode::InvalidParams, json!({ "fields": names }))
    }

    pub fn response(&self, ctx: &RequestContext) -> HttpResponse {
        let body = json!({
            "success": false,
            "error_code": self.code.as_str(),
            "message": self.code.message(ctx.lang),
            "details": self.details,
            "request_id": ctx.request_id,
        });
        let mut response = HttpResponse::build(self.code.status());
        response.insert_header(("X-Request-ID", ctx.request_id.as_str()));
        // A 429 (a rate limit or a blocked IP) says when to come back, in whole seconds (its
        // details carry the same number).
        if self.code == ErrorCode::RateLimitExceeded
            && let Some(retry_after) = self.details["retry_after"].as_u64()
        {
            response.insert_header(("Retry-After", retry_after.to_string()));
        }
        response.json(body)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(cause) => {
                tracing::warn!(%cause, "database unavailable");
                ApiError::new(ErrorCode::ServiceUnavailable)
            }
            // Reached only where no lookup could settle the outcome (the database stayed
            // away): the client's replay of the same request tells what happened.
            StoreError::Interrupted(cause) => {
                tracing::error!(%cause, "write interrupted, outcome unknown");
                ApiError::new(ErrorCode::ServiceUnavailable)
            }
            other => {
                // 5xx bodies are opaque; the cause goes to the log only.
                tracing::error!(error = %other, "store error");
                ApiError::new(ErrorCode::InternalError)
            }
        }
    }
}

impl From<ledger_core::operator::OperatorError> for ApiError {
    fn from(error: ledger_core::operator::OperatorError) -> Self {
        use ErrorCode as C;
        use ledger_core::operator::OperatorError as E;
        match error {
            E::AccountLocked { locked_at, reason } => ApiError::with(
                C::AccountLocked,
                json!({ "locked_at": crate::wire::time(locked_at), "reason": reason }),
            ),
            E::AccountDeactivated => ApiError::new(C::AccountDeactivated),
            E::SiteNotFound => ApiError::new(C::SiteNotFound),
            E::SiteInactive => ApiError::new(C::SiteInactive),
            E::AppInactive => ApiError::new(C::AppInactive),
            E::AppNotAuthorized { app_id, app_name } => ApiError::with(
                C::AppNotAuthorized,
                json!({ "app_id": app_id, "app_name": app_name }),
            ),
            E::AuthorizationExpired {
                app_name,
                expired_at,
            } => ApiError::with(
                C::AuthorizationExpired,
                json!({ "app_name": app_name, "expired_at": crate::wire::time(expired_at) }),
            ),
            E::PlayerCountOutOfRange {
                min_players,
                max_players,
                requested_players,
            } => ApiError::with(
                C::PlayerCountOutOfRange,
                json!({ "min_players": min_players, "max_players": max_players,
                        "requested_players": requested_players }),
            ),
            E::InsufficientBalance {
                current_balance,
                required_amount,
                shortage,
            } => ApiError::with(
                C::InsufficientBalance,
                json!({ "current_balance": current_balance, "required_amount": required_amount,
                        "shortage": shortage }),
            ),
            E::NotFound | E::GrantNotFound => ApiError::new(C::NotFound),
            E::AlreadyRegistered | E::NotLocked => {
                ApiError::with(C::Conflict, json!({ "reason": error.to_string() }))
            }
            E::InvalidField { field, reason } => ApiError::with(
                C::InvalidParams,
                json!({ "fields": [field], "reason": reason }),
            ),
            E::Amount(e) => ApiError::with(
                C::InvalidParams,
                json!({ "fields": ["amount"], "reason": e.to_string() }),
            ),
            E::AppAlreadyGranted => ApiError::new(C::AppAlreadyGranted),
            E::ApplicationPending { request_id } => ApiError::with(
                C::ApplicationPending,
                json!({ "application_id": request_id }),
            ),
            E::ApplicationNotFound => ApiError::new(C::ApplicationNotFound),
            E::RefundAlreadyOpen { refund_id } => {
                ApiError::with(C::RefundAlreadyOpen, json!({ "refund_id": refund_id }))
            }
            E::RefundNotFound => ApiError::new(C::RefundNotFound),
            E::NothingToRefund => ApiError::new(C::NothingToRefund),
            E::InvoiceAmountExceeded {
                invoiceable,
                requested,
            } => ApiError::with(
                C::InvoiceAmountExceeded,
                json!({ "invoiceable_amount": invoiceable, "requested_amount": requested }),
            ),
            E::InvoiceNotFound => ApiError::new(C::InvoiceNotFound),
            E::RechargeOrderNotOpen => ApiError::new(C::RechargeOrderNotOpen),
            E::RechargeAmountMismatch { expected, paid } => ApiError::with(
                C::RechargeAmountMismatch,
                json!({ "order_amount": expected, "paid_amount": paid }),
            ),
            E::ReminderNotDue => {
                ApiError::with(C::Conflict, json!({ "reason": error.to_string() }))
            }
        }
    }
}

impl From<ledger_core::staff_account::StaffError> for ApiError {
    fn from(error: ledger_core::staff_account::StaffError) -> Self {
        use ledger_core::staff_account::StaffError as E;
        match error {
            E::NotFound => ApiError::new(ErrorCode::NotFound),
            E::AlreadyExists | E::Disabled => {
                ApiError::with(ErrorCode::Conflict, json!({ "reason": error.to_string() }))
            }
            E::InvalidField { field, reason } => ApiError::with(
                ErrorCode::InvalidParams,
                json!({ "fields": [field], "reason": reason }),
            ),
        }
    }
}

impl From<ledger_core::announcement::AnnouncementError> for ApiError {
    fn from(error: ledger_core::announcement::AnnouncementError) -> Self {
        use ledger_core::announcement::AnnouncementError as E;
        match error {
            E::AlreadyPublished => {
                ApiError::with(ErrorCode::Conflict, json!({ "reason": error.to_string() }))
            }
            E::InvalidField { field, reason } => ApiError::with(
                ErrorCode::InvalidParams,
                json!({ "fields": [field], "reason": reason }),
            ),
        }
    }
}

impl From<ledger_core::reconciliation::ReconciliationError> for ApiError {
    fn from(error: ledger_core::reconciliation::ReconciliationError) -> Self {
        // Both are defects of the comparison, never of the caller's request.
        ApiError::from(StoreError::Corrupt(error.to_string()))
    }
}

impl From<ledger_core::application::AppError> for ApiError {
    fn from(error: ledger_core::application::AppError) -> Self {
        use ledger_core::application::AppError as E;
        match error {
            E::NotFound => ApiError::new(ErrorCode::NotFound),
            E::AlreadyExists | E::Retired => {
                ApiError::with(ErrorCode::Conflict, json!({ "reason": error.to_string() }))
            }
            E::InvalidField { field, reason } => ApiError::with(
                ErrorCode::InvalidParams,
                json!({ "fields": [field], "reason": reason }),
            ),
        }
    }
}

impl From<ledger_core::headset_server::HeadsetServerError> for ApiError {
    fn from(error: ledger_core::headset_server::HeadsetServerError) -> Self {
        let ledger_core::headset_server::HeadsetServerError::InvalidField { field } = error;
        ApiError::invalid_fields(&[field])
    }
}
