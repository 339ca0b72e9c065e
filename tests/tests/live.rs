//! Live push against the real binaries: a signed game reaches an operator's SSE stream on
//! either query-api replica within a second of its HTTP 200, finance's `today` follows, no
//! operator sees another's events, and without Redis everything but live push carries on.

use std::time::{Duration, Instant};

use ledger_core::ids::{AppId, OperatorId, SiteId};
use serde_json::{Value, json};
use tests::cluster::{Cluster, free_port};
use tests::headset::HeadsetClient;

const PASSWORD: &str = "Arcade-pass1";

/// The product's promise: a charge reaches a connected browser within a second.
const PUSHED_WITHIN: Duration = Duration::from_secs(1);

/// Longest wait for an event that is not timed (set-up steps).
const SETUP_WAIT: Duration = Duration::from_secs(10);

/// A connected event-stream client reading the raw response body.
struct SseClient {
    response: reqwest::Response,
    buffer: String,
}

/// One event: its name and its JSON data.
#[derive(Debug, Clone)]
struct Event {
    name: String,
    data: Value,
}

impl SseClient {
    async fn connect(base: &str, path: &str, token: &str) -> SseClient {
        let response = reqwest::Client::new()
            .get(format!("{base}{path}"))
            .bearer_auth(token)
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "{path}"
        );
        SseClient {
            response,
            buffer: String::new(),
        }
    }

    /// The next event within `wait` (comments and the `retry:` hint skipped); `None` when
    /// none came.
    async fn next_event(&mut self, wait: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut name = None;
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("event: ") {
                        name = Some(value.to_owned());
                    } else if let Some(value) = line.strip_prefix("data: ") {
                        data.push_str(value);
                    }
                }
                if let Some(name) = name {
                    let data = serde_json::from_str(&data).unwrap();
                    return Some(Event { name, data });
                }
                continue;
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .ok()?
                .unwrap()
                .expect("the event stream stays open");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// Reads events until `done` holds for those read, within `wait`; returns them and when
    /// the last one arrived.
    async fn collect_until(
        &mut self,
        wait: Duration,
        done: impl Fn(&[Event]) -> bool,
    ) -> (Vec<Event>, Instant) {
        let deadline = Instant::now() + wait;
        let mut events = Vec::new();
        while !done(&events) {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(event) = self.next_event(left).await else {
                panic!("events not complete within {wait:?}: {events:?}");
            };
            events.push(event);
        }
        (events, Instant::now())
    }

    /// Reads events until one named `name` satisfies `wanted`, within `wait`.
    async fn wait_for(
        &mut self,
        name: &str,
        wait: Duration,
        wanted: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(event) = self.next_event(left).await else {
                panic!("no `{name}` event as expected within {wait:?}");
            };
            if event.name == name && wanted(&event.data) {
                return event.data;
            }
        }
    }
}

/// A registered operator with a site, a grant of `app` and its headset credentials.
struct Arcade {
    id: OperatorId,
    token: String,
    site: SiteId,
    headset: HeadsetClient,
}

async fn arcade(cluster: &Cluster, admin: &str, username: &str, app: AppId) -> Arcade {
    let url = format!("{}/api/v1/auth/operator/register", cluster.command);
    let body = json!({"username": username, "name": "星际体验馆", "phone": "13800138000",
                      "email": format!("{username}@example.com"), "password": PASSWORD});
    let created = cluster.call("POST", &url, None, Some(body)).await.ok();
    let id: OperatorId = created["operator"]["id"].as_str().unwrap().parse().unwrap();
    let token = cluster.token("operator", username, PASSWORD).await;
    let site = cluster
        .command(
            "POST",
            "/api/v1/operator/sites",
            &token,
            json!({"name": "朝阳店", "address": "北京市朝阳区"}),
        )
        .await
        .ok();
    cluster
        .command(
            "POST",
            &format!("/api/v1/admin/operators/{id}/grants"),
            admin,
            json!({"app_id": app, "expires_at": null}),
        )
        .await
        .ok();
    // The stream opens with the balance of the read tables: wait until the operator is there.
    cluster
        .query_until("/api/v1/operator/profile", &token, |_| true)
        .await;
    let headset = HeadsetClient::new(
        &cluster.command,
        id,
        created["credentials"]["key_id"].as_str().unwrap(),
        created["credentials"]["secret"].as_str().unwrap(),
    );
    Arcade {
        id,
        token,
        site: site["id"].as_str().unwrap().parse().unwrap(),
        headset,
    }
}

