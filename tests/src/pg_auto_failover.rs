//! A private highly available PostgreSQL on loopback ports, run by pg_auto_failover
//! (`pg_autoctl`, Debian's `postgresql-15-auto-failover`): a monitor and two nodes, a primary
//! and a synchronous standby, each node with its keeper. The failover drill kills the primary
//! node and watches the monitor promote the standby.
//!
//! Everything lives in a directory of its own under the system temp dir (data directories,
//! `pg_autoctl`'s configuration and state, one log per process); every process is killed and
//! the directory removed when dropped. PostgreSQL refuses to run as root, so under root
//! (containers) `pg_autoctl` runs as the `postgres` user through `runuser`, like
//! [`crate::pg_cluster`].

use std::fs::File;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio_postgres::NoTls;

use crate::cluster::free_port;

/// The monitor's failure detection, tuned so that a dead primary is noticed and its standby
/// promoted within a few seconds (docs/OPERATIONS.md, "Failover drill", explains each one
/// and the production values). pg_auto_failover's defaults (5 s period, 5 s timeout, 2
/// retries 2 s apart, 20 s unhealthy timeout, 30 s demote timeout) take about 30 s.
pub const MONITOR_SETTINGS: &str = "
pgautofailover.health_check_period = 1000
pgautofailover.health_check_timeout = 1000
pgautofailover.health_check_max_retries = 1
pgautofailover.health_check_retry_delay = 500
pgautofailover.node_considered_unhealthy_timeout = 2000
pgautofailover.primary_demote_timeout = 2000
";

/// Longest wait for the monitor or a node to be created and reach its state.
const CREATE_TIMEOUT: Duration = Duration::from_secs(90);
/// Longest wait for the monitor to promote the standby.
const FAILOVER_TIMEOUT: Duration = Duration::from_secs(30);
/// Poll period of the waits on the monitor.
const POLL: Duration = Duration::from_millis(100);

/// One PostgreSQL node and its keeper.
pub struct Node {
    pub name: String,
    pub port: u16,
    /// Its data directory.
    pub data: PathBuf,
    /// `pg_autoctl create postgres --run`: the keeper, which starts and supervises postgres.
    keeper: Option<Child>,
}

/// What the monitor says of one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeState {
    pub name: String,
    pub port: u16,
    pub reported: String,
    pub assigned: String,
}

pub struct PgAutoFailover {
    root: PathBuf,
    bin: PathBuf,
    monitor_port: u16,
    monitor: Option<Child>,
    pub nodes: Vec<Node>,
}

impl PgAutoFailover {
    /// Creates and starts the monitor, then the first node (the primary), then the second
    /// (its standby); returns once replication is synchronous.
    pub async fn start() -> PgAutoFailover {
        let bin = crate::pg_cluster::bin_dir();
        let root = std::env::temp_dir().join(format!(
            "mr-pgaf-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir(&root).unwrap_or_else(|e| panic!("{}: {e}", root.display()));
        // Under root the tools run as `postgres`, which must be able to create files here.
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o777)).unwrap();
        let mut ha = PgAutoFailover {
            root,
            bin,
            monitor_port: free_port(),
            monitor: None,
            nodes: Vec::new(),
        };

        let monitor_data = ha.root.join("monitor");
        let port = ha.monitor_port.to_string();
        let pg_ctl = ha.bin.join("pg_ctl");
        let created = ha
            .pg_autoctl(&[
                "create",
                "monitor",
                "--pgdata",
                monitor_data.to_str().unwrap(),
                "--pgport",
                &port,
                "--hostname",
                "127.0.0.1",
                "--listen",
                "127.0.0.1",
                "--auth",
                "trust",
                "--no-ssl",
                "--pgctl",
                pg_ctl.to_str().unwrap(),
            ])
            .stdout(ha.log("create-monitor"))
            .stderr(ha.log("create-monitor"))
            .spawn()
            .expect("run pg_autoctl (make drill installs it: deploy/dev/ensure-drill-tools.sh)");
        let created = wait_bounded(created, CREATE_TIMEOUT).await;
        assert!(
            created.is_some_and(|status| status.success()),
            "pg_autoctl create monitor: {created:?}\n{}",
            ha.logs()
        );
        append(&monitor_data.join("postgresql.conf"), MONITOR_SETTINGS);
        ha.monitor = Some(ha.spawn(
            "monitor",
            &["run", "--pgdata", monitor_data.to_str().unwrap()],
        ));

        for (n, wanted) in [(1, &["single"][..]), (2, &["primary", "secondary"][..])] {
            ha.start_node(&format!("node{n}"));
            ha.wait_for_states(
                &format!("node{n} created"),
                CREATE_TIMEOUT,
                |states: &[NodeState]| {
                    states.len() == n
                        && states
                            .iter()
                            .zip(wanted)
                            .all(|(s, w)| s.reported == *w && s.assigned == *w)
                },
            )
            .await;
        }
        ha.wait_for_synchronous_replication().await;
        ha
    }

