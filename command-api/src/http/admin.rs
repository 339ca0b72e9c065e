//! HTTP edge of the staff commands (ADMIN-API.md): decode, call the ledger, encode.

use actix_web::http::StatusCode;
use actix_web::web::{self, Path, Payload};
use actix_web::{HttpRequest, HttpResponse};
use ledger_core::account_rules::{self, PASSWORD_MAX};
use ledger_core::application::{APP_NAME_MAX, MAX_PLAYERS_CEILING};
use ledger_core::ids::{AppId, OperatorId, SiteId};
use ledger_core::operator::{Category, OperatorCommand, REASON_MAX};
use serde_json::json;

use super::body::read_limited;
use super::fields::Fields;
use super::{AppState, respond};
use crate::api_error::{ApiError, ErrorCode};
use crate::context::RequestContext;
use crate::ledger::admin::{AppPatch, NewApp, NewOperator};
use crate::wire::success;

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

/// Parses path segments as ids; a malformed one is `INVALID_PARAMS` naming it.
fn path_id<T: std::str::FromStr>(name: &str, raw: &str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| ApiError::invalid_fields(&[name]))
}

fn players(f: &mut Fields, name: &str) -> Option<u32> {
    f.int_in(name, 1, i64::from(MAX_PLAYERS_CEILING))
        .map(|n| u32::try_from(n).expect("range-checked"))
}

fn opt_players(f: &mut Fields, name: &str) -> Option<u32> {
    if f.has(name) { players(f, name) } else { None }
}

async fn create_app(
    req: HttpRequest,
    payload: Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let staff = state.auth.caller(&req).await?.staff();
        let mut f = Fields::parse(&read_limited(&req, payload).await?, false)?;
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
        Ok(success(
            StatusCode::CREATED,
            &ctx.request_id,
            &state.ledger.create_app(&staff, &ctx, app).await?,
        ))
    }
    .await;
    respond(&ctx, result)
}

async fn update_app(
    req: HttpRequest,
    path: Path<String>,
    payload: Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let staff = state.auth.caller(&req).await?.staff();
        let app_id: AppId = path_id("app_id", &path)?;
        let mut f = Fields::parse(&read_limited(&req, payload).await?, false)?;
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
        let app = state.ledger.update_app(&staff, &ctx, app_id, patch).await?;
        Ok(success(StatusCode::OK, &ctx.request_id, &app))
    }
    .await;
    respond(&ctx, result)
}

async fn retire_app(
    req: HttpRequest,
    path: Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let staff = state.auth.caller(&req).await?.staff();
        let app_id: AppId = path_id("app_id", &path)?;
        Ok(success(
            StatusCode::OK,
            &ctx.request_id,
            &state.ledger.retire_app(&staff, &ctx, app_id).await?,
        ))
    }
    .await;
    respond(&ctx, result)
}

/// Username rule: 3–20 of `[A-Za-z0-9_]`.
fn valid_username(u: &str) -> bool {
    (3..=20).contains(&u.len()) && u.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
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

async fn create_operator(
    req: HttpRequest,
    payload: Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let staff = state.auth.caller(&req).await?.staff();
        let mut f = Fields::parse(&read_limited(&req, payload).await?, false)?;
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
            ("username", username.is_empty() || valid_username(&username)),
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
        let (operator, new, issued) = state.ledger.create_operator(&staff, &ctx, new).await?;
        let data = json!({
            "operator": {
                "id": operator.id, "username": operator.username, "name": operator.name,
                "phone": new.phone, "email": new.email, "category": operator.category,
                "status": operator.status, "balance": operator.balance,
            },
            "credentials": issued,
        });
        Ok(success(StatusCode::CREATED, &ctx.request_id, &data))
    }
    .await;
    respond(&ctx, result)
}

async fn rotate(
    req: HttpRequest,
    path: Path<String>,
    payload: Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let staff = state.auth.caller(&req).await?.staff();
        let operator_id: OperatorId = path_id("operator_id", &path)?;
        let mut f = Fields::parse(&read_limited(&req, payload).await?, true)?;
        let overlap = f.opt_int_in("overlap_seconds", 0, 86_400).unwrap_or(0);
        f.finish()?;
        let issued = state
            .ledger
            .rotate_credentials(&staff, &ctx, operator_id, overlap)
            .await?;
        Ok(success(StatusCode::OK, &ctx.request_id, &issued))
    }
    .await;
    respond(&ctx, result)
}

async fn open_site(
    req: HttpRequest,
    path: Path<String>,
    payload: Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let staff = state.auth.caller(&req).await?.staff();
        let operator_id: OperatorId = path_id("operator_id", &path)?;
        let mut f = Fields::parse(&read_limited(&req, payload).await?, false)?;
        let (name, address) = (f.text("name", 1, 100), f.text("address", 1, 300));
        f.finish()?;
        let site = state
            .ledger
            .open_site(&staff, &ctx, operator_id, name, address)
            .await?;
        Ok(success(StatusCode::CREATED, &ctx.request_id, &site))
    }
    .await;
    respond(&ctx, result)
}

