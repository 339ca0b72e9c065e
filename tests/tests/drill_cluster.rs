//! Drills of the system run as a cluster (docs/OPERATIONS.md, "Drills"; `make drill`): each
//! one runs the real binaries under an authorization load ([`tests::load`]), kills one piece
//! of the cluster with SIGKILL, and passes only if the books are exact afterwards (every 200
//! has exactly one charge, nothing is charged without one, balance = credit − Σ charges =
//! the read tables) and `projector verify` passes. Each prints one block of figures:
//! requests, successes, failures, charges, balance check, unavailability window.
//!
//! - two command-api instances behind nginx (deploy/nginx/command-lb.conf.template), both
//!   authorizing games of the same operator; one is killed mid-load;
//! - two projector processes; the active one is killed and the standby takes over;
//! - PostgreSQL under pg_auto_failover (a monitor, a primary and a synchronous standby); the
//!   primary node is killed and the services find the promoted standby by themselves.
//!
//! Not part of `make test` (they take minutes and start their own clusters): `make drill`.

use std::time::{Duration, Instant};

use tests::cluster::Cluster;
use tests::command_lb::CommandLb;
use tests::db::TestDb;
use tests::headset::AUTHORIZE_PATH;
use tests::load::{Arcade, Fault, Load, POLL, read_side, settle_and_check};
use tests::pg_auto_failover::PgAutoFailover;

/// Games charged before each fault and again after recovery, so both sides are exercised.
const GAMES_AROUND_FAULT: u64 = 100;
/// The standby projector must hold the lock and project within this long of the active
/// one's death (it polls for the lock every second).
const TAKEOVER_LIMIT: Duration = Duration::from_secs(5);
/// Shortest pause in charges that shows the primary really died (a failover takes seconds).
const NOTICED_OUTAGE: Duration = Duration::from_millis(500);
/// The promoted standby must take charges again within this long of the primary's death
/// (pg_auto_failover's monitor as tuned in `tests::pg_auto_failover::MONITOR_SETTINGS`).
const FAILOVER_LIMIT: Duration = Duration::from_secs(15);
/// Redis shared by the tests (the drills only need rate limits counted somewhere).
const REDIS_URL: &str = "redis://127.0.0.1:6379";

#[tokio::test]
async fn two_command_api_instances_behind_nginx_keep_the_books_exact_when_one_is_killed() {
    let mut cluster = Cluster::start(&[]).await;
    let second = cluster.start_extra_command_api().await;
    let first = cluster.command.clone();
    let authority = |url: &str| url.trim_start_matches("http://").to_owned();
    let lb = CommandLb::start(&[&authority(&first), &authority(&second)]);
    let arcade = Arcade::open(&cluster).await.through(&lb.url);

    let load = Load::start(&arcade);
    load.until_charged(GAMES_AROUND_FAULT).await;
    // Both instances were charging games of the one operator, interleaved.
    let before = lb.answered_by(AUTHORIZE_PATH);
    for instance in [&first, &second] {
        let answered = before.get(&authority(instance)).copied().unwrap_or(0);
        assert!(
            answered >= 10,
            "{instance} answered {answered} authorizations before the kill: {before:?}"
        );
    }

    let fault = Fault::now();
    cluster.kill(cluster.command_api_pid());
    load.until_charged(load.charged() + GAMES_AROUND_FAULT)
        .await;
    let attempts = load.finish().await;
    let figures = settle_and_check(&cluster, &arcade, attempts, &[fault]).await;
    figures.print("drill: two command-api instances behind nginx, one killed (SIGKILL)");
    eprintln!(
        "authorizations by instance (nginx access log): {:?}\n",
        lb.answered_by(AUTHORIZE_PATH)
    );
    assert!(
        figures.unavailable_for[0] < Duration::from_secs(2),
        "the surviving instance did not take over at once: {figures:?}"
    );
}

