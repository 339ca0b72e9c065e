//! What a batch writes, and that nothing is lost or doubled whatever the commit order,
//! crashes or concurrent projectors.

use chrono::{DateTime, TimeDelta, Utc};
use ledger_core::application::AppEvent;
use ledger_core::ids::{CreditId, KeyId, SiteId};
use ledger_core::operator::{OperatorEvent, RetiredKey};
use projector::{Error, READ_SCHEMA, Step, project_batch_of, project_next_batch};
use tests::db::TestDb;

use crate::support::*;

#[tokio::test]
async fn projecting_a_seeded_history_fills_every_read_table() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    let beat = AppFixture::new("Beat Saber", "10.00");
    let pirates = AppFixture::new("Space Pirates", "5.00");
    append_app(
        &client,
        beat.id,
        &[
            beat.created(0),
            AppEvent::PriceChanged {
                old_price: money("10.00"),
                new_price: money("12.50"),
                changed_at: at(5),
            },
        ],
    )
    .await;
    append_app(
        &client,
        pirates.id,
        &[
            pirates.created(1),
            AppEvent::AppRetired { retired_at: at(6) },
        ],
    )
    .await;

    let mut op = OperatorScript::new();
    let second_key = KeyId("mrk_second".to_owned());
    let second_site = SiteId::new();
    let mut events = op.register(10);
    events.extend([
        OperatorEvent::CredentialRotated {
            key_id: second_key.clone(),
            fingerprint: "cd".repeat(32),
            retired: vec![RetiredKey {
                key_id: op.key.clone(),
                ends_at: at(11 + 3600),
            }],
            rotated_at: at(11),
        },
        OperatorEvent::SiteOpened {
            site_id: second_site,
            name: "Annex".to_owned(),
            address: "2 Arcade Road".to_owned(),
            opened_at: at(12),
        },
        OperatorEvent::SiteUpdated {
            site_id: op.site,
            name: "Great hall".to_owned(),
            address: "1 Arcade Road".to_owned(),
            updated_at: at(13),
        },
        OperatorEvent::SiteClosed {
            site_id: second_site,
            closed_at: at(14),
        },
        op.grant(&beat, 15),
        OperatorEvent::AppGranted {
            app_id: pirates.id,
            expires_at: Some(at(100_000)),
            granted_at: at(15),
        },
        OperatorEvent::AppRevoked {
            app_id: pirates.id,
            revoked_at: at(16),
        },
    ]);
    let credit = op.credit("100", 20);
    let OperatorEvent::BalanceCredited { credit_id, .. } = &credit else {
        unreachable!()
    };
    let credit_id: CreditId = *credit_id;
    events.push(credit);
    let beat_now = AppFixture {
        price: money("12.50"),
        ..beat.clone()
    };
    let (first, charge) = op.authorize(&beat_now, 2, 30);
    events.push(charge);
    events.push(op.end(&first, 300, 31));
    let (second, charge) = op.authorize(&beat_now, 3, 40);
    events.push(charge);
    events.push(OperatorEvent::OperatorLocked {
        reason: "audit".to_owned(),
        locked_at: at(50),
    });
    events.push(OperatorEvent::OperatorUnlocked {
        unlocked_at: at(51),
    });
    append_operator(&client, op.id, &events).await;
    append_heartbeat(&client, op.heartbeat("hs-1", 2, 41)).await;
    append_heartbeat(&client, op.heartbeat("hs-1", 4, 42)).await;

    let total = 4 + events.len() + 2;
    assert_eq!(project_all(&mut client, READ_SCHEMA).await, total);

    // The second game ends in a later batch: its usage row is completed there.
    append_operator(&client, op.id, &[op.end(&second, 120, 60)]).await;
    assert_eq!(project_all(&mut client, READ_SCHEMA).await, 1);

    let o = client
        .query_one(
            "SELECT balance::text, total_credited::text, total_charged::text, games, status, locked_at, \
                    lock_reason, last_sequence, updated_at, category \
             FROM read.operators WHERE id = $1",
            &[&op.id.as_uuid()],
        )
        .await
        .unwrap();
    assert_eq!(o.get::<_, String>(0), "37.50");
    assert_eq!(o.get::<_, String>(1), "100.00");
    assert_eq!(o.get::<_, String>(2), "62.50");
    assert_eq!(o.get::<_, i64>(3), 2);
    assert_eq!(o.get::<_, String>(4), "active");
    assert_eq!(o.get::<_, Option<DateTime<Utc>>>(5), None);
    assert_eq!(o.get::<_, Option<String>>(6), None);
    assert_eq!(o.get::<_, i64>(7), events.len() as i64 + 1);
    assert_eq!(o.get::<_, DateTime<Utc>>(8), at(60));
    assert_eq!(o.get::<_, String>(9), "standard");

    let keys = client
        .query("SELECT key_id, ends_at FROM read.credentials WHERE operator_id = $1 ORDER BY issued_at", &[&op.id.as_uuid()])
        .await
        .unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0].get::<_, String>(0), op.key.0);
    assert_eq!(
        keys[0].get::<_, Option<DateTime<Utc>>>(1),
        Some(at(11) + TimeDelta::hours(1))
    );
    assert_eq!(keys[1].get::<_, String>(0), second_key.0);
    assert_eq!(keys[1].get::<_, Option<DateTime<Utc>>>(1), None);

    let sites = client
        .query("SELECT id, name, status, closed_at FROM read.sites WHERE operator_id = $1 ORDER BY opened_at", &[&op.id.as_uuid()])
        .await
        .unwrap();
    assert_eq!(sites.len(), 2);
    assert_eq!(
        (sites[0].get::<_, String>(1), sites[0].get::<_, String>(2)),
        ("Great hall".to_owned(), "open".to_owned())
    );
    assert_eq!(sites[1].get::<_, String>(2), "closed");
    assert_eq!(sites[1].get::<_, Option<DateTime<Utc>>>(3), Some(at(14)));

    let apps = client
        .query(
            "SELECT name, unit_price::text, status FROM read.apps ORDER BY name",
            &[],
        )
        .await
        .unwrap();
    let apps: Vec<(String, String, String)> = apps
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        apps,
        [
            (
                "Beat Saber".to_owned(),
                "12.50".to_owned(),
                "active".to_owned()
            ),
            (
                "Space Pirates".to_owned(),
                "5.00".to_owned(),
                "retired".to_owned()
            )
        ]
    );

    let grants = client
        .query(
            "SELECT app_id, status, revoked_at FROM read.grants WHERE operator_id = $1",
            &[&op.id.as_uuid()],
        )
        .await
        .unwrap();
    assert_eq!(grants.len(), 2, "a revoked grant is kept");
    for g in &grants {
        let app: uuid::Uuid = g.get(0);
        let (status, revoked_at): (String, Option<DateTime<Utc>>) = (g.get(1), g.get(2));
        if app == pirates.id.as_uuid() {
            assert_eq!((status.as_str(), revoked_at), ("revoked", Some(at(16))));
        } else {
            assert_eq!((status.as_str(), revoked_at), ("active", None));
        }
    }

    let usage = client
        .query(
            "SELECT session_id, player_count, total_cost::text, balance_after::text, ended_at, duration_seconds \
             FROM read.usage_records WHERE operator_id = $1 ORDER BY authorized_at",
            &[&op.id.as_uuid()],
        )
        .await
        .unwrap();
    assert_eq!(usage.len(), 2);
    assert_eq!(usage[0].get::<_, String>(0), first.as_str());
    assert_eq!(usage[0].get::<_, String>(2), "25.00");
    assert_eq!(usage[0].get::<_, String>(3), "75.00");
    assert_eq!(usage[0].get::<_, Option<DateTime<Utc>>>(4), Some(at(31)));
    assert_eq!(usage[0].get::<_, Option<i64>>(5), Some(300));
    assert_eq!(usage[1].get::<_, i32>(1), 3);
    assert_eq!(usage[1].get::<_, Option<DateTime<Utc>>>(4), Some(at(60)));
    assert_eq!(usage[1].get::<_, Option<i64>>(5), Some(120));

    let txs = client
        .query(
            "SELECT kind, amount::text, balance_after::text, reference, description FROM read.transactions \
             WHERE operator_id = $1 ORDER BY position",
            &[&op.id.as_uuid()],
        )
        .await
        .unwrap();
    let txs: Vec<(String, String, String, String, String)> = txs
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    assert_eq!(
        txs,
        [
            (
                "credit".into(),
                "100.00".into(),
                "100.00".into(),
                credit_id.to_string(),
                "bank transfer".into()
            ),
            (
                "charge".into(),
                "25.00".into(),
                "75.00".into(),
                first.to_string(),
                "Beat Saber (2 players)".into()
            ),
            (
                "charge".into(),
                "37.50".into(),
                "37.50".into(),
                second.to_string(),
                "Beat Saber (3 players)".into()
            ),
        ]
    );

    let server = client
        .query_one(
            "SELECT players_online, last_seen_at, site_id, last_sequence FROM read.headset_servers",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(server.get::<_, i32>(0), 4);
    assert_eq!(server.get::<_, DateTime<Utc>>(1), at(42));
    assert_eq!(server.get::<_, uuid::Uuid>(2), op.site.as_uuid());
    assert_eq!(server.get::<_, i64>(3), 2);

    assert_eq!(
        count(&client, "SELECT events FROM read.checkpoint").await,
        total as i64 + 1
    );
}

