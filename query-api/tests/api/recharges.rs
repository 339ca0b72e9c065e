//! Online recharge orders: an operator's own list and orders, and finance's list across
//! operators with each order's operator.

use chrono::Duration;
use ledger_core::metadata::ActorRole;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{TestApp, at, insert_operator, insert_recharge};

fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_operator_lists_only_its_own_orders_newest_first_in_keyset_pages() {
    let app = TestApp::spawn().await;
    let op = insert_operator(&app.sql, "payer", "active", "100").await;
    let other = insert_operator(&app.sql, "stranger", "active", "0").await;
    let base = at("2026-05-01T00:00:00Z");
    let paid = insert_recharge(&app.sql, op, "wechat", "succeeded", "100", base).await;
    let failed = insert_recharge(
        &app.sql,
        op,
        "alipay",
        "failed",
        "20",
        base + Duration::hours(1),
    )
    .await;
    let pending = insert_recharge(
        &app.sql,
        op,
        "wechat",
        "pending",
        "50",
        base + Duration::hours(2),
    )
    .await;
    insert_recharge(
        &app.sql,
        other,
        "wechat",
        "succeeded",
        "999",
        base + Duration::hours(3),
    )
    .await;
    let operator = app.login_operator(op).await;

    let all = app.get_as(&operator, "/api/v1/operator/recharges").await;
    assert_eq!(
        ids(all.data()),
        [pending.to_string(), failed.to_string(), paid.to_string()]
    );
    assert_eq!(all.data()["next_cursor"], Value::Null);
    let first = &all.data()["items"][2];
    assert_eq!(first["operator_id"], op.to_string());
    assert_eq!(first["channel"], "wechat");
    assert_eq!(first["amount"], "100.00");
    assert_eq!(first["status"], "succeeded");
    assert!(
        first["transaction_id"]
            .as_str()
            .unwrap()
            .starts_with("4200"),
        "{first}"
    );
    assert_eq!(first["ordered_at"], "2026-05-01T00:00:00Z");
    assert_eq!(first["paid_at"], "2026-05-01T00:01:00Z");
    assert!(
        first.get("operator").is_none(),
        "an operator's own list does not repeat who it is"
    );

    let page = app
        .get_as(&operator, "/api/v1/operator/recharges?limit=2")
        .await;
    assert_eq!(ids(page.data()), [pending.to_string(), failed.to_string()]);
    let cursor = page.data()["next_cursor"].as_str().unwrap();
    let next = app
        .get_as(
            &operator,
            &format!("/api/v1/operator/recharges?limit=2&cursor={cursor}"),
        )
        .await;
    assert_eq!(ids(next.data()), [paid.to_string()]);
    assert_eq!(next.data()["next_cursor"], Value::Null);

    let failed_only = app
        .get_as(&operator, "/api/v1/operator/recharges?status=failed")
        .await;
    assert_eq!(ids(failed_only.data()), [failed.to_string()]);
    assert_eq!(failed_only.data()["items"][0]["reason"], "gateway timeout");
    let wechat = app
        .get_as(&operator, "/api/v1/operator/recharges?channel=wechat")
        .await;
    assert_eq!(ids(wechat.data()), [pending.to_string(), paid.to_string()]);

    // Another operator's id is not a filter of the own list.
    assert_eq!(
        app.get_as(
            &operator,
            &format!("/api/v1/operator/recharges?operator_id={other}&status=paid&channel=card")
        )
        .await
        .invalid_fields(),
        ["channel", "operator_id", "status"]
    );
}

