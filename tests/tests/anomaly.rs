//! System test of anomaly locking (PRODUCT.md X2) against the real binaries, with the
//! product's default thresholds: more than 20 failed signatures from one IP in 5 minutes, or
//! more than 5 distinct unknown or failing key ids in 1 minute, block the IP and lock the
//! operators whose real keys failed; successes never count; trusted networks are never
//! blocked. Client IPs are simulated with `X-Forwarded-For` from the test process, which the
//! cluster trusts as a proxy (`MR_TRUSTED_PROXIES`).

use std::time::{Duration, Instant};

use ledger_core::ids::{AppId, OperatorId, SiteId};
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};
use tests::cluster::{Answer, Cluster};
use tests::headset::HeadsetClient;
use tests::headset_grpc::{GrpcHeadsetClient, error_code};

/// The test process reaches the services from loopback: it is the "proxy" whose
/// `X-Forwarded-For` names the client.
const SETTINGS: &[(&str, &str)] = &[
    ("MR_TRUSTED_PROXIES", "127.0.0.1/32,::1/128"),
    ("MR_ANOMALY_TRUSTED_NETWORKS", "203.0.113.0/24"),
];

/// PRODUCT.md X2: operators are locked within one minute of the trip.
const LOCK_DEADLINE: Duration = Duration::from_secs(60);

/// One operator with a site, a granted app and money: what a healthy headset server needs.
struct Arcade {
    operator: OperatorId,
    key_id: String,
    secret: String,
    site: SiteId,
    app: AppId,
}

impl Arcade {
    /// A headset client of this arcade as seen from `ip`; `secret` overrides the real one.
    fn client(&self, cluster: &Cluster, ip: &str, secret: Option<&str>) -> HeadsetClient {
        let mut client = HeadsetClient::new(
            &cluster.command,
            self.operator,
            &self.key_id,
            secret.unwrap_or(&self.secret),
        );
        client.http = from_ip(ip);
        client
    }
}

