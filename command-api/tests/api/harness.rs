//! Starts the command API in-process on port 0 against a fresh database, with helpers to set
//! up the business through the staff API exactly as a client would.

use std::collections::HashMap;
use std::net::TcpListener;

use actix_web::web;
use base64::Engine;
use command_api::http::AppState;
use command_api::rate_limit::config::RateLimitSettings;
use command_api::settings::{Secret, Settings};
use ledger_core::ids::{AppId, OperatorId, SiteId};
use ledger_core::metadata::ActorRole;
use serde_json::{Value, json};
use tests::db::TestDb;
use tests::headset::{HeadsetClient, Reply, reply};

pub const ADMIN: &str = "root_admin";
pub const ADMIN_PASSWORD: &str = "correct horse battery";
/// Password of the staff accounts `staff_token` creates.
pub const STAFF_PASSWORD: &str = "Staff-Pass-1";
/// Password of the operators `register_operator` registers.
pub const OPERATOR_PASSWORD: &str = "Operator-Pass-1";

pub fn settings(db: &TestDb) -> Settings {
    Settings {
        database_url: db.url.clone(),
        master_key: Secret(base64::engine::general_purpose::STANDARD.encode([42u8; 32])),
        jwt_secret: Secret("test-jwt-secret-that-is-long-enough-1234".to_owned()),
        bootstrap_admin_username: ADMIN.to_owned(),
        bootstrap_admin_password: Secret(ADMIN_PASSWORD.to_owned()),
        db_pool_size: 16,
        // Cheap argon2: tests log in all the time; production keeps the crate's defaults.
        password_hash_memory_kib: 1024,
        password_hash_iterations: 1,
        // Limits far above any test's traffic (tests of the limits lower them), counted under
        // this database's own prefix so parallel tests on the shared Redis never meet.
        rate_limits: RateLimitSettings {
            rate_limit_key_prefix: format!("mr:rl:test:{}", db.name),
            rate_limit_per_ip: 1_000_000,
            rate_limit_operator_vip: 1_000_000,
            rate_limit_operator_standard: 1_000_000,
            rate_limit_operator_trial: 1_000_000,
            ..RateLimitSettings::default()
        },
        ..Settings::default()
    }
}

/// Another command-api on a `TestApp`'s database.
pub struct SecondInstance {
    pub base: String,
    pub state: web::Data<AppState>,
}

pub struct TestApp {
    pub base: String,
    pub state: web::Data<AppState>,
    pub token: String,
    pub http: reqwest::Client,
    pub db: TestDb,
    /// Staff accounts made by `staff_token`, by role name: (username, password).
    staff_accounts: tokio::sync::Mutex<HashMap<&'static str, String>>,
}