#[tokio::test]
async fn an_operator_reads_its_own_order_and_gets_404_for_anothers() {
    let app = TestApp::spawn().await;
    let op = insert_operator(&app.sql, "payer", "active", "0").await;
    let other = insert_operator(&app.sql, "stranger", "active", "0").await;
    let now = at("2026-05-01T08:00:00Z");
    let mine = insert_recharge(&app.sql, op, "alipay", "needs_review", "300", now).await;
    let theirs = insert_recharge(&app.sql, other, "alipay", "pending", "300", now).await;
    let operator = app.login_operator(op).await;

    let order = app
        .get_as(&operator, &format!("/api/v1/operator/recharges/{mine}"))
        .await;
    let order = order.data();
    assert_eq!(order["id"], mine.to_string());
    assert_eq!(order["status"], "needs_review");
    assert_eq!(order["query_failures"], 3);
    assert_eq!(order["reason"], "gateway timeout");
    assert_eq!(order["channel"], "alipay");
    assert_eq!(order["amount"], "300.00");
    assert!(order["out_trade_no"].as_str().unwrap().starts_with("MR"));
    assert_eq!(order["transaction_id"], Value::Null);
    assert_eq!(order["paid_at"], Value::Null);
    assert_eq!(order["updated_at"], "2026-05-01T08:00:00Z");

    for id in [theirs, Uuid::now_v7()] {
        let reply = app
            .get_as(&operator, &format!("/api/v1/operator/recharges/{id}"))
            .await;
        reply.assert_error(404, "NOT_FOUND");
        assert_eq!(reply.body["details"]["resource"], "recharge_order");
    }
    let malformed = app
        .get_as(&operator, "/api/v1/operator/recharges/not-an-id")
        .await;
    assert_eq!(malformed.invalid_fields(), ["order_id"]);
}

#[tokio::test]
async fn finance_lists_every_operators_orders_by_status_channel_operator_and_time() {
    let app = TestApp::spawn().await;
    let op = insert_operator(&app.sql, "payer", "active", "0").await;
    let other = insert_operator(&app.sql, "second", "active", "0").await;
    let base = at("2026-05-01T00:00:00Z");
    let a = insert_recharge(&app.sql, op, "wechat", "succeeded", "100", base).await;
    let b = insert_recharge(
        &app.sql,
        other,
        "alipay",
        "closed",
        "20",
        base + Duration::hours(1),
    )
    .await;
    let c = insert_recharge(
        &app.sql,
        other,
        "wechat",
        "needs_review",
        "30",
        base + Duration::hours(2),
    )
    .await;
    let finance = app.login(ActorRole::FinanceAuditor).await;

    let all = app.get_as(&finance, "/api/v1/finance/recharges").await;
    assert_eq!(
        ids(all.data()),
        [c.to_string(), b.to_string(), a.to_string()]
    );
    let item = &all.data()["items"][2];
    assert_eq!(item["operator_id"], op.to_string());
    assert_eq!(item["operator"]["username"], "payer");
    assert_eq!(item["operator"]["name"], "payer Arcade");
    assert_eq!(item["status"], "succeeded");

    for (query, expected) in [
        ("status=needs_review", vec![c]),
        ("channel=wechat", vec![c, a]),
        (&format!("operator_id={other}") as &str, vec![c, b]),
        ("from=2026-05-01T01:00:00Z", vec![c, b]),
        ("to=2026-05-01T01:00:00Z", vec![a]),
        ("channel=alipay&status=closed", vec![b]),
    ] {
        let reply = app
            .get_as(&finance, &format!("/api/v1/finance/recharges?{query}"))
            .await;
        let expected: Vec<String> = expected.iter().map(Uuid::to_string).collect();
        assert_eq!(ids(reply.data()), expected, "{query}");
    }

    let page = app
        .get_as(&finance, "/api/v1/finance/recharges?limit=2")
        .await;
    let cursor = page.data()["next_cursor"].as_str().unwrap();
    let next = app
        .get_as(
            &finance,
            &format!("/api/v1/finance/recharges?limit=2&cursor={cursor}"),
        )
        .await;
    assert_eq!(ids(next.data()), [a.to_string()]);

    assert_eq!(
        app.get_as(
            &finance,
            "/api/v1/finance/recharges?status=paid&from=2026-05-02T00:00:00Z&to=2026-05-01T00:00:00Z"
        )
        .await
        .invalid_fields(),
        ["from", "status", "to"]
    );
    // Operators read only their own orders.
    let operator = app.login_operator(op).await;
    let refused = app.get_as(&operator, "/api/v1/finance/recharges").await;
    refused.assert_error(403, "FORBIDDEN");
    assert_eq!(refused.body["details"]["missing_scope"], "ledger:read");
}
