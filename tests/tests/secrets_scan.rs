//! No secret anywhere it should not be: the real binaries issue and rotate API credentials,
//! log people in, change passwords and answer bad signatures and bad passwords; then the
//! services' log output, every event's payload and metadata, every error body and the
//! metrics pages are searched for the API secrets, the master key, the JWT key and the passwords used.

use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ledger_core::ids::{AppId, OperatorId, SiteId};
use serde_json::{Value, json};
use tests::cluster::{ADMIN_PASSWORD, Answer, Cluster};
use tests::headset::HeadsetClient;

const MASTER_KEY_BYTES: [u8; 32] = [77u8; 32];
const NEXT_MASTER_KEY_BYTES: [u8; 32] = [78u8; 32];
const JWT_SECRET: &str = "scan-jwt-secret-Zq8vW3nR5tY7uI9oP1aS";
const OPERATOR_PASSWORD: &str = "Scan-Operator-Pass-41";
const NEW_OPERATOR_PASSWORD: &str = "Scan-Changed-Pass-52";
const STAFF_PASSWORD: &str = "Scan-Staff-Pass-63";
const WRONG_PASSWORD: &str = "Scan-Wrong-Guess-74";
const WEAK_PASSWORD: &str = "scanweakpw";

/// Every string value under a key named `secret`, at any depth.
fn secrets_in(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match inner {
                    Value::String(text) if key == "secret" => found.push(text.clone()),
                    _ => secrets_in(inner, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| secrets_in(item, found)),
        _ => {}
    }
}

/// `command-api rotate-master-key` on the cluster's database, from the cluster's key (`k1`)
/// to `next` (`k2`), at debug level.
async fn rotate_master_key(cluster: &Cluster, current: &str, next: &str) -> std::process::Output {
    let exe = std::env::current_exe().unwrap();
    let binary = exe.parent().unwrap().parent().unwrap().join("command-api");
    tokio::process::Command::new(binary)
        .arg("rotate-master-key")
        .env("RUST_LOG", "debug")
        .env("MR_DATABASE_URL", &cluster.db.url)
        .env("MR_MASTER_KEY", next)
        .env("MR_MASTER_KEY_ID", "k2")
        .env("MR_MASTER_KEY_PREVIOUS", format!("k1:{current}"))
        .output()
        .await
        .unwrap()
}

/// What the scenario did and saw: the secrets it learnt and the error bodies it got.
#[derive(Default)]
struct Seen {
    api_secrets: Vec<String>,
    error_bodies: Vec<String>,
    /// Other answers that must not hold secrets (metrics).
    pages: Vec<String>,
}

impl Seen {
    /// Keeps the body of an error, and the API secrets of a success.
    fn note(&mut self, answer: &Answer) {
        if (200..300).contains(&answer.status) {
            secrets_in(&answer.body, &mut self.api_secrets);
        } else {
            self.error_bodies
                .push(String::from_utf8_lossy(&answer.bytes).into_owned());
        }
    }
}

