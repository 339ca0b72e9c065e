//! Fault tests: the books stay exact when a process or a dependency fails while headset
//! servers keep authorizing games.
//!
//! Every scenario drives the same load (a few sites authorizing one game after another),
//! injects one fault, waits until games are charged again, then settles and checks:
//! - every request whose outcome the client did not see (connection refused or reset,
//!   timeout, 5xx) is replayed with its session id, as a headset server retries, until it gets
//!   a definitive answer: a 200 (the recorded charge, or a charge made now) or a 4xx refusal;
//! - in the event store, no session id is charged twice, the charged session ids are exactly
//!   those answered 200, and each 200 carries its charge's token, cost and balance;
//! - the operator's balance equals credit − Σ charges;
//! - the read tables reach the same balance and games once the projector caught up, and
//!   `projector verify` passes.
//!
//! The PostgreSQL and Redis scenarios run on a private server each ([`PgCluster`],
//! [`RedisServer`]): the shared ones on :5432 and :6379 serve every other test in parallel.
//! Each scenario prints its unavailability (fault → first 200 of a request sent once the
//! fault had taken effect) with `eprintln!` (`make chaos` shows it).
//!
//! One more test makes a single piece of a database restart deterministic: the server
//! terminating the connection of a charge in flight must answer 503 and charge nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{StreamExt, stream};
use ledger_core::ids::{AppId, OperatorId, SiteId};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tests::cluster::Cluster;
use tests::db::TestDb;
use tests::headset::{HeadsetClient, Reply};
use tests::pg_cluster::{PgCluster, Shutdown};
use tests::redis_server::RedisServer;

/// Headset servers authorizing at once.
const CONCURRENT_SITES: usize = 4;
/// Pause between one site's games: a busy arcade, not a flood that drains the balance.
const GAME_INTERVAL: Duration = Duration::from_millis(5);
/// Pause after a request without an answer, as a headset server backs off before its next
/// game (also keeps a dead port from being hammered in a tight loop).
const FAILURE_BACKOFF: Duration = Duration::from_millis(50);
/// Unit price 1.00 and one player: the credit covers every game any scenario can play.
const CREDIT: i64 = 100_000;
/// Longest wait for one answer; longer counts as a timeout (outcome unknown).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Games charged before each fault and again after recovery, so both sides are exercised.
const GAMES_AROUND_FAULT: u64 = 40;
/// Longest wait for a service or dependency to recover, or the read side to catch up.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(30);
/// Poll period of every wait-until-deadline below.
const POLL: Duration = Duration::from_millis(20);
/// Times command-api is killed in its scenario (each time once games are charged again).
const COMMAND_API_KILLS: usize = 3;
/// Times the projector is killed in its scenario.
const PROJECTOR_KILLS: usize = 5;
/// Concurrent replays of unknown outcomes.
const REPLAY_CONCURRENCY: usize = 8;

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
        "command-api killed (SIGKILL) and restarted {COMMAND_API_KILLS} times"
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
    figures.print("PostgreSQL stopped (immediate) and started again");
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
    figures.print("Redis killed, then started again");
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
        "projector killed (SIGKILL) {PROJECTOR_KILLS} times"
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

/// One operator with credit, a few sites and a granted app, and its headset credentials.
struct Arcade {
    headset: HeadsetClient,
    operator: OperatorId,
    app: AppId,
    sites: Vec<SiteId>,
}