#[tokio::test]
async fn an_event_whose_older_transaction_commits_last_is_projected_not_skipped() {
    let db = TestDb::new().await;
    let mut projector = db.client().await;
    let mut a = db.client().await;
    let mut b = db.client().await;
    let (op_a, op_b) = (OperatorScript::new(), OperatorScript::new());

    // A appends first (lower positions, older transaction) but stays open.
    let tx_a = a.transaction().await.unwrap();
    let positions_a = append_operator(&tx_a, op_a.id, &op_a.register(0)).await;
    let tx_b = b.transaction().await.unwrap();
    let positions_b = append_operator(&tx_b, op_b.id, &op_b.register(0)).await;
    tx_b.commit().await.unwrap();
    assert!(positions_a.iter().max() < positions_b.iter().min());

    // B has committed, but A is older and still open: reading B now would move the
    // checkpoint past A's lower positions. The tail holds B back.
    assert_eq!(
        project_next_batch(&mut projector, READ_SCHEMA)
            .await
            .unwrap(),
        Step::CaughtUp
    );
    assert_eq!(
        count(&projector, "SELECT count(*) FROM read.operators").await,
        0
    );

    tx_a.commit().await.unwrap();
    assert_eq!(project_all(&mut projector, READ_SCHEMA).await, 6);
    assert_eq!(
        count(&projector, "SELECT count(*) FROM read.operators").await,
        2
    );
    assert_eq!(
        count(&projector, "SELECT count(*) FROM read.credentials").await,
        2
    );
    assert_eq!(
        count(&projector, "SELECT events FROM read.checkpoint").await,
        6
    );
}

