//! Online recharge orders: an operator's own (list and one order), and finance's list across
//! operators. An operator asking for another operator's order gets the same 404 as for one
//! that does not exist.

use actix_web::{HttpRequest, HttpResponse, web};
use ledger_core::ids::RechargeOrderId;

use crate::AppState;
use crate::auth::Caller;
use crate::envelope;
use crate::errors::ApiError;
use crate::params::{self, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, Query};
use crate::store::RechargeFilter;
use crate::views::Page;

/// Values of `status`.
pub const RECHARGE_STATUSES: &[&str] =
    &["pending", "succeeded", "failed", "closed", "needs_review"];
/// Values of `channel`.
pub const RECHARGE_CHANNELS: &[&str] = &["wechat", "alipay"];

/// Decodes a list's query; `operator_id` only in finance's list.
fn recharge_filter(query_string: &str, staff: bool) -> Result<RechargeFilter, ApiError> {
    let allowed: &[&str] = if staff {
        &[
            "status",
            "channel",
            "operator_id",
            "from",
            "to",
            "limit",
            "cursor",
        ]
    } else {
        &["status", "channel", "from", "to", "limit", "cursor"]
    };
    let mut q = Query::parse(query_string, allowed);
    let filter = RechargeFilter {
        operator_id: q.parsed("operator_id"),
        status: q.one_of("status", RECHARGE_STATUSES),
        channel: q.one_of("channel", RECHARGE_CHANNELS),
        from: q.time("from"),
        to: q.time("to"),
        limit: q.limit(PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX),
        after: q.cursor(),
    };
    q.time_range(filter.from, filter.to);
    q.finish(filter)
}

pub async fn own_list(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let operator_id = caller.operator_id()?;
    let filter = RechargeFilter {
        operator_id: Some(operator_id),
        ..recharge_filter(req.query_string(), false)?
    };
    let page = state.store.recharges(&filter).await?;
    Ok(envelope::ok(Page {
        items: page.items.into_iter().map(|item| item.order).collect(),
        next_cursor: page.next_cursor,
    }))
}

pub async fn own_detail(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let operator_id = caller.operator_id()?;
    let order_id: RechargeOrderId = params::path("order_id", &path)?;
    let order_id = Query::parse(req.query_string(), &[]).finish(order_id)?;
    let order = state
        .store
        .recharge(order_id, Some(operator_id))
        .await?
        .ok_or(ApiError::NotFound("recharge_order"))?;
    Ok(envelope::ok(order.order))
}

pub async fn list(
    _caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let filter = recharge_filter(req.query_string(), true)?;
    Ok(envelope::ok(state.store.recharges(&filter).await?))
}
