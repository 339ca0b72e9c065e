//! Accounts and sessions: registration, login, lockout, refresh rotation, logout, password
//! changes, staff management, and the bootstrap super admin.

use futures_util::future::join_all;
use ledger_core::ids::OperatorId;
use ledger_core::metadata::ActorRole;
use serde_json::{Value, json};
use tests::db::TestDb;
use tests::headset::Reply;

use crate::harness::{ADMIN, ADMIN_PASSWORD, OPERATOR_PASSWORD, STAFF_PASSWORD, TestApp};

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

fn tokens(r: &Reply) -> (String, String) {
    assert_eq!(r.status, 200, "{}", r.raw);
    (
        r.data()["access_token"].as_str().unwrap().to_owned(),
        r.data()["refresh_token"].as_str().unwrap().to_owned(),
    )
}

async fn refresh(app: &TestApp, refresh_token: &str) -> Reply {
    app.call(
        None,
        "POST",
        "/api/v1/auth/refresh",
        json!({ "refresh_token": refresh_token }),
    )
    .await
}

async fn logout(app: &TestApp, token: &str) -> Reply {
    app.call(Some(token), "POST", "/api/v1/auth/logout", json!({}))
        .await
}

async fn change_password(app: &TestApp, token: &str, current: &str, new: &str) -> Reply {
    app.call(
        Some(token),
        "POST",
        "/api/v1/auth/password",
        json!({ "current_password": current, "new_password": new }),
    )
    .await
}

/// A call any logged-in person may make that changes nothing: a password change with a
/// weak new password is refused after the session check (400), and before it (401).
async fn session_state(app: &TestApp, token: &str) -> u16 {
    change_password(app, token, "whatever", "weak").await.status
}

async fn create_staff(app: &TestApp, token: &str, username: &str, role: &str) -> Reply {
    app.call(
        Some(token),
        "POST",
        "/api/v1/admin/staff",
        json!({ "username": username, "name": "同事", "role": role, "password": STAFF_PASSWORD }),
    )
    .await
}

fn assert_error(r: &Reply, status: u16, code: &str) {
    assert_eq!((r.status, r.error_code()), (status, code), "{}", r.raw);
}