async fn update_site(
    req: HttpRequest,
    path: Path<(String, String)>,
    payload: Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let staff = state.auth.caller(&req).await?.staff();
        let operator_id: OperatorId = path_id("operator_id", &path.0)?;
        let site_id: SiteId = path_id("site_id", &path.1)?;
        let mut f = Fields::parse(&read_limited(&req, payload).await?, false)?;
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
        let site = state
            .ledger
            .update_site(&staff, &ctx, operator_id, site_id, name, address)
            .await?;
        Ok(success(StatusCode::OK, &ctx.request_id, &site))
    }
    .await;
    respond(&ctx, result)
}

async fn close_site(
    req: HttpRequest,
    path: Path<(String, String)>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let staff = state.auth.caller(&req).await?.staff();
        let operator_id: OperatorId = path_id("operator_id", &path.0)?;
        let site_id: SiteId = path_id("site_id", &path.1)?;
        let site = state
            .ledger
            .close_site(&staff, &ctx, operator_id, site_id)
            .await?;
        Ok(success(StatusCode::OK, &ctx.request_id, &site))
    }
    .await;
    respond(&ctx, result)
}

async fn grant(
    req: HttpRequest,
    path: Path<String>,
    payload: Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let staff = state.auth.caller(&req).await?.staff();
        let operator_id: OperatorId = path_id("operator_id", &path)?;
        let mut f = Fields::parse(&read_limited(&req, payload).await?, false)?;
        let app_id = f.id::<AppId>("app_id");
        if !f.has("expires_at") {
            f.mark_bad("expires_at");
        }
        let expires_at = f.nullable_time("expires_at");
        f.finish()?;
        let (view, created) = state
            .ledger
            .grant_app(
                &staff,
                &ctx,
                operator_id,
                app_id.expect("checked"),
                expires_at,
            )
            .await?;
        let status = if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        Ok(success(status, &ctx.request_id, &view))
    }
    .await;
    respond(&ctx, result)
}

async fn revoke(
    req: HttpRequest,
    path: Path<(String, String)>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let staff = state.auth.caller(&req).await?.staff();
        let operator_id: OperatorId = path_id("operator_id", &path.0)?;
        let app_id: AppId = path_id("app_id", &path.1)?;
        state
            .ledger
            .revoke_app(&staff, &ctx, operator_id, app_id)
            .await?;
        Ok(success(
            StatusCode::OK,
            &ctx.request_id,
            &json!({ "operator_id": operator_id, "app_id": app_id, "revoked": true }),
        ))
    }
    .await;
    respond(&ctx, result)
}

async fn account_state(
    req: HttpRequest,
    path: Path<String>,
    payload: Payload,
    state: web::Data<AppState>,
    make: fn(Option<String>, chrono::DateTime<chrono::Utc>) -> Option<OperatorCommand>,
) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let staff = state.auth.caller(&req).await?.staff();
        let operator_id: OperatorId = path_id("operator_id", &path)?;
        let mut f = Fields::parse(&read_limited(&req, payload).await?, true)?;
        let reason = f.opt_text("reason", REASON_MAX);
        let command = make(reason, state.ledger.now());
        if command.is_none() {
            f.mark_bad("reason");
        }
        f.finish()?;
        let command = command.ok_or_else(|| ApiError::new(ErrorCode::InvalidParams))?;
        let view = state
            .ledger
            .set_account_state(&staff, &ctx, operator_id, command)
            .await?;
        Ok(success(StatusCode::OK, &ctx.request_id, &view))
    }
    .await;
    respond(&ctx, result)
}

async fn lock(
    req: HttpRequest,
    path: Path<String>,
    payload: Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    account_state(req, path, payload, state, |reason, now| {
        reason
            .filter(|r| !r.is_empty())
            .map(|reason| OperatorCommand::LockAccount { reason, now })
    })
    .await
}

async fn unlock(
    req: HttpRequest,
    path: Path<String>,
    payload: Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    account_state(req, path, payload, state, |_, now| {
        Some(OperatorCommand::UnlockAccount { now })
    })
    .await
}

async fn deactivate(
    req: HttpRequest,
    path: Path<String>,
    payload: Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    account_state(req, path, payload, state, |_, now| {
        Some(OperatorCommand::DeactivateAccount { now })
    })
    .await
}

async fn credit(
    req: HttpRequest,
    path: Path<String>,
    payload: Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let staff = state.auth.caller(&req).await?.staff();
        let operator_id: OperatorId = path_id("operator_id", &path)?;
        let mut f = Fields::parse(&read_limited(&req, payload).await?, false)?;
        let amount = f.money("amount");
        let reason = f.text("reason", 1, REASON_MAX);
        f.finish()?;
        let view = state
            .ledger
            .credit_balance(&staff, &ctx, operator_id, amount.expect("checked"), reason)
            .await?;
        Ok(success(StatusCode::CREATED, &ctx.request_id, &view))
    }
    .await;
    respond(&ctx, result)
}
