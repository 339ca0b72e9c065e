//! The web console end to end in a real browser: the services on a fresh database, the
//! WeChat Pay / Alipay simulator, nginx from the console's template, and Debian's chromium
//! driven by playwright-core (deploy/console/e2e/operator.mjs). Screenshots of each page at
//! 1440×900 land in test-artifacts/console/.

mod console_support;

use std::time::Duration;

use console_support::{console_stack, run_browser_script, screenshot_dir};
use tests::cluster::{ADMIN_PASSWORD, ADMIN_USERNAME};

/// The browser script's budget (it takes well under half of it).
const E2E_TIMEOUT: Duration = Duration::from_secs(120);
/// Access token lifetime for the run: the console refreshes about every 3 s.
const ACCESS_TOKEN_SECONDS: &str = "33";

#[tokio::test]
async fn an_operator_recharges_sees_a_charge_live_is_refunded_and_is_kept_out_of_admin_pages() {
    // Access tokens short enough that the console refreshes them during the run (it refreshes
    // 30 s before expiry): the pages keep working across refreshes.
    let (sim, cluster, nginx) =
        console_stack(&[("MR_ACCESS_TOKEN_SECONDS", ACCESS_TOKEN_SECONDS)]).await;

    let username = format!("e2e_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let password = "Console-e2e-pass1";
    let screenshots = screenshot_dir("");
    run_browser_script(
        "operator.mjs",
        &[
            ("MR_SIM_URL", &sim.url),
            ("MR_ADMIN_USERNAME", ADMIN_USERNAME),
            ("MR_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("MR_OPERATOR_USERNAME", &username),
            ("MR_OPERATOR_PASSWORD", password),
        ],
        &nginx,
        &screenshots,
        E2E_TIMEOUT,
        "console e2e passed",
    )
    .await;

    // What the browser did is in the ledger: 100.00 recharged, one 4-player game at 15.00,
    // the remaining 40.00 refunded.
    let admin = cluster.admin_token().await;
    let page = cluster
        .query(&format!("/api/v1/admin/operators?q={username}"), &admin)
        .await
        .ok();
    let operator = &page["items"][0];
    assert_eq!(operator["username"], username.as_str(), "{page}");
    assert_eq!(operator["balance"], "0.00", "{operator}");
    assert_eq!(operator["total_credited"], "100.00", "{operator}");
    assert_eq!(operator["total_charged"], "60.00", "{operator}");
    assert_eq!(operator["total_refunded"], "40.00", "{operator}");
    assert_eq!(operator["games"], 1, "{operator}");

    // The application made and approved in the console granted the app, whose price staff
    // then changed in the console; the announcement published there is on record.
    let operator_id = operator["id"].as_str().unwrap();
    let applications = cluster
        .query(
            &format!("/api/v1/admin/app-applications?operator_id={operator_id}"),
            &admin,
        )
        .await
        .ok();
    assert_eq!(
        applications["items"][0]["status"], "approved",
        "{applications}"
    );
    assert_eq!(
        applications["items"][0]["app_name"], "银河探险",
        "{applications}"
    );
    let grants = cluster
        .query(
            &format!("/api/v1/admin/operators/{operator_id}/grants"),
            &admin,
        )
        .await
        .ok();
    assert_eq!(grants[0]["status"], "active", "{grants}");
    assert_eq!(grants[0]["unit_price"], "18.50", "{grants}");
    let announcements = cluster
        .query("/api/v1/admin/announcements", &admin)
        .await
        .ok();
    assert_eq!(
        announcements["items"][0]["title"], "五一假期营业时间调整",
        "{announcements}"
    );

    for page in [
        "04-recharge-qr",
        "05b-operator-apps",
        "05c-applications-review",
        "06-dashboard-live",
        "07-usage",
        "10a-admin-apps",
        "10b-messages-price-change",
        "10c-admin-announcements",
        "15-operator-forbidden",
        "17a-operator-detail",
        "18-refund-review",
        "18a-admin-transactions",
    ] {
        let shot = screenshots.join(format!("{page}.png"));
        assert!(shot.exists(), "{} missing", shot.display());
    }
}
