//! Rebuild and swap, verify of hash chains and read tables, and replay speed.

use std::time::Instant;

use projector::READ_SCHEMA;
use projector::verify::ChainProblem;
use tests::db::TestDb;

use crate::support::*;

/// A small history with every kind of event that moves money, plus heartbeats.
async fn seed_mixed(client: &tokio_postgres::Client) -> (OperatorScript, Vec<i64>) {
    seed_many(client, 3, 30).await;
    let app = AppFixture::new("Mixed", "3.00");
    append_app(client, app.id, &[app.created(0)]).await;
    let mut op = OperatorScript::new();
    let mut events = op.register(1);
    events.push(op.grant(&app, 2));
    events.push(op.credit("100", 3));
    let (session, charge) = op.authorize(&app, 4, 4);
    events.push(charge);
    events.push(op.end(&session, 60, 5));
    let positions = append_operator(client, op.id, &events).await;
    append_heartbeat(client, op.heartbeat("hs-1", 4, 6)).await;
    (op, positions)
}

#[tokio::test]
async fn rebuild_yields_identical_tables_and_leaves_no_scratch_schema() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    seed_mixed(&client).await;
    let projected = project_all(&mut client, READ_SCHEMA).await;
    let before = dump(&client, READ_SCHEMA).await;

    let report = projector::rebuild(&mut client, READ_SCHEMA).await.unwrap();
    assert_eq!(report.events, projected as u64);
    let after = dump(&client, READ_SCHEMA).await;
    assert_eq!(before, after);
    let leftovers = count(
        &client,
        "SELECT count(*) FROM pg_namespace WHERE nspname IN ('read_next', 'read_old', 'read_verify')",
    )
    .await;
    assert_eq!(leftovers, 0);

    // The live projector carries on in the swapped-in schema.
    let mut op = OperatorScript::new();
    let mut events = op.register(100);
    events.push(op.credit("5", 101));
    append_operator(&client, op.id, &events).await;
    assert_eq!(project_all(&mut client, READ_SCHEMA).await, 4);
    assert!(
        projector::verify(&mut client, READ_SCHEMA)
            .await
            .unwrap()
            .is_clean()
    );
}

#[tokio::test]
async fn verify_passes_on_a_clean_projection_and_leaves_nothing_behind() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    seed_mixed(&client).await;
    let projected = project_all(&mut client, READ_SCHEMA).await;
    // Events appended after the checkpoint are not part of the comparison.
    let late = OperatorScript::new();
    append_operator(&client, late.id, &late.register(50)).await;

    let report = projector::verify(&mut client, READ_SCHEMA).await.unwrap();
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.read.replayed, projected as u64);
    assert_eq!(report.chains.events, projected as u64 + 3);
    assert_eq!(report.chains.broken_streams, 0);
    assert_eq!(
        count(
            &client,
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'read_verify'"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn verify_reports_a_read_row_altered_by_update() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    let (op, _) = seed_mixed(&client).await;
    project_all(&mut client, READ_SCHEMA).await;

    client
        .execute(
            "UPDATE read.operators SET balance = balance + 1 WHERE id = $1",
            &[&op.id.as_uuid()],
        )
        .await
        .unwrap();
    client
        .execute(
            "UPDATE read.usage_records SET duration_seconds = 61 WHERE operator_id = $1",
            &[&op.id.as_uuid()],
        )
        .await
        .unwrap();

    let report = projector::verify(&mut client, READ_SCHEMA).await.unwrap();
    assert!(!report.is_clean());
    assert!(report.chains.is_clean(), "the events themselves are intact");
    let tables: Vec<(&str, i64, i64)> = report
        .read
        .tables
        .iter()
        .map(|t| (t.table, t.missing, t.unexpected))
        .collect();
    assert_eq!(tables, [("operators", 1, 1), ("usage_records", 1, 1)]);
    let operators = &report.read.tables[0];
    assert!(
        operators.missing_sample[0].contains("\"balance\":88.00"),
        "{report}"
    );
    assert!(
        operators.unexpected_sample[0].contains("\"balance\":89.00"),
        "{report}"
    );
    assert_eq!(report.read.balances.len(), 1);
    assert_eq!(report.read.balances[0].operator_id, op.id);
    assert_eq!(report.read.balances[0].balance.to_string(), "89.00");
    assert_eq!(report.read.balances[0].recomputed.to_string(), "88.00");
    let printed = report.to_string();
    assert!(printed.contains("DIFFERENCES FOUND"), "{printed}");
}

#[tokio::test]
async fn the_hash_chain_check_finds_an_altered_payload() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    let (op, positions) = seed_mixed(&client).await;
    let credit_position = positions[4];
    let stored: String = client
        .query_one(
            "SELECT event_type FROM events WHERE position = $1",
            &[&credit_position],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, "BalanceCredited");

    // What an attacker with superuser rights would do.
    client
        .batch_execute(&format!(
            "ALTER TABLE events DISABLE TRIGGER events_append_only; \
             UPDATE events SET payload = replace(payload::text, '\"100.00\"', '\"900.00\"')::json \
             WHERE position = {credit_position}; \
             ALTER TABLE events ENABLE TRIGGER events_append_only;"
        ))
        .await
        .unwrap();

    let report = projector::verify::verify_chains(&mut client).await.unwrap();
    assert_eq!(report.broken_streams, 1);
    let broken = &report.breaks[0];
    assert_eq!(
        (
            broken.aggregate_type.as_str(),
            broken.aggregate_id.as_str(),
            broken.sequence,
            broken.position
        ),
        ("Operator", op.id.to_string().as_str(), 5, credit_position)
    );
    assert!(matches!(broken.problem, ChainProblem::HashMismatch { .. }));
}

#[tokio::test]
async fn the_hash_chain_check_finds_a_removed_event() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    let (op, positions) = seed_mixed(&client).await;
    client
        .batch_execute(&format!(
            "ALTER TABLE events DISABLE TRIGGER events_append_only; \
             DELETE FROM events WHERE position = {}; \
             ALTER TABLE events ENABLE TRIGGER events_append_only;",
            positions[3]
        ))
        .await
        .unwrap();
    let report = projector::verify::verify_chains(&mut client).await.unwrap();
    assert_eq!(report.broken_streams, 1);
    let broken = &report.breaks[0];
    assert_eq!(
        (broken.aggregate_id.clone(), broken.sequence),
        (op.id.to_string(), 5)
    );
    assert_eq!(broken.problem, ChainProblem::SequenceGap { expected: 4 });
}

#[tokio::test]
async fn replaying_20k_events_reports_its_speed() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    let seeding = Instant::now();
    let total = seed_many(&client, 20, 650).await;
    assert!(total >= 19_000, "{total}");
    println!("seeded {total} events in {:.1?}", seeding.elapsed());

    let report = projector::rebuild(&mut client, READ_SCHEMA).await.unwrap();
    assert_eq!(report.events, total as u64);
    println!(
        "replayed {} events in {:.1?}: {} events/s",
        report.events,
        report.elapsed,
        report.events_per_second()
    );
    assert_eq!(
        count(&client, "SELECT sum(games)::bigint FROM read.operators").await,
        20 * 650
    );
    let verifying = Instant::now();
    let verified = projector::verify(&mut client, READ_SCHEMA).await.unwrap();
    assert!(verified.is_clean(), "{verified}");
    println!("verified in {:.1?}", verifying.elapsed());
}
