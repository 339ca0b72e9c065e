//! `POST /api/v1/audit/verify` and `projector verify` against the real binaries: clean on a
//! clean database; a payload changed in SQL names its stream, sequence and position; a read
//! row changed in SQL names its table and key, and the operator's balance difference.

use ledger_core::ids::OperatorId;
use serde_json::{Value, json};
use tests::cluster::Cluster;

const PASSWORD: &str = "Arcade-pass1";

/// A self-registered operator with two sites, once the read side shows it.
async fn operator_with_events(cluster: &Cluster, admin: &str, username: &str) -> OperatorId {
    let url = format!("{}/api/v1/auth/operator/register", cluster.command);
    let body = json!({"username": username, "name": "星际体验馆", "phone": "13800138000",
                      "email": format!("{username}@example.com"), "password": PASSWORD});
    let created = cluster.call("POST", &url, None, Some(body)).await.ok();
    let id: OperatorId = created["operator"]["id"].as_str().unwrap().parse().unwrap();
    let token = cluster.token("operator", username, PASSWORD).await;
    for name in ["朝阳店", "海淀店"] {
        cluster
            .command(
                "POST",
                "/api/v1/operator/sites",
                &token,
                json!({"name": name, "address": "北京市"}),
            )
            .await
            .ok();
    }
    cluster
        .query_until(
            &format!("/api/v1/admin/operators/{id}/sites"),
            admin,
            |data| data.as_array().is_some_and(|sites| sites.len() == 2),
        )
        .await;
    id
}

async fn verify(cluster: &Cluster, token: &str) -> tests::cluster::Answer {
    let url = format!("{}/api/v1/audit/verify", cluster.query);
    cluster.call("POST", &url, Some(token), None).await
}

async fn sql(cluster: &Cluster) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&cluster.db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// `projector verify` with the cluster's settings: (success, stdout).
async fn verify_with_binary(cluster: &Cluster) -> (bool, String) {
    let output = cluster.run_projector(&["verify"]).await;
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[tokio::test]
async fn verify_is_clean_then_names_a_changed_read_row_and_a_changed_payload() {
    let cluster = Cluster::start(&[]).await;
    let admin = cluster.admin_token().await;
    let operator = operator_with_events(&cluster, &admin, "verified_arcade").await;

    // Who may ask.
    let anonymous = cluster
        .call(
            "POST",
            &format!("{}/api/v1/audit/verify", cluster.query),
            None,
            None,
        )
        .await;
    assert_eq!((anonymous.status, anonymous.code()), (401, "UNAUTHORIZED"));
    let operator_token = cluster.token("operator", "verified_arcade", PASSWORD).await;
    let as_operator = verify(&cluster, &operator_token).await;
    assert_eq!((as_operator.status, as_operator.code()), (403, "FORBIDDEN"));

    // Clean.
    let clean = verify(&cluster, &admin).await.ok();
    assert_eq!(clean["clean"], true, "{clean}");
    assert!(clean["chains"]["events"].as_u64().unwrap() >= 4, "{clean}");
    assert!(clean["chains"]["streams"].as_u64().unwrap() >= 2, "{clean}");
    assert_eq!(clean["chains"]["breaks"], json!([]));
    assert_eq!(clean["read"]["tables"], json!([]));
    assert_eq!(clean["read"]["balances"], json!([]));
    let (ok, out) = verify_with_binary(&cluster).await;
    assert!(ok, "{out}");
    assert!(out.ends_with("OK\n"), "{out}");

    // A read row changed behind the projector's back.
    let db = sql(&cluster).await;
    db.execute(
        "UPDATE read.operators SET balance = balance + 1 WHERE id = $1",
        &[&operator.as_uuid()],
    )
    .await
    .unwrap();
    let answer = verify(&cluster, &admin).await;
    let report = answer.clone().ok();
    assert_eq!(report["clean"], false, "{report}");
    assert_eq!(report["chains"]["broken_streams"], 0, "{report}");
    let tables = report["read"]["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 1, "{report}");
    let operators = &tables[0];
    assert_eq!(operators["table"], "operators");
    assert_eq!(operators["key"], json!(["id"]));
    assert_eq!(
        (
            operators["missing"].as_i64(),
            operators["unexpected"].as_i64()
        ),
        (Some(1), Some(1))
    );
    let (replayed, live) = (
        &operators["missing_sample"][0],
        &operators["unexpected_sample"][0],
    );
    assert_eq!(replayed["id"], operator.to_string());
    assert_eq!(live["id"], operator.to_string());
    assert_eq!(
        (replayed["balance"].as_f64(), live["balance"].as_f64()),
        (Some(0.0), Some(1.0))
    );
    // The rows are the stored JSON texts: amounts keep their two decimals.
    let text = String::from_utf8_lossy(&answer.bytes);
    assert!(text.contains("\"balance\":0.00,"), "{text}");
    assert!(text.contains("\"balance\":1.00,"), "{text}");
    assert_eq!(
        report["read"]["balances"],
        json!([{"operator_id": operator.to_string(), "read_balance": "1.00", "expected_balance": "0.00"}])
    );
    let (ok, out) = verify_with_binary(&cluster).await;
    assert!(!ok, "{out}");
    assert!(
        out.contains("operators: 1 rows missing or different, 1 unexpected"),
        "{out}"
    );
    assert!(out.contains(&format!("\"id\":\"{operator}\"")), "{out}");
    assert!(
        out.contains(&format!("operator {operator}: balance 1.00, events say 0")),
        "{out}"
    );

    // A stored payload changed (one added space: same JSON value, other bytes). The
    // append-only trigger is off only inside the tampering transaction.
    db.batch_execute(&format!(
        "BEGIN;
         ALTER TABLE events DISABLE TRIGGER events_append_only;
         UPDATE events SET payload = (payload::text || ' ')::json
             WHERE aggregate_type = 'Operator' AND aggregate_id = '{operator}' AND sequence = 2;
         ALTER TABLE events ENABLE TRIGGER events_append_only;
         COMMIT;"
    ))
    .await
    .unwrap();
    let position: i64 = db
        .query_one(
            "SELECT position FROM events WHERE aggregate_type = 'Operator' AND aggregate_id = $1 AND sequence = 2",
            &[&operator.to_string()],
        )
        .await
        .unwrap()
        .get(0);
    let report = verify(&cluster, &admin).await.ok();
    assert_eq!(report["clean"], false, "{report}");
    assert_eq!(report["chains"]["broken_streams"], 1, "{report}");
    let breaks = report["chains"]["breaks"].as_array().unwrap();
    assert_eq!(breaks.len(), 1, "{report}");
    let broken: &Value = &breaks[0];
    assert_eq!(
        (
            broken["aggregate_type"].as_str(),
            broken["aggregate_id"].as_str(),
            broken["sequence"].as_i64(),
            broken["position"].as_i64(),
            broken["problem"]["kind"].as_str(),
        ),
        (
            Some("Operator"),
            Some(operator.to_string().as_str()),
            Some(2),
            Some(position),
            Some("hash_mismatch")
        ),
        "{report}"
    );
    assert_ne!(broken["problem"]["stored"], broken["problem"]["computed"]);
    let (ok, out) = verify_with_binary(&cluster).await;
    assert!(!ok, "{out}");
    assert!(out.contains("hash chains:"), "{out}");
    assert!(out.contains(", 1 broken"), "{out}");
    assert!(
        out.contains(&format!(
            "Operator {operator} sequence 2 (position {position}): stored hash"
        )),
        "{out}"
    );
}
