//! Money: one operator's balance, usage records and transactions, and the global monitor.

use actix_web::{HttpRequest, HttpResponse, web};
use ledger_core::ids::OperatorId;

use crate::AppState;
use crate::auth::Caller;
use crate::envelope;
use crate::errors::ApiError;
use crate::params::{self, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, Query};
use crate::store::{GlobalTransactionFilter, TransactionFilter, UsageFilter};

/// Longest transaction `kind` filter.
const KIND_MAX_LEN: usize = 32;

pub(super) fn usage_filter(query_string: &str) -> Result<UsageFilter, ApiError> {
    let mut q = Query::parse(
        query_string,
        &["from", "to", "site_id", "app_id", "limit", "cursor"],
    );
    let filter = UsageFilter {
        from: q.time("from"),
        to: q.time("to"),
        site_id: q.parsed("site_id"),
        app_id: q.parsed("app_id"),
        limit: q.limit(PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX),
        after: q.cursor(),
    };
    q.time_range(filter.from, filter.to);
    q.finish(filter)
}

pub(super) fn transaction_filter(query_string: &str) -> Result<TransactionFilter, ApiError> {
    let mut q = Query::parse(query_string, &["from", "to", "kind", "limit", "cursor"]);
    let filter = TransactionFilter {
        from: q.time("from"),
        to: q.time("to"),
        kind: q.word("kind", KIND_MAX_LEN),
        limit: q.limit(PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX),
        after: q.cursor(),
    };
    q.time_range(filter.from, filter.to);
    q.finish(filter)
}

fn monitor_filter(query_string: &str) -> Result<GlobalTransactionFilter, ApiError> {
    let mut q = Query::parse(
        query_string,
        &["operator_id", "from", "to", "kind", "limit", "cursor"],
    );
    let filter = GlobalTransactionFilter {
        operator_id: q.parsed("operator_id"),
        from: q.time("from"),
        to: q.time("to"),
        kind: q.word("kind", KIND_MAX_LEN),
        limit: q.limit(PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX),
        after: q.cursor(),
    };
    q.time_range(filter.from, filter.to);
    q.finish(filter)
}

pub async fn balance(
    _caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let operator_id: OperatorId = params::path("operator_id", &path)?;
    let operator_id = Query::parse(req.query_string(), &[]).finish(operator_id)?;
    let balance = state
        .store
        .balance(operator_id)
        .await?
        .ok_or(ApiError::NotFound("operator"))?;
    Ok(envelope::ok(balance))
}

pub async fn usage_records(
    _caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let operator_id: OperatorId = params::path("operator_id", &path)?;
    let filter = usage_filter(req.query_string())?;
    let page = state
        .store
        .usage_records(operator_id, &filter)
        .await?
        .ok_or(ApiError::NotFound("operator"))?;
    Ok(envelope::ok(page))
}

pub async fn transactions(
    _caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let operator_id: OperatorId = params::path("operator_id", &path)?;
    let filter = transaction_filter(req.query_string())?;
    let page = state
        .store
        .transactions(operator_id, &filter)
        .await?
        .ok_or(ApiError::NotFound("operator"))?;
    Ok(envelope::ok(page))
}

/// Every operator's money movements, newest first.
pub async fn monitor(
    _caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let filter = monitor_filter(req.query_string())?;
    Ok(envelope::ok(
        state.store.global_transactions(&filter).await?,
    ))
}
