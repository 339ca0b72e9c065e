//! System test: the real binaries refuse hostile input plainly and stay up. Bodies over
//! 16 KiB are 413 `PAYLOAD_TOO_LARGE` on headset, staff and query routes; a body that is not
//! one strict JSON object (another JSON type, a key given twice, nesting ten thousand deep)
//! is `INVALID_PARAMS` naming it; a player count beyond 64 bits is out of the app's range
//! like any other integer; over-long signing headers are `INVALID_PARAMS` naming the header,
//! and none of it charges anything.

use ledger_core::ids::{AppId, OperatorId, SiteId};
use ledger_core::signing;
use serde_json::{Value, json};
use tests::cluster::Cluster;
use tests::headset::{AUTHORIZE_PATH, HeadsetClient, Reply, reply};

/// Over the 16 KiB limit of both APIs.
const OVERSIZE: usize = 16 * 1024 + 1;

/// An operator with one site, a 10.00 app for 2–8 players granted, 60.00 credited.
struct Arcade {
    headset: HeadsetClient,
    app: AppId,
    site: SiteId,
}

async fn arcade(cluster: &Cluster, token: &str) -> Arcade {
    let post = async |path: String, body| cluster.command("POST", &path, token, body).await.ok();
    let app = post(
        "/api/v1/admin/apps".into(),
        json!({"name": "太空探险", "unit_price": "10.00", "min_players": 2, "max_players": 8}),
    )
    .await;
    let app: AppId = app["id"].as_str().unwrap().parse().unwrap();
    let created = post(
        "/api/v1/admin/operators".into(),
        json!({"username": "limits_arcade", "name": "星际体验馆",
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
    let headset = HeadsetClient::new(
        &cluster.command,
        operator,
        created["credentials"]["key_id"].as_str().unwrap(),
        created["credentials"]["secret"].as_str().unwrap(),
    );
    Arcade { headset, app, site }
}

/// Sends `body` as it is to `url` (POST, JSON content type) with a bearer token.
async fn post_raw(cluster: &Cluster, url: &str, token: &str, body: Vec<u8>) -> (u16, Value) {
    let response = cluster
        .http
        .post(url)
        .bearer_auth(token)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A signed authorize whose headers are `overrides` where given (name, value).
async fn authorize_with_headers(
    arcade: &Arcade,
    session: &str,
    body: &[u8],
    overrides: &[(&str, &str)],
) -> Reply {
    let client = &arcade.headset;
    let ts = chrono::Utc::now().timestamp().to_string();
    let signature = signing::sign(client.secret.as_bytes(), &ts, "POST", AUTHORIZE_PATH, body);
    let mut headers = vec![
        ("X-API-Key", client.key_id.clone()),
        ("X-Timestamp", ts),
        ("X-Signature", signature),
        ("X-Session-ID", session.to_owned()),
    ];
    for (name, value) in overrides {
        headers.retain(|(n, _)| n != name);
        headers.push((name, (*value).to_owned()));
    }
    let mut request = client
        .http
        .post(format!("{}{AUTHORIZE_PATH}", client.base_url))
        .header("Content-Type", "application/json")
        .body(body.to_vec());
    for (name, value) in headers {
        request = request.header(name, value);
    }
    reply(request.send().await.unwrap()).await
}

fn authorize_body(arcade: &Arcade, players: &str) -> Vec<u8> {
    format!(
        r#"{{"app_id": "{}", "site_id": "{}", "player_count": {players}}}"#,
        arcade.app, arcade.site
    )
    .into_bytes()
}

#[tokio::test]
async fn bodies_over_16_kib_are_payload_too_large_on_headset_staff_and_query_routes() {
    let cluster = Cluster::start(&[]).await;
    let token = cluster.admin_token().await;
    let arcade = arcade(&cluster, &token).await;
    let padding = "x".repeat(OVERSIZE);
    let big = format!(r#"{{"name": "{padding}"}}"#).into_bytes();

    let headset = arcade
        .headset
        .send(
            "POST",
            AUTHORIZE_PATH,
            &big,
            Some(&arcade.headset.new_session_id()),
            None,
        )
        .await;
    assert_eq!(
        (headset.status, headset.error_code()),
        (413, "PAYLOAD_TOO_LARGE"),
        "{}",
        headset.raw
    );

    let staff_url = format!("{}/api/v1/admin/apps", cluster.command);
    let (status, body) = post_raw(&cluster, &staff_url, &token, big.clone()).await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (413, Some("PAYLOAD_TOO_LARGE"))
    );

    let query_url = format!("{}/api/v1/finance/reports", cluster.query);
    let (status, body) = post_raw(&cluster, &query_url, &token, big).await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (413, Some("PAYLOAD_TOO_LARGE")),
        "{body}"
    );
    assert_eq!(body["details"]["max_bytes"], 16 * 1024);
}

#[tokio::test]
async fn bodies_that_are_not_one_strict_json_object_are_invalid_params_and_the_service_stays_up() {
    let cluster = Cluster::start(&[]).await;
    let token = cluster.admin_token().await;
    let arcade = arcade(&cluster, &token).await;
    let session = arcade.headset.new_session_id();
    let send = async |body: &[u8]| {
        arcade
            .headset
            .send("POST", AUTHORIZE_PATH, body, Some(&session), None)
            .await
    };

    for (body, found) in [
        (&b"[1, 2]"[..], "array"),
        (b"\"app\"", "string"),
        (b"42", "number"),
    ] {
        let answer = send(body).await;
        assert_eq!(
            (answer.status, answer.error_code()),
            (400, "INVALID_PARAMS")
        );
        assert_eq!(answer.body["details"]["fields"], json!(["body"]));
        assert_eq!(answer.body["details"]["found"], found, "{}", answer.raw);
    }

    // The same key twice: a general parser would keep the last one (2 players, in range).
    let duplicate = format!(
        r#"{{"app_id": "{}", "site_id": "{}", "player_count": 99, "player_count": 2}}"#,
        arcade.app, arcade.site
    );
    let answer = send(duplicate.as_bytes()).await;
    assert_eq!(
        (answer.status, answer.error_code()),
        (400, "INVALID_PARAMS")
    );
    assert_eq!(answer.body["details"]["fields"], json!(["player_count"]));
    assert_eq!(answer.body["details"]["reason"], "duplicate_key");

    let deep = "[".repeat(10_000);
    let answer = send(deep.as_bytes()).await;
    assert_eq!(
        (answer.status, answer.error_code()),
        (400, "INVALID_PARAMS")
    );
    assert_eq!(answer.body["details"]["reason"], "nesting_too_deep");

    // Staff routes read bodies the same way.
    let staff_url = format!("{}/api/v1/admin/apps", cluster.command);
    let (status, body) = post_raw(
        &cluster,
        &staff_url,
        &token,
        br#"{"name": "a", "name": "b"}"#.to_vec(),
    )
    .await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (400, Some("INVALID_PARAMS"))
    );
    assert_eq!(body["details"]["fields"], json!(["name"]));
    let (status, body) = post_raw(&cluster, &staff_url, &token, deep.into_bytes()).await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (400, Some("INVALID_PARAMS"))
    );

    // Still serving, and nothing was charged: the session's first authorization charges.
    let health = cluster
        .call("GET", &format!("{}/health", cluster.command), None, None)
        .await;
    assert_eq!(health.status, 200);
    let answer = send(&authorize_body(&arcade, "2")).await;
    assert_eq!(answer.status, 200, "{}", answer.raw);
    assert!(!answer.replayed);
    assert_eq!(answer.data()["balance_after"], "40.00");
}

#[tokio::test]
async fn a_player_count_beyond_64_bits_is_out_of_range_and_over_long_headers_are_named() {
    let cluster = Cluster::start(&[]).await;
    let token = cluster.admin_token().await;
    let arcade = arcade(&cluster, &token).await;
    let session = arcade.headset.new_session_id();

    for players in ["99999999999999999999", "-99999999999999999999"] {
        let answer = arcade
            .headset
            .send(
                "POST",
                AUTHORIZE_PATH,
                &authorize_body(&arcade, players),
                Some(&session),
                None,
            )
            .await;
        assert_eq!(
            (answer.status, answer.error_code()),
            (400, "PLAYER_COUNT_OUT_OF_RANGE"),
            "{}",
            answer.raw
        );
        assert_eq!(answer.body["details"]["min_players"], 2);
        assert_eq!(answer.body["details"]["max_players"], 8);
    }
    // A fraction is not an integer at all.
    let answer = arcade
        .headset
        .send(
            "POST",
            AUTHORIZE_PATH,
            &authorize_body(&arcade, "2.0"),
            Some(&session),
            None,
        )
        .await;
    assert_eq!(
        (answer.status, answer.error_code()),
        (400, "INVALID_PARAMS")
    );
    assert_eq!(answer.body["details"]["fields"], json!(["player_count"]));

    let body = authorize_body(&arcade, "2");
    let long_key = format!("mrk_{}", "0".repeat(4_000));
    let long_session = format!("{session}{}", "A".repeat(4_000));
    let long_signature = "A".repeat(4_000) + "=";
    for (header, value) in [
        ("X-API-Key", long_key.as_str()),
        ("X-Signature", long_signature.as_str()),
        ("X-Session-ID", long_session.as_str()),
    ] {
        let answer = authorize_with_headers(&arcade, &session, &body, &[(header, value)]).await;
        assert_eq!(
            (answer.status, answer.error_code()),
            (400, "INVALID_PARAMS"),
            "{header}: {}",
            answer.raw
        );
        assert_eq!(answer.body["details"]["fields"], json!([header]));
    }

    // None of it charged: the session's first real authorization does.
    let answer = authorize_with_headers(&arcade, &session, &body, &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.raw);
    assert!(!answer.replayed);
    assert_eq!(answer.data()["balance_after"], "40.00");
}
