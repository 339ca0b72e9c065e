//! The headset scenarios of the protocol, end to end over HTTP.

use chrono::Utc;
use serde_json::json;

use crate::harness::TestApp;

#[tokio::test]
async fn five_players_at_ten_are_charged_fifty_and_get_token_and_balance() {
    let app = TestApp::spawn().await;
    let arcade = app.arcade("500", "10.00", 2, 8).await;
    let session = arcade.headset.new_session_id();
    let r = arcade
        .headset
        .authorize(&session, arcade.app, arcade.site, 5)
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let d = r.data();
    assert_eq!(d["unit_price"], "10.00");
    assert_eq!(d["total_cost"], "50.00");
    assert_eq!(d["balance_after"], "450.00");
    assert_eq!(d["player_count"], 5);
    assert_eq!(d["session_id"], session.as_str());
    assert_eq!(d["app_name"], "太空探险");
    assert!(uuid::Uuid::parse_str(d["authorization_token"].as_str().unwrap()).is_ok());
    assert!(d["authorized_at"].as_str().unwrap().ends_with('Z'));
    assert!(!r.replayed);
    assert_eq!(app.balance(arcade.operator).await, "450.00");
}

#[tokio::test]
async fn a_fifty_game_on_thirty_balance_is_402_with_the_amounts() {
    let app = TestApp::spawn().await;
    let arcade = app.arcade("30", "10.00", 2, 8).await;
    let r = arcade
        .headset
        .authorize(&arcade.headset.new_session_id(), arcade.app, arcade.site, 5)
        .await;
    assert_eq!(r.status, 402, "{}", r.raw);
    assert_eq!(r.error_code(), "INSUFFICIENT_BALANCE");
    assert_eq!(
        r.body["details"],
        json!({"current_balance": "30.00", "required_amount": "50.00", "shortage": "20.00"})
    );
    assert_eq!(app.balance(arcade.operator).await, "30.00");
    assert_eq!(app.charges(arcade.operator).await, 0);
}

#[tokio::test]
async fn an_app_without_grant_is_403_naming_the_app() {
    let app = TestApp::spawn().await;
    let arcade = app.arcade("500", "10.00", 2, 8).await;
    let other = app.create_app("12.00", 1, 4).await;
    let r = arcade
        .headset
        .authorize(&arcade.headset.new_session_id(), other, arcade.site, 2)
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.error_code(), "APP_NOT_AUTHORIZED");
    assert_eq!(r.body["details"]["app_id"], other.to_string());
    assert_eq!(r.body["details"]["app_name"], "太空探险");
}

#[tokio::test]
async fn one_or_nine_players_for_a_two_to_eight_app_is_400() {
    let app = TestApp::spawn().await;
    let arcade = app.arcade("500", "10.00", 2, 8).await;
    for players in [1, 9, 0, -3] {
        let r = arcade
            .headset
            .authorize(
                &arcade.headset.new_session_id(),
                arcade.app,
                arcade.site,
                players,
            )
            .await;
        assert_eq!(r.status, 400, "{players}: {}", r.raw);
        assert_eq!(r.error_code(), "PLAYER_COUNT_OUT_OF_RANGE");
        assert_eq!(
            r.body["details"],
            json!({"min_players": 2, "max_players": 8, "requested_players": players})
        );
    }
    assert_eq!(app.charges(arcade.operator).await, 0);
}

