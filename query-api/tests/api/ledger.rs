use chrono::Duration;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{
    TestApp, Usage, at, insert_app, insert_operator, insert_site, insert_transaction, insert_usage,
};

/// Follows `next_cursor` from `first_path` to the end; returns each page's values of `field`.
async fn pages(app: &TestApp, first_path: &str, field: &str) -> Vec<Vec<Value>> {
    pages_from(app, first_path, None, field).await
}

/// As [`pages`], starting at `cursor`.
async fn pages_from(
    app: &TestApp,
    first_path: &str,
    cursor: Option<&str>,
    field: &str,
) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    let mut path = match cursor {
        Some(cursor) => format!("{first_path}&cursor={cursor}"),
        None => first_path.to_owned(),
    };
    loop {
        let reply = app.get(&path).await;
        let data = reply.data().clone();
        pages.push(
            data["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i[field].clone())
                .collect(),
        );
        let Some(next) = data["next_cursor"].as_str() else {
            break;
        };
        path = format!("{first_path}&cursor={next}");
        assert!(pages.len() < 20, "runaway pagination");
    }
    pages
}

#[tokio::test]
async fn balance_reports_the_checkpoint_it_reflects() {
    let app = TestApp::spawn().await;
    let op = insert_operator(&app.sql, "bal", "active", "88").await;
    app.sql
        .execute("UPDATE read.checkpoint SET position = 42", &[])
        .await
        .unwrap();

    let reply = app
        .get(&format!("/api/v1/admin/operators/{op}/balance"))
        .await;
    assert_eq!(
        reply.data(),
        &serde_json::json!({ "operator_id": op.to_string(), "balance": "88.00", "as_of_position": 42 })
    );
}