impl Arcade {
    async fn open(cluster: &Cluster) -> Arcade {
        let token = cluster.admin_token().await;
        let post =
            async |path: String, body| cluster.command("POST", &path, &token, body).await.ok();
        let app = post(
            "/api/v1/admin/apps".into(),
            json!({"name": "故障测试", "unit_price": "1.00", "min_players": 1, "max_players": 8}),
        )
        .await;
        let app: AppId = app["id"].as_str().unwrap().parse().unwrap();
        let created = post(
            "/api/v1/admin/operators".into(),
            json!({"username": "chaos_arcade", "name": "故障体验馆",
                   "phone": "13800000002", "email": "chaos@example.com"}),
        )
        .await;
        let operator: OperatorId = created["operator"]["id"].as_str().unwrap().parse().unwrap();
        let mut sites = Vec::new();
        for n in 0..CONCURRENT_SITES {
            let site = post(
                format!("/api/v1/admin/operators/{operator}/sites"),
                json!({"name": format!("门店{n}"), "address": "上海市"}),
            )
            .await;
            sites.push(site["id"].as_str().unwrap().parse().unwrap());
        }
        post(
            format!("/api/v1/admin/operators/{operator}/grants"),
            json!({"app_id": app, "expires_at": null}),
        )
        .await;
        post(
            format!("/api/v1/finance/operators/{operator}/manual-credits"),
            json!({"amount": CREDIT.to_string(), "reason": "bank transfer"}),
        )
        .await;
        let mut headset = HeadsetClient::new(
            &cluster.command,
            operator,
            created["credentials"]["key_id"].as_str().unwrap(),
            created["credentials"]["secret"].as_str().unwrap(),
        );
        headset.http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .unwrap();
        Arcade {
            headset,
            operator,
            app,
            sites,
        }
    }

    async fn authorize(&self, session: &str, site: SiteId) -> Outcome {
        let reply = self.headset.try_authorize(session, self.app, site, 1).await;
        Outcome::of(reply)
    }
}

/// What the client learnt from one request.
#[derive(Debug, Clone)]
enum Outcome {
    /// 200: the game is charged (`replayed`: the answer of an earlier request).
    Charged { data: Value, replayed: bool },
    /// A 4xx: definitively refused, nothing charged.
    Refused { status: u16, code: String },
    /// No answer (refused, reset, timed out) or a 5xx: the client cannot tell whether the
    /// game was charged.
    Unknown { why: String, status: Option<u16> },
}

impl Outcome {
    fn of(reply: Result<Reply, reqwest::Error>) -> Outcome {
        match reply {
            Ok(reply) if reply.status == 200 => Outcome::Charged {
                data: reply.data().clone(),
                replayed: reply.replayed,
            },
            Ok(reply) if reply.status >= 500 => Outcome::Unknown {
                why: format!("{} {}", reply.status, reply.error_code()),
                status: Some(reply.status),
            },
            Ok(reply) => Outcome::Refused {
                status: reply.status,
                code: reply.error_code().to_owned(),
            },
            Err(error) => Outcome::Unknown {
                why: if error.is_timeout() {
                    "timed out".to_owned()
                } else if error.is_connect() {
                    "connection refused".to_owned()
                } else {
                    "connection lost".to_owned()
                },
                status: None,
            },
        }
    }
}

/// One authorization request of the load.
#[derive(Debug)]
struct Attempt {
    session: String,
    site: SiteId,
    sent: Instant,
    answered: Instant,
    outcome: Outcome,
}

impl Attempt {
    fn charged(&self) -> bool {
        matches!(self.outcome, Outcome::Charged { .. })
    }
}

/// Every site authorizes games one after another, each with a fresh session id, until
/// stopped; every request and what it got is kept.
struct Load {
    stop: Arc<AtomicBool>,
    charged: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<Vec<Attempt>>>,
}

