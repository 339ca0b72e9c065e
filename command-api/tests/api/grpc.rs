//! The headset protocol over gRPC: the same ledger, checks and error codes as over HTTP, and
//! one idempotency record for both transports.

use command_api::grpc::Running;
use futures_util::future::join_all;
use tests::headset_grpc::{AUTHORIZE_METHOD, GrpcHeadsetClient, error_code};
use tonic::Code;
use tonic::metadata::MetadataValue;

use crate::harness::{Arcade, TestApp};

/// The app's gRPC server on a free port, and a client of it for `arcade`'s key.
async fn grpc(app: &TestApp, arcade: &Arcade) -> (Running, GrpcHeadsetClient) {
    let server = command_api::grpc::start("127.0.0.1:0".parse().unwrap(), app.state.clone())
        .await
        .unwrap();
    let client = GrpcHeadsetClient::new(
        &format!("http://{}", server.addr()),
        arcade.operator,
        &arcade.headset.key_id,
        &arcade.headset.secret,
    );
    (server, client)
}

#[tokio::test]
async fn authorize_end_config_and_heartbeat_answer_as_over_http() {
    let app = TestApp::spawn().await;
    let arcade = app.arcade("500", "10.00", 2, 8).await;
    let (_server, client) = grpc(&app, &arcade).await;
    let session = client.new_session_id();

    let authorized = client
        .authorize(&session, arcade.app, arcade.site, 5)
        .await
        .unwrap();
    assert_eq!(authorized.session_id, session);
    assert_eq!(authorized.app_id, arcade.app.to_string());
    assert_eq!(authorized.site_id, arcade.site.to_string());
    assert_eq!(authorized.app_name, "太空探险");
    assert_eq!(authorized.player_count, 5);
    assert_eq!(authorized.unit_price, "10.00");
    assert_eq!(authorized.total_cost, "50.00");
    assert_eq!(authorized.balance_after, "450.00");
    assert!(uuid::Uuid::parse_str(&authorized.authorization_token).is_ok());
    assert!(authorized.authorized_at.ends_with('Z'));
    assert!(!authorized.idempotent_replayed);
    assert_eq!(app.balance(arcade.operator).await, "450.00");

    let ended = client.end(&session, Some(600)).await.unwrap();
    assert_eq!(ended.session_id, session);
    assert_eq!(ended.duration_seconds, 600);
    assert!(!ended.idempotent_replayed);
    let again = client.end(&session, Some(600)).await.unwrap();
    assert!(again.idempotent_replayed);
    assert_eq!(again.ended_at, ended.ended_at);

    let config = client.config().await.unwrap();
    assert_eq!(config.operator.unwrap().id, arcade.operator.to_string());
    assert_eq!(config.sites.len(), 1);
    assert_eq!(config.sites[0].id, arcade.site.to_string());
    assert_eq!(config.apps.len(), 1);
    assert_eq!(config.apps[0].id, arcade.app.to_string());
    assert_eq!(config.apps[0].unit_price, "10.00");
    assert_eq!(
        (config.apps[0].min_players, config.apps[0].max_players),
        (2, 8)
    );
    assert_eq!(config.apps[0].expires_at, None);

    let beat = client.heartbeat(arcade.site, "server-1", 4).await.unwrap();
    assert!(beat.server_time.ends_with('Z'));
    let events: Vec<String> = app
        .events_of(arcade.operator)
        .await
        .into_iter()
        .map(|(event_type, _)| event_type)
        .collect();
    assert_eq!(
        events
            .iter()
            .filter(|e| *e == "GameAuthorized" || *e == "GameEnded")
            .count(),
        2,
        "{events:?}"
    );
}

