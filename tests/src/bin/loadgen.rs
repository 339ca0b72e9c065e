//! `loadgen`: the authorize load generator and books check (`deploy/bench/run.sh` runs it).
//!
//! 1. Setup, through the staff API: one app, N operators (each with a site, a grant of the
//!    app and a credit large enough for the whole run), concurrently.
//! 2. Optional prefill: K authorizations on every operator, to make long streams.
//! 3. Measure: C workers send signed authorizations (exactly like a headset server, through
//!    [`tests::headset`], or [`tests::headset_grpc`] with `--grpc`) for S seconds, each
//!    picking the next operator round-robin; latency goes into an HdrHistogram, answers are
//!    counted by status and `error_code`.
//! 4. Books, in SQL on the event store: charges (`GameAuthorized.total_cost`) = balance
//!    decreases = charged authorizations × players × price. When a projector runs: its lag
//!    sampled every 100 ms during the run, the wait until its checkpoint reaches the last
//!    event, and `read.operators` balances against the ledger.
//! 5. Where the CPU went during the measured phase (Linux `/proc`): command-api, projector,
//!    the database's backends, PostgreSQL's shared processes, this client, everything else.
//!
//! Exit status: 0 all checks passed, 1 setup or usage failure, 2 the books do not balance,
//! 3 the read side disagrees with the ledger (or the projector did not catch up in time).

use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use clap::{Parser, ValueEnum};
use futures_util::{StreamExt, stream};
use hdrhistogram::Histogram;
use ledger_core::ids::{AppId, OperatorId, SiteId};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tests::headset::{HeadsetClient, Reply};
use tests::headset_grpc::{GrpcHeadsetClient, error_code};
use tokio_postgres::{Client, NoTls};

/// Longest measured phase: a benchmark is bounded, a soak test is another tool.
const MAX_DURATION_SECS: u64 = 3_600;
/// Most concurrent workers: beyond this the client, not the server, is measured.
const MAX_CONCURRENCY: usize = 4_096;
/// Highest latency the histogram holds exactly (µs); longer ones are recorded as this.
const LATENCY_MAX_MICROS: u64 = 120_000_000;
/// Significant digits of every histogram (0.1 % resolution).
const HISTOGRAM_DIGITS: u8 = 3;
/// How often the projector's lag is sampled during the measured phase.
const LAG_SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// How long `--projector auto` watches the checkpoint before deciding no projector runs.
const PROJECTOR_DETECT: Duration = Duration::from_secs(5);
/// How often the catch-up wait looks at the checkpoint.
const CATCH_UP_POLL: Duration = Duration::from_millis(50);
/// How often progress is printed during a phase.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// Retries of an authorization whose outcome is unknown (transport failure) after the run.
const RESOLVE_ATTEMPTS: usize = 3;
/// Pause between those retries.
const RESOLVE_PAUSE: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ProjectorMode {
    /// Use the projector if its checkpoint moves; skip its checks otherwise.
    Auto,
    /// Fail unless a projector is running.
    Require,
    /// Skip every projector check.
    Off,
}

/// Authorize load generator: sets up its own data through the staff API, signs requests like
/// a headset server, reports throughput and latency, then checks the books in SQL.
#[derive(Parser, Debug)]
#[command(name = "loadgen", version)]
struct Cli {
    /// Command API base URL.
    #[arg(
        long,
        env = "MR_LOADGEN_BASE_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    base_url: String,
    /// The ledger database, for the books check and the projector's checkpoint.
    #[arg(
        long,
        env = "MR_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/mrledger",
        hide_env_values = true
    )]
    database_url: String,
    /// Staff user allowed to create apps and operators and to credit them.
    #[arg(long, env = "MR_BOOTSTRAP_ADMIN_USERNAME", default_value = "admin")]
    admin_user: String,
    /// Its password.
    #[arg(long, env = "MR_BOOTSTRAP_ADMIN_PASSWORD", hide_env_values = true)]
    admin_password: String,
    /// Operators to create and spread the load over (round-robin).
    #[arg(long, default_value_t = 1)]
    operators: usize,
    /// Concurrent workers, each with at most one request in flight.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Length of the measured phase (after the warm-up), in seconds.
    #[arg(long, default_value_t = 20)]
    duration_secs: u64,
    /// Stop earlier, after this many authorizations (warm-up included).
    #[arg(long)]
    requests: Option<u64>,
    /// Seconds of load before measuring starts (counted in the books, not in the figures).
    #[arg(long, default_value_t = 1)]
    warmup_secs: u64,
    /// Players per authorization.
    #[arg(long, default_value_t = 2)]
    players: u32,
    /// Unit price of the benchmark app (at most two decimals).
    #[arg(long, default_value = "1.00")]
    price: Decimal,
    /// Opening credit of every operator: enough for every charge of the run.
    #[arg(long, default_value = "1000000000.00")]
    credit: Decimal,
    /// Authorizations appended to every operator's stream before measuring (a long stream).
    #[arg(long, default_value_t = 0)]
    prefill_events: u64,
    /// Concurrent requests while prefilling.
    #[arg(long, default_value_t = 16)]
    prefill_concurrency: usize,
    /// Concurrent staff calls during setup.
    #[arg(long, default_value_t = 32)]
    setup_concurrency: usize,
    /// Projector checks: lag during the run, catch-up, read balances against the ledger.
    #[arg(long, value_enum, default_value_t = ProjectorMode::Auto)]
    projector: ProjectorMode,
    /// Longest wait for the projector to reach the last event (after prefill and after the run).
    #[arg(long, default_value_t = 120)]
    projector_wait_secs: u64,
    /// Send the authorizations over gRPC to this endpoint (`mrledger.headset.v1`, e.g.
    /// http://127.0.0.1:8092) instead of HTTP; setup and the checks stay as they are.
    #[arg(long, value_name = "URL")]
    grpc: Option<String>,
    /// Per-request timeout (ms); a timed-out authorization is resolved by a retry afterwards.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    /// Name of this run in the report.
    #[arg(long, default_value = "authorize")]
    label: String,
    /// Print the report as one JSON object on stdout (the human report goes to stderr).
    #[arg(long)]
    json: bool,
}