impl Load {
    fn start(arcade: &Arcade) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let charged = Arc::new(AtomicU64::new(0));
        let tasks = arcade
            .sites
            .iter()
            .map(|&site| {
                let (headset, app) = (arcade.headset.clone(), arcade.app);
                let (stop, charged) = (stop.clone(), charged.clone());
                tokio::spawn(async move {
                    let mut attempts = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let session = headset.new_session_id();
                        let sent = Instant::now();
                        let reply = headset.try_authorize(&session, app, site, 1).await;
                        let outcome = Outcome::of(reply);
                        let pause = match outcome {
                            Outcome::Charged { .. } => {
                                charged.fetch_add(1, Ordering::Relaxed);
                                GAME_INTERVAL
                            }
                            _ => FAILURE_BACKOFF,
                        };
                        attempts.push(Attempt {
                            session,
                            site,
                            sent,
                            answered: Instant::now(),
                            outcome,
                        });
                        tokio::time::sleep(pause).await;
                    }
                    attempts
                })
            })
            .collect();
        Load {
            stop,
            charged,
            tasks,
        }
    }

    /// 200 answers so far.
    fn charged(&self) -> u64 {
        self.charged.load(Ordering::Relaxed)
    }

    /// Returns once `target` games in all were answered 200.
    async fn until_charged(&self, target: u64) {
        let deadline = Instant::now() + RECOVERY_TIMEOUT;
        while self.charged() < target {
            assert!(
                Instant::now() < deadline,
                "only {} of {target} games charged within {RECOVERY_TIMEOUT:?}: no recovery",
                self.charged()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    async fn finish(self) -> Vec<Attempt> {
        self.stop.store(true, Ordering::Relaxed);
        let mut attempts = Vec::new();
        for task in self.tasks {
            attempts.extend(task.await.unwrap());
        }
        attempts
    }
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

/// When a fault was injected, and when it had surely taken effect (the process was gone).
#[derive(Clone, Copy)]
struct Fault {
    injected: Instant,
    effective: Instant,
}

impl Fault {
    /// A fault that takes effect as it is injected (a synchronous kill).
    fn now() -> Fault {
        let now = Instant::now();
        Fault {
            injected: now,
            effective: now,
        }
    }
}

/// What a scenario measured.
#[derive(Debug)]
struct Figures {
    requests: usize,
    charged: usize,
    /// Requests without a seen outcome (no answer or 5xx), all replayed.
    unknown: usize,
    /// Those by what the client saw (`503 SERVICE_UNAVAILABLE`, `connection refused`, …).
    unknown_by_kind: BTreeMap<String, usize>,
    /// Of those, answered 503 (the database was unreachable).
    unavailable_answers: usize,
    /// Unknown outcomes whose replay returned a recorded charge (charged, answer lost).
    unknown_but_charged: usize,
    /// Slowest 5xx answer: how quickly a failing dependency is reported.
    slowest_failure: Duration,
    /// Per fault: injected → first 200 answer to a request sent once it had taken effect.
    unavailable_for: Vec<Duration>,
    /// Settling replays done → read tables equal to the ledger.
    read_side_caught_up_in: Duration,
}

impl Figures {
    fn print(&self, scenario: &str) {
        eprintln!(
            "chaos: {scenario}: unavailable {} ms (fault → first 200); {} requests, {} charged, \
             {} outcomes unknown ({:?}; {} found charged on replay), slowest 5xx \
             {} ms; read side equal to the ledger {} ms after settling",
            self.unavailable_for
                .iter()
                .map(|d| d.as_millis().to_string())
                .collect::<Vec<_>>()
                .join("/"),
            self.requests,
            self.charged,
            self.unknown,
            self.unknown_by_kind,
            self.unknown_but_charged,
            self.slowest_failure.as_millis(),
            self.read_side_caught_up_in.as_millis(),
        );
    }
}

/// Replays every unknown outcome, then checks the books (module docs); returns the figures.
async fn settle_and_check(
    cluster: &Cluster,
    arcade: &Arcade,
    attempts: Vec<Attempt>,
    faults: &[Fault],
) -> Figures {
    let refused: Vec<_> = attempts
        .iter()
        .filter_map(|a| match &a.outcome {
            Outcome::Refused { status, code } => Some((&a.session, status, code)),
            _ => None,
        })
        .collect();
    assert!(
        refused.is_empty(),
        "a fault made the service refuse games a headset would not retry: {refused:?}"
    );
    let unavailable_for = faults
        .iter()
        .map(|fault| {
            attempts
                .iter()
                .filter(|a| a.sent >= fault.effective && a.charged())
                .map(|a| a.answered - fault.injected)
                .min()
                .expect("no game was charged after the fault")
        })
        .collect();
    let failures = attempts.iter().filter(|a| {
        matches!(
            a.outcome,
            Outcome::Unknown {
                status: Some(_),
                ..
            }
        )
    });
    let slowest_failure = failures
        .map(|a| a.answered - a.sent)
        .max()
        .unwrap_or_default();
    let mut unknown_by_kind = BTreeMap::new();
    for attempt in &attempts {
        if let Outcome::Unknown { why, .. } = &attempt.outcome {
            *unknown_by_kind.entry(why.clone()).or_insert(0) += 1;
        }
    }
    let unavailable_answers = unknown_by_kind
        .get("503 SERVICE_UNAVAILABLE")
        .copied()
        .unwrap_or(0);

    // What the headset servers end up knowing: the seen outcomes, and a replay of the others.
    let unknown: Vec<&Attempt> = attempts
        .iter()
        .filter(|a| matches!(a.outcome, Outcome::Unknown { .. }))
        .collect();
    let replays: Vec<(String, Outcome)> = stream::iter(unknown.iter())
        .map(|attempt| async move {
            (
                attempt.session.clone(),
                replay_until_definitive(arcade, attempt).await,
            )
        })
        .buffer_unordered(REPLAY_CONCURRENCY)
        .collect()
        .await;
    let unknown_but_charged = replays
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Charged { replayed: true, .. }))
        .count();
    let mut known: HashMap<String, Outcome> = attempts
        .iter()
        .filter(|a| !matches!(a.outcome, Outcome::Unknown { .. }))
        .map(|a| (a.session.clone(), a.outcome.clone()))
        .collect();
    known.extend(replays);
    let settled = Instant::now();

    let client = cluster.db.client().await;
    let ledger = ledger_books(&client, arcade.operator).await;
    check_charges(&known, &ledger);
    let charged: Decimal = ledger.charges.values().map(|c| c.total_cost).sum();
    assert_eq!(
        ledger.balance,
        ledger.credited - charged,
        "balance ≠ credit − Σ charges in the event store"
    );

    // The read side reaches the same books, and equals a fresh replay.
    let deadline = Instant::now() + RECOVERY_TIMEOUT;
    loop {
        let read = read_side(&client, arcade.operator).await;
        if read.games == ledger.charges.len() as i64 && read.balance == Some(ledger.balance) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "read tables hold {} games and balance {:?}; the ledger {} and {}",
            read.games,
            read.balance,
            ledger.charges.len(),
            ledger.balance
        );
        tokio::time::sleep(POLL).await;
    }
    let read_side_caught_up_in = settled.elapsed();
    let verify = cluster.run_projector(&["verify"]).await;
    assert!(
        verify.status.success(),
        "projector verify after the fault: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );

    Figures {
        requests: attempts.len(),
        charged: ledger.charges.len(),
        unknown: unknown.len(),
        unknown_by_kind,
        unavailable_answers,
        unknown_but_charged,
        slowest_failure,
        unavailable_for,
        read_side_caught_up_in,
    }
}

/// Sends the same authorization again (same session id, site, app and players) until the
/// answer is definitive: a 200 or a 4xx.
async fn replay_until_definitive(arcade: &Arcade, attempt: &Attempt) -> Outcome {
    let deadline = Instant::now() + RECOVERY_TIMEOUT;
    loop {
        let outcome = arcade.authorize(&attempt.session, attempt.site).await;
        if !matches!(outcome, Outcome::Unknown { .. }) {
            return outcome;
        }
        assert!(
            Instant::now() < deadline,
            "a replay of {} got no definitive answer within {RECOVERY_TIMEOUT:?}: {outcome:?}",
            attempt.session
        );
        tokio::time::sleep(FAILURE_BACKOFF).await;
    }
}

/// One `GameAuthorized` event.
#[derive(Debug)]
struct Charge {
    authorization_token: String,
    total_cost: Decimal,
    balance_after: Decimal,
}

/// The operator's money as the event store records it.
struct LedgerBooks {
    /// By session id.
    charges: BTreeMap<String, Charge>,
    credited: Decimal,
    /// `balance_after` of the stream's last money event.
    balance: Decimal,
}

async fn ledger_books(client: &tokio_postgres::Client, operator: OperatorId) -> LedgerBooks {
    let rows = client
        .query(
            "SELECT event_type, payload::text FROM events \
             WHERE aggregate_type = 'Operator' AND aggregate_id = $1 \
               AND event_type IN ('GameAuthorized', 'BalanceCredited') \
             ORDER BY sequence",
            &[&operator.to_string()],
        )
        .await
        .unwrap();
    let decimal = |v: &Value| -> Decimal { v.as_str().unwrap().parse().unwrap() };
    let mut books = LedgerBooks {
        charges: BTreeMap::new(),
        credited: Decimal::ZERO,
        balance: Decimal::ZERO,
    };
    let mut charged_twice = Vec::new();
    for row in rows {
        let (kind, payload): (String, String) = (row.get(0), row.get(1));
        let payload: Value = serde_json::from_str(&payload).unwrap();
        let event = &payload[&kind];
        books.balance = decimal(&event["balance_after"]);
        if kind == "BalanceCredited" {
            books.credited += decimal(&event["amount"]);
            continue;
        }
        let session = event["session_id"].as_str().unwrap().to_owned();
        let charge = Charge {
            authorization_token: event["authorization_token"].as_str().unwrap().to_owned(),
            total_cost: decimal(&event["total_cost"]),
            balance_after: books.balance,
        };
        if books.charges.insert(session.clone(), charge).is_some() {
            charged_twice.push(session);
        }
    }
    assert!(
        charged_twice.is_empty(),
        "session ids charged more than once: {charged_twice:?}"
    );
    books
}

/// Every session answered 200 has exactly one charge, the one its answer names; no session
/// without a 200 is charged.
fn check_charges(known: &HashMap<String, Outcome>, ledger: &LedgerBooks) {
    let mut answered_but_not_charged = Vec::new();
    let mut answer_differs = Vec::new();
    for (session, outcome) in known {
        let Outcome::Charged { data, .. } = outcome else {
            continue;
        };
        let Some(charge) = ledger.charges.get(session) else {
            answered_but_not_charged.push(session);
            continue;
        };
        let decimal = |v: &Value| v.as_str().and_then(|s| s.parse::<Decimal>().ok());
        if data["authorization_token"].as_str() != Some(&charge.authorization_token)
            || decimal(&data["total_cost"]) != Some(charge.total_cost)
            || decimal(&data["balance_after"]) != Some(charge.balance_after)
        {
            answer_differs.push((session, data.clone(), format!("{charge:?}")));
        }
    }
    let charged_without_200: Vec<_> = ledger
        .charges
        .keys()
        .filter(|s| !matches!(known.get(*s), Some(Outcome::Charged { .. })))
        .map(|s| (s, known.get(s)))
        .collect();
    assert!(
        answered_but_not_charged.is_empty(),
        "answered 200 but no charge in the event store: {answered_but_not_charged:?}"
    );
    assert!(
        charged_without_200.is_empty(),
        "charged without a 200 (seen or on replay): {charged_without_200:?}"
    );
    assert!(
        answer_differs.is_empty(),
        "a 200 that is not its session's charge: {answer_differs:?}"
    );
}

/// The operator as the read tables show it.
struct ReadSide {
    games: i64,
    balance: Option<Decimal>,
}

async fn read_side(client: &tokio_postgres::Client, operator: OperatorId) -> ReadSide {
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM read.usage_records WHERE operator_id = $1), \
                    (SELECT balance FROM read.operators WHERE id = $1)",
            &[&operator.as_uuid()],
        )
        .await
        .unwrap();
    ReadSide {
        games: row.get(0),
        balance: row.get(1),
    }
}