    fn start_node(&mut self, name: &str) {
        let port = free_port();
        let data = self.root.join(name);
        let monitor = format!(
            "postgres://autoctl_node@127.0.0.1:{}/pg_auto_failover?sslmode=disable",
            self.monitor_port
        );
        let pg_ctl = self.bin.join("pg_ctl");
        let keeper = self.spawn(
            name,
            &[
                "create",
                "postgres",
                "--pgdata",
                data.to_str().unwrap(),
                "--pgport",
                &port.to_string(),
                "--hostname",
                "127.0.0.1",
                "--listen",
                "127.0.0.1",
                "--name",
                name,
                "--auth",
                "trust",
                "--no-ssl",
                "--pgctl",
                pg_ctl.to_str().unwrap(),
                "--monitor",
                &monitor,
                "--dbname",
                "postgres",
                "--run",
            ],
        );
        self.nodes.push(Node {
            name: name.to_owned(),
            port,
            data,
            keeper: Some(keeper),
        });
    }

    /// The server URL of every node without a database name, in `TestDb::on_server`'s form:
    /// the node that is primary now (see [`PgAutoFailover::database_url`] for the services).
    pub async fn primary_server_url(&self) -> String {
        let primary = self.primary().await;
        format!("postgres://postgres@127.0.0.1:{}", primary.port)
    }