#[tokio::test]
async fn secrets_never_reach_logs_events_or_error_bodies() {
    let logs = std::env::temp_dir().join(format!("mr-secrets-scan-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&logs).unwrap();
    let master_key = STANDARD.encode(MASTER_KEY_BYTES);
    let cluster = Cluster::start_capturing_logs(
        &[
            ("MR_MASTER_KEY", &master_key),
            ("MR_JWT_SECRET", JWT_SECRET),
            // As much log output as there is: what debug logging shows must be safe too.
            ("RUST_LOG", "debug"),
        ],
        &logs,
    )
    .await;
    let mut seen = Seen::default();
    let admin = cluster.admin_token().await;
    let staff = async |seen: &mut Seen, method: &str, path: String, body: Value| {
        let answer = cluster.command(method, &path, &admin, body).await;
        seen.note(&answer);
        answer
    };

    // A game, and an operator created by staff (its credential in the answer).
    let app = staff(
        &mut seen,
        "POST",
        "/api/v1/admin/apps".into(),
        json!({"name": "太空探险", "unit_price": "10.00", "min_players": 1, "max_players": 8}),
    )
    .await
    .ok();
    let app: AppId = app["id"].as_str().unwrap().parse().unwrap();
    let created = staff(
        &mut seen,
        "POST",
        "/api/v1/admin/operators".into(),
        json!({"username": "scan_arcade", "name": "星际体验馆",
               "phone": "13800000000", "email": "a@example.com"}),
    )
    .await
    .ok();
    let operator: OperatorId = created["operator"]["id"].as_str().unwrap().parse().unwrap();
    let site: SiteId = staff(
        &mut seen,
        "POST",
        format!("/api/v1/admin/operators/{operator}/sites"),
        json!({"name": "北京朝阳店", "address": "北京市朝阳区"}),
    )
    .await
    .ok()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    for (path, body) in [
        (
            format!("/api/v1/admin/operators/{operator}/grants"),
            json!({"app_id": app, "expires_at": null}),
        ),
        (
            format!("/api/v1/finance/operators/{operator}/manual-credits"),
            json!({"amount": "500", "reason": "bank transfer"}),
        ),
    ] {
        staff(&mut seen, "POST", path, body).await.ok();
    }

    // Staff rotates the operator's credential; a staff member is created with a password.
    let rotated = staff(
        &mut seen,
        "POST",
        format!("/api/v1/admin/operators/{operator}/credentials/rotate"),
        json!({}),
    )
    .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    staff(
        &mut seen,
        "POST",
        "/api/v1/admin/staff".into(),
        json!({"username": "scan_finance", "name": "财务", "role": "finance_specialist",
               "password": STAFF_PASSWORD}),
    )
    .await
    .ok();
    let staff_login = cluster.login("staff", "scan_finance", STAFF_PASSWORD).await;
    seen.note(&staff_login);
    assert_eq!(staff_login.status, 200, "{}", staff_login.body);

    // An operator registers itself, logs in, rotates its own credential, changes password.
    let register = async |body: Value| {
        let url = format!("{}/api/v1/auth/operator/register", cluster.command);
        cluster.call("POST", &url, None, Some(body)).await
    };
    let registration = json!({"username": "scan_self", "name": "自助体验馆",
        "phone": "13900000000", "email": "b@example.com", "password": OPERATOR_PASSWORD});
    let registered = register(registration.clone()).await;
    seen.note(&registered);
    assert_eq!(registered.status, 201, "{}", registered.body);
    let mut weak = registration;
    weak["username"] = json!("scan_weak");
    weak["password"] = json!(WEAK_PASSWORD);
    let refused = register(weak).await;
    seen.note(&refused);
    assert_eq!(
        refused.status, 400,
        "a weak password is refused: {}",
        refused.body
    );

    let operator_token = cluster
        .token("operator", "scan_self", OPERATOR_PASSWORD)
        .await;
    let own =
        async |path: &str, body: Value| cluster.command("POST", path, &operator_token, body).await;
    let own_rotation = own("/api/v1/operator/credentials/rotate", json!({})).await;
    seen.note(&own_rotation);
    assert_eq!(own_rotation.status, 200, "{}", own_rotation.body);
    let changed = own(
        "/api/v1/auth/password",
        json!({"current_password": OPERATOR_PASSWORD, "new_password": NEW_OPERATOR_PASSWORD}),
    )
    .await;
    seen.note(&changed);
    assert!(changed.status < 300, "{}", changed.body);
    let wrong_current = own(
        "/api/v1/auth/password",
        json!({"current_password": WRONG_PASSWORD, "new_password": "Scan-Never-Set-85"}),
    )
    .await;
    seen.note(&wrong_current);
    assert!(wrong_current.status >= 400, "{}", wrong_current.body);

    // Bad passwords at both doors.
    for (kind, username) in [("staff", "admin"), ("operator", "scan_self")] {
        let refused = cluster.login(kind, username, WRONG_PASSWORD).await;
        seen.note(&refused);
        assert_eq!(refused.status, 401, "{}", refused.body);
    }

    // Headsets: a good authorization with the rotated credential, a signature made with a
    // wrong secret, and the old secret after rotation without overlap.
    let mut credentials = Vec::new();
    for body in [&created, rotated.data()] {
        credentials.push((
            body["credentials"]["key_id"]
                .as_str()
                .or(body["key_id"].as_str())
                .unwrap()
                .to_owned(),
            {
                let mut found = Vec::new();
                secrets_in(body, &mut found);
                found.pop().unwrap()
            },
        ));
    }
    let (current_key, current_secret) = credentials.last().unwrap().clone();
    let headset = HeadsetClient::new(&cluster.command, operator, &current_key, &current_secret);
    let authorized = headset
        .authorize(&headset.new_session_id(), app, site, 2)
        .await;
    assert_eq!(authorized.status, 200, "{}", authorized.raw);
    let wrong_secret = "W".repeat(64);
    let forged = HeadsetClient::new(&cluster.command, operator, &current_key, &wrong_secret);
    let (old_key, old_secret) = credentials[0].clone();
    let retired = HeadsetClient::new(&cluster.command, operator, &old_key, &old_secret);
    for client in [&forged, &retired] {
        let refused = client
            .authorize(&client.new_session_id(), app, site, 2)
            .await;
        assert_eq!(refused.status, 401, "{}", refused.raw);
        seen.error_bodies.push(refused.raw.clone());
    }

    // The secrets learnt: two by staff (issue, rotate), two by the operator itself.
    assert_eq!(seen.api_secrets.len(), 4, "{:?}", seen.api_secrets.len());
    assert!(seen.error_bodies.len() >= 6, "{}", seen.error_bodies.len());
    let mut needles: Vec<(&str, String)> = seen
        .api_secrets
        .iter()
        .map(|secret| ("an API secret", secret.clone()))
        .collect();
    needles.extend([
        ("a wrong API secret", wrong_secret.clone()),
        ("the master key", master_key.clone()),
        ("the JWT key", JWT_SECRET.to_owned()),
        ("the bootstrap admin password", ADMIN_PASSWORD.to_owned()),
        ("a staff password", STAFF_PASSWORD.to_owned()),
        ("an operator password", OPERATOR_PASSWORD.to_owned()),
        ("a changed password", NEW_OPERATOR_PASSWORD.to_owned()),
        ("a wrong password", WRONG_PASSWORD.to_owned()),
        ("a refused password", WEAK_PASSWORD.to_owned()),
    ]);

    // Events: payloads and metadata.
    let events: Vec<String> = cluster
        .db
        .client()
        .await
        .query(
            "SELECT event_type || ' ' || payload::text || ' ' || metadata::text FROM events",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(events.len() >= 10, "{} events", events.len());
    assert!(
        events.iter().any(|event| event.contains(&current_key)),
        "the events searched include the credential ones"
    );

    // Metrics of both APIs.
    for base in [&cluster.command, &cluster.query] {
        let metrics = cluster
            .call("GET", &format!("{base}/metrics"), None, None)
            .await;
        assert_eq!(metrics.status, 200, "{base}/metrics");
        seen.pages
            .push(String::from_utf8_lossy(&metrics.bytes).into_owned());
    }

    // A master-key rotation by the real binary: its output is searched too, for both keys.
    let next_key = STANDARD.encode(NEXT_MASTER_KEY_BYTES);
    let rotation = rotate_master_key(&cluster, &master_key, &next_key).await;
    let report: Value = serde_json::from_slice(&rotation.stdout).unwrap_or(Value::Null);
    assert!(rotation.status.success(), "{rotation:?}");
    assert_eq!(report["resealed"], 4, "{report}");
    needles.push(("the next master key", next_key));

    // Logs: give the services a moment to flush what they wrote about the last requests.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let log_files: Vec<(PathBuf, String)> = ["command-api", "projector", "query-api"]
        .iter()
        .map(|name| {
            let path = logs.join(format!("{name}.log"));
            let text = std::fs::read_to_string(&path).unwrap();
            (path, text)
        })
        .chain([(
            PathBuf::from("command-api rotate-master-key"),
            format!(
                "{}{}",
                String::from_utf8_lossy(&rotation.stdout),
                String::from_utf8_lossy(&rotation.stderr)
            ),
        )])
        .collect();
    // At debug level the database driver logs every statement's parameters: the search
    // covers everything the command API hands to PostgreSQL, the public key ids included.
    let command_log = &log_files[0].1;
    assert!(
        command_log.contains(&current_key),
        "the command API's log is captured at debug level: {} lines",
        command_log.lines().count()
    );

    let mut leaks = Vec::new();
    for (what, needle) in &needles {
        for (path, text) in &log_files {
            if text.contains(needle.as_str()) {
                leaks.push(format!("{what} in {}", path.display()));
            }
        }
        for event in events.iter().filter(|e| e.contains(needle.as_str())) {
            leaks.push(format!("{what} in event {}", &event[..event.len().min(80)]));
        }
        for body in seen
            .error_bodies
            .iter()
            .filter(|b| b.contains(needle.as_str()))
        {
            leaks.push(format!("{what} in error body {body}"));
        }
        if seen.pages.iter().any(|page| page.contains(needle.as_str())) {
            leaks.push(format!("{what} in /metrics"));
        }
    }
    assert!(leaks.is_empty(), "secrets found:\n{}", leaks.join("\n"));
    let _ = std::fs::remove_dir_all(&logs);
}