impl Cli {
    fn validate(&self) -> anyhow::Result<()> {
        ensure!(self.operators >= 1, "--operators must be at least 1");
        ensure!(
            (1..=MAX_CONCURRENCY).contains(&self.concurrency),
            "--concurrency must be 1..={MAX_CONCURRENCY}"
        );
        ensure!(
            (1..=MAX_CONCURRENCY).contains(&self.prefill_concurrency),
            "--prefill-concurrency must be 1..={MAX_CONCURRENCY}"
        );
        ensure!(
            self.setup_concurrency >= 1,
            "--setup-concurrency must be at least 1"
        );
        ensure!(
            (1..=MAX_DURATION_SECS).contains(&self.duration_secs),
            "--duration-secs must be 1..={MAX_DURATION_SECS}"
        );
        ensure!(
            self.warmup_secs <= MAX_DURATION_SECS,
            "--warmup-secs is at most {MAX_DURATION_SECS}"
        );
        ensure!(self.players >= 1, "--players must be at least 1");
        for (name, amount) in [("--price", self.price), ("--credit", self.credit)] {
            ensure!(
                amount > Decimal::ZERO && amount.round_dp(2) == amount,
                "{name} must be positive with at most two decimals"
            );
        }
        Ok(())
    }

    /// What one authorization costs.
    fn cost(&self) -> Decimal {
        self.price * Decimal::from(self.players)
    }
}

// ----------------------------------------------------------------------------------------
// Setup through the staff API

struct StaffApi {
    http: reqwest::Client,
    base_url: String,
    token: String,
}

impl StaffApi {
    async fn login(
        http: reqwest::Client,
        base_url: &str,
        user: &str,
        password: &str,
    ) -> anyhow::Result<StaffApi> {
        let mut api = StaffApi {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            token: String::new(),
        };
        let data = api
            .post(
                "/api/v1/auth/staff/login",
                json!({ "username": user, "password": password }),
            )
            .await
            .context("staff login (check --admin-user / --admin-password)")?;
        api.token = text(&data, "access_token")?.to_owned();
        Ok(api)
    }

    /// POSTs `body`; the `data` of a 2xx answer, an error naming the call otherwise.
    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base_url))
            .json(&body);
        if !self.token.is_empty() {
            request = request.bearer_auth(&self.token);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        ensure!(status.is_success(), "POST {path}: {status} {body}");
        Ok(body["data"].clone())
    }
}

fn text<'a>(value: &'a Value, field: &str) -> anyhow::Result<&'a str> {
    value[field]
        .as_str()
        .with_context(|| format!("no string {field:?} in {value}"))
}

fn parsed<T: FromStr>(value: &Value, field: &str) -> anyhow::Result<T> {
    text(value, field)?
        .parse()
        .map_err(|_| anyhow::anyhow!("{field:?} in {value} does not parse"))
}

/// One operator the load runs on: a signing client and the site it plays at.
struct Target {
    client: HeadsetClient,
    /// The same key over gRPC (`--grpc`): authorizations go there instead.
    grpc: Option<GrpcHeadsetClient>,
    timeout: Duration,
    site: SiteId,
}

impl Target {
    /// One authorization over the run's transport.
    async fn authorize(&self, session: &str, app: AppId, players: i64) -> Attempt {
        let Some(grpc) = &self.grpc else {
            let result = self
                .client
                .try_authorize(session, app, self.site, players)
                .await;
            return http_attempt(result);
        };
        let mut request = grpc.authorize_request(session, app, self.site, players);
        request.set_timeout(self.timeout);
        match grpc.send_authorize(request).await {
            Ok(answer) => Attempt::Success {
                replayed: answer.idempotent_replayed,
            },
            // No error code: the call never reached the service (transport, deadline).
            Err(status) if error_code(&status).is_empty() => {
                Attempt::NoAnswer(format!("{:?}", status.code()))
            }
            Err(status) => Attempt::Refused {
                label: format!("{:?} {}", status.code(), error_code(&status)),
                server_error: matches!(
                    status.code(),
                    tonic::Code::Unavailable | tonic::Code::Internal
                ),
            },
        }
    }
}

/// What an authorization got back, whichever transport carried it.
enum Attempt {
    Success { replayed: bool },
    Refused { label: String, server_error: bool },
    NoAnswer(String),
}

fn http_attempt(result: Result<Reply, reqwest::Error>) -> Attempt {
    match result {
        Ok(reply) if reply.status == 200 => Attempt::Success {
            replayed: reply.replayed,
        },
        Ok(reply) => Attempt::Refused {
            label: format!("{} {}", reply.status, reply.error_code()),
            server_error: reply.status >= 500,
        },
        Err(e) if e.is_timeout() => Attempt::NoAnswer("timeout".to_owned()),
        Err(e) if e.is_connect() => Attempt::NoAnswer("connect error".to_owned()),
        Err(_) => Attempt::NoAnswer("transport error".to_owned()),
    }
}

struct World {
    app: AppId,
    targets: Vec<Target>,
}

impl World {
    fn operator_ids(&self) -> Vec<String> {
        self.targets
            .iter()
            .map(|t| t.client.operator_id.to_string())
            .collect()
    }
}

