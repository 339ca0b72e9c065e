//! A private PostgreSQL cluster for tests that stop or restart the database: every other
//! test shares the server on :5432, so a fault test must never touch that one.
//!
//! `initdb` into a directory of its own under the system temp dir, listening on a free
//! loopback port with its unix socket in the data directory; stopped (`-m immediate`) and
//! removed when dropped. The binaries come from `pg_config --bindir`, else the newest
//! `/usr/lib/postgresql/*/bin`; a machine without them fails the test (a fault test that
//! skips itself proves nothing in CI). PostgreSQL refuses to run as root, so under root
//! (containers) its tools run as the `postgres` user through `runuser`.
//!
//! [`PgCluster::start_replica_of`] makes a streaming replica of one (`pg_basebackup -R`) on
//! another port, for the read-replica tests and drills.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::cluster::free_port;

/// Longest wait for `pg_ctl` to see the server accept connections (crash recovery included).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Settings of a throwaway cluster. `fsync = off` only matters when the operating system
/// crashes, which these tests never do: a killed postmaster still leaves every commit in the
/// page cache. `synchronous_commit` stays on, since an acknowledged commit must survive an
/// immediate shutdown for the books to be checkable at all.
const SETTINGS: &str = "
listen_addresses = '127.0.0.1'
fsync = off
shared_buffers = 32MB
max_connections = 200
";

/// How `pg_ctl` stops the server (`-m`).
#[derive(Debug, Clone, Copy)]
pub enum Shutdown {
    /// Disconnects clients, checkpoints, exits.
    Fast,
    /// Exits at once, like a crash: the next start runs crash recovery.
    Immediate,
}

impl Shutdown {
    fn mode(self) -> &'static str {
        match self {
            Shutdown::Fast => "fast",
            Shutdown::Immediate => "immediate",
        }
    }
}

pub struct PgCluster {
    /// The temporary directory holding the data directory and the server log.
    root: PathBuf,
    data: PathBuf,
    bin: PathBuf,
    pub port: u16,
}

impl PgCluster {
    /// Creates and starts a fresh cluster (user `postgres`, trust authentication).
    pub async fn start() -> PgCluster {
        Self::start_with("").await
    }

    /// [`PgCluster::start`] with more `postgresql.conf` lines (e.g. WAL archiving).
    pub async fn start_with(extra_settings: &str) -> PgCluster {
        let cluster = Self::fresh();
        let data = cluster.data.to_str().unwrap().to_owned();
        cluster
            .tool(
                "initdb",
                &[
                    "-D",
                    &data,
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                    "--no-instructions",
                ],
            )
            .await;
        cluster.configure(&format!("{SETTINGS}{extra_settings}\n"));
        cluster.start_again().await;
        cluster
    }

    /// A streaming replica of `primary` (hot standby, read only) on a port of its own: a
    /// base backup taken with `pg_basebackup -R` (which writes `standby.signal` and the
    /// primary's conninfo), started and accepting reads.
    pub async fn start_replica_of(primary: &PgCluster) -> PgCluster {
        let replica = Self::fresh();
        let data = replica.data.to_str().unwrap().to_owned();
        let port = primary.port.to_string();
        replica
            .tool(
                "pg_basebackup",
                &[
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port,
                    "-U",
                    "postgres",
                    "-D",
                    &data,
                    "-R",
                    "-X",
                    "stream",
                    "-c",
                    "fast",
                    "--no-sync",
                ],
            )
            .await;
        // The copied configuration names the primary's port and socket directory: later
        // lines win.
        replica.configure("hot_standby = on\n");
        replica.start_again().await;
        replica
    }

    /// A new cluster's directories and port; nothing created or started yet.
    fn fresh() -> PgCluster {
        let bin = bin_dir();
        let root = std::env::temp_dir().join(format!(
            "mr-pg-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir(&root).unwrap_or_else(|e| panic!("{}: {e}", root.display()));
        // Under root the tools run as `postgres`, which must be able to create files here.
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o777)).unwrap();
        let data = root.join("data");
        PgCluster {
            root,
            data,
            bin,
            port: free_port(),
        }
    }

