//! Starts the query API in-process on port 0 against a fresh database, creates login
//! accounts and sessions and mints their tokens, and writes read-model rows and events
//! directly (standing in for the projector and the command API: the query side itself never
//! writes).

use std::net::TcpListener;
use std::str::FromStr;

use actix_web::dev::ServerHandle;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{EncodingKey, Header};
use ledger_core::chain::{self, ChainedEvent, GENESIS, Hash};
use ledger_core::metadata::ActorRole;
use ledger_core::staff::{self, StaffClaims};
use query_api::{Secret, Settings};
use rust_decimal::Decimal;
use serde_json::Value;
use tests::db::TestDb;
use uuid::Uuid;

pub const SECRET: &str = "query-api-test-secret-0123456789abcdef";

pub struct TestApp {
    pub base_url: String,
    pub http: reqwest::Client,
    /// Kept alive for the app's lifetime; dropping it drops the database.
    _db: TestDb,
    pub sql: tokio_postgres::Client,
    handle: ServerHandle,
    /// A super admin's live login, used by [`TestApp::get`].
    pub admin: Login,
}

/// A live login session and its access token.
#[derive(Debug, Clone)]
pub struct Login {
    pub account_id: Uuid,
    pub session_id: Uuid,
    pub role: ActorRole,
    pub token: String,
}

/// A raw answer (for non-JSON bodies such as PDFs).
#[derive(Debug)]
pub struct RawReply {
    pub status: u16,
    pub content_type: Option<String>,
    pub content_disposition: Option<String>,
    pub body: Vec<u8>,
}

/// What the API answered.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub request_id_header: Option<String>,
    pub body: Value,
}

impl Reply {
    /// `data` of a success body (asserting it is one).
    pub fn data(&self) -> &Value {
        assert_eq!(
            self.body["success"],
            Value::Bool(true),
            "not a success: {self:?}"
        );
        &self.body["data"]
    }

