//! The query API on a streaming replica: reads are served by the replica, a command's
//! position token (`X-Ledger-Position` → `X-Ledger-Min-Position`) reads the caller's own write
//! even while the replica is behind, the replication lag shows in readiness and metrics, and
//! a replica too far behind sends reads back to the primary.
//!
//! A private primary ([`PgCluster`]) and a replica of it made with `pg_basebackup -R`; the
//! replica is held behind with `pg_wal_replay_pause()`, so what the primary path serves is
//! something the replica cannot have.

use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tests::cluster::Cluster;
use tests::db::TestDb;
use tests::load::Arcade;
use tests::pg_cluster::PgCluster;
use tokio_postgres::NoTls;

/// Shared Redis of the tests (each cluster publishes on a channel of its own).
const REDIS_URL: &str = "redis://127.0.0.1:6379";
/// Replication lag beyond which reads leave the replica, in this test: far above what one
/// command writes, far below what the filler below writes.
const LAG_MAX_BYTES: i64 = 1024 * 1024;
/// WAL the filler writes while replay is paused (well beyond [`LAG_MAX_BYTES`]).
const FILLER_ROWS: i64 = 200_000;
/// How long a token waits for the projection here.
const CONSISTENCY_WAIT_MS: u64 = 1_500;
/// Longest wait for the replica or the lag watcher to reach a state.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(50);
/// Reads timed with and without a token.
const TIMED_READS: usize = 200;

struct Read {
    status: u16,
    served_by: String,
    body: Value,
    headers: HeaderMap,
}

impl Read {
    fn balance(&self) -> Decimal {
        self.body["data"]["balance"]
            .as_str()
            .unwrap_or_else(|| panic!("no balance: {} {}", self.status, self.body))
            .parse()
            .unwrap()
    }
}

