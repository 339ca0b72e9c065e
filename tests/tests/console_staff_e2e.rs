//! The finance and analyst pages end to end in a real browser: the services on a fresh
//! database, the WeChat Pay / Alipay simulator, nginx from the console's template, and Debian's
//! chromium driven by playwright-core (deploy/console/e2e/staff.mjs).
//!
//! Seeded through the APIs: an operator with a manual credit and a paid WeChat recharge, three
//! signed headset games on two apps and two sites, an invoice request, a refund request, a
//! daily report, and the finance manager and analyst accounts. In the browser the finance
//! manager sees a credit reach the open dashboard live, issues the invoice, generates a monthly
//! report and reconciles today's statement; each page's figures are compared with the API's
//! and its files downloaded. Screenshots at 1440×900 land in test-artifacts/console/staff/.

mod console_support;

use std::time::Duration;

use console_support::{console_stack, run_browser_script, screenshot_dir};
use ledger_core::ids::{AppId, OperatorId, SiteId};
use serde_json::{Value, json};
use tests::cluster::{ADMIN_PASSWORD, ADMIN_USERNAME, Cluster};
use tests::gateway_sim::Running;
use tests::headset::HeadsetClient;

/// The browser script's budget (it takes well under half of it).
const E2E_TIMEOUT: Duration = Duration::from_secs(150);
const OPERATOR_PASSWORD: &str = "Arcade-staff-e2e1";
const STAFF_PASSWORD: &str = "Staff-console-e2e1";
const OPERATOR_NAME: &str = "银河VR乐园";

/// Pages the run must have captured.
const SCREENSHOTS: [&str; 11] = [
    "01-finance-dashboard",
    "02-refund-review",
    "03-invoice-review",
    "04-reports",
    "05-reconciliation",
    "06-audit-log",
    "07-analyst-dashboard",
    "08-analysis-operator-app",
    "09-analysis-site-time",
    "10-analysis-players",
    "11-analysis-category",
];

/// Today in the statistics' zone (Asia/Shanghai, UTC+8 all year).
fn shanghai_today() -> String {
    (chrono::Utc::now() + chrono::Duration::hours(8))
        .date_naive()
        .to_string()
}

/// A unique login name with `prefix`.
fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

struct Seeded {
    operator: OperatorId,
    /// The finance manager's username and account id.
    finance: (String, String),
    analyst: String,
}

/// Everything the pages show, through the APIs as a person and a headset server would.
async fn seed(cluster: &Cluster, sim: &Running, admin: &str) -> Seeded {
    let username = unique("arcade");
    let url = format!("{}/api/v1/auth/operator/register", cluster.command);
    let body = json!({"username": username, "name": OPERATOR_NAME, "phone": "13800138000",
                      "email": format!("{username}@example.com"), "password": OPERATOR_PASSWORD});
    let created = cluster.call("POST", &url, None, Some(body)).await.ok();
    let operator: OperatorId = created["operator"]["id"].as_str().unwrap().parse().unwrap();
    let token = cluster
        .token("operator", &username, OPERATOR_PASSWORD)
        .await;

    // Money: 300.00 by bank transfer, 200.00 by WeChat Pay through the simulator.
    cluster
        .command(
            "POST",
            &format!("/api/v1/finance/operators/{operator}/manual-credits"),
            admin,
            json!({"amount": "300.00", "reason": "bank transfer"}),
        )
        .await
        .ok();
    let order = cluster
        .command(
            "POST",
            "/api/v1/operator/recharges",
            &token,
            json!({"channel": "wechat", "amount": "200.00"}),
        )
        .await
        .ok();
    let paid = reqwest::Client::new()
        .post(format!(
            "{}/sim/orders/{}/pay",
            sim.url,
            order["out_trade_no"].as_str().unwrap()
        ))
        .json(&json!({"callback": "now"}))
        .send()
        .await
        .unwrap();
    assert!(paid.status().is_success(), "{}", paid.status());
    cluster
        .query_until("/api/v1/operator/profile", &token, |p| {
            p["balance"] == "500.00"
        })
        .await;

    // Two apps granted, two sites; three games: 2 × 12.50, 4 × 12.50, 6 × 20.00 = 195.00.
    let mut apps = Vec::new();
    for (name, price) in [("星际漫游", "12.50"), ("深海探秘", "20.00")] {
        let body = json!({"name": name, "unit_price": price, "min_players": 1, "max_players": 8});
        let app = cluster
            .command("POST", "/api/v1/admin/apps", admin, body)
            .await
            .ok();
        let app: AppId = app["id"].as_str().unwrap().parse().unwrap();
        cluster
            .command(
                "POST",
                &format!("/api/v1/admin/operators/{operator}/grants"),
                admin,
                json!({"app_id": app, "expires_at": null}),
            )
            .await
            .ok();
        apps.push(app);
    }
    let mut sites = Vec::new();
    for (name, address) in [
        ("国贸店", "北京市朝阳区建国门外大街1号"),
        ("西单店", "北京市西城区西单北大街120号"),
    ] {
        let site = cluster
            .command(
                "POST",
                "/api/v1/operator/sites",
                &token,
                json!({"name": name, "address": address}),
            )
            .await
            .ok();
        let site: SiteId = site["id"].as_str().unwrap().parse().unwrap();
        sites.push(site);
    }
    let headset = HeadsetClient::new(
        &cluster.command,
        operator,
        created["credentials"]["key_id"].as_str().unwrap(),
        created["credentials"]["secret"].as_str().unwrap(),
    );
    for (app, site, players, cost) in [
        (apps[0], sites[0], 2, "25.00"),
        (apps[0], sites[1], 4, "50.00"),
        (apps[1], sites[0], 6, "120.00"),
    ] {
        let reply = headset
            .authorize(&headset.new_session_id(), app, site, players)
            .await;
        assert_eq!(reply.data()["total_cost"], cost, "{:?}", reply.body);
    }
    cluster
        .query_until("/api/v1/operator/profile", &token, |p| {
            p["balance"] == "305.00"
        })
        .await;

    // An invoice request against the recharges, then a refund request of the balance.
    cluster
        .command(
            "POST",
            "/api/v1/operator/invoices",
            &token,
            json!({"invoice_type": "general", "title": OPERATOR_NAME,
                   "tax_number": "91110105MA01ABCD2X", "amount": "200.00"}),
        )
        .await
        .ok();
    cluster
        .command(
            "POST",
            "/api/v1/operator/refunds",
            &token,
            json!({"reason": "门店装修，暂停营业"}),
        )
        .await
        .ok();

    // The statistics have the games before today's report is made from them.
    cluster
        .query_until("/api/v1/analytics/overview", admin, |o| o["sessions"] == 3)
        .await;
    let report = cluster
        .call(
            "POST",
            &format!("{}/api/v1/finance/reports", cluster.query),
            Some(admin),
            Some(json!({"kind": "daily", "period_start": shanghai_today()})),
        )
        .await
        .ok();
    assert_eq!(report["status"], "ready", "{report}");

    let mut staff = Vec::new();
    for role in ["finance_manager", "analyst"] {
        let username = unique(&role[..7]);
        let account = cluster
            .command(
                "POST",
                "/api/v1/admin/staff",
                admin,
                json!({"username": username, "name": format!("{role} e2e"), "role": role,
                       "password": STAFF_PASSWORD}),
            )
            .await
            .ok();
        staff.push((username, account["id"].as_str().unwrap().to_owned()));
    }
    Seeded {
        operator,
        finance: staff[0].clone(),
        analyst: staff[1].0.clone(),
    }
}

