//! Fault tests: the books stay exact when a process or a dependency fails while headset
//! servers keep authorizing games.
//!
//! Every scenario drives the same load (a few sites authorizing one game after another,
//! [`tests::load`]), injects one fault, waits until games are charged again, then settles and
//! checks ([`settle_and_check`]): every unknown outcome is replayed by session id until
//! definitive; no session id is charged twice, the charged ones are exactly those answered
//! 200, each with its charge's token, cost and balance; the balance equals credit − Σ charges;
//! the read tables reach the same books and `projector verify` passes.
//!
//! The PostgreSQL and Redis scenarios run on a private server each ([`PgCluster`],
//! [`RedisServer`]): the shared ones on :5432 and :6379 serve every other test in parallel.
//! Each scenario prints its figures, among them its unavailability (fault → first 200 of a
//! request sent once the fault had taken effect), with `eprintln!` (`make chaos` shows it).
//!
//! Two more tests make single pieces of a database failure deterministic: the server
//! terminating the connection of a charge in flight must answer 503 and charge nothing, and
//! a charge that committed but lost its connection before the answer (a failover at the wrong
//! moment) must answer 200 with its charge, never the 503 that promises nothing was charged.

use std::time::Instant;

use serde_json::Value;
use tests::cluster::Cluster;
use tests::db::TestDb;
use tests::load::{
    Arcade, Fault, Load, Outcome, POLL, RECOVERY_TIMEOUT, read_side, settle_and_check,
};
use tests::pg_cluster::{PgCluster, Shutdown};
use tests::redis_server::RedisServer;

/// Games charged before each fault and again after recovery, so both sides are exercised.
const GAMES_AROUND_FAULT: u64 = 40;
/// Times command-api is killed in its scenario (each time once games are charged again).
const COMMAND_API_KILLS: usize = 3;
/// Time for a configuration reload to reach every backend (the postmaster signals them
/// after `pg_reload_conf()` returns; each applies it before its next statement).
const RELOAD_REACHES_BACKENDS: std::time::Duration = std::time::Duration::from_millis(500);
/// Times the projector is killed in its scenario.
const PROJECTOR_KILLS: usize = 5;

#[tokio::test]
async fn books_stay_exact_when_command_api_is_killed_during_load() {
    let mut cluster = Cluster::start(&[]).await;
    let arcade = Arcade::open(&cluster).await;
    let load = Load::start(&arcade);
    load.until_charged(GAMES_AROUND_FAULT).await;

    // The kill is the first thing the restart does, before any request can run.
    let mut faults = Vec::new();
    for _ in 0..COMMAND_API_KILLS {
        faults.push(Fault::now());
        cluster.crash_and_restart_command_api().await;
        load.until_charged(load.charged() + GAMES_AROUND_FAULT)
            .await;
    }

    let attempts = load.finish().await;
    let figures = settle_and_check(&cluster, &arcade, attempts, &faults).await;
    figures.print(&format!(
        "chaos: command-api killed (SIGKILL) and restarted {COMMAND_API_KILLS} times"
    ));
    assert!(
        figures.unknown > 0,
        "no request noticed the crash: the test proves nothing"
    );
}

#[tokio::test]
async fn books_stay_exact_when_postgres_restarts_during_load() {
    let pg = PgCluster::start().await;
    let redis = RedisServer::start().await;
    let db = TestDb::on_server(pg.url()).await;
    let cluster = Cluster::start_on(db, &redis.url(), &[]).await;
    let arcade = Arcade::open(&cluster).await;
    let load = Load::start(&arcade);
    load.until_charged(GAMES_AROUND_FAULT).await;

    // A crash of the database: no checkpoint, crash recovery on the next start.
    let injected = Instant::now();
    pg.stop(Shutdown::Immediate).await;
    let fault = Fault {
        injected,
        effective: Instant::now(),
    };
    // The command API notices by itself and says so, and authorizations are refused with
    // 503 meanwhile (counted below) rather than queued.
    wait_for_readiness(&cluster, "database down", |status, _| status == 503).await;
    pg.start_again().await;
    wait_for_readiness(&cluster, "database back", |status, _| status == 200).await;
    load.until_charged(load.charged() + GAMES_AROUND_FAULT)
        .await;

    let attempts = load.finish().await;
    let figures = settle_and_check(&cluster, &arcade, attempts, &[fault]).await;
    figures.print("chaos: PostgreSQL stopped (immediate) and started again");
    assert!(
        figures.unavailable_answers > 0,
        "no authorization was answered 503 while the database was down: {figures:?}"
    );
}