#[tokio::test]
async fn the_same_session_again_returns_the_original_bytes_and_charges_once() {
    let app = TestApp::spawn().await;
    let arcade = app.arcade("500", "10.00", 2, 8).await;
    let session = arcade.headset.new_session_id();
    let first = arcade
        .headset
        .authorize(&session, arcade.app, arcade.site, 4)
        .await;
    let again = arcade
        .headset
        .authorize(&session, arcade.app, arcade.site, 4)
        .await;
    assert_eq!(first.status, 200);
    assert_eq!(again.status, 200);
    assert!(again.replayed, "Idempotent-Replayed: true");
    assert_eq!(first.data().to_string(), again.data().to_string());
    assert_eq!(first.raw, again.raw, "byte for byte");
    assert_eq!(app.charges(arcade.operator).await, 1);
    assert_eq!(app.balance(arcade.operator).await, "460.00");

    let conflict = arcade
        .headset
        .authorize(&session, arcade.app, arcade.site, 5)
        .await;
    assert_eq!(conflict.status, 409);
    assert_eq!(conflict.error_code(), "SESSION_ID_CONFLICT");
    assert_eq!(conflict.body["details"]["original"], *first.data());
    assert_eq!(app.charges(arcade.operator).await, 1);
}

#[tokio::test]
async fn an_expired_grant_is_403_with_its_expiry() {
    let app = TestApp::spawn().await;
    let arcade = app.arcade("500", "10.00", 2, 8).await;
    let r = app
        .grant(arcade.operator, arcade.app, Some("2020-01-01T00:00:00Z"))
        .await;
    assert_eq!(
        r.status, 200,
        "replacing a grant's expiry is 200: {}",
        r.raw
    );
    let r = arcade
        .headset
        .authorize(&arcade.headset.new_session_id(), arcade.app, arcade.site, 2)
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.error_code(), "AUTHORIZATION_EXPIRED");
    assert_eq!(r.body["details"]["expired_at"], "2020-01-01T00:00:00.000Z");
    assert_eq!(app.charges(arcade.operator).await, 0);
}