#[tokio::test]
async fn usage_records_page_through_three_pages_with_filters_without_repeats_or_gaps() {
    let app = TestApp::spawn().await;
    let op = insert_operator(&app.sql, "player", "active", "970").await;
    let hall_a = insert_site(&app.sql, op, "Hall A").await;
    let hall_b = insert_site(&app.sql, op, "Hall B").await;
    let app1 = insert_app(&app.sql, "Space Quest", "10", "active").await;
    let app2 = insert_app(&app.sql, "Deep Sea", "10", "active").await;
    let base = at("2026-04-01T10:00:00Z");
    let mut sessions = Vec::new();
    for i in 0..14_i64 {
        // Pairs share a time: the position breaks the tie.
        let usage = Usage {
            site_id: if i % 5 == 4 { hall_b } else { hall_a },
            app_id: if i % 2 == 0 { app1 } else { app2 },
            authorized_at: base + Duration::minutes(i / 2),
            position: 100 + i,
        };
        sessions.push(insert_usage(&app.sql, op, &usage).await);
    }
    // Another operator's records never show.
    let other = insert_operator(&app.sql, "other", "active", "0").await;
    insert_usage(
        &app.sql,
        other,
        &Usage {
            site_id: hall_a,
            app_id: app1,
            authorized_at: base + Duration::minutes(3),
            position: 500,
        },
    )
    .await;

    // Hall A, from 10:01 (inclusive) to 10:06 (exclusive), three per page.
    let first = format!(
        "/api/v1/admin/operators/{op}/usage-records?site_id={hall_a}&from=2026-04-01T10:01:00Z&to=2026-04-01T10:06:00Z&limit=3"
    );
    let reply = app.get(&first).await;
    let page1 = reply.data().clone();
    let expected_order = [11, 10, 8, 7, 6, 5, 3, 2];
    let expected: Vec<Vec<Value>> = expected_order
        .chunks(3)
        .map(|chunk| {
            chunk
                .iter()
                .map(|i| Value::String(sessions[*i].clone()))
                .collect()
        })
        .collect();
    let page1_sessions: Vec<Value> = page1["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["session_id"].clone())
        .collect();
    assert_eq!(page1_sessions, expected[0]);

    // A newer record arriving between pages does not shift the later pages.
    let late = insert_usage(
        &app.sql,
        op,
        &Usage {
            site_id: hall_a,
            app_id: app1,
            authorized_at: base + Duration::minutes(5),
            position: 900,
        },
    )
    .await;
    let cursor = page1["next_cursor"].as_str().unwrap();
    let rest = pages_from(&app, &first, Some(cursor), "session_id").await;
    assert_eq!(rest, expected[1..].to_vec(), "pages 2 and 3");

    // A fresh walk sees the late record first, then everything else once.
    let fresh: Vec<Value> = pages(&app, &first, "session_id").await.concat();
    let mut want = vec![Value::String(late)];
    want.extend(expected.concat());
    assert_eq!(fresh, want);

    // Item shape.
    let item = &page1["items"][0];
    assert_eq!(item["session_id"], sessions[11]);
    assert_eq!(item["site_id"], hall_a.to_string());
    assert_eq!(item["site_name"], "Hall A");
    assert_eq!(item["app_id"], app2.to_string());
    assert_eq!(item["app_name"], "Space Quest");
    assert_eq!(item["player_count"], 3);
    assert_eq!(item["unit_price"], "10.00");
    assert_eq!(item["total_cost"], "30.00");
    assert_eq!(item["balance_after"], "970.00");
    assert_eq!(item["authorized_at"], "2026-04-01T10:05:00Z");
    assert!(Uuid::parse_str(item["authorization_token"].as_str().unwrap()).is_ok());
    assert_eq!(item["ended_at"], Value::Null);
    assert_eq!(item["duration_seconds"], Value::Null);

    // app_id filter alone: the 7 even records plus the late one.
    let reply = app
        .get(&format!(
            "/api/v1/admin/operators/{op}/usage-records?app_id={app1}&limit=100"
        ))
        .await;
    assert_eq!(reply.data()["items"].as_array().unwrap().len(), 8);
    assert_eq!(reply.data()["next_cursor"], Value::Null);
}

#[tokio::test]
async fn usage_records_name_every_bad_parameter() {
    let app = TestApp::spawn().await;
    let op = insert_operator(&app.sql, "params", "active", "0").await;
    let base = format!("/api/v1/admin/operators/{op}/usage-records");
    assert_eq!(
        app.get(&format!("{base}?limit=0")).await.invalid_fields(),
        ["limit"]
    );
    assert_eq!(
        app.get(&format!("{base}?limit=101")).await.invalid_fields(),
        ["limit"]
    );
    assert_eq!(
        app.get(&format!("{base}?limit=ten")).await.invalid_fields(),
        ["limit"]
    );
    assert_eq!(
        app.get(&format!(
            "{base}?cursor=garbage&site_id=nope&app_id=1&from=yesterday"
        ))
        .await
        .invalid_fields(),
        ["app_id", "cursor", "from", "site_id"]
    );
    assert_eq!(
        app.get(&format!(
            "{base}?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z"
        ))
        .await
        .invalid_fields(),
        ["from", "to"]
    );
    assert_eq!(app.get(&format!("{base}?limit=100")).await.status, 200);
}

#[tokio::test]
async fn transactions_filter_by_kind_and_time_and_page_newest_first() {
    let app = TestApp::spawn().await;
    let op = insert_operator(&app.sql, "tx", "active", "500").await;
    let base = at("2026-06-01T00:00:00Z");
    insert_transaction(&app.sql, op, 1, "credit", "1000", base).await;
    insert_transaction(&app.sql, op, 2, "charge", "-30", base + Duration::hours(1)).await;
    insert_transaction(
        &app.sql,
        op,
        3,
        "charge",
        "-20.5",
        base + Duration::hours(1),
    )
    .await;
    insert_transaction(
        &app.sql,
        op,
        4,
        "charge",
        "-449.5",
        base + Duration::hours(2),
    )
    .await;
    insert_transaction(&app.sql, op, 5, "credit", "0.01", base + Duration::hours(3)).await;

    let all = pages(
        &app,
        &format!("/api/v1/admin/operators/{op}/transactions?limit=2"),
        "position",
    )
    .await;
    let json = |v: Vec<Vec<Value>>| serde_json::to_string(&v).unwrap();
    assert_eq!(json(all), "[[5,4],[3,2],[1]]");

    let charges = pages(
        &app,
        &format!("/api/v1/admin/operators/{op}/transactions?kind=charge&limit=2"),
        "amount",
    )
    .await;
    assert_eq!(json(charges), r#"[["-449.50","-20.50"],["-30.00"]]"#);

    let window = app
        .get(&format!("/api/v1/admin/operators/{op}/transactions?from=2026-06-01T01:00:00Z&to=2026-06-01T02:00:00Z"))
        .await;
    let items = window.data()["items"].as_array().unwrap();
    assert_eq!(
        items
            .iter()
            .map(|i| i["position"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [3, 2]
    );
    assert_eq!(items[0]["kind"], "charge");
    assert_eq!(items[0]["balance_after"], "500.00");
    assert_eq!(items[0]["occurred_at"], "2026-06-01T01:00:00Z");

    let bad = app
        .get(&format!(
            "/api/v1/admin/operators/{op}/transactions?kind=DROP%20TABLE"
        ))
        .await;
    assert_eq!(bad.invalid_fields(), ["kind"]);
}