/// (event type, metadata) of every event of one stream.
async fn stream_events(app: &TestApp, aggregate_type: &str, id: &str) -> Vec<(String, Value)> {
    let client = app.db.client().await;
    client
        .query(
            "SELECT event_type, metadata::text FROM events \
             WHERE aggregate_type = $1 AND aggregate_id = $2 ORDER BY sequence",
            &[&aggregate_type, &id],
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

async fn account_id(app: &TestApp, kind: &str, username: &str) -> String {
    let client = app.db.client().await;
    let id: uuid::Uuid = client
        .query_one(
            "SELECT id FROM accounts WHERE kind = $1 AND username = $2",
            &[&kind, &username],
        )
        .await
        .unwrap()
        .get(0);
    id.to_string()
}

#[tokio::test]
async fn a_registered_operator_logs_in_with_an_operator_token_of_its_own() {
    let app = TestApp::spawn().await;
    let username = unique("arcade");
    let (operator, key_id, secret, password) = app.register_operator(&username).await;
    assert!(key_id.starts_with("mrk_") && !secret.is_empty());
    let state = app.state.ledger.operator_state(operator).await.unwrap();
    assert_eq!(
        (state.category.as_str(), state.balance.to_string()),
        ("trial", "0.00".to_owned())
    );

    let r = app.login("operator", &username, &password).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.data()["role"], "operator");
    assert_eq!(r.data()["token_type"], "Bearer");
    assert_eq!(r.data()["operator_id"], operator.to_string());
    assert!(r.data()["expires_in"].as_i64().unwrap() > 0);
    // Case does not matter in usernames, and the staff door does not open for operators.
    assert_eq!(
        app.login("operator", &username.to_uppercase(), &password)
            .await
            .status,
        200
    );
    assert_error(
        &app.login("staff", &username, &password).await,
        401,
        "INVALID_CREDENTIALS",
    );
    // The registration was the operator's own act.
    let events = stream_events(&app, "Operator", &operator.to_string()).await;
    assert_eq!(events[0].0, "OperatorRegistered");
    assert_eq!(events[0].1["actor_id"], operator.to_string());
    assert_eq!(events[0].1["actor_role"], "operator");
}

#[tokio::test]
async fn an_unknown_user_and_a_wrong_password_get_the_same_answer() {
    let app = TestApp::spawn().await;
    let username = unique("arcade");
    app.register_operator(&username).await;
    let unknown = app
        .login("operator", "nobody_here", OPERATOR_PASSWORD)
        .await;
    let wrong = app.login("operator", &username, "Wrong-Pass-1").await;
    assert_error(&unknown, 401, "INVALID_CREDENTIALS");
    assert_error(&wrong, 401, "INVALID_CREDENTIALS");
    assert_eq!(unknown.body["message"], wrong.body["message"]);
    assert_eq!(unknown.body["details"], wrong.body["details"]);
}

#[tokio::test]
async fn five_wrong_passwords_lock_the_login_even_for_the_right_password_until_the_lock_ends() {
    let app = TestApp::spawn_with(TestDb::new().await, |s| s.login_lockout_seconds = 2).await;
    let username = unique("arcade");
    let (_, _, _, password) = app.register_operator(&username).await;
    for attempt in 1..=5 {
        let r = app.login("operator", &username, "Wrong-Pass-1").await;
        assert_error(&r, 401, "INVALID_CREDENTIALS");
        assert!(r.retry_after.is_none(), "attempt {attempt}");
    }
    let sixth = app.login("operator", &username, "Wrong-Pass-1").await;
    assert_error(&sixth, 429, "LOGIN_LOCKED");

    let right = app.login("operator", &username, &password).await;
    assert_error(&right, 429, "LOGIN_LOCKED");
    let seconds = right.body["details"]["retry_after_seconds"]
        .as_i64()
        .unwrap();
    assert!((1..=2).contains(&seconds), "{}", right.raw);
    assert_eq!(
        right.retry_after.as_deref(),
        Some(seconds.to_string().as_str())
    );

    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let after = app.login("operator", &username, &password).await;
    assert_eq!(after.status, 200, "{}", after.raw);
    // The success reset the count: four more wrong ones do not lock.
    for _ in 0..4 {
        assert_error(
            &app.login("operator", &username, "Wrong-Pass-1").await,
            401,
            "INVALID_CREDENTIALS",
        );
    }
    assert_eq!(
        app.login("operator", &username, &password).await.status,
        200
    );
}

#[tokio::test]
async fn twenty_concurrent_wrong_passwords_lock_after_exactly_the_limit() {
    let app = TestApp::spawn().await;
    let username = unique("arcade");
    let (operator, ..) = app.register_operator(&username).await;
    let attempts = (0..20).map(|_| app.login("operator", &username, "Wrong-Pass-1"));
    let replies = join_all(attempts).await;
    let invalid = replies
        .iter()
        .filter(|r| r.error_code() == "INVALID_CREDENTIALS")
        .count();
    let locked = replies
        .iter()
        .filter(|r| r.error_code() == "LOGIN_LOCKED")
        .count();
    assert_eq!((invalid, locked), (5, 15));
    let client = app.db.client().await;
    let row = client
        .query_one(
            "SELECT failed_logins, locked_until > now() FROM accounts WHERE id = $1",
            &[&operator.as_uuid()],
        )
        .await
        .unwrap();
    assert_eq!((row.get::<_, i32>(0), row.get::<_, bool>(1)), (5, true));
}

#[tokio::test]
async fn a_refresh_rotates_the_pair_and_an_old_refresh_token_ends_the_session() {
    let app = TestApp::spawn().await;
    let username = unique("arcade");
    let (_, _, _, password) = app.register_operator(&username).await;
    let (access, first_refresh) = tokens(&app.login("operator", &username, &password).await);

    let rotated = refresh(&app, &first_refresh).await;
    let (new_access, second_refresh) = tokens(&rotated);
    assert_eq!(rotated.data()["role"], "operator");
    assert_ne!(second_refresh, first_refresh);
    assert_eq!(
        session_state(&app, &access).await,
        400,
        "still the same session"
    );
    assert_eq!(session_state(&app, &new_access).await, 400);

    // The older refresh token again: someone kept a copy. The whole session ends.
    assert_error(&refresh(&app, &first_refresh).await, 401, "UNAUTHORIZED");
    assert_error(&refresh(&app, &second_refresh).await, 401, "UNAUTHORIZED");
    assert_eq!(session_state(&app, &new_access).await, 401);

    // An access token is no refresh token; the staff alias path refreshes too.
    let (access, refresh_token) = tokens(&app.login("staff", ADMIN, ADMIN_PASSWORD).await);
    assert_error(&refresh(&app, &access).await, 401, "UNAUTHORIZED");
    let alias = app
        .call(
            None,
            "POST",
            "/api/v1/auth/staff/refresh",
            json!({ "refresh_token": refresh_token }),
        )
        .await;
    assert_eq!(alias.data()["role"], "super_admin", "{}", alias.raw);
}

#[tokio::test]
async fn logout_makes_the_access_token_useless_at_once() {
    let app = TestApp::spawn().await;
    let username = unique("arcade");
    let (_, _, _, password) = app.register_operator(&username).await;
    let (access, refresh_token) = tokens(&app.login("operator", &username, &password).await);
    let (other, _) = tokens(&app.login("operator", &username, &password).await);

    let r = logout(&app, &access).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.data()["logged_out"], true);
    assert_error(&logout(&app, &access).await, 401, "UNAUTHORIZED");
    assert_eq!(session_state(&app, &access).await, 401);
    assert_error(&refresh(&app, &refresh_token).await, 401, "UNAUTHORIZED");
    // Only that session ended.
    assert_eq!(session_state(&app, &other).await, 400);

    // Staff too, on a staff route.
    let staff = app.staff_token(ActorRole::Admin).await;
    assert_eq!(logout(&app, &staff).await.status, 200);
    let r = app
        .call(
            Some(&staff),
            "POST",
            "/api/v1/admin/apps",
            json!({"name": "x", "unit_price": "1", "min_players": 1, "max_players": 2}),
        )
        .await;
    assert_error(&r, 401, "UNAUTHORIZED");
}