async fn set_up(cli: &Cli, http: &reqwest::Client) -> anyhow::Result<World> {
    let staff = StaffApi::login(
        http.clone(),
        &cli.base_url,
        &cli.admin_user,
        &cli.admin_password,
    )
    .await?;
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let app = staff
        .post(
            "/api/v1/admin/apps",
            json!({ "name": format!("bench {run}"), "unit_price": format!("{:.2}", cli.price),
                    "min_players": 1, "max_players": cli.players,
                    "description": "created by loadgen" }),
        )
        .await?;
    let app: AppId = parsed(&app, "id")?;
    let staff = &staff;
    let targets: Vec<anyhow::Result<Target>> = stream::iter(0..cli.operators)
        .map(|i| set_up_operator(cli, staff, http, &run, i, app))
        .buffered(cli.setup_concurrency)
        .collect()
        .await;
    let targets = targets.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    Ok(World { app, targets })
}

/// Registers operator `i`, opens its site, grants the app and credits it.
async fn set_up_operator(
    cli: &Cli,
    staff: &StaffApi,
    http: &reqwest::Client,
    run: &str,
    i: usize,
    app: AppId,
) -> anyhow::Result<Target> {
    let created = staff
        .post(
            "/api/v1/admin/operators",
            json!({ "username": format!("b{run}_{i}"), "name": format!("bench operator {i}"),
                    "phone": "13800000000", "email": "bench@example.com",
                    "category": "standard" }),
        )
        .await?;
    let operator: OperatorId = parsed(&created["operator"], "id")?;
    let credentials = &created["credentials"];
    let ops = format!("/api/v1/admin/operators/{operator}");
    let site = staff
        .post(
            &format!("{ops}/sites"),
            json!({ "name": format!("bench site {i}"), "address": "1 Bench Road" }),
        )
        .await?;
    let site: SiteId = parsed(&site, "id")?;
    staff
        .post(
            &format!("{ops}/grants"),
            json!({ "app_id": app, "expires_at": null }),
        )
        .await?;
    staff
        .post(
            &format!("/api/v1/finance/operators/{operator}/manual-credits"),
            json!({ "amount": format!("{:.2}", cli.credit), "reason": "loadgen opening balance" }),
        )
        .await?;
    let (key_id, secret) = (text(credentials, "key_id")?, text(credentials, "secret")?);
    Ok(Target {
        client: HeadsetClient {
            base_url: cli.base_url.trim_end_matches('/').to_owned(),
            operator_id: operator,
            key_id: key_id.to_owned(),
            secret: secret.to_owned(),
            http: http.clone(),
        },
        grpc: cli
            .grpc
            .as_deref()
            .map(|url| GrpcHeadsetClient::new(url, operator, key_id, secret)),
        timeout: Duration::from_millis(cli.timeout_ms),
        site,
    })
}

// ----------------------------------------------------------------------------------------
// Load

/// How one authorization ended, as counted in the report.
enum Outcome {
    /// 200, not a replay: charged once.
    Charged,
    /// Any other answer: charged nothing (no error ever charges; a replay charges nothing).
    Answered(String),
    /// No answer: charged or not, found out after the run.
    Unknown(String),
}

fn outcome(attempt: Attempt) -> Outcome {
    match attempt {
        Attempt::Success { replayed: false } => Outcome::Charged,
        Attempt::Success { replayed: true } => Outcome::Answered("200 replayed".to_owned()),
        Attempt::Refused { label, .. } => Outcome::Answered(label),
        Attempt::NoAnswer(label) => Outcome::Unknown(label),
    }
}

/// An authorization whose answer never came: (target index, session id).
type Pending = (usize, String);

/// What one worker (then the merge of all) saw.
struct Tally {
    /// Latency of measured requests (µs).
    latency: Histogram<u64>,
    /// Measured answers by "status error_code".
    statuses: BTreeMap<String, u64>,
    /// Measured requests and measured charged ones.
    measured: u64,
    measured_charged: u64,
    /// Charged authorizations of the whole phase, warm-up included (for the books).
    charged: u64,
    unknown: Vec<Pending>,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            latency: Histogram::new_with_bounds(1, LATENCY_MAX_MICROS, HISTOGRAM_DIGITS)
                .expect("valid histogram bounds"),
            statuses: BTreeMap::new(),
            measured: 0,
            measured_charged: 0,
            charged: 0,
            unknown: Vec::new(),
        }
    }

    fn merge(&mut self, other: Tally) {
        self.latency
            .add(&other.latency)
            .expect("histograms of equal bounds add");
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        self.measured += other.measured;
        self.measured_charged += other.measured_charged;
        self.charged += other.charged;
        self.unknown.extend(other.unknown);
    }
}

/// One phase of load: every worker sends until the deadline or the request cap.
struct Phase {
    name: &'static str,
    concurrency: usize,
    warmup: Duration,
    /// `None`: until `cap` requests were sent.
    duration: Option<Duration>,
    cap: Option<u64>,
}

struct PhaseResult {
    tally: Tally,
    /// From the end of the warm-up to the last answer.
    measured_for: Duration,
}

struct Shared<'a> {
    world: &'a World,
    players: i64,
    issued: AtomicU64,
    done: AtomicU64,
    measure_from: Instant,
    deadline: Option<Instant>,
    cap: Option<u64>,
}

