//! The real binaries (`command-api`, `projector`, `query-api`) on a fresh database, started
//! the way `make run` starts them, and a small JSON client for black-box tests.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::db::TestDb;

/// Longest wait for a service to report ready.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Starts tried before a cluster gives up (a lost port race costs one).
const START_ATTEMPTS: u32 = 3;

pub const ADMIN_USERNAME: &str = "admin";
pub const ADMIN_PASSWORD: &str = "System-test-password1";

/// Binaries are built next to the test executable (`target/<profile>/`).
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} missing: run `cargo build --workspace --bins` first (make test does)",
        path.display()
    );
    path
}

/// Ports handed out for services to listen on: below Linux's ephemeral range (32768–60999),
/// where the tests' many outgoing connections get their local ports. A port taken from that
/// range could be given to a client socket between this check and the service's bind.
const LISTEN_PORTS: std::ops::Range<u16> = 20_000..32_000;

/// A port free on 127.0.0.1 now (e.g. to know the command API's address before it starts).
/// Ports are tried from a random point of [`LISTEN_PORTS`] on, so parallel test processes
/// rarely try the same ones.
pub fn free_port() -> u16 {
    let span = LISTEN_PORTS.end - LISTEN_PORTS.start;
    let start = u16::try_from(uuid::Uuid::new_v4().as_u128() % u128::from(span)).expect("in span");
    (0..span)
        .map(|i| LISTEN_PORTS.start + (start + i) % span)
        .find(|port| TcpListener::bind(("127.0.0.1", *port)).is_ok())
        .expect("a free port below the ephemeral range")
}

/// A child process killed when the test ends, however it ends.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `name`; with `logs`, its stdout and stderr are appended to `<logs>/<name>.log`
/// (restarts and extra instances append to the same file), otherwise discarded.
fn start(name: &str, env: &[(String, String)], logs: Option<&Path>) -> Service {
    let mut command = Command::new(binary(name));
    let (stdout, stderr) = match logs {
        Some(dir) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(format!("{name}.log")))
                .unwrap_or_else(|e| panic!("log file of {name} in {}: {e}", dir.display()));
            (Stdio::from(file.try_clone().unwrap()), Stdio::from(file))
        }
        None => (Stdio::null(), Stdio::null()),
    };
    command
        .arg(if name == "projector" { "run" } else { "serve" })
        .stdout(stdout)
        .stderr(stderr)
        .env("RUST_LOG", "warn");
    for (key, value) in env {
        command.env(key, value);
    }
    Service(
        command
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}")),
    )
}

/// How long the tests' HTTP clients keep an idle connection: below the services' keep-alive
/// (actix-web's default, 5 s), so a client never reuses a connection the server is closing
/// at that moment (the request would fail with an incomplete message).
const CLIENT_IDLE_TIMEOUT: Duration = Duration::from_secs(2);

/// An HTTP client builder for talking to the services (see [`CLIENT_IDLE_TIMEOUT`]).
pub fn http_client() -> reqwest::ClientBuilder {
    reqwest::Client::builder().pool_idle_timeout(CLIENT_IDLE_TIMEOUT)
}

/// One answer: status and body (`Value::Null` when the body is not JSON).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub bytes: Vec<u8>,
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }
    pub fn code(&self) -> &str {
        self.body["error_code"].as_str().unwrap_or("")
    }
    /// The data of a success; panics with the body otherwise.
    pub fn ok(self) -> Value {
        assert!(
            (200..300).contains(&self.status),
            "{}: {}",
            self.status,
            self.body
        );
        self.body["data"].clone()
    }
}

/// The three services on one fresh database.
pub struct Cluster {
    pub db: TestDb,
    pub command: String,
    pub query: String,
    /// The query API's gRPC endpoint (`http://127.0.0.1:port`), for the auditors' stream.
    pub grpc: String,
    /// The command API's gRPC endpoint (`http://127.0.0.1:port`), for the headset protocol.
    pub command_grpc: String,
    pub http: reqwest::Client,
    /// command-api, projector, query-api, in that order; then any extra command-api
    /// instances ([`Cluster::start_extra_command_api`]).
    services: Vec<Service>,
    env: Vec<(String, String)>,
    /// Where the services' output goes ([`Cluster::start_capturing_logs`]); `None`: nowhere.
    logs: Option<PathBuf>,
}

impl Cluster {
    /// Starts the services; `extra` adds or overrides `MR_*` settings.
    pub async fn start(extra: &[(&str, &str)]) -> Cluster {
        Self::launch(extra, None).await
    }

