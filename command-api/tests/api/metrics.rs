//! `/metrics`, `/health` and `/health/ready`, and authorization with the database gone.
//!
//! The counters are process-wide; cargo nextest runs each test in a process of its own, and
//! every assertion compares a scrape after the traffic with one taken before it, so figures
//! moved by other tests of a shared process would show up as a failure, never as a pass.

use std::time::{Duration, Instant};

use command_api::settings::Settings;
use tests::headset::HeadsetClient;

use crate::harness::{TestApp, settings};

/// The value of the series `name` whose labels are exactly `labels` (0 when absent).
fn value(exposition: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    wanted.sort();
    for line in exposition.lines().filter(|l| !l.starts_with('#')) {
        let (series, number) = line.rsplit_once(' ').expect("series and value");
        let (series_name, mut found) = match series.split_once('{') {
            Some((n, rest)) => (
                n,
                rest.trim_end_matches('}')
                    .split(',')
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>(),
            ),
            None => (series, Vec::new()),
        };
        found.sort();
        if series_name == name && found == wanted {
            return number.parse().expect("a number");
        }
    }
    0.0
}

async fn scrape(app: &TestApp) -> String {
    let response = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"),
        "Prometheus text format"
    );
    response.text().await.unwrap()
}

#[tokio::test]
async fn an_authorization_moves_the_auth_counters_latency_revenue_and_route_figures() {
    let app = TestApp::spawn().await;
    let arcade = app.arcade("500", "10.00", 2, 8).await;
    let before = scrape(&app).await;

    let session = arcade.headset.new_session_id();
    let charged = arcade
        .headset
        .authorize(&session, arcade.app, arcade.site, 5)
        .await;
    assert_eq!(charged.status, 200, "{}", charged.raw);
    // A replay answers ok again but charges nothing more.
    let replay = arcade
        .headset
        .authorize(&session, arcade.app, arcade.site, 5)
        .await;
    assert!(replay.replayed);
    // Refused by the protocol: more players than the app allows (max 8).
    let refused = arcade
        .headset
        .authorize(&arcade.headset.new_session_id(), arcade.app, arcade.site, 9)
        .await;
    assert_eq!(refused.status / 100, 4, "{}", refused.raw);
    let refused_code = refused.error_code().to_owned();

    let after = scrape(&app).await;
    let moved = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&before, name, labels)
    };
    assert_eq!(moved("mr_auth_requests_total", &[("result", "ok")]), 2.0);
    assert_eq!(
        moved("mr_auth_requests_total", &[("result", &refused_code)]),
        1.0
    );
    assert_eq!(moved("mr_auth_latency_seconds_count", &[]), 3.0);
    assert_eq!(moved("mr_revenue_yuan_total", &[]), 50.0);
    assert_eq!(
        moved(
            "mr_http_requests_total",
            &[
                ("method", "POST"),
                ("route", "/api/v1/auth/game/authorize"),
                ("status", "200")
            ]
        ),
        2.0
    );
    // The pool served these requests: it has connections, counted idle or in use.
    let pool = value(&after, "mr_db_pool_connections", &[("state", "idle")])
        + value(&after, "mr_db_pool_connections", &[("state", "in_use")]);
    assert!(pool >= 1.0, "{after}");
    assert!(
        after.contains("mr_db_oldest_transaction_seconds "),
        "{after}"
    );
}

#[tokio::test]
async fn a_path_with_an_id_is_counted_under_its_route_pattern_never_the_raw_path() {
    let app = TestApp::spawn().await;
    let arcade = app.arcade("100", "10.00", 2, 8).await;
    let before = scrape(&app).await;
    let path = format!("/api/v1/admin/apps/{}", arcade.app);
    let answer = app
        .call(
            Some(&app.token),
            "PATCH",
            &path,
            serde_json::json!({ "name": "" }),
        )
        .await;
    let status = answer.status.to_string();
    let after = scrape(&app).await;
    assert!(!after.contains(&arcade.app.to_string()), "{after}");
    let labels = [
        ("method", "PATCH"),
        ("route", "/api/v1/admin/apps/{app_id}"),
        ("status", status.as_str()),
    ];
    assert_eq!(
        value(&after, "mr_http_requests_total", &labels)
            - value(&before, "mr_http_requests_total", &labels),
        1.0,
        "{after}"
    );
}

