//! An auditor's export of one operator's stream, checked offline: by the library function and
//! by the `projector verify-export` binary, before and after a payload is changed in SQL.

use std::path::{Path, PathBuf};

use ledger_core::chain::verify_jsonl;
use ledger_core::ids::OperatorId;
use serde_json::json;
use tests::cluster::Cluster;

const PASSWORD: &str = "Arcade-pass1";

/// The built binary `name`, next to the test executable's directory (`target/<profile>/`).
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join(name);
    assert!(
        path.exists(),
        "{} missing: run `cargo build --workspace --bins`",
        path.display()
    );
    path
}

/// A self-registered operator with a site: a few events in its stream.
async fn operator_with_events(cluster: &Cluster, username: &str) -> OperatorId {
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
    id
}

/// `projector verify-export FILE`: (success, stdout).
fn verify_with_binary(file: &Path) -> (bool, String) {
    let output = std::process::Command::new(binary("projector"))
        .arg("verify-export")
        .arg(file)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[tokio::test]
async fn an_exported_stream_verifies_offline_until_a_payload_byte_is_changed() {
    let cluster = Cluster::start(&[]).await;
    let admin = cluster.admin_token().await;
    let operator = operator_with_events(&cluster, "audited_arcade").await;
    let path = format!("/api/v1/audit/streams/Operator/{operator}/export");

    let answer = cluster.query(&path, &admin).await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.bytes)
    );
    assert_eq!(answer.headers["content-type"], "application/x-ndjson");
    assert_eq!(
        answer.headers["content-disposition"],
        format!("attachment; filename=\"Operator-{operator}.jsonl\"").as_str()
    );
    let verified = verify_jsonl(answer.bytes.as_slice()).unwrap();
    assert!(verified.events >= 3, "{verified:?}");
    assert_eq!(verified.last_sequence as u64, verified.events);

    let dir = std::env::temp_dir().join(format!("mr-audit-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("Operator-{operator}.jsonl"));
    std::fs::write(&file, &answer.bytes).unwrap();
    let (ok, out) = verify_with_binary(&file);
    assert!(ok, "{out}");
    assert!(
        out.starts_with(&format!(
            "ok: {} events, last sequence {}",
            verified.events, verified.last_sequence
        )),
        "{out}"
    );

    // One added space in a stored payload: the same JSON value, different bytes.
    let (client, connection) = tokio_postgres::connect(&cluster.db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(&format!(
            "BEGIN;
             ALTER TABLE events DISABLE TRIGGER events_append_only;
             UPDATE events SET payload = (payload::text || ' ')::json
                 WHERE aggregate_type = 'Operator' AND aggregate_id = '{operator}' AND sequence = 2;
             ALTER TABLE events ENABLE TRIGGER events_append_only;
             COMMIT;"
        ))
        .await
        .unwrap();

    let tampered = cluster.query(&path, &admin).await;
    assert_eq!(tampered.status, 200);
    let divergence = verify_jsonl(tampered.bytes.as_slice()).unwrap_err();
    assert_eq!(
        (divergence.line, divergence.sequence),
        (2, 2),
        "{divergence}"
    );
    std::fs::write(&file, &tampered.bytes).unwrap();
    let (ok, out) = verify_with_binary(&file);
    assert!(!ok, "{out}");
    assert!(out.contains("line 2, sequence 2"), "{out}");
    std::fs::remove_dir_all(&dir).unwrap();

    let missing = cluster
        .query(
            "/api/v1/audit/streams/Operator/no-such-operator/export",
            &admin,
        )
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.code(), "NOT_FOUND");
}

/// A stream longer than one export batch comes out whole, in order, and still verifies:
/// the export reads it in keyset batches, each a short query.
#[tokio::test]
async fn a_stream_longer_than_one_batch_exports_whole_and_verifies() {
    use ledger_core::headset_server::{HeadsetServer, HeadsetServerEvent};
    use ledger_core::ids::SiteId;

    const HEARTBEATS: usize = 4_500;
    let cluster = Cluster::start(&[]).await;
    let admin = cluster.admin_token().await;
    let operator = OperatorId::new();
    let stream = HeadsetServer::stream_id(operator, "srv-1");
    let at = chrono::Utc::now();
    let heartbeats: Vec<HeadsetServerEvent> = (0..HEARTBEATS)
        .map(|n| HeadsetServerEvent::HeartbeatReceived {
            operator_id: operator,
            site_id: SiteId::new(),
            server_id: "srv-1".to_owned(),
            players_online: (n % 9) as u32,
            version: "1.0.0".to_owned(),
            received_at: at,
        })
        .collect();
    let client = cluster.db.client().await;
    tests::events::append::<HeadsetServer>(
        &client,
        &stream,
        &heartbeats,
        &tests::events::metadata(at),
    )
    .await
    .unwrap();

    let path = format!("/api/v1/audit/streams/HeadsetServer/{operator}%2Fsrv-1/export");
    let answer = cluster.query(&path, &admin).await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.bytes)
    );
    let verified = verify_jsonl(answer.bytes.as_slice()).unwrap();
    assert_eq!(verified.events, HEARTBEATS as u64);
    assert_eq!(verified.last_sequence, HEARTBEATS as i64);
}
