//! Money under concurrency: exactly the authorizations that fit are charged, once each,
//! within one instance and across instances sharing the database.

use std::collections::HashSet;

use futures_util::future::join_all;

use crate::harness::TestApp;

#[tokio::test]
async fn fifty_concurrent_authorizations_against_a_balance_for_twenty_charge_exactly_twenty() {
    let app = TestApp::spawn().await;
    let arcade = app.arcade("200", "5.00", 2, 8).await; // 20 games of 2 × 5.00
    let calls = (0..50).map(|_| {
        let headset = arcade.headset.clone();
        let (a, s) = (arcade.app, arcade.site);
        tokio::spawn(async move { headset.authorize(&headset.new_session_id(), a, s, 2).await })
    });
    let replies: Vec<_> = join_all(calls)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let ok = replies.iter().filter(|r| r.status == 200).count();
    let refused = replies
        .iter()
        .filter(|r| r.status == 402 && r.error_code() == "INSUFFICIENT_BALANCE")
        .count();
    assert_eq!(
        (ok, refused),
        (20, 30),
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(app.balance(arcade.operator).await, "0.00");
    assert_eq!(app.charges(arcade.operator).await, 20);
    let balances: HashSet<_> = replies
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| r.data()["balance_after"].to_string())
        .collect();
    assert_eq!(balances.len(), 20, "every charge saw a distinct balance");
    assert_eq!(
        app.project_and_verify(arcade.operator).await,
        "0.00",
        "read tables agree"
    );
    assert_eq!(app.usage_rows(arcade.operator).await, 20);
}

#[tokio::test]
async fn the_same_session_sent_twenty_times_at_once_charges_once_and_answers_identically() {
    let app = TestApp::spawn().await;
    let arcade = app.arcade("500", "10.00", 2, 8).await;
    let session = arcade.headset.new_session_id();
    let calls = (0..20).map(|_| {
        let headset = arcade.headset.clone();
        let session = session.clone();
        let (a, s) = (arcade.app, arcade.site);
        tokio::spawn(async move { headset.authorize(&session, a, s, 3).await })
    });
    let replies: Vec<_> = join_all(calls)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert!(
        replies.iter().all(|r| r.status == 200),
        "{:?}",
        replies.iter().map(|r| &r.raw).collect::<Vec<_>>()
    );
    let bodies: HashSet<_> = replies.iter().map(|r| r.data().to_string()).collect();
    assert_eq!(bodies.len(), 1, "identical data");
    assert_eq!(
        replies.iter().filter(|r| !r.replayed).count(),
        1,
        "one original, the rest replays"
    );
    assert_eq!(app.charges(arcade.operator).await, 1);
    assert_eq!(app.balance(arcade.operator).await, "470.00");
    assert_eq!(app.project_and_verify(arcade.operator).await, "470.00");
    assert_eq!(app.usage_rows(arcade.operator).await, 1);
}

#[tokio::test]
async fn two_instances_charging_one_operator_at_once_keep_the_books_exact() {
    let first = TestApp::spawn().await;
    let arcade = first.arcade("300", "5.00", 2, 8).await; // 30 games
    let second_db_url = first.db.url.clone();
    // A second command-api on the same database, with its own caches.
    let settings = crate::harness::settings(&first.db);
    assert_eq!(settings.database_url, second_db_url);
    let state = command_api::state(&settings, command_api::ledger::system_clock()).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base2 = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(command_api::serve(listener, state, 2).unwrap());
    let mut other = arcade.headset.clone();
    other.base_url = base2;

    let calls = (0..60).map(|i| {
        let headset = if i % 2 == 0 {
            arcade.headset.clone()
        } else {
            other.clone()
        };
        let (a, s) = (arcade.app, arcade.site);
        tokio::spawn(async move { headset.authorize(&headset.new_session_id(), a, s, 2).await })
    });
    let replies: Vec<_> = join_all(calls)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let ok = replies.iter().filter(|r| r.status == 200).count();
    let refused = replies
        .iter()
        .filter(|r| r.error_code() == "INSUFFICIENT_BALANCE")
        .count();
    assert_eq!(
        (ok, refused),
        (30, 30),
        "{:?}",
        replies
            .iter()
            .map(|r| (r.status, r.error_code().to_owned()))
            .collect::<Vec<_>>()
    );
    assert_eq!(first.charges(arcade.operator).await, 30);
    assert_eq!(first.balance(arcade.operator).await, "0.00");
    assert_eq!(first.project_and_verify(arcade.operator).await, "0.00");
}

/// Holds the operator's lock while `count` authorizations queue behind it, so the next lock
/// holder records them as one batch; returns the replies in request order.
async fn queued_burst(
    state: &actix_web::web::Data<command_api::http::AppState>,
    arcade: &crate::harness::Arcade,
    sessions: Vec<String>,
) -> Vec<tests::headset::Reply> {
    let held = state
        .ledger
        .operators
        .lock(&arcade.operator.to_string())
        .await;
    let calls: Vec<_> = sessions
        .into_iter()
        .map(|session| {
            let headset = arcade.headset.clone();
            let (a, s) = (arcade.app, arcade.site);
            tokio::spawn(async move { headset.authorize(&session, a, s, 2).await })
        })
        .collect();
    // Long enough for every request to reach the queue on this machine.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    drop(held);
    join_all(calls)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect()
}

