use chrono::Duration;
use ledger_core::metadata::ActorRole;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{StaffAction, TestApp, at, insert_staff, insert_staff_action};

fn positions(reply: &crate::helpers::Reply) -> Vec<i64> {
    reply.data()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["position"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn the_audit_log_names_each_actor_and_filters_and_pages() {
    let app = TestApp::spawn().await;
    let alice = Uuid::now_v7();
    let bob = Uuid::now_v7();
    insert_staff(&app.sql, alice, "alice", ActorRole::FinanceSpecialist).await;
    insert_staff(&app.sql, bob, "bob", ActorRole::Admin).await;
    let (alice_id, bob_id) = (alice.to_string(), bob.to_string());
    let op = Uuid::now_v7().to_string();
    let app_id = Uuid::now_v7().to_string();
    let base = at("2026-07-01T00:00:00Z");
    let actions = [
        (
            1,
            &alice_id,
            "finance_specialist",
            "RefundApproved",
            "Operator",
            &op,
        ),
        (2, &bob_id, "admin", "PriceChanged", "Application", &app_id),
        (
            3,
            &alice_id,
            "finance_specialist",
            "InvoiceIssued",
            "Operator",
            &op,
        ),
        (4, &bob_id, "admin", "OperatorLocked", "Operator", &op),
        (
            5,
            &alice_id,
            "finance_specialist",
            "RefundApproved",
            "Operator",
            &op,
        ),
    ];
    for (position, actor_id, actor_role, action, aggregate_type, aggregate_id) in actions {
        insert_staff_action(
            &app.sql,
            &StaffAction {
                position,
                actor_id,
                actor_role,
                action,
                aggregate_type,
                aggregate_id,
                occurred_at: base + Duration::minutes(position),
            },
        )
        .await;
    }
    let finance = app.login(ActorRole::FinanceAuditor).await;
    let path = "/api/v1/finance/audit-log";

    let all = app.get_as(&finance, path).await;
    assert_eq!(positions(&all), [5, 4, 3, 2, 1]);
    let item = &all.data()["items"][1];
    assert_eq!(item["actor_id"], bob_id);
    assert_eq!(item["actor_username"], "bob");
    assert_eq!(item["actor_role"], "admin");
    assert_eq!(item["action"], "OperatorLocked");
    assert_eq!(item["target"], json!({ "type": "Operator", "id": op }));
    assert_eq!(item["details"], json!({ "reason": "checked", "n": 4 }));
    assert_eq!(item["source_ip"], "203.0.113.7");
    assert_eq!(item["request_id"], "req-4");
    assert_eq!(item["occurred_at"], "2026-07-01T00:04:00Z");

    let by = |query: String| {
        let app = &app;
        let finance = &finance;
        async move { positions(&app.get_as(finance, &format!("{path}?{query}")).await) }
    };
    assert_eq!(by(format!("actor_id={alice_id}")).await, [5, 3, 1]);
    assert_eq!(by("action=RefundApproved".to_owned()).await, [5, 1]);
    assert_eq!(by("aggregate_type=Application".to_owned()).await, [2]);
    assert_eq!(
        by(format!(
            "aggregate_type=Operator&aggregate_id={op}&actor_id={bob_id}"
        ))
        .await,
        [4]
    );
    assert_eq!(
        by("from=2026-07-01T00:02:00Z&to=2026-07-01T00:04:00Z".to_owned()).await,
        [3, 2]
    );

    // Pages of two, then one, without repeats or gaps.
    let first = app.get_as(&finance, &format!("{path}?limit=2")).await;
    assert_eq!(positions(&first), [5, 4]);
    let mut cursor = first.data()["next_cursor"].as_str().unwrap().to_owned();
    let second = app
        .get_as(&finance, &format!("{path}?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(positions(&second), [3, 2]);
    cursor = second.data()["next_cursor"].as_str().unwrap().to_owned();
    let third = app
        .get_as(&finance, &format!("{path}?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(positions(&third), [1]);
    assert_eq!(third.data()["next_cursor"], Value::Null);

    // An actor without a staff row (e.g. removed data) still shows, unnamed.
    insert_staff_action(
        &app.sql,
        &StaffAction {
            position: 6,
            actor_id: "ghost",
            actor_role: "admin",
            action: "AppRetired",
            aggregate_type: "Application",
            aggregate_id: &app_id,
            occurred_at: base + Duration::minutes(6),
        },
    )
    .await;
    let latest = app.get_as(&finance, &format!("{path}?limit=1")).await;
    assert_eq!(latest.data()["items"][0]["actor_username"], Value::Null);

    assert_eq!(
        app.get_as(
            &finance,
            &format!("{path}?action=Drop%20Table&aggregate_type=1x&from=now&limit=0&who=me")
        )
        .await
        .invalid_fields(),
        ["action", "aggregate_type", "from", "limit", "who"]
    );
}
