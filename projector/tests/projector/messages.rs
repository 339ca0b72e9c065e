//! The message center: fan-outs reach exactly the operators they should, whether those
//! operators were projected long before or in the same batch; low-balance alerts come once
//! per crossing; read marks touch the right rows.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use ledger_core::application::AppEvent;
use ledger_core::metadata::ActorRole;
use ledger_core::operator::OperatorEvent;
use projector::READ_SCHEMA;
use tests::db::TestDb;
use tokio_postgres::Client;

use crate::support::*;

fn sorted(ids: &[&OperatorScript]) -> Vec<uuid::Uuid> {
    let set: BTreeSet<uuid::Uuid> = ids.iter().map(|o| o.id.as_uuid()).collect();
    set.into_iter().collect()
}

/// Rebuilds the read schema and checks that it equals what the live projector wrote.
async fn rebuild_agrees(client: &mut Client) {
    let live = dump(client, READ_SCHEMA).await;
    projector::rebuild(client, READ_SCHEMA).await.unwrap();
    assert_eq!(live, dump(client, READ_SCHEMA).await);
}

#[tokio::test]
async fn an_announcement_reaches_the_operators_registered_before_it_that_are_not_deactivated() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    // Long before: their rows are only in the read table when the announcement comes.
    let old = OperatorScript::new();
    let gone = OperatorScript::new();
    let locked = OperatorScript::new();
    let gone_now = OperatorScript::new();
    let gone_after = OperatorScript::new();
    for op in [&old, &gone, &locked, &gone_now, &gone_after] {
        append_operator(&client, op.id, &op.register(0)).await;
    }
    append_operator(
        &client,
        gone.id,
        &[OperatorEvent::OperatorDeactivated {
            deactivated_at: at(1),
        }],
    )
    .await;
    append_operator(
        &client,
        locked.id,
        &[OperatorEvent::OperatorLocked {
            reason: "audit".to_owned(),
            locked_at: at(1),
        }],
    )
    .await;
    project_all(&mut client, READ_SCHEMA).await;

    // One batch: a registration and a deactivation before the announcement, a registration
    // and a deactivation after it.
    let fresh = OperatorScript::new();
    append_operator(&client, fresh.id, &fresh.register(10)).await;
    let deactivate = |s| OperatorEvent::OperatorDeactivated {
        deactivated_at: at(s),
    };
    append_operator(&client, gone_now.id, &[deactivate(11)]).await;
    let (_, announced) = announce(&client, "admin-1", "Holiday hours", 15).await;
    let late = OperatorScript::new();
    append_operator(&client, late.id, &late.register(20)).await;
    append_operator(&client, gone_after.id, &[deactivate(21)]).await;
    project_all(&mut client, READ_SCHEMA).await;
    // And one in a later batch.
    let later = OperatorScript::new();
    append_operator(&client, later.id, &later.register(30)).await;
    project_all(&mut client, READ_SCHEMA).await;

    assert_eq!(
        recipients(&client, announced).await,
        sorted(&[&old, &locked, &fresh, &gone_after])
    );
    assert_eq!(
        messages_of(&client, fresh.id).await,
        [(
            announced,
            "announcement".to_owned(),
            serde_json::json!({"title": "Holiday hours", "body": "Holiday hours body"}),
            None
        )]
    );
    let created: DateTime<Utc> = client
        .query_one(
            "SELECT DISTINCT created_at FROM read.messages WHERE id = $1",
            &[&announced],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(created, at(15));
    // Replayed in one batch, everyone is in memory at once: same recipients.
    rebuild_agrees(&mut client).await;
}

