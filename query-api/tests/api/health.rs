use std::time::Instant;

use query_api::{Secret, Settings};
use tests::db::TestDb;

use crate::helpers::{SECRET, TestApp};

#[tokio::test]
async fn health_and_readiness_are_ok_with_a_database() {
    let app = TestApp::spawn().await;
    let live = app.get_with("/health", None, &[]).await;
    assert_eq!(
        (live.status, live.body["status"].as_str()),
        (200, Some("ok"))
    );
    let ready = app.get_with("/health/ready", None, &[]).await;
    assert_eq!(
        (ready.status, ready.body["status"].as_str()),
        (200, Some("ok"))
    );
}

#[tokio::test]
async fn without_a_database_readiness_and_reads_answer_503_within_the_bounded_wait() {
    let db = TestDb::new().await;
    // Nothing listens on port 1: every connection attempt fails.
    let mut settings = Settings::new(
        "postgres://postgres@127.0.0.1:1/nowhere",
        Secret::new(SECRET),
    );
    settings.db_connect_timeout_ms = 500;
    settings.db_wait_timeout_ms = 500;
    let app = TestApp::spawn_with(db, settings).await;

    let started = Instant::now();
    app.get_with("/health/ready", None, &[])
        .await
        .assert_error(503, "SERVICE_UNAVAILABLE");
    app.get("/api/v1/admin/operators")
        .await
        .assert_error(503, "SERVICE_UNAVAILABLE");
    assert!(
        started.elapsed().as_secs() < 5,
        "took {:?}",
        started.elapsed()
    );
    // Liveness does not depend on the database.
    assert_eq!(app.get_with("/health", None, &[]).await.status, 200);
}

#[tokio::test]
async fn run_serves_until_its_shutdown_future_completes() {
    let db = TestDb::new().await;
    let mut settings = Settings::new(db.url.clone(), Secret::new(SECRET));
    settings.http_workers = 1;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/health/ready", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(query_api::run(listener, settings, async {
        let _ = stopped.await;
    }));

    let reply = reqwest::get(&url).await.unwrap();
    assert_eq!(reply.status().as_u16(), 200);

    stop.send(()).unwrap();
    let result = tokio::time::timeout(std::time::Duration::from_secs(10), server).await;
    assert!(matches!(result, Ok(Ok(Ok(())))), "{result:?}");
    assert!(
        reqwest::get(&url).await.is_err(),
        "still serving after shutdown"
    );
}

/// A failover set-up gives every service all the database hosts and asks for the writable one
/// (`target_session_attrs=read-write`): the read pool must still connect (its sessions turn
/// read only once open, not at start-up, where they would fail that check on every host).
#[tokio::test]
async fn reads_work_through_a_multi_host_url_asking_for_the_writable_host() {
    let db = TestDb::new().await;
    // Nothing listens on port 1 (a dead node listed first); the real server comes second.
    let (scheme_user, rest) = db.url.split_once('@').unwrap();
    let url = format!("{scheme_user}@127.0.0.1:1,{rest}?target_session_attrs=read-write");
    let mut settings = Settings::new(url, Secret::new(SECRET));
    settings.db_connect_timeout_ms = 2_000;
    let app = TestApp::spawn_with(db, settings).await;

    let ready = app.get_with("/health/ready", None, &[]).await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    let list = app.get("/api/v1/admin/operators").await;
    assert_eq!(list.status, 200, "{}", list.body);
}
