//! Staff accounts, for the super admin.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::AppState;
use crate::auth::Caller;
use crate::envelope;
use crate::errors::ApiError;
use crate::params::Query;

/// Every staff account, oldest first (a handful: no pages).
pub async fn list(
    _caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    Query::parse(req.query_string(), &[]).finish(())?;
    Ok(envelope::ok(state.store.staff_members().await?))
}
