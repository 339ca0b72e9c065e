//! The tailing loop: wakes on NOTIFY, projects, and stops on shutdown.

use std::time::Duration;

use projector::READ_SCHEMA;
use tests::db::TestDb;

use crate::support::*;

/// Waits (bounded) until the live checkpoint has taken `events` events.
async fn wait_for_checkpoint(client: &tokio_postgres::Client, events: i64) {
    let reached = tokio::time::timeout(Duration::from_secs(20), async {
        while count(client, "SELECT events FROM read.checkpoint").await < events {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        reached.is_ok(),
        "the run loop did not project {events} events"
    );
}

#[tokio::test]
async fn the_run_loop_projects_notified_events_and_stops_on_shutdown() {
    let db = TestDb::new().await;
    let client = db.client().await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config: tokio_postgres::Config = db.url.parse().unwrap();
    let running = tokio::spawn(async move {
        projector::run(config, READ_SCHEMA, async {
            let _ = stopped.await;
        })
        .await
    });

    let mut op = OperatorScript::new();
    let mut events = op.register(0);
    events.push(op.credit("10", 1));
    append_operator(&client, op.id, &events).await;
    client.batch_execute("NOTIFY mr_events").await.unwrap();
    wait_for_checkpoint(&client, 4).await;

    // An event held back behind an open transaction is picked up by the poll fallback,
    // without any notification.
    let mut holder = db.client().await;
    let open = holder.transaction().await.unwrap();
    let other = OperatorScript::new();
    append_operator(&open, other.id, &other.register(2)).await;
    let credit = op.credit("5", 3);
    append_operator(&client, op.id, &[credit]).await;
    open.commit().await.unwrap();
    wait_for_checkpoint(&client, 8).await;
    assert_eq!(
        count(&client, "SELECT count(*) FROM read.operators").await,
        2
    );

    stop.send(()).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("stops promptly");
    result.unwrap().unwrap();
}

/// Sessions holding the active projector's lock.
async fn leader_lock_holders(client: &tokio_postgres::Client) -> i64 {
    // A bigint advisory key shows as classid (high half) and objid (low half), objsubid 1.
    let key = projector::LEADER_LOCK;
    let sql = format!(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted \
           AND objsubid = 1 AND classid::bigint = {} AND objid::bigint = {}",
        key >> 32,
        key & 0xffff_ffff
    );
    count(client, &sql).await
}

#[tokio::test]
async fn a_standby_projector_takes_over_when_the_active_one_stops() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    let start = |stopped: tokio::sync::oneshot::Receiver<()>| {
        let config: tokio_postgres::Config = db.url.parse().unwrap();
        tokio::spawn(async move {
            projector::run(config, READ_SCHEMA, async {
                let _ = stopped.await;
            })
            .await
        })
    };
    let (stop_first, first_stopped) = tokio::sync::oneshot::channel::<()>();
    let first = start(first_stopped);
    let mut op = OperatorScript::new();
    let mut events = op.register(0);
    events.push(op.credit("10", 1));
    append_operator(&client, op.id, &events).await;
    wait_for_checkpoint(&client, 4).await;

    let (stop_second, second_stopped) = tokio::sync::oneshot::channel::<()>();
    let second = start(second_stopped);
    // Give the second one more than a standby poll to (wrongly) become active too.
    tokio::time::sleep(projector::STANDBY_POLL * 2).await;
    assert_eq!(leader_lock_holders(&client).await, 1);

    // The active one stops: the standby takes over and projects what comes next.
    stop_first.send(()).unwrap();
    first.await.unwrap().unwrap();
    let credit = op.credit("5", 2);
    append_operator(&client, op.id, &[credit]).await;
    client.batch_execute("NOTIFY mr_events").await.unwrap();
    wait_for_checkpoint(&client, 5).await;
    assert_eq!(leader_lock_holders(&client).await, 1);

    stop_second.send(()).unwrap();
    second.await.unwrap().unwrap();
    let report = projector::verify(&mut client, READ_SCHEMA).await.unwrap();
    assert!(report.is_clean(), "{report}");
}