    /// Appends `lines` and this cluster's port and socket directory to `postgresql.conf`.
    fn configure(&self, lines: &str) {
        let data = self.data.to_str().unwrap();
        let settings = format!(
            "{lines}port = {}\nunix_socket_directories = '{data}'\n",
            self.port
        );
        let conf = self.data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap();
        text.push_str(&settings);
        std::fs::write(&conf, text).unwrap();
    }

    /// A directory of this cluster's own that the `postgres` user may write to (e.g. a WAL
    /// archive or a backup); removed with the cluster.
    pub fn scratch_dir(&self, name: &str) -> PathBuf {
        let dir = self.root.join(name);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        dir
    }

    /// PostgreSQL's server binaries used here (`pg_ctl`, `pg_basebackup`, …).
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// A cluster some other tool created and started in `data` (e.g. a restore script),
    /// on `port`: stopped and removed with `root` when dropped, like the others.
    pub fn adopt(root: PathBuf, data: PathBuf, port: u16) -> PgCluster {
        PgCluster {
            root,
            data,
            bin: bin_dir(),
            port,
        }
    }

    /// The server URL without a database name (what `TestDb::on_server` takes).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    /// Stops the server; returns once it is down.
    pub async fn stop(&self, how: Shutdown) {
        let data = self.data.to_str().unwrap();
        self.tool("pg_ctl", &["stop", "-D", data, "-m", how.mode(), "-w"])
            .await;
    }

    /// Starts the stopped server on the same port and data; returns once it accepts
    /// connections (after crash recovery, if it was stopped `Immediate`).
    pub async fn start_again(&self) {
        let data = self.data.to_str().unwrap();
        let log = self.root.join("postgres.log");
        let timeout = START_TIMEOUT.as_secs().to_string();
        self.tool(
            "pg_ctl",
            &[
                "start",
                "-D",
                data,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                &timeout,
            ],
        )
        .await;
    }

    /// Runs one of PostgreSQL's tools to completion; panics with its output if it fails.
    /// Async, so the test's load keeps running while the server stops or starts.
    async fn tool(&self, name: &str, args: &[&str]) {
        let output = tokio::process::Command::from(command(&self.bin.join(name), args))
            .output()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            output.status.success(),
            "{name} {args:?} failed: {}{}\nserver log:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            std::fs::read_to_string(self.root.join("postgres.log")).unwrap_or_default()
        );
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let data = self.data.to_str().unwrap();
        let _ = command(&pg_ctl, &["stop", "-D", data, "-m", "immediate", "-w"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// `program args…`, as the `postgres` user when this process is root.
fn command(program: &Path, args: &[&str]) -> std::process::Command {
    let running_as_root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    let mut command = if running_as_root {
        let mut command = std::process::Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        std::process::Command::new(program)
    };
    command.args(args).stdin(Stdio::null());
    command
}

/// PostgreSQL's server binaries: `pg_config --bindir`, else the newest
/// `/usr/lib/postgresql/*/bin` holding `initdb`.
pub(crate) fn bin_dir() -> PathBuf {
    let from_pg_config = std::process::Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let mut candidates: Vec<PathBuf> = from_pg_config.into_iter().collect();
    if let Ok(versions) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut dirs: Vec<(u32, PathBuf)> = versions
            .flatten()
            .filter_map(|v| {
                let major = v.file_name().to_str()?.parse().ok()?;
                Some((major, v.path().join("bin")))
            })
            .collect();
        dirs.sort();
        candidates.extend(dirs.into_iter().rev().map(|(_, dir)| dir));
    }
    candidates
        .into_iter()
        .find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists())
        .expect(
            "PostgreSQL server binaries (initdb, pg_ctl) not found via `pg_config --bindir` or \
             /usr/lib/postgresql/*/bin: the fault tests need them (install postgresql-15)",
        )
}
