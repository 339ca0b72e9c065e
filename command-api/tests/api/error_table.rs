//! Every row of the protocol's error table (HEADSET-PROTOCOL.md, "Errors"), provoked over
//! HTTP: exact status, `error_code`, the `details` keys the table names and the error body
//! shape, and no charge. Then the check order, one pair of faults at a time: the earlier
//! check answers. `RATE_LIMIT_EXCEEDED` is not implemented yet and is not tested here.

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use command_api::ledger::Clock;
use command_api::settings::Settings;
use ledger_core::ids::{AppId, OperatorId, SiteId};
use ledger_core::signing;
use serde_json::{Value, json};
use tests::headset::{
    AUTHORIZE_PATH, CONFIG_PATH, END_PATH, HEARTBEAT_PATH, HeadsetClient, Reply, new_session_id,
    reply,
};

use crate::harness::{self, Arcade, TestApp};

/// The protocol's body limit (16 KiB); one byte more is refused.
const BODY_LIMIT: usize = 16 * 1024;
/// The protocol's clock window for `X-Timestamp` and session ids.
const WINDOW_SECONDS: i64 = 300;
/// Far enough outside the window that a slow test cannot fall back inside it.
const OUTSIDE_WINDOW: TimeDelta = TimeDelta::seconds(400);
/// How long a refusal may take while the database is unreachable.
const OUTAGE_ANSWER_MAX: Duration = Duration::from_secs(5);

// ---- helpers -------------------------------------------------------------------------------

/// A request built by hand, for faults the signing client cannot make: starts correctly
/// signed, then headers or body are changed without signing again.
struct Call {
    base: String,
    method: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Call {
    /// Signed by `headset` at `timestamp` (now when `None`), with `X-Session-ID` if given.
    fn signed(
        headset: &HeadsetClient,
        method: &'static str,
        path: &'static str,
        body: Vec<u8>,
        session: Option<&str>,
        timestamp: Option<i64>,
    ) -> Call {
        let ts = timestamp
            .unwrap_or_else(|| Utc::now().timestamp())
            .to_string();
        let signature = signing::sign(headset.secret.as_bytes(), &ts, method, path, &body);
        let mut headers = vec![
            ("Content-Type", "application/json".to_owned()),
            ("X-API-Key", headset.key_id.clone()),
            ("X-Timestamp", ts),
            ("X-Signature", signature),
        ];
        if let Some(session) = session {
            headers.push(("X-Session-ID", session.to_owned()));
        }
        Call {
            base: headset.base_url.clone(),
            method,
            path,
            headers,
            body,
        }
    }

    /// A signed authorize with a fresh session id and `body`.
    fn authorize(headset: &HeadsetClient, body: Vec<u8>) -> Call {
        let session = headset.new_session_id();
        Call::signed(headset, "POST", AUTHORIZE_PATH, body, Some(&session), None)
    }

    /// No headers at all, only `body`.
    fn bare(base: &str, method: &'static str, path: &'static str, body: Vec<u8>) -> Call {
        Call {
            base: base.to_owned(),
            method,
            path,
            headers: Vec::new(),
            body,
        }
    }

    fn without(mut self, name: &str) -> Call {
        self.headers.retain(|(n, _)| *n != name);
        self
    }

    fn header(self, name: &'static str, value: &str) -> Call {
        let mut call = self.without(name);
        call.headers.push((name, value.to_owned()));
        call
    }

    /// Replaces the body after signing.
    fn body(mut self, body: Vec<u8>) -> Call {
        self.body = body;
        self
    }

    async fn send(self) -> Reply {
        let http = reqwest::Client::new();
        let url = format!("{}{}", self.base, self.path);
        let mut request = match self.method {
            "GET" => http.get(url),
            _ => http.post(url),
        };
        for (name, value) in self.headers {
            request = request.header(name, value);
        }
        if !self.body.is_empty() {
            request = request.body(self.body);
        }
        reply(request.send().await.expect("request reaches the server")).await
    }
}

fn bytes(body: &Value) -> Vec<u8> {
    body.to_string().into_bytes()
}

fn authorize_body(app: AppId, site: SiteId, players: i64) -> Value {
    json!({"app_id": app, "site_id": site, "player_count": players})
}

/// An authorize body of exactly `len` bytes (an unknown padding field, which is ignored).
fn padded_authorize_body(app: AppId, site: SiteId, players: i64, len: usize) -> Vec<u8> {
    let mut body = authorize_body(app, site, players);
    body["padding"] = json!("");
    let bare = bytes(&body).len();
    body["padding"] = json!("x".repeat(len - bare));
    let out = bytes(&body);
    assert_eq!(out.len(), len);
    out
}

fn heartbeat_body(site: SiteId) -> Vec<u8> {
    bytes(&json!({"site_id": site, "server_id": "vr-01", "players_online": 3, "version": "1.0.0"}))
}

/// The same credentials talking to another server (another instance, another clock).
fn at(headset: &HeadsetClient, base: &str) -> HeadsetClient {
    HeadsetClient::new(base, headset.operator_id, &headset.key_id, &headset.secret)
}

fn with_secret(app: &TestApp, headset: &HeadsetClient, secret: &str) -> HeadsetClient {
    app.headset(headset.operator_id, &headset.key_id, secret)
}

fn with_key(app: &TestApp, headset: &HeadsetClient, key_id: &str) -> HeadsetClient {
    app.headset(headset.operator_id, key_id, &headset.secret)
}

/// A session id of the operator stamped `offset` away from now.
fn session_at(operator: OperatorId, offset: TimeDelta) -> String {
    new_session_id(operator, Utc::now() + offset)
}

/// The error body shape of the protocol, the code and status, and the named `details` keys.
fn assert_error(r: &Reply, status: u16, code: &str, detail_keys: &[&str]) {
    assert_eq!(
        (r.status, r.error_code()),
        (status, code),
        "expected {status} {code}, got: {}",
        r.raw
    );
    let body = r.body.as_object().expect("an error body is a JSON object");
    let mut keys: Vec<&str> = body.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["details", "error_code", "message", "request_id", "success"],
        "{}",
        r.raw
    );
    assert_eq!(body["success"], false, "{}", r.raw);
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        r.raw
    );
    assert!(
        body["request_id"].as_str().is_some_and(|id| !id.is_empty()),
        "{}",
        r.raw
    );
    let details = body["details"].as_object().expect("details is an object");
    for key in detail_keys {
        assert!(
            details.contains_key(*key),
            "{code} lacks details.{key}: {}",
            r.raw
        );
    }
}

