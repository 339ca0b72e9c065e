use chrono::Duration;
use ledger_core::metadata::ActorRole;
use ledger_core::staff;
use uuid::Uuid;

use crate::helpers::{SECRET, TestApp, claims, insert_operator, sign};

const OPERATOR_PATH: &str = "/api/v1/admin/operators";

#[tokio::test]
async fn a_request_without_a_token_is_unauthorized() {
    let app = TestApp::spawn().await;
    let reply = app.get_with(OPERATOR_PATH, None, &[]).await;
    reply.assert_error(401, "UNAUTHORIZED");
    assert_eq!(reply.body["details"], serde_json::json!({}));
}

#[tokio::test]
async fn a_token_signed_with_another_secret_is_unauthorized() {
    let app = TestApp::spawn().await;
    let mut forged = claims(ActorRole::SuperAdmin, staff::ACCESS, Duration::hours(1));
    forged.sub = app.admin.account_id.to_string();
    forged.sid = app.admin.session_id;
    let forged = sign(&forged, "another-secret-0123456789abcdefghij");
    app.get_with(OPERATOR_PATH, Some(&forged), &[])
        .await
        .assert_error(401, "UNAUTHORIZED");
    app.get_with(OPERATOR_PATH, Some("not.a.jwt"), &[])
        .await
        .assert_error(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn a_refresh_token_is_not_accepted_as_an_access_token() {
    let app = TestApp::spawn().await;
    let mut refresh = claims(ActorRole::SuperAdmin, staff::REFRESH, Duration::hours(1));
    refresh.sub = app.admin.account_id.to_string();
    refresh.sid = app.admin.session_id;
    app.get_with(OPERATOR_PATH, Some(&sign(&refresh, SECRET)), &[])
        .await
        .assert_error(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn an_expired_token_is_unauthorized() {
    let app = TestApp::spawn().await;
    let mut expired = claims(ActorRole::SuperAdmin, staff::ACCESS, Duration::hours(-1));
    expired.sub = app.admin.account_id.to_string();
    expired.sid = app.admin.session_id;
    app.get_with(OPERATOR_PATH, Some(&sign(&expired, SECRET)), &[])
        .await
        .assert_error(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn a_well_signed_token_without_a_session_is_unauthorized() {
    let app = TestApp::spawn().await;
    let token = sign(
        &claims(ActorRole::SuperAdmin, staff::ACCESS, Duration::hours(1)),
        SECRET,
    );
    app.get_with(OPERATOR_PATH, Some(&token), &[])
        .await
        .assert_error(401, "UNAUTHORIZED");
    // Another account's session does not vouch for this subject either.
    let mut stolen = claims(ActorRole::SuperAdmin, staff::ACCESS, Duration::hours(1));
    stolen.sid = app.admin.session_id;
    app.get_with(OPERATOR_PATH, Some(&sign(&stolen, SECRET)), &[])
        .await
        .assert_error(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn a_revoked_session_is_unauthorized_at_once() {
    let app = TestApp::spawn().await;
    let login = app.login(ActorRole::Admin).await;
    assert_eq!(app.get_as(&login, OPERATOR_PATH).await.status, 200);
    app.sql
        .execute(
            "UPDATE auth_sessions SET revoked_at = now(), revoked_reason = 'logout' WHERE id = $1",
            &[&login.session_id],
        )
        .await
        .unwrap();
    app.get_as(&login, OPERATOR_PATH)
        .await
        .assert_error(401, "UNAUTHORIZED");
    // Other sessions are untouched.
    assert_eq!(app.get(OPERATOR_PATH).await.status, 200);
}

#[tokio::test]
async fn an_expired_session_or_a_disabled_account_is_unauthorized() {
    let app = TestApp::spawn().await;
    let expired = app.login(ActorRole::Analyst).await;
    app.sql
        .execute(
            "UPDATE auth_sessions SET expires_at = now() - interval '1 second' WHERE id = $1",
            &[&expired.session_id],
        )
        .await
        .unwrap();
    app.get_as(&expired, OPERATOR_PATH)
        .await
        .assert_error(401, "UNAUTHORIZED");

    let op = insert_operator(&app.sql, "leaving", "active", "0").await;
    let operator = app.login_operator(op).await;
    assert_eq!(
        app.get_as(&operator, "/api/v1/operator/profile")
            .await
            .status,
        200
    );
    app.sql
        .execute(
            "UPDATE accounts SET status = 'disabled' WHERE id = $1",
            &[&op],
        )
        .await
        .unwrap();
    app.get_as(&operator, "/api/v1/operator/profile")
        .await
        .assert_error(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn a_token_whose_role_is_not_the_accounts_is_unauthorized() {
    let app = TestApp::spawn().await;
    let analyst = app.login(ActorRole::Analyst).await;
    // The same account and session, but a token claiming a stronger role.
    let mut claims = claims(ActorRole::SuperAdmin, staff::ACCESS, Duration::hours(1));
    claims.sub = analyst.account_id.to_string();
    claims.sid = analyst.session_id;
    app.get_with("/api/v1/admin/staff", Some(&sign(&claims, SECRET)), &[])
        .await
        .assert_error(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn a_role_without_the_scope_is_forbidden_and_told_which_scope() {
    let app = TestApp::spawn().await;
    let op = insert_operator(&app.sql, "curious", "active", "0").await;
    let operator = app.login_operator(op).await;
    let reply = app.get_as(&operator, OPERATOR_PATH).await;
    reply.assert_error(403, "FORBIDDEN");
    assert_eq!(reply.body["details"]["missing_scope"], "operators:read");

    let analyst = app.login(ActorRole::Analyst).await;
    let reply = app.get_as(&analyst, "/api/v1/finance/audit-log").await;
    reply.assert_error(403, "FORBIDDEN");
    assert_eq!(reply.body["details"]["missing_scope"], "audit_log:read");

    // Staff have no operator account of their own.
    let reply = app.get("/api/v1/operator/profile").await;
    reply.assert_error(403, "FORBIDDEN");
    assert_eq!(reply.body["details"]["missing_scope"], "own:read");
}

#[tokio::test]
async fn every_api_endpoint_requires_a_token() {
    let app = TestApp::spawn().await;
    let id = Uuid::now_v7();
    for endpoint in query_api::endpoints::ENDPOINTS {
        // Other methods: tests/tests/access_matrix.rs calls every route with its own method.
        if !endpoint.path.starts_with("/api/") || endpoint.method != "GET" {
            continue;
        }
        let path = endpoint
            .path
            .replace("{aggregate_type}", "Operator")
            .replace(['{', '}'], "")
            .replace("operator_id", &id.to_string())
            .replace("invoice_id", &id.to_string())
            .replace("refund_id", &id.to_string())
            .replace("app_id", &id.to_string())
            .replace("aggregate_id", &id.to_string());
        // Even with invalid parameters: the token is checked first.
        let reply = app.get_with(&format!("{path}?limit=0"), None, &[]).await;
        assert_eq!(reply.status, 401, "{path}: {reply:?}");
        assert_eq!(reply.body["error_code"], "UNAUTHORIZED", "{path}");
    }
}

#[tokio::test]
async fn the_callers_request_id_is_echoed_and_messages_follow_accept_language() {
    let app = TestApp::spawn().await;
    let reply = app
        .get_with(
            OPERATOR_PATH,
            None,
            &[
                ("X-Request-ID", "trace-abc-123"),
                ("Accept-Language", "en-US,en;q=0.9"),
            ],
        )
        .await;
    reply.assert_error(401, "UNAUTHORIZED");
    assert_eq!(reply.body["request_id"], "trace-abc-123");
    assert_eq!(reply.request_id_header.as_deref(), Some("trace-abc-123"));
    assert_eq!(reply.body["message"], "Missing or invalid access token");

    let reply = app.get_with(OPERATOR_PATH, None, &[]).await;
    let generated = reply.body["request_id"].as_str().unwrap();
    assert!(Uuid::parse_str(generated).is_ok(), "{generated}");
    assert_eq!(reply.request_id_header.as_deref(), Some(generated));
    assert_eq!(reply.body["message"], "未登录或访问令牌无效");
}

#[tokio::test]
async fn an_unknown_route_is_not_found() {
    let app = TestApp::spawn().await;
    app.get("/api/v1/admin/nothing-here")
        .await
        .assert_error(404, "NOT_FOUND");
}