#[tokio::test]
async fn books_stay_exact_when_redis_stops_during_load() {
    let mut redis = RedisServer::start().await;
    let cluster = Cluster::start_on(TestDb::new().await, &redis.url(), &[]).await;
    let arcade = Arcade::open(&cluster).await;
    let load = Load::start(&arcade);
    load.until_charged(GAMES_AROUND_FAULT).await;
    wait_for_readiness(&cluster, "rate limits counted in Redis", |_, body| {
        body["checks"]["rate_limiter"] == "redis"
    })
    .await;

    let fault = Fault::now();
    redis.stop();
    // Rate limits fall back to the process's own window and authorizations go on.
    wait_for_readiness(&cluster, "local rate limiter", |status, body| {
        status == 200 && body["checks"]["rate_limiter"] == "local"
    })
    .await;
    load.until_charged(load.charged() + GAMES_AROUND_FAULT)
        .await;
    let charged_while_down = Instant::now();

    redis.start_again().await;
    // Back on Redis by itself, with no restart of any service.
    wait_for_readiness(&cluster, "rate limits back in Redis", |_, body| {
        body["checks"]["rate_limiter"] == "redis"
    })
    .await;
    load.until_charged(load.charged() + GAMES_AROUND_FAULT)
        .await;

    let attempts = load.finish().await;
    let charged_during_outage = attempts
        .iter()
        .filter(|a| a.sent >= fault.effective && a.answered <= charged_while_down && a.charged())
        .count();
    let figures = settle_and_check(&cluster, &arcade, attempts, &[fault]).await;
    figures.print("chaos: Redis killed, then started again");
    assert!(
        charged_during_outage > 0,
        "no game was charged while Redis was down"
    );
}

#[tokio::test]
async fn books_stay_exact_when_the_projector_is_killed_repeatedly() {
    let mut cluster = Cluster::start(&[]).await;
    let arcade = Arcade::open(&cluster).await;
    let client = cluster.db.client().await;
    let load = Load::start(&arcade);
    load.until_charged(GAMES_AROUND_FAULT).await;

    let mut faults = Vec::new();
    for _ in 0..PROJECTOR_KILLS {
        // Kill it only once it has projected something since it (re)started, so every kill
        // lands on a projector that is working through a tail.
        let projected = read_side(&client, arcade.operator).await.games;
        let deadline = Instant::now() + RECOVERY_TIMEOUT;
        while read_side(&client, arcade.operator).await.games <= projected {
            assert!(
                Instant::now() < deadline,
                "the restarted projector projected nothing within {RECOVERY_TIMEOUT:?}"
            );
            tokio::time::sleep(POLL).await;
        }
        faults.push(Fault::now());
        cluster.crash_and_restart_projector();
    }
    load.until_charged(load.charged() + GAMES_AROUND_FAULT)
        .await;

    let attempts = load.finish().await;
    let figures = settle_and_check(&cluster, &arcade, attempts, &faults).await;
    figures.print(&format!(
        "chaos: projector killed (SIGKILL) {PROJECTOR_KILLS} times"
    ));
}

/// What a PostgreSQL restart does to one statement, made deterministic: the connection of a
/// charge in flight is terminated by the server (SQLSTATE 57P01, as an immediate shutdown or
/// `pg_terminate_backend` sends it). The protocol's answer for "the database is unreachable"
/// is 503 `SERVICE_UNAVAILABLE`, which promises that nothing was charged.
#[tokio::test]
async fn a_charge_whose_database_connection_is_terminated_answers_503_and_charges_nothing() {
    let cluster = Cluster::start(&[]).await;
    let arcade = Arcade::open(&cluster).await;
    let warm = arcade
        .authorize(&arcade.headset.new_session_id(), arcade.sites[0])
        .await;
    assert!(matches!(warm, Outcome::Charged { .. }), "{warm:?}");

    // Hold the event table so the next charge waits inside its statement.
    let mut holder = cluster.db.client().await;
    let lock = holder.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let session = arcade.headset.new_session_id();
    let pending = {
        let (headset, app, site) = (arcade.headset.clone(), arcade.app, arcade.sites[0]);
        let session = session.clone();
        tokio::spawn(async move { headset.try_authorize(&session, app, site, 1).await })
    };
    let observer = cluster.db.client().await;
    let deadline = Instant::now() + RECOVERY_TIMEOUT;
    loop {
        let terminated: Vec<bool> = observer
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock' \
                   AND query LIKE '%INSERT INTO headset_sessions%'",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        if terminated.contains(&true) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the charge never waited on the held table"
        );
        tokio::time::sleep(POLL).await;
    }
    lock.rollback().await.unwrap();

    let reply = pending.await.unwrap().expect("command-api answers");
    assert_eq!(
        (reply.status, reply.error_code()),
        (503, "SERVICE_UNAVAILABLE"),
        "a charge cut off by the database: {}",
        reply.raw
    );
    // Nothing was charged: the same session id is charged now, not replayed. (The pool may
    // still hand out another connection the server dropped: a 503 again is retried.)
    let deadline = Instant::now() + RECOVERY_TIMEOUT;
    let retry = loop {
        match arcade.authorize(&session, arcade.sites[0]).await {
            Outcome::Unknown { .. } if Instant::now() < deadline => {
                tokio::time::sleep(POLL).await;
            }
            outcome => break outcome,
        }
    };
    assert!(
        matches!(
            retry,
            Outcome::Charged {
                replayed: false,
                ..
            }
        ),
        "{retry:?}"
    );
}