/// The operator's money before a refused call: it must be the same after.
struct Books {
    operator: OperatorId,
    charges: usize,
    balance: String,
}

impl Books {
    async fn of(app: &TestApp, operator: OperatorId) -> Books {
        Books {
            operator,
            charges: app.charges(operator).await,
            balance: app.balance(operator).await,
        }
    }

    async fn assert_unchanged(&self, app: &TestApp) {
        assert_eq!(app.charges(self.operator).await, self.charges, "a charge");
        assert_eq!(
            app.balance(self.operator).await,
            self.balance,
            "the balance moved"
        );
    }
}

/// Runs `call`, expects the error, and checks that `operator` was charged nothing.
async fn refused(
    app: &TestApp,
    operator: OperatorId,
    call: impl Future<Output = Reply>,
    status: u16,
    code: &str,
    detail_keys: &[&str],
) -> Reply {
    let books = Books::of(app, operator).await;
    let r = call.await;
    assert_error(&r, status, code, detail_keys);
    books.assert_unchanged(app).await;
    r
}

async fn fresh(arcade: &Arcade, players: i64) -> Reply {
    arcade
        .headset
        .authorize(
            &arcade.headset.new_session_id(),
            arcade.app,
            arcade.site,
            players,
        )
        .await
}

/// Another command API instance with its own caches and `clock`, started on port 0.
fn instance(settings: &Settings, clock: Clock) -> String {
    let state = command_api::state(settings, clock).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(command_api::serve(listener, state, 1).unwrap());
    base
}

fn shifted_clock(offset: TimeDelta) -> Clock {
    Arc::new(move || Utc::now() + offset)
}

async fn admin(app: &TestApp, path: String, body: Value) -> Reply {
    let r = app.staff("POST", &path, body).await;
    assert_eq!(r.status, 200, "{path}: {}", r.raw);
    r
}

async fn lock(app: &TestApp, operator: OperatorId, reason: &str) {
    admin(
        app,
        format!("/api/v1/admin/operators/{operator}/lock"),
        json!({"reason": reason}),
    )
    .await;
}

async fn close_site(app: &TestApp, operator: OperatorId, site: SiteId) {
    admin(
        app,
        format!("/api/v1/admin/operators/{operator}/sites/{site}/close"),
        json!({}),
    )
    .await;
}

async fn retire(app: &TestApp, id: AppId) {
    admin(app, format!("/api/v1/admin/apps/{id}/retire"), json!({})).await;
}