#[tokio::test]
async fn a_price_change_notifies_exactly_the_operators_holding_the_app() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    let game = AppFixture::new("Beat Saber", "10.00");
    let other = AppFixture::new("Space Pirates", "5.00");
    append_app(&client, game.id, &[game.created(0)]).await;
    append_app(&client, other.id, &[other.created(0)]).await;
    let grant_until = |app: &AppFixture, expires: Option<i64>| OperatorEvent::AppGranted {
        app_id: app.id,
        expires_at: expires.map(at),
        granted_at: at(1),
    };
    // Long before the change.
    let holder = OperatorScript::new();
    let until_later = OperatorScript::new();
    let revoked = OperatorScript::new();
    let expired = OperatorScript::new();
    let expires_then = OperatorScript::new();
    let other_app = OperatorScript::new();
    let setups = [
        (&holder, vec![grant_until(&game, None)]),
        (&until_later, vec![grant_until(&game, Some(10_000))]),
        (
            &revoked,
            vec![
                grant_until(&game, None),
                OperatorEvent::AppRevoked {
                    app_id: game.id,
                    revoked_at: at(2),
                },
            ],
        ),
        (&expired, vec![grant_until(&game, Some(5))]),
        (&expires_then, vec![grant_until(&game, Some(20))]),
        (&other_app, vec![grant_until(&other, None)]),
    ];
    for (op, grants) in &setups {
        let mut events = op.register(0);
        events.extend(grants.iter().cloned());
        append_operator(&client, op.id, &events).await;
    }
    project_all(&mut client, READ_SCHEMA).await;

    // One batch: a grant before the change, the change, a grant after it.
    let fresh = OperatorScript::new();
    let mut events = fresh.register(10);
    events.push(fresh.grant(&game, 11));
    append_operator(&client, fresh.id, &events).await;
    let changed = append_app(
        &client,
        game.id,
        &[AppEvent::PriceChanged {
            old_price: money("10.00"),
            new_price: money("12.50"),
            changed_at: at(20),
        }],
    )
    .await[0];
    let late = OperatorScript::new();
    let mut events = late.register(30);
    events.push(late.grant(&game, 30));
    append_operator(&client, late.id, &events).await;
    project_all(&mut client, READ_SCHEMA).await;

    assert_eq!(
        recipients(&client, changed).await,
        sorted(&[&holder, &until_later, &fresh])
    );
    assert_eq!(
        messages_of(&client, holder.id).await,
        [(
            changed,
            "price_change".to_owned(),
            serde_json::json!({
                "app_id": game.id.to_string(),
                "app_name": "Beat Saber",
                "old_price": "10.00",
                "new_price": "12.50",
            }),
            None
        )]
    );
    rebuild_agrees(&mut client).await;
}

#[tokio::test]
async fn a_charge_crossing_the_threshold_alerts_once_per_crossing() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    let app = AppFixture::new("Beat Saber", "10.00");
    append_app(&client, app.id, &[app.created(0)]).await;
    let mut op = OperatorScript::new();
    let mut events = op.register_with_threshold(0, "100");
    events.push(op.grant(&app, 0));
    events.push(op.credit("200", 1));
    append_operator(&client, op.id, &events).await;

    let charge = |op: &mut OperatorScript, players, s| op.authorize(&app, players, s).1;
    // 200 → 180 → 130 → 100 (at the threshold, not below) → 90: the crossing.
    let charges = [
        charge(&mut op, 2, 10),
        charge(&mut op, 5, 11),
        charge(&mut op, 3, 12),
        charge(&mut op, 1, 13),
    ];
    let first = append_operator(&client, op.id, &charges).await[3];
    project_all(&mut client, READ_SCHEMA).await;
    // Still below in the next batch (the balance and threshold come from the table): no
    // alert; back above, then below again: a second alert.
    let mut events = vec![charge(&mut op, 2, 20), op.credit("100", 21)];
    events.push(charge(&mut op, 5, 22));
    events.push(charge(&mut op, 3, 23));
    events.push(charge(&mut op, 1, 24));
    let second = append_operator(&client, op.id, &events).await[3];
    // A threshold raised above the balance alerts nobody by itself, nor does the next charge
    // (the balance was already below).
    let mut events = vec![OperatorEvent::LowBalanceThresholdSet {
        threshold: money("1000"),
        set_at: at(30),
    }];
    events.push(charge(&mut op, 1, 31));
    append_operator(&client, op.id, &events).await;
    project_all(&mut client, READ_SCHEMA).await;

    let alerts: Vec<(i64, String, serde_json::Value)> = messages_of(&client, op.id)
        .await
        .into_iter()
        .map(|(id, kind, data, _)| (id, kind, data))
        .collect();
    let alert = |id, balance: &str| {
        (
            id,
            "low_balance".to_owned(),
            serde_json::json!({"balance": balance, "threshold": "100.00"}),
        )
    };
    assert_eq!(alerts, [alert(first, "90.00"), alert(second, "90.00")]);
    rebuild_agrees(&mut client).await;
}