/// An HTTP client whose requests the service takes as coming from `ip`.
fn from_ip(ip: &str) -> reqwest::Client {
    let mut headers = HeaderMap::new();
    headers.insert("X-Forwarded-For", HeaderValue::from_str(ip).unwrap());
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

async fn post(cluster: &Cluster, token: &str, path: &str, body: Value) -> Value {
    cluster.command("POST", path, token, body).await.ok()
}

async fn new_app(cluster: &Cluster, token: &str) -> AppId {
    let app = post(
        cluster,
        token,
        "/api/v1/admin/apps",
        json!({"name": "太空探险", "unit_price": "1.00", "min_players": 1, "max_players": 8}),
    )
    .await;
    app["id"].as_str().unwrap().parse().unwrap()
}

async fn new_arcade(cluster: &Cluster, token: &str, app: AppId, username: &str) -> Arcade {
    let created = post(
        cluster,
        token,
        "/api/v1/admin/operators",
        json!({"username": username, "name": "星际体验馆",
               "phone": "13800000000", "email": "a@example.com"}),
    )
    .await;
    let operator: OperatorId = created["operator"]["id"].as_str().unwrap().parse().unwrap();
    let site = post(
        cluster,
        token,
        &format!("/api/v1/admin/operators/{operator}/sites"),
        json!({"name": "北京朝阳店", "address": "北京市朝阳区"}),
    )
    .await;
    post(
        cluster,
        token,
        &format!("/api/v1/admin/operators/{operator}/grants"),
        json!({"app_id": app, "expires_at": null}),
    )
    .await;
    post(
        cluster,
        token,
        &format!("/api/v1/finance/operators/{operator}/manual-credits"),
        json!({"amount": "1000", "reason": "bank transfer"}),
    )
    .await;
    Arcade {
        operator,
        key_id: created["credentials"]["key_id"]
            .as_str()
            .unwrap()
            .to_owned(),
        secret: created["credentials"]["secret"]
            .as_str()
            .unwrap()
            .to_owned(),
        site: site["id"].as_str().unwrap().parse().unwrap(),
        app,
    }
}

/// A good authorization of one player: its error code (`""` on success).
async fn authorize(client: &HeadsetClient, arcade: &Arcade) -> String {
    let reply = client
        .authorize(&client.new_session_id(), arcade.app, arcade.site, 1)
        .await;
    reply.error_code().to_owned()
}

/// A request signed with the wrong secret: it must answer `INVALID_SIGNATURE`.
async fn bad_signature(client: &HeadsetClient) {
    let reply = client.config().await;
    assert_eq!(reply.error_code(), "INVALID_SIGNATURE", "{}", reply.raw);
}

/// The reasons of the operator's `OperatorLocked` events, oldest first.
async fn lock_reasons(cluster: &Cluster, operator: OperatorId) -> Vec<String> {
    let client = cluster.db.client().await;
    client
        .query(
            "SELECT payload FROM events WHERE aggregate_type = 'Operator' \
             AND aggregate_id = $1 AND event_type = 'OperatorLocked' ORDER BY sequence",
            &[&operator.to_string()],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| {
            let payload: Value = row.get(0);
            payload["OperatorLocked"]["reason"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// Polls until the operator has an automatic lock, and returns its reason.
async fn await_anomaly_lock(cluster: &Cluster, operator: OperatorId, since: Instant) -> String {
    loop {
        if let Some(reason) = lock_reasons(cluster, operator).await.pop() {
            return reason;
        }
        assert!(
            since.elapsed() < LOCK_DEADLINE,
            "operator {operator} not locked within {LOCK_DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn admin_get(cluster: &Cluster, token: &str, path: &str) -> Answer {
    let url = format!("{}{path}", cluster.command);
    cluster.call("GET", &url, Some(token), None).await
}

/// Polls the admins' alert list until an alert names `ip`.
async fn await_alert(cluster: &Cluster, token: &str, ip: &str) -> Value {
    let deadline = Instant::now() + LOCK_DEADLINE;
    loop {
        let alerts = admin_get(cluster, token, "/api/v1/admin/security/alerts")
            .await
            .ok();
        if let Some(alert) = alerts["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["source_ip"] == ip)
        {
            return alert.clone();
        }
        assert!(Instant::now() < deadline, "no alert for {ip}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn blocked_ips(cluster: &Cluster, token: &str) -> Vec<String> {
    let blocks = admin_get(cluster, token, "/api/v1/admin/security/ip-blocks")
        .await
        .ok();
    blocks["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["ip"].as_str().unwrap().to_owned())
        .collect()
}

async fn metric(cluster: &Cluster, name: &str) -> u64 {
    let url = format!("{}/metrics", cluster.command);
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn twenty_one_bad_signatures_block_the_ip_and_lock_the_operator_until_an_admin_frees_both() {
    let cluster = Cluster::start(SETTINGS).await;
    let token = cluster.admin_token().await;
    let app = new_app(&cluster, &token).await;
    let a = new_arcade(&cluster, &token, app, "anomaly_a").await;
    let (attacker, elsewhere) = ("198.51.100.7", "192.0.2.50");
    let forged = a.client(&cluster, attacker, Some("not-the-secret"));
    let good_from_attacker_ip = a.client(&cluster, attacker, None);
    let good_elsewhere = a.client(&cluster, elsewhere, None);

    for _ in 0..20 {
        bad_signature(&forged).await;
    }
    assert_eq!(
        authorize(&good_from_attacker_ip, &a).await,
        "",
        "20 failures are tolerated"
    );
    assert!(lock_reasons(&cluster, a.operator).await.is_empty());

    bad_signature(&forged).await;
    let tripped_at = Instant::now();
    let reason = await_anomaly_lock(&cluster, a.operator, tripped_at).await;
    let lock_latency = tripped_at.elapsed();
    println!("time from the 21st failed signature to the operator's lock: {lock_latency:?}");
    assert!(lock_latency <= LOCK_DEADLINE);
    assert!(reason.starts_with("automatic anomaly lock"), "{reason}");
    assert!(
        reason.contains(attacker) && reason.contains("21 failed signatures"),
        "{reason}"
    );

    // The read side shows the lock and its reason (the projector takes the system actor).
    let operator_path = format!("/api/v1/admin/operators/{}", a.operator);
    let shown = cluster
        .query_until(&operator_path, &token, |op| {
            op.to_string().contains("automatic anomaly lock")
        })
        .await;
    assert!(shown.to_string().contains("locked"), "{shown}");

    // The IP is refused whatever it sends, with the time to come back.
    let refused = good_from_attacker_ip
        .authorize(&good_from_attacker_ip.new_session_id(), a.app, a.site, 1)
        .await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.error_code(), "RATE_LIMIT_EXCEEDED");
    assert_eq!(
        refused.body["details"]["reason"], "ip_blocked",
        "{}",
        refused.raw
    );
    let retry_after: u64 = refused.retry_after.as_deref().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    // The operator is locked from everywhere.
    assert_eq!(authorize(&good_elsewhere, &a).await, "ACCOUNT_LOCKED");

    let alert = await_alert(&cluster, &token, attacker).await;
    assert_eq!(alert["ip_blocked"], true);
    assert_eq!(alert["failed_signatures"], 21);
    assert_eq!(alert["locked_operators"], json!([a.operator]));
    assert_eq!(
        blocked_ips(&cluster, &token).await,
        vec![attacker.to_owned()]
    );
    assert!(metric(&cluster, "mr_anomaly_blocks_total").await >= 1);
    assert!(metric(&cluster, "mr_anomaly_locks_total").await >= 1);

    // An admin unlocks the operator and unblocks the IP: the arcade works again from there.
    post(
        &cluster,
        &token,
        &format!("/api/v1/admin/operators/{}/unlock", a.operator),
        json!({}),
    )
    .await;
    let unblocked = post(
        &cluster,
        &token,
        &format!("/api/v1/admin/security/ip-blocks/{attacker}/unblock"),
        json!({}),
    )
    .await;
    assert_eq!(unblocked["was_blocked"], true);
    assert!(blocked_ips(&cluster, &token).await.is_empty());
    assert_eq!(authorize(&good_from_attacker_ip, &a).await, "");
    assert_eq!(authorize(&good_elsewhere, &a).await, "");
}

#[tokio::test]
async fn six_distinct_unknown_key_ids_in_a_minute_block_the_ip_and_lock_no_one() {
    let cluster = Cluster::start(SETTINGS).await;
    let token = cluster.admin_token().await;
    let app = new_app(&cluster, &token).await;
    let a = new_arcade(&cluster, &token, app, "anomaly_keys").await;
    let scanner = "198.51.100.66";
    for n in 0..6 {
        let mut probe = a.client(&cluster, scanner, None);
        probe.key_id = format!("mrk_guessed_{n}");
        // The same unknown key again is no new distinct key id: five keys never trip.
        let tries = if n < 5 { 2 } else { 1 };
        for _ in 0..tries {
            assert_eq!(probe.config().await.error_code(), "INVALID_API_KEY");
        }
    }
    let refused = a.client(&cluster, scanner, None).config().await;
    assert_eq!(
        refused.error_code(),
        "RATE_LIMIT_EXCEEDED",
        "{}",
        refused.raw
    );
    assert_eq!(
        refused.body["details"]["reason"], "ip_blocked",
        "{}",
        refused.raw
    );
    let alert = await_alert(&cluster, &token, scanner).await;
    assert_eq!(alert["distinct_key_ids"], 6);
    assert_eq!(alert["locked_operators"], json!([]));
    assert!(lock_reasons(&cluster, a.operator).await.is_empty());
    assert_eq!(
        authorize(&a.client(&cluster, "192.0.2.9", None), &a).await,
        ""
    );
}

#[tokio::test]
async fn a_nat_with_twenty_failures_among_two_hundred_good_requests_is_never_blocked() {
    let cluster = Cluster::start(SETTINGS).await;
    let token = cluster.admin_token().await;
    let app = new_app(&cluster, &token).await;
    let arcades = [
        new_arcade(&cluster, &token, app, "nat_a").await,
        new_arcade(&cluster, &token, app, "nat_b").await,
        new_arcade(&cluster, &token, app, "nat_c").await,
    ];
    let nat = "198.51.100.200";
    let good: Vec<HeadsetClient> = arcades
        .iter()
        .map(|a| a.client(&cluster, nat, None))
        .collect();
    let misconfigured = arcades[0].client(&cluster, nat, Some("an-old-secret"));
    for n in 0..200 {
        let i = n % arcades.len();
        assert_eq!(authorize(&good[i], &arcades[i]).await, "", "request {n}");
        if n % 10 == 0 {
            bad_signature(&misconfigured).await;
        }
    }
    assert_eq!(authorize(&good[1], &arcades[1]).await, "");
    assert!(blocked_ips(&cluster, &token).await.is_empty());
    for arcade in &arcades {
        assert!(lock_reasons(&cluster, arcade.operator).await.is_empty());
    }
    let alerts = admin_get(&cluster, &token, "/api/v1/admin/security/alerts")
        .await
        .ok();
    assert_eq!(alerts["items"], json!([]));
}

/// The trusted list exempts the IP block only: an arcade chain's own egress is never cut
/// off, but an operator whose key is misused from there is still locked.
#[tokio::test]
async fn a_trusted_network_is_never_blocked_but_the_misused_operator_is_still_locked() {
    let cluster = Cluster::start(SETTINGS).await;
    let token = cluster.admin_token().await;
    let app = new_app(&cluster, &token).await;
    let a = new_arcade(&cluster, &token, app, "trusted_a").await;
    let b = new_arcade(&cluster, &token, app, "trusted_b").await;
    let egress = "203.0.113.10";
    let forged = a.client(&cluster, egress, Some("not-the-secret"));
    for _ in 0..21 {
        bad_signature(&forged).await;
    }
    let reason = await_anomaly_lock(&cluster, a.operator, Instant::now()).await;
    assert!(reason.contains(egress), "{reason}");
    let alert = await_alert(&cluster, &token, egress).await;
    assert_eq!(alert["ip_blocked"], false);
    assert!(blocked_ips(&cluster, &token).await.is_empty());
    assert_eq!(authorize(&b.client(&cluster, egress, None), &b).await, "");
    bad_signature(&forged).await;
}

#[tokio::test]
async fn grpc_failures_count_and_a_blocked_ip_is_refused_over_grpc() {
    let cluster = Cluster::start(SETTINGS).await;
    let token = cluster.admin_token().await;
    let app = new_app(&cluster, &token).await;
    let a = new_arcade(&cluster, &token, app, "grpc_anomaly").await;
    // No forwarding header over gRPC here: the client is the loopback peer itself.
    let forged = GrpcHeadsetClient::new(&cluster.command_grpc, a.operator, &a.key_id, "wrong");
    for _ in 0..21 {
        let status = forged.config().await.unwrap_err();
        assert_eq!(error_code(&status), "INVALID_SIGNATURE");
    }
    let reason = await_anomaly_lock(&cluster, a.operator, Instant::now()).await;
    assert!(reason.contains("127.0.0.1"), "{reason}");
    let good = GrpcHeadsetClient::new(&cluster.command_grpc, a.operator, &a.key_id, &a.secret);
    let status = good.config().await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    assert_eq!(error_code(&status), "RATE_LIMIT_EXCEEDED");
    // HTTP from the same address is refused too (the block is per IP, not per transport).
    let http = HeadsetClient::new(&cluster.command, a.operator, &a.key_id, &a.secret);
    assert_eq!(http.config().await.error_code(), "RATE_LIMIT_EXCEEDED");
}