async fn read(cluster: &Cluster, path: &str, token: &str, position: Option<&str>) -> Read {
    let mut request = cluster
        .http
        .get(format!("{}{path}", cluster.query))
        .bearer_auth(token);
    if let Some(position) = position {
        request = request.header("X-Ledger-Min-Position", position);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let served_by = headers
        .get("x-ledger-served-by")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.json().await.unwrap_or(Value::Null);
    Read {
        status,
        served_by,
        body,
        headers,
    }
}

async fn readiness(cluster: &Cluster) -> Value {
    let url = format!("{}/health/ready", cluster.query);
    cluster
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The value of a gauge in the query API's `/metrics`.
async fn gauge(cluster: &Cluster, name: &str) -> f64 {
    let url = format!("{}/metrics", cluster.query);
    let text = cluster
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} missing from /metrics"))
        .trim()
        .parse()
        .unwrap()
}

/// Polls `check` until it holds; panics with `what` after [`SETTLE_TIMEOUT`].
async fn until<F: AsyncFn() -> bool>(what: &str, check: F) {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "{what} within {SETTLE_TIMEOUT:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// A credit of `amount` through the command API; returns its position token.
async fn credit(cluster: &Cluster, admin: &str, arcade: &Arcade, amount: &str) -> String {
    let url = format!(
        "{}/api/v1/finance/operators/{}/manual-credits",
        cluster.command, arcade.operator
    );
    let response = cluster
        .http
        .post(url)
        .bearer_auth(admin)
        .json(&json!({ "amount": amount, "reason": "bank transfer" }))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let token = response
        .headers()
        .get("x-ledger-position")
        .expect("a command that appended answers X-Ledger-Position")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        token.parse::<u64>().is_ok(),
        "X-Ledger-Position is a decimal xid8: {token:?}"
    );
    token
}

/// Data rows of a CSV export (header excluded).
async fn csv_rows(cluster: &Cluster, path: &str, token: &str, position: Option<&str>) -> usize {
    let mut request = cluster
        .http
        .get(format!("{}{path}", cluster.query))
        .bearer_auth(token);
    if let Some(position) = position {
        request = request.header("X-Ledger-Min-Position", position);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .count()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::test]
async fn reads_follow_the_replica_and_a_position_token_reads_your_own_write() {
    let primary = PgCluster::start().await;
    let replica = PgCluster::start_replica_of(&primary).await;
    let db = TestDb::on_server(primary.url()).await;
    let replica_url = format!("{}/{}", replica.url(), db.name);
    let lag_max_bytes = LAG_MAX_BYTES.to_string();
    let wait = CONSISTENCY_WAIT_MS.to_string();
    let cluster = Cluster::start_on(
        db,
        REDIS_URL,
        &[
            ("MR_QUERY_REPLICA_URL", replica_url.as_str()),
            ("MR_QUERY_REPLICA_LAG_MAX_BYTES", lag_max_bytes.as_str()),
            // Only bytes decide here: the paused replica's age grows with the test's own pace.
            ("MR_QUERY_REPLICA_LAG_MAX_SECONDS", "3600"),
            ("MR_QUERY_CONSISTENCY_WAIT_MS", wait.as_str()),
        ],
    )
    .await;
    let admin = cluster.admin_token().await;
    let arcade = Arcade::open(&cluster).await;
    let balance_path = format!("/api/v1/admin/operators/{}/balance", arcade.operator);
    let replica_admin = connect(&format!("{}/postgres", replica.url())).await;
    let primary_admin = connect(&format!("{}/postgres", primary.url())).await;

    // Reads go to the replica once it has the database and its lag was measured.
    until("reads served by the replica", async || {
        read(&cluster, &balance_path, &admin, None).await.served_by == "replica"
    })
    .await;
    let ledger = cluster.db.client().await;

    // A token the replica has applied is served by the replica: one extra query.
    let token = credit(&cluster, &admin, &arcade, "5.00").await;
    until("the replica applies the credit", async || {
        let answer = read(&cluster, &balance_path, &admin, Some(&token)).await;
        answer.status == 200 && answer.served_by == "replica"
    })
    .await;
    let mut plain = Vec::new();
    let mut with_token = Vec::new();
    for _ in 0..TIMED_READS {
        let started = Instant::now();
        let answer = read(&cluster, &balance_path, &admin, None).await;
        plain.push(started.elapsed());
        assert_eq!(answer.served_by, "replica");
        let started = Instant::now();
        let answer = read(&cluster, &balance_path, &admin, Some(&token)).await;
        with_token.push(started.elapsed());
        assert_eq!(answer.served_by, "replica");
    }
    eprintln!(
        "\n== read-your-writes cost ==\nmedian read without a token {} µs, with a token the \
         replica has applied {} µs ({TIMED_READS} reads each)\n",
        median(plain).as_micros(),
        median(with_token).as_micros()
    );

    // The replica stops replaying: a new write is only on the primary.
    replica_admin
        .execute("SELECT pg_wal_replay_pause()", &[])
        .await
        .unwrap();
    until("replay paused", async || {
        let row = replica_admin
            .query_one("SELECT pg_get_wal_replay_pause_state()", &[])
            .await
            .unwrap();
        row.get::<_, String>(0) == "paused"
    })
    .await;
    // The replica has applied the last token and nothing was written since.
    let before = tests::load::ledger_books(&ledger, arcade.operator)
        .await
        .balance;
    assert_eq!(
        read(&cluster, &balance_path, &admin, None).await.balance(),
        before
    );
    let token = credit(&cluster, &admin, &arcade, "7.00").await;

    // With the token: served by the primary, and the write is there.
    let own = read(&cluster, &balance_path, &admin, Some(&token)).await;
    assert_eq!(
        (own.status, own.served_by.as_str()),
        (200, "primary"),
        "{}",
        own.body
    );
    assert_eq!(own.balance(), before + Decimal::new(700, 2));
    // Without it: the replica, which cannot have it yet.
    let stale = read(&cluster, &balance_path, &admin, None).await;
    assert_eq!(stale.served_by, "replica");
    assert_eq!(stale.balance(), before);

    // A streamed export keeps its request's route for every batch, read after the handler
    // returned: with the token, the three credits; without, the replica's two.
    let export = format!(
        "/api/v1/admin/operators/{}/transactions/export",
        arcade.operator
    );
    assert_eq!(csv_rows(&cluster, &export, &admin, Some(&token)).await, 3);
    assert_eq!(csv_rows(&cluster, &export, &admin, None).await, 2);

    // The lag shows while replay is paused.
    let ready = readiness(&cluster).await;
    let lag = &ready["checks"]["replica"];
    assert!(lag["bytes"].as_i64().unwrap() > 0, "{ready}");
    assert!(lag["seconds"].as_f64().unwrap() > 0.0, "{ready}");
    assert_eq!(lag["ok"], true, "{ready}");
    assert!(gauge(&cluster, "mr_replica_lag_bytes").await > 0.0);
    assert!(gauge(&cluster, "mr_replica_lag_seconds").await > 0.0);

    // Beyond the limit, reads fall back to the primary and readiness says so (still 200).
    primary_admin
        .batch_execute(&format!(
            "CREATE TABLE filler AS SELECT g, repeat('x', 20) AS t FROM generate_series(1, {FILLER_ROWS}) g"
        ))
        .await
        .unwrap();
    until("reads fall back to the primary", async || {
        read(&cluster, &balance_path, &admin, None).await.served_by == "primary"
    })
    .await;
    let fallback = read(&cluster, &balance_path, &admin, None).await;
    assert_eq!(fallback.balance(), before + Decimal::new(700, 2));
    let ready = readiness(&cluster).await;
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert_eq!(ready["checks"]["replica"]["ok"], false, "{ready}");
    assert_eq!(
        ready["checks"]["replica"]["reads_served_by"], "primary",
        "{ready}"
    );
    assert!(ready["checks"]["replica"]["bytes"].as_i64().unwrap() > LAG_MAX_BYTES);

    // Replay resumes: the lag returns to 0 and reads return to the replica.
    replica_admin
        .execute("SELECT pg_wal_replay_resume()", &[])
        .await
        .unwrap();
    until("the lag returns to 0 in readiness", async || {
        let ready = readiness(&cluster).await;
        let lag = &ready["checks"]["replica"];
        lag["bytes"] == 0 && lag["seconds"] == 0.0 && ready["status"] == "ok"
    })
    .await;
    until("the lag returns to 0 in the metrics", async || {
        gauge(&cluster, "mr_replica_lag_bytes").await == 0.0
            && gauge(&cluster, "mr_replica_lag_seconds").await == 0.0
    })
    .await;
    until("reads back on the replica with the token", async || {
        let answer = read(&cluster, &balance_path, &admin, Some(&token)).await;
        answer.status == 200 && answer.served_by == "replica"
    })
    .await;
    let back = read(&cluster, &balance_path, &admin, Some(&token)).await;
    assert_eq!(back.balance(), before + Decimal::new(700, 2));
}

#[tokio::test]
async fn a_malformed_token_is_refused_and_an_unreached_one_answers_503() {
    let cluster = Cluster::start(&[("MR_QUERY_CONSISTENCY_WAIT_MS", "300")]).await;
    let admin = cluster.admin_token().await;
    let arcade = Arcade::open(&cluster).await;
    let path = format!("/api/v1/admin/operators/{}/balance", arcade.operator);

    for bad in ["abc", "-1", "1.5", "0x10", "99999999999999999999999"] {
        let answer = read(&cluster, &path, &admin, Some(bad)).await;
        assert_eq!(answer.status, 400, "{bad:?}: {}", answer.body);
        assert_eq!(answer.body["error_code"], "INVALID_POSITION", "{bad:?}");
    }

    // Without a replica the token is honoured against the primary's projection.
    let token = credit(&cluster, &admin, &arcade, "3.00").await;
    let own = read(&cluster, &path, &admin, Some(&token)).await;
    assert_eq!(
        (own.status, own.served_by.as_str()),
        (200, "primary"),
        "{}",
        own.body
    );
    let client = cluster.db.client().await;
    let ledger = tests::load::ledger_books(&client, arcade.operator).await;
    assert_eq!(own.balance(), ledger.balance);

    // A transaction the projection has not applied (here: not even started) waits, then 503.
    let future = (token.parse::<u64>().unwrap() + 1_000_000).to_string();
    let started = Instant::now();
    let answer = read(&cluster, &path, &admin, Some(&future)).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.body["error_code"], "POSITION_NOT_REACHED");
    assert_eq!(answer.body["details"]["position"], future);
    assert_eq!(
        answer
            .headers
            .get("retry-after")
            .map(|v| v.to_str().unwrap()),
        Some("1")
    );
}