    /// What the services are given: every node, and "connect to the one that takes
    /// writes" (`target_session_attrs=read-write`), so they find the new primary by
    /// themselves after a failover.
    pub fn database_url(&self, database: &str) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        format!(
            "postgres://postgres@{}/{database}?target_session_attrs=read-write",
            hosts.join(",")
        )
    }

    /// The node the monitor has as primary now (`primary`, or `wait_primary` while it has no
    /// standby to replicate to).
    pub async fn primary(&self) -> NodeState {
        self.states()
            .await
            .into_iter()
            .find(|s| s.reported == "primary" || s.reported == "wait_primary")
            .expect("the monitor knows a primary")
    }

    /// Every node as the monitor sees it, in the order they were created.
    pub async fn states(&self) -> Vec<NodeState> {
        let url = format!(
            "postgres://postgres@127.0.0.1:{}/pg_auto_failover",
            self.monitor_port
        );
        let Ok((client, connection)) = tokio_postgres::connect(&url, NoTls).await else {
            return Vec::new();
        };
        tokio::spawn(connection);
        let rows = client
            .query(
                "SELECT nodename, nodeport, reportedstate::text, goalstate::text \
                 FROM pgautofailover.node ORDER BY nodeid",
                &[],
            )
            .await
            .unwrap_or_default();
        rows.iter()
            .map(|row| NodeState {
                name: row.get(0),
                port: u16::try_from(row.get::<_, i32>(1)).unwrap(),
                reported: row.get(2),
                assigned: row.get(3),
            })
            .collect()
    }

    /// Polls the monitor until `done` holds for the nodes' states; returns how long it took.
    pub async fn wait_for_states(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&[NodeState]) -> bool,
    ) -> Duration {
        let start = Instant::now();
        loop {
            let states = self.states().await;
            if done(&states) {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < timeout,
                "{what}: not reached within {timeout:?}; the monitor shows {states:?}\n{}",
                self.logs()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until `node` (by name) is the primary and takes writes; returns how long it
    /// took. Bounded by [`FAILOVER_TIMEOUT`].
    pub async fn wait_for_primary(&self, node: &str) -> Duration {
        self.wait_for_states(
            &format!("{node} promoted"),
            FAILOVER_TIMEOUT,
            |states: &[NodeState]| {
                states.iter().any(|s| {
                    s.name == node
                        && (s.reported == "primary" || s.reported == "wait_primary")
                        && s.reported == s.assigned
                })
            },
        )
        .await
    }

    /// Waits until the primary has a synchronous standby (`sync_state` `sync` or `quorum`):
    /// from then on no commit is acknowledged before the standby has it.
    pub async fn wait_for_synchronous_replication(&self) {
        let primary = self.primary().await;
        let url = format!("postgres://postgres@127.0.0.1:{}/postgres", primary.port);
        let (client, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
        tokio::spawn(connection);
        let start = Instant::now();
        loop {
            let states: Vec<String> = client
                .query("SELECT sync_state FROM pg_stat_replication", &[])
                .await
                .unwrap()
                .iter()
                .map(|row| row.get(0))
                .collect();
            if states.iter().any(|s| s == "sync" || s == "quorum") {
                return;
            }
            assert!(
                start.elapsed() < CREATE_TIMEOUT,
                "replication is not synchronous: {states:?}\n{}",
                self.logs()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Kills node `name` as a machine dies: its keeper and its postgres (postmaster and
    /// every backend) at once, with SIGKILL.
    pub fn kill_node(&mut self, name: &str) {
        let node = self
            .nodes
            .iter_mut()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("no node {name}"));
        if let Some(mut keeper) = node.keeper.take() {
            kill_tree(keeper.id());
            let _ = keeper.wait();
        }
    }

    /// Starts `pg_autoctl args…` in the background, its output in `<root>/<name>.log`, in a
    /// process group of its own.
    fn spawn(&self, name: &str, args: &[&str]) -> Child {
        self.pg_autoctl(args)
            .stdout(self.log(name))
            .stderr(self.log(name))
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("start pg_autoctl (make drill installs it: deploy/dev/ensure-drill-tools.sh): {e}")
            })
    }

    /// `pg_autoctl args…` as the `postgres` user when this process is root, with its
    /// configuration and state kept under the root directory.
    fn pg_autoctl(&self, args: &[&str]) -> Command {
        let mut command = as_postgres(Path::new("env"), &[]);
        let dir = |sub: &str| self.root.join(sub).to_str().unwrap().to_owned();
        command
            .arg(format!("XDG_CONFIG_HOME={}", dir("config")))
            .arg(format!("XDG_DATA_HOME={}", dir("share")))
            .arg(format!("XDG_RUNTIME_DIR={}", dir("run")))
            .arg("pg_autoctl")
            .args(args)
            .stdin(Stdio::null());
        command
    }

    fn log(&self, name: &str) -> File {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.join(format!("{name}.log")))
            .unwrap()
    }

    /// The tail of every log, for a failure message.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        let mut names: Vec<_> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .collect();
        names.sort();
        for path in names {
            let log = std::fs::read_to_string(&path).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            text.push_str(&format!("--- {}\n", path.display()));
            for line in tail.into_iter().rev() {
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }
}

impl Drop for PgAutoFailover {
    fn drop(&mut self) {
        // An immediate stop first: unlike a SIGKILL of the postmaster, it also removes the
        // server's shared memory segment. (A node killed by the drill already lost its.)
        let pg_ctl = self.bin.join("pg_ctl");
        let data_dirs = std::iter::once(self.root.join("monitor"))
            .chain(self.nodes.iter().map(|n| n.data.clone()));
        for data in data_dirs {
            let data = data.to_str().unwrap().to_owned();
            let _ = as_postgres(&pg_ctl, &["stop", "-D", &data, "-m", "immediate", "-w"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let keepers = self.nodes.iter_mut().filter_map(|n| n.keeper.take());
        for mut child in keepers.chain(self.monitor.take()) {
            kill_tree(child.id());
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// `program args…`, as the `postgres` user when this process is root.
fn as_postgres(program: &Path, args: &[&str]) -> Command {
    let running_as_root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    let mut command = if running_as_root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    };
    command.args(args).stdin(Stdio::null());
    command
}

/// Waits for `child` at most `timeout`; kills it and returns `None` past that.
async fn wait_bounded(mut child: Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            kill_tree(child.id());
            let _ = child.wait();
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
}

fn append(path: &Path, text: &str) {
    let mut conf = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    conf.push_str(text);
    // Written as root into a file of `postgres`: the owner stays, only the content changes.
    std::fs::write(path, conf).unwrap();
}

/// SIGKILLs `root` and every process below it at once (postgres's own processes start
/// sessions of their own, so a process group would not reach them).
fn kill_tree(root: u32) {
    let mut children: Vec<(u32, u32)> = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|p| p.parse().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
        let Some(ppid) = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse().ok())
        else {
            continue;
        };
        children.push((ppid, pid));
    }
    let mut tree = vec![root];
    let mut next = 0;
    while next < tree.len() {
        let parent = tree[next];
        tree.extend(
            children
                .iter()
                .filter(|(p, _)| *p == parent)
                .map(|(_, c)| *c),
        );
        next += 1;
    }
    let _ = Command::new("kill")
        .arg("-KILL")
        .args(tree.iter().map(u32::to_string))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}