async fn run_phase(world: &World, players: u32, phase: &Phase) -> PhaseResult {
    let start = Instant::now();
    let measure_from = start + phase.warmup;
    let shared = Shared {
        world,
        players: i64::from(players),
        issued: AtomicU64::new(0),
        done: AtomicU64::new(0),
        measure_from,
        deadline: phase.duration.map(|d| measure_from + d),
        cap: phase.cap,
    };
    let finished = AtomicBool::new(false);
    let progress = async {
        let mut last = 0;
        let mut tick =
            tokio::time::interval_at(tokio::time::Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);
        while !finished.load(Ordering::Relaxed) {
            tick.tick().await;
            let done = shared.done.load(Ordering::Relaxed);
            eprintln!(
                "  {} {:>4.0} s: {done} answered, {:.0}/s",
                phase.name,
                start.elapsed().as_secs_f64(),
                (done - last) as f64 / PROGRESS_EVERY.as_secs_f64()
            );
            last = done;
        }
    };
    let workers = async {
        let tallies =
            futures_util::future::join_all((0..phase.concurrency).map(|_| worker(&shared))).await;
        finished.store(true, Ordering::Relaxed);
        tallies
    };
    let tallies = tokio::select! {
        tallies = workers => tallies,
        () = progress => unreachable!("progress ends only after the workers"),
    };
    let measured_for = Instant::now().saturating_duration_since(measure_from);
    let mut tally = Tally::new();
    for t in tallies {
        tally.merge(t);
    }
    PhaseResult {
        tally,
        measured_for,
    }
}

async fn worker(shared: &Shared<'_>) -> Tally {
    let mut tally = Tally::new();
    let targets = &shared.world.targets;
    loop {
        if shared.deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let n = shared.issued.fetch_add(1, Ordering::Relaxed);
        if shared.cap.is_some_and(|cap| n >= cap) {
            break;
        }
        let index = usize::try_from(n % targets.len() as u64).expect("index below targets.len()");
        let target = &targets[index];
        let session = target.client.new_session_id();
        let sent = Instant::now();
        let result = target
            .authorize(&session, shared.world.app, shared.players)
            .await;
        let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
        shared.done.fetch_add(1, Ordering::Relaxed);
        let measured = sent >= shared.measure_from;
        let status = match outcome(result) {
            Outcome::Charged => {
                tally.charged += 1;
                if measured {
                    tally.measured_charged += 1;
                }
                "200".to_owned()
            }
            Outcome::Answered(status) => status,
            Outcome::Unknown(status) => {
                tally.unknown.push((index, session));
                status
            }
        };
        if measured {
            tally.measured += 1;
            tally.latency.saturating_record(micros.max(1));
            *tally.statuses.entry(status).or_default() += 1;
        }
    }
    tally
}

/// Retries every authorization that got no answer with its own session id: a replay tells
/// it was charged, a fresh 200 charges it now, a 4xx means it was never charged (no error
/// ever charges); a 5xx or no answer again is retried. Returns how many ended up charged and
/// how many stay unknown.
async fn resolve(world: &World, players: u32, pending: &[Pending]) -> (u64, u64) {
    let mut charged = 0;
    let mut unknown = 0;
    for (index, session) in pending {
        let target = &world.targets[*index];
        let mut settled = false;
        for _ in 0..RESOLVE_ATTEMPTS {
            match target
                .authorize(session, world.app, i64::from(players))
                .await
            {
                Attempt::Success { .. } => {
                    charged += 1;
                    settled = true;
                    break;
                }
                Attempt::Refused {
                    server_error: false,
                    ..
                } => {
                    settled = true;
                    break;
                }
                _ => tokio::time::sleep(RESOLVE_PAUSE).await,
            }
        }
        if !settled {
            unknown += 1;
        }
    }
    (charged, unknown)
}

// ----------------------------------------------------------------------------------------
// Projector: detection, lag, catch-up

struct Projector {
    /// `read.checkpoint` orders by `(tx_id, position)`; older schemas by position only.
    has_tx_id: bool,
}

impl Projector {
    /// Whether the checkpoint has reached the last event; also its position.
    async fn caught_up(&self, db: &Client) -> anyhow::Result<(bool, i64)> {
        let sql = if self.has_tx_id {
            "SELECT coalesce((SELECT (c.tx_id, c.position) >= (e.tx_id, e.position) FROM events e \
                              ORDER BY e.tx_id DESC, e.position DESC LIMIT 1), true), c.position \
             FROM read.checkpoint c"
        } else {
            "SELECT coalesce((SELECT c.position >= max(e.position) FROM events e), true), c.position \
             FROM read.checkpoint c"
        };
        let row = db.query_one(sql, &[]).await?;
        Ok((row.get(0), row.get(1)))
    }

    /// Events behind (last position − checkpoint position) and age of the oldest event not
    /// yet projected (ms, 0 when none).
    async fn lag(&self, db: &Client) -> anyhow::Result<(u64, u64)> {
        let row = db
            .query_one(
                "SELECT coalesce((SELECT max(position) FROM events), 0) - c.position, \
                        coalesce((SELECT (extract(epoch FROM clock_timestamp() - e.recorded_at) * 1000)::int8 \
                                  FROM events e WHERE e.position > c.position \
                                  ORDER BY e.position LIMIT 1), 0) \
                 FROM read.checkpoint c",
                &[],
            )
            .await?;
        let behind: i64 = row.get(0);
        let age_ms: i64 = row.get(1);
        Ok((
            u64::try_from(behind).unwrap_or(0),
            u64::try_from(age_ms).unwrap_or(0),
        ))
    }

    /// Waits until the checkpoint reaches the last event; how long it took, or `None` when
    /// `limit` passed first.
    async fn wait_caught_up(
        &self,
        db: &Client,
        limit: Duration,
    ) -> anyhow::Result<Option<Duration>> {
        let start = Instant::now();
        loop {
            if self.caught_up(db).await?.0 {
                return Ok(Some(start.elapsed()));
            }
            if start.elapsed() >= limit {
                return Ok(None);
            }
            tokio::time::sleep(CATCH_UP_POLL).await;
        }
    }
}

