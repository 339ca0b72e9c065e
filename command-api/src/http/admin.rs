//! HTTP edge of the staff commands (ADMIN-API.md): decode, call the ledger, encode.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{self, Path};
use ledger_core::account_rules::{self, PASSWORD_MAX};
use ledger_core::application::{APP_NAME_MAX, MAX_PLAYERS_CEILING};
use ledger_core::ids::{AppId, OperatorId, SiteId};
use ledger_core::operator::{Category, OperatorCommand, REASON_MAX};
use serde_json::json;

use super::command::{Command, path_id};
use super::fields::Fields;
use crate::api_error::{ApiError, ErrorCode};
use crate::ledger::admin::{AppPatch, NewApp, NewOperator};

/// Longest description of an app (characters).
const DESCRIPTION_MAX: usize = 2_000;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/admin/apps", web::post().to(create_app))
        .route("/api/v1/admin/apps/{app_id}", web::patch().to(update_app))
        .route(
            "/api/v1/admin/apps/{app_id}/retire",
            web::post().to(retire_app),
        )
        .route("/api/v1/admin/operators", web::post().to(create_operator))
        .route(
            "/api/v1/admin/operators/{operator_id}/credentials/rotate",
            web::post().to(rotate),
        )
        .route(
            "/api/v1/admin/operators/{operator_id}/sites",
            web::post().to(open_site),
        )
        .route(
            "/api/v1/admin/operators/{operator_id}/sites/{site_id}",
            web::patch().to(update_site),
        )
        .route(
            "/api/v1/admin/operators/{operator_id}/sites/{site_id}/close",
            web::post().to(close_site),
        )
        .route(
            "/api/v1/admin/operators/{operator_id}/grants",
            web::post().to(grant),
        )
        .route(
            "/api/v1/admin/operators/{operator_id}/grants/{app_id}",
            web::delete().to(revoke),
        )
        .route(
            "/api/v1/admin/operators/{operator_id}/lock",
            web::post().to(lock),
        )
        .route(
            "/api/v1/admin/operators/{operator_id}/unlock",
            web::post().to(unlock),
        )
        .route(
            "/api/v1/admin/operators/{operator_id}/deactivate",
            web::post().to(deactivate),
        )
        .route(
            "/api/v1/finance/operators/{operator_id}/manual-credits",
            web::post().to(credit),
        );
}

fn players(f: &mut Fields, name: &str) -> Option<u32> {
    f.int_in(name, 1, i64::from(MAX_PLAYERS_CEILING))
        .map(|n| u32::try_from(n).expect("range-checked"))
}

fn opt_players(f: &mut Fields, name: &str) -> Option<u32> {
    if f.has(name) { players(f, name) } else { None }
}

async fn create_app(cmd: Command) -> HttpResponse {
    cmd.run(StatusCode::CREATED, async |caller, body, state, ctx| {
        let mut f = body.fields().await?;
        let name = f.text("name", 1, APP_NAME_MAX);
        let unit_price = f.money("unit_price");
        let min_players = players(&mut f, "min_players");
        let max_players = players(&mut f, "max_players");
        let description = f
            .opt_text("description", DESCRIPTION_MAX)
            .unwrap_or_default();
        f.finish()?;
        let app = NewApp {
            name,
            description,
            unit_price: unit_price.expect("checked"),
            min_players: min_players.expect("checked"),
            max_players: max_players.expect("checked"),
        };
        state.ledger.create_app(&caller.staff(), ctx, app).await
    })
    .await
}

async fn update_app(cmd: Command, path: Path<String>) -> HttpResponse {
    cmd.run(StatusCode::OK, async |caller, body, state, ctx| {
        let app_id: AppId = path_id("app_id", &path)?;
        let mut f = body.fields().await?;
        let patch = AppPatch {
            name: if f.has("name") {
                Some(f.text("name", 1, APP_NAME_MAX))
            } else {
                None
            },
            description: f.opt_text("description", DESCRIPTION_MAX),
            unit_price: f.opt_money("unit_price"),
            min_players: opt_players(&mut f, "min_players"),
            max_players: opt_players(&mut f, "max_players"),
        };
        f.finish()?;
        state
            .ledger
            .update_app(&caller.staff(), ctx, app_id, patch)
            .await
    })
    .await
}