    /// Like [`Cluster::start`], with every service's stdout and stderr appended to
    /// `<logs>/<binary>.log` (e.g. to search the logs for what must never be in them).
    pub async fn start_capturing_logs(extra: &[(&str, &str)], logs: &Path) -> Cluster {
        Self::launch(extra, Some(logs.to_owned())).await
    }

    /// Like [`Cluster::start`], on a database and Redis of the caller's (e.g. a private
    /// PostgreSQL cluster and Redis server that a fault test restarts and stops).
    pub async fn start_on(db: TestDb, redis_url: &str, extra: &[(&str, &str)]) -> Cluster {
        let mut settings = vec![("MR_REDIS_URL", redis_url)];
        settings.extend_from_slice(extra);
        Self::launch_on(db, &settings, None).await
    }

    async fn launch(extra: &[(&str, &str)], logs: Option<PathBuf>) -> Cluster {
        Self::launch_on(TestDb::new().await, extra, logs).await
    }

    async fn launch_on(db: TestDb, extra: &[(&str, &str)], logs: Option<PathBuf>) -> Cluster {
        let mut attempt = 1;
        let mut db = Some(db);
        loop {
            let (env, services) =
                Self::start_services(db.as_ref().unwrap(), extra, logs.as_deref());
            // An overridden address (a test that must know it in advance) is where the API is.
            let addr = |name: &str| {
                let (_, addr) = env.iter().find(|(k, _)| k == name).unwrap();
                format!("http://{addr}")
            };
            let mut cluster = Cluster {
                db: db.take().unwrap(),
                command: addr("MR_COMMAND_HTTP_ADDR"),
                query: addr("MR_QUERY_HTTP_ADDR"),
                grpc: addr("MR_QUERY_GRPC_ADDR"),
                command_grpc: addr("MR_COMMAND_GRPC_ADDR"),
                http: http_client().build().unwrap(),
                services,
                env,
                logs: logs.clone(),
            };
            let command = cluster.command.clone();
            let query = cluster.query.clone();
            match cluster.ready_or_exited(&command).await {
                Ok(()) if cluster.ready_or_exited(&query).await.is_ok() => return cluster,
                // A port handed out here can still be taken by another test's process before
                // the service binds it: the service exits, and a start on fresh ports follows.
                _ if attempt < START_ATTEMPTS => {
                    attempt += 1;
                    db = Some(cluster.take_db());
                }
                _ => panic!("the cluster did not start in {START_ATTEMPTS} attempts"),
            }
        }
    }

    /// Gives the database back for another start, stopping the services.
    fn take_db(self) -> TestDb {
        let Cluster { db, services, .. } = self;
        drop(services);
        db
    }

    /// Builds the settings (fresh ports unless `extra` names them) and starts the three
    /// services.
    fn start_services(
        db: &TestDb,
        extra: &[(&str, &str)],
        logs: Option<&Path>,
    ) -> (Vec<(String, String)>, Vec<Service>) {
        let (command_port, query_port, grpc_port) = (free_port(), free_port(), free_port());
        let command_grpc_port = free_port();
        let mut env: Vec<(String, String)> = vec![
            ("MR_DATABASE_URL".into(), db.url.clone()),
            (
                "MR_MASTER_KEY".into(),
                base64::engine::general_purpose::STANDARD.encode([9u8; 32]),
            ),
            (
                "MR_JWT_SECRET".into(),
                "system-test-jwt-secret-0123456789abcdef".into(),
            ),
            ("MR_BOOTSTRAP_ADMIN_USERNAME".into(), ADMIN_USERNAME.into()),
            ("MR_BOOTSTRAP_ADMIN_PASSWORD".into(), ADMIN_PASSWORD.into()),
            (
                "MR_COMMAND_HTTP_ADDR".into(),
                format!("127.0.0.1:{command_port}"),
            ),
            (
                "MR_QUERY_HTTP_ADDR".into(),
                format!("127.0.0.1:{query_port}"),
            ),
            (
                "MR_QUERY_GRPC_ADDR".into(),
                format!("127.0.0.1:{grpc_port}"),
            ),
            (
                "MR_COMMAND_GRPC_ADDR".into(),
                format!("127.0.0.1:{command_grpc_port}"),
            ),
            // The projector's metrics listener on a port of its own (`extra` may name one).
            (
                "MR_PROJECTOR_METRICS_ADDR".into(),
                format!("127.0.0.1:{}", free_port()),
            ),
            // Live push: a channel of the cluster's own, so parallel tests on the one Redis
            // never see each other's messages.
            ("MR_REDIS_CHANNEL".into(), format!("mr:live:{}", db.name)),
            // Rate limits raised far above any test's traffic (they still count, in Redis),
            // under a key prefix of the cluster's own; `extra` can lower them.
            (
                "MR_RATE_LIMIT_KEY_PREFIX".into(),
                format!("mr:rl:{}", db.name),
            ),
            ("MR_RATE_LIMIT_PER_IP".into(), "1000000000".into()),
            ("MR_RATE_LIMIT_OPERATOR_VIP".into(), "1000000000".into()),
            (
                "MR_RATE_LIMIT_OPERATOR_STANDARD".into(),
                "1000000000".into(),
            ),
            ("MR_RATE_LIMIT_OPERATOR_TRIAL".into(), "1000000000".into()),
            // Cheap password hashing: the tests log in often; production keeps the defaults.
            ("MR_PASSWORD_HASH_MEMORY_KIB".into(), "1024".into()),
            ("MR_PASSWORD_HASH_ITERATIONS".into(), "1".into()),
        ];
        for (key, value) in extra {
            env.retain(|(k, _)| k != key);
            env.push(((*key).to_owned(), (*value).to_owned()));
        }
        let services = vec![
            start("command-api", &env, logs),
            start("projector", &env, logs),
            start("query-api", &env, logs),
        ];
        (env, services)
    }

