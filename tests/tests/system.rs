//! System test: the real binaries (`command-api`, `projector`, `query-api`) started the way
//! `make run` starts them, on a fresh database; a signed authorize over HTTP; the new balance
//! visible in the query API within one second.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use ledger_core::ids::{AppId, OperatorId, SiteId};
use serde_json::{Value, json};
use tests::db::TestDb;
use tests::headset::HeadsetClient;

/// Longest wait for a service to report ready.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// The product's promise: a charge is visible on the read side within a second.
const READ_YOUR_CHARGE_WITHIN: Duration = Duration::from_secs(1);

/// Binaries are built next to this test's executable (`target/<profile>/`).
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} missing: run `cargo build --workspace --bins` first (make test does)",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when the test ends, however it ends.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(name: &str, args: &[&str], env: &[(&str, String)]) -> Service {
    let mut command = Command::new(binary(name));
    command
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .env("RUST_LOG", "warn");
    for (key, value) in env {
        command.env(key, value);
    }
    Service(
        command
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}")),
    )
}

async fn wait_ready(http: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(r) = http.get(format!("{base}/health/ready")).send().await
            && r.status().is_success()
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{base} not ready within {START_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn post(http: &reqwest::Client, url: String, token: &str, body: Value) -> Value {
    let response = http
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body["data"].clone()
}

#[tokio::test]
async fn real_binaries_charge_a_signed_game_and_show_the_balance_within_a_second() {
    let db = TestDb::new().await;
    let (command_port, query_port) = (free_port(), free_port());
    let env = vec![
        ("MR_DATABASE_URL", db.url.clone()),
        (
            "MR_MASTER_KEY",
            base64::engine::general_purpose::STANDARD.encode([9u8; 32]),
        ),
        (
            "MR_JWT_SECRET",
            "system-test-jwt-secret-0123456789abcdef".to_owned(),
        ),
        ("MR_BOOTSTRAP_ADMIN_USERNAME", "admin".to_owned()),
        (
            "MR_BOOTSTRAP_ADMIN_PASSWORD",
            "system-test-password".to_owned(),
        ),
        ("MR_COMMAND_HTTP_ADDR", format!("127.0.0.1:{command_port}")),
        ("MR_QUERY_HTTP_ADDR", format!("127.0.0.1:{query_port}")),
    ];
    let _command = start("command-api", &["serve"], &env);
    let _projector = start("projector", &["run"], &env);
    let _query = start("query-api", &["serve"], &env);
    let (command, query) = (
        format!("http://127.0.0.1:{command_port}"),
        format!("http://127.0.0.1:{query_port}"),
    );
    let http = reqwest::Client::new();
    wait_ready(&http, &command).await;
    wait_ready(&http, &query).await;

    let login: Value = http
        .post(format!("{command}/api/v1/auth/staff/login"))
        .json(&json!({"username": "admin", "password": "system-test-password"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["data"]["access_token"]
        .as_str()
        .expect("bootstrap admin logs in")
        .to_owned();
    let app = post(
        &http,
        format!("{command}/api/v1/admin/apps"),
        &token,
        json!({"name": "太空探险", "unit_price": "10.00", "min_players": 2, "max_players": 8}),
    )
    .await;
    let app: AppId = app["id"].as_str().unwrap().parse().unwrap();
    let created = post(&http, format!("{command}/api/v1/admin/operators"), &token,
        json!({"username": "system_arcade", "name": "星际体验馆", "phone": "13800000000", "email": "a@example.com"})).await;
    let operator: OperatorId = created["operator"]["id"].as_str().unwrap().parse().unwrap();
    let site = post(
        &http,
        format!("{command}/api/v1/admin/operators/{operator}/sites"),
        &token,
        json!({"name": "北京朝阳店", "address": "北京市朝阳区"}),
    )
    .await;
    let site: SiteId = site["id"].as_str().unwrap().parse().unwrap();
    post(
        &http,
        format!("{command}/api/v1/admin/operators/{operator}/grants"),
        &token,
        json!({"app_id": app, "expires_at": null}),
    )
    .await;
    post(
        &http,
        format!("{command}/api/v1/finance/operators/{operator}/manual-credits"),
        &token,
        json!({"amount": "500", "reason": "bank transfer"}),
    )
    .await;

    let headset = HeadsetClient::new(
        &command,
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
        let response = http
            .get(format!("{query}/api/v1/admin/operators/{operator}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        if response.status().is_success() {
            let body: Value = response.json().await.unwrap();
            if body["data"]["balance"] == "450.00" {
                break;
            }
        }
        assert!(
            charged_at.elapsed() < READ_YOUR_CHARGE_WITHIN,
            "balance not visible in query-api within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