async fn retire_app(cmd: Command, path: Path<String>) -> HttpResponse {
    cmd.run(StatusCode::OK, async |caller, _, state, ctx| {
        let app_id: AppId = path_id("app_id", &path)?;
        state.ledger.retire_app(&caller.staff(), ctx, app_id).await
    })
    .await
}

fn valid_phone(p: &str) -> bool {
    let digits = p.strip_prefix('+').unwrap_or(p);
    (5..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit() || b == b'-')
}

fn valid_email(e: &str) -> bool {
    match e.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !e.contains(' ')
        }
        None => false,
    }
}

async fn create_operator(cmd: Command) -> HttpResponse {
    cmd.run(StatusCode::CREATED, async |caller, body, state, ctx| {
        let mut f = body.fields().await?;
        let username = f.text("username", 3, 20);
        let name = f.text("name", 1, 100);
        let phone = f.text("phone", 5, 21);
        let email = f.text("email", 3, 254);
        let password = f.opt_secret("password", PASSWORD_MAX);
        let category = match f.opt_text("category", 16).as_deref() {
            None => Some(Category::Trial),
            Some("vip") => Some(Category::Vip),
            Some("standard") => Some(Category::Standard),
            Some("trial") => Some(Category::Trial),
            Some(_) => None,
        };
        if category.is_none() {
            f.mark_bad("category");
        }
        for (field, ok) in [
            (
                "username",
                username.is_empty() || account_rules::valid_username(&username),
            ),
            ("phone", phone.is_empty() || valid_phone(&phone)),
            ("email", email.is_empty() || valid_email(&email)),
            (
                "password",
                password
                    .as_deref()
                    .is_none_or(account_rules::valid_password),
            ),
        ] {
            if !ok {
                f.mark_bad(field);
            }
        }
        f.finish()?;
        let new = NewOperator {
            username,
            name,
            phone,
            email,
            category: category.expect("checked"),
            password,
        };
        let (operator, new, issued) = state
            .ledger
            .create_operator(&caller.staff(), ctx, new)
            .await?;
        Ok(json!({
            "operator": {
                "id": operator.id, "username": operator.username, "name": operator.name,
                "phone": new.phone, "email": new.email, "category": operator.category,
                "status": operator.status, "balance": operator.balance,
            },
            "credentials": issued,
        }))
    })
    .await
}

async fn rotate(cmd: Command, path: Path<String>) -> HttpResponse {
    cmd.run(StatusCode::OK, async |caller, body, state, ctx| {
        let operator_id: OperatorId = path_id("operator_id", &path)?;
        let mut f = body.fields_or_empty().await?;
        let overlap = f.opt_int_in("overlap_seconds", 0, 86_400).unwrap_or(0);
        f.finish()?;
        state
            .ledger
            .rotate_credentials(&caller.staff(), ctx, operator_id, overlap)
            .await
    })
    .await
}

async fn open_site(cmd: Command, path: Path<String>) -> HttpResponse {
    cmd.run(StatusCode::CREATED, async |caller, body, state, ctx| {
        let operator_id: OperatorId = path_id("operator_id", &path)?;
        let mut f = body.fields().await?;
        let (name, address) = (f.text("name", 1, 100), f.text("address", 1, 300));
        f.finish()?;
        state
            .ledger
            .open_site(&caller.staff(), ctx, operator_id, name, address)
            .await
    })
    .await
}

async fn update_site(cmd: Command, path: Path<(String, String)>) -> HttpResponse {
    cmd.run(StatusCode::OK, async |caller, body, state, ctx| {
        let operator_id: OperatorId = path_id("operator_id", &path.0)?;
        let site_id: SiteId = path_id("site_id", &path.1)?;
        let mut f = body.fields().await?;
        let name = if f.has("name") {
            Some(f.text("name", 1, 100))
        } else {
            None
        };
        let address = if f.has("address") {
            Some(f.text("address", 1, 300))
        } else {
            None
        };
        f.finish()?;
        state
            .ledger
            .update_site(&caller.staff(), ctx, operator_id, site_id, name, address)
            .await
    })
    .await
}