#[tokio::test]
async fn the_standby_projector_takes_over_when_the_active_one_is_killed() {
    let mut cluster = Cluster::start(&[]).await;
    let (first_pid, first_metrics) = cluster.projector();
    let (_, second_metrics) = cluster.start_extra_projector();
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let active = loop {
        let first = metric(&http, &first_metrics, "mr_projector_active").await;
        let second = metric(&http, &second_metrics, "mr_projector_active").await;
        match (first, second) {
            (Some(1), Some(0)) => break (first_pid, second_metrics.clone()),
            // The extra one won the start-up race (it cannot here, but stay honest).
            (Some(0), Some(1)) => panic!("the second projector took the lock from the first"),
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "no projector became active: {first:?} / {second:?}"
        );
        tokio::time::sleep(POLL).await;
    };
    let (active_pid, standby_metrics) = active;
    let arcade = Arcade::open(&cluster).await;
    let client = cluster.db.client().await;
    let load = Load::start(&arcade);
    load.until_charged(GAMES_AROUND_FAULT).await;
    assert_eq!(
        metric(
            &http,
            &standby_metrics,
            "mr_projector_events_projected_total"
        )
        .await,
        Some(0),
        "the standby projected while the other was active"
    );

    let fault = Fault::now();
    cluster.kill(active_pid);
    let killed = Instant::now();
    // The standby takes the lock, then projects the tail of events the other left.
    let games_at_kill = read_side(&client, arcade.operator).await.games;
    let (mut took_lock, mut projecting) = (None, None);
    while projecting.is_none() {
        if took_lock.is_none()
            && metric(&http, &standby_metrics, "mr_projector_active").await == Some(1)
        {
            took_lock = Some(killed.elapsed());
        }
        if took_lock.is_some() && read_side(&client, arcade.operator).await.games > games_at_kill {
            projecting = Some(killed.elapsed());
        }
        assert!(
            killed.elapsed() < TAKEOVER_LIMIT,
            "the standby did not take over within {TAKEOVER_LIMIT:?} (lock: {took_lock:?})"
        );
        tokio::time::sleep(POLL).await;
    }
    load.until_charged(load.charged() + GAMES_AROUND_FAULT)
        .await;
    let attempts = load.finish().await;
    let figures = settle_and_check(&cluster, &arcade, attempts, &[fault]).await;
    figures.print("drill: two projectors, the active one killed (SIGKILL)");
    let projected = metric(
        &http,
        &standby_metrics,
        "mr_projector_events_projected_total",
    )
    .await;
    eprintln!(
        "projector takeover: standby held the lock {} ms and projected new games {} ms after \
         the kill; it projected {} events\n",
        took_lock.unwrap().as_millis(),
        projecting.unwrap().as_millis(),
        projected.unwrap_or(0)
    );
    assert!(projected.unwrap_or(0) > 0, "the standby projected nothing");
}

#[tokio::test]
async fn a_postgres_failover_under_load_keeps_the_books_exact() {
    let mut ha = PgAutoFailover::start().await;
    let primary = ha.primary().await;
    let standby = ha
        .nodes
        .iter()
        .find(|n| n.name != primary.name)
        .unwrap()
        .name
        .clone();
    let mut db = TestDb::on_server(ha.primary_server_url().await).await;
    db.url = ha.database_url(&db.name);
    let cluster = Cluster::start_on(db, REDIS_URL, &[]).await;
    let arcade = Arcade::open(&cluster).await;
    let load = Load::start(&arcade);
    load.until_charged(GAMES_AROUND_FAULT).await;
    // Every commit acknowledged from here on is on the standby too.
    ha.wait_for_synchronous_replication().await;

    let injected = Instant::now();
    ha.kill_node(&primary.name);
    let fault = Fault {
        injected,
        effective: Instant::now(),
    };
    let promoted_in = ha.wait_for_primary(&standby).await;
    load.until_charged(load.charged() + GAMES_AROUND_FAULT)
        .await;
    let attempts = load.finish().await;
    let figures = settle_and_check(&cluster, &arcade, attempts, &[fault]).await;
    figures.print(&format!(
        "drill: PostgreSQL failover, primary {} killed (SIGKILL, keeper and postgres)",
        primary.name
    ));
    eprintln!(
        "failover: the monitor had {standby} promoted {} ms after the kill\n",
        promoted_in.as_millis()
    );
    // Requests in flight at the kill wait for their outcome rather than fail, so failures
    // alone may not show the fault: the pause in charges does.
    assert!(
        figures.unavailable_for[0] >= NOTICED_OUTAGE,
        "charges went on {:?} after the kill, as if nothing happened: the drill proves nothing",
        figures.unavailable_for[0]
    );
    assert!(
        figures.unavailable_for[0] < FAILOVER_LIMIT,
        "charges resumed only {:?} after the primary died",
        figures.unavailable_for[0]
    );
}

/// The value of an integer metric on a projector's `/metrics` (`None`: not reachable).
async fn metric(http: &reqwest::Client, base: &str, name: &str) -> Option<i64> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|value| value.trim().parse().ok())
}
