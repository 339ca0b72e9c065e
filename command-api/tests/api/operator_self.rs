//! The operator's own account: profile, sites, credentials, messages, deactivation. The
//! operator is always the caller; nothing in a request can point at another one.

use ledger_core::ids::SiteId;
use ledger_core::metadata::ActorRole;
use serde_json::json;

use crate::harness::TestApp;
use crate::members::{assert_staff_recorded, count_events, member, metadata_of};

#[tokio::test]
async fn another_operators_site_is_site_not_found_and_nothing_is_recorded() {
    let app = TestApp::spawn().await;
    let me = member(&app, "100", "10.00").await;
    let other = member(&app, "100", "10.00").await;
    let theirs = other.arcade.site;
    let before = app.events_of(other.arcade.operator).await.len();
    let mine_before = app.events_of(me.arcade.operator).await.len();

    let path = format!("/api/v1/operator/sites/{theirs}");
    for (method, body) in [
        ("DELETE", json!({})),
        ("PATCH", json!({"name": "被我接管"})),
    ] {
        let r = me.call(&app, method, &path, body).await;
        assert_eq!(r.status, 404, "{method}: {}", r.raw);
        assert_eq!(r.error_code(), "SITE_NOT_FOUND");
    }
    // Naming the other operator in the body is not a way around it.
    let r = me
        .call(
            &app,
            "POST",
            "/api/v1/operator/sites",
            json!({"name": "x", "address": "y", "operator_id": other.arcade.operator}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.raw);
    assert_eq!(r.body["details"]["fields"], json!(["operator_id"]));

    assert_eq!(app.events_of(other.arcade.operator).await.len(), before);
    assert_eq!(app.events_of(me.arcade.operator).await.len(), mine_before);
    let game = other.play(2).await;
    assert_eq!(game.status, 200, "their site still works: {}", game.raw);
}

#[tokio::test]
async fn an_operator_opens_edits_and_closes_its_own_sites() {
    let app = TestApp::spawn().await;
    let m = member(&app, "100", "10.00").await;
    let r = m
        .call(
            &app,
            "POST",
            "/api/v1/operator/sites",
            json!({"name": "上海徐汇店", "address": "上海市徐汇区"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    assert_eq!(r.data()["status"], "open");
    assert_eq!(r.data()["operator_id"], m.arcade.operator.to_string());
    let site: SiteId = r.data()["id"].as_str().unwrap().parse().unwrap();
    let operator = m.arcade.operator.to_string();
    let opened = metadata_of(&app, &operator, "SiteOpened").await;
    assert_eq!(opened["actor_id"], operator);
    assert_eq!(opened["actor_role"], "operator");

    let path = format!("/api/v1/operator/sites/{site}");
    let r = m
        .call(
            &app,
            "PATCH",
            &path,
            json!({"address": "上海市徐汇区漕溪北路"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.data()["name"], "上海徐汇店");
    assert_eq!(r.data()["address"], "上海市徐汇区漕溪北路");

    let r = m.call(&app, "DELETE", &path, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.data()["status"], "closed");
    let headset = &m.arcade.headset;
    let game = headset
        .authorize(&headset.new_session_id(), m.arcade.app, site, 2)
        .await;
    assert_eq!(game.error_code(), "SITE_INACTIVE");

    let r = m
        .call(&app, "PATCH", "/api/v1/operator/sites/not-an-id", json!({}))
        .await;
    assert_eq!(r.status, 400, "{}", r.raw);
    assert_eq!(r.body["details"]["fields"], json!(["site_id"]));
}

#[tokio::test]
async fn an_operator_edits_its_profile_with_every_bad_field_named() {
    let app = TestApp::spawn().await;
    let m = member(&app, "0", "10.00").await;
    let r = m
        .call(
            &app,
            "PATCH",
            "/api/v1/operator/profile",
            json!({"name": "星际体验馆（新）", "email": "new@example.com"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.data()["name"], "星际体验馆（新）");
    assert_eq!(r.data()["email"], "new@example.com");
    assert_eq!(r.data()["phone"], "13800000000");
    assert_eq!(r.data()["id"], m.arcade.operator.to_string());
    assert_eq!(
        count_events(&app, &m.arcade.operator.to_string(), "ProfileUpdated").await,
        1
    );

    let r = m
        .call(
            &app,
            "PATCH",
            "/api/v1/operator/profile",
            json!({"phone": "call me", "email": "nope", "category": "vip"}),
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
    assert_eq!(fields, ["category", "email", "phone"]);
}

#[tokio::test]
async fn staff_cannot_use_the_operator_routes() {
    let app = TestApp::spawn().await;
    let admin = app.staff_token(ActorRole::Admin).await;
    for token in [admin.as_str(), app.token.as_str()] {
        let r = app
            .call(
                Some(token),
                "POST",
                "/api/v1/operator/refunds",
                json!({"reason": "x"}),
            )
            .await;
        assert_eq!(r.status, 403, "{}", r.raw);
        assert_eq!(r.error_code(), "FORBIDDEN");
    }
    let r = app
        .call(
            None,
            "POST",
            "/api/v1/operator/refunds",
            json!({"reason": "x"}),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.raw);
}

#[tokio::test]
async fn an_operators_own_rotation_ends_the_old_key_at_once() {
    let app = TestApp::spawn().await;
    let m = member(&app, "100", "10.00").await;
    let r = m
        .call(
            &app,
            "POST",
            "/api/v1/operator/credentials/rotate",
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let old = m.play(1).await;
    assert_eq!(old.status, 401, "{}", old.raw);
    assert_eq!(old.error_code(), "INVALID_API_KEY");
    let new = app.headset(
        m.arcade.operator,
        r.data()["key_id"].as_str().unwrap(),
        r.data()["secret"].as_str().unwrap(),
    );
    let game = new
        .authorize(&new.new_session_id(), m.arcade.app, m.arcade.site, 1)
        .await;
    assert_eq!(game.status, 200, "{}", game.raw);
    let rotated = metadata_of(&app, &m.arcade.operator.to_string(), "CredentialRotated").await;
    assert_eq!(rotated["actor_role"], "operator");
}

#[tokio::test]
async fn a_force_rotation_by_an_admin_makes_the_old_key_invalid_on_the_next_request() {
    let app = TestApp::spawn().await;
    let m = member(&app, "100", "10.00").await;
    assert_eq!(m.play(1).await.status, 200, "the key works before");
    let admin = app.staff_token(ActorRole::Admin).await;
    let r = app
        .call(
            Some(&admin),
            "POST",
            &format!(
                "/api/v1/admin/operators/{}/credentials/rotate",
                m.arcade.operator
            ),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let old = m.play(1).await;
    assert_eq!(old.status, 401, "{}", old.raw);
    assert_eq!(old.error_code(), "INVALID_API_KEY");
    assert_staff_recorded(
        &app,
        &m.arcade.operator.to_string(),
        "CredentialRotated",
        &admin,
        ActorRole::Admin,
    )
    .await;
}

#[tokio::test]
async fn self_deactivation_needs_the_password_and_ends_every_login() {
    let app = TestApp::spawn().await;
    let m = member(&app, "100", "10.00").await;
    let r = m
        .call(
            &app,
            "POST",
            "/api/v1/operator/deactivate",
            json!({"password": "Wrong-Pass-1"}),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.raw);
    assert_eq!(r.error_code(), "INVALID_CREDENTIALS");
    assert_eq!(m.play(1).await.status, 200, "still active");

    let r = m
        .call(
            &app,
            "POST",
            "/api/v1/operator/deactivate",
            json!({"password": m.password}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.data()["status"], "deactivated");
    assert_eq!(r.data()["balance"], "90.00", "the data stays");

    let login = app.login("operator", &m.username, &m.password).await;
    assert_eq!(login.status, 403, "{}", login.raw);
    assert_eq!(login.error_code(), "ACCOUNT_DEACTIVATED");
    let r = m
        .call(
            &app,
            "PATCH",
            "/api/v1/operator/profile",
            json!({"name": "x"}),
        )
        .await;
    assert_eq!(r.status, 401, "the session ended: {}", r.raw);
    assert_eq!(m.play(1).await.error_code(), "ACCOUNT_DEACTIVATED");
    let deactivated =
        metadata_of(&app, &m.arcade.operator.to_string(), "OperatorDeactivated").await;
    assert_eq!(deactivated["actor_role"], "operator");
}

#[tokio::test]
async fn read_marks_are_recorded_as_events() {
    let app = TestApp::spawn().await;
    let m = member(&app, "0", "10.00").await;
    let r = m
        .call(
            &app,
            "POST",
            "/api/v1/operator/messages/read",
            json!({"message_ids": [7, 42]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.data()["message_ids"], json!([7, 42]));
    for bad in [
        json!({"message_ids": []}),
        json!({"message_ids": [0]}),
        json!({"message_ids": ["7"]}),
    ] {
        let r = m
            .call(&app, "POST", "/api/v1/operator/messages/read", bad.clone())
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.raw);
        assert_eq!(r.body["details"]["fields"], json!(["message_ids"]));
    }
    let r = m
        .call(
            &app,
            "POST",
            "/api/v1/operator/messages/read-all",
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);

    let events = app.events_of(m.arcade.operator).await;
    let read: Vec<_> = events
        .iter()
        .filter(|(t, _)| t == "MessagesRead" || t == "AllMessagesRead")
        .collect();
    assert_eq!(read.len(), 2, "{read:?}");
    assert_eq!(read[0].1["MessagesRead"]["message_ids"], json!([7, 42]));
    assert_eq!(read[1].0, "AllMessagesRead");
}