#[tokio::test]
async fn finance_and_analyst_pages_show_the_apis_figures_and_download_their_files() {
    let (sim, cluster, nginx) = console_stack(&[]).await;
    let admin = cluster.token("staff", ADMIN_USERNAME, ADMIN_PASSWORD).await;
    let seeded = seed(&cluster, &sim, &admin).await;

    let screenshots = screenshot_dir("staff");
    let today = shanghai_today();
    run_browser_script(
        "staff.mjs",
        &[
            ("MR_FINANCE_USERNAME", &seeded.finance.0),
            ("MR_FINANCE_PASSWORD", STAFF_PASSWORD),
            ("MR_ANALYST_USERNAME", &seeded.analyst),
            ("MR_ANALYST_PASSWORD", STAFF_PASSWORD),
            ("MR_OPERATOR_NAME", OPERATOR_NAME),
            ("MR_TODAY", &today),
        ],
        &nginx,
        &screenshots,
        E2E_TIMEOUT,
        "console staff e2e passed",
    )
    .await;

    // What the finance manager did in the browser is in the ledger and the stores.
    let invoices = cluster
        .query(
            &format!(
                "/api/v1/finance/invoices?status=issued&operator_id={}",
                seeded.operator
            ),
            &admin,
        )
        .await
        .ok();
    let issued: &Value = &invoices["items"][0];
    assert_eq!(issued["amount"], "200.00", "{invoices}");
    assert!(
        issued["invoice_number"]
            .as_str()
            .is_some_and(|n| n.starts_with("MR")),
        "{issued}"
    );
    let reports = cluster
        .query("/api/v1/finance/reports?kind=monthly", &admin)
        .await
        .ok();
    assert_eq!(reports["items"][0]["status"], "ready", "{reports}");
    assert_eq!(
        reports["items"][0]["totals"]["consumed"], "195.00",
        "{reports}"
    );
    let runs = cluster
        .query("/api/v1/finance/reconciliations", &admin)
        .await
        .ok();
    assert_eq!(runs["items"][0]["matched"], 1, "{runs}");
    assert_eq!(runs["items"][0]["gateway_total"], "200.00", "{runs}");
    assert_eq!(
        runs["items"][0]["created_by"],
        seeded.finance.1.as_str(),
        "{runs}"
    );

    for page in SCREENSHOTS {
        let shot = screenshots.join(format!("{page}.png"));
        assert!(shot.exists(), "{} missing", shot.display());
    }
}