/// A running projector, if any: its checkpoint must reach the last event or at least move
/// within [`PROJECTOR_DETECT`].
async fn detect_projector(db: &Client) -> anyhow::Result<Option<Projector>> {
    let exists: bool = db
        .query_one("SELECT to_regclass('read.checkpoint') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let has_tx_id: bool = db
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM information_schema.columns \
             WHERE table_schema = 'read' AND table_name = 'checkpoint' AND column_name = 'tx_id')",
            &[],
        )
        .await?
        .get(0);
    let projector = Projector { has_tx_id };
    let (_, first) = projector.caught_up(db).await?;
    let start = Instant::now();
    while start.elapsed() < PROJECTOR_DETECT {
        let (done, position) = projector.caught_up(db).await?;
        if done || position != first {
            return Ok(Some(projector));
        }
        tokio::time::sleep(CATCH_UP_POLL).await;
    }
    Ok(None)
}

struct LagSamples {
    events: Histogram<u64>,
    age_ms: Histogram<u64>,
    failed: u64,
}

/// Samples the lag every [`LAG_SAMPLE_EVERY`] until `stop` is set.
async fn sample_lag(projector: &Projector, db: &Client, stop: &AtomicBool) -> LagSamples {
    let mut samples = LagSamples {
        events: Histogram::new(HISTOGRAM_DIGITS).expect("valid histogram"),
        age_ms: Histogram::new(HISTOGRAM_DIGITS).expect("valid histogram"),
        failed: 0,
    };
    let mut tick = tokio::time::interval(LAG_SAMPLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        match projector.lag(db).await {
            Ok((behind, age)) => {
                samples.events.saturating_record(behind);
                samples.age_ms.saturating_record(age);
            }
            Err(_) => samples.failed += 1,
        }
    }
    samples
}

// ----------------------------------------------------------------------------------------
// Books

struct Books {
    operators_found: usize,
    games: i64,
    charged: Decimal,
    credited: Decimal,
    final_balances: Decimal,
    /// Ledger balance (credits − charges) of every operator.
    ledger_balance: BTreeMap<String, Decimal>,
}

async fn read_books(db: &Client, operator_ids: &[String]) -> anyhow::Result<Books> {
    let rows = db
        .query(
            "SELECT aggregate_id, \
                    count(*) FILTER (WHERE event_type = 'GameAuthorized'), \
                    coalesce(sum((payload -> 'GameAuthorized' ->> 'total_cost')::numeric), 0), \
                    coalesce(sum((payload -> 'BalanceCredited' ->> 'amount')::numeric), 0), \
                    coalesce((array_agg(coalesce(payload -> 'GameAuthorized' ->> 'balance_after', \
                                                 payload -> 'BalanceCredited' ->> 'balance_after') \
                                        ORDER BY sequence DESC) \
                              FILTER (WHERE event_type IN ('GameAuthorized', 'BalanceCredited')))[1]::numeric, 0) \
             FROM events WHERE aggregate_type = 'Operator' AND aggregate_id = ANY($1) \
             GROUP BY aggregate_id",
            &[&operator_ids],
        )
        .await
        .context("reading the books")?;
    let mut books = Books {
        operators_found: rows.len(),
        games: 0,
        charged: Decimal::ZERO,
        credited: Decimal::ZERO,
        final_balances: Decimal::ZERO,
        ledger_balance: BTreeMap::new(),
    };
    for row in rows {
        let (charged, credited): (Decimal, Decimal) = (row.get(2), row.get(3));
        books.games += row.get::<_, i64>(1);
        books.charged += charged;
        books.credited += credited;
        books.final_balances += row.get::<_, Decimal>(4);
        books.ledger_balance.insert(row.get(0), credited - charged);
    }
    Ok(books)
}

/// Operators whose `read.operators` balance differs from the ledger (or is missing).
async fn read_side_mismatches(db: &Client, books: &Books) -> anyhow::Result<Vec<String>> {
    let ids: Vec<uuid::Uuid> = books
        .ledger_balance
        .keys()
        .map(|id| id.parse())
        .collect::<Result<_, _>>()?;
    let rows = db
        .query(
            "SELECT id::text, balance FROM read.operators WHERE id = ANY($1)",
            &[&ids],
        )
        .await
        .context("reading read.operators")?;
    let read: BTreeMap<String, Decimal> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    Ok(books
        .ledger_balance
        .iter()
        .filter(|(id, balance)| read.get(*id) != Some(balance))
        .map(|(id, balance)| format!("{id}: ledger {balance}, read {:?}", read.get(id)))
        .collect())
}

// ----------------------------------------------------------------------------------------
// CPU accounting (Linux /proc): who used the two cores while we measured

/// Clock ticks per second of the CPU times in `/proc` (USER_HZ, 100 on Linux).
const USER_HZ: f64 = 100.0;

/// Processes are grouped by what they are to the benchmark. A PostgreSQL backend belongs
/// to the client holding the other end of its connection (matched by TCP port).
const CPU_GROUPS: [&str; 9] = [
    "command-api",
    "postgres for command-api",
    "projector",
    "postgres for projector",
    "loadgen",
    "postgres for loadgen",
    "postgres other",
    "redis",
    "otlp-sink",
];
const COMMAND_API: usize = 0;
const PROJECTOR: usize = 2;
const LOADGEN: usize = 4;
/// A backend's group is its client's group + 1.
const BACKEND_OF: usize = 1;
/// WAL writer, checkpointer, background writer, autovacuum, unmatched backends of the db.
const POSTGRES_OTHER: usize = 6;
/// The rate limits' Redis, and the trace collector of traced runs: what limits and tracing
/// cost outside command-api.
const REDIS: usize = 7;
const OTLP_SINK: usize = 8;

struct CpuSnapshot {
    at: Instant,
    /// Busy ticks of all cores (user, nice, system, irq, softirq, steal).
    busy: u64,
    /// Per process: its user + system ticks and group (`None`: "other processes").
    by_pid: HashMap<u32, (u64, Option<usize>)>,
}

