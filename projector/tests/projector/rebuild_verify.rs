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
async fn a_second_rebuild_is_refused_while_one_runs() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    seed_mixed(&client).await;
    // Another session holds the rebuild lock, as a running rebuild does.
    let other = db.client().await;
    other
        .execute("SELECT pg_advisory_lock($1)", &[&projector::REBUILD_LOCK])
        .await
        .unwrap();
    let refused = projector::rebuild(&mut client, READ_SCHEMA).await;
    assert!(
        matches!(refused, Err(projector::Error::RebuildRunning)),
        "{refused:?}"
    );
    other
        .execute("SELECT pg_advisory_unlock($1)", &[&projector::REBUILD_LOCK])
        .await
        .unwrap();
    let report = projector::rebuild(&mut client, READ_SCHEMA).await.unwrap();
    assert!(report.events > 0);
    // The lock went with the rebuild: the next one takes it again.
    projector::rebuild(&mut client, READ_SCHEMA).await.unwrap();
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

/// A history with every workflow event: staff, announcements, applications, refunds,
/// invoices, price changes, reminders, alerts and read marks, among ordinary games.
async fn seed_workflows(client: &tokio_postgres::Client) -> OperatorScript {
    use ledger_core::application::AppEvent;
    use ledger_core::ids::{AppRequestId, InvoiceId, RefundId, StaffId};
    use ledger_core::metadata::ActorRole;
    use ledger_core::operator::{InvoiceType, OperatorEvent};
    use ledger_core::staff_account::StaffEvent;

    seed_many(client, 2, 10).await;
    let clerk = StaffId::new();
    append_staff(
        client,
        clerk,
        &[
            StaffEvent::StaffCreated {
                staff_id: clerk,
                username: "clerk".to_owned(),
                name: "Clerk".to_owned(),
                role: ActorRole::FinanceManager,
                created_at: at(0),
            },
            StaffEvent::StaffDisabled { disabled_at: at(1) },
        ],
        &by_staff("root", ActorRole::SuperAdmin, 0),
    )
    .await;
    let app = AppFixture::new("Workflow Game", "10.00");
    append_app(client, app.id, &[app.created(0)]).await;
    let admin = |s| by_staff("admin-1", ActorRole::Admin, s);
    let finance = |s| by_staff("fin-1", ActorRole::FinanceManager, s);
    let mut op = OperatorScript::new();
    let mut events = op.register_with_threshold(1, "100");
    events.push(op.credit("300", 2));
    append_operator(client, op.id, &events).await;
    announce(client, "admin-1", "Welcome", 3).await;
    let request_id = AppRequestId::new();
    append_operator_as(
        client,
        op.id,
        &[OperatorEvent::AppApplied {
            request_id,
            app_id: app.id,
            app_name: app.name.clone(),
            reason: "r".to_owned(),
            applied_at: at(4),
        }],
        &by_operator(op.id, 4),
    )
    .await;
    append_operator_as(
        client,
        op.id,
        &[
            OperatorEvent::ApplicationApproved {
                request_id,
                app_id: app.id,
                approved_at: at(5),
            },
            OperatorEvent::AppGranted {
                app_id: app.id,
                expires_at: Some(at(100_000)),
                granted_at: at(5),
            },
        ],
        &admin(5),
    )
    .await;
    let mut games = Vec::new();
    for (players, s) in [(8, 6), (8, 7), (5, 8)] {
        games.push(op.authorize(&app, players, s).1);
    }
    append_operator(client, op.id, &games).await;
    append_app(
        client,
        app.id,
        &[AppEvent::PriceChanged {
            old_price: money("10.00"),
            new_price: money("11.00"),
            changed_at: at(9),
        }],
    )
    .await;
    append_operator(
        client,
        op.id,
        &[OperatorEvent::GrantExpiryReminded {
            app_id: app.id,
            app_name: app.name.clone(),
            expires_at: at(100_000),
            reminded_at: at(10),
        }],
    )
    .await;
    append_operator_as(
        client,
        op.id,
        &[OperatorEvent::AllMessagesRead { read_at: at(11) }],
        &by_operator(op.id, 11),
    )
    .await;
    announce(client, "admin-1", "Later", 12).await;
    let invoice_id = InvoiceId::new();
    append_operator_as(
        client,
        op.id,
        &[OperatorEvent::InvoiceRequested {
            invoice_id,
            invoice_type: InvoiceType::General,
            title: "T".to_owned(),
            tax_number: "91310000MA1FL8XQ3R".to_owned(),
            amount: money("100"),
            requested_at: at(13),
        }],
        &by_operator(op.id, 13),
    )
    .await;
    append_operator_as(
        client,
        op.id,
        &[OperatorEvent::InvoiceIssued {
            invoice_id,
            invoice_number: "MR2025112100000007".to_owned(),
            amount: money("100"),
            seller_name: "S".to_owned(),
            seller_tax_number: "91110000600037341L".to_owned(),
            issued_at: at(14),
        }],
        &finance(14),
    )
    .await;
    let refund_id = RefundId::new();
    append_operator_as(
        client,
        op.id,
        &[OperatorEvent::RefundRequested {
            refund_id,
            requested_amount: op.balance,
            reason: "r".to_owned(),
            requested_at: at(15),
        }],
        &by_operator(op.id, 15),
    )
    .await;
    let refund = op.refund(refund_id, 16);
    append_operator_as(client, op.id, &[refund], &finance(16)).await;
    op
}

#[tokio::test]
async fn rebuild_and_verify_agree_with_a_live_projection_of_workflows_in_small_batches() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    let op = seed_workflows(&client).await;
    // Small batches live, one big batch in the rebuild and the verify replay.
    let projected = project_all_in_batches_of(&mut client, READ_SCHEMA, 3).await;
    let live = dump(&client, READ_SCHEMA).await;
    for table in [
        "staff",
        "app_applications",
        "refunds",
        "invoices",
        "announcements",
    ] {
        assert!(!live[table].is_empty(), "{table} was filled");
    }
    let kinds = count(&client, "SELECT count(DISTINCT kind) FROM read.messages").await;
    assert_eq!(kinds, 4, "every kind of message");
    let report = projector::verify(&mut client, READ_SCHEMA).await.unwrap();
    assert!(report.is_clean(), "{report}");

    let rebuilt = projector::rebuild(&mut client, READ_SCHEMA).await.unwrap();
    assert_eq!(rebuilt.events, projected as u64);
    assert_eq!(live, dump(&client, READ_SCHEMA).await);

    // Tampered rows of the new tables are reported.
    client
        .batch_execute(&format!(
            "UPDATE read.messages SET read_at = NULL WHERE operator_id = '{}' AND kind = 'grant_expiry'; \
             UPDATE read.staff_actions SET source_ip = '203.0.113.9' \
                 WHERE position = (SELECT min(position) FROM read.staff_actions); \
             DELETE FROM read.refunds;",
            op.id
        ))
        .await
        .unwrap();
    let report = projector::verify(&mut client, READ_SCHEMA).await.unwrap();
    let tables: Vec<(&str, i64, i64)> = report
        .read
        .tables
        .iter()
        .map(|t| (t.table, t.missing, t.unexpected))
        .collect();
    assert_eq!(
        tables,
        [
            ("refunds", 1, 0),
            ("messages", 1, 1),
            ("staff_actions", 1, 1)
        ],
        "{report}"
    );
    assert!(report.read.balances.is_empty(), "{report}");
}
