//! System test: the real binaries (`command-api`, `projector`, `query-api`) started the way
//! `make run` starts them, on a fresh database; a signed authorize over HTTP; the new balance
//! visible in the query API within one second.

use std::time::{Duration, Instant};

use ledger_core::ids::{AppId, OperatorId, SiteId};
use serde_json::json;
use tests::cluster::Cluster;
use tests::headset::HeadsetClient;

/// The product's promise: a charge is visible on the read side within a second.
const READ_YOUR_CHARGE_WITHIN: Duration = Duration::from_secs(1);

#[tokio::test]
async fn real_binaries_charge_a_signed_game_and_show_the_balance_within_a_second() {
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
        json!({"username": "system_arcade", "name": "星际体验馆",
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
        json!({"amount": "500", "reason": "bank transfer"}),
    )
    .await;

    let headset = HeadsetClient::new(
        &cluster.command,
        operator,
        created["credentials"]["key_id"].as_str().unwrap(),
        created["credentials"]["secret"].as_str().unwrap(),
    );
    let authorized = headset
        .authorize(&headset.new_session_id(), app, site, 5)
        .await;
    assert_eq!(authorized.status, 200, "{}", authorized.raw);
    assert_eq!(authorized.data()["balance_after"], "450.00");
    let charged_at = Instant::now();

    loop {
        let answer = cluster
            .query(&format!("/api/v1/admin/operators/{operator}"), &token)
            .await;
        if answer.status == 200 && answer.data()["balance"] == "450.00" {
            break;
        }
        assert!(
            charged_at.elapsed() < READ_YOUR_CHARGE_WITHIN,
            "balance not visible in query-api within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
