//! `/metrics` and `/health/ready` of the three real binaries after some traffic: one charged
//! authorization moves the command API's counters by exactly one, the query API shows the
//! balance and no lag once the projector caught up, and the projector serves its own figures
//! on `MR_PROJECTOR_METRICS_ADDR`.

use std::time::{Duration, Instant};

use ledger_core::ids::{AppId, OperatorId, SiteId};
use serde_json::{Value, json};
use tests::cluster::{Cluster, free_port};
use tests::headset::HeadsetClient;

/// Far more than the product's 1 s lag budget: a slow CI machine must not fail the test.
const CATCH_UP_WITHIN: Duration = Duration::from_secs(10);

/// Every series named `name` with its labels (as written) and value.
fn series<'a>(exposition: &'a str, name: &str) -> Vec<(&'a str, f64)> {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, number) = line.rsplit_once(' ')?;
            let (series_name, labels) = match series.split_once('{') {
                Some((n, labels)) => (n, labels.trim_end_matches('}')),
                None => (series, ""),
            };
            (series_name == name).then(|| (labels, number.parse().expect("a number")))
        })
        .collect()
}

/// The value of `name` with exactly `labels` (`""` for none); panics when it is absent.
fn value(exposition: &str, name: &str, labels: &str) -> f64 {
    series(exposition, name)
        .into_iter()
        .find(|(l, _)| *l == labels)
        .unwrap_or_else(|| panic!("{name}{{{labels}}} missing from:\n{exposition}"))
        .1
}

