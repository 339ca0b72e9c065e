use std::collections::HashSet;

use chrono::{Duration, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{
    TestApp, at, insert_app, insert_grant, insert_operator, insert_operator_full, insert_site,
};

#[tokio::test]
async fn operator_detail_shows_balance_status_and_profile() {
    let app = TestApp::spawn().await;
    let id = insert_operator(&app.sql, "starcade", "locked", "1234.5").await;

    let reply = app.get(&format!("/api/v1/admin/operators/{id}")).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let op = reply.data();
    assert_eq!(op["id"], id.hyphenated().to_string());
    assert_eq!(op["username"], "starcade");
    assert_eq!(op["name"], "starcade Arcade");
    assert_eq!(op["status"], "locked");
    assert_eq!(op["lock_reason"], "unpaid invoice");
    assert_eq!(op["locked_at"], "2026-02-01T08:00:00Z");
    assert_eq!(op["balance"], "1234.50");
    assert_eq!(op["total_credited"], "1334.50");
    assert_eq!(op["total_charged"], "100.00");
    assert_eq!(op["games"], 7);
    assert_eq!(op["category"], "standard");
    assert_eq!(op["registered_at"], "2026-01-01T00:00:00Z");
    for field in ["phone", "email", "updated_at"] {
        assert!(op[field].is_string(), "{field}");
    }
}

#[tokio::test]
async fn an_unknown_operator_is_not_found() {
    let app = TestApp::spawn().await;
    let id = Uuid::now_v7();
    for suffix in [
        "",
        "/balance",
        "/usage-records",
        "/transactions",
        "/sites",
        "/grants",
        "/credentials",
        "/headset-servers",
    ] {
        let reply = app
            .get(&format!("/api/v1/admin/operators/{id}{suffix}"))
            .await;
        reply.assert_error(404, "NOT_FOUND");
        assert_eq!(reply.body["details"]["resource"], "operator", "{suffix}");
    }
}

#[tokio::test]
async fn a_malformed_operator_id_is_invalid_params() {
    let app = TestApp::spawn().await;
    for suffix in ["", "/balance", "/usage-records", "/grants"] {
        let reply = app
            .get(&format!("/api/v1/admin/operators/not-a-uuid{suffix}"))
            .await;
        assert_eq!(reply.invalid_fields(), ["operator_id"], "{suffix}");
    }
    let reply = app
        .get(&format!(
            "/api/v1/admin/operators/{}?surprise=1",
            Uuid::now_v7()
        ))
        .await;
    assert_eq!(reply.invalid_fields(), ["surprise"]);
}

#[tokio::test]
async fn the_operator_list_filters_and_pages_newest_first() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let id = Uuid::now_v7();
        let status = if i % 3 == 0 { "locked" } else { "active" };
        let category = if i < 4 { "vip" } else { "trial" };
        let registered_at = at("2026-03-01T00:00:00Z") + Duration::hours(i);
        insert_operator_full(
            &app.sql,
            id,
            &format!("user_{i}"),
            &format!("Fun{i} 50%_Zone"),
            status,
            category,
            "10",
            registered_at,
        )
        .await;
        ids.push(id);
    }

    // All, two per page, newest registration first.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/admin/operators?limit=2&cursor={c}"),
            None => "/api/v1/admin/operators?limit=2".to_owned(),
        };
        let reply = app.get(&path).await;
        let data = reply.data();
        seen.extend(
            data["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].as_str().unwrap().to_owned()),
        );
        match data["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let expected: Vec<String> = ids.iter().rev().map(|id| id.to_string()).collect();
    assert_eq!(seen, expected);

    // Filters combine; `q` matches the name literally, case-insensitively.
    let reply = app
        .get("/api/v1/admin/operators?status=active&category=vip")
        .await;
    let names: HashSet<&str> = reply.data()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, HashSet::from(["user_1", "user_2"]));
    let reply = app.get("/api/v1/admin/operators?q=fun5%2050%25_zONE").await;
    let items = reply.data()["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["username"], "user_5");
    let reply = app.get("/api/v1/admin/operators?q=USER_").await;
    assert_eq!(reply.data()["items"].as_array().unwrap().len(), 7);
    let reply = app.get("/api/v1/admin/operators?q=%25").await;
    assert_eq!(
        reply.data()["items"].as_array().unwrap().len(),
        7,
        "every name has a literal %"
    );
    let reply = app.get("/api/v1/admin/operators?q=user__").await;
    assert_eq!(
        reply.data()["items"].as_array().unwrap().len(),
        0,
        "_ is literal, not a wildcard"
    );

    let reply = app
        .get("/api/v1/admin/operators?status=sleeping&category=gold&limit=101")
        .await;
    assert_eq!(reply.invalid_fields(), ["category", "limit", "status"]);
}

#[tokio::test]
async fn grants_say_whether_they_have_expired() {
    let app = TestApp::spawn().await;
    let op = insert_operator(&app.sql, "granted", "active", "0").await;
    let past = insert_app(&app.sql, "A Past", "10.00", "active").await;
    let future = insert_app(&app.sql, "B Future", "12.5", "active").await;
    let forever = insert_app(&app.sql, "C Forever", "8", "retired").await;
    insert_grant(&app.sql, op, past, Some(Utc::now() - Duration::minutes(1))).await;
    insert_grant(&app.sql, op, future, Some(Utc::now() + Duration::days(30))).await;
    insert_grant(&app.sql, op, forever, None).await;

    let reply = app
        .get(&format!("/api/v1/admin/operators/{op}/grants"))
        .await;
    let grants = reply.data().as_array().unwrap();
    let summary: Vec<(&str, &str, bool, bool)> = grants
        .iter()
        .map(|g| {
            (
                g["app_name"].as_str().unwrap(),
                g["unit_price"].as_str().unwrap(),
                g["expired"].as_bool().unwrap(),
                g["expires_at"].is_null(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("A Past", "10.00", true, false),
            ("B Future", "12.50", false, false),
            ("C Forever", "8.00", false, true)
        ]
    );
    assert_eq!(grants[2]["app_status"], "retired");
    assert_eq!(grants[0]["app_id"], past.to_string());
    assert_eq!(grants[0]["min_players"], 1);
    assert_eq!(grants[0]["max_players"], 8);
}

#[tokio::test]
async fn sites_credentials_and_headset_servers_are_listed_without_secrets() {
    let app = TestApp::spawn().await;
    let op = insert_operator(&app.sql, "lister", "active", "0").await;
    let site = insert_site(&app.sql, op, "Downtown").await;
    app.sql
        .execute(
            "INSERT INTO read.credentials (key_id, operator_id, fingerprint, issued_at, ends_at) VALUES
             ('mrk_old', $1, 'f0', '2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z'),
             ('mrk_new', $1, 'f1', '2026-01-02T00:00:00Z', NULL)",
            &[&op],
        )
        .await
        .unwrap();
    app.sql
        .execute(
            "INSERT INTO read.headset_servers (operator_id, server_id, site_id, players_online, version, last_seen_at,
                 last_sequence)
             VALUES ($1, 'hs-1', $2, 4, '1.2.3', '2026-05-05T05:05:05.5Z', 1)",
            &[&op, &site],
        )
        .await
        .unwrap();

    let sites = app
        .get(&format!("/api/v1/admin/operators/{op}/sites"))
        .await;
    let sites = sites.data().as_array().unwrap().clone();
    assert_eq!(sites.len(), 1);
    assert_eq!(sites[0]["id"], site.to_string());
    assert_eq!(sites[0]["name"], "Downtown");
    assert_eq!(sites[0]["closed_at"], Value::Null);

    let creds = app
        .get(&format!("/api/v1/admin/operators/{op}/credentials"))
        .await;
    let creds = creds.data().as_array().unwrap().clone();
    let keys: Vec<(&str, bool)> = creds
        .iter()
        .map(|c| (c["key_id"].as_str().unwrap(), c["live"].as_bool().unwrap()))
        .collect();
    assert_eq!(keys, [("mrk_new", true), ("mrk_old", false)]);
    for c in &creds {
        let fields: HashSet<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            fields,
            HashSet::from(["key_id", "fingerprint", "issued_at", "ends_at", "live"])
        );
    }

    let servers = app
        .get(&format!("/api/v1/admin/operators/{op}/headset-servers"))
        .await;
    let server = &servers.data()[0];
    assert_eq!(server["server_id"], "hs-1");
    assert_eq!(server["site_name"], "Downtown");
    assert_eq!(server["players_online"], 4);
    assert_eq!(server["version"], "1.2.3");
    assert_eq!(server["last_seen_at"], "2026-05-05T05:05:05.500Z");

    // A known operator with nothing yet: an empty list, not 404.
    let empty = insert_operator(&app.sql, "empty", "active", "0").await;
    let reply = app
        .get(&format!("/api/v1/admin/operators/{empty}/sites"))
        .await;
    assert_eq!(reply.data(), &Value::Array(vec![]));
}

#[tokio::test]
async fn the_operator_list_searches_phone_and_email_and_hides_deactivated_unless_asked() {
    let app = TestApp::spawn().await;
    insert_operator(&app.sql, "still_here", "active", "0").await;
    let gone = insert_operator(&app.sql, "gone_away", "deactivated", "0").await;
    app.sql
        .execute(
            "UPDATE read.operators SET phone = '13912345678', deactivated_at = now() WHERE id = $1",
            &[&gone],
        )
        .await
        .unwrap();
    let usernames = |reply: &crate::helpers::Reply| -> Vec<String> {
        reply.data()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["username"].as_str().unwrap().to_owned())
            .collect()
    };

    let default = app.get("/api/v1/admin/operators").await;
    assert_eq!(usernames(&default), ["still_here"]);
    let all = app
        .get("/api/v1/admin/operators?include_deactivated=true")
        .await;
    let mut names = usernames(&all);
    names.sort();
    assert_eq!(names, ["gone_away", "still_here"]);
    let only_gone = app.get("/api/v1/admin/operators?status=deactivated").await;
    assert_eq!(usernames(&only_gone), ["gone_away"]);
    assert!(only_gone.data()["items"][0]["deactivated_at"].is_string());

    // Phone and email match too, case-insensitively.
    let by_email = app
        .get("/api/v1/admin/operators?q=STILL_HERE%40EXAMPLE")
        .await;
    assert_eq!(usernames(&by_email), ["still_here"]);
    let by_phone = app
        .get("/api/v1/admin/operators?q=9123456&include_deactivated=true")
        .await;
    assert_eq!(usernames(&by_phone), ["gone_away"]);
    let hidden = app.get("/api/v1/admin/operators?q=9123456").await;
    assert_eq!(hidden.data()["items"], Value::Array(vec![]));

    assert_eq!(
        app.get("/api/v1/admin/operators?include_deactivated=maybe")
            .await
            .invalid_fields(),
        ["include_deactivated"]
    );
}

