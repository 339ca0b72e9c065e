//! Rate limits (PRODUCT.md X1): per operator on authorization, per IP on every endpoint,
//! shared by instances through Redis, and still enforced per instance when Redis is down.

use std::net::TcpListener;

use futures_util::future::join_all;
use serde_json::Value;
use tests::headset::{HeadsetClient, Reply, reply};

use crate::harness::{self, Arcade, SecondInstance, TestApp};
use command_api::settings::{Secret, Settings};

/// A port nothing listens on: Redis "down" by connection refused.
const CLOSED_REDIS: &str = "redis://127.0.0.1:1";

fn operator_limit(settings: &mut Settings, limit: u32) {
    settings.rate_limits.rate_limit_operator_vip = limit;
    settings.rate_limits.rate_limit_operator_standard = limit;
    settings.rate_limits.rate_limit_operator_trial = limit;
}

/// Another instance on `app`'s database and key prefix (so it shares the counts), with
/// settings adjusted by `adjust`.
async fn instance(app: &TestApp, adjust: impl FnOnce(&mut Settings)) -> SecondInstance {
    let mut settings = harness::settings(&app.db);
    adjust(&mut settings);
    let state = command_api::state(&settings, command_api::ledger::system_clock()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(command_api::serve(listener, state.clone(), 2).unwrap());
    SecondInstance { base, state }
}

fn headset_at(base: &str, arcade: &Arcade) -> HeadsetClient {
    HeadsetClient {
        base_url: base.to_owned(),
        ..arcade.headset.clone()
    }
}

async fn authorize(headset: &HeadsetClient, arcade: &Arcade) -> Reply {
    headset
        .authorize(&headset.new_session_id(), arcade.app, arcade.site, 2)
        .await
}

fn assert_rate_limited(reply: &Reply, limit: u64) {
    assert_eq!(reply.status, 429, "{}", reply.raw);
    assert_eq!(reply.error_code(), "RATE_LIMIT_EXCEEDED");
    let details = &reply.body["details"];
    assert_eq!(details["limit"], limit, "{}", reply.raw);
    assert_eq!(details["window_seconds"], 60);
    let retry_after = details["retry_after"].as_u64().expect("retry_after");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(
        reply.retry_after.as_deref(),
        Some(retry_after.to_string().as_str()),
        "the Retry-After header says the same as the details"
    );
}

async fn ready_checks(base: &str) -> Value {
    let reply = reqwest::get(format!("{base}/health/ready")).await.unwrap();
    assert_eq!(reply.status(), 200, "readiness never fails on the limiter");
    reply.json::<Value>().await.unwrap()["checks"].clone()
}

#[tokio::test]
async fn the_eleventh_authorization_of_an_operator_in_a_minute_is_refused_and_charges_nothing() {
    let db = tests::db::TestDb::new().await;
    let app = TestApp::spawn_with(db, |s| operator_limit(s, 10)).await;
    let arcade = app.arcade("1000", "1.00", 1, 8).await;
    for n in 1..=10 {
        let reply = authorize(&arcade.headset, &arcade).await;
        assert_eq!(reply.status, 200, "authorization {n}: {}", reply.raw);
    }
    let balance = app.balance(arcade.operator).await;
    let refused = authorize(&arcade.headset, &arcade).await;
    assert_rate_limited(&refused, 10);
    assert_eq!(app.charges(arcade.operator).await, 10);
    assert_eq!(app.balance(arcade.operator).await, balance);

    // The count lives under the configured prefix and expires with the window.
    let key = format!("mr:rl:test:{}:op:{}", app.db.name, arcade.operator);
    let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let count: u64 = redis::cmd("ZCARD")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .unwrap();
    let ttl_ms: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(count, 10);
    assert!((1..=60_000).contains(&ttl_ms), "{ttl_ms}");
    assert_eq!(ready_checks(&app.base).await["rate_limiter"], "redis");
}

#[tokio::test]
async fn a_per_operator_override_raises_that_operators_limit_only() {
    let app = TestApp::spawn().await;
    let chain = app.arcade("1000", "1.00", 1, 8).await;
    let other = app.arcade("1000", "1.00", 1, 8).await;
    let limited = instance(&app, |s| {
        operator_limit(s, 2);
        s.rate_limits.rate_limit_operator_overrides = format!("{}=4", chain.operator);
    })
    .await;
    let (chain_headset, other_headset) = (
        headset_at(&limited.base, &chain),
        headset_at(&limited.base, &other),
    );
    for _ in 0..4 {
        assert_eq!(authorize(&chain_headset, &chain).await.status, 200);
    }
    assert_rate_limited(&authorize(&chain_headset, &chain).await, 4);
    for _ in 0..2 {
        assert_eq!(authorize(&other_headset, &other).await.status, 200);
    }
    assert_rate_limited(&authorize(&other_headset, &other).await, 2);
}

#[tokio::test]
async fn an_operators_category_chooses_its_limit() {
    let app = TestApp::spawn().await;
    let vip = app.arcade("1000", "1.00", 1, 8).await;
    let trial = app.arcade("1000", "1.00", 1, 8).await;
    let path = format!("/api/v1/admin/operators/{}", vip.operator);
    let changed = app
        .staff("PATCH", &path, serde_json::json!({"category": "vip"}))
        .await;
    assert_eq!(changed.status, 200, "{}", changed.raw);
    let limited = instance(&app, |s| {
        s.rate_limits.rate_limit_operator_vip = 3;
        s.rate_limits.rate_limit_operator_standard = 2;
        s.rate_limits.rate_limit_operator_trial = 1;
    })
    .await;
    let vip_headset = headset_at(&limited.base, &vip);
    for _ in 0..3 {
        assert_eq!(authorize(&vip_headset, &vip).await.status, 200);
    }
    assert_rate_limited(&authorize(&vip_headset, &vip).await, 3);
    let trial_headset = headset_at(&limited.base, &trial);
    assert_eq!(authorize(&trial_headset, &trial).await.status, 200);
    assert_rate_limited(&authorize(&trial_headset, &trial).await, 1);
}

#[tokio::test]
async fn the_per_ip_limit_applies_to_any_endpoint() {
    let app = TestApp::spawn().await;
    let arcade = app.arcade("1000", "1.00", 1, 8).await;
    // A prefix of its own: the setup above already counted this IP under the app's prefix.
    let limited = instance(&app, |s| {
        s.rate_limits.rate_limit_key_prefix = format!("mr:rl:test:{}:per-ip", app.db.name);
        s.rate_limits.rate_limit_per_ip = 3;
    })
    .await;
    let http = reqwest::Client::new();
    let health = http.get(format!("{}/health", limited.base)).send().await;
    assert_eq!(health.unwrap().status(), 200);
    let login = reply(
        http.post(format!("{}/api/v1/auth/staff/login", limited.base))
            .json(&serde_json::json!({"username": "nobody", "password": "wrong-password"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(login.status, 401, "{}", login.raw);
    let headset = headset_at(&limited.base, &arcade);
    assert_eq!(headset.config().await.status, 200);
    // The fourth request, whatever it is, is refused before it is looked at.
    assert_rate_limited(&headset.config().await, 3);
    assert_rate_limited(&authorize(&headset, &arcade).await, 3);
    let health = http.get(format!("{}/health", limited.base)).send().await;
    assert_eq!(health.unwrap().status(), 429);
    assert_eq!(app.charges(arcade.operator).await, 0);
    // Except the gateways' notifications: verified by signature, never counted per IP (this
    // unsigned one is refused by the verification, not by the limit).
    for channel in ["wechat", "alipay"] {
        let notify = http
            .post(format!("{}/api/v1/payments/{channel}/notify", limited.base))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_ne!(notify.status(), 429, "{channel}");
    }
}

#[tokio::test]
async fn disabled_limits_admit_everything_and_count_nothing() {
    let app = TestApp::spawn().await;
    let arcade = app.arcade("1000", "1.00", 1, 8).await;
    let prefix = format!("mr:rl:test:{}:disabled", app.db.name);
    let unlimited = instance(&app, |s| {
        s.rate_limits.rate_limit_enabled = false;
        s.rate_limits.rate_limit_key_prefix = prefix.clone();
        s.rate_limits.rate_limit_per_ip = 1;
        s.rate_limits.rate_limit_operator_standard = 1;
        s.rate_limits.rate_limit_operator_vip = 1;
        s.rate_limits.rate_limit_operator_trial = 1;
    })
    .await;
    let headset = headset_at(&unlimited.base, &arcade);
    for _ in 0..4 {
        assert_eq!(authorize(&headset, &arcade).await.status, 200);
    }
    assert_eq!(app.charges(arcade.operator).await, 4);
    // Nothing was counted in Redis under the instance's prefix.
    let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(keys.is_empty(), "{keys:?}");
}

#[tokio::test]
async fn two_instances_share_one_count_through_redis() {
    let db = tests::db::TestDb::new().await;
    let app = TestApp::spawn_with(db, |s| operator_limit(s, 10)).await;
    let arcade = app.arcade("1000", "1.00", 1, 8).await;
    let second = instance(&app, |s| operator_limit(s, 10)).await;
    let on_second = headset_at(&second.base, &arcade);
    for _ in 0..5 {
        assert_eq!(authorize(&arcade.headset, &arcade).await.status, 200);
        assert_eq!(authorize(&on_second, &arcade).await.status, 200);
    }
    assert_rate_limited(&authorize(&arcade.headset, &arcade).await, 10);
    assert_rate_limited(&authorize(&on_second, &arcade).await, 10);
    assert_eq!(app.charges(arcade.operator).await, 10);
}

#[tokio::test]
async fn with_redis_unreachable_the_local_limiter_still_limits_and_readiness_says_local() {
    let db = tests::db::TestDb::new().await;
    let app = TestApp::spawn_with(db, |s| {
        s.redis_url = Secret(CLOSED_REDIS.to_owned());
        operator_limit(s, 10);
    })
    .await;
    let arcade = app.arcade("1000", "1.00", 1, 8).await;
    for n in 1..=10 {
        let reply = authorize(&arcade.headset, &arcade).await;
        assert_eq!(reply.status, 200, "authorization {n}: {}", reply.raw);
    }
    assert_rate_limited(&authorize(&arcade.headset, &arcade).await, 10);
    assert_eq!(app.charges(arcade.operator).await, 10);
    let checks = ready_checks(&app.base).await;
    assert_eq!(checks["rate_limiter"], "local", "{checks}");
    assert_eq!(checks["database"], true);
}

#[tokio::test]
async fn fifty_simultaneous_authorizations_against_a_limit_of_ten_let_exactly_ten_through() {
    let db = tests::db::TestDb::new().await;
    let app = TestApp::spawn_with(db, |s| operator_limit(s, 10)).await;
    let arcade = app.arcade("1000", "1.00", 1, 8).await;
    let calls = (0..50).map(|_| {
        let arcade = arcade.clone();
        tokio::spawn(async move { authorize(&arcade.headset, &arcade).await })
    });
    let replies: Vec<Reply> = join_all(calls)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let passed = replies.iter().filter(|r| r.status == 200).count();
    let limited = replies
        .iter()
        .filter(|r| r.status == 429 && r.error_code() == "RATE_LIMIT_EXCEEDED")
        .count();
    assert_eq!((passed, limited), (10, 40));
    assert_eq!(app.charges(arcade.operator).await, 10);
}
