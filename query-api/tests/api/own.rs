//! The operator's self-service reads: its own data only, taken from its token.

use std::collections::HashSet;

use chrono::{Duration, Utc};
use serde_json::Value;

use crate::helpers::{
    TestApp, Usage, at, insert_app, insert_application, insert_grant, insert_invoice,
    insert_message, insert_operator, insert_refund, insert_site, insert_transaction, insert_usage,
};

fn ids(list: &Value, field: &str) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i[field]
                .as_str()
                .map_or_else(|| i[field].to_string(), str::to_owned)
        })
        .collect()
}

#[tokio::test]
async fn the_profile_shows_totals_threshold_and_what_may_still_be_invoiced() {
    let app = TestApp::spawn().await;
    // Credited 600 (balance 500 + 100 charged).
    let op = insert_operator(&app.sql, "profiled", "active", "500").await;
    app.sql
        .execute(
            "UPDATE read.operators SET total_refunded = 50, total_invoiced = 200,
                 low_balance_threshold = 100 WHERE id = $1",
            &[&op],
        )
        .await
        .unwrap();
    insert_invoice(&app.sql, op, "pending", "30", Utc::now()).await;
    insert_invoice(&app.sql, op, "rejected", "999", Utc::now()).await;
    let login = app.login_operator(op).await;

    let reply = app.get_as(&login, "/api/v1/operator/profile").await;
    let profile = reply.data();
    assert_eq!(profile["id"], op.to_string());
    assert_eq!(profile["username"], "profiled");
    assert_eq!(profile["category"], "standard");
    assert_eq!(profile["balance"], "500.00");
    assert_eq!(profile["low_balance_threshold"], "100.00");
    assert_eq!(profile["total_credited"], "600.00");
    assert_eq!(profile["total_charged"], "100.00");
    assert_eq!(profile["total_refunded"], "50.00");
    assert_eq!(profile["total_invoiced"], "200.00");
    // 600 − 50 − 200 − 30 pending; the rejected request takes nothing.
    assert_eq!(profile["invoiceable_amount"], "320.00");
    assert_eq!(profile["registered_at"], "2026-01-01T00:00:00Z");

    // A refund after invoicing can leave less than nothing to invoice: shown as zero.
    app.sql
        .execute(
            "UPDATE read.operators SET total_refunded = 500 WHERE id = $1",
            &[&op],
        )
        .await
        .unwrap();
    let reply = app.get_as(&login, "/api/v1/operator/profile").await;
    assert_eq!(reply.data()["invoiceable_amount"], "0.00");

    assert_eq!(
        app.get_as(&login, "/api/v1/operator/profile?id=x")
            .await
            .invalid_fields(),
        ["id"]
    );
}