/// Local TCP port of every socket inode (`/proc/net/tcp`, `/proc/net/tcp6`).
fn socket_ports() -> HashMap<u64, u16> {
    let mut ports = HashMap::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(inode)) = (fields.get(1), fields.get(9)) else {
                continue;
            };
            let port = local
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            if let (Some(port), Ok(inode)) = (port, inode.parse()) {
                ports.insert(inode, port);
            }
        }
    }
    ports
}

/// Local ports of the TCP sockets process `pid` holds.
fn ports_of(pid: u32, ports: &HashMap<u64, u16>) -> Vec<u16> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    fds.flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|target| {
            let target = target
                .to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')?;
            ports.get(&target.parse().ok()?).copied()
        })
        .collect()
}

/// The group of a client process by its executable, if it is one of ours.
fn client_group(pid: u32, cmdline: &str) -> Option<usize> {
    if pid == std::process::id() {
        return Some(LOADGEN);
    }
    let argv0 = cmdline.split('\0').next().unwrap_or("");
    match argv0.rsplit('/').next().unwrap_or("") {
        "command-api" => Some(COMMAND_API),
        "projector" => Some(PROJECTOR),
        "otlp-sink" => Some(OTLP_SINK),
        name if name.starts_with("redis-server") => Some(REDIS),
        _ => None,
    }
}

/// The group of a PostgreSQL process: the backend of one of our clients, another process
/// of the server or of the bench database, or `None` (a backend of another database).
fn postgres_group(cmdline: &str, db_name: &str, clients: &HashMap<u16, usize>) -> Option<usize> {
    let of_bench_db = cmdline.split_whitespace().any(|word| word == db_name);
    // "postgres: 15/main: postgres mrledger_bench 127.0.0.1(54321) idle"
    let port = cmdline
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .and_then(|(port, _)| port.parse::<u16>().ok());
    if let Some(client) = port.and_then(|p| clients.get(&p)) {
        return Some(client + BACKEND_OF);
    }
    let server_process = [
        "walwriter",
        "checkpointer",
        "background writer",
        "autovacuum launcher",
        "logical replication",
        "archiver",
        "stats collector",
    ]
    .iter()
    .any(|name| cmdline.contains(name));
    (of_bench_db || server_process).then_some(POSTGRES_OTHER)
}

/// Every process's CPU time and the machine's busy time, or `None` without `/proc`.
fn cpu_snapshot(db_name: &str) -> Option<CpuSnapshot> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let busy = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| fields.get(i))
        .sum();
    let mut processes = Vec::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // After "pid (comm) " comes field 3 (state); utime and stime are fields 14 and 15.
        let Some((_, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let ticks: u64 = rest
            .split_whitespace()
            .skip(11)
            .take(2)
            .filter_map(|f| f.parse::<u64>().ok())
            .sum();
        let cmdline = std::fs::read_to_string(entry.path().join("cmdline")).unwrap_or_default();
        processes.push((pid, ticks, cmdline));
    }
    let ports = socket_ports();
    let mut clients = HashMap::new();
    for (pid, _, cmdline) in &processes {
        // Only our database clients have backends to attribute.
        let database_client = client_group(*pid, cmdline)
            .filter(|group| [COMMAND_API, PROJECTOR, LOADGEN].contains(group));
        if let Some(group) = database_client {
            for port in ports_of(*pid, &ports) {
                clients.insert(port, group);
            }
        }
    }
    let by_pid = processes
        .into_iter()
        .map(|(pid, ticks, cmdline)| {
            let group = client_group(pid, &cmdline).or_else(|| {
                cmdline
                    .starts_with("postgres:")
                    .then(|| postgres_group(&cmdline, db_name, &clients))
                    .flatten()
            });
            (pid, (ticks, group))
        })
        .collect();
    Some(CpuSnapshot {
        at: Instant::now(),
        busy,
        by_pid,
    })
}

/// CPU seconds per group between two snapshots, and per measured request.
fn cpu_report(before: &CpuSnapshot, after: &CpuSnapshot, requests: u64) -> Value {
    let window = after.at.duration_since(before.at).as_secs_f64();
    let mut ticks = [0u64; CPU_GROUPS.len()];
    for (pid, (now, group)) in &after.by_pid {
        let Some(group) = group else { continue };
        let earlier = before.by_pid.get(pid).map_or(0, |(t, _)| *t);
        ticks[*group] += now.saturating_sub(earlier);
    }
    let busy = after.busy.saturating_sub(before.busy);
    let named: u64 = ticks.iter().sum();
    let other = busy.saturating_sub(named);
    let seconds = |t: u64| t as f64 / USER_HZ;
    let per_request = |t: u64| {
        if requests == 0 {
            0.0
        } else {
            seconds(t) * 1_000.0 / requests as f64
        }
    };
    let mut by_group = serde_json::Map::new();
    let mut ms_per_request = serde_json::Map::new();
    for (name, t) in CPU_GROUPS
        .iter()
        .zip(ticks)
        .chain([(&"other processes", other)])
    {
        by_group.insert((*name).to_owned(), json!(seconds(t)));
        ms_per_request.insert((*name).to_owned(), json!(per_request(t)));
    }
    json!({
        "window_s": window,
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "busy_cores": seconds(busy) / window,
        "seconds": by_group,
        "ms_per_request": ms_per_request,
        "total_ms_per_request": per_request(busy),
    })
}

// ----------------------------------------------------------------------------------------
// Report

fn ms(micros: u64) -> f64 {
    micros as f64 / 1_000.0
}