    /// Asserts an error body with this status and code.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.body["success"], Value::Bool(false), "{self:?}");
        assert_eq!(self.body["error_code"], code, "{self:?}");
        assert!(
            self.body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{self:?}"
        );
        assert!(self.body["details"].is_object(), "{self:?}");
        assert!(
            self.body["request_id"]
                .as_str()
                .is_some_and(|r| !r.is_empty()),
            "{self:?}"
        );
    }

    /// `details.fields` of an INVALID_PARAMS answer, sorted.
    pub fn invalid_fields(&self) -> Vec<String> {
        self.assert_error(400, "INVALID_PARAMS");
        let mut fields: Vec<String> = self.body["details"]["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .map(|f| f.as_str().unwrap().to_owned())
            .collect();
        fields.sort();
        fields
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        let db = TestDb::new().await;
        let settings = Settings::new(db.url.clone(), Secret::new(SECRET));
        TestApp::spawn_with(db, settings).await
    }

    /// Starts with `settings` adjusted for tests (one worker, a small pool).
    pub async fn spawn_with(db: TestDb, mut settings: Settings) -> TestApp {
        settings.http_workers = 1;
        settings.db_pool_size = 4;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = query_api::build(listener, &settings).expect("server builds");
        let handle = server.handle();
        tokio::spawn(server);
        let sql = db.client().await;
        let admin = create_login(&sql, Uuid::now_v7(), ActorRole::SuperAdmin).await;
        TestApp {
            base_url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            _db: db,
            sql,
            handle,
            admin,
        }
    }

    /// A new staff account with `role` and a live session.
    pub async fn login(&self, role: ActorRole) -> Login {
        assert!(role.is_staff(), "{role:?}");
        create_login(&self.sql, Uuid::now_v7(), role).await
    }

    /// A live session of operator `operator_id` (its login account is created on first use).
    pub async fn login_operator(&self, operator_id: Uuid) -> Login {
        create_login(&self.sql, operator_id, ActorRole::Operator).await
    }

    /// GET with a super admin's access token.
    pub async fn get(&self, path: &str) -> Reply {
        self.get_with(path, Some(&self.admin.token), &[]).await
    }

    /// GET with `login`'s access token.
    pub async fn get_as(&self, login: &Login, path: &str) -> Reply {
        self.get_with(path, Some(&login.token), &[]).await
    }

    /// GET with `login`'s token, returning the body as bytes.
    pub async fn get_raw(&self, login: &Login, path: &str) -> RawReply {
        let response = self
            .http
            .get(format!("{}{path}", self.base_url))
            .bearer_auth(&login.token)
            .send()
            .await
            .expect("request sent");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let content_type = header("content-type");
        let content_disposition = header("content-disposition");
        RawReply {
            status: response.status().as_u16(),
            content_type,
            content_disposition,
            body: response.bytes().await.unwrap().to_vec(),
        }
    }

    /// GET with the given token (or none) and extra headers.
    pub async fn get_with(
        &self,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self.http.get(format!("{}{path}", self.base_url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let request_id_header = response
            .headers()
            .get("x-request-id")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = response.text().await.unwrap();
        let body =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
        Reply {
            status,
            request_id_header,
            body,
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Sends the stop command at once; the returned future only waits for completion.
        drop(self.handle.stop(false));
    }
}

/// Creates the login account `account_id` (unless it exists) and a live session of it.
async fn create_login(sql: &tokio_postgres::Client, account_id: Uuid, role: ActorRole) -> Login {
    let kind = if role == ActorRole::Operator {
        "operator"
    } else {
        "staff"
    };
    let username = format!("{kind}_{}", account_id.simple());
    sql.execute(
        "INSERT INTO accounts (id, kind, username, role, created_at) VALUES ($1, $2, $3, $4, now())
         ON CONFLICT (id) DO NOTHING",
        &[&account_id, &kind, &username, &role.as_str()],
    )
    .await
    .unwrap();
    let session_id = Uuid::now_v7();
    sql.execute(
        "INSERT INTO auth_sessions (id, account_id, source_ip, created_at, refreshed_at, expires_at)
         VALUES ($1, $2, '127.0.0.1', now(), now(), now() + interval '1 hour')",
        &[&session_id, &account_id],
    )
    .await
    .unwrap();
    let mut claims = claims(role, staff::ACCESS, Duration::hours(1));
    claims.sub = account_id.hyphenated().to_string();
    claims.sid = session_id;
    Login {
        account_id,
        session_id,
        role,
        token: sign(&claims, SECRET),
    }
}

/// Claims of a token for `role` of no session (a random account and session).
pub fn claims(role: ActorRole, kind: &str, expires_in: Duration) -> StaffClaims {
    let now = Utc::now();
    StaffClaims {
        sub: Uuid::now_v7().hyphenated().to_string(),
        role,
        sid: Uuid::now_v7(),
        kind: kind.to_owned(),
        generation: 0,
        iat: now.timestamp(),
        exp: (now + expires_in).timestamp(),
    }
}

pub fn sign(claims: &StaffClaims, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

pub fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// An operator row; `balance` also sets the totals to something plausible.
pub async fn insert_operator(
    sql: &tokio_postgres::Client,
    username: &str,
    status: &str,
    balance: &str,
) -> Uuid {
    let id = Uuid::now_v7();
    insert_operator_full(
        sql,
        id,
        username,
        &format!("{username} Arcade"),
        status,
        "standard",
        balance,
        at("2026-01-01T00:00:00Z"),
    )
    .await;
    id
}

#[allow(clippy::too_many_arguments)]
pub async fn insert_operator_full(
    sql: &tokio_postgres::Client,
    id: Uuid,
    username: &str,
    name: &str,
    status: &str,
    category: &str,
    balance: &str,
    registered_at: DateTime<Utc>,
) {
    let (locked_at, lock_reason) = if status == "locked" {
        (Some(at("2026-02-01T08:00:00Z")), Some("unpaid invoice"))
    } else {
        (None, None)
    };
    sql.execute(
        "INSERT INTO read.operators (id, username, name, phone, email, category, status, locked_at, lock_reason,
             balance, total_credited, total_charged, games, registered_at, updated_at, last_sequence)
         VALUES ($1, $2, $3, '13800000000', $4, $5, $6, $7, $8, $9::numeric, $9::numeric + 100, 100, 7, $10, $10, 9)",
        &[
            &id,
            &username,
            &name,
            &format!("{username}@example.com"),
            &category,
            &status,
            &locked_at,
            &lock_reason,
            &dec(balance),
            &registered_at,
        ],
    )
    .await
    .unwrap();
}

pub async fn insert_site(sql: &tokio_postgres::Client, operator_id: Uuid, name: &str) -> Uuid {
    let id = Uuid::now_v7();
    sql.execute(
        "INSERT INTO read.sites (id, operator_id, name, address, status, opened_at, updated_at)
         VALUES ($1, $2, $3, 'No. 1 Road', 'open', now(), now())",
        &[&id, &operator_id, &name],
    )
    .await
    .unwrap();
    id
}

pub async fn insert_app(
    sql: &tokio_postgres::Client,
    name: &str,
    unit_price: &str,
    status: &str,
) -> Uuid {
    let id = Uuid::now_v7();
    sql.execute(
        "INSERT INTO read.apps (id, name, description, unit_price, min_players, max_players, status, created_at, updated_at,
             last_sequence)
         VALUES ($1, $2, '', $3, 1, 8, $4, now(), now(), 1)",
        &[&id, &name, &dec(unit_price), &status],
    )
    .await
    .unwrap();
    id
}

pub async fn insert_grant(
    sql: &tokio_postgres::Client,
    operator_id: Uuid,
    app_id: Uuid,
    expires_at: Option<DateTime<Utc>>,
) {
    sql.execute(
        "INSERT INTO read.grants (operator_id, app_id, expires_at, status, granted_at)
         VALUES ($1, $2, $3, 'active', now())",
        &[&operator_id, &app_id, &expires_at],
    )
    .await
    .unwrap();
}

/// One usage record; `position` doubles as the session's distinguishing part.
pub struct Usage {
    pub site_id: Uuid,
    pub app_id: Uuid,
    pub authorized_at: DateTime<Utc>,
    pub position: i64,
}

pub async fn insert_usage(
    sql: &tokio_postgres::Client,
    operator_id: Uuid,
    usage: &Usage,
) -> String {
    let session_id = format!(
        "{operator_id}_{}_{:016}",
        usage.authorized_at.timestamp_millis(),
        usage.position
    );
    sql.execute(
        "INSERT INTO read.usage_records (operator_id, session_id, site_id, app_id, app_name, player_count,
             unit_price, total_cost, balance_after, authorization_token, authorized_at, position)
         VALUES ($1, $2, $3, $4, 'Space Quest', 3, 10, 30, 970, $5, $6, $7)",
        &[&operator_id, &session_id, &usage.site_id, &usage.app_id, &Uuid::now_v7(), &usage.authorized_at, &usage.position],
    )
    .await
    .unwrap();
    session_id
}

pub async fn insert_transaction(
    sql: &tokio_postgres::Client,
    operator_id: Uuid,
    position: i64,
    kind: &str,
    amount: &str,
    occurred_at: DateTime<Utc>,
) {
    sql.execute(
        "INSERT INTO read.transactions (position, operator_id, kind, amount, balance_after, reference, description, occurred_at)
         VALUES ($1, $2, $3, $4, 500, 'ref', 'desc', $5)",
        &[&position, &operator_id, &kind, &dec(amount), &occurred_at],
    )
    .await
    .unwrap();
}

/// Appends `count` chained events to one stream (starting after `previous`, at `first_sequence`)
/// and returns their hashes.
pub async fn append_events(
    sql: &tokio_postgres::Client,
    aggregate_type: &str,
    aggregate_id: &str,
    first_sequence: i64,
    previous: Hash,
    count: i64,
) -> Vec<Hash> {
    let mut hashes = Vec::new();
    let mut previous = previous;
    for sequence in first_sequence..first_sequence + count {
        // Key order and spacing that a re-serialisation would change: they must survive.
        let payload = format!("{{\"z\": {sequence}, \"a\": \"10.00\"}}");
        let metadata = r#"{"actor_id":"staff-1","actor_role":"admin"}"#;
        let event = ChainedEvent {
            aggregate_type,
            aggregate_id,
            sequence,
            event_type: "BalanceCredited",
            event_version: "1",
            payload: &payload,
            metadata,
        };
        let hash = chain::event_hash(&previous, &event);
        sql.execute(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, hash)
             VALUES ($1, $2, $3, $4, $5, $6::text::json, $7::text::json, $8)",
            &[&aggregate_type, &aggregate_id, &sequence, &event.event_type, &event.event_version, &payload, &metadata, &hash.as_slice()],
        )
        .await
        .unwrap();
        hashes.push(hash);
        previous = hash;
    }
    hashes
}

