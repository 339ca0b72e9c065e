//! Data drills (`make drill`): a streaming read replica under load, and backups with a
//! point-in-time restore. Each prints one figure block and fails unless the books are exact
//! (every 200 has exactly one charge, no failure has one, balance = credit − charges = read
//! side) and `projector verify` passes.
//!
//! - Replica: a private primary with a streaming replica (`pg_basebackup -R`) that serves the
//!   query API's reads. Under an authorization load, an operator's staff keeps adding sites
//!   and reading them back with the command's position token: every such read must show the
//!   new site, whichever database serves it. The replica's lag is sampled throughout.
//! - Restore: a private primary archiving its WAL through `deploy/backup/backup.sh`; a base
//!   backup; load A; time T and every operator's balance at T recorded; load B; then
//!   `deploy/backup/restore.sh --target-time T` into a fresh cluster, where `projector verify`
//!   passes and every balance equals the one recorded at T, and a full restore (no target),
//!   whose balances equal the final ones.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use serde_json::{Value, json};
use tests::cluster::{Cluster, free_port};
use tests::db::TestDb;
use tests::load::{self, Arcade, Attempt, Load};
use tests::pg_cluster::PgCluster;
use tokio_postgres::NoTls;

/// Shared Redis of the tests (each cluster publishes on a channel of its own).
const REDIS_URL: &str = "redis://127.0.0.1:6379";
/// How long the replica drill keeps its load running.
const REPLICA_LOAD: Duration = Duration::from_secs(10);
/// Games charged by each of the restore drill's loads.
const GAMES_PER_LOAD: u64 = 150;
/// Longest wait for anything to settle (replica catching up, WAL archived).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(50);
/// Lag samples are taken this often during the replica drill.
const LAG_SAMPLE_EVERY: Duration = Duration::from_millis(100);

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/backup")
        .join(name)
        .canonicalize()
        .unwrap_or_else(|e| panic!("deploy/backup/{name}: {e}"))
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    tokio::spawn(connection);
    client
}