#[tokio::test]
async fn a_password_change_ends_every_other_session_and_is_recorded() {
    let app = TestApp::spawn().await;
    let username = unique("arcade");
    let (operator, _, _, password) = app.register_operator(&username).await;
    let (mine, _) = tokens(&app.login("operator", &username, &password).await);
    let (elsewhere, elsewhere_refresh) = tokens(&app.login("operator", &username, &password).await);

    assert_error(
        &change_password(&app, &mine, "Not-The-One-1", "Brand-New-2").await,
        401,
        "INVALID_CREDENTIALS",
    );
    let weak = change_password(&app, &mine, &password, "short").await;
    assert_error(&weak, 400, "INVALID_PARAMS");
    assert_eq!(weak.body["details"]["fields"], json!(["new_password"]));

    let r = change_password(&app, &mine, &password, "Brand-New-2").await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(
        session_state(&app, &mine).await,
        400,
        "the changing session stays"
    );
    assert_eq!(session_state(&app, &elsewhere).await, 401);
    assert_error(
        &refresh(&app, &elsewhere_refresh).await,
        401,
        "UNAUTHORIZED",
    );
    assert_error(
        &app.login("operator", &username, &password).await,
        401,
        "INVALID_CREDENTIALS",
    );
    assert_eq!(
        app.login("operator", &username, "Brand-New-2").await.status,
        200
    );
    let events = stream_events(&app, "Operator", &operator.to_string()).await;
    let (event, metadata) = events.last().unwrap();
    assert_eq!(event, "PasswordChanged");
    assert_eq!(metadata["actor_id"], operator.to_string());

    // Staff record theirs on their own stream.
    let staff = app.staff_token(ActorRole::Analyst).await;
    let r = change_password(&app, &staff, STAFF_PASSWORD, "Analyst-New-3").await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let staff_id = account_id(&app, "staff", "t_analyst").await;
    let events = stream_events(&app, "StaffMember", &staff_id).await;
    assert_eq!(events.last().unwrap().0, "StaffPasswordChanged");
    assert_eq!(
        app.login("staff", "t_analyst", "Analyst-New-3")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn registration_names_every_bad_field() {
    let app = TestApp::spawn().await;
    let r = app
        .call(
            None,
            "POST",
            "/api/v1/auth/operator/register",
            json!({"username": "a b", "name": "星际", "phone": "12ab",
                   "email": "nobody", "password": "alllowercase1"}),
        )
        .await;
    assert_error(&r, 400, "INVALID_PARAMS");
    let mut fields: Vec<String> =
        serde_json::from_value(r.body["details"]["fields"].clone()).expect("fields named");
    fields.sort();
    assert_eq!(fields, ["email", "password", "phone", "username"]);

    let missing = app
        .call(
            None,
            "POST",
            "/api/v1/auth/operator/register",
            json!({"username": "fine_name"}),
        )
        .await;
    assert_error(&missing, 400, "INVALID_PARAMS");
    let mut fields: Vec<String> =
        serde_json::from_value(missing.body["details"]["fields"].clone()).unwrap();
    fields.sort();
    assert_eq!(fields, ["email", "name", "password", "phone"]);
}

#[tokio::test]
async fn usernames_are_taken_whatever_their_case() {
    let app = TestApp::spawn().await;
    let username = unique("Arcade");
    app.register_operator(&username).await;
    let again = app
        .call(
            None,
            "POST",
            "/api/v1/auth/operator/register",
            json!({"username": username.to_lowercase(), "name": "别家", "phone": "13800000001",
                   "email": "x@example.com", "password": OPERATOR_PASSWORD}),
        )
        .await;
    assert_error(&again, 409, "USERNAME_TAKEN");
    assert_eq!(again.body["details"]["fields"], json!(["username"]));
    let by_staff = app
        .staff(
            "POST",
            "/api/v1/admin/operators",
            json!({"username": username.to_uppercase(), "name": "别家",
                   "phone": "13800000001", "email": "x@example.com"}),
        )
        .await;
    assert_error(&by_staff, 409, "USERNAME_TAKEN");
    // Staff usernames are a namespace of their own.
    let super_admin = app.staff_token(ActorRole::SuperAdmin).await;
    assert_eq!(
        create_staff(&app, &super_admin, &username, "admin")
            .await
            .status,
        201
    );
    assert_error(
        &create_staff(&app, &super_admin, &username.to_uppercase(), "admin").await,
        409,
        "USERNAME_TAKEN",
    );
}

#[tokio::test]
async fn concurrent_registrations_of_one_username_let_exactly_one_in() {
    let app = TestApp::spawn().await;
    let username = unique("race");
    let attempts = (0..8).map(|i| {
        let name = if i % 2 == 0 {
            username.clone()
        } else {
            username.to_uppercase()
        };
        app.call(
            None,
            "POST",
            "/api/v1/auth/operator/register",
            json!({"username": name, "name": "星际", "phone": "13800000000",
                   "email": "op@example.com", "password": OPERATOR_PASSWORD}),
        )
    });
    let replies = join_all(attempts).await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    let taken = replies
        .iter()
        .filter(|r| r.error_code() == "USERNAME_TAKEN")
        .count();
    assert_eq!(
        (created, taken),
        (1, 7),
        "{:?}",
        replies.iter().map(|r| &r.raw).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn an_operator_created_by_staff_logs_in_only_with_a_password() {
    let app = TestApp::spawn().await;
    let with = unique("with_pw");
    let r = app
        .staff(
            "POST",
            "/api/v1/admin/operators",
            json!({"username": with, "name": "星际", "phone": "13800000000",
                   "email": "op@example.com", "password": "Given-Pass-1"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    assert_eq!(
        app.login("operator", &with, "Given-Pass-1").await.status,
        200
    );

    let without = unique("no_pw");
    let r = app
        .staff(
            "POST",
            "/api/v1/admin/operators",
            json!({"username": without, "name": "星际", "phone": "13800000000",
                   "email": "op@example.com"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    assert_error(
        &app.login("operator", &without, "").await,
        400,
        "INVALID_PARAMS",
    );
    assert_error(
        &app.login("operator", &without, "Any-Pass-1").await,
        401,
        "INVALID_CREDENTIALS",
    );
    let weak = app
        .staff(
            "POST",
            "/api/v1/admin/operators",
            json!({"username": unique("weak"), "name": "星际", "phone": "13800000000",
                   "email": "op@example.com", "password": "weak"}),
        )
        .await;
    assert_error(&weak, 400, "INVALID_PARAMS");
    assert_eq!(weak.body["details"]["fields"], json!(["password"]));
}

#[tokio::test]
async fn a_deactivated_operator_is_logged_out_and_cannot_log_in() {
    let app = TestApp::spawn().await;
    let username = unique("arcade");
    let (operator, _, _, password) = app.register_operator(&username).await;
    let (token, refresh_token) = tokens(&app.login("operator", &username, &password).await);
    let r = app
        .staff(
            "POST",
            &format!("/api/v1/admin/operators/{operator}/deactivate"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(session_state(&app, &token).await, 401);
    assert_error(&refresh(&app, &refresh_token).await, 401, "UNAUTHORIZED");
    assert_error(
        &app.login("operator", &username, &password).await,
        403,
        "ACCOUNT_DEACTIVATED",
    );
    // The wrong password says nothing about the account.
    assert_error(
        &app.login("operator", &username, "Wrong-Pass-1").await,
        401,
        "INVALID_CREDENTIALS",
    );
}

#[tokio::test]
async fn a_locked_operator_still_logs_in() {
    let app = TestApp::spawn().await;
    let username = unique("arcade");
    let (operator, _, _, password) = app.register_operator(&username).await;
    let r = app
        .staff(
            "POST",
            &format!("/api/v1/admin/operators/{operator}/lock"),
            json!({"reason": "unpaid"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(
        app.login("operator", &username, &password).await.status,
        200
    );
}

#[tokio::test]
async fn a_disabled_staff_member_is_logged_out_until_enabled() {
    let app = TestApp::spawn().await;
    let token = app.staff_token(ActorRole::Admin).await;
    let staff_id = account_id(&app, "staff", "t_admin").await;
    let r = app
        .staff(
            "POST",
            &format!("/api/v1/admin/staff/{staff_id}/disable"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.data()["status"], "disabled");
    assert_eq!(session_state(&app, &token).await, 401);
    assert_error(
        &app.login("staff", "t_admin", STAFF_PASSWORD).await,
        403,
        "ACCOUNT_DEACTIVATED",
    );
    let r = app
        .staff(
            "POST",
            &format!("/api/v1/admin/staff/{staff_id}/enable"),
            json!({}),
        )
        .await;
    assert_eq!(r.data()["status"], "active", "{}", r.raw);
    assert_eq!(
        app.login("staff", "t_admin", STAFF_PASSWORD).await.status,
        200
    );
}

#[tokio::test]
async fn only_a_super_admin_manages_staff() {
    let app = TestApp::spawn().await;
    for role in [
        ActorRole::Admin,
        ActorRole::FinanceManager,
        ActorRole::FinanceAuditor,
        ActorRole::Analyst,
    ] {
        let token = app.staff_token(role).await;
        let r = create_staff(&app, &token, &unique("nope"), "admin").await;
        assert_error(&r, 403, "FORBIDDEN");
        assert_eq!(r.body["details"]["missing_scope"], "staff:write");
    }
    let username = unique("opx");
    app.register_operator(&username).await;
    let operator = app.operator_token(&username, OPERATOR_PASSWORD).await;
    assert_error(
        &create_staff(&app, &operator, &unique("nope"), "admin").await,
        403,
        "FORBIDDEN",
    );
    assert_error(
        &create_staff(&app, "not-a-token", &unique("nope"), "admin").await,
        401,
        "UNAUTHORIZED",
    );

    let super_admin = app.staff_token(ActorRole::SuperAdmin).await;
    let username = unique("fin");
    let r = create_staff(&app, &super_admin, &username, "finance_specialist").await;
    assert_eq!(r.status, 201, "{}", r.raw);
    assert_eq!(r.data()["username"], username.as_str());
    assert_eq!(r.data()["role"], "finance_specialist");
    assert_eq!(r.data()["status"], "active");
    assert!(
        r.data()["id"]
            .as_str()
            .unwrap()
            .parse::<uuid::Uuid>()
            .is_ok()
    );
    let login = app.login("staff", &username, STAFF_PASSWORD).await;
    assert_eq!(login.data()["role"], "finance_specialist", "{}", login.raw);

    // Only staff roles, only good passwords, every bad field named.
    let r = app
        .call(
            Some(&super_admin),
            "POST",
            "/api/v1/admin/staff",
            json!({"username": "x", "name": "同事", "role": "operator", "password": "weak"}),
        )
        .await;
    assert_error(&r, 400, "INVALID_PARAMS");
    let mut fields: Vec<String> =
        serde_json::from_value(r.body["details"]["fields"].clone()).unwrap();
    fields.sort();
    assert_eq!(fields, ["password", "role", "username"]);
}

#[tokio::test]
async fn a_role_change_ends_the_old_tokens_and_the_new_role_applies() {
    let app = TestApp::spawn().await;
    let old = app.staff_token(ActorRole::Admin).await;
    let staff_id = account_id(&app, "staff", "t_admin").await;
    let operator = app.create_operator().await.0;
    let r = app
        .staff(
            "PATCH",
            &format!("/api/v1/admin/staff/{staff_id}"),
            json!({"role": "finance_manager"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.data()["role"], "finance_manager");
    assert_eq!(session_state(&app, &old).await, 401);

    let login = app.login("staff", "t_admin", STAFF_PASSWORD).await;
    assert_eq!(login.data()["role"], "finance_manager", "{}", login.raw);
    let (new, _) = tokens(&login);
    let credit = app
        .call(
            Some(&new),
            "POST",
            &format!("/api/v1/finance/operators/{operator}/manual-credits"),
            json!({"amount": "10", "reason": "bank transfer"}),
        )
        .await;
    assert_eq!(credit.status, 201, "{}", credit.raw);
    let app_create = app
        .call(
            Some(&new),
            "POST",
            "/api/v1/admin/apps",
            json!({"name": "x", "unit_price": "1", "min_players": 1, "max_players": 2}),
        )
        .await;
    assert_error(&app_create, 403, "FORBIDDEN");
    assert_eq!(app_create.body["details"]["missing_scope"], "catalog:write");

    let bad = app
        .staff(
            "PATCH",
            &format!("/api/v1/admin/staff/{staff_id}"),
            json!({"role": "operator"}),
        )
        .await;
    assert_error(&bad, 400, "INVALID_PARAMS");
    let missing = app
        .staff(
            "PATCH",
            &format!("/api/v1/admin/staff/{}", uuid::Uuid::now_v7()),
            json!({"role": "admin"}),
        )
        .await;
    assert_error(&missing, 404, "NOT_FOUND");
}

#[tokio::test]
async fn a_super_admin_cannot_demote_or_disable_themselves() {
    let app = TestApp::spawn().await;
    let me = account_id(&app, "staff", ADMIN).await;
    let demote = app
        .staff(
            "PATCH",
            &format!("/api/v1/admin/staff/{me}"),
            json!({"role": "analyst"}),
        )
        .await;
    assert_error(&demote, 409, "CONFLICT");
    let disable = app
        .staff(
            "POST",
            &format!("/api/v1/admin/staff/{me}/disable"),
            json!({}),
        )
        .await;
    assert_error(&disable, 409, "CONFLICT");
}

#[tokio::test]
async fn a_password_reset_ends_the_staff_members_sessions() {
    let app = TestApp::spawn().await;
    let token = app.staff_token(ActorRole::FinanceAuditor).await;
    let staff_id = account_id(&app, "staff", "t_finance_auditor").await;
    let weak = app
        .staff(
            "POST",
            &format!("/api/v1/admin/staff/{staff_id}/password"),
            json!({"password": "weak"}),
        )
        .await;
    assert_error(&weak, 400, "INVALID_PARAMS");
    let r = app
        .staff(
            "POST",
            &format!("/api/v1/admin/staff/{staff_id}/password"),
            json!({"password": "Reset-Pass-9"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(session_state(&app, &token).await, 401);
    assert_error(
        &app.login("staff", "t_finance_auditor", STAFF_PASSWORD)
            .await,
        401,
        "INVALID_CREDENTIALS",
    );
    assert_eq!(
        app.login("staff", "t_finance_auditor", "Reset-Pass-9")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn every_staff_action_records_the_actor_role_and_source_ip() {
    let app = TestApp::spawn().await;
    let super_admin = app.staff_token(ActorRole::SuperAdmin).await;
    let actor = account_id(&app, "staff", "t_super_admin").await;
    let username = unique("audit");
    let created = create_staff(&app, &super_admin, &username, "admin").await;
    let staff_id = created.data()["id"].as_str().unwrap().to_owned();
    let path = |tail: &str| format!("/api/v1/admin/staff/{staff_id}{tail}");
    for (method, tail, body) in [
        ("PATCH", "", json!({"role": "analyst"})),
        ("POST", "/disable", json!({})),
        ("POST", "/enable", json!({})),
        ("POST", "/password", json!({"password": "Reset-Pass-9"})),
    ] {
        let r = app
            .call(Some(&super_admin), method, &path(tail), body)
            .await;
        assert_eq!(r.status, 200, "{method} {tail}: {}", r.raw);
    }
    let events = stream_events(&app, "StaffMember", &staff_id).await;
    let types: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        types,
        [
            "StaffCreated",
            "StaffRoleChanged",
            "StaffDisabled",
            "StaffEnabled",
            "StaffPasswordReset"
        ]
    );
    for (event, metadata) in &events {
        assert_eq!(metadata["actor_id"], actor.as_str(), "{event}");
        assert_eq!(metadata["actor_role"], "super_admin", "{event}");
        assert_eq!(metadata["source_ip"], "127.0.0.1", "{event}");
        assert!(!metadata["request_id"].as_str().unwrap().is_empty());
    }

    // Staff actions on operators too.
    let admin = app.staff_token(ActorRole::Admin).await;
    let admin_id = account_id(&app, "staff", "t_admin").await;
    let operator: OperatorId = app.create_operator().await.0;
    let r = app
        .call(
            Some(&admin),
            "POST",
            &format!("/api/v1/admin/operators/{operator}/deactivate"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let events = stream_events(&app, "Operator", &operator.to_string()).await;
    let (event, metadata) = events.last().unwrap();
    assert_eq!(event, "OperatorDeactivated");
    assert_eq!(metadata["actor_id"], admin_id.as_str());
    assert_eq!(metadata["actor_role"], "admin");
    assert_eq!(metadata["source_ip"], "127.0.0.1");
}

#[tokio::test]
async fn the_bootstrap_admin_is_a_staff_member_the_system_created_once() {
    let app = TestApp::spawn().await;
    let id = account_id(&app, "staff", ADMIN).await;
    let events = stream_events(&app, "StaffMember", &id).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, "StaffCreated");
    assert_eq!(events[0].1["actor_role"], "system");
    let login = app.login("staff", ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(login.data()["role"], "super_admin", "{}", login.raw);

    // Starting again (several instances at once) creates nobody new and fails nowhere.
    let settings = crate::harness::settings(&app.db);
    let restarts = (0..4).map(|_| {
        let settings = settings.clone();
        async move {
            let state = command_api::state(&settings, command_api::ledger::system_clock()).unwrap();
            command_api::bootstrap(&state, &settings).await
        }
    });
    for result in join_all(restarts).await {
        result.unwrap();
    }
    let client = app.db.client().await;
    let created: i64 = client
        .query_one(
            "SELECT count(*) FROM events WHERE event_type = 'StaffCreated'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(created, 1);
}

#[tokio::test]
async fn instances_starting_together_on_a_new_database_make_one_bootstrap_admin() {
    let db = TestDb::new().await;
    let mut settings = crate::harness::settings(&db);
    settings.db_pool_size = 4;
    let starts = (0..4).map(|_| {
        let settings = settings.clone();
        async move {
            let state = command_api::state(&settings, command_api::ledger::system_clock()).unwrap();
            command_api::bootstrap(&state, &settings).await
        }
    });
    for result in join_all(starts).await {
        result.unwrap();
    }
    let client = db.client().await;
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM events WHERE event_type = 'StaffCreated'), \
                    (SELECT count(*) FROM accounts WHERE kind = 'staff')",
            &[],
        )
        .await
        .unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (1, 1));
}
