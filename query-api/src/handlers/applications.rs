//! Operators' applications for apps: an operator's own, and the admins' review list.

use actix_web::{HttpRequest, HttpResponse, web};

use super::{ListOf, request_list};
use crate::AppState;
use crate::auth::Caller;
use crate::envelope;
use crate::errors::ApiError;
use crate::store::ApplicationFilter;
use crate::views::Page;

/// Values of `status`.
pub const APPLICATION_STATUSES: &[&str] = &["pending", "approved", "rejected"];

pub async fn own(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let operator_id = caller.operator_id()?;
    let list = request_list(req.query_string(), APPLICATION_STATUSES, ListOf::Own)?;
    let filter = ApplicationFilter {
        operator_id: Some(operator_id),
        status: list.status,
        limit: list.limit,
        after: list.after,
    };
    let page = state.store.applications(&filter).await?;
    Ok(envelope::ok(Page {
        items: page
            .items
            .into_iter()
            .map(|item| item.application)
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

pub async fn list(
    _caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let list = request_list(req.query_string(), APPLICATION_STATUSES, ListOf::Any)?;
    let filter = ApplicationFilter {
        operator_id: list.operator_id,
        status: list.status,
        limit: list.limit,
        after: list.after,
    };
    Ok(envelope::ok(state.store.applications(&filter).await?))
}