async fn get_text(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn get_json(url: &str) -> (u16, Value) {
    let (status, text) = get_text(url).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Waits for the projector's listener: the cluster waits for the two APIs only.
async fn wait_listening(addr: &str) {
    let started = Instant::now();
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(
            started.elapsed() < CATCH_UP_WITHIN,
            "nothing listens on {addr}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An operator with 500 yuan, one site and one app at 10 yuan a player.
async fn arcade(cluster: &Cluster) -> (HeadsetClient, AppId, SiteId) {
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
        json!({"username": "metrics_arcade", "name": "星际体验馆",
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
    (headset, app, site)
}

#[tokio::test]
async fn each_binary_exposes_metrics_that_move_with_traffic_and_readiness_with_its_checks() {
    let projector_addr = format!("127.0.0.1:{}", free_port());
    let cluster = Cluster::start(&[("MR_PROJECTOR_METRICS_ADDR", &projector_addr)]).await;
    let projector = format!("http://{projector_addr}");
    let (headset, app, site) = arcade(&cluster).await;

    let authorized = headset
        .authorize(&headset.new_session_id(), app, site, 5)
        .await;
    assert_eq!(authorized.status, 200, "{}", authorized.raw);

    // command-api: exactly this one authorization, and what it charged.
    let (status, command) = get_text(&format!("{}/metrics", cluster.command)).await;
    assert_eq!(status, 200);
    assert_eq!(
        value(&command, "mr_auth_requests_total", "result=\"ok\""),
        1.0
    );
    assert_eq!(value(&command, "mr_auth_latency_seconds_count", ""), 1.0);
    assert_eq!(value(&command, "mr_revenue_yuan_total", ""), 50.0);

    // query-api: once the projector caught up, the balance is there and the lag is zero.
    let started = Instant::now();
    let query = loop {
        let (status, text) = get_text(&format!("{}/metrics", cluster.query)).await;
        assert_eq!(status, 200);
        let balances: f64 = series(&text, "mr_balance_yuan")
            .iter()
            .map(|(_, v)| v)
            .sum();
        // One scrape measures the lag before it reads the balances, so the projector may
        // land the charge in between: caught up means both agree.
        if balances == 450.0 && value(&text, "mr_projector_lag_events", "") == 0.0 {
            break text;
        }
        assert!(
            started.elapsed() < CATCH_UP_WITHIN,
            "balance not projected:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(value(&query, "mr_projector_lag_events", ""), 0.0);
    assert_eq!(value(&query, "mr_projector_lag_seconds", ""), 0.0);
    assert!(series(&query, "mr_db_oldest_transaction_seconds").len() == 1);

    let (status, ready) = get_json(&format!("{}/health/ready", cluster.query)).await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["status"], "ok", "{ready}");
    assert_eq!(ready["checks"]["database"]["ok"], true);
    assert_eq!(ready["checks"]["redis"]["ok"], true);
    assert_eq!(ready["checks"]["projector_lag"]["ok"], true);
    assert_eq!(ready["checks"]["projector_lag"]["events"], 0);

    // projector: its own listener, the same lag figures, and what it projected.
    wait_listening(&projector_addr).await;
    let (status, figures) = get_text(&format!("{projector}/metrics")).await;
    assert_eq!(status, 200);
    assert_eq!(value(&figures, "mr_projector_lag_events", ""), 0.0);
    assert_eq!(value(&figures, "mr_projector_lag_seconds", ""), 0.0);
    assert!(
        value(&figures, "mr_projector_events_projected_total", "") >= 1.0,
        "{figures}"
    );
    let (status, live) = get_json(&format!("{projector}/health")).await;
    assert_eq!((status, &live["status"]), (200, &json!("ok")));
    let (status, ready) = get_json(&format!("{projector}/health/ready")).await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["checks"]["database"]["ok"], true);
    assert_eq!(ready["checks"]["projector_lag"]["ok"], true);
    let (status, _) = get_json(&format!("{projector}/nowhere")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_transaction_holding_the_projector_back_shows_as_lag_and_makes_it_unready() {
    let projector_addr = format!("127.0.0.1:{}", free_port());
    let cluster = Cluster::start(&[
        ("MR_PROJECTOR_METRICS_ADDR", &projector_addr),
        ("MR_PROJECTOR_LAG_MAX_EVENTS", "0"),
    ])
    .await;
    let (headset, app, site) = arcade(&cluster).await;
    // The projector reads only below the oldest open transaction of its database: while this
    // one is open, the charge below commits but cannot be projected.
    let holder = cluster.db.client().await;
    holder
        .batch_execute("BEGIN; SELECT pg_current_xact_id();")
        .await
        .unwrap();
    let authorized = headset
        .authorize(&headset.new_session_id(), app, site, 5)
        .await;
    assert_eq!(authorized.status, 200, "{}", authorized.raw);

    wait_listening(&projector_addr).await;
    let (status, ready) = get_json(&format!("http://{projector_addr}/health/ready")).await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["checks"]["database"]["ok"], true);
    assert_eq!(ready["checks"]["projector_lag"]["ok"], false);
    assert!(ready["checks"]["projector_lag"]["events"].as_i64().unwrap() >= 1);
    assert_eq!(ready["checks"]["projector_lag"]["limits"]["max_events"], 0);
    assert_eq!(ready["error"]["code"], "SERVICE_UNAVAILABLE");
    let (_, figures) = get_text(&format!("http://{projector_addr}/metrics")).await;
    assert!(value(&figures, "mr_projector_lag_events", "") >= 1.0);
    assert!(value(&figures, "mr_db_oldest_transaction_seconds", "") > 0.0);
    // The query API reports the same lag but stays ready: its reads are still served.
    let (status, ready) = get_json(&format!("{}/health/ready", cluster.query)).await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["status"], "degraded");
    assert_eq!(ready["checks"]["projector_lag"]["ok"], false);

    // Once the transaction ends, the projector catches up and is ready again.
    holder.batch_execute("COMMIT").await.unwrap();
    let started = Instant::now();
    loop {
        let (status, ready) = get_json(&format!("http://{projector_addr}/health/ready")).await;
        if status == 200 {
            assert_eq!(ready["checks"]["projector_lag"]["events"], 0);
            break;
        }
        assert!(
            started.elapsed() < CATCH_UP_WITHIN,
            "still lagging: {ready}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
