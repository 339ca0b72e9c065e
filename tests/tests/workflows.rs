//! The people around the ledger, end to end on the real binaries: accounts and sessions,
//! app applications, refunds (maker-checker), invoices with their PDF, messages, forced key
//! rotation, and the staff audit log.

use std::time::Duration;

use ledger_core::ids::{AppId, OperatorId, SiteId};
use ledger_core::metadata::ActorRole;
use serde_json::{Value, json};
use tests::cluster::Cluster;
use tests::headset::HeadsetClient;

const PASSWORD: &str = "Arcade-pass1";

/// A self-registered operator with a login, a site and its headset client.
struct Arcade {
    id: OperatorId,
    username: String,
    token: String,
    site: SiteId,
    headset: HeadsetClient,
}

async fn register(cluster: &Cluster, username: &str) -> Arcade {
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
    let headset = HeadsetClient::new(
        &cluster.command,
        id,
        created["credentials"]["key_id"].as_str().unwrap(),
        created["credentials"]["secret"].as_str().unwrap(),
    );
    Arcade {
        id,
        username: username.to_owned(),
        token,
        site: site["id"].as_str().unwrap().parse().unwrap(),
        headset,
    }
}

async fn staff_token(cluster: &Cluster, admin: &str, role: ActorRole) -> String {
    let username = format!("s_{}", role.as_str());
    let body = json!({"username": username, "name": "员工", "role": role.as_str(),
                      "password": PASSWORD});
    cluster
        .command("POST", "/api/v1/admin/staff", admin, body)
        .await
        .ok();
    cluster.token("staff", &username, PASSWORD).await
}

async fn new_app(cluster: &Cluster, admin: &str, name: &str, price: &str) -> AppId {
    let body = json!({"name": name, "unit_price": price, "min_players": 1, "max_players": 10});
    let app = cluster
        .command("POST", "/api/v1/admin/apps", admin, body)
        .await
        .ok();
    app["id"].as_str().unwrap().parse().unwrap()
}

async fn grant(cluster: &Cluster, admin: &str, operator: OperatorId, app: AppId) {
    cluster
        .command(
            "POST",
            &format!("/api/v1/admin/operators/{operator}/grants"),
            admin,
            json!({"app_id": app, "expires_at": null}),
        )
        .await
        .ok();
}

async fn credit(cluster: &Cluster, finance: &str, operator: OperatorId, amount: &str) {
    cluster
        .command(
            "POST",
            &format!("/api/v1/finance/operators/{operator}/manual-credits"),
            finance,
            json!({"amount": amount, "reason": "bank transfer"}),
        )
        .await
        .ok();
}