#[tokio::test]
async fn a_stream_event_that_sorts_before_its_predecessor_is_applied_in_sequence_order() {
    let db = TestDb::new().await;
    let mut projector = db.client().await;
    let a = db.client().await;
    let mut b = db.client().await;
    let mut op = OperatorScript::new();
    append_operator(&a, op.id, &op.register(0)).await;
    project_all(&mut projector, READ_SCHEMA).await;

    // B takes its transaction id first, then A appends credit #4 and commits, then B appends
    // credit #5 on top of it: #5 sorts before #4 in (tx_id, position) order.
    let tx_b = b.transaction().await.unwrap();
    let app = AppFixture::new("Early", "1.00");
    append_app(&tx_b, app.id, &[app.created(1)]).await;
    let first = op.credit("10", 2);
    append_operator(&a, op.id, &[first]).await;
    let second = op.credit("20", 3);
    append_operator(&tx_b, op.id, &[second]).await;
    tx_b.commit().await.unwrap();

    // One event per batch, so #5 and #4 land in different batches.
    let mut steps = 0;
    while let Step::Projected(n) = project_batch_of(&mut projector, READ_SCHEMA, 1)
        .await
        .unwrap()
    {
        assert_eq!(n, 1);
        steps += 1;
    }
    assert_eq!(steps, 3);
    let row = projector
        .query_one(
            "SELECT balance::text, total_credited::text, last_sequence FROM read.operators",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (
            row.get::<_, String>(0),
            row.get::<_, String>(1),
            row.get::<_, i64>(2)
        ),
        ("30.00".into(), "30.00".into(), 5)
    );
    assert_eq!(
        count(&projector, "SELECT count(*) FROM read.transactions").await,
        2
    );
    let report = projector::verify(&mut projector, READ_SCHEMA)
        .await
        .unwrap();
    assert!(report.is_clean(), "{report}");
}

