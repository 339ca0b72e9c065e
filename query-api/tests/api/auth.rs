use chrono::Duration;
use ledger_core::metadata::ActorRole;
use ledger_core::staff;
use uuid::Uuid;

use crate::helpers::{SECRET, TestApp, claims, sign, token};

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
    let forged = sign(
        &claims(ActorRole::SuperAdmin, staff::ACCESS, Duration::hours(1)),
        "another-secret-0123456789abcdefghij",
    );
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
    let refresh = sign(
        &claims(ActorRole::SuperAdmin, staff::REFRESH, Duration::hours(1)),
        SECRET,
    );
    app.get_with(OPERATOR_PATH, Some(&refresh), &[])
        .await
        .assert_error(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn an_expired_token_is_unauthorized() {
    let app = TestApp::spawn().await;
    let expired = sign(
        &claims(ActorRole::SuperAdmin, staff::ACCESS, Duration::hours(-1)),
        SECRET,
    );
    app.get_with(OPERATOR_PATH, Some(&expired), &[])
        .await
        .assert_error(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn a_role_without_the_scope_is_forbidden_and_told_which_scope() {
    let app = TestApp::spawn().await;
    let reply = app
        .get_with(OPERATOR_PATH, Some(&token(ActorRole::Operator)), &[])
        .await;
    reply.assert_error(403, "FORBIDDEN");
    assert_eq!(reply.body["details"]["missing_scope"], "operators:read");

    let reply = app
        .get_with(
            "/api/v1/audit/events",
            Some(&token(ActorRole::HeadsetServer)),
            &[],
        )
        .await;
    reply.assert_error(403, "FORBIDDEN");
    assert_eq!(reply.body["details"]["missing_scope"], "audit:read");
}

#[tokio::test]
async fn every_staff_role_may_read() {
    let app = TestApp::spawn().await;
    for role in [ActorRole::SuperAdmin, ActorRole::Admin, ActorRole::Finance] {
        let reply = app.get_with(OPERATOR_PATH, Some(&token(role)), &[]).await;
        assert_eq!(reply.status, 200, "{role:?}: {reply:?}");
    }
}

#[tokio::test]
async fn every_api_endpoint_requires_a_token() {
    let app = TestApp::spawn().await;
    let id = Uuid::now_v7();
    let paths = [
        "/api/v1/admin/operators".to_owned(),
        format!("/api/v1/admin/operators/{id}"),
        format!("/api/v1/admin/operators/{id}/balance"),
        format!("/api/v1/admin/operators/{id}/usage-records"),
        format!("/api/v1/admin/operators/{id}/transactions"),
        format!("/api/v1/admin/operators/{id}/sites"),
        format!("/api/v1/admin/operators/{id}/grants"),
        format!("/api/v1/admin/operators/{id}/credentials"),
        format!("/api/v1/admin/operators/{id}/headset-servers"),
        "/api/v1/admin/apps".to_owned(),
        format!("/api/v1/admin/apps/{id}"),
        format!("/api/v1/audit/streams/Operator/{id}/events"),
        "/api/v1/audit/events".to_owned(),
    ];
    for path in &paths {
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