#[tokio::test]
async fn sites_apps_credentials_and_headset_servers_are_the_operators_own() {
    let app = TestApp::spawn().await;
    let op = insert_operator(&app.sql, "venues", "active", "0").await;
    let open = insert_site(&app.sql, op, "Open Hall").await;
    let closed = insert_site(&app.sql, op, "Old Hall").await;
    app.sql
        .execute(
            "UPDATE read.sites SET status = 'closed', closed_at = now() WHERE id = $1",
            &[&closed],
        )
        .await
        .unwrap();
    let active = insert_app(&app.sql, "Active Game", "12.5", "active").await;
    let lapsed = insert_app(&app.sql, "Lapsed Game", "8", "active").await;
    let revoked = insert_app(&app.sql, "Revoked Game", "9", "active").await;
    insert_grant(&app.sql, op, active, Some(Utc::now() + Duration::days(3))).await;
    insert_grant(&app.sql, op, lapsed, Some(Utc::now() - Duration::days(1))).await;
    insert_grant(&app.sql, op, revoked, None).await;
    app.sql
        .execute(
            "UPDATE read.grants SET status = 'revoked', revoked_at = now() WHERE app_id = $1",
            &[&revoked],
        )
        .await
        .unwrap();
    app.sql
        .execute(
            "INSERT INTO read.credentials (key_id, operator_id, fingerprint, issued_at) VALUES
             ('mrk_mine', $1, 'f0', now())",
            &[&op],
        )
        .await
        .unwrap();
    app.sql
        .execute(
            "INSERT INTO read.headset_servers (operator_id, server_id, site_id, players_online, version,
                 last_seen_at, last_sequence)
             VALUES ($1, 'hs-1', $2, 2, '1.0.0', now(), 1)",
            &[&op, &open],
        )
        .await
        .unwrap();
    let login = app.login_operator(op).await;

    let sites = app.get_as(&login, "/api/v1/operator/sites").await;
    assert_eq!(ids(sites.data(), "id"), [open.to_string()]);
    let all = app
        .get_as(&login, "/api/v1/operator/sites?include_closed=true")
        .await;
    assert_eq!(
        ids(all.data(), "id"),
        [open.to_string(), closed.to_string()]
    );
    assert_eq!(all.data()[1]["status"], "closed");
    assert_eq!(
        app.get_as(&login, "/api/v1/operator/sites?include_closed=1")
            .await
            .invalid_fields(),
        ["include_closed"]
    );

    let apps = app.get_as(&login, "/api/v1/operator/apps").await;
    let apps = apps.data().as_array().unwrap().clone();
    assert_eq!(apps.len(), 2, "the revoked grant is not an authorized app");
    assert_eq!(apps[0]["name"], "Active Game");
    assert_eq!(apps[0]["app_id"], active.to_string());
    assert_eq!(apps[0]["unit_price"], "12.50");
    assert_eq!(apps[0]["min_players"], 1);
    assert_eq!(apps[0]["max_players"], 8);
    assert_eq!(apps[0]["app_status"], "active");
    assert_eq!(apps[0]["expired"], false);
    assert!(apps[0]["expires_at"].is_string());
    assert_eq!(apps[1]["name"], "Lapsed Game");
    assert_eq!(apps[1]["expired"], true);

    let creds = app.get_as(&login, "/api/v1/operator/credentials").await;
    assert_eq!(ids(creds.data(), "key_id"), ["mrk_mine"]);
    assert_eq!(creds.data()[0]["live"], true);
    assert!(creds.data()[0].get("secret").is_none());

    let servers = app.get_as(&login, "/api/v1/operator/headset-servers").await;
    assert_eq!(ids(servers.data(), "server_id"), ["hs-1"]);
    assert_eq!(servers.data()[0]["site_name"], "Open Hall");
}