#[tokio::test]
async fn a_projector_killed_mid_batch_then_restarted_loses_and_doubles_nothing() {
    let db = TestDb::new().await;
    let admin = db.client().await;
    let total = seed_many(&admin, 3, 20).await;
    let mut victim = db.client().await;
    let victim_pid: i32 = victim
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);

    // Hold the checkpoint row, so the batch is caught after writing its rows and before
    // moving the checkpoint and committing; then kill its backend there.
    let mut blocker = db.client().await;
    let block = blocker.transaction().await.unwrap();
    block
        .batch_execute("SELECT 1 FROM read.checkpoint FOR UPDATE")
        .await
        .unwrap();
    let batch = tokio::spawn(async move { project_next_batch(&mut victim, READ_SCHEMA).await });
    let waited = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while count(
            &admin,
            &format!("SELECT count(*) FROM pg_locks WHERE pid = {victim_pid} AND NOT granted"),
        )
        .await
            == 0
        {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "the batch never reached the blocked write");
    let wrote_some = count(&admin, &format!(
        "SELECT count(*) FROM pg_stat_activity WHERE pid = {victim_pid} AND backend_xid IS NOT NULL"
    ))
    .await;
    assert_eq!(
        wrote_some, 1,
        "the batch had already written rows when it was killed"
    );
    admin
        .execute("SELECT pg_terminate_backend($1)", &[&victim_pid])
        .await
        .unwrap();
    let killed = batch.await.unwrap();
    assert!(killed.is_err(), "the killed batch reports an error");
    block.rollback().await.unwrap();
    assert_eq!(count(&admin, "SELECT events FROM read.checkpoint").await, 0);
    assert_eq!(
        count(&admin, "SELECT count(*) FROM read.operators").await,
        0
    );

    // Restart: a new connection picks up from the checkpoint.
    let mut restarted = db.client().await;
    assert_eq!(project_all(&mut restarted, READ_SCHEMA).await, total);
    assert_eq!(
        count(&admin, "SELECT events FROM read.checkpoint").await,
        total as i64
    );
    assert_eq!(
        count(&admin, "SELECT count(*) FROM read.transactions").await,
        3 * 21
    );
    assert_eq!(
        count(&admin, "SELECT count(*) FROM read.usage_records").await,
        3 * 20
    );
    assert_eq!(
        count(&admin, "SELECT sum(games)::bigint FROM read.operators").await,
        3 * 20
    );
    let report = projector::verify(&mut restarted, READ_SCHEMA)
        .await
        .unwrap();
    assert!(report.is_clean(), "{report}");
}

#[tokio::test]
async fn two_projectors_running_together_apply_each_event_once() {
    let db = TestDb::new().await;
    let seeder = db.client().await;
    let total = seed_many(&seeder, 4, 600).await;
    let mut one = db.client().await;
    let mut two = db.client().await;
    let (a, b) = tokio::join!(
        project_all(&mut one, READ_SCHEMA),
        project_all(&mut two, READ_SCHEMA)
    );
    assert_eq!(a + b, total);
    assert_eq!(
        count(&seeder, "SELECT count(*) FROM read.transactions").await,
        4 * 601
    );
    let report = projector::verify(&mut one, READ_SCHEMA).await.unwrap();
    assert!(report.is_clean(), "{report}");
}

