//! nginx balancing several command-api instances, from the template the operations guide
//! describes (deploy/nginx/command-lb.conf.template), as a child process on a free port.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cluster::free_port;

/// Longest wait for nginx to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long nginx gets to stop its workers after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// The repository root (tests/ is one level down).
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// Debian's nginx, on PATH or in /usr/sbin (not on a non-root PATH).
fn nginx_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("nginx"))
        .find(|candidate| candidate.is_file());
    let binary = on_path.unwrap_or_else(|| PathBuf::from("/usr/sbin/nginx"));
    assert!(
        binary.is_file(),
        "nginx not found: install it (deploy/dev/ensure-drill-tools.sh does, make drill runs it)"
    );
    binary
}

/// The config for these addresses: the template with its placeholders filled in, the line
/// naming `@COMMAND@` once per instance.
pub fn render(listen: &str, instances: &[&str], run_dir: &Path) -> String {
    let template =
        std::fs::read_to_string(repo().join("deploy/nginx/command-lb.conf.template")).unwrap();
    let mut text = String::new();
    for line in template.lines() {
        // Comments mention the placeholder too; only configuration lines are repeated.
        if line.contains("@COMMAND@") && !line.trim_start().starts_with('#') {
            for instance in instances {
                text.push_str(&line.replace("@COMMAND@", instance));
                text.push('\n');
            }
        } else {
            text.push_str(line);
            text.push('\n');
        }
    }
    let text = text
        .replace("@LISTEN@", listen)
        .replace("@RUN_DIR@", &run_dir.to_string_lossy());
    let config_lines = text
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'));
    let unfilled: Vec<&str> = config_lines.filter(|line| line.contains('@')).collect();
    assert!(
        unfilled.is_empty(),
        "placeholders left unfilled: {unfilled:?}"
    );
    text
}

/// A running nginx; stopped (with its run directory removed) when dropped.
pub struct CommandLb {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    child: Child,
    run_dir: PathBuf,
}

impl CommandLb {
    /// Balances `instances` (`host:port` each) on a free port.
    pub fn start(instances: &[&str]) -> CommandLb {
        let listen = format!("127.0.0.1:{}", free_port());
        let run_dir = std::env::temp_dir().join(format!("mr-command-lb-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&run_dir).unwrap();
        let config = run_dir.join("nginx.conf");
        std::fs::write(&config, render(&listen, instances, &run_dir)).unwrap();
        let child = Command::new(nginx_binary())
            .arg("-p")
            .arg(&run_dir)
            .arg("-c")
            .arg(&config)
            // Start-up errors before the config's error_log is open.
            .arg("-e")
            .arg(run_dir.join("nginx-error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start nginx");
        let mut lb = CommandLb {
            url: format!("http://{listen}"),
            child,
            run_dir,
        };
        lb.wait_until_listening(&listen);
        lb
    }

    fn wait_until_listening(&mut self, listen: &str) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if std::net::TcpStream::connect(listen).is_ok() {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("nginx exited ({status}): {}", self.error_log());
            }
            assert!(
                Instant::now() < deadline,
                "nginx did not listen on {listen}: {}",
                self.error_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.run_dir.join("nginx-error.log")).unwrap_or_default()
    }

    /// Requests to `path` so far by the instance that answered them (`upstream=` of the
    /// access log; `a, b` when nginx moved a request on from `a` to `b`).
    pub fn answered_by(&self, path: &str) -> BTreeMap<String, usize> {
        let log =
            std::fs::read_to_string(self.run_dir.join("nginx-access.log")).unwrap_or_default();
        let mut counts = BTreeMap::new();
        for line in log.lines().filter(|l| l.contains(&format!(" {path} "))) {
            let Some(upstream) = line
                .split(" upstream=")
                .nth(1)
                .and_then(|rest| rest.split(" upstream_status=").next())
            else {
                continue;
            };
            *counts.entry(upstream.to_owned()).or_insert(0) += 1;
        }
        counts
    }
}

impl Drop for CommandLb {
    fn drop(&mut self) {
        // SIGTERM, not SIGKILL: the master stops its workers; killed, it would leave them
        // running (and listening) without a parent.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.run_dir);
    }
}