#[tokio::test]
async fn read_marks_read_the_right_messages_and_read_all_leaves_later_ones_unread() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    let app = AppFixture::new("Beat Saber", "10.00");
    append_app(&client, app.id, &[app.created(0)]).await;
    let (a, b) = (OperatorScript::new(), OperatorScript::new());
    let expiry = at(100_000);
    for op in [&a, &b] {
        let mut events = op.register(0);
        events.push(OperatorEvent::AppGranted {
            app_id: app.id,
            expires_at: Some(expiry),
            granted_at: at(0),
        });
        append_operator(&client, op.id, &events).await;
    }
    let (_, first) = announce(&client, "admin-1", "First", 1).await;
    project_all(&mut client, READ_SCHEMA).await;

    // One batch: reminders (made in memory), an announcement (written mid-batch), marks.
    let remind = |s| OperatorEvent::GrantExpiryReminded {
        app_id: app.id,
        app_name: app.name.clone(),
        expires_at: expiry,
        reminded_at: at(s),
    };
    let reminded_a = append_operator(&client, a.id, &[remind(50)]).await[0];
    let reminded_b = append_operator(&client, b.id, &[remind(50)]).await[0];
    let (_, second) = announce(&client, "admin-1", "Second", 55).await;
    let read = |ids: Vec<i64>, s| OperatorEvent::MessagesRead {
        message_ids: ids,
        read_at: at(s),
    };
    let read_all = |s| OperatorEvent::AllMessagesRead { read_at: at(s) };
    let own = |op: &OperatorScript, s| by_operator(op.id, s);
    // A names its first message, its reminder and B's reminder (not A's to mark).
    append_operator_as(
        &client,
        a.id,
        &[read(vec![first, reminded_a, reminded_b], 60)],
        &own(&a, 60),
    )
    .await;
    append_operator_as(&client, b.id, &[read_all(70)], &own(&b, 70)).await;
    let (_, third) = announce(&client, "admin-1", "Third", 75).await;
    append_operator_as(&client, a.id, &[read_all(80)], &own(&a, 80)).await;
    let (_, fourth) = announce(&client, "admin-1", "Fourth", 85).await;
    // Already read: the first time stays.
    append_operator_as(&client, a.id, &[read(vec![first], 90)], &own(&a, 90)).await;
    project_all(&mut client, READ_SCHEMA).await;

    let read_at = |messages: Vec<(i64, String, serde_json::Value, Option<DateTime<Utc>>)>| {
        messages
            .into_iter()
            .map(|(id, _, _, read_at)| (id, read_at))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        read_at(messages_of(&client, a.id).await),
        [
            (first, Some(at(60))),
            (reminded_a, Some(at(60))),
            (second, Some(at(80))),
            (third, Some(at(80))),
            (fourth, None),
        ]
    );
    assert_eq!(
        read_at(messages_of(&client, b.id).await),
        [
            (first, Some(at(70))),
            (reminded_b, Some(at(70))),
            (second, Some(at(70))),
            (third, None),
            (fourth, None),
        ]
    );
    let reminder = &messages_of(&client, a.id).await[1];
    assert_eq!(reminder.1, "grant_expiry");
    assert_eq!(
        reminder.2,
        serde_json::json!({
            "app_id": app.id.to_string(),
            "app_name": "Beat Saber",
            "expires_at": serde_json::to_value(expiry).unwrap(),
        })
    );

    // Marks in a later batch, on messages only the read table holds.
    append_operator_as(&client, b.id, &[read(vec![third], 100)], &own(&b, 100)).await;
    append_operator_as(&client, a.id, &[read_all(110)], &own(&a, 110)).await;
    project_all(&mut client, READ_SCHEMA).await;
    assert_eq!(messages_of(&client, b.id).await[3].3, Some(at(100)));
    assert_eq!(messages_of(&client, b.id).await[4].3, None);
    assert_eq!(messages_of(&client, a.id).await[4].3, Some(at(110)));
    let unread: i64 = client
        .query_one(
            "SELECT count(*) FROM read.messages WHERE read_at IS NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(unread, 1, "only B's fourth");
    rebuild_agrees(&mut client).await;
}

#[tokio::test]
async fn staff_metadata_alone_does_not_make_a_message() {
    // A staff credit is a staff action, not a message; the low-balance rule only looks at
    // charges.
    let db = TestDb::new().await;
    let mut client = db.client().await;
    let mut op = OperatorScript::new();
    append_operator(&client, op.id, &op.register_with_threshold(0, "100")).await;
    let credit = op.credit("50", 1);
    append_operator_as(
        &client,
        op.id,
        &[credit],
        &by_staff("fin-1", ActorRole::FinanceSpecialist, 1),
    )
    .await;
    project_all(&mut client, READ_SCHEMA).await;
    assert!(messages_of(&client, op.id).await.is_empty());
    assert_eq!(
        count(&client, "SELECT count(*) FROM read.staff_actions").await,
        1
    );
}
