//! HTTP edge of the administrators' operator work: edit an operator (profile, category,
//! low-balance threshold), review app applications, publish announcements.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{self, Path};
use ledger_core::account_rules;
use ledger_core::announcement::{BODY_MAX, TITLE_MAX};
use ledger_core::ids::{AppRequestId, OperatorId};
use ledger_core::operator::{Category, ProfileChange, REASON_MAX};

use super::command::Command;
// Re-exported where it used to live, so handlers written against that path keep compiling.
pub(super) use super::command::path_id;
use super::fields::Fields;
use crate::ledger::workflows::OperatorPatch;

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

async fn update_operator(cmd: Command, path: Path<String>) -> HttpResponse {
    cmd.run(StatusCode::OK, async |caller, body, state, ctx| {
        let operator_id: OperatorId = path_id("operator_id", &path)?;
        let mut f = body.fields().await?;
        let profile = profile_change(&mut f);
        let category = category(&mut f);
        let low_balance_threshold = f.opt_money("low_balance_threshold");
        f.finish()?;
        let patch = OperatorPatch {
            profile,
            category,
            low_balance_threshold,
        };
        state
            .ledger
            .update_operator(&caller.staff(), ctx, operator_id, patch)
            .await
    })
    .await
}

async fn approve_application(cmd: Command, path: Path<(String, String)>) -> HttpResponse {
    cmd.run(StatusCode::OK, async |caller, body, state, ctx| {
        let operator_id: OperatorId = path_id("operator_id", &path.0)?;
        let application_id: AppRequestId = path_id("application_id", &path.1)?;
        let mut f = body.fields_or_empty().await?;
        // Absent or null: a permanent grant.
        let expires_at = if f.has("expires_at") {
            f.nullable_time("expires_at")
        } else {
            None
        };
        f.finish()?;
        state
            .ledger
            .approve_application(
                &caller.staff(),
                ctx,
                operator_id,
                application_id,
                expires_at,
            )
            .await
    })
    .await
}

async fn reject_application(cmd: Command, path: Path<(String, String)>) -> HttpResponse {
    cmd.run(StatusCode::OK, async |caller, body, state, ctx| {
        let operator_id: OperatorId = path_id("operator_id", &path.0)?;
        let application_id: AppRequestId = path_id("application_id", &path.1)?;
        let mut f = body.fields().await?;
        let reason = reason(&mut f);
        f.finish()?;
        state
            .ledger
            .reject_application(&caller.staff(), ctx, operator_id, application_id, reason)
            .await
    })
    .await
}

async fn publish_announcement(cmd: Command) -> HttpResponse {
    cmd.run(StatusCode::CREATED, async |caller, body, state, ctx| {
        let mut f = body.fields().await?;
        let (title, body) = (f.text("title", 1, TITLE_MAX), f.text("body", 1, BODY_MAX));
        f.finish()?;
        state
            .ledger
            .publish_announcement(&caller.staff(), ctx, title, body)
            .await
    })
    .await
}