#[tokio::test]
async fn a_price_change_between_two_games_keeps_the_old_price_in_history() {
    let app = TestApp::spawn().await;
    let arcade = app.arcade("500", "10.00", 2, 8).await;
    let first = arcade
        .headset
        .authorize(&arcade.headset.new_session_id(), arcade.app, arcade.site, 2)
        .await;
    let r = app
        .staff(
            "PATCH",
            &format!("/api/v1/admin/apps/{}", arcade.app),
            json!({"unit_price": "15"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.data()["unit_price"], "15.00");
    let second = arcade
        .headset
        .authorize(&arcade.headset.new_session_id(), arcade.app, arcade.site, 2)
        .await;
    assert_eq!(first.data()["unit_price"], "10.00");
    assert_eq!(first.data()["total_cost"], "20.00");
    assert_eq!(second.data()["unit_price"], "15.00");
    assert_eq!(second.data()["total_cost"], "30.00");
    assert_eq!(second.data()["balance_after"], "450.00");
    let prices: Vec<_> = app
        .events_of(arcade.operator)
        .await
        .into_iter()
        .filter(|(t, _)| t == "GameAuthorized")
        .map(|(_, p)| {
            p["GameAuthorized"]["unit_price"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(prices, ["10.00", "15.00"]);
}

#[tokio::test]
async fn ending_a_game_is_recorded_once_and_unknown_sessions_are_404() {
    let app = TestApp::spawn().await;
    let arcade = app.arcade("500", "10.00", 2, 8).await;
    let session = arcade.headset.new_session_id();
    assert_eq!(
        arcade
            .headset
            .authorize(&session, arcade.app, arcade.site, 3)
            .await
            .status,
        200
    );
    let end = arcade.headset.end(&session, Some(754)).await;
    assert_eq!(end.status, 200, "{}", end.raw);
    assert_eq!(end.data()["duration_seconds"], 754);
    let again = arcade.headset.end(&session, Some(9)).await;
    assert!(again.replayed);
    assert_eq!(again.data(), end.data());
    let measured = arcade.headset.new_session_id();
    assert_eq!(
        arcade
            .headset
            .authorize(&measured, arcade.app, arcade.site, 3)
            .await
            .status,
        200
    );
    let r = arcade.headset.end(&measured, None).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert!(r.data()["duration_seconds"].as_u64().unwrap() < 5);
    let unknown = arcade
        .headset
        .end(&arcade.headset.new_session_id(), None)
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.error_code(), "SESSION_NOT_FOUND");
    let ended = app
        .events_of(arcade.operator)
        .await
        .iter()
        .filter(|(t, _)| t == "GameEnded")
        .count();
    assert_eq!(ended, 2);
}

#[tokio::test]
async fn config_lists_open_sites_and_usable_apps_and_heartbeats_are_accepted() {
    let app = TestApp::spawn().await;
    let arcade = app.arcade("500", "10.00", 2, 8).await;
    let closed = app.open_site(arcade.operator).await;
    let r = app
        .staff(
            "POST",
            &format!(
                "/api/v1/admin/operators/{}/sites/{closed}/close",
                arcade.operator
            ),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200);
    let retired = app.create_app("5.00", 1, 2).await;
    assert_eq!(app.grant(arcade.operator, retired, None).await.status, 201);
    assert_eq!(
        app.staff(
            "POST",
            &format!("/api/v1/admin/apps/{retired}/retire"),
            json!({})
        )
        .await
        .status,
        200
    );
    let expiring = app.create_app("7.00", 1, 4).await;
    assert_eq!(
        app.grant(arcade.operator, expiring, Some("2099-01-01T00:00:00Z"))
            .await
            .status,
        201
    );

    let r = arcade.headset.config().await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let d = r.data();
    assert_eq!(d["operator"]["id"], arcade.operator.to_string());
    assert_eq!(d["sites"].as_array().unwrap().len(), 1);
    assert_eq!(d["sites"][0]["id"], arcade.site.to_string());
    let apps = d["apps"].as_array().unwrap();
    assert_eq!(apps.len(), 2, "retired app hidden: {apps:?}");
    let with_expiry = apps
        .iter()
        .find(|a| a["id"] == expiring.to_string())
        .unwrap();
    assert_eq!(with_expiry["expires_at"], "2099-01-01T00:00:00.000Z");
    assert_eq!(with_expiry["unit_price"], "7.00");

    let beat = arcade.headset.heartbeat(arcade.site, "server-01", 6).await;
    assert_eq!(beat.status, 200, "{}", beat.raw);
    assert!(beat.data()["server_time"].as_str().unwrap().ends_with('Z'));
    let inactive = arcade.headset.heartbeat(closed, "server-02", 0).await;
    assert_eq!(inactive.error_code(), "SITE_INACTIVE");
}

#[tokio::test]
async fn english_is_answered_when_preferred_and_chinese_by_default() {
    let app = TestApp::spawn().await;
    let arcade = app.arcade("0", "10.00", 2, 8).await;
    let r = arcade
        .headset
        .authorize(&arcade.headset.new_session_id(), arcade.app, arcade.site, 2)
        .await;
    assert_eq!(r.body["message"], "余额不足");
    assert!(
        r.body["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    let body = json!({"app_id": arcade.app, "site_id": arcade.site, "player_count": 2}).to_string();
    let ts = Utc::now().timestamp().to_string();
    let sig = ledger_core::signing::sign(
        arcade.headset.secret.as_bytes(),
        &ts,
        "POST",
        tests::headset::AUTHORIZE_PATH,
        body.as_bytes(),
    );
    let response = app
        .http
        .post(format!("{}{}", app.base, tests::headset::AUTHORIZE_PATH))
        .header("Content-Type", "application/json")
        .header("Accept-Language", "en-US,en;q=0.9,zh;q=0.5")
        .header("X-API-Key", &arcade.headset.key_id)
        .header("X-Timestamp", ts)
        .header("X-Signature", sig)
        .header("X-Session-ID", arcade.headset.new_session_id())
        .body(body)
        .send()
        .await
        .unwrap();
    let r = tests::headset::reply(response).await;
    assert_eq!(r.body["message"], "Insufficient balance");
}