fn latency_json(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return Value::Null;
    }
    json!({
        "p50": ms(h.value_at_quantile(0.50)),
        "p90": ms(h.value_at_quantile(0.90)),
        "p99": ms(h.value_at_quantile(0.99)),
        "p999": ms(h.value_at_quantile(0.999)),
        "max": ms(h.max()),
        "mean": h.mean() / 1_000.0,
    })
}

fn quantiles_json(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return Value::Null;
    }
    json!({ "p50": h.value_at_quantile(0.50), "p99": h.value_at_quantile(0.99), "max": h.max() })
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    cli.validate()?;
    let (db, connection) = tokio_postgres::connect(&cli.database_url, NoTls)
        .await
        .context("connecting to --database-url")?;
    tokio::spawn(connection);
    let (lag_db, connection) = tokio_postgres::connect(&cli.database_url, NoTls).await?;
    tokio::spawn(connection);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(
            cli.concurrency.max(cli.prefill_concurrency) + cli.setup_concurrency,
        )
        .timeout(Duration::from_millis(cli.timeout_ms))
        .build()?;

    eprintln!(
        "loadgen {}: {} operator(s), {} client(s), {} s (+{} s warm-up), {} player(s) × {:.2}, prefill {}",
        cli.label,
        cli.operators,
        cli.concurrency,
        cli.duration_secs,
        cli.warmup_secs,
        cli.players,
        cli.price,
        cli.prefill_events
    );
    let setup_start = Instant::now();
    let world = set_up(&cli, &http).await?;
    let setup_s = setup_start.elapsed().as_secs_f64();
    eprintln!("  setup: {} operator(s) in {setup_s:.1} s", cli.operators);

    let projector = match cli.projector {
        ProjectorMode::Off => None,
        mode => {
            let found = detect_projector(&db).await?;
            if found.is_none() && mode == ProjectorMode::Require {
                bail!("no projector is running (read.checkpoint does not move)");
            }
            eprintln!(
                "  projector: {}",
                if found.is_some() {
                    "running"
                } else {
                    "not running, its checks are skipped"
                }
            );
            found
        }
    };
    let wait_limit = Duration::from_secs(cli.projector_wait_secs);

    let mut charged_total = 0u64;
    let mut unknown = Vec::new();
    let mut prefill = Value::Null;
    if cli.prefill_events > 0 {
        let cap = cli.prefill_events * cli.operators as u64;
        let result = run_phase(
            &world,
            cli.players,
            &Phase {
                name: "prefill",
                concurrency: cli.prefill_concurrency,
                warmup: Duration::ZERO,
                duration: None,
                cap: Some(cap),
            },
        )
        .await;
        let t = result.tally;
        let secs = result.measured_for.as_secs_f64();
        eprintln!(
            "  prefill: {} of {cap} charged in {secs:.1} s ({:.0}/s)",
            t.charged,
            t.charged as f64 / secs
        );
        charged_total += t.charged;
        unknown.extend(t.unknown);
        let mut catch_up = Value::Null;
        if let Some(p) = &projector {
            let waited = p.wait_caught_up(&db, wait_limit).await?;
            catch_up = json!(waited.map(|d| d.as_secs_f64()));
            eprintln!("  projector caught up after prefill: {waited:?}");
        }
        prefill = json!({ "requested": cap, "charged": t.charged, "seconds": secs,
                          "rate": t.charged as f64 / secs, "statuses": t.statuses,
                          "projector_catch_up_s": catch_up });
    }

    let stop_sampling = AtomicBool::new(false);
    let sampling = async {
        match &projector {
            Some(p) => Some(sample_lag(p, &lag_db, &stop_sampling).await),
            None => None,
        }
    };
    let phase = Phase {
        name: "measure",
        concurrency: cli.concurrency,
        warmup: Duration::from_secs(cli.warmup_secs),
        duration: Some(Duration::from_secs(cli.duration_secs)),
        cap: cli.requests,
    };
    let db_name = cli
        .database_url
        .parse::<tokio_postgres::Config>()?
        .get_dbname()
        .unwrap_or("postgres")
        .to_owned();
    let cpu_before = async {
        tokio::time::sleep(phase.warmup).await;
        cpu_snapshot(&db_name)
    };
    let measuring = async {
        let result = run_phase(&world, cli.players, &phase).await;
        let cpu_after = cpu_snapshot(&db_name);
        stop_sampling.store(true, Ordering::Relaxed);
        (result, cpu_after)
    };
    let ((result, cpu_after), lag, cpu_before) = tokio::join!(measuring, sampling, cpu_before);
    let t = result.tally;
    charged_total += t.charged;
    unknown.extend(t.unknown);
    let cpu = match (&cpu_before, &cpu_after) {
        (Some(before), Some(after)) => cpu_report(before, after, t.measured),
        _ => Value::Null,
    };
    let secs = result.measured_for.as_secs_f64();
    let throughput = t.measured as f64 / secs;
    let ok_rps = t.measured_charged as f64 / secs;

    let (resolved_charged, still_unknown) = resolve(&world, cli.players, &unknown).await;
    charged_total += resolved_charged;

    // Books: charges = balance decreases = charged authorizations × cost.
    let books = read_books(&db, &world.operator_ids()).await?;
    let cost = cli.cost();
    let expected = cost * Decimal::from(charged_total);
    let decrease = books.credited - books.final_balances;
    let mut problems = Vec::new();
    if books.operators_found != world.targets.len() {
        problems.push(format!(
            "{} of {} operators have events",
            books.operators_found,
            world.targets.len()
        ));
    }
    if u64::try_from(books.games).ok() != Some(charged_total) {
        problems.push(format!(
            "{} GameAuthorized events, {charged_total} charged answers",
            books.games
        ));
    }
    if books.charged != expected {
        problems.push(format!(
            "charges {} ≠ {charged_total} × {cost} = {expected}",
            books.charged
        ));
    }
    if decrease != books.charged {
        problems.push(format!(
            "balance decrease {decrease} ≠ charges {}",
            books.charged
        ));
    }
    if books.credited != cli.credit * Decimal::from(world.targets.len()) {
        problems.push(format!("credits {} ≠ operators × --credit", books.credited));
    }
    if still_unknown > 0 {
        problems.push(format!(
            "{still_unknown} authorization(s) without a known outcome"
        ));
    }
    let books_ok = problems.is_empty();

    // Read side: lag during the run, catch-up, balances.
    let mut read_ok = true;
    let projector_json = match (&projector, lag) {
        (Some(p), Some(lag)) => {
            let waited = p.wait_caught_up(&db, wait_limit).await?;
            let mismatches = if waited.is_some() {
                read_side_mismatches(&db, &books).await?
            } else {
                Vec::new()
            };
            read_ok = waited.is_some() && mismatches.is_empty();
            let p99_events = lag.events.value_at_quantile(0.99);
            json!({
                "running": true,
                "samples": lag.events.len(),
                "failed_samples": lag.failed,
                "lag_events": quantiles_json(&lag.events),
                "lag_p99_seconds_est": if ok_rps > 0.0 { p99_events as f64 / ok_rps } else { 0.0 },
                "oldest_unprojected_ms": quantiles_json(&lag.age_ms),
                "caught_up": waited.is_some(),
                "catch_up_s": waited.map(|d| d.as_secs_f64()),
                "read_balances_checked": books.ledger_balance.len(),
                "read_balance_mismatches": mismatches.len(),
                "mismatch_examples": mismatches.iter().take(5).collect::<Vec<_>>(),
            })
        }
        _ => json!({ "running": false }),
    };

    let report = json!({
        "label": cli.label,
        "base_url": cli.base_url,
        "transport": if cli.grpc.is_some() { "grpc" } else { "http" },
        "grpc_url": cli.grpc,
        "operators": cli.operators,
        "concurrency": cli.concurrency,
        "duration_secs": cli.duration_secs,
        "warmup_secs": cli.warmup_secs,
        "players": cli.players,
        "price": format!("{:.2}", cli.price),
        "setup_s": setup_s,
        "prefill": prefill,
        "measured_requests": t.measured,
        "measured_s": secs,
        "throughput_rps": throughput,
        "ok_rps": ok_rps,
        "latency_ms": latency_json(&t.latency),
        "statuses": t.statuses,
        "books": {
            "ok": books_ok,
            "charged_answers": charged_total,
            "resolved_after_run": resolved_charged,
            "games": books.games,
            "charges": format!("{:.2}", books.charged),
            "balance_decrease": format!("{decrease:.2}"),
            "expected": format!("{expected:.2}"),
            "problems": problems,
        },
        "projector": projector_json,
        "cpu": cpu,
    });

    let human = human_report(&report);
    if cli.json {
        eprint!("{human}");
        println!("{report}");
    } else {
        print!("{human}");
    }
    Ok(if !books_ok {
        ExitCode::from(2)
    } else if !read_ok {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

fn human_report(r: &Value) -> String {
    let mut out = String::new();
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    out.push_str(&format!(
        "{}: {} requests in {:.2} s → {:.0} req/s ({:.0} charged/s)\n",
        r["label"].as_str().unwrap_or(""),
        r["measured_requests"],
        f(&r["measured_s"]),
        f(&r["throughput_rps"]),
        f(&r["ok_rps"]),
    ));
    let l = &r["latency_ms"];
    out.push_str(&format!(
        "  latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}  mean {:.2}\n",
        f(&l["p50"]),
        f(&l["p90"]),
        f(&l["p99"]),
        f(&l["p999"]),
        f(&l["max"]),
        f(&l["mean"]),
    ));
    let statuses: Vec<String> = r["statuses"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k} × {v}")).collect())
        .unwrap_or_default();
    out.push_str(&format!("  answers: {}\n", statuses.join(", ")));
    let b = &r["books"];
    if b["ok"].as_bool() == Some(true) {
        out.push_str(&format!(
            "  books: OK: {} games, charges {} = balance decrease {} = {} charged × cost\n",
            b["games"],
            b["charges"].as_str().unwrap_or(""),
            b["balance_decrease"].as_str().unwrap_or(""),
            b["charged_answers"],
        ));
    } else {
        out.push_str(&format!("  books: MISMATCH: {}\n", b["problems"]));
    }
    let p = &r["projector"];
    if p["running"].as_bool() == Some(true) {
        out.push_str(&format!(
            "  projector: lag p50 {} / p99 {} / max {} events (p99 ≈ {:.3} s at this rate); \
             oldest unprojected event p99 {} ms; caught up {} s after the run; \
             read balances: {} mismatch(es) of {}\n",
            p["lag_events"]["p50"],
            p["lag_events"]["p99"],
            p["lag_events"]["max"],
            f(&p["lag_p99_seconds_est"]),
            p["oldest_unprojected_ms"]["p99"],
            p["catch_up_s"]
                .as_f64()
                .map_or("NOT".to_owned(), |s| format!("{s:.2}")),
            p["read_balance_mismatches"],
            p["read_balances_checked"],
        ));
    } else {
        out.push_str("  projector: not running (checks skipped)\n");
    }
    if let Some(per) = r["cpu"]["ms_per_request"].as_object() {
        let parts: Vec<String> = per
            .iter()
            .map(|(k, v)| format!("{k} {:.3}", f(v)))
            .collect();
        out.push_str(&format!(
            "  cpu: {:.2} of {} cores busy; ms per request: {} (total {:.3})\n",
            f(&r["cpu"]["busy_cores"]),
            r["cpu"]["cores"],
            parts.join(", "),
            f(&r["cpu"]["total_ms_per_request"]),
        ));
    }
    out
}