fn rfc3339(value: &Value) -> DateTime<Utc> {
    let text = value.as_str().expect("a time string");
    assert!(text.ends_with('Z'), "{text}");
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

// ---- one row at a time ---------------------------------------------------------------------

#[tokio::test]
async fn malformed_missing_or_mistyped_params_and_headers_are_400_naming_them() {
    let app = TestApp::spawn().await;
    let a = app.arcade("500", "10.00", 2, 8).await;
    let h = &a.headset;
    let good = bytes(&authorize_body(a.app, a.site, 2));
    let with = |field: &str, value: Value| {
        let mut body = authorize_body(a.app, a.site, 2);
        body[field] = value;
        bytes(&body)
    };
    let cases: Vec<(&str, Call, Vec<&str>)> = vec![
        (
            "malformed JSON",
            Call::authorize(h, br#"{"app_id": "#.to_vec()),
            vec!["body"],
        ),
        ("empty body", Call::authorize(h, Vec::new()), vec!["body"]),
        (
            "array body",
            Call::authorize(h, b"[1, 2]".to_vec()),
            vec!["body"],
        ),
        (
            "missing field",
            Call::authorize(h, bytes(&json!({"app_id": a.app, "site_id": a.site}))),
            vec!["player_count"],
        ),
        (
            "app_id not a UUID",
            Call::authorize(h, with("app_id", json!("space-odyssey"))),
            vec!["app_id"],
        ),
        (
            "site_id a number",
            Call::authorize(h, with("site_id", json!(42))),
            vec!["site_id"],
        ),
        (
            "player_count as a string",
            Call::authorize(h, with("player_count", json!("2"))),
            vec!["player_count"],
        ),
        (
            "player_count 2.5",
            Call::authorize(h, with("player_count", json!(2.5))),
            vec!["player_count"],
        ),
        (
            "no X-Timestamp",
            Call::authorize(h, good.clone()).without("X-Timestamp"),
            vec!["X-Timestamp"],
        ),
        (
            "X-Timestamp with a fraction",
            Call::authorize(h, good.clone()).header("X-Timestamp", "1763728200.5"),
            vec!["X-Timestamp"],
        ),
        (
            "X-Timestamp in words",
            Call::authorize(h, good.clone()).header("X-Timestamp", "yesterday"),
            vec!["X-Timestamp"],
        ),
        (
            "no X-Session-ID on authorize",
            Call::authorize(h, good.clone()).without("X-Session-ID"),
            vec!["X-Session-ID"],
        ),
        (
            "no X-API-Key",
            Call::authorize(h, good.clone()).without("X-API-Key"),
            vec!["X-API-Key"],
        ),
        (
            "no X-Signature",
            Call::authorize(h, good.clone()).without("X-Signature"),
            vec!["X-Signature"],
        ),
        (
            "a header and two fields at once, headers first",
            Call::authorize(
                h,
                bytes(&json!({"app_id": "x", "site_id": a.site, "player_count": "2"})),
            )
            .without("X-Timestamp"),
            vec!["X-Timestamp", "app_id", "player_count"],
        ),
    ];
    for (what, call, fields) in cases {
        let r = refused(
            &app,
            a.operator,
            call.send(),
            400,
            "INVALID_PARAMS",
            &["fields"],
        )
        .await;
        assert_eq!(
            r.body["details"]["fields"],
            json!(fields),
            "{what}: {}",
            r.raw
        );
    }
}

#[tokio::test]
async fn an_unknown_or_rotated_out_key_is_401_invalid_api_key() {
    let app = TestApp::spawn().await;
    let a = app.arcade("500", "10.00", 2, 8).await;
    let stranger = with_key(&app, &a.headset, "mrk_0123456789abcdef0123456789abcdef");
    let session = stranger.new_session_id();
    refused(
        &app,
        a.operator,
        stranger.authorize(&session, a.app, a.site, 2),
        401,
        "INVALID_API_KEY",
        &[],
    )
    .await;

    // The old key is known (and cached) before the rotation ends it.
    assert_eq!(a.headset.config().await.status, 200);
    let rotated = admin(
        &app,
        format!("/api/v1/admin/operators/{}/credentials/rotate", a.operator),
        json!({}),
    )
    .await;
    let new_key = rotated.data()["key_id"].as_str().unwrap();
    let new_secret = rotated.data()["secret"].as_str().unwrap();
    assert_ne!(new_key, a.headset.key_id);
    let session = a.headset.new_session_id();
    refused(
        &app,
        a.operator,
        a.headset.authorize(&session, a.app, a.site, 2),
        401,
        "INVALID_API_KEY",
        &[],
    )
    .await;
    refused(
        &app,
        a.operator,
        a.headset.config(),
        401,
        "INVALID_API_KEY",
        &[],
    )
    .await;
    let renewed = app.headset(a.operator, new_key, new_secret);
    assert_eq!(renewed.config().await.status, 200, "the new key works");
}

#[tokio::test]
async fn a_tampered_body_or_a_wrong_secret_is_401_invalid_signature() {
    let app = TestApp::spawn().await;
    let a = app.arcade("500", "10.00", 2, 8).await;
    let signed_for_two = Call::authorize(&a.headset, bytes(&authorize_body(a.app, a.site, 2)));
    let tampered = signed_for_two.body(bytes(&authorize_body(a.app, a.site, 8)));
    refused(
        &app,
        a.operator,
        tampered.send(),
        401,
        "INVALID_SIGNATURE",
        &[],
    )
    .await;

    let one_second_later = (Utc::now().timestamp() + 1).to_string();
    let other_timestamp = Call::authorize(&a.headset, bytes(&authorize_body(a.app, a.site, 2)))
        .header("X-Timestamp", &one_second_later);
    refused(
        &app,
        a.operator,
        other_timestamp.send(),
        401,
        "INVALID_SIGNATURE",
        &[],
    )
    .await;

    let not_base64 = Call::authorize(&a.headset, bytes(&authorize_body(a.app, a.site, 2)))
        .header("X-Signature", "not base64!");
    refused(
        &app,
        a.operator,
        not_base64.send(),
        401,
        "INVALID_SIGNATURE",
        &[],
    )
    .await;

    let forger = with_secret(&app, &a.headset, &"x".repeat(64));
    let session = forger.new_session_id();
    refused(
        &app,
        a.operator,
        forger.authorize(&session, a.app, a.site, 2),
        401,
        "INVALID_SIGNATURE",
        &[],
    )
    .await;
}

#[tokio::test]
async fn a_timestamp_400_seconds_old_or_ahead_is_401_with_integer_unix_times() {
    let app = TestApp::spawn().await;
    let a = app.arcade("500", "10.00", 2, 8).await;
    let body = bytes(&authorize_body(a.app, a.site, 2));
    for offset in [-OUTSIDE_WINDOW, OUTSIDE_WINDOW] {
        let sent = (Utc::now() + offset).timestamp();
        let session = a.headset.new_session_id();
        let r = refused(
            &app,
            a.operator,
            a.headset
                .send("POST", AUTHORIZE_PATH, &body, Some(&session), Some(sent)),
            401,
            "TIMESTAMP_EXPIRED",
            &["server_time", "request_time", "max_diff_seconds"],
        )
        .await;
        let d = &r.body["details"];
        let server_time = d["server_time"].as_i64().expect("an integer");
        assert!(
            (server_time - Utc::now().timestamp()).abs() <= 5,
            "{}",
            r.raw
        );
        assert_eq!(d["request_time"].as_i64(), Some(sent), "{}", r.raw);
        assert_eq!(
            d["max_diff_seconds"].as_i64(),
            Some(WINDOW_SECONDS),
            "{}",
            r.raw
        );
    }
    let inside = (Utc::now() - TimeDelta::seconds(WINDOW_SECONDS - 10)).timestamp();
    let r = a
        .headset
        .send("GET", CONFIG_PATH, b"", None, Some(inside))
        .await;
    assert_eq!(r.status, 200, "inside the window: {}", r.raw);
}

#[tokio::test]
async fn a_deactivated_account_is_403_account_deactivated() {
    let app = TestApp::spawn().await;
    let a = app.arcade("500", "10.00", 2, 8).await;
    admin(
        &app,
        format!("/api/v1/admin/operators/{}/deactivate", a.operator),
        json!({}),
    )
    .await;
    refused(
        &app,
        a.operator,
        fresh(&a, 2),
        403,
        "ACCOUNT_DEACTIVATED",
        &[],
    )
    .await;
    refused(
        &app,
        a.operator,
        a.headset.config(),
        403,
        "ACCOUNT_DEACTIVATED",
        &[],
    )
    .await;
}

#[tokio::test]
async fn a_locked_account_is_403_with_when_and_why() {
    let app = TestApp::spawn().await;
    let a = app.arcade("500", "10.00", 2, 8).await;
    let before = Utc::now() - TimeDelta::seconds(1);
    lock(&app, a.operator, "账单逾期未付").await;
    let r = refused(
        &app,
        a.operator,
        fresh(&a, 2),
        403,
        "ACCOUNT_LOCKED",
        &["locked_at", "reason"],
    )
    .await;
    assert_eq!(r.body["details"]["reason"], "账单逾期未付");
    let locked_at = rfc3339(&r.body["details"]["locked_at"]);
    assert!(before <= locked_at && locked_at <= Utc::now(), "{}", r.raw);
}

#[tokio::test]
async fn a_session_id_that_does_not_parse_names_another_operator_or_is_stale_is_400() {
    let app = TestApp::spawn().await;
    let a = app.arcade("500", "10.00", 2, 8).await;
    let (other, _, _) = app.create_operator().await;
    let op = a.operator;
    let millis = Utc::now().timestamp_millis().to_string();
    let random = "abcDEF0123456789";
    let malformed = [
        "not-a-session-id".to_owned(),
        format!("{op}_{millis}"),
        format!("{op}_{millis}_{random}_extra"),
        format!("{op}_{}_{random}", &millis[..12]),
        format!("{op}_{millis}_{}", &random[..15]),
        format!("{op}_{millis}_abcdefgh-jklmnop"),
        format!("{}_{millis}_{random}", op.as_uuid().simple()),
    ];
    for session in &malformed {
        let r = refused(
            &app,
            op,
            a.headset.authorize(session, a.app, a.site, 2),
            400,
            "INVALID_SESSION_ID_FORMAT",
            &[],
        )
        .await;
        assert_eq!(r.body["details"], json!({}), "{session}");
        refused(
            &app,
            op,
            a.headset.end(session, None),
            400,
            "INVALID_SESSION_ID_FORMAT",
            &[],
        )
        .await;
    }

    let foreign = new_session_id(other, Utc::now());
    refused(
        &app,
        op,
        a.headset.authorize(&foreign, a.app, a.site, 2),
        400,
        "SESSION_ID_OPERATOR_MISMATCH",
        &[],
    )
    .await;
    refused(
        &app,
        op,
        a.headset.end(&foreign, None),
        400,
        "SESSION_ID_OPERATOR_MISMATCH",
        &[],
    )
    .await;

    for offset in [-OUTSIDE_WINDOW, OUTSIDE_WINDOW] {
        let stale = session_at(op, offset);
        refused(
            &app,
            op,
            a.headset.authorize(&stale, a.app, a.site, 2),
            400,
            "SESSION_ID_EXPIRED",
            &[],
        )
        .await;
    }
}

#[tokio::test]
async fn an_unknown_foreign_or_closed_site_is_refused_on_authorize_and_heartbeat() {
    let app = TestApp::spawn().await;
    let a = app.arcade("500", "10.00", 2, 8).await;
    let b = app.arcade("0", "10.00", 2, 8).await;
    let closed = app.open_site(a.operator).await;
    close_site(&app, a.operator, closed).await;
    let h = &a.headset;
    for (site, status, code) in [
        (SiteId::new(), 404, "SITE_NOT_FOUND"),
        (b.site, 404, "SITE_NOT_FOUND"),
        (closed, 403, "SITE_INACTIVE"),
    ] {
        let session = h.new_session_id();
        refused(
            &app,
            a.operator,
            h.authorize(&session, a.app, site, 2),
            status,
            code,
            &[],
        )
        .await;
        refused(
            &app,
            a.operator,
            h.heartbeat(site, "vr-01", 3),
            status,
            code,
            &[],
        )
        .await;
    }
}

#[tokio::test]
async fn an_unknown_retired_ungranted_or_expired_app_is_refused() {
    let app = TestApp::spawn().await;
    let a = app.arcade("500", "10.00", 2, 8).await;
    let h = &a.headset;
    let (op, site) = (a.operator, a.site);

    let session = h.new_session_id();
    refused(
        &app,
        op,
        h.authorize(&session, AppId::new(), site, 2),
        404,
        "APP_NOT_FOUND",
        &[],
    )
    .await;

    let retired = app.create_app("10.00", 2, 8).await;
    assert_eq!(app.grant(op, retired, None).await.status, 201);
    retire(&app, retired).await;
    let session = h.new_session_id();
    refused(
        &app,
        op,
        h.authorize(&session, retired, site, 2),
        403,
        "APP_INACTIVE",
        &[],
    )
    .await;

    let ungranted = app.create_app("12.00", 1, 4).await;
    let session = h.new_session_id();
    let r = refused(
        &app,
        op,
        h.authorize(&session, ungranted, site, 2),
        403,
        "APP_NOT_AUTHORIZED",
        &["app_id", "app_name"],
    )
    .await;
    assert_eq!(r.body["details"]["app_id"], ungranted.to_string());
    assert_eq!(r.body["details"]["app_name"], "太空探险");

    let expired = app.grant(op, a.app, Some("2020-01-01T00:00:00Z")).await;
    assert_eq!(expired.status, 200, "{}", expired.raw);
    let r = refused(
        &app,
        op,
        fresh(&a, 2),
        403,
        "AUTHORIZATION_EXPIRED",
        &["app_name", "expired_at"],
    )
    .await;
    assert_eq!(r.body["details"]["app_name"], "太空探险");
    assert_eq!(r.body["details"]["expired_at"], "2020-01-01T00:00:00.000Z");
}

#[tokio::test]
async fn a_player_count_out_of_range_or_an_unaffordable_game_is_refused() {
    let app = TestApp::spawn().await;
    let a = app.arcade("30", "10.00", 2, 8).await;
    for players in [1, 9, 0, -1, 4_294_967_296] {
        let r = refused(
            &app,
            a.operator,
            fresh(&a, players),
            400,
            "PLAYER_COUNT_OUT_OF_RANGE",
            &["min_players", "max_players", "requested_players"],
        )
        .await;
        assert_eq!(
            r.body["details"],
            json!({"min_players": 2, "max_players": 8, "requested_players": players}),
            "{}",
            r.raw
        );
    }
    let r = refused(
        &app,
        a.operator,
        fresh(&a, 5),
        402,
        "INSUFFICIENT_BALANCE",
        &["current_balance", "required_amount", "shortage"],
    )
    .await;
    assert_eq!(
        r.body["details"],
        json!({"current_balance": "30.00", "required_amount": "50.00", "shortage": "20.00"})
    );
}

#[tokio::test]
async fn a_session_reused_for_another_game_is_409_and_ending_an_unknown_one_is_404() {
    let app = TestApp::spawn().await;
    let a = app.arcade("500", "10.00", 2, 8).await;
    let other_app = app.create_app("10.00", 2, 8).await;
    assert_eq!(app.grant(a.operator, other_app, None).await.status, 201);
    let other_site = app.open_site(a.operator).await;
    let h = &a.headset;
    let session = h.new_session_id();
    let first = h.authorize(&session, a.app, a.site, 3).await;
    assert_eq!(first.status, 200, "{}", first.raw);
    for (app_id, site, players) in [
        (a.app, a.site, 4),
        (other_app, a.site, 3),
        (a.app, other_site, 3),
    ] {
        let r = refused(
            &app,
            a.operator,
            h.authorize(&session, app_id, site, players),
            409,
            "SESSION_ID_CONFLICT",
            &["original"],
        )
        .await;
        assert_eq!(r.body["details"]["original"], *first.data());
    }
    assert_eq!(app.charges(a.operator).await, 1);

    let unknown = h.new_session_id();
    let r = refused(
        &app,
        a.operator,
        h.end(&unknown, Some(60)),
        404,
        "SESSION_NOT_FOUND",
        &[],
    )
    .await;
    assert_eq!(r.body["details"], json!({}));
}

#[tokio::test]
async fn a_body_over_16_kib_is_413_on_every_endpoint_and_one_of_exactly_16_kib_is_not() {
    let app = TestApp::spawn().await;
    let a = app.arcade("500", "10.00", 2, 8).await;
    let h = &a.headset;
    let oversize = padded_authorize_body(a.app, a.site, 2, BODY_LIMIT + 1);
    let session = h.new_session_id();
    for (method, path, with_session) in [
        ("POST", AUTHORIZE_PATH, true),
        ("POST", END_PATH, true),
        ("GET", CONFIG_PATH, false),
        ("POST", HEARTBEAT_PATH, false),
    ] {
        let session = with_session.then_some(session.as_str());
        let call = Call::signed(h, method, path, oversize.clone(), session, None);
        refused(&app, a.operator, call.send(), 413, "PAYLOAD_TOO_LARGE", &[]).await;
    }

    let exact = padded_authorize_body(a.app, a.site, 2, BODY_LIMIT);
    let r = Call::authorize(h, exact).send().await;
    assert_eq!(r.status, 200, "16,384 bytes are accepted: {}", r.raw);
    assert_eq!(app.charges(a.operator).await, 1);
    let mut heartbeat: Value = serde_json::from_slice(&heartbeat_body(a.site)).unwrap();
    heartbeat["padding"] = json!("");
    let pad = BODY_LIMIT - bytes(&heartbeat).len();
    heartbeat["padding"] = json!("x".repeat(pad));
    let call = Call::signed(h, "POST", HEARTBEAT_PATH, bytes(&heartbeat), None, None);
    let r = call.send().await;
    assert_eq!(r.status, 200, "16,384 bytes are accepted: {}", r.raw);
}

#[tokio::test]
async fn an_unreachable_database_is_503_quickly_and_charges_nothing() {
    let app = TestApp::spawn().await;
    let a = app.arcade("500", "10.00", 2, 8).await;
    let settings = Settings {
        database_url: "postgres://postgres@127.0.0.1:1/unreachable".to_owned(),
        db_pool_wait_ms: 200,
        ..harness::settings(&app.db)
    };
    let outage = instance(&settings, command_api::ledger::system_clock());
    // Real credentials, a valid request: only the database is missing (the key is not cached
    // by the new instance, so it must be read).
    let headset = at(&a.headset, &outage);
    let started = Instant::now();
    let session = headset.new_session_id();
    let call = headset.authorize(&session, a.app, a.site, 2);
    let bounded = async {
        tokio::time::timeout(2 * OUTAGE_ANSWER_MAX, call)
            .await
            .expect("answers while the database is down")
    };
    let r = refused(&app, a.operator, bounded, 503, "SERVICE_UNAVAILABLE", &[]).await;
    assert!(
        started.elapsed() < OUTAGE_ANSWER_MAX,
        "took {:?}",
        started.elapsed()
    );
    assert!(
        !r.raw.contains("127.0.0.1") && !r.raw.to_lowercase().contains("postgres"),
        "no internals leak: {}",
        r.raw
    );
    // The same request on the live instance is fine: only the outage refused it.
    let r = a.headset.authorize(&session, a.app, a.site, 2).await;
    assert_eq!(r.status, 200, "{}", r.raw);
}

#[tokio::test]
async fn end_config_and_heartbeat_reject_a_bad_signature_and_an_unknown_key() {
    let app = TestApp::spawn().await;
    let a = app.arcade("500", "10.00", 2, 8).await;
    let session = a.headset.new_session_id();
    let authorized = a.headset.new_session_id();
    let ok = a.headset.authorize(&authorized, a.app, a.site, 2).await;
    assert_eq!(ok.status, 200, "{}", ok.raw);
    let forger = with_secret(&app, &a.headset, &"y".repeat(64));
    let stranger = with_key(&app, &a.headset, "mrk_ffffffffffffffffffffffffffffffff");
    for (client, code) in [
        (&forger, "INVALID_SIGNATURE"),
        (&stranger, "INVALID_API_KEY"),
    ] {
        let op = a.operator;
        refused(&app, op, client.end(&authorized, Some(30)), 401, code, &[]).await;
        refused(&app, op, client.end(&session, None), 401, code, &[]).await;
        refused(&app, op, client.config(), 401, code, &[]).await;
        refused(
            &app,
            op,
            client.heartbeat(a.site, "vr-01", 2),
            401,
            code,
            &[],
        )
        .await;
    }
    let ended = app
        .events_of(a.operator)
        .await
        .iter()
        .filter(|(t, _)| t == "GameEnded")
        .count();
    assert_eq!(ended, 0, "no game was ended");
}

// ---- the check order: the earlier check answers ----------------------------------------------

#[tokio::test]
async fn an_oversize_body_without_any_header_is_413_before_everything() {
    let app = TestApp::spawn().await;
    let a = app.arcade("500", "10.00", 2, 8).await;
    let junk = vec![b'{'; BODY_LIMIT + 1];
    for (method, path) in [
        ("POST", AUTHORIZE_PATH),
        ("POST", END_PATH),
        ("GET", CONFIG_PATH),
        ("POST", HEARTBEAT_PATH),
    ] {
        let call = Call::bare(&app.base, method, path, junk.clone());
        refused(&app, a.operator, call.send(), 413, "PAYLOAD_TOO_LARGE", &[]).await;
    }
}

#[tokio::test]
async fn params_are_checked_before_the_key_and_the_key_before_the_timestamp() {
    let app = TestApp::spawn().await;
    let a = app.arcade("500", "10.00", 2, 8).await;
    let stranger = with_key(&app, &a.headset, "mrk_unknown");
    let mistyped = bytes(&json!({"app_id": a.app, "site_id": a.site, "player_count": "2"}));
    let r = refused(
        &app,
        a.operator,
        Call::authorize(&stranger, mistyped).send(),
        400,
        "INVALID_PARAMS",
        &["fields"],
    )
    .await;
    assert_eq!(r.body["details"]["fields"], json!(["player_count"]));

    let stale = (Utc::now() - OUTSIDE_WINDOW).timestamp();
    let session = a.headset.new_session_id();
    let body = bytes(&authorize_body(a.app, a.site, 2));
    let call = Call::signed(
        &stranger,
        "POST",
        AUTHORIZE_PATH,
        body,
        Some(&session),
        Some(stale),
    );
    refused(&app, a.operator, call.send(), 401, "INVALID_API_KEY", &[]).await;
}

#[tokio::test]
async fn a_stale_timestamp_is_reported_before_a_bad_signature() {
    let app = TestApp::spawn().await;
    let a = app.arcade("500", "10.00", 2, 8).await;
    let forger = with_secret(&app, &a.headset, &"z".repeat(64));
    let stale = (Utc::now() - OUTSIDE_WINDOW).timestamp();
    let session = forger.new_session_id();
    let body = bytes(&authorize_body(a.app, a.site, 2));
    let call = Call::signed(
        &forger,
        "POST",
        AUTHORIZE_PATH,
        body,
        Some(&session),
        Some(stale),
    );
    refused(
        &app,
        a.operator,
        call.send(),
        401,
        "TIMESTAMP_EXPIRED",
        &["server_time", "request_time", "max_diff_seconds"],
    )
    .await;
}

#[tokio::test]
async fn a_bad_signature_is_reported_before_a_locked_account() {
    let app = TestApp::spawn().await;
    let a = app.arcade("500", "10.00", 2, 8).await;
    lock(&app, a.operator, "风控审查").await;
    let forger = with_secret(&app, &a.headset, &"z".repeat(64));
    let session = forger.new_session_id();
    refused(
        &app,
        a.operator,
        forger.authorize(&session, a.app, a.site, 2),
        401,
        "INVALID_SIGNATURE",
        &[],
    )
    .await;
}

#[tokio::test]
async fn a_locked_account_is_reported_before_a_malformed_session_id() {
    let app = TestApp::spawn().await;
    let a = app.arcade("500", "10.00", 2, 8).await;
    lock(&app, a.operator, "风控审查").await;
    refused(
        &app,
        a.operator,
        a.headset.authorize("garbage", a.app, a.site, 2),
        403,
        "ACCOUNT_LOCKED",
        &["locked_at", "reason"],
    )
    .await;
}

#[tokio::test]
async fn a_malformed_session_id_is_reported_before_an_unknown_site() {
    let app = TestApp::spawn().await;
    let a = app.arcade("500", "10.00", 2, 8).await;
    refused(
        &app,
        a.operator,
        a.headset.authorize("garbage", a.app, SiteId::new(), 2),
        400,
        "INVALID_SESSION_ID_FORMAT",
        &[],
    )
    .await;
}

#[tokio::test]
async fn a_replay_is_answered_before_the_site_is_checked() {
    let app = TestApp::spawn().await;
    let a = app.arcade("500", "10.00", 2, 8).await;
    let session = a.headset.new_session_id();
    let first = a.headset.authorize(&session, a.app, a.site, 2).await;
    assert_eq!(first.status, 200, "{}", first.raw);
    close_site(&app, a.operator, a.site).await;
    let books = Books::of(&app, a.operator).await;
    let again = a.headset.authorize(&session, a.app, a.site, 2).await;
    assert_eq!(again.status, 200, "{}", again.raw);
    assert!(again.replayed);
    assert_eq!(again.raw, first.raw);
    books.assert_unchanged(&app).await;
    refused(&app, a.operator, fresh(&a, 2), 403, "SITE_INACTIVE", &[]).await;
}

#[tokio::test]
async fn a_replay_is_answered_even_after_its_session_window_has_passed() {
    let app = TestApp::spawn().await;
    let a = app.arcade("500", "10.00", 2, 8).await;
    let session = a.headset.new_session_id();
    let first = a.headset.authorize(&session, a.app, a.site, 2).await;
    assert_eq!(first.status, 200, "{}", first.raw);
    // An instance whose clock is 400 s ahead: the session's stamp is outside its window.
    let later = instance(&harness::settings(&app.db), shifted_clock(OUTSIDE_WINDOW));
    let headset = at(&a.headset, &later);
    let body = bytes(&authorize_body(a.app, a.site, 2));
    let then = (Utc::now() + OUTSIDE_WINDOW).timestamp();
    let books = Books::of(&app, a.operator).await;
    let again = headset
        .send("POST", AUTHORIZE_PATH, &body, Some(&session), Some(then))
        .await;
    assert_eq!(again.status, 200, "{}", again.raw);
    assert!(again.replayed);
    assert_eq!(again.raw, first.raw);
    books.assert_unchanged(&app).await;
    let unseen = a.headset.new_session_id();
    let then = (Utc::now() + OUTSIDE_WINDOW).timestamp();
    let call = headset.send("POST", AUTHORIZE_PATH, &body, Some(&unseen), Some(then));
    refused(&app, a.operator, call, 400, "SESSION_ID_EXPIRED", &[]).await;
}

#[tokio::test]
async fn an_unknown_site_is_reported_before_an_unknown_app() {
    let app = TestApp::spawn().await;
    let a = app.arcade("500", "10.00", 2, 8).await;
    let session = a.headset.new_session_id();
    refused(
        &app,
        a.operator,
        a.headset
            .authorize(&session, AppId::new(), SiteId::new(), 2),
        404,
        "SITE_NOT_FOUND",
        &[],
    )
    .await;
}

#[tokio::test]
async fn a_retired_app_is_reported_before_a_missing_grant() {
    let app = TestApp::spawn().await;
    let a = app.arcade("500", "10.00", 2, 8).await;
    let retired = app.create_app("10.00", 2, 8).await;
    retire(&app, retired).await;
    let session = a.headset.new_session_id();
    refused(
        &app,
        a.operator,
        a.headset.authorize(&session, retired, a.site, 2),
        403,
        "APP_INACTIVE",
        &[],
    )
    .await;
}

#[tokio::test]
async fn each_later_check_waits_for_the_one_before_it() {
    let app = TestApp::spawn().await;
    let a = app.arcade("30", "10.00", 2, 8).await;
    let (other, _, _) = app.create_operator().await;
    let h = &a.headset;
    let (op, nowhere) = (a.operator, SiteId::new());

    // Session operator before the site, the session window before the site.
    let foreign = new_session_id(other, Utc::now());
    let call = h.authorize(&foreign, a.app, nowhere, 2);
    refused(&app, op, call, 400, "SESSION_ID_OPERATOR_MISMATCH", &[]).await;
    let stale = session_at(op, -OUTSIDE_WINDOW);
    let call = h.authorize(&stale, a.app, nowhere, 2);
    refused(&app, op, call, 400, "SESSION_ID_EXPIRED", &[]).await;
    // Site before the grant; the grant before the player count; the player count before
    // the balance (9 players would cost 90.00 of 30.00).
    let ungranted = app.create_app("10.00", 2, 8).await;
    let session = h.new_session_id();
    let call = h.authorize(&session, ungranted, nowhere, 2);
    refused(&app, op, call, 404, "SITE_NOT_FOUND", &[]).await;
    let session = h.new_session_id();
    let call = h.authorize(&session, ungranted, a.site, 9);
    refused(
        &app,
        op,
        call,
        403,
        "APP_NOT_AUTHORIZED",
        &["app_id", "app_name"],
    )
    .await;
    let r = refused(
        &app,
        op,
        fresh(&a, 9),
        400,
        "PLAYER_COUNT_OUT_OF_RANGE",
        &["min_players", "max_players", "requested_players"],
    )
    .await;
    assert_eq!(r.body["details"]["requested_players"], 9);
    // A session authorized before the account was locked: the account state comes first.
    let session = h.new_session_id();
    assert_eq!(h.authorize(&session, a.app, a.site, 2).await.status, 200);
    let expired = app.grant(op, a.app, Some("2020-01-01T00:00:00Z")).await;
    assert_eq!(expired.status, 200, "{}", expired.raw);
    let r = refused(
        &app,
        op,
        fresh(&a, 9),
        403,
        "AUTHORIZATION_EXPIRED",
        &["app_name", "expired_at"],
    )
    .await;
    assert_eq!(r.body["details"]["expired_at"], "2020-01-01T00:00:00.000Z");
    lock(&app, op, "风控审查").await;
    let call = h.authorize(&session, a.app, a.site, 2);
    refused(
        &app,
        op,
        call,
        403,
        "ACCOUNT_LOCKED",
        &["locked_at", "reason"],
    )
    .await;
}
