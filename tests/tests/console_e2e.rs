//! The web console end to end in a real browser: the services on a fresh database, the
//! WeChat Pay / Alipay simulator, nginx from the console's template, and Debian's chromium
//! driven by playwright-core (deploy/console/e2e/operator.mjs). Screenshots of each page at
//! 1440×900 land in test-artifacts/console/.

mod console_support;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use console_support::{Nginx, authority, console_dist, repo};
use tests::cluster::{ADMIN_PASSWORD, ADMIN_USERNAME, Cluster, free_port};
use tests::gateway_sim::{self, Config};

/// The browser script's budget (it takes well under half of it).
const E2E_TIMEOUT: Duration = Duration::from_secs(120);
const CHROMIUM: &str = "/usr/bin/chromium";
/// Access token lifetime for the run: the console refreshes about every 3 s.
const ACCESS_TOKEN_SECONDS: &str = "33";

/// Removes the screenshots of an earlier run, so the folder shows this run's pages only.
fn fresh_screenshot_dir(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "png") {
            std::fs::remove_file(path).unwrap();
        }
    }
}

#[tokio::test]
async fn an_operator_recharges_sees_a_charge_live_is_refunded_and_is_kept_out_of_admin_pages() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} missing: run deploy/dev/ensure-web.sh (make test does)"
    );
    let dist = console_dist();
    let sim = gateway_sim::start(Config::dev()).await.unwrap();
    let command_addr = format!("127.0.0.1:{}", free_port());
    let mut settings = sim.ledger_settings(&command_addr);
    settings.push(("MR_COMMAND_HTTP_ADDR".into(), command_addr));
    // Access tokens short enough that the console refreshes them during the run (it refreshes
    // 30 s before expiry): the pages keep working across refreshes.
    settings.push((
        "MR_ACCESS_TOKEN_SECONDS".into(),
        ACCESS_TOKEN_SECONDS.into(),
    ));
    let settings: Vec<(&str, &str)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let cluster = Cluster::start(&settings).await;
    let nginx = Nginx::start(
        &dist,
        authority(&cluster.command),
        authority(&cluster.query),
    );

    let username = format!("e2e_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let password = "Console-e2e-pass1";
    let screenshots = repo().join("test-artifacts/console");
    fresh_screenshot_dir(&screenshots);

    let run = tokio::process::Command::new("node")
        .arg(repo().join("deploy/console/e2e/operator.mjs"))
        .env("MR_CONSOLE_URL", &nginx.url)
        .env("MR_SIM_URL", &sim.url)
        .env("MR_ADMIN_USERNAME", ADMIN_USERNAME)
        .env("MR_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("MR_OPERATOR_USERNAME", &username)
        .env("MR_OPERATOR_PASSWORD", password)
        .env("MR_SCREENSHOT_DIR", &screenshots)
        .env("MR_CHROMIUM", CHROMIUM)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(E2E_TIMEOUT, run)
        .await
        .expect("the browser script finished in time")
        .expect("node runs (Node 20 on PATH)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "console e2e failed ({}):\n{stdout}\n{stderr}\nnginx: {}\nscreenshots: {}",
        output.status,
        nginx.error_log(),
        screenshots.display()
    );
    assert!(stdout.contains("console e2e passed"), "{stdout}");

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