#[tokio::test]
async fn a_refusal_by_the_operator_rate_limit_is_counted_as_a_block_and_an_auth_result() {
    let db = tests::db::TestDb::new().await;
    let app = TestApp::spawn_with(db, |s| {
        s.rate_limits.rate_limit_operator_vip = 1;
        s.rate_limits.rate_limit_operator_standard = 1;
        s.rate_limits.rate_limit_operator_trial = 1;
    })
    .await;
    let arcade = app.arcade("100", "1.00", 1, 8).await;
    let before = scrape(&app).await;
    for expected in [200, 429] {
        let reply = arcade
            .headset
            .authorize(&arcade.headset.new_session_id(), arcade.app, arcade.site, 1)
            .await;
        assert_eq!(reply.status, expected, "{}", reply.raw);
    }
    let after = scrape(&app).await;
    let moved = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&before, name, labels)
    };
    assert_eq!(
        moved("mr_rate_limit_blocks_total", &[("kind", "operator")]),
        1.0
    );
    assert_eq!(moved("mr_rate_limit_blocks_total", &[("kind", "ip")]), 0.0);
    assert_eq!(
        moved(
            "mr_auth_requests_total",
            &[("result", "RATE_LIMIT_EXCEEDED")]
        ),
        1.0
    );
}

#[tokio::test]
async fn a_payment_notification_is_counted_by_channel_and_what_became_of_it() {
    let app = TestApp::spawn().await;
    let before = scrape(&app).await;
    // Alipay is not configured here: the notification is refused, and Alipay told `failure`.
    let answer = app
        .http
        .post(format!("{}/api/v1/payments/alipay/notify", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("out_trade_no=x&trade_status=TRADE_SUCCESS")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.text().await.unwrap(), "failure");
    let after = scrape(&app).await;
    let labels = [("channel", "alipay"), ("result", "rejected")];
    assert_eq!(
        value(&after, "mr_payment_callbacks_total", &labels)
            - value(&before, "mr_payment_callbacks_total", &labels),
        1.0,
        "{after}"
    );
}

#[tokio::test]
async fn liveness_has_the_version_and_readiness_reports_the_database() {
    let app = TestApp::spawn().await;
    let live: serde_json::Value = app
        .http
        .get(format!("{}/health", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(live["status"], "ok");
    assert_eq!(live["version"], env!("CARGO_PKG_VERSION"));
    let ready = app
        .http
        .get(format!("{}/health/ready", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    let ready: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(ready["status"], "ok");
    assert_eq!(ready["checks"]["database"], true);
}

/// A second instance on the arcade's keys whose database is a closed port.
fn unreachable_database(app: &TestApp) -> Settings {
    Settings {
        database_url: "postgres://postgres@127.0.0.1:1/gone".to_owned(),
        ..settings(&app.db)
    }
}

#[tokio::test]
async fn with_postgres_unreachable_authorize_answers_503_within_three_seconds_and_charges_nothing()
{
    let app = TestApp::spawn().await;
    let arcade = app.arcade("500", "10.00", 2, 8).await;
    let state = command_api::state(
        &unreachable_database(&app),
        command_api::ledger::system_clock(),
    )
    .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(command_api::serve(listener, state, 1).unwrap());
    let headset = HeadsetClient::new(
        &base,
        arcade.operator,
        &arcade.headset.key_id,
        &arcade.headset.secret,
    );

    let started = Instant::now();
    let answer = headset
        .authorize(&headset.new_session_id(), arcade.app, arcade.site, 5)
        .await;
    let took = started.elapsed();
    assert_eq!(
        (answer.status, answer.error_code()),
        (503, "SERVICE_UNAVAILABLE"),
        "{}",
        answer.raw
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");
    let ready = reqwest::get(format!("{base}/health/ready")).await.unwrap();
    assert_eq!(ready.status().as_u16(), 503);
    let ready: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(ready["checks"]["database"], false);
    assert_eq!(ready["error"]["code"], "SERVICE_UNAVAILABLE");
    // Liveness does not depend on the database.
    let live = reqwest::get(format!("{base}/health")).await.unwrap();
    assert_eq!(live.status().as_u16(), 200);
    assert_eq!(app.balance(arcade.operator).await, "500.00");
}