async fn close_site(cmd: Command, path: Path<(String, String)>) -> HttpResponse {
    cmd.run(StatusCode::OK, async |caller, _, state, ctx| {
        let operator_id: OperatorId = path_id("operator_id", &path.0)?;
        let site_id: SiteId = path_id("site_id", &path.1)?;
        state
            .ledger
            .close_site(&caller.staff(), ctx, operator_id, site_id)
            .await
    })
    .await
}

async fn grant(cmd: Command, path: Path<String>) -> HttpResponse {
    cmd.run_with_status(async |caller, body, state, ctx| {
        let operator_id: OperatorId = path_id("operator_id", &path)?;
        let mut f = body.fields().await?;
        let app_id = f.id::<AppId>("app_id");
        if !f.has("expires_at") {
            f.mark_bad("expires_at");
        }
        let expires_at = f.nullable_time("expires_at");
        f.finish()?;
        let app_id = app_id.expect("checked");
        let (view, created) = state
            .ledger
            .grant_app(&caller.staff(), ctx, operator_id, app_id, expires_at)
            .await?;
        let status = if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        Ok((status, view))
    })
    .await
}

async fn revoke(cmd: Command, path: Path<(String, String)>) -> HttpResponse {
    cmd.run(StatusCode::OK, async |caller, _, state, ctx| {
        let operator_id: OperatorId = path_id("operator_id", &path.0)?;
        let app_id: AppId = path_id("app_id", &path.1)?;
        state
            .ledger
            .revoke_app(&caller.staff(), ctx, operator_id, app_id)
            .await?;
        Ok(json!({ "operator_id": operator_id, "app_id": app_id, "revoked": true }))
    })
    .await
}

async fn account_state(
    cmd: Command,
    path: Path<String>,
    make: fn(Option<String>, chrono::DateTime<chrono::Utc>) -> Option<OperatorCommand>,
) -> HttpResponse {
    cmd.run(StatusCode::OK, async |caller, body, state, ctx| {
        let operator_id: OperatorId = path_id("operator_id", &path)?;
        let mut f = body.fields_or_empty().await?;
        let reason = f.opt_text("reason", REASON_MAX);
        let command = make(reason, state.ledger.now());
        if command.is_none() {
            f.mark_bad("reason");
        }
        f.finish()?;
        let command = command.ok_or_else(|| ApiError::new(ErrorCode::InvalidParams))?;
        state
            .ledger
            .set_account_state(&caller.staff(), ctx, operator_id, command)
            .await
    })
    .await
}

async fn lock(cmd: Command, path: Path<String>) -> HttpResponse {
    account_state(cmd, path, |reason, now| {
        reason
            .filter(|r| !r.is_empty())
            .map(|reason| OperatorCommand::LockAccount { reason, now })
    })
    .await
}

async fn unlock(cmd: Command, path: Path<String>) -> HttpResponse {
    account_state(cmd, path, |_, now| {
        Some(OperatorCommand::UnlockAccount { now })
    })
    .await
}

async fn deactivate(cmd: Command, path: Path<String>) -> HttpResponse {
    account_state(cmd, path, |_, now| {
        Some(OperatorCommand::DeactivateAccount { now })
    })
    .await
}

async fn credit(cmd: Command, path: Path<String>) -> HttpResponse {
    cmd.run(StatusCode::CREATED, async |caller, body, state, ctx| {
        let operator_id: OperatorId = path_id("operator_id", &path)?;
        let mut f = body.fields().await?;
        let amount = f.money("amount");
        let reason = f.text("reason", 1, REASON_MAX);
        f.finish()?;
        let amount = amount.expect("checked");
        state
            .ledger
            .credit_balance(&caller.staff(), ctx, operator_id, amount, reason)
            .await
    })
    .await
}
