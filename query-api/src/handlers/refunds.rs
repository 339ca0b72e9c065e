//! Refund requests: an operator's own, and finance's review list with each operator's money.

use actix_web::{HttpRequest, HttpResponse, web};
use ledger_core::ids::RefundId;

use super::{ListOf, request_list};
use crate::AppState;
use crate::auth::Caller;
use crate::envelope;
use crate::errors::ApiError;
use crate::params::{self, Query};
use crate::store::RefundFilter;
use crate::views::Page;

/// Values of `status`.
pub const REFUND_STATUSES: &[&str] = &["pending", "approved", "rejected"];

pub async fn own(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let operator_id = caller.operator_id()?;
    let list = request_list(req.query_string(), REFUND_STATUSES, ListOf::Own)?;
    let filter = RefundFilter {
        operator_id: Some(operator_id),
        status: list.status,
        limit: list.limit,
        after: list.after,
    };
    let page = state.store.refunds(&filter).await?;
    Ok(envelope::ok(Page {
        items: page.items.into_iter().map(|item| item.refund).collect(),
        next_cursor: page.next_cursor,
    }))
}

pub async fn list(
    _caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let list = request_list(req.query_string(), REFUND_STATUSES, ListOf::Any)?;
    let filter = RefundFilter {
        operator_id: list.operator_id,
        status: list.status,
        limit: list.limit,
        after: list.after,
    };
    Ok(envelope::ok(state.store.refunds(&filter).await?))
}

pub async fn detail(
    _caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let refund_id: RefundId = params::path("refund_id", &path)?;
    let refund_id = Query::parse(req.query_string(), &[]).finish(refund_id)?;
    let refund = state
        .store
        .refund(refund_id)
        .await?
        .ok_or(ApiError::NotFound("refund"))?;
    Ok(envelope::ok(refund))
}
