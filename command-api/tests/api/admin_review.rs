//! Administrators' operator edits and announcements.

use ledger_core::metadata::ActorRole;
use serde_json::json;

use crate::harness::TestApp;
use crate::members::{assert_staff_recorded, member, metadata_of, token_subject};

#[tokio::test]
async fn a_category_change_brings_its_threshold_unless_one_is_given() {
    let app = TestApp::spawn().await;
    let m = member(&app, "0", "10.00").await;
    let admin = app.staff_token(ActorRole::Admin).await;
    let path = format!("/api/v1/admin/operators/{}", m.arcade.operator);

    let r = app
        .call(Some(&admin), "PATCH", &path, json!({"category": "vip"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.data()["category"], "vip");
    assert_eq!(r.data()["low_balance_threshold"], "1000.00");
    let operator = m.arcade.operator.to_string();
    assert_staff_recorded(&app, &operator, "CategoryChanged", &admin, ActorRole::Admin).await;

    let r = app
        .call(
            Some(&admin),
            "PATCH",
            &path,
            json!({"category": "standard", "low_balance_threshold": "250.00",
                   "name": "星际体验馆旗舰店", "phone": "+86-10-12345678"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.data()["category"], "standard");
    assert_eq!(r.data()["low_balance_threshold"], "250.00");
    assert_eq!(r.data()["name"], "星际体验馆旗舰店");
    assert_eq!(r.data()["phone"], "+86-10-12345678");
    assert_staff_recorded(&app, &operator, "ProfileUpdated", &admin, ActorRole::Admin).await;
    assert_staff_recorded(
        &app,
        &operator,
        "LowBalanceThresholdSet",
        &admin,
        ActorRole::Admin,
    )
    .await;

    let r = app
        .call(
            Some(&admin),
            "PATCH",
            &path,
            json!({"category": "gold", "low_balance_threshold": 5, "username": "x"}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.raw);
    let mut fields: Vec<&str> = r.body["details"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["category", "low_balance_threshold", "username"]);

    let finance = app.staff_token(ActorRole::FinanceManager).await;
    let r = app
        .call(Some(&finance), "PATCH", &path, json!({"category": "vip"}))
        .await;
    assert_eq!(r.status, 403, "{}", r.raw);
    assert_eq!(r.body["details"]["missing_scope"], "operators:write");
}

#[tokio::test]
async fn an_unknown_operator_is_not_found() {
    let app = TestApp::spawn().await;
    let r = app
        .staff(
            "PATCH",
            &format!(
                "/api/v1/admin/operators/{}",
                ledger_core::ids::OperatorId::new()
            ),
            json!({"name": "nobody"}),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.raw);
}

#[tokio::test]
async fn an_announcement_is_published_with_its_author_and_address() {
    let app = TestApp::spawn().await;
    let admin = app.staff_token(ActorRole::Admin).await;
    let r = app
        .call(
            Some(&admin),
            "POST",
            "/api/v1/admin/announcements",
            json!({"title": "春节营业安排", "body": "除夕至初二系统维护，期间暂停充值。"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let d = r.data();
    assert_eq!(d["title"], "春节营业安排");
    assert_eq!(d["body"], "除夕至初二系统维护，期间暂停充值。");
    assert!(d["published_at"].as_str().unwrap().ends_with('Z'));
    let id = d["id"].as_str().unwrap();
    let metadata = metadata_of(&app, id, "AnnouncementPublished").await;
    assert_eq!(metadata["actor_id"], token_subject(&admin));
    assert_eq!(metadata["actor_role"], "admin");
    assert_eq!(metadata["source_ip"], "127.0.0.1");

    let r = app
        .call(
            Some(&admin),
            "POST",
            "/api/v1/admin/announcements",
            json!({"title": "", "body": "x"}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.raw);
    assert_eq!(r.body["details"]["fields"], json!(["title"]));

    let analyst = app.staff_token(ActorRole::Analyst).await;
    let r = app
        .call(
            Some(&analyst),
            "POST",
            "/api/v1/admin/announcements",
            json!({"title": "t", "body": "b"}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.raw);
    assert_eq!(r.body["details"]["missing_scope"], "announcements:write");
}