#[tokio::test]
async fn a_money_event_whose_balance_does_not_add_up_stops_the_batch_and_writes_nothing() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    let op = OperatorScript::new();
    let mut events = op.register(0);
    events.push(OperatorEvent::BalanceCredited {
        credit_id: CreditId::new(),
        amount: money("10.00"),
        reason: "bank transfer".to_owned(),
        balance_after: money("11.00"),
        credited_at: at(1),
    });
    let positions = append_operator(&client, op.id, &events).await;

    let error = project_next_batch(&mut client, READ_SCHEMA)
        .await
        .unwrap_err();
    match error {
        Error::Unjustified {
            position, sequence, ..
        } => {
            assert_eq!((position, sequence), (positions[3], 4));
        }
        other => panic!("expected a refused event, got {other}"),
    }
    assert_eq!(
        count(&client, "SELECT events FROM read.checkpoint").await,
        0
    );
    assert_eq!(
        count(&client, "SELECT count(*) FROM read.operators").await,
        0
    );
    // It stays stopped: the same batch is refused again.
    assert!(project_next_batch(&mut client, READ_SCHEMA).await.is_err());
}

#[tokio::test]
async fn an_open_transaction_in_another_database_does_not_hold_the_projector_back() {
    let db = TestDb::new().await;
    let elsewhere = TestDb::new().await;
    let mut other = elsewhere.client().await;
    let open = other.transaction().await.unwrap();
    let stranger = OperatorScript::new();
    append_operator(&open, stranger.id, &stranger.register(0)).await;

    // Appended after the other database's transaction took its (cluster-wide) xid.
    let mut client = db.client().await;
    let op = OperatorScript::new();
    append_operator(&client, op.id, &op.register(1)).await;
    assert_eq!(project_all(&mut client, READ_SCHEMA).await, 3);
    open.rollback().await.unwrap();
}

#[tokio::test]
async fn a_staff_event_that_sorts_before_its_predecessor_is_applied_once_in_sequence_order() {
    use ledger_core::ids::StaffId;
    use ledger_core::metadata::ActorRole;
    use ledger_core::staff_account::StaffEvent;

    let db = TestDb::new().await;
    let mut projector = db.client().await;
    let a = db.client().await;
    let mut b = db.client().await;
    let staff = StaffId::new();
    let by_root = by_staff("root", ActorRole::SuperAdmin, 0);
    let role = |role, s| StaffEvent::StaffRoleChanged {
        role,
        changed_at: at(s),
    };
    append_staff(
        &a,
        staff,
        &[StaffEvent::StaffCreated {
            staff_id: staff,
            username: "clerk".to_owned(),
            name: "Clerk".to_owned(),
            role: ActorRole::Analyst,
            created_at: at(0),
        }],
        &by_root,
    )
    .await;
    project_all(&mut projector, READ_SCHEMA).await;

    // As with operator streams: #3 (B's, older transaction) sorts before #2 (A's). Staff
    // rows keep no stream head, so the projector must work out that #2 is already applied.
    let tx_b = b.transaction().await.unwrap();
    let app = AppFixture::new("Early", "1.00");
    append_app(&tx_b, app.id, &[app.created(1)]).await;
    append_staff(&a, staff, &[role(ActorRole::Admin, 2)], &by_root).await;
    append_staff(
        &tx_b,
        staff,
        &[role(ActorRole::FinanceAuditor, 3)],
        &by_root,
    )
    .await;
    tx_b.commit().await.unwrap();

    let mut steps = 0;
    while let Step::Projected(n) = project_batch_of(&mut projector, READ_SCHEMA, 1)
        .await
        .unwrap()
    {
        assert_eq!(n, 1);
        steps += 1;
    }
    assert_eq!(steps, 3);
    let row = projector
        .query_one("SELECT role, updated_at FROM read.staff", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "finance_auditor");
    assert_eq!(row.get::<_, DateTime<Utc>>(1), at(3));
    assert_eq!(
        count(&projector, "SELECT count(*) FROM read.staff_actions").await,
        3,
        "one row per event, none doubled"
    );
    let report = projector::verify(&mut projector, READ_SCHEMA)
        .await
        .unwrap();
    assert!(report.is_clean(), "{report}");
}
