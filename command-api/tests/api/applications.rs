//! App applications: the operator asks for an app, an administrator approves (the grant is
//! in force at once) or rejects.

use ledger_core::ids::AppId;
use ledger_core::metadata::ActorRole;
use serde_json::{Value, json};
use tests::headset::Reply;

use crate::harness::TestApp;
use crate::members::{Member, assert_staff_recorded, member};

const APPLICATIONS: &str = "/api/v1/operator/app-applications";

async fn apply(app: &TestApp, m: &Member, app_id: AppId) -> Reply {
    m.call(
        app,
        "POST",
        APPLICATIONS,
        json!({"app_id": app_id, "reason": "周末客流大，想上新游戏"}),
    )
    .await
}

fn review_path(m: &Member, application: &Value, action: &str) -> String {
    format!(
        "/api/v1/admin/operators/{}/app-applications/{}/{action}",
        m.arcade.operator,
        application["id"].as_str().unwrap()
    )
}

async fn play(m: &Member, app_id: AppId) -> Reply {
    let headset = &m.arcade.headset;
    headset
        .authorize(&headset.new_session_id(), app_id, m.arcade.site, 2)
        .await
}

#[tokio::test]
async fn an_approved_application_authorizes_at_once_and_a_revoke_stops_it_at_once() {
    let app = TestApp::spawn().await;
    let m = member(&app, "500", "10.00").await;
    let wanted = app.create_app("12.00", 1, 4).await;

    let r = apply(&app, &m, wanted).await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let application = r.data().clone();
    assert_eq!(application["status"], "pending");
    assert_eq!(application["app_id"], wanted.to_string());
    assert_eq!(application["app_name"], "太空探险");
    assert!(application["applied_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(play(&m, wanted).await.error_code(), "APP_NOT_AUTHORIZED");

    let admin = app.staff_token(ActorRole::Admin).await;
    let r = app
        .call(
            Some(&admin),
            "POST",
            &review_path(&m, &application, "approve"),
            json!({"expires_at": null}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.data()["application_id"], application["id"]);
    assert_eq!(r.data()["status"], "approved");
    assert_eq!(r.data()["grant"]["app_id"], wanted.to_string());
    assert_eq!(r.data()["grant"]["expires_at"], Value::Null);
    assert_staff_recorded(
        &app,
        &m.arcade.operator.to_string(),
        "ApplicationApproved",
        &admin,
        ActorRole::Admin,
    )
    .await;

    let game = play(&m, wanted).await;
    assert_eq!(game.status, 200, "{}", game.raw);
    assert_eq!(game.data()["total_cost"], "24.00");

    let r = app
        .call(
            Some(&admin),
            "DELETE",
            &format!(
                "/api/v1/admin/operators/{}/grants/{wanted}",
                m.arcade.operator
            ),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let game = play(&m, wanted).await;
    assert_eq!(game.status, 403, "{}", game.raw);
    assert_eq!(game.error_code(), "APP_NOT_AUTHORIZED");
    app.project_and_verify(m.arcade.operator).await;
}

#[tokio::test]
async fn a_pending_duplicate_a_held_app_and_an_unknown_app_are_refused() {
    let app = TestApp::spawn().await;
    let m = member(&app, "500", "10.00").await;
    let wanted = app.create_app("12.00", 1, 4).await;
    let first = apply(&app, &m, wanted).await.data().clone();

    let r = apply(&app, &m, wanted).await;
    assert_eq!(r.status, 409, "{}", r.raw);
    assert_eq!(r.error_code(), "APPLICATION_PENDING");
    assert_eq!(r.body["details"]["application_id"], first["id"]);

    let r = apply(&app, &m, m.arcade.app).await;
    assert_eq!(r.status, 409, "{}", r.raw);
    assert_eq!(r.error_code(), "APP_ALREADY_GRANTED");

    let r = apply(&app, &m, AppId::new()).await;
    assert_eq!(r.status, 404, "{}", r.raw);
    assert_eq!(r.error_code(), "APP_NOT_FOUND");

    let retired = app.create_app("8.00", 1, 4).await;
    let r = app
        .staff(
            "POST",
            &format!("/api/v1/admin/apps/{retired}/retire"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let r = apply(&app, &m, retired).await;
    assert_eq!(r.status, 403, "{}", r.raw);
    assert_eq!(r.error_code(), "APP_INACTIVE");
}

#[tokio::test]
async fn a_rejection_needs_a_reason_leaves_the_app_unauthorized_and_allows_a_new_application() {
    let app = TestApp::spawn().await;
    let m = member(&app, "500", "10.00").await;
    let wanted = app.create_app("12.00", 1, 4).await;
    let application = apply(&app, &m, wanted).await.data().clone();
    let admin = app.staff_token(ActorRole::Admin).await;
    let path = review_path(&m, &application, "reject");

    let r = app.call(Some(&admin), "POST", &path, json!({})).await;
    assert_eq!(r.status, 400, "{}", r.raw);
    let r = app
        .call(Some(&admin), "POST", &path, json!({"reason": "资质不全"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.data()["status"], "rejected");
    assert_staff_recorded(
        &app,
        &m.arcade.operator.to_string(),
        "ApplicationRejected",
        &admin,
        ActorRole::Admin,
    )
    .await;
    assert_eq!(play(&m, wanted).await.error_code(), "APP_NOT_AUTHORIZED");

    let approve = app
        .call(
            Some(&admin),
            "POST",
            &review_path(&m, &application, "approve"),
            json!({}),
        )
        .await;
    assert_eq!(approve.status, 404, "{}", approve.raw);
    assert_eq!(approve.error_code(), "APPLICATION_NOT_FOUND");
    assert_eq!(apply(&app, &m, wanted).await.status, 201);
}

#[tokio::test]
async fn an_approval_until_a_date_grants_until_then() {
    let app = TestApp::spawn().await;
    let m = member(&app, "500", "10.00").await;
    let wanted = app.create_app("12.00", 1, 4).await;
    let application = apply(&app, &m, wanted).await.data().clone();
    let r = app
        .staff(
            "POST",
            &review_path(&m, &application, "approve"),
            json!({"expires_at": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.data()["grant"]["expires_at"], "2020-01-01T00:00:00.000Z");
    assert_eq!(r.data()["grant"]["expired"], true);
    assert_eq!(play(&m, wanted).await.error_code(), "AUTHORIZATION_EXPIRED");
}
