//! The app catalog.

use actix_web::{HttpRequest, HttpResponse, web};
use ledger_core::ids::AppId;

use crate::AppState;
use crate::auth::Caller;
use crate::envelope;
use crate::errors::ApiError;
use crate::params::{self, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, Query};
use crate::store::AppFilter;

/// Values of `status` (ledger-core `AppStatus`).
pub const APP_STATUSES: &[&str] = &[ACTIVE, "retired"];
const ACTIVE: &str = "active";

fn app_filter(query_string: &str) -> Result<AppFilter, ApiError> {
    let mut q = Query::parse(query_string, &["status", "limit", "cursor"]);
    let filter = AppFilter {
        status: q.one_of("status", APP_STATUSES),
        limit: q.limit(PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX),
        after: q.cursor(),
    };
    q.finish(filter)
}

pub async fn list(
    _caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let filter = app_filter(req.query_string())?;
    Ok(envelope::ok(state.store.apps(&filter).await?))
}

/// The active apps, by name, for an operator choosing what to apply for: the catalog's list
/// price and player range only (a grant may carry other terms, shown by `/operator/apps`).
pub async fn catalog(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    caller.operator_id()?;
    let mut q = Query::parse(req.query_string(), &["limit", "cursor"]);
    let filter = AppFilter {
        status: Some(ACTIVE.to_owned()),
        limit: q.limit(PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX),
        after: q.cursor(),
    };
    let filter = q.finish(filter)?;
    Ok(envelope::ok(state.store.apps(&filter).await?))
}

pub async fn detail(
    _caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let app_id: AppId = params::path("app_id", &path)?;
    let app_id = Query::parse(req.query_string(), &[]).finish(app_id)?;
    let app = state
        .store
        .app(app_id)
        .await?
        .ok_or(ApiError::NotFound("app"))?;
    Ok(envelope::ok(app))
}