/// An operator ready to play: balance, one open site, one granted app.
#[derive(Clone)]
pub struct Arcade {
    pub operator: OperatorId,
    pub app: AppId,
    pub site: SiteId,
    pub headset: HeadsetClient,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        let db = TestDb::new().await;
        Self::spawn_on(db).await
    }

    /// A second instance on the same database, with caches of its own.
    pub async fn spawn_on_same(other: &TestApp) -> SecondInstance {
        let settings = settings(&other.db);
        let state = command_api::state(&settings, command_api::ledger::system_clock()).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(command_api::serve(listener, state.clone(), 2).unwrap());
        SecondInstance { base, state }
    }

    pub async fn spawn_on(db: TestDb) -> TestApp {
        Self::spawn_with(db, |_| {}).await
    }

    /// Like `spawn`, with settings adjusted by `adjust`.
    pub async fn spawn_with(db: TestDb, adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let mut settings = settings(&db);
        adjust(&mut settings);
        let state = command_api::state(&settings, command_api::ledger::system_clock()).unwrap();
        command_api::bootstrap(&state, &settings).await.unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(command_api::serve(listener, state.clone(), 2).unwrap());
        let http = reqwest::Client::new();
        let login = http
            .post(format!("{base}/api/v1/auth/staff/login"))
            .json(&json!({"username": ADMIN, "password": ADMIN_PASSWORD}))
            .send()
            .await
            .unwrap();
        let body: Value = login.json().await.unwrap();
        let token = body["data"]["access_token"]
            .as_str()
            .expect("login works")
            .to_owned();
        TestApp {
            base,
            state,
            token,
            http,
            db,
            staff_accounts: tokio::sync::Mutex::default(),
        }
    }

    /// `method path` with `body` as whoever `token` belongs to (`None`: no token).
    pub async fn call(&self, token: Option<&str>, method: &str, path: &str, body: Value) -> Reply {
        let url = format!("{}{}", self.base, path);
        let mut request = match method {
            "PATCH" => self.http.patch(url),
            "DELETE" => self.http.delete(url),
            "GET" => self.http.get(url),
            _ => self.http.post(url),
        };
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        reply(request.json(&body).send().await.unwrap()).await
    }

    /// A login at `kind`'s door ("staff" or "operator").
    pub async fn login(&self, kind: &str, username: &str, password: &str) -> Reply {
        self.call(
            None,
            "POST",
            &format!("/api/v1/auth/{kind}/login"),
            json!({"username": username, "password": password}),
        )
        .await
    }

    /// The access token of a fresh login of a staff member holding `role`. The account is
    /// created (once per role per app) by the bootstrap super admin through the staff API;
    /// its username is `t_<role>` and its password `STAFF_PASSWORD`.
    pub async fn staff_token(&self, role: ActorRole) -> String {
        let username = {
            let mut made = self.staff_accounts.lock().await;
            if let Some(username) = made.get(role.as_str()) {
                username.clone()
            } else {
                let username: String = format!("t_{}", role.as_str()).chars().take(20).collect();
                let r = self
                    .staff(
                        "POST",
                        "/api/v1/admin/staff",
                        json!({"username": username, "name": format!("Test {}", role.as_str()),
                               "role": role.as_str(), "password": STAFF_PASSWORD}),
                    )
                    .await;
                assert_eq!(
                    r.status,
                    201,
                    "creating a {} account: {}",
                    role.as_str(),
                    r.raw
                );
                made.insert(role.as_str(), username.clone());
                username
            }
        };
        let r = self.login("staff", &username, STAFF_PASSWORD).await;
        assert_eq!(r.status, 200, "staff login: {}", r.raw);
        r.data()["access_token"].as_str().unwrap().to_owned()
    }

    /// Registers an operator through the public registration route:
    /// (operator id, key id, secret, password).
    pub async fn register_operator(&self, username: &str) -> (OperatorId, String, String, String) {
        let r = self
            .call(
                None,
                "POST",
                "/api/v1/auth/operator/register",
                json!({"username": username, "name": "星际体验馆", "phone": "13800000000",
                       "email": "op@example.com", "password": OPERATOR_PASSWORD}),
            )
            .await;
        assert_eq!(r.status, 201, "registration: {}", r.raw);
        let d = r.data();
        (
            d["operator"]["id"].as_str().unwrap().parse().unwrap(),
            d["credentials"]["key_id"].as_str().unwrap().to_owned(),
            d["credentials"]["secret"].as_str().unwrap().to_owned(),
            OPERATOR_PASSWORD.to_owned(),
        )
    }

    /// The access token of a fresh operator login.
    pub async fn operator_token(&self, username: &str, password: &str) -> String {
        let r = self.login("operator", username, password).await;
        assert_eq!(r.status, 200, "operator login: {}", r.raw);
        r.data()["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn staff(&self, method: &str, path: &str, body: Value) -> Reply {
        let url = format!("{}{}", self.base, path);
        let request = match method {
            "PATCH" => self.http.patch(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url),
        };
        reply(
            request
                .bearer_auth(&self.token)
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn create_app(&self, price: &str, min: u32, max: u32) -> AppId {
        let r = self
            .staff(
                "POST",
                "/api/v1/admin/apps",
                json!({"name": "太空探险", "unit_price": price,
                   "min_players": min, "max_players": max}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.raw);
        r.data()["id"].as_str().unwrap().parse().unwrap()
    }

    pub async fn create_operator(&self) -> (OperatorId, String, String) {
        let username = format!("op_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let r = self
            .staff(
                "POST",
                "/api/v1/admin/operators",
                json!({"username": username, "name": "星际体验馆",
                   "phone": "13800000000", "email": "op@example.com"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.raw);
        let d = r.data();
        (
            d["operator"]["id"].as_str().unwrap().parse().unwrap(),
            d["credentials"]["key_id"].as_str().unwrap().to_owned(),
            d["credentials"]["secret"].as_str().unwrap().to_owned(),
        )
    }

    pub async fn open_site(&self, operator: OperatorId) -> SiteId {
        let r = self
            .staff(
                "POST",
                &format!("/api/v1/admin/operators/{operator}/sites"),
                json!({"name": "北京朝阳店", "address": "北京市朝阳区"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.raw);
        r.data()["id"].as_str().unwrap().parse().unwrap()
    }

    pub async fn grant(&self, operator: OperatorId, app: AppId, expires_at: Option<&str>) -> Reply {
        self.staff(
            "POST",
            &format!("/api/v1/admin/operators/{operator}/grants"),
            json!({"app_id": app, "expires_at": expires_at}),
        )
        .await
    }

    pub async fn credit(&self, operator: OperatorId, amount: &str) -> Reply {
        self.staff(
            "POST",
            &format!("/api/v1/finance/operators/{operator}/manual-credits"),
            json!({"amount": amount, "reason": "bank transfer"}),
        )
        .await
    }

    pub fn headset(&self, operator: OperatorId, key_id: &str, secret: &str) -> HeadsetClient {
        HeadsetClient::new(&self.base, operator, key_id, secret)
    }

    /// An operator with `balance`, a site and a granted app at `price` for `min..=max` players.
    pub async fn arcade(&self, balance: &str, price: &str, min: u32, max: u32) -> Arcade {
        let app = self.create_app(price, min, max).await;
        let (operator, key_id, secret) = self.create_operator().await;
        let site = self.open_site(operator).await;
        assert_eq!(self.grant(operator, app, None).await.status, 201);
        if balance != "0" {
            assert_eq!(self.credit(operator, balance).await.status, 201);
        }
        Arcade {
            operator,
            app,
            site,
            headset: self.headset(operator, &key_id, &secret),
        }
    }

    /// The operator's balance as the ledger has it now.
    pub async fn balance(&self, operator: OperatorId) -> String {
        self.state
            .ledger
            .operator_state(operator)
            .await
            .unwrap()
            .balance
            .to_string()
    }

    /// Money events of the operator's stream: (event_type, payload).
    pub async fn events_of(&self, operator: OperatorId) -> Vec<(String, Value)> {
        let client = self.db.client().await;
        client
            .query(
                "SELECT event_type, payload::text FROM events WHERE aggregate_type = 'Operator' \
                 AND aggregate_id = $1 ORDER BY sequence",
                &[&operator.to_string()],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r.get::<_, String>(0),
                    serde_json::from_str(r.get::<_, &str>(1)).unwrap(),
                )
            })
            .collect()
    }

    pub async fn charges(&self, operator: OperatorId) -> usize {
        self.events_of(operator)
            .await
            .iter()
            .filter(|(t, _)| t == "GameAuthorized")
            .count()
    }
}

impl TestApp {
    /// Runs the projector until it has applied every event, then checks the read tables
    /// against a replay; returns the projected balance of `operator`.
    pub async fn project_and_verify(&self, operator: OperatorId) -> String {
        let mut client = self.db.client().await;
        while let projector::Step::Projected(_) = projector::project_next_batch(&mut client, "read")
            .await
            .unwrap()
        {}
        let report = projector::verify(&mut client, "read").await.unwrap();
        assert!(report.is_clean(), "{report}");
        let balance: rust_decimal::Decimal = client
            .query_one(
                "SELECT balance FROM read.operators WHERE id = $1",
                &[&operator.as_uuid()],
            )
            .await
            .unwrap()
            .get(0);
        balance.to_string()
    }

    /// Usage rows the projector wrote for `operator`.
    pub async fn usage_rows(&self, operator: OperatorId) -> i64 {
        let client = self.db.client().await;
        client
            .query_one(
                "SELECT count(*) FROM read.usage_records WHERE operator_id = $1",
                &[&operator.as_uuid()],
            )
            .await
            .unwrap()
            .get(0)
    }
}
