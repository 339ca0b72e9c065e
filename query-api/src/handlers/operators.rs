//! Operators and what hangs off them, for staff.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use ledger_core::ids::OperatorId;

use crate::AppState;
use crate::auth::Caller;
use crate::envelope;
use crate::errors::ApiError;
use crate::params::{self, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, Query, SEARCH_TEXT_MAX};
use crate::store::OperatorFilter;

/// Values of `status` (ledger-core `AccountStatus`).
pub const OPERATOR_STATUSES: &[&str] = &["active", "locked", "deactivated"];
/// Values of `category` (ledger-core `Category`).
pub const OPERATOR_CATEGORIES: &[&str] = &["vip", "standard", "trial"];

fn operator_filter(query_string: &str) -> Result<OperatorFilter, ApiError> {
    let mut q = Query::parse(
        query_string,
        &[
            "q",
            "status",
            "category",
            "include_deactivated",
            "limit",
            "cursor",
        ],
    );
    let filter = OperatorFilter {
        q: q.text("q", SEARCH_TEXT_MAX),
        status: q.one_of("status", OPERATOR_STATUSES),
        category: q.one_of("category", OPERATOR_CATEGORIES),
        include_deactivated: q.flag("include_deactivated", false),
        limit: q.limit(PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX),
        after: q.cursor(),
    };
    q.finish(filter)
}

/// A path's operator id; no query parameters allowed.
fn operator_only(path: &str, query_string: &str) -> Result<OperatorId, ApiError> {
    let operator_id = params::path("operator_id", path)?;
    Query::parse(query_string, &[]).finish(operator_id)
}

pub async fn list(
    _caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let filter = operator_filter(req.query_string())?;
    Ok(envelope::ok(state.store.operators(&filter).await?))
}

pub async fn detail(
    _caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let operator_id = operator_only(&path, req.query_string())?;
    let operator = state
        .store
        .operator_detail(operator_id, Utc::now())
        .await?
        .ok_or(ApiError::NotFound("operator"))?;
    Ok(envelope::ok(operator))
}

pub async fn sites(
    _caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let operator_id = operator_only(&path, req.query_string())?;
    let sites = state
        .store
        .sites(operator_id, true)
        .await?
        .ok_or(ApiError::NotFound("operator"))?;
    Ok(envelope::ok(sites))
}

pub async fn grants(
    _caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let operator_id = operator_only(&path, req.query_string())?;
    let grants = state
        .store
        .grants(operator_id, Utc::now())
        .await?
        .ok_or(ApiError::NotFound("operator"))?;
    Ok(envelope::ok(grants))
}

pub async fn credentials(
    _caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let operator_id = operator_only(&path, req.query_string())?;
    let credentials = state
        .store
        .credentials(operator_id, Utc::now())
        .await?
        .ok_or(ApiError::NotFound("operator"))?;
    Ok(envelope::ok(credentials))
}

pub async fn headset_servers(
    _caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let operator_id = operator_only(&path, req.query_string())?;
    let servers = state
        .store
        .headset_servers(operator_id)
        .await?
        .ok_or(ApiError::NotFound("operator"))?;
    Ok(envelope::ok(servers))
}

#[cfg(test)]
mod tests {
    use ledger_core::operator::{AccountStatus, Category};

    use super::*;

    #[test]
    fn filter_values_are_the_domain_words() {
        let categories = [Category::Vip, Category::Standard, Category::Trial].map(Category::as_str);
        assert_eq!(OPERATOR_CATEGORIES, categories);
        assert!(OPERATOR_STATUSES.contains(&AccountStatus::Active.as_str()));
    }
}