/// Every operator's balance in the read tables.
async fn balances(client: &tokio_postgres::Client) -> BTreeMap<String, Decimal> {
    client
        .query(
            "SELECT id::text, balance FROM read.operators ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

/// Every operator's balance as its last money event left it.
async fn ledger_balances(client: &tokio_postgres::Client) -> BTreeMap<String, Decimal> {
    client
        .query(
            "SELECT DISTINCT ON (aggregate_id) aggregate_id, payload::text, event_type FROM events \
             WHERE aggregate_type = 'Operator' AND payload::text LIKE '%\"balance_after\"%' \
             ORDER BY aggregate_id, sequence DESC",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| {
            let payload: Value = serde_json::from_str(row.get(1)).unwrap();
            let kind: String = row.get(2);
            let balance = payload[&kind]["balance_after"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            (row.get(0), balance)
        })
        .collect()
}

fn copies(attempts: &[Attempt]) -> Vec<Attempt> {
    attempts
        .iter()
        .map(|a| Attempt {
            session: a.session.clone(),
            site: a.site,
            sent: a.sent,
            answered: a.answered,
            outcome: a.outcome.clone(),
        })
        .collect()
}

/// A temporary directory the `postgres` user may write to; removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("mr-{name}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a backup script to completion; panics with its output if it fails.
async fn run_script(path: &Path, args: &[&str], env: &[(&str, String)]) -> String {
    let mut command = tokio::process::Command::new(path);
    command.args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command
        .output()
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{} {args:?} failed:\n{stdout}{}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

async fn verify(cluster: &Cluster, database_url: &str, what: &str) {
    let verify = cluster.run_projector_on(database_url, &["verify"]).await;
    assert!(
        verify.status.success(),
        "projector verify on {what}: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}

#[tokio::test]
async fn replica_drill_reads_your_writes_under_load_with_exact_books() {
    let primary = PgCluster::start().await;
    let replica = PgCluster::start_replica_of(&primary).await;
    let db = TestDb::on_server(primary.url()).await;
    let replica_url = format!("{}/{}", replica.url(), db.name);
    let cluster = Cluster::start_on(
        db,
        REDIS_URL,
        &[("MR_QUERY_REPLICA_URL", replica_url.as_str())],
    )
    .await;
    let admin = cluster.admin_token().await;
    let arcade = Arcade::open(&cluster).await;
    let sites_path = format!(
        "{}/api/v1/admin/operators/{}/sites",
        cluster.query, arcade.operator
    );
    let get = async |position: Option<&str>| {
        let mut request = cluster.http.get(&sites_path).bearer_auth(&admin);
        if let Some(position) = position {
            request = request.header("X-Ledger-Min-Position", position);
        }
        let response = request.send().await.unwrap();
        let served_by = response
            .headers()
            .get("x-ledger-served-by")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        (status, served_by, body)
    };
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    while get(None).await.1 != "replica" {
        assert!(Instant::now() < deadline, "reads never went to the replica");
        tokio::time::sleep(POLL).await;
    }

    let load = Load::start(&arcade);
    let started = Instant::now();
    let (mut checks, mut passed, mut stale_without_token) = (0, 0, 0);
    let mut served_by: BTreeMap<String, usize> = BTreeMap::new();
    let (mut max_lag_bytes, mut max_lag_seconds, mut lag_samples) = (0_i64, 0.0_f64, 0);
    let mut last_sample = Instant::now() - LAG_SAMPLE_EVERY;
    while started.elapsed() < REPLICA_LOAD {
        if last_sample.elapsed() >= LAG_SAMPLE_EVERY {
            last_sample = Instant::now();
            let ready: Value = cluster
                .http
                .get(format!("{}/health/ready", cluster.query))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let lag = &ready["checks"]["replica"];
            max_lag_bytes = max_lag_bytes.max(lag["bytes"].as_i64().unwrap_or(0));
            max_lag_seconds = max_lag_seconds.max(lag["seconds"].as_f64().unwrap_or(0.0));
            lag_samples += 1;
        }
        // A write, then a read of it with its token.
        let name = format!("门店-{checks}");
        let response = cluster
            .http
            .post(format!(
                "{}/api/v1/admin/operators/{}/sites",
                cluster.command, arcade.operator
            ))
            .bearer_auth(&admin)
            .json(&json!({ "name": name, "address": "上海市" }))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        let token = response
            .headers()
            .get("x-ledger-position")
            .expect("X-Ledger-Position on a command that appended")
            .to_str()
            .unwrap()
            .to_owned();
        let shows = |body: &Value| {
            body["data"]
                .as_array()
                .or_else(|| body["data"]["items"].as_array())
                .is_some_and(|sites| sites.iter().any(|s| s["name"] == name.as_str()))
        };
        let (_, _, plain) = get(None).await;
        if !shows(&plain) {
            stale_without_token += 1;
        }
        let (status, by, body) = get(Some(&token)).await;
        checks += 1;
        *served_by.entry(by).or_default() += 1;
        if status == 200 && shows(&body) {
            passed += 1;
        }
    }
    let attempts = load.finish().await;
    let figures = load::settle_and_check(&cluster, &arcade, attempts, &[]).await;

    // The replica reaches the same books as the primary.
    let replica_db = connect(&replica_url).await;
    let primary_db = cluster.db.client().await;
    let expected = balances(&primary_db).await;
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    while balances(&replica_db).await != expected {
        assert!(Instant::now() < deadline, "the replica never caught up");
        tokio::time::sleep(POLL).await;
    }

    figures.print("drill: read replica under load");
    eprintln!(
        "replica       lag max {max_lag_bytes} bytes / {max_lag_seconds:.3} s over \
         {lag_samples} samples; balances on the replica equal the primary's\n\
         read-your-writes {checks} checks, {passed} passed (served by {served_by:?}); \
         {stale_without_token} reads without the token right after the write missed it\n"
    );
    assert!(checks > 0);
    assert_eq!(
        passed, checks,
        "a read with the command's token missed the write"
    );
}

#[tokio::test]
async fn restore_drill_brings_back_every_balance_at_a_point_in_time() {
    let backups = Scratch::new("backups");
    let backup_dir = backups.0.to_str().unwrap().to_owned();
    let archive = format!(
        "archive_mode = on\n\
         archive_command = 'MR_BACKUP_DIR={backup_dir} {} archive-wal %p %f'\n",
        script("backup.sh").display()
    );
    let pg = PgCluster::start_with(&archive).await;
    let db = TestDb::on_server(pg.url()).await;
    let db_name = db.name.clone();
    let cluster = Cluster::start_on(db, REDIS_URL, &[]).await;
    let arcade = Arcade::open(&cluster).await;
    let primary = cluster.db.client().await;
    let bin = pg.bin_dir().to_str().unwrap().to_owned();
    let env = [
        ("MR_BACKUP_DIR", backup_dir.clone()),
        ("PGHOST", "127.0.0.1".to_owned()),
        ("PGPORT", pg.port.to_string()),
        ("PGUSER", "postgres".to_owned()),
        ("PG_BINDIR", bin.clone()),
    ];

    let backup_started = Instant::now();
    let base = run_script(&script("backup.sh"), &["base"], &env).await;
    let base = base.trim().to_owned();
    let backup_took = backup_started.elapsed();

    // Load A, settled and checked; then T and every balance at T.
    let load_a = Load::start(&arcade);
    load_a.until_charged(GAMES_PER_LOAD).await;
    let attempts_a = load_a.finish().await;
    let figures_a = load::settle_and_check(&cluster, &arcade, copies(&attempts_a), &[]).await;
    let at_t = balances(&primary).await;
    assert_eq!(at_t, ledger_balances(&primary).await);
    let target: String = primary
        .query_one("SELECT clock_timestamp()::text", &[])
        .await
        .unwrap()
        .get(0);
    // Load B commits strictly after T.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let load_b = Load::start(&arcade);
    load_b.until_charged(GAMES_PER_LOAD).await;
    let mut attempts = attempts_a;
    attempts.extend(load_b.finish().await);
    let figures = load::settle_and_check(&cluster, &arcade, attempts, &[]).await;
    let at_end = balances(&primary).await;
    assert_eq!(at_end, ledger_balances(&primary).await);
    assert_ne!(
        at_t, at_end,
        "load B changed nothing: the drill proves nothing"
    );

    // Everything written so far reaches the archive.
    let segment: String = primary
        .query_one("SELECT pg_walfile_name(pg_switch_wal())", &[])
        .await
        .unwrap()
        .get(0);
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let archived: Option<String> = primary
            .query_one("SELECT last_archived_wal FROM pg_stat_archiver", &[])
            .await
            .unwrap()
            .get(0);
        if archived.is_some_and(|a| a >= segment) {
            break;
        }
        assert!(Instant::now() < deadline, "{segment} never archived");
        tokio::time::sleep(POLL).await;
    }
    let archived_files = std::fs::read_dir(backups.0.join("wal")).unwrap().count();

    // Point in time: T.
    let restores = Scratch::new("restores");
    let restore = async |name: &str, target: Option<&str>| {
        let data = restores.0.join(name);
        let port = free_port();
        let port_text = port.to_string();
        let data_text = data.to_str().unwrap().to_owned();
        let mut args = vec![
            "--backup",
            base.as_str(),
            "--data",
            data_text.as_str(),
            "--port",
            port_text.as_str(),
        ];
        if let Some(target) = target {
            args.extend(["--target-time", target]);
        }
        let started = Instant::now();
        run_script(&script("restore.sh"), &args, &env).await;
        let took = started.elapsed();
        let restored = PgCluster::adopt(restores.0.join(format!("{name}-root")), data, port);
        (restored, took)
    };
    let (pitr, pitr_took) = restore("pitr", Some(&target)).await;
    let pitr_url = format!("{}/{db_name}", pitr.url());
    verify(&cluster, &pitr_url, "the point-in-time restore").await;
    let pitr_db = connect(&pitr_url).await;
    assert_eq!(balances(&pitr_db).await, at_t, "balances restored to T");
    assert_eq!(
        ledger_balances(&pitr_db).await,
        at_t,
        "ledger restored to T"
    );
    let games_at_t: i64 = pitr_db
        .query_one(
            "SELECT count(*) FROM events WHERE event_type = 'GameAuthorized'",
            &[],
        )
        .await
        .unwrap()
        .get(0);

    // Everything archived.
    let (full, full_took) = restore("full", None).await;
    let full_url = format!("{}/{db_name}", full.url());
    verify(&cluster, &full_url, "the full restore").await;
    let full_db = connect(&full_url).await;
    assert_eq!(
        balances(&full_db).await,
        at_end,
        "balances of the full restore"
    );
    assert_eq!(
        ledger_balances(&full_db).await,
        at_end,
        "ledger of the full restore"
    );

    figures_a.print("drill: restore — load A (before T)");
    figures.print("drill: restore — loads A and B (final books)");
    eprintln!(
        "backup        base backup {backup_took:.1?}; {archived_files} WAL files archived\n\
         restore to T  {pitr_took:.1?}: {} operators' balances equal those at T, {games_at_t} \
         games ({} charged by load A); projector verify passed\n\
         full restore  {full_took:.1?}: {} operators' balances equal the final ones; projector \
         verify passed\n",
        at_t.len(),
        figures_a.charged,
        at_end.len(),
    );
    assert_eq!(games_at_t, figures_a.charged as i64);
}