    /// Waits until `base` is ready; `Err` as soon as a service has exited (or at the timeout).
    async fn ready_or_exited(&mut self, base: &str) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(r) = self.http.get(format!("{base}/health/ready")).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if let Some(exited) = self
                .services
                .iter_mut()
                .position(|s| matches!(s.0.try_wait(), Ok(Some(_))))
            {
                return Err(format!("service {exited} exited before {base} was ready"));
            }
            if Instant::now() >= deadline {
                return Err(format!("{base} not ready within {START_TIMEOUT:?}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills command-api without warning (SIGKILL: nothing is flushed or answered) and starts
    /// a fresh one on the same address and database, with cold caches.
    pub async fn crash_and_restart_command_api(&mut self) {
        drop(self.services.remove(0));
        self.services
            .insert(0, start("command-api", &self.env, self.logs.as_deref()));
        self.wait_ready(&self.command).await;
    }

    /// Kills the projector without warning (SIGKILL, mid-batch or not) and starts a fresh one
    /// on the same database; it resumes from its checkpoint.
    pub fn crash_and_restart_projector(&mut self) {
        drop(self.services.remove(1));
        self.services
            .insert(1, start("projector", &self.env, self.logs.as_deref()));
    }

    /// Starts one more command-api process on a port of its own, with the same database and
    /// settings (as behind a load balancer), and returns its base URL once it is ready. It
    /// lives and dies with the cluster like the others. It serves no gRPC (the port is the
    /// first instance's).
    pub async fn start_extra_command_api(&mut self) -> String {
        let addr = format!("127.0.0.1:{}", free_port());
        let mut env = self.env.clone();
        env.retain(|(k, _)| k != "MR_COMMAND_HTTP_ADDR" && k != "MR_COMMAND_GRPC_ADDR");
        env.push(("MR_COMMAND_HTTP_ADDR".into(), addr.clone()));
        env.push(("MR_COMMAND_GRPC_ADDR".into(), "off".into()));
        self.services
            .push(start("command-api", &env, self.logs.as_deref()));
        let base = format!("http://{addr}");
        self.wait_ready(&base).await;
        base
    }

    /// Starts one more query-api process on a port of its own (no gRPC server), with the
    /// same database, Redis channel and settings (a second replica behind a load balancer),
    /// and returns its base URL once it is ready. It lives and dies with the cluster.
    pub async fn start_extra_query_api(&mut self) -> String {
        let addr = format!("127.0.0.1:{}", free_port());
        let mut env = self.env.clone();
        env.retain(|(k, _)| k != "MR_QUERY_HTTP_ADDR" && k != "MR_QUERY_GRPC_ADDR");
        env.push(("MR_QUERY_HTTP_ADDR".into(), addr.clone()));
        env.push(("MR_QUERY_GRPC_ADDR".into(), "off".into()));
        self.services
            .push(start("query-api", &env, self.logs.as_deref()));
        let base = format!("http://{addr}");
        self.wait_ready(&base).await;
        base
    }

    async fn wait_ready(&self, base: &str) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(r) = self.http.get(format!("{base}/health/ready")).send().await
                && r.status().is_success()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{base} not ready within {START_TIMEOUT:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends `method` to `url` (absolute) with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: &str,
        url: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap().to_vec();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            body,
            bytes,
            headers,
        }
    }

    /// A command API call: `path` starts with `/`.
    pub async fn command(&self, method: &str, path: &str, token: &str, body: Value) -> Answer {
        let url = format!("{}{path}", self.command);
        self.call(method, &url, Some(token), Some(body)).await
    }

    /// A query API `GET`.
    pub async fn query(&self, path: &str, token: &str) -> Answer {
        let url = format!("{}{path}", self.query);
        self.call("GET", &url, Some(token), None).await
    }

    /// Polls a query until `done` holds for its data (the read side lags the ledger a little).
    pub async fn query_until(
        &self,
        path: &str,
        token: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let answer = self.query(path, token).await;
            if answer.status == 200 && done(answer.data()) {
                return answer.data().clone();
            }
            assert!(
                Instant::now() < deadline,
                "{path} did not reach the expected state: {} {}",
                answer.status,
                answer.body
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn login(&self, kind: &str, username: &str, password: &str) -> Answer {
        let url = format!("{}/api/v1/auth/{kind}/login", self.command);
        let body = json!({ "username": username, "password": password });
        self.call("POST", &url, None, Some(body)).await
    }

    /// The access token of a successful login (`kind`: "staff" or "operator").
    pub async fn token(&self, kind: &str, username: &str, password: &str) -> String {
        let data = self.login(kind, username, password).await.ok();
        data["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn admin_token(&self) -> String {
        self.token("staff", ADMIN_USERNAME, ADMIN_PASSWORD).await
    }

    /// The process id of query-api (e.g. to sample its memory from `/proc/<pid>/status`).
    pub fn query_api_pid(&self) -> u32 {
        self.services[2].0.id()
    }

    /// The process id of the first command-api instance (the one at [`Cluster::command`]).
    pub fn command_api_pid(&self) -> u32 {
        self.services[0].0.id()
    }

    /// The first projector's process id and metrics base URL (`http://host:port`).
    pub fn projector(&self) -> (u32, String) {
        let (_, addr) = self
            .env
            .iter()
            .find(|(k, _)| k == "MR_PROJECTOR_METRICS_ADDR")
            .expect("the projector's metrics address is always set");
        (self.services[1].0.id(), format!("http://{addr}"))
    }

    /// Starts one more projector process with the same database and settings and its own
    /// metrics listener (a standby: the first holds the projection lock), and returns its
    /// process id and metrics base URL. It lives and dies with the cluster.
    pub fn start_extra_projector(&mut self) -> (u32, String) {
        let addr = format!("127.0.0.1:{}", free_port());
        let mut env = self.env.clone();
        env.retain(|(k, _)| k != "MR_PROJECTOR_METRICS_ADDR");
        env.push(("MR_PROJECTOR_METRICS_ADDR".into(), addr.clone()));
        let service = start("projector", &env, self.logs.as_deref());
        let pid = service.0.id();
        self.services.push(service);
        (pid, format!("http://{addr}"))
    }

    /// Kills the cluster's process `pid` without warning (SIGKILL: nothing is flushed,
    /// answered or released by it) and waits until it is gone; it is not restarted.
    pub fn kill(&mut self, pid: u32) {
        let service = self
            .services
            .iter_mut()
            .find(|s| s.0.id() == pid)
            .unwrap_or_else(|| panic!("no process {pid} in the cluster"));
        let _ = service.0.kill();
        let _ = service.0.wait();
    }

    /// Runs a one-shot projector command (`rebuild`, `verify`, …) with the cluster's settings
    /// and waits for it; the services keep running meanwhile.
    pub async fn run_projector(&self, args: &[&str]) -> std::process::Output {
        let mut command = tokio::process::Command::new(binary("projector"));
        command.args(args).env("RUST_LOG", "warn");
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command
            .output()
            .await
            .unwrap_or_else(|e| panic!("projector {args:?}: {e}"))
    }

    /// [`Cluster::run_projector`] against another database (e.g. a restored copy), with
    /// the cluster's other settings.
    pub async fn run_projector_on(
        &self,
        database_url: &str,
        args: &[&str],
    ) -> std::process::Output {
        let mut command = tokio::process::Command::new(binary("projector"));
        command.args(args).env("RUST_LOG", "warn");
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command.env("MR_DATABASE_URL", database_url);
        command
            .output()
            .await
            .unwrap_or_else(|e| panic!("projector {args:?} on {database_url}: {e}"))
    }
}
