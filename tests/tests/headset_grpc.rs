//! System test: the real command-api binary serves the headset protocol over gRPC on
//! `MR_COMMAND_GRPC_ADDR` beside HTTP, on the same ledger: a gRPC authorization charges once
//! and replays over HTTP; a short balance is refused with its error code.

use ledger_core::ids::{AppId, OperatorId, SiteId};
use serde_json::json;
use tests::cluster::Cluster;
use tests::headset::HeadsetClient;
use tests::headset_grpc::{GrpcHeadsetClient, error_code};
use tonic::Code;

#[tokio::test]
async fn the_binary_serves_the_headset_calls_over_grpc_on_the_http_ledger() {
    let cluster = Cluster::start(&[]).await;
    let token = cluster.admin_token().await;
    let post = async |path: String, body| cluster.command("POST", &path, &token, body).await.ok();

    let app = post(
        "/api/v1/admin/apps".into(),
        json!({"name": "太空探险", "unit_price": "10.00", "min_players": 2, "max_players": 8}),
    )
    .await;
    let app: AppId = app["id"].as_str().unwrap().parse().unwrap();
    let created = post(
        "/api/v1/admin/operators".into(),
        json!({"username": "grpc_arcade", "name": "星际体验馆",
               "phone": "13800000000", "email": "a@example.com"}),
    )
    .await;
    let operator: OperatorId = created["operator"]["id"].as_str().unwrap().parse().unwrap();
    let site = post(
        format!("/api/v1/admin/operators/{operator}/sites"),
        json!({"name": "北京朝阳店", "address": "北京市朝阳区"}),
    )
    .await;
    let site: SiteId = site["id"].as_str().unwrap().parse().unwrap();
    post(
        format!("/api/v1/admin/operators/{operator}/grants"),
        json!({"app_id": app, "expires_at": null}),
    )
    .await;
    post(
        format!("/api/v1/finance/operators/{operator}/manual-credits"),
        json!({"amount": "60", "reason": "bank transfer"}),
    )
    .await;
    let (key_id, secret) = (
        created["credentials"]["key_id"].as_str().unwrap(),
        created["credentials"]["secret"].as_str().unwrap(),
    );
    let grpc = GrpcHeadsetClient::new(&cluster.command_grpc, operator, key_id, secret);
    let http = HeadsetClient::new(&cluster.command, operator, key_id, secret);

    let config = grpc.config().await.unwrap();
    assert_eq!(config.operator.unwrap().id, operator.to_string());
    assert_eq!(config.apps[0].unit_price, "10.00");

    let session = grpc.new_session_id();
    let authorized = grpc.authorize(&session, app, site, 5).await.unwrap();
    assert_eq!(authorized.balance_after, "10.00");
    assert!(!authorized.idempotent_replayed);
    let replayed = http.authorize(&session, app, site, 5).await;
    assert_eq!(replayed.status, 200, "{}", replayed.raw);
    assert!(replayed.replayed);
    assert_eq!(
        replayed.data()["authorization_token"],
        authorized.authorization_token.as_str()
    );

    let refused = grpc
        .authorize(&grpc.new_session_id(), app, site, 2)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(error_code(&refused), "INSUFFICIENT_BALANCE");
    let charges: i64 = cluster
        .db
        .client()
        .await
        .query_one(
            "SELECT count(*) FROM events WHERE event_type = 'GameAuthorized' \
             AND aggregate_id = $1",
            &[&operator.to_string()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(charges, 1, "charged once over both transports");
}
