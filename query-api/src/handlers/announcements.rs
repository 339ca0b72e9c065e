//! Announcements as published, for the admins who write them.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::AppState;
use crate::auth::Caller;
use crate::envelope;
use crate::errors::ApiError;
use crate::params::{PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, Query};

/// Newest first.
pub async fn list(
    _caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let mut q = Query::parse(req.query_string(), &["limit", "cursor"]);
    let limit = q.limit(PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX);
    let after = q.cursor();
    q.finish(())?;
    Ok(envelope::ok(state.store.announcements(limit, after).await?))
}
