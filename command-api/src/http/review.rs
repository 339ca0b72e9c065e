//! HTTP edge of the administrators' operator work: edit an operator (profile, category,
//! low-balance threshold), review app applications, publish announcements.

use actix_web::http::StatusCode;
use actix_web::web::{self, Path, Payload};
use actix_web::{HttpRequest, HttpResponse};
use ledger_core::account_rules;
use ledger_core::announcement::{BODY_MAX, TITLE_MAX};
use ledger_core::ids::{AppRequestId, OperatorId};
use ledger_core::operator::{Category, ProfileChange, REASON_MAX};

use super::body::read_limited;
use super::fields::Fields;
use super::{AppState, respond};
use crate::api_error::ApiError;
use crate::context::RequestContext;
use crate::ledger::workflows::OperatorPatch;
use crate::wire::success;

/// Longest operator name (characters), as the domain checks it.
pub const NAME_MAX: usize = 100;
/// Longest phone and email accepted before the format rules look at them.
const PHONE_MAX: usize = 21;
const EMAIL_MAX: usize = 254;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/api/v1/admin/operators/{operator_id}",
        web::patch().to(update_operator),
    )
    .route(
        "/api/v1/admin/operators/{operator_id}/app-applications/{application_id}/approve",
        web::post().to(approve_application),
    )
    .route(
        "/api/v1/admin/operators/{operator_id}/app-applications/{application_id}/reject",
        web::post().to(reject_application),
    )
    .route(
        "/api/v1/admin/announcements",
        web::post().to(publish_announcement),
    );
}

/// Parses a path segment as an id; a malformed one is `INVALID_PARAMS` naming it.
pub(super) fn path_id<T: std::str::FromStr>(name: &str, raw: &str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| ApiError::invalid_fields(&[name]))
}

/// The optional profile fields of a body, each checked by the account rules.
pub(super) fn profile_change(f: &mut Fields) -> ProfileChange {
    let name = if f.has("name") {
        Some(f.text("name", 1, NAME_MAX))
    } else {
        None
    };
    let phone = f.opt_text("phone", PHONE_MAX);
    if phone
        .as_deref()
        .is_some_and(|p| !account_rules::valid_phone(p))
    {
        f.mark_bad("phone");
    }
    let email = f.opt_text("email", EMAIL_MAX);
    if email
        .as_deref()
        .is_some_and(|e| !account_rules::valid_email(e))
    {
        f.mark_bad("email");
    }
    ProfileChange { name, phone, email }
}

/// A required free-text reason (rejections).
pub(super) fn reason(f: &mut Fields) -> String {
    f.text("reason", 1, REASON_MAX)
}

fn category(f: &mut Fields) -> Option<Category> {
    let category = match f.opt_text("category", 16).as_deref() {
        None => return None,
        Some("vip") => Some(Category::Vip),
        Some("standard") => Some(Category::Standard),
        Some("trial") => Some(Category::Trial),
        Some(_) => None,
    };
    if category.is_none() {
        f.mark_bad("category");
    }
    category
}

async fn update_operator(
    req: HttpRequest,
    path: Path<String>,
    payload: Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let caller = state.auth.caller(&req).await?;
        let operator_id: OperatorId = path_id("operator_id", &path)?;
        let mut f = Fields::parse(&read_limited(&req, payload).await?, false)?;
        let profile = profile_change(&mut f);
        let category = category(&mut f);
        let low_balance_threshold = f.opt_money("low_balance_threshold");
        f.finish()?;
        let patch = OperatorPatch {
            profile,
            category,
            low_balance_threshold,
        };
        let view = state
            .ledger
            .update_operator(&caller.staff(), &ctx, operator_id, patch)
            .await?;
        Ok(success(StatusCode::OK, &ctx.request_id, &view))
    }
    .await;
    respond(&ctx, result)
}

async fn approve_application(
    req: HttpRequest,
    path: Path<(String, String)>,
    payload: Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let caller = state.auth.caller(&req).await?;
        let operator_id: OperatorId = path_id("operator_id", &path.0)?;
        let application_id: AppRequestId = path_id("application_id", &path.1)?;
        let mut f = Fields::parse(&read_limited(&req, payload).await?, true)?;
        // Absent or null: a permanent grant.
        let expires_at = if f.has("expires_at") {
            f.nullable_time("expires_at")
        } else {
            None
        };
        f.finish()?;
        let reviewed = state
            .ledger
            .approve_application(
                &caller.staff(),
                &ctx,
                operator_id,
                application_id,
                expires_at,
            )
            .await?;
        Ok(success(StatusCode::OK, &ctx.request_id, &reviewed))
    }
    .await;
    respond(&ctx, result)
}

async fn reject_application(
    req: HttpRequest,
    path: Path<(String, String)>,
    payload: Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let caller = state.auth.caller(&req).await?;
        let operator_id: OperatorId = path_id("operator_id", &path.0)?;
        let application_id: AppRequestId = path_id("application_id", &path.1)?;
        let mut f = Fields::parse(&read_limited(&req, payload).await?, false)?;
        let reason = reason(&mut f);
        f.finish()?;
        let reviewed = state
            .ledger
            .reject_application(&caller.staff(), &ctx, operator_id, application_id, reason)
            .await?;
        Ok(success(StatusCode::OK, &ctx.request_id, &reviewed))
    }
    .await;
    respond(&ctx, result)
}

async fn publish_announcement(
    req: HttpRequest,
    payload: Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let caller = state.auth.caller(&req).await?;
        let mut f = Fields::parse(&read_limited(&req, payload).await?, false)?;
        let (title, body) = (f.text("title", 1, TITLE_MAX), f.text("body", 1, BODY_MAX));
        f.finish()?;
        let view = state
            .ledger
            .publish_announcement(&caller.staff(), &ctx, title, body)
            .await?;
        Ok(success(StatusCode::CREATED, &ctx.request_id, &view))
    }
    .await;
    respond(&ctx, result)
}