#[tokio::test]
async fn usage_records_filter_by_time_site_and_app_and_page() {
    let app = TestApp::spawn().await;
    let op = insert_operator(&app.sql, "usage", "active", "970").await;
    let hall_a = insert_site(&app.sql, op, "Hall A").await;
    let hall_b = insert_site(&app.sql, op, "Hall B").await;
    let game_1 = insert_app(&app.sql, "Game 1", "10", "active").await;
    let game_2 = insert_app(&app.sql, "Game 2", "10", "active").await;
    let base = at("2026-04-01T10:00:00Z");
    for i in 0..6_i64 {
        let usage = Usage {
            site_id: if i < 3 { hall_a } else { hall_b },
            app_id: if i % 2 == 0 { game_1 } else { game_2 },
            authorized_at: base + Duration::hours(i),
            position: 100 + i,
        };
        insert_usage(&app.sql, op, &usage).await;
    }
    let login = app.login_operator(op).await;
    let count = |reply: &crate::helpers::Reply| reply.data()["items"].as_array().unwrap().len();

    let all = app.get_as(&login, "/api/v1/operator/usage-records").await;
    assert_eq!(count(&all), 6);
    let b = app
        .get_as(
            &login,
            &format!("/api/v1/operator/usage-records?site_id={hall_b}"),
        )
        .await;
    assert_eq!(count(&b), 3);
    assert!(
        b.data()["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["site_name"] == "Hall B")
    );
    let game = app
        .get_as(
            &login,
            &format!("/api/v1/operator/usage-records?app_id={game_1}&site_id={hall_a}"),
        )
        .await;
    assert_eq!(count(&game), 2);
    let window = app
        .get_as(
            &login,
            "/api/v1/operator/usage-records?from=2026-04-01T11:00:00Z&to=2026-04-01T13:00:00Z",
        )
        .await;
    assert_eq!(
        ids(&window.data()["items"], "authorized_at"),
        ["2026-04-01T12:00:00Z", "2026-04-01T11:00:00Z"]
    );

    let first = app
        .get_as(&login, "/api/v1/operator/usage-records?limit=4")
        .await;
    assert_eq!(count(&first), 4);
    let cursor = first.data()["next_cursor"].as_str().unwrap();
    let second = app
        .get_as(
            &login,
            &format!("/api/v1/operator/usage-records?limit=4&cursor={cursor}"),
        )
        .await;
    assert_eq!(count(&second), 2);
    assert_eq!(second.data()["next_cursor"], Value::Null);

    assert_eq!(
        app.get_as(
            &login,
            "/api/v1/operator/usage-records?site_id=x&operator_id=y"
        )
        .await
        .invalid_fields(),
        ["operator_id", "site_id"]
    );

    insert_transaction(&app.sql, op, 1, "credit", "1000", base).await;
    insert_transaction(&app.sql, op, 2, "charge", "-30", base + Duration::hours(1)).await;
    let charges = app
        .get_as(&login, "/api/v1/operator/transactions?kind=charge")
        .await;
    assert_eq!(ids(&charges.data()["items"], "amount"), ["-30.00"]);
}

#[tokio::test]
async fn requests_of_the_operator_are_listed_newest_first_by_status() {
    let app = TestApp::spawn().await;
    let op = insert_operator(&app.sql, "requester", "active", "100").await;
    let game = insert_app(&app.sql, "Space Quest", "10", "active").await;
    let base = at("2026-05-01T00:00:00Z");
    let rejected = insert_application(&app.sql, op, game, "rejected", base).await;
    let pending = insert_application(&app.sql, op, game, "pending", base + Duration::days(1)).await;
    let refund = insert_refund(&app.sql, op, "approved", "100", base).await;
    let newest = insert_invoice(&app.sql, op, "pending", "10", base + Duration::days(2)).await;
    let issued = insert_invoice(&app.sql, op, "issued", "20", base + Duration::days(1)).await;
    let oldest = insert_invoice(&app.sql, op, "rejected", "30", base).await;
    let login = app.login_operator(op).await;

    let applications = app
        .get_as(&login, "/api/v1/operator/app-applications")
        .await;
    assert_eq!(
        ids(&applications.data()["items"], "id"),
        [pending.to_string(), rejected.to_string()]
    );
    let item = &applications.data()["items"][0];
    assert_eq!(item["app_id"], game.to_string());
    assert_eq!(item["app_name"], "Space Quest");
    assert_eq!(item["reason"], "we have the room");
    assert_eq!(item["status"], "pending");
    let only_rejected = app
        .get_as(&login, "/api/v1/operator/app-applications?status=rejected")
        .await;
    assert_eq!(
        ids(&only_rejected.data()["items"], "id"),
        [rejected.to_string()]
    );

    let refunds = app.get_as(&login, "/api/v1/operator/refunds").await;
    let item = &refunds.data()["items"][0];
    assert_eq!(item["id"], refund.to_string());
    assert_eq!(item["status"], "approved");
    assert_eq!(item["requested_amount"], "100.00");
    assert_eq!(item["amount"], "100.00");
    assert_eq!(item["balance_after"], "0.00");
    assert!(item.get("operator").is_none(), "finance's view only");

    let page1 = app
        .get_as(&login, "/api/v1/operator/invoices?limit=2")
        .await;
    assert_eq!(
        ids(&page1.data()["items"], "id"),
        [newest.to_string(), issued.to_string()]
    );
    let cursor = page1.data()["next_cursor"].as_str().unwrap();
    let page2 = app
        .get_as(
            &login,
            &format!("/api/v1/operator/invoices?limit=2&cursor={cursor}"),
        )
        .await;
    assert_eq!(ids(&page2.data()["items"], "id"), [oldest.to_string()]);
    let detail = app
        .get_as(&login, &format!("/api/v1/operator/invoices/{issued}"))
        .await;
    let detail = detail.data();
    assert_eq!(detail["status"], "issued");
    assert_eq!(detail["amount"], "20.00");
    assert_eq!(detail["pdf_available"], true);
    assert!(detail["invoice_number"].as_str().unwrap().starts_with("MR"));
    assert_eq!(
        app.get_as(&login, "/api/v1/operator/invoices?status=paid")
            .await
            .invalid_fields(),
        ["status"]
    );
}

#[tokio::test]
async fn an_operator_never_gets_another_operators_site_usage_invoice_or_message() {
    let app = TestApp::spawn().await;
    let mine = insert_operator(&app.sql, "mine", "active", "100").await;
    let theirs = insert_operator(&app.sql, "theirs", "active", "100").await;
    let game = insert_app(&app.sql, "Space Quest", "10", "active").await;
    let mut their_ids = HashSet::new();
    let mut their_site = None;
    let mut their_invoice = None;
    for op in [mine, theirs] {
        let site = insert_site(&app.sql, op, &format!("{op} hall")).await;
        insert_usage(
            &app.sql,
            op,
            &Usage {
                site_id: site,
                app_id: game,
                authorized_at: Utc::now(),
                position: if op == mine { 1 } else { 2 },
            },
        )
        .await;
        let invoice = insert_invoice(&app.sql, op, "issued", "50", Utc::now()).await;
        insert_refund(&app.sql, op, "pending", "100", Utc::now()).await;
        insert_application(&app.sql, op, game, "pending", Utc::now()).await;
        insert_message(
            &app.sql,
            op,
            if op == mine { 10 } else { 11 },
            "announcement",
            serde_json::json!({ "title": format!("for {op}"), "body": "" }),
            false,
        )
        .await;
        if op == theirs {
            their_ids.extend([site.to_string(), invoice.to_string(), theirs.to_string()]);
            their_site = Some(site);
            their_invoice = Some(invoice);
        }
    }
    let (their_site, their_invoice) = (their_site.unwrap(), their_invoice.unwrap());
    let login = app.login_operator(mine).await;

    // Every own list shows only the caller's rows.
    for path in [
        "/api/v1/operator/sites?include_closed=true",
        "/api/v1/operator/usage-records",
        "/api/v1/operator/invoices",
        "/api/v1/operator/refunds",
        "/api/v1/operator/app-applications",
        "/api/v1/operator/messages",
    ] {
        let reply = app.get_as(&login, path).await;
        let text = reply.data().to_string();
        assert!(!text.contains(&theirs.to_string()), "{path}: {text}");
        for id in &their_ids {
            assert!(!text.contains(id.as_str()), "{path} shows {id}: {text}");
        }
    }
    assert_eq!(
        app.get_as(&login, "/api/v1/operator/messages/unread-count")
            .await
            .data()["unread_count"],
        1
    );

    // Naming their site filters to nothing; their invoice is as absent as an unknown one.
    let reply = app
        .get_as(
            &login,
            &format!("/api/v1/operator/usage-records?site_id={their_site}"),
        )
        .await;
    assert_eq!(reply.data()["items"], Value::Array(vec![]));
    let reply = app
        .get_as(
            &login,
            &format!("/api/v1/operator/invoices/{their_invoice}"),
        )
        .await;
    reply.assert_error(404, "NOT_FOUND");
    assert_eq!(reply.body["details"]["resource"], "invoice");
    let pdf = app
        .get_raw(
            &login,
            &format!("/api/v1/operator/invoices/{their_invoice}/pdf"),
        )
        .await;
    assert_eq!(pdf.status, 404);
    assert!(!pdf.body.starts_with(b"%PDF"));

    // Staff routes that name an operator are closed to operators altogether.
    for path in [
        format!("/api/v1/admin/operators/{theirs}/sites"),
        format!("/api/v1/admin/operators/{theirs}/usage-records"),
        format!("/api/v1/finance/invoices/{their_invoice}"),
        format!("/api/v1/finance/invoices/{their_invoice}/pdf"),
    ] {
        let reply = app.get_as(&login, &path).await;
        reply.assert_error(403, "FORBIDDEN");
    }
}