#[tokio::test]
async fn a_charge_committed_before_its_connection_was_cut_answers_200_with_its_charge() {
    let pg = PgCluster::start().await;
    let db = TestDb::on_server(pg.url()).await;
    let cluster = Cluster::start_on(db, "redis://127.0.0.1:6379", &[]).await;
    let arcade = Arcade::open(&cluster).await;
    let warm = arcade
        .authorize(&arcade.headset.new_session_id(), arcade.sites[0])
        .await;
    assert!(matches!(warm, Outcome::Charged { .. }), "{warm:?}");

    // A synchronous standby that never comes: every commit is written locally, then waits
    // for it. Terminating a backend in that wait cuts its connection after the commit (the
    // server warns "already committed locally"), exactly as a failover can.
    let admin = cluster.db.client().await;
    configure(
        &admin,
        "ALTER SYSTEM SET synchronous_standby_names = 'absent_standby'",
    )
    .await;
    // Backends take the reloaded setting a moment after the reload returns.
    tokio::time::sleep(RELOAD_REACHES_BACKENDS).await;
    let session = arcade.headset.new_session_id();
    let pending = {
        let (headset, app, site) = (arcade.headset.clone(), arcade.app, arcade.sites[0]);
        let session = session.clone();
        tokio::spawn(async move { headset.try_authorize(&session, app, site, 1).await })
    };
    let cut = cut_a_charge_waiting_for_the_standby(&admin).await;
    // Commits no longer wait, so the lookup and everything after it run normally (and the
    // test database can be dropped whatever happened above).
    configure(&admin, "ALTER SYSTEM RESET synchronous_standby_names").await;
    if let Err(activity) = cut {
        let answered = if pending.is_finished() {
            format!("{:?}", pending.await)
        } else {
            "not answered".to_owned()
        };
        panic!("the charge never waited for the synchronous standby: {activity:#?}, {answered}");
    }

    let reply = pending.await.unwrap().expect("command-api answers");
    assert_eq!(
        reply.status, 200,
        "a committed charge whose connection was cut: {}",
        reply.raw
    );
    let charged: i64 = admin
        .query_one(
            "SELECT count(*) FROM events WHERE event_type = 'GameAuthorized' \
             AND payload->'GameAuthorized'->>'session_id' = $1",
            &[&session],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(charged, 1, "the answer is the one charge that was recorded");
    assert_eq!(
        reply.data()["session_id"],
        session.as_str(),
        "{}",
        reply.raw
    );
}

/// Terminates the backend of a charge whose commit waits for the synchronous standby; `Err`
/// with what the database's sessions were doing if none did within the recovery timeout.
async fn cut_a_charge_waiting_for_the_standby(
    admin: &tokio_postgres::Client,
) -> Result<(), Vec<String>> {
    let deadline = Instant::now() + RECOVERY_TIMEOUT;
    loop {
        let terminated: Vec<bool> = admin
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event = 'SyncRep' \
                   AND query LIKE '%INSERT INTO headset_sessions%'",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        if terminated.contains(&true) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let activity = admin
                .query(
                    "SELECT coalesce(wait_event, '-') || ' ' || state || ' ' || left(query, 60) \
                     FROM pg_stat_activity WHERE datname = current_database()",
                    &[],
                )
                .await
                .unwrap()
                .iter()
                .map(|row| row.get(0))
                .collect();
            return Err(activity);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Runs an `ALTER SYSTEM` statement (alone: it refuses a transaction block) and reloads.
async fn configure(admin: &tokio_postgres::Client, statement: &str) {
    admin.batch_execute(statement).await.unwrap();
    admin
        .batch_execute("SELECT pg_reload_conf()")
        .await
        .unwrap();
}

/// Polls the command API's readiness until `done(status, body)` holds.
async fn wait_for_readiness(cluster: &Cluster, what: &str, done: impl Fn(u16, &Value) -> bool) {
    let deadline = Instant::now() + RECOVERY_TIMEOUT;
    loop {
        let url = format!("{}/health/ready", cluster.command);
        let answer = cluster.http.get(&url).send().await;
        if let Ok(answer) = answer {
            let status = answer.status().as_u16();
            let body: Value = answer.json().await.unwrap_or(Value::Null);
            if done(status, &body) {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "readiness never showed {what} within {RECOVERY_TIMEOUT:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}
