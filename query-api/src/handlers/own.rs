//! The operator's own account: profile, sites, apps, usage, money, credentials, headset
//! servers. The operator is always the caller's (from the token), never from the request.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;

use super::ledger::{transaction_export, transaction_filter, usage_export, usage_filter};
use crate::AppState;
use crate::auth::Caller;
use crate::envelope;
use crate::errors::ApiError;
use crate::params::Query;

/// No query parameters allowed.
fn no_params(query_string: &str) -> Result<(), ApiError> {
    Query::parse(query_string, &[]).finish(())
}

pub async fn profile(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let operator_id = caller.operator_id()?;
    no_params(req.query_string())?;
    let profile = state
        .store
        .profile(operator_id)
        .await?
        .ok_or(ApiError::NotFound("operator"))?;
    Ok(envelope::ok(profile))
}

/// Open sites; closed ones too with `include_closed=true`.
pub async fn sites(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let operator_id = caller.operator_id()?;
    let mut q = Query::parse(req.query_string(), &["include_closed"]);
    let include_closed = q.flag("include_closed", false);
    q.finish(())?;
    let sites = state
        .store
        .sites(operator_id, include_closed)
        .await?
        .ok_or(ApiError::NotFound("operator"))?;
    Ok(envelope::ok(sites))
}

/// The apps the operator holds a grant for, with their terms and expiry.
pub async fn apps(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let operator_id = caller.operator_id()?;
    no_params(req.query_string())?;
    Ok(envelope::ok(
        state.store.authorized_apps(operator_id, Utc::now()).await?,
    ))
}

pub async fn usage_records(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let operator_id = caller.operator_id()?;
    let filter = usage_filter(req.query_string())?;
    let page = state
        .store
        .usage_records(operator_id, &filter)
        .await?
        .ok_or(ApiError::NotFound("operator"))?;
    Ok(envelope::ok(page))
}

pub async fn transactions(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let operator_id = caller.operator_id()?;
    let filter = transaction_filter(req.query_string())?;
    let page = state
        .store
        .transactions(operator_id, &filter)
        .await?
        .ok_or(ApiError::NotFound("operator"))?;
    Ok(envelope::ok(page))
}

/// The usage records as a CSV or XLSX download, with the list's filters.
pub async fn usage_records_export(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let operator_id = caller.operator_id()?;
    usage_export(&state, operator_id, req.query_string()).await
}

/// The transactions as a CSV or XLSX download, with the list's filters.
pub async fn transactions_export(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let operator_id = caller.operator_id()?;
    transaction_export(&state, operator_id, req.query_string()).await
}

pub async fn credentials(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let operator_id = caller.operator_id()?;
    no_params(req.query_string())?;
    let credentials = state
        .store
        .credentials(operator_id, Utc::now())
        .await?
        .ok_or(ApiError::NotFound("operator"))?;
    Ok(envelope::ok(credentials))
}

pub async fn headset_servers(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let operator_id = caller.operator_id()?;
    no_params(req.query_string())?;
    let servers = state
        .store
        .headset_servers(operator_id)
        .await?
        .ok_or(ApiError::NotFound("operator"))?;
    Ok(envelope::ok(servers))
}