pub fn genesis() -> Hash {
    GENESIS
}

/// An app application of `operator_id` for `app_id`, applied at `applied_at`.
pub async fn insert_application(
    sql: &tokio_postgres::Client,
    operator_id: Uuid,
    app_id: Uuid,
    status: &str,
    applied_at: DateTime<Utc>,
) -> Uuid {
    let id = Uuid::now_v7();
    sql.execute(
        "INSERT INTO read.app_applications (id, operator_id, app_id, app_name, reason, status, applied_at)
         VALUES ($1, $2, $3, 'Space Quest', 'we have the room', $4, $5)",
        &[&id, &operator_id, &app_id, &status, &applied_at],
    )
    .await
    .unwrap();
    id
}

/// A refund request of `operator_id`; approved ones carry the refunded amount.
pub async fn insert_refund(
    sql: &tokio_postgres::Client,
    operator_id: Uuid,
    status: &str,
    requested_amount: &str,
    requested_at: DateTime<Utc>,
) -> Uuid {
    let id = Uuid::now_v7();
    let (amount, balance_after) = if status == "approved" {
        (Some(dec(requested_amount)), Some(dec("0")))
    } else {
        (None, None)
    };
    sql.execute(
        "INSERT INTO read.refunds (id, operator_id, status, requested_amount, reason, amount, balance_after,
             requested_at)
         VALUES ($1, $2, $3, $4, 'closing down', $5, $6, $7)",
        &[&id, &operator_id, &status, &dec(requested_amount), &amount, &balance_after, &requested_at],
    )
    .await
    .unwrap();
    id
}

