//! An authorization load against a running cluster and the check that the books stay exact
//! under it: what the fault tests (`tests/chaos.rs`) and the drills (`tests/drill_*.rs`) share.
//!
//! A drill or fault test:
//! 1. opens an [`Arcade`] (one operator with credit, a few sites, a granted app), optionally
//!    pointed at another address of the same command API ([`Arcade::through`], e.g. a load
//!    balancer);
//! 2. starts a [`Load`]: every site authorizes games one after another, each with a fresh
//!    session id, and every request and what it got is kept as an [`Attempt`];
//! 3. injects its fault, noting a [`Fault`], and waits until games are charged again
//!    ([`Load::until_charged`]);
//! 4. stops the load ([`Load::finish`]) and calls [`settle_and_check`], which:
//!    - replays every request whose outcome the client did not see (connection refused or
//!      reset, timeout, 5xx) with its session id, as a headset server retries, until it gets a
//!      definitive answer: a 200 (the recorded charge, or a charge made now) or a 4xx refusal;
//!    - checks that in the event store no session id is charged twice, the charged session
//!      ids are exactly those answered 200, and each 200 carries its charge's token, cost and
//!      balance;
//!    - checks that the operator's balance equals credit − Σ charges;
//!    - waits until the read tables reach the same balance and games, and runs
//!      `projector verify`;
//!
//!    and returns the [`Figures`], which [`Figures::print`] shows as one block.
//!
//! Every check panics with what it found, so a drill that cannot show exact books fails.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{StreamExt, stream};
use ledger_core::ids::{AppId, OperatorId, SiteId};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::cluster::Cluster;
use crate::headset::{HeadsetClient, Reply};

/// Headset servers authorizing at once.
pub const CONCURRENT_SITES: usize = 4;
/// Pause between one site's games: a busy arcade, not a flood that drains the balance.
const GAME_INTERVAL: Duration = Duration::from_millis(5);
/// Pause after a request without an answer, as a headset server backs off before its next
/// game (also keeps a dead port from being hammered in a tight loop).
const FAILURE_BACKOFF: Duration = Duration::from_millis(50);
/// Unit price 1.00 and one player: the credit covers every game any scenario can play.
const CREDIT: i64 = 100_000;
/// Longest wait for one answer; longer counts as a timeout (outcome unknown).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for a service or dependency to recover, or the read side to catch up.
pub const RECOVERY_TIMEOUT: Duration = Duration::from_secs(30);
/// Poll period of every wait-until-deadline below.
pub const POLL: Duration = Duration::from_millis(20);
/// Concurrent replays of unknown outcomes.
const REPLAY_CONCURRENCY: usize = 8;

/// One operator with credit, a few sites and a granted app, and its headset credentials.
pub struct Arcade {
    pub headset: HeadsetClient,
    pub operator: OperatorId,
    pub app: AppId,
    pub sites: Vec<SiteId>,
}

impl Arcade {
    /// Creates the operator through the cluster's command API; its headset client talks to
    /// that command API too (see [`Arcade::through`]).
    pub async fn open(cluster: &Cluster) -> Arcade {
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
        headset.http = crate::cluster::http_client()
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

    /// The same arcade with its headset servers sending to `base_url` (e.g. a load balancer
    /// in front of several command API instances).
    pub fn through(mut self, base_url: &str) -> Arcade {
        self.headset.base_url = base_url.trim_end_matches('/').to_owned();
        self
    }

    /// One authorization of one player at `site` under `session`.
    pub async fn authorize(&self, session: &str, site: SiteId) -> Outcome {
        let reply = self.headset.try_authorize(session, self.app, site, 1).await;
        Outcome::of(reply)
    }
}

/// What the client learnt from one request.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// 200: the game is charged (`replayed`: the answer of an earlier request).
    Charged { data: Value, replayed: bool },
    /// A 4xx: definitively refused, nothing charged.
    Refused { status: u16, code: String },
    /// No answer (refused, reset, timed out) or a 5xx: the client cannot tell whether the
    /// game was charged.
    Unknown { why: String, status: Option<u16> },
}