#[tokio::test]
async fn bad_credentials_and_a_short_balance_are_refused_with_their_codes_and_charge_nothing() {
    let app = TestApp::spawn().await;
    let arcade = app.arcade("30", "10.00", 2, 8).await;
    let (server, client) = grpc(&app, &arcade).await;

    let mut bad_signature =
        client.authorize_request(&client.new_session_id(), arcade.app, arcade.site, 2);
    bad_signature.metadata_mut().insert(
        "x-signature",
        MetadataValue::from_static("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
    );
    let stale = client.signed(
        AUTHORIZE_METHOD,
        proto::headset::v1::AuthorizeRequest {
            app_id: arcade.app.to_string(),
            site_id: arcade.site.to_string(),
            player_count: 2,
        },
        Some(&client.new_session_id()),
        Some(chrono::Utc::now().timestamp() - 301),
    );
    // Signed for another message than the one sent: the signature covers the bytes.
    let mut other_message =
        client.authorize_request(&client.new_session_id(), arcade.app, arcade.site, 2);
    other_message.get_mut().player_count = 3;
    let unknown_key = GrpcHeadsetClient::new(
        &format!("http://{}", server.addr()),
        arcade.operator,
        "ak_no_such_key",
        &arcade.headset.secret,
    )
    .authorize_request(&client.new_session_id(), arcade.app, arcade.site, 2);
    let short = client.authorize_request(&client.new_session_id(), arcade.app, arcade.site, 5);
    let mut no_session = client.authorize_request("unused", arcade.app, arcade.site, 2);
    no_session.metadata_mut().remove("x-session-id");

    let cases = [
        (bad_signature, Code::Unauthenticated, "INVALID_SIGNATURE"),
        (stale, Code::Unauthenticated, "TIMESTAMP_EXPIRED"),
        (other_message, Code::Unauthenticated, "INVALID_SIGNATURE"),
        (unknown_key, Code::Unauthenticated, "INVALID_API_KEY"),
        (short, Code::FailedPrecondition, "INSUFFICIENT_BALANCE"),
        (no_session, Code::InvalidArgument, "INVALID_PARAMS"),
    ];
    for (request, code, expected) in cases {
        let status = client.send_authorize(request).await.unwrap_err();
        assert_eq!(status.code(), code, "{expected}: {status:?}");
        assert_eq!(error_code(&status), expected);
        assert!(status.message().starts_with(expected), "{status:?}");
    }
    assert_eq!(app.balance(arcade.operator).await, "30.00");
    assert_eq!(app.charges(arcade.operator).await, 0);
}

#[tokio::test]
async fn malformed_ids_are_invalid_params_naming_them() {
    let app = TestApp::spawn().await;
    let arcade = app.arcade("500", "10.00", 2, 8).await;
    let (_server, client) = grpc(&app, &arcade).await;
    let mut request =
        client.authorize_request(&client.new_session_id(), arcade.app, arcade.site, 2);
    request.get_mut().app_id = "not-a-uuid".to_owned();
    request.metadata_mut().remove("x-api-key");
    let status = client.send_authorize(request).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(error_code(&status), "INVALID_PARAMS");
    let details = status.metadata().get_bin("x-error-details-bin").unwrap();
    let details: serde_json::Value = serde_json::from_slice(&details.to_bytes().unwrap()).unwrap();
    assert_eq!(
        details,
        serde_json::json!({ "fields": ["x-api-key", "app_id"] })
    );
    assert_eq!(app.charges(arcade.operator).await, 0);
}

#[tokio::test]
async fn twenty_identical_authorizations_at_once_charge_once() {
    let app = TestApp::spawn().await;
    let arcade = app.arcade("500", "10.00", 2, 8).await;
    let (_server, client) = grpc(&app, &arcade).await;
    let session = client.new_session_id();
    let answers =
        join_all((0..20).map(|_| client.authorize(&session, arcade.app, arcade.site, 4))).await;
    let answers: Vec<_> = answers.into_iter().map(Result::unwrap).collect();
    let tokens: std::collections::HashSet<_> = answers
        .iter()
        .map(|a| a.authorization_token.clone())
        .collect();
    assert_eq!(tokens.len(), 1, "one authorization for every caller");
    assert_eq!(answers.iter().filter(|a| !a.idempotent_replayed).count(), 1);
    assert_eq!(app.charges(arcade.operator).await, 1);
    assert_eq!(app.balance(arcade.operator).await, "460.00");
}

#[tokio::test]
async fn a_session_authorized_over_one_transport_replays_over_the_other() {
    let app = TestApp::spawn().await;
    let arcade = app.arcade("500", "10.00", 2, 8).await;
    let (_server, client) = grpc(&app, &arcade).await;

    // HTTP first, then gRPC.
    let session = client.new_session_id();
    let http = arcade
        .headset
        .authorize(&session, arcade.app, arcade.site, 3)
        .await;
    assert_eq!(http.status, 200, "{}", http.raw);
    let replay = client
        .authorize(&session, arcade.app, arcade.site, 3)
        .await
        .unwrap();
    assert!(replay.idempotent_replayed);
    let original = http.data();
    assert_eq!(
        replay.authorization_token,
        original["authorization_token"].as_str().unwrap()
    );
    assert_eq!(
        replay.authorized_at,
        original["authorized_at"].as_str().unwrap()
    );
    assert_eq!(replay.balance_after, "470.00");

    // gRPC first, then HTTP.
    let session = client.new_session_id();
    let first = client
        .authorize(&session, arcade.app, arcade.site, 2)
        .await
        .unwrap();
    let http = arcade
        .headset
        .authorize(&session, arcade.app, arcade.site, 2)
        .await;
    assert_eq!(http.status, 200, "{}", http.raw);
    assert!(http.replayed);
    assert_eq!(
        http.data()["authorization_token"].as_str().unwrap(),
        first.authorization_token
    );

    // The same session id for another game is a conflict on either transport.
    let status = client
        .authorize(&session, arcade.app, arcade.site, 4)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    assert_eq!(error_code(&status), "SESSION_ID_CONFLICT");

    assert_eq!(app.charges(arcade.operator).await, 2);
    assert_eq!(app.balance(arcade.operator).await, "450.00");
}

#[tokio::test]
async fn the_operator_limit_counts_both_transports_and_is_resource_exhausted() {
    let db = tests::db::TestDb::new().await;
    let app = TestApp::spawn_with(db, |s| {
        s.rate_limits.rate_limit_operator_vip = 2;
        s.rate_limits.rate_limit_operator_standard = 2;
        s.rate_limits.rate_limit_operator_trial = 2;
    })
    .await;
    let arcade = app.arcade("500", "10.00", 2, 8).await;
    let (_server, client) = grpc(&app, &arcade).await;
    let http = arcade
        .headset
        .authorize(&arcade.headset.new_session_id(), arcade.app, arcade.site, 2)
        .await;
    assert_eq!(http.status, 200, "{}", http.raw);
    client
        .authorize(&client.new_session_id(), arcade.app, arcade.site, 2)
        .await
        .unwrap();
    let status = client
        .authorize(&client.new_session_id(), arcade.app, arcade.site, 2)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(error_code(&status), "RATE_LIMIT_EXCEEDED");
    let details = status.metadata().get_bin("x-error-details-bin").unwrap();
    let details: serde_json::Value = serde_json::from_slice(&details.to_bytes().unwrap()).unwrap();
    assert_eq!(details["limit"], 2);
    assert_eq!(app.charges(arcade.operator).await, 2);
}

#[tokio::test]
async fn the_events_of_a_call_record_its_request_id_and_peer() {
    let app = TestApp::spawn().await;
    let arcade = app.arcade("500", "10.00", 2, 8).await;
    let (_server, client) = grpc(&app, &arcade).await;
    let mut request =
        client.authorize_request(&client.new_session_id(), arcade.app, arcade.site, 2);
    request
        .metadata_mut()
        .insert("x-request-id", MetadataValue::from_static("grpc-req-1"));
    client.send_authorize(request).await.unwrap();
    let row = app
        .db
        .client()
        .await
        .query_one(
            "SELECT metadata::json->>'request_id', metadata::json->>'source_ip', \
             metadata::json->>'actor_role' FROM events \
             WHERE event_type = 'GameAuthorized' AND aggregate_id = $1",
            &[&arcade.operator.to_string()],
        )
        .await
        .unwrap();
    let recorded: (String, String, String) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(recorded.0, "grpc-req-1");
    assert_eq!(recorded.1, "127.0.0.1");
    assert_eq!(recorded.2, "headset_server");
}