/// A recharge order as the projector writes it; a succeeded one carries its transaction id
/// and payment time, a failed or reviewed one a reason.
pub async fn insert_recharge(
    sql: &tokio_postgres::Client,
    operator_id: Uuid,
    channel: &str,
    status: &str,
    amount: &str,
    ordered_at: DateTime<Utc>,
) -> Uuid {
    let id = Uuid::now_v7();
    let out_trade_no = format!("MR{}", &id.simple().to_string()[2..]);
    let paid = status == "succeeded";
    let transaction_id = paid.then(|| format!("4200{}", &id.simple().to_string()[..24]));
    let paid_at = paid.then(|| ordered_at + chrono::Duration::minutes(1));
    let reason = matches!(status, "failed" | "needs_review").then_some("gateway timeout");
    let query_failures = if status == "needs_review" { 3 } else { 0 };
    sql.execute(
        "INSERT INTO read.recharge_orders (id, operator_id, out_trade_no, channel, amount, status,
             transaction_id, query_failures, reason, ordered_at, paid_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $10)",
        &[
            &id,
            &operator_id,
            &out_trade_no,
            &channel,
            &dec(amount),
            &status,
            &transaction_id,
            &query_failures,
            &reason,
            &ordered_at,
            &paid_at,
        ],
    )
    .await
    .unwrap();
    id
}

