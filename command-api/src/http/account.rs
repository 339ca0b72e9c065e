//! HTTP edge of accounts: logins, token refresh, logout, password change, operator
//! self-registration (`/api/v1/auth/*`) and staff account management (`/api/v1/admin/staff*`).

use actix_web::http::StatusCode;
use actix_web::web::{self, Path, Payload};
use actix_web::{HttpRequest, HttpResponse};
use ledger_core::account_rules::{self, PASSWORD_MAX};
use ledger_core::ids::StaffId;
use ledger_core::metadata::ActorRole;
use ledger_core::operator::Category;
use ledger_core::staff_account::STAFF_NAME_MAX;
use serde_json::json;

use super::body::read_limited;
use super::command::{Command, path_id};
use super::fields::Fields;
use super::{AppState, respond};
use crate::accounts::AccountKind;
use crate::api_error::{ApiError, ErrorCode};
use crate::context::RequestContext;
use crate::ledger::admin::NewOperator;
use crate::ledger::staff::NewStaff;
use crate::wire::success;

/// Longest username looked up at login (longer ones cannot exist; refused unread).
const LOGIN_USERNAME_MAX: usize = 64;
/// Longest operator name (characters), as staff-created operators.
const OPERATOR_NAME_MAX: usize = 100;
/// Longest refresh token read (ours are far shorter).
const TOKEN_MAX: usize = 4096;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/auth/staff/login", web::post().to(staff_login))
        .route(
            "/api/v1/auth/operator/login",
            web::post().to(operator_login),
        )
        .route("/api/v1/auth/operator/register", web::post().to(register))
        .route("/api/v1/auth/refresh", web::post().to(refresh))
        .route("/api/v1/auth/staff/refresh", web::post().to(refresh))
        .route("/api/v1/auth/logout", web::post().to(logout))
        .route("/api/v1/auth/password", web::post().to(change_password))
        .route("/api/v1/admin/staff", web::post().to(create_staff))
        .route(
            "/api/v1/admin/staff/{staff_id}",
            web::patch().to(change_role),
        )
        .route(
            "/api/v1/admin/staff/{staff_id}/disable",
            web::post().to(disable_staff),
        )
        .route(
            "/api/v1/admin/staff/{staff_id}/enable",
            web::post().to(enable_staff),
        )
        .route(
            "/api/v1/admin/staff/{staff_id}/password",
            web::post().to(reset_password),
        );
}

/// Like [`respond`], with `Retry-After` on a locked login.
fn respond_login(ctx: &RequestContext, result: Result<HttpResponse, ApiError>) -> HttpResponse {
    let retry_after = match &result {
        Err(e) if e.code == ErrorCode::LoginLocked => e.details["retry_after_seconds"].as_i64(),
        _ => None,
    };
    let mut response = respond(ctx, result);
    if let Some(seconds) = retry_after
        && let Ok(value) = actix_web::http::header::HeaderValue::from_str(&seconds.to_string())
    {
        response
            .headers_mut()
            .insert(actix_web::http::header::RETRY_AFTER, value);
    }
    response
}

async fn login(
    req: HttpRequest,
    payload: Payload,
    state: web::Data<AppState>,
    kind: AccountKind,
) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let mut f = Fields::parse(&read_limited(&req, payload).await?, false)?;
        let username = f.text("username", 1, LOGIN_USERNAME_MAX);
        let password = f.secret("password", 1, PASSWORD_MAX);
        f.finish()?;
        let tokens = state
            .auth
            .login(kind, &username, &password, &ctx.source_ip)
            .await?;
        Ok(success(StatusCode::OK, &ctx.request_id, &tokens))
    }
    .await;
    respond_login(&ctx, result)
}

async fn staff_login(
    req: HttpRequest,
    payload: Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    login(req, payload, state, AccountKind::Staff).await
}

async fn operator_login(
    req: HttpRequest,
    payload: Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    login(req, payload, state, AccountKind::Operator).await
}

/// Marks `field` bad unless it is empty (already reported) or passes `rule`.
fn check(f: &mut Fields, field: &str, value: &str, rule: fn(&str) -> bool) {
    if !value.is_empty() && !rule(value) {
        f.mark_bad(field);
    }
}

