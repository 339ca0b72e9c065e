//! nginx serving the built console and proxying both APIs, from the template `make run` uses
//! (deploy/nginx/console.conf.template), as a child process on a free port.
//!
//! Shared by console_routes.rs and console_e2e.rs, each of which uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Longest wait for nginx to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The repository root (tests/ is one level down).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The console's build output; `make test` builds it before the tests run.
pub fn console_dist() -> PathBuf {
    let dist = repo().join("deploy/console/dist");
    assert!(
        dist.join("index.html").exists(),
        "{} missing: build the console first (make console, or make test)",
        dist.display()
    );
    dist
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
        "nginx not found: install it (deploy/dev/ensure-web.sh does, make test runs it)"
    );
    binary
}

/// The config for these addresses: the template with its placeholders filled in.
pub fn render(listen: &str, root: &Path, command: &str, query: &str, run_dir: &Path) -> String {
    let template =
        std::fs::read_to_string(repo().join("deploy/nginx/console.conf.template")).unwrap();
    let text = template
        .replace("@LISTEN@", listen)
        .replace("@ROOT@", &root.to_string_lossy())
        .replace("@COMMAND@", command)
        .replace("@QUERY@", query)
        .replace("@RUN_DIR@", &run_dir.to_string_lossy());
    let unfilled =
        text.split('@').skip(1).step_by(2).find(|word| {
            !word.is_empty() && word.chars().all(|c| c.is_ascii_uppercase() || c == '_')
        });
    assert!(
        unfilled.is_none(),
        "placeholder @{}@ left unfilled",
        unfilled.unwrap_or("")
    );
    text
}

/// A running nginx; killed (with its run directory removed) when dropped.
pub struct Nginx {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    child: Child,
    run_dir: PathBuf,
}

impl Nginx {
    /// Serves `root` and proxies to `command` / `query` (`host:port`) on a free port.
    pub fn start(root: &Path, command: &str, query: &str) -> Nginx {
        let port = tests::cluster::free_port();
        let listen = format!("127.0.0.1:{port}");
        let run_dir = std::env::temp_dir().join(format!("mr-nginx-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&run_dir).unwrap();
        let config = run_dir.join("nginx.conf");
        std::fs::write(&config, render(&listen, root, command, query, &run_dir)).unwrap();
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
        let mut nginx = Nginx {
            url: format!("http://{listen}"),
            child,
            run_dir,
        };
        nginx.wait_until_listening(&listen);
        nginx
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
}

/// How long nginx gets to stop its workers after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

impl Drop for Nginx {
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

/// `host:port` of a `http://host:port` URL.
pub fn authority(url: &str) -> &str {
    url.trim_start_matches("http://").trim_end_matches('/')
}