fn items(data: &Value) -> Vec<Value> {
    data["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn register_login_lockout_refresh_and_logout() {
    let cluster = Cluster::start(&[
        ("MR_LOGIN_MAX_FAILURES", "5"),
        ("MR_LOGIN_LOCKOUT_SECONDS", "2"),
    ])
    .await;
    let arcade = register(&cluster, "lock_arcade").await;

    for _ in 0..5 {
        let wrong = cluster
            .login("operator", &arcade.username, "Wrong-pass1")
            .await;
        assert_eq!(
            (wrong.status, wrong.code()),
            (401, "INVALID_CREDENTIALS"),
            "{}",
            wrong.body
        );
    }
    let locked = cluster.login("operator", &arcade.username, PASSWORD).await;
    assert_eq!((locked.status, locked.code()), (429, "LOGIN_LOCKED"));
    assert!(locked.headers.contains_key("retry-after"));

    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let login = cluster
        .login("operator", &arcade.username, PASSWORD)
        .await
        .ok();
    let (access, refresh) = (
        login["access_token"].as_str().unwrap().to_owned(),
        login["refresh_token"].as_str().unwrap().to_owned(),
    );

    let url = format!("{}/api/v1/auth/refresh", cluster.command);
    let renewed = cluster
        .call("POST", &url, None, Some(json!({"refresh_token": refresh})))
        .await
        .ok();
    let access2 = renewed["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        cluster
            .query("/api/v1/operator/profile", &access2)
            .await
            .status,
        200
    );

    cluster
        .command("POST", "/api/v1/auth/logout", &access2, json!({}))
        .await
        .ok();
    // The session is gone on both services at once: both of its tokens are useless.
    for token in [&access, &access2] {
        assert_eq!(
            cluster
                .query("/api/v1/operator/profile", token)
                .await
                .status,
            401
        );
        let patch = cluster
            .command(
                "PATCH",
                "/api/v1/operator/profile",
                token,
                json!({"name": "新名字"}),
            )
            .await;
        assert_eq!(patch.status, 401, "{}", patch.body);
    }
}

#[tokio::test]
async fn an_approved_application_authorizes_at_once_and_a_revocation_stops_it_at_once() {
    let cluster = Cluster::start(&[]).await;
    let admin = cluster.admin_token().await;
    let finance = staff_token(&cluster, &admin, ActorRole::FinanceManager).await;
    let app = new_app(&cluster, &admin, "深海探险", "10.00").await;
    let arcade = register(&cluster, "apply_arcade").await;
    credit(&cluster, &finance, arcade.id, "100").await;

    let before = arcade
        .headset
        .authorize(&arcade.headset.new_session_id(), app, arcade.site, 2)
        .await;
    assert_eq!(before.error_code(), "APP_NOT_AUTHORIZED");

    let application = cluster
        .command(
            "POST",
            "/api/v1/operator/app-applications",
            &arcade.token,
            json!({"app_id": app, "reason": "新店开业需要"}),
        )
        .await
        .ok();
    let application_id = application["id"].as_str().unwrap().to_owned();
    let pending = cluster
        .query_until(
            "/api/v1/admin/app-applications?status=pending",
            &admin,
            |d| items(d).iter().any(|a| a["id"] == application_id.as_str()),
        )
        .await;
    assert!(!items(&pending).is_empty());
    cluster
        .command(
            "POST",
            &format!(
                "/api/v1/admin/operators/{}/app-applications/{application_id}/approve",
                arcade.id
            ),
            &admin,
            json!({"expires_at": null}),
        )
        .await
        .ok();

    let played = arcade
        .headset
        .authorize(&arcade.headset.new_session_id(), app, arcade.site, 2)
        .await;
    assert_eq!(played.status, 200, "{}", played.raw);
    assert_eq!(played.data()["balance_after"], "80.00");

    let revoke = cluster
        .command(
            "DELETE",
            &format!("/api/v1/admin/operators/{}/grants/{app}", arcade.id),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(revoke.status, 200, "{}", revoke.body);
    let after = arcade
        .headset
        .authorize(&arcade.headset.new_session_id(), app, arcade.site, 2)
        .await;
    assert_eq!(after.error_code(), "APP_NOT_AUTHORIZED");
}

#[tokio::test]
async fn a_refund_pays_out_the_balance_at_approval_time() {
    let cluster = Cluster::start(&[]).await;
    let admin = cluster.admin_token().await;
    let finance = staff_token(&cluster, &admin, ActorRole::FinanceManager).await;
    let app = new_app(&cluster, &admin, "星际漫游", "10.00").await;
    let arcade = register(&cluster, "refund_arcade").await;
    grant(&cluster, &admin, arcade.id, app).await;
    credit(&cluster, &finance, arcade.id, "100").await;

    let refund = cluster
        .command(
            "POST",
            "/api/v1/operator/refunds",
            &arcade.token,
            json!({"reason": "停业"}),
        )
        .await
        .ok();
    assert_eq!(refund["requested_amount"], "100.00");
    let refund_id = refund["id"].as_str().unwrap().to_owned();
    let second = cluster
        .command(
            "POST",
            "/api/v1/operator/refunds",
            &arcade.token,
            json!({"reason": "再来"}),
        )
        .await;
    assert_eq!((second.status, second.code()), (409, "REFUND_ALREADY_OPEN"));

    // A 50.00 game while finance reviews.
    let game = arcade
        .headset
        .authorize(&arcade.headset.new_session_id(), app, arcade.site, 5)
        .await;
    assert_eq!(game.data()["balance_after"], "50.00", "{}", game.raw);

    // Finance sees what it decides on: recharged, spent, balance now.
    let listed = cluster
        .query_until("/api/v1/finance/refunds?status=pending", &finance, |d| {
            items(d)
                .iter()
                .any(|r| r["id"] == refund_id.as_str() && r["operator"]["balance"] == "50.00")
        })
        .await;
    let row = items(&listed)
        .into_iter()
        .find(|r| r["id"] == refund_id.as_str())
        .unwrap();
    assert_eq!(
        (
            row["operator"]["total_credited"].as_str(),
            row["operator"]["total_charged"].as_str()
        ),
        (Some("100.00"), Some("50.00"))
    );

    let approved = cluster
        .command(
            "POST",
            &format!(
                "/api/v1/finance/operators/{}/refunds/{refund_id}/approve",
                arcade.id
            ),
            &finance,
            json!({}),
        )
        .await
        .ok();
    assert_eq!(
        (
            approved["amount"].as_str(),
            approved["balance_after"].as_str()
        ),
        (Some("50.00"), Some("0.00"))
    );
    cluster
        .query_until("/api/v1/operator/profile", &arcade.token, |d| {
            d["balance"] == "0.00"
        })
        .await;

    // A rejected request keeps the balance, and a zero balance has nothing to refund.
    credit(&cluster, &finance, arcade.id, "30").await;
    let again = cluster
        .command(
            "POST",
            "/api/v1/operator/refunds",
            &arcade.token,
            json!({"reason": "再试"}),
        )
        .await
        .ok();
    let again_id = again["id"].as_str().unwrap();
    cluster
        .command(
            "POST",
            &format!(
                "/api/v1/finance/operators/{}/refunds/{again_id}/reject",
                arcade.id
            ),
            &finance,
            json!({"reason": "合同未到期"}),
        )
        .await
        .ok();
    cluster
        .query_until("/api/v1/operator/profile", &arcade.token, |d| {
            d["balance"] == "30.00"
        })
        .await;
}

#[tokio::test]
async fn an_issued_invoice_downloads_as_a_pdf_and_over_invoicing_is_refused() {
    let cluster = Cluster::start(&[]).await;
    let admin = cluster.admin_token().await;
    let finance = staff_token(&cluster, &admin, ActorRole::FinanceManager).await;
    let arcade = register(&cluster, "invoice_arcade").await;
    let other = register(&cluster, "other_arcade").await;
    credit(&cluster, &finance, arcade.id, "300").await;

    let request = |amount: &str| {
        json!({"invoice_type": "general", "title": "星际体验馆有限公司",
               "tax_number": "91110105MA01ABCD1X", "amount": amount})
    };
    let invoice = cluster
        .command(
            "POST",
            "/api/v1/operator/invoices",
            &arcade.token,
            request("200"),
        )
        .await
        .ok();
    let invoice_id = invoice["id"].as_str().unwrap().to_owned();
    let over = cluster
        .command(
            "POST",
            "/api/v1/operator/invoices",
            &arcade.token,
            request("100.01"),
        )
        .await;
    assert_eq!(
        (over.status, over.code()),
        (409, "INVOICE_AMOUNT_EXCEEDED"),
        "{}",
        over.body
    );

    let issued = cluster
        .command(
            "POST",
            &format!(
                "/api/v1/finance/operators/{}/invoices/{invoice_id}/approve",
                arcade.id
            ),
            &finance,
            json!({}),
        )
        .await
        .ok();
    let number = issued["invoice_number"].as_str().unwrap().to_owned();
    assert!(number.starts_with("MR"), "{number}");

    let pdf_path = format!("/api/v1/operator/invoices/{invoice_id}/pdf");
    cluster
        .query_until(
            &format!("/api/v1/operator/invoices/{invoice_id}"),
            &arcade.token,
            |d| d["status"] == "issued",
        )
        .await;
    let pdf = cluster.query(&pdf_path, &arcade.token).await;
    assert_eq!(pdf.status, 200);
    let document = lopdf::Document::load_mem(&pdf.bytes).expect("a PDF");
    let pages: Vec<u32> = document.get_pages().keys().copied().collect();
    let text = document.extract_text(&pages).unwrap();
    for expected in ["200.00", "91110105MA01ABCD1X", number.as_str()] {
        assert!(
            text.contains(expected),
            "{expected} not in PDF text: {text}"
        );
    }
    // Another operator cannot download it.
    assert_eq!(cluster.query(&pdf_path, &other.token).await.status, 404);
}

#[tokio::test]
async fn price_changes_and_low_balance_reach_exactly_the_operators_concerned() {
    let cluster = Cluster::start(&[("MR_LOW_BALANCE_TRIAL", "50")]).await;
    let admin = cluster.admin_token().await;
    let finance = staff_token(&cluster, &admin, ActorRole::FinanceManager).await;
    let held = new_app(&cluster, &admin, "极速赛车", "30.00").await;
    let unrelated = new_app(&cluster, &admin, "魔法学院", "10.00").await;
    let holder = register(&cluster, "holder_arcade").await;
    let bystander = register(&cluster, "bystander").await;
    grant(&cluster, &admin, holder.id, held).await;
    grant(&cluster, &admin, bystander.id, unrelated).await;
    credit(&cluster, &finance, holder.id, "100").await;

    // 100 → 70 → 40 (crosses 50) → 10: one alert, not one per charge.
    for _ in 0..3 {
        let game = holder
            .headset
            .authorize(&holder.headset.new_session_id(), held, holder.site, 1)
            .await;
        assert_eq!(game.status, 200, "{}", game.raw);
    }
    cluster
        .command(
            "PATCH",
            &format!("/api/v1/admin/apps/{held}"),
            &admin,
            json!({"unit_price": "35.00"}),
        )
        .await
        .ok();

    let kinds = |data: &Value| -> Vec<String> {
        items(data)
            .iter()
            .map(|m| m["kind"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let inbox = cluster
        .query_until("/api/v1/operator/messages", &holder.token, |d| {
            kinds(d).contains(&"price_change".to_owned())
        })
        .await;
    let mut got = kinds(&inbox);
    got.sort();
    assert_eq!(got, ["low_balance", "price_change"], "{inbox}");
    assert_eq!(inbox["unread_count"], 2);

    let bystander_inbox = cluster
        .query("/api/v1/operator/messages", &bystander.token)
        .await
        .ok();
    assert!(kinds(&bystander_inbox).is_empty(), "{bystander_inbox}");

    cluster
        .command(
            "POST",
            "/api/v1/operator/messages/read-all",
            &holder.token,
            json!({}),
        )
        .await
        .ok();
    cluster
        .query_until(
            "/api/v1/operator/messages/unread-count",
            &holder.token,
            |d| d["unread_count"] == 0,
        )
        .await;
}

#[tokio::test]
async fn forced_rotation_kills_the_old_key_and_every_staff_action_is_in_the_audit_log() {
    let cluster = Cluster::start(&[]).await;
    let admin = cluster.admin_token().await;
    let auditor = staff_token(&cluster, &admin, ActorRole::FinanceSpecialist).await;
    let arcade = register(&cluster, "rotate_arcade").await;

    let config = arcade.headset.config().await;
    assert_eq!(config.status, 200, "{}", config.raw);
    cluster
        .command(
            "POST",
            &format!("/api/v1/admin/operators/{}/credentials/rotate", arcade.id),
            &admin,
            json!({}),
        )
        .await
        .ok();
    let stale = arcade.headset.config().await;
    assert_eq!(stale.error_code(), "INVALID_API_KEY", "{}", stale.raw);

    cluster
        .command(
            "POST",
            &format!("/api/v1/admin/operators/{}/lock", arcade.id),
            &admin,
            json!({"reason": "可疑访问"}),
        )
        .await
        .ok();
    let log = cluster
        .query_until("/api/v1/finance/audit-log", &auditor, |d| {
            let actions: Vec<&str> = items_ref(d)
                .iter()
                .filter_map(|a| a["action"].as_str())
                .collect();
            actions.contains(&"CredentialRotated") && actions.contains(&"OperatorLocked")
        })
        .await;
    for entry in items(&log) {
        assert!(
            entry["actor_id"].as_str().is_some_and(|a| !a.is_empty()),
            "{entry}"
        );
        assert!(entry["actor_role"].as_str().is_some(), "{entry}");
        assert_eq!(entry["source_ip"], "127.0.0.1", "{entry}");
    }
    let rotated = items(&log)
        .into_iter()
        .find(|a| a["action"] == "CredentialRotated")
        .unwrap();
    assert_eq!(rotated["actor_username"], "admin");
    assert_eq!(rotated["target"]["id"], arcade.id.to_string());
}

fn items_ref(data: &Value) -> &[Value] {
    data["items"].as_array().map(Vec::as_slice).unwrap_or(&[])
}