/// Tax number of every seeded invoice's buyer.
pub const BUYER_TAX_NUMBER: &str = "91310000MA1FL8XQ3K";
/// Tax number of the seller on every seeded issued invoice.
pub const SELLER_TAX_NUMBER: &str = "91110108MA01C2D34E";

/// An invoice request of `operator_id`; an `issued` one gets a number and a seller.
pub async fn insert_invoice(
    sql: &tokio_postgres::Client,
    operator_id: Uuid,
    status: &str,
    amount: &str,
    requested_at: DateTime<Utc>,
) -> Uuid {
    let id = Uuid::now_v7();
    let issued = status == "issued";
    let number = issued.then(|| format!("MR20260301{:08}", requested_at.timestamp() % 100_000_000));
    let seller = issued.then_some("MR Ledger Technology Co., Ltd.");
    let seller_tax = issued.then_some(SELLER_TAX_NUMBER);
    let issued_at = issued.then_some(requested_at + Duration::hours(1));
    sql.execute(
        "INSERT INTO read.invoices (id, operator_id, status, invoice_type, title, tax_number, amount,
             invoice_number, seller_name, seller_tax_number, requested_at, issued_at, reviewed_at)
         VALUES ($1, $2, $3, 'general', '星际游乐有限公司', $4, $5, $6, $7, $8, $9, $10, $10)",
        &[
            &id,
            &operator_id,
            &status,
            &BUYER_TAX_NUMBER,
            &dec(amount),
            &number,
            &seller,
            &seller_tax,
            &requested_at,
            &issued_at,
        ],
    )
    .await
    .unwrap();
    id
}

/// A message of `operator_id` with id (event position) `id`.
pub async fn insert_message(
    sql: &tokio_postgres::Client,
    operator_id: Uuid,
    id: i64,
    kind: &str,
    data: Value,
    read: bool,
) {
    let read_at = read.then(Utc::now);
    sql.execute(
        "INSERT INTO read.messages (operator_id, id, kind, data, created_at, read_at)
         VALUES ($1, $2, $3, $4, now(), $5)",
        &[&operator_id, &id, &kind, &data, &read_at],
    )
    .await
    .unwrap();
}

/// A staff account row of the read model.
pub async fn insert_staff(sql: &tokio_postgres::Client, id: Uuid, username: &str, role: ActorRole) {
    sql.execute(
        "INSERT INTO read.staff (id, username, name, role, status, created_at, updated_at)
         VALUES ($1, $2, $2, $3, 'active', now(), now())",
        &[&id, &username, &role.as_str()],
    )
    .await
    .unwrap();
}

/// One staff action of the audit log.
pub struct StaffAction<'a> {
    pub position: i64,
    pub actor_id: &'a str,
    pub actor_role: &'a str,
    pub action: &'a str,
    pub aggregate_type: &'a str,
    pub aggregate_id: &'a str,
    pub occurred_at: DateTime<Utc>,
}

pub async fn insert_staff_action(sql: &tokio_postgres::Client, action: &StaffAction<'_>) {
    sql.execute(
        "INSERT INTO read.staff_actions (position, actor_id, actor_role, action, aggregate_type, aggregate_id,
             details, source_ip, request_id, occurred_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, '203.0.113.7', $8, $9)",
        &[
            &action.position,
            &action.actor_id,
            &action.actor_role,
            &action.action,
            &action.aggregate_type,
            &action.aggregate_id,
            &serde_json::json!({ "reason": "checked", "n": action.position }),
            &format!("req-{}", action.position),
            &action.occurred_at,
        ],
    )
    .await
    .unwrap();
}