/// O1: an operator opens its own account (trial, balance 0) and gets its first API key.
async fn register(req: HttpRequest, payload: Payload, state: web::Data<AppState>) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let mut f = Fields::parse(&read_limited(&req, payload).await?, false)?;
        let username = f.text("username", 1, LOGIN_USERNAME_MAX);
        let name = f.text("name", 1, OPERATOR_NAME_MAX);
        let phone = f.text("phone", 1, 21);
        let email = f.text("email", 1, 254);
        let password = f.secret("password", 1, PASSWORD_MAX);
        check(&mut f, "username", &username, account_rules::valid_username);
        check(&mut f, "phone", &phone, account_rules::valid_phone);
        check(&mut f, "email", &email, account_rules::valid_email);
        check(&mut f, "password", &password, account_rules::valid_password);
        f.finish()?;
        let new = NewOperator {
            username,
            name,
            phone,
            email,
            category: Category::Trial,
            password: Some(password),
        };
        let (operator, new, issued) = state.ledger.register_operator(&ctx, new).await?;
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

async fn refresh(req: HttpRequest, payload: Payload, state: web::Data<AppState>) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let mut f = Fields::parse(&read_limited(&req, payload).await?, false)?;
        let token = f.text("refresh_token", 1, TOKEN_MAX);
        f.finish()?;
        let tokens = state.auth.refresh(&token).await?;
        Ok(success(StatusCode::OK, &ctx.request_id, &tokens))
    }
    .await;
    respond(&ctx, result)
}

async fn logout(cmd: Command) -> HttpResponse {
    cmd.run(StatusCode::OK, async |caller, _, state, _| {
        state.auth.logout(&caller).await?;
        Ok(json!({ "logged_out": true }))
    })
    .await
}

/// Anyone's own password; the session that changed it stays, every other one ends.
async fn change_password(cmd: Command) -> HttpResponse {
    cmd.run(StatusCode::OK, async |caller, body, state, ctx| {
        let mut f = body.fields().await?;
        let current = f.secret("current_password", 1, PASSWORD_MAX);
        let new = f.secret("new_password", 1, PASSWORD_MAX);
        check(&mut f, "new_password", &new, account_rules::valid_password);
        f.finish()?;
        state
            .ledger
            .change_own_password(&caller.staff(), caller.session_id, ctx, &current, &new)
            .await?;
        Ok(json!({ "password_changed": true }))
    })
    .await
}

fn staff_role(f: &mut Fields) -> Option<ActorRole> {
    let text = f.text("role", 1, 32);
    let role = ActorRole::parse_staff(&text);
    if role.is_none() && !text.is_empty() {
        f.mark_bad("role");
    }
    role
}

async fn create_staff(cmd: Command) -> HttpResponse {
    cmd.run(StatusCode::CREATED, async |caller, body, state, ctx| {
        let mut f = body.fields().await?;
        let username = f.text("username", 1, LOGIN_USERNAME_MAX);
        let name = f.text("name", 1, STAFF_NAME_MAX);
        let role = staff_role(&mut f);
        let password = f.secret("password", 1, PASSWORD_MAX);
        check(&mut f, "username", &username, account_rules::valid_username);
        check(&mut f, "password", &password, account_rules::valid_password);
        f.finish()?;
        let new = NewStaff {
            username,
            name,
            role: role.expect("checked"),
            password,
        };
        state.ledger.create_staff(&caller.staff(), ctx, new).await
    })
    .await
}

async fn change_role(cmd: Command, path: Path<String>) -> HttpResponse {
    cmd.run(StatusCode::OK, async |caller, body, state, ctx| {
        let staff_id: StaffId = path_id("staff_id", &path)?;
        let mut f = body.fields().await?;
        let role = staff_role(&mut f);
        f.finish()?;
        let role = role.expect("checked");
        state
            .ledger
            .change_staff_role(&caller.staff(), ctx, staff_id, role)
            .await
    })
    .await
}

async fn set_enabled(cmd: Command, path: Path<String>, enabled: bool) -> HttpResponse {
    cmd.run(StatusCode::OK, async |caller, _, state, ctx| {
        let staff_id: StaffId = path_id("staff_id", &path)?;
        state
            .ledger
            .set_staff_enabled(&caller.staff(), ctx, staff_id, enabled)
            .await
    })
    .await
}

async fn disable_staff(cmd: Command, path: Path<String>) -> HttpResponse {
    set_enabled(cmd, path, false).await
}

async fn enable_staff(cmd: Command, path: Path<String>) -> HttpResponse {
    set_enabled(cmd, path, true).await
}

async fn reset_password(cmd: Command, path: Path<String>) -> HttpResponse {
    cmd.run(StatusCode::OK, async |caller, body, state, ctx| {
        let staff_id: StaffId = path_id("staff_id", &path)?;
        let mut f = body.fields().await?;
        let password = f.secret("password", 1, PASSWORD_MAX);
        check(&mut f, "password", &password, account_rules::valid_password);
        f.finish()?;
        state
            .ledger
            .reset_staff_password(&caller.staff(), ctx, staff_id, &password)
            .await
    })
    .await
}