impl Outcome {
    pub fn of(reply: Result<Reply, reqwest::Error>) -> Outcome {
        match reply {
            Ok(reply) if reply.status == 200 => Outcome::Charged {
                data: reply.data().clone(),
                replayed: reply.replayed,
            },
            Ok(reply) if reply.status >= 500 => Outcome::Unknown {
                why: format!("{} {}", reply.status, reply.error_code())
                    .trim_end()
                    .to_owned(),
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
pub struct Attempt {
    pub session: String,
    pub site: SiteId,
    pub sent: Instant,
    pub answered: Instant,
    pub outcome: Outcome,
}

impl Attempt {
    pub fn charged(&self) -> bool {
        matches!(self.outcome, Outcome::Charged { .. })
    }
}

/// Every site authorizes games one after another, each with a fresh session id, until
/// stopped; every request and what it got is kept.
pub struct Load {
    stop: Arc<AtomicBool>,
    charged: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<Vec<Attempt>>>,
}

impl Load {
    pub fn start(arcade: &Arcade) -> Load {
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
    pub fn charged(&self) -> u64 {
        self.charged.load(Ordering::Relaxed)
    }

    /// Returns once `target` games in all were answered 200; panics after
    /// [`RECOVERY_TIMEOUT`].
    pub async fn until_charged(&self, target: u64) {
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

    /// Stops every site after its request in flight; returns every request made.
    pub async fn finish(self) -> Vec<Attempt> {
        self.stop.store(true, Ordering::Relaxed);
        let mut attempts = Vec::new();
        for task in self.tasks {
            attempts.extend(task.await.unwrap());
        }
        attempts
    }
}

/// When a fault was injected, and when it had surely taken effect (the process was gone).
#[derive(Debug, Clone, Copy)]
pub struct Fault {
    pub injected: Instant,
    pub effective: Instant,
}

impl Fault {
    /// A fault that takes effect as it is injected (a synchronous kill).
    pub fn now() -> Fault {
        let now = Instant::now();
        Fault {
            injected: now,
            effective: now,
        }
    }
}

/// What a scenario measured; every figure here was checked by [`settle_and_check`].
#[derive(Debug)]
pub struct Figures {
    pub requests: usize,
    /// Requests answered 200 at once.
    pub successes: usize,
    /// Requests without a seen outcome (no answer or 5xx), all replayed.
    pub unknown: usize,
    /// Those by what the client saw (`503 SERVICE_UNAVAILABLE`, `connection refused`, …).
    pub unknown_by_kind: BTreeMap<String, usize>,
    /// Of those, answered 503 (the database was unreachable).
    pub unavailable_answers: usize,
    /// Unknown outcomes whose replay returned a recorded charge (charged, answer lost).
    pub unknown_but_charged: usize,
    /// `GameAuthorized` events of the operator in the event store.
    pub charged: usize,
    /// The operator's balance in the event store, equal to `credited − charges_total` and to
    /// the read tables' balance (checked).
    pub balance: Decimal,
    pub credited: Decimal,
    pub charges_total: Decimal,
    /// Slowest 5xx answer: how quickly a failing dependency is reported.
    pub slowest_failure: Duration,
    /// Per fault: injected → first 200 answer to a request sent once it had taken effect.
    pub unavailable_for: Vec<Duration>,
    /// Per fault: the first failed request's answer → the first 200 answered to a request
    /// sent after it (`None`: no request failed).
    pub failing_for: Vec<Option<Duration>>,
    /// Settling replays done → read tables equal to the ledger.
    pub read_side_caught_up_in: Duration,
}

impl Figures {
    /// Prints the figures as one block headed by `scenario` (on stderr: `--no-capture` shows
    /// it).
    pub fn print(&self, scenario: &str) {
        let millis = |durations: &mut dyn Iterator<Item = Option<Duration>>| {
            let shown: Vec<String> = durations
                .map(|d| d.map_or("none".to_owned(), |d| format!("{} ms", d.as_millis())))
                .collect();
            if shown.is_empty() {
                "no fault injected".to_owned()
            } else {
                shown.join(" / ")
            }
        };
        eprintln!(
            "\n== {scenario} ==\n\
             requests      {requests}\n\
             successes     {successes} (200 at once)\n\
             failures      {unknown} without a seen outcome {kinds:?}, all replayed by \
             session id ({unknown_but_charged} found already charged)\n\
             charges       {charged} in the event store: one per 200, none without, none twice\n\
             balance       ledger {balance} = credit {credited} − charges {charges_total} \
             = read side (exact)\n\
             unavailable   {unavailable} (fault → first 200); {failing} (first failed \
             request → first 200 after it); slowest 5xx {slowest} ms\n\
             read side     equal to the ledger {caught_up} ms after settling; projector verify \
             passed\n",
            requests = self.requests,
            successes = self.successes,
            unknown = self.unknown,
            kinds = self.unknown_by_kind,
            unknown_but_charged = self.unknown_but_charged,
            charged = self.charged,
            balance = self.balance,
            credited = self.credited,
            charges_total = self.charges_total,
            unavailable = millis(&mut self.unavailable_for.iter().map(|d| Some(*d))),
            failing = millis(&mut self.failing_for.iter().copied()),
            slowest = self.slowest_failure.as_millis(),
            caught_up = self.read_side_caught_up_in.as_millis(),
        );
    }
}

/// Replays every unknown outcome, then checks the books (module docs); returns the figures.
pub async fn settle_and_check(
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
    let failing_for = faults
        .iter()
        .map(|fault| {
            let first_failure = attempts
                .iter()
                .filter(|a| !a.charged() && a.answered >= fault.injected)
                .map(|a| a.answered)
                .min()?;
            let first_success = attempts
                .iter()
                .filter(|a| a.charged() && a.sent >= first_failure)
                .map(|a| a.answered)
                .min()
                .expect("no game was charged after the first failed request");
            Some(first_success - first_failure)
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
    // The protocol's 503 says nothing was charged: a replay must not find an earlier charge.
    let answered_503: HashSet<&str> = attempts
        .iter()
        .filter(|a| {
            matches!(
                a.outcome,
                Outcome::Unknown {
                    status: Some(503),
                    ..
                }
            )
        })
        .map(|a| a.session.as_str())
        .collect();
    let broken_promises: Vec<&str> = replays
        .iter()
        .filter(|(session, o)| {
            answered_503.contains(session.as_str())
                && matches!(o, Outcome::Charged { replayed: true, .. })
        })
        .map(|(session, _)| session.as_str())
        .collect();
    assert!(
        broken_promises.is_empty(),
        "{} sessions answered 503 SERVICE_UNAVAILABLE (\"nothing was charged\") were charged: \
         {broken_promises:?}",
        broken_promises.len()
    );
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
    let charges_total: Decimal = ledger.charges.values().map(|c| c.total_cost).sum();
    assert_eq!(
        ledger.balance,
        ledger.credited - charges_total,
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
        successes: attempts.iter().filter(|a| a.charged()).count(),
        unknown: unknown.len(),
        unknown_by_kind,
        unavailable_answers,
        unknown_but_charged,
        charged: ledger.charges.len(),
        balance: ledger.balance,
        credited: ledger.credited,
        charges_total,
        slowest_failure,
        unavailable_for,
        failing_for,
        read_side_caught_up_in,
    }
}

/// Sends the same authorization again (same session id, site, app and players) until the
/// answer is definitive: a 200 or a 4xx.
pub async fn replay_until_definitive(arcade: &Arcade, attempt: &Attempt) -> Outcome {
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
pub struct Charge {
    pub authorization_token: String,
    pub total_cost: Decimal,
    pub balance_after: Decimal,
}

/// The operator's money as the event store records it.
pub struct LedgerBooks {
    /// By session id.
    pub charges: BTreeMap<String, Charge>,
    pub credited: Decimal,
    /// `balance_after` of the stream's last money event.
    pub balance: Decimal,
}

/// Reads the operator's money events; panics if a session id is charged twice.
pub async fn ledger_books(client: &tokio_postgres::Client, operator: OperatorId) -> LedgerBooks {
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
pub fn check_charges(known: &HashMap<String, Outcome>, ledger: &LedgerBooks) {
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
pub struct ReadSide {
    pub games: i64,
    pub balance: Option<Decimal>,
}

pub async fn read_side(client: &tokio_postgres::Client, operator: OperatorId) -> ReadSide {
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