#[tokio::test]
async fn the_operator_detail_page_carries_totals_threshold_sites_and_grants() {
    let app = TestApp::spawn().await;
    let op = insert_operator(&app.sql, "detailed", "active", "400").await;
    app.sql
        .execute(
            "UPDATE read.operators SET total_refunded = 20, total_invoiced = 80,
                 low_balance_threshold = 1000, category = 'vip' WHERE id = $1",
            &[&op],
        )
        .await
        .unwrap();
    let site = insert_site(&app.sql, op, "Main Hall").await;
    let game = insert_app(&app.sql, "Space Quest", "10", "active").await;
    insert_grant(&app.sql, op, game, None).await;

    let reply = app.get(&format!("/api/v1/admin/operators/{op}")).await;
    let detail = reply.data();
    // The fixed core stays where it was.
    assert_eq!(detail["id"], op.to_string());
    assert_eq!(detail["balance"], "400.00");
    assert_eq!(detail["status"], "active");
    assert_eq!(detail["category"], "vip");
    assert_eq!(detail["low_balance_threshold"], "1000.00");
    assert_eq!(
        detail["totals"],
        serde_json::json!({
            "total_credited": "500.00",
            "total_charged": "100.00",
            "total_refunded": "20.00",
            "total_invoiced": "80.00",
            "games": 7
        })
    );
    assert_eq!(detail["sites"][0]["id"], site.to_string());
    assert_eq!(detail["sites"][0]["name"], "Main Hall");
    assert_eq!(detail["grants"][0]["app_id"], game.to_string());
    assert_eq!(detail["grants"][0]["app_name"], "Space Quest");
    assert_eq!(detail["grants"][0]["expired"], false);
}