async fn new_app(cluster: &Cluster, admin: &str) -> AppId {
    let body =
        json!({"name": "太空探险", "unit_price": "10.00", "min_players": 1, "max_players": 8});
    let app = cluster
        .command("POST", "/api/v1/admin/apps", admin, body)
        .await
        .ok();
    app["id"].as_str().unwrap().parse().unwrap()
}

async fn credit(cluster: &Cluster, admin: &str, operator: OperatorId, amount: &str) {
    cluster
        .command(
            "POST",
            &format!("/api/v1/finance/operators/{operator}/manual-credits"),
            admin,
            json!({"amount": amount, "reason": "bank transfer"}),
        )
        .await
        .ok();
}

fn is_balance(operator: OperatorId, balance: &'static str) -> impl Fn(&Value) -> bool {
    move |data| data["operator_id"] == operator.to_string().as_str() && data["balance"] == balance
}

fn money(value: &Value) -> rust_decimal::Decimal {
    value.as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_signed_game_reaches_the_operators_streams_on_both_replicas_within_a_second() {
    let mut cluster = Cluster::start(&[]).await;
    let second = cluster.start_extra_query_api().await;
    let admin = cluster.admin_token().await;
    let app = new_app(&cluster, &admin).await;
    let watched = arcade(&cluster, &admin, "live_arcade", app).await;
    let other = arcade(&cluster, &admin, "other_arcade", app).await;

    let live = "/api/v1/operator/live";
    let mut first_replica = SseClient::connect(&cluster.query, live, &watched.token).await;
    let mut second_replica = SseClient::connect(&second, live, &watched.token).await;
    let mut bystander = SseClient::connect(&cluster.query, live, &other.token).await;
    let mut finance = SseClient::connect(&cluster.query, "/api/v1/finance/live", &admin).await;
    // Each stream opens with the balance from the read tables.
    for client in [&mut first_replica, &mut second_replica] {
        client
            .wait_for("balance", SETUP_WAIT, is_balance(watched.id, "0.00"))
            .await;
    }
    bystander
        .wait_for("balance", SETUP_WAIT, is_balance(other.id, "0.00"))
        .await;
    let before = finance.wait_for("today", SETUP_WAIT, |_| true).await;

    // A credit travels the whole way first: both replicas are subscribed before the timing.
    credit(&cluster, &admin, watched.id, "500").await;
    for client in [&mut first_replica, &mut second_replica] {
        client
            .wait_for("balance", SETUP_WAIT, is_balance(watched.id, "500.00"))
            .await;
    }

    let session = watched.headset.new_session_id();
    let authorized = watched
        .headset
        .authorize(&session, app, watched.site, 3)
        .await;
    assert_eq!(authorized.status, 200, "{}", authorized.raw);
    let answered_at = Instant::now();
    let new_balance = is_balance(watched.id, "470.00");
    let find = |events: &[Event], name: &str| -> Option<Value> {
        events
            .iter()
            .find(|e| {
                e.name == name
                    && match name {
                        "usage" => e.data["session_id"] == session.as_str(),
                        _ => new_balance(&e.data),
                    }
            })
            .map(|e| e.data.clone())
    };
    let both =
        |events: &[Event]| find(events, "usage").is_some() && find(events, "balance").is_some();
    let (on_first, on_second) = tokio::join!(
        first_replica.collect_until(PUSHED_WITHIN, both),
        second_replica.collect_until(PUSHED_WITHIN, both),
    );
    for (replica, (events, arrived)) in [("first", on_first), ("second", on_second)] {
        let elapsed = arrived - answered_at;
        println!("usage and balance on the {replica} replica {elapsed:?} after the HTTP 200");
        assert!(elapsed < PUSHED_WITHIN, "{replica} replica: {elapsed:?}");
        let usage = find(&events, "usage").unwrap();
        assert_eq!(usage["total_cost"], "30.00");
        assert_eq!(usage["balance_after"], "470.00");
        assert_eq!(usage["player_count"], 3);
        assert_eq!(usage["site_id"], watched.site.to_string().as_str());
        assert_eq!(usage["app_id"], app.to_string().as_str());
        let balance = find(&events, "balance").unwrap();
        assert!(balance["as_of_position"].as_i64().unwrap() > 0);
    }

    // Finance: a fresh `today` with the credit and the charge in it.
    let after = finance
        .wait_for("today", SETUP_WAIT, |data| {
            money(&data["consumed"]) == money(&before["consumed"]) + rust_decimal::Decimal::from(30)
        })
        .await;
    assert_eq!(
        money(&after["recharged"]),
        money(&before["recharged"]) + rust_decimal::Decimal::from(500)
    );
    assert_eq!(
        money(&after["net"]),
        money(&after["recharged"]) - money(&after["refunded"])
    );

    // The other operator saw none of it, yet sees its own charge.
    if let Some(event) = bystander.next_event(Duration::from_millis(300)).await {
        panic!("another operator's change reached this operator: {event:?}");
    }
    credit(&cluster, &admin, other.id, "100").await;
    let own = bystander.wait_for("balance", SETUP_WAIT, |_| true).await;
    assert_eq!(own["operator_id"], other.id.to_string().as_str());
    assert_eq!(own["balance"], "100.00");
    for client in [&mut first_replica, &mut second_replica] {
        if let Some(event) = client.next_event(Duration::from_millis(300)).await {
            assert_ne!(
                event.data["operator_id"],
                other.id.to_string().as_str(),
                "{event:?}"
            );
        }
    }

    // An announcement reaches every operator: each stream gets its new unread count; reading
    // them all brings the watched operator's back to zero, on both replicas.
    cluster
        .command(
            "POST",
            "/api/v1/admin/announcements",
            &admin,
            json!({"title": "春节营业安排", "body": "除夕至初二系统维护。"}),
        )
        .await
        .ok();
    let unread = |n: i64| move |data: &Value| data["unread_count"] == n;
    for client in [&mut first_replica, &mut second_replica, &mut bystander] {
        client.wait_for("messages", SETUP_WAIT, unread(1)).await;
    }
    cluster
        .command(
            "POST",
            "/api/v1/operator/messages/read-all",
            &watched.token,
            json!({}),
        )
        .await
        .ok();
    for client in [&mut first_replica, &mut second_replica] {
        client.wait_for("messages", SETUP_WAIT, unread(0)).await;
    }
}

#[tokio::test]
async fn without_redis_the_projector_keeps_projecting_and_the_query_api_keeps_serving() {
    // Nothing listens on this port: every publish and subscribe attempt fails.
    let closed = format!("redis://127.0.0.1:{}", free_port());
    let cluster = Cluster::start(&[("MR_REDIS_URL", &closed)]).await;
    let admin = cluster.admin_token().await;
    let app = new_app(&cluster, &admin).await;
    let arcade = arcade(&cluster, &admin, "offline_arcade", app).await;
    credit(&cluster, &admin, arcade.id, "200").await;
    let session = arcade.headset.new_session_id();
    let authorized = arcade
        .headset
        .authorize(&session, app, arcade.site, 2)
        .await;
    assert_eq!(authorized.status, 200, "{}", authorized.raw);

    // Projected and served as ever.
    cluster
        .query_until("/api/v1/operator/usage-records", &arcade.token, |data| {
            data["items"]
                .as_array()
                .is_some_and(|items| items.iter().any(|u| u["session_id"] == session.as_str()))
        })
        .await;
    let balance = cluster
        .query_until(
            &format!("/api/v1/admin/operators/{}/balance", arcade.id),
            &admin,
            |data| data["balance"] == "180.00",
        )
        .await;
    assert!(balance["as_of_position"].as_i64().unwrap() > 0);

    // The stream still opens with the balance from the read tables.
    let mut stream =
        SseClient::connect(&cluster.query, "/api/v1/operator/live", &arcade.token).await;
    stream
        .wait_for("balance", SETUP_WAIT, is_balance(arcade.id, "180.00"))
        .await;

    // A client that does not ask for an event stream gets a JSON error, not a stream.
    let answer = cluster.query("/api/v1/operator/live", &arcade.token).await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.code(), "INVALID_PARAMS");
}
