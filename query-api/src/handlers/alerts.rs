//! Finance alerts: payments the gateway vouches for that were not credited, and recharge
//! orders the poller could not settle. Newest first.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::AppState;
use crate::auth::Caller;
use crate::envelope;
use crate::errors::ApiError;
use crate::params::{PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, Query};
use crate::store::AlertFilter;

/// Values of `kind`.
pub const ALERT_KINDS: &[&str] = &["recharge_needs_review", "payment_not_applied"];
const CHANNELS: &[&str] = &["wechat", "alipay"];

pub async fn list(
    _caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let mut q = Query::parse(req.query_string(), &["kind", "channel", "limit", "cursor"]);
    let filter = AlertFilter {
        kind: q.one_of("kind", ALERT_KINDS),
        channel: q.one_of("channel", CHANNELS),
        limit: q.limit(PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX),
        after: q.cursor(),
    };
    let filter = q.finish(filter)?;
    Ok(envelope::ok(state.store.finance_alerts(&filter).await?))
}