async fn charge_transactions(app: &TestApp, operator: ledger_core::ids::OperatorId) -> (i64, i64) {
    let client = app.db.client().await;
    let row = client
        .query_one(
            "SELECT count(*), count(DISTINCT tx_id::text) FROM events \
             WHERE aggregate_type = 'Operator' AND aggregate_id = $1 AND event_type = 'GameAuthorized'",
            &[&operator.to_string()],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn queued_authorizations_are_recorded_by_one_statement() {
    let app = TestApp::spawn().await;
    let arcade = app.arcade("500", "5.00", 2, 8).await;
    let sessions = (0..10).map(|_| arcade.headset.new_session_id()).collect();
    let replies = queued_burst(&app.state, &arcade, sessions).await;
    assert!(
        replies.iter().all(|r| r.status == 200),
        "{:?}",
        replies.iter().map(|r| &r.raw).collect::<Vec<_>>()
    );
    assert_eq!(
        charge_transactions(&app, arcade.operator).await,
        (10, 1),
        "one transaction for the batch"
    );
    assert_eq!(app.balance(arcade.operator).await, "400.00");
    assert_eq!(app.project_and_verify(arcade.operator).await, "400.00");
}

#[tokio::test]
async fn a_batch_charges_what_fits_and_refuses_the_rest_in_order() {
    let app = TestApp::spawn().await;
    let arcade = app.arcade("40", "5.00", 2, 8).await; // four games
    let sessions = (0..10).map(|_| arcade.headset.new_session_id()).collect();
    let replies = queued_burst(&app.state, &arcade, sessions).await;
    let ok = replies.iter().filter(|r| r.status == 200).count();
    let refused = replies
        .iter()
        .filter(|r| r.error_code() == "INSUFFICIENT_BALANCE")
        .count();
    assert_eq!((ok, refused), (4, 6));
    assert_eq!(charge_transactions(&app, arcade.operator).await, (4, 1));
    assert_eq!(app.balance(arcade.operator).await, "0.00");
}

#[tokio::test]
async fn a_batch_holding_an_already_charged_session_replays_it_and_charges_the_others_once() {
    let app = TestApp::spawn().await;
    let arcade = app.arcade("500", "5.00", 2, 8).await;
    let old = arcade.headset.new_session_id();
    let first = arcade
        .headset
        .authorize(&old, arcade.app, arcade.site, 2)
        .await;
    assert_eq!(first.status, 200);
    // A fresh instance's cache does not know `old` was charged, so the batch tries it.
    let cold = crate::harness::TestApp::spawn_on_same(&app).await;
    let mut headset = arcade.headset.clone();
    headset.base_url = cold.base.clone();
    let cold_arcade = crate::harness::Arcade {
        headset,
        ..arcade.clone()
    };
    let mut sessions: Vec<String> = (0..5).map(|_| arcade.headset.new_session_id()).collect();
    sessions.insert(2, old.clone());
    sessions.push(sessions[0].clone()); // the same new session twice in one batch
    let replies = queued_burst(&cold.state, &cold_arcade, sessions).await;
    assert!(
        replies.iter().all(|r| r.status == 200),
        "{:?}",
        replies.iter().map(|r| &r.raw).collect::<Vec<_>>()
    );
    assert_eq!(
        replies[2].raw, first.raw,
        "the old session replays its original bytes"
    );
    assert!(replies[2].replayed);
    assert_eq!(
        replies[6].raw, replies[0].raw,
        "a session repeated inside the batch replays"
    );
    assert_eq!(app.charges(arcade.operator).await, 6);
    assert_eq!(app.balance(arcade.operator).await, "440.00");
}

#[tokio::test]
async fn many_operators_at_once_never_starve_a_small_pool() {
    // Requests waiting for the group-commit writer hold pooled connections; the writer has
    // its own, so a burst wider than the pool still completes (and none times out to 503).
    let app = TestApp::spawn_with(tests::db::TestDb::new().await, |s| s.db_pool_size = 3).await;
    let mut arcades = Vec::new();
    for _ in 0..12 {
        arcades.push(app.arcade("100", "5.00", 2, 8).await);
    }
    let calls = (0..48).map(|i| {
        let arcade = arcades[i % arcades.len()].clone();
        tokio::spawn(async move {
            let headset = arcade.headset;
            headset
                .authorize(&headset.new_session_id(), arcade.app, arcade.site, 2)
                .await
        })
    });
    let started = std::time::Instant::now();
    let replies: Vec<_> = join_all(calls)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let statuses: Vec<_> = replies.iter().map(|r| r.status).collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    for arcade in &arcades {
        assert_eq!(app.balance(arcade.operator).await, "60.00");
    }
}
