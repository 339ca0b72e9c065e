//! nginx serving the built console and proxying both APIs, from the template `make run` uses
//! (deploy/nginx/console.conf.template), as a child process on a free port.
//!
//! Shared by console_routes.rs and the browser tests (console_e2e.rs, console_staff_e2e.rs),
//! each of which uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use tests::nginx::Nginx as Process;
pub use tests::nginx::repo;

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

/// The config for these addresses: the template with its placeholders filled in.
pub fn render(listen: &str, root: &Path, command: &str, query: &str, run_dir: &Path) -> String {
    let text = tests::nginx::template("console.conf.template")
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

/// nginx serving the console; the process is stopped when dropped.
pub struct Nginx {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    process: Process,
}

impl Nginx {
    /// Serves `root` and proxies to `command` / `query` (`host:port`) on a free port.
    pub fn start(root: &Path, command: &str, query: &str) -> Nginx {
        let process =
            Process::start(|listen, run_dir| render(listen, root, command, query, run_dir));
        Nginx {
            url: process.url.clone(),
            process,
        }
    }

    pub fn error_log(&self) -> String {
        self.process.error_log()
    }
}

/// `host:port` of a `http://host:port` URL.
pub fn authority(url: &str) -> &str {
    url.trim_start_matches("http://").trim_end_matches('/')
}

/// Debian's chromium, which the browser scripts drive.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// The services with the payment simulator on a fresh database, and nginx serving the built
/// console in front of both APIs: what a browser test opens. `extra` settings are added.
pub async fn console_stack(
    extra: &[(&str, &str)],
) -> (tests::gateway_sim::Running, tests::cluster::Cluster, Nginx) {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} missing: run deploy/dev/ensure-web.sh (make test does)"
    );
    let dist = console_dist();
    let sim = tests::gateway_sim::start(tests::gateway_sim::Config::dev())
        .await
        .unwrap();
    let command_addr = format!("127.0.0.1:{}", tests::cluster::free_port());
    let mut settings = sim.ledger_settings(&command_addr);
    settings.push(("MR_COMMAND_HTTP_ADDR".into(), command_addr));
    let mut settings: Vec<(&str, &str)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    settings.extend_from_slice(extra);
    let cluster = tests::cluster::Cluster::start(&settings).await;
    let nginx = Nginx::start(
        &dist,
        authority(&cluster.command),
        authority(&cluster.query),
    );
    (sim, cluster, nginx)
}

/// A fresh `test-artifacts/console/<folder>` (the screenshots of an earlier run removed, so
/// the folder shows this run's pages only).
pub fn screenshot_dir(folder: &str) -> PathBuf {
    let dir = repo().join("test-artifacts/console").join(folder);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "png") {
            std::fs::remove_file(path).unwrap();
        }
    }
    dir
}

/// Runs the browser script `deploy/console/e2e/<script>` against `nginx` with `env` (plus
/// the console URL, the screenshot folder and chromium) within `budget`; panics with its
/// output unless it exits 0 having printed `<done>`. Returns what it printed.
pub async fn run_browser_script(
    script: &str,
    env: &[(&str, &str)],
    nginx: &Nginx,
    screenshots: &Path,
    budget: std::time::Duration,
    done: &str,
) -> String {
    let mut command = tokio::process::Command::new("node");
    command
        .arg(repo().join("deploy/console/e2e").join(script))
        .env("MR_CONSOLE_URL", &nginx.url)
        .env("MR_SCREENSHOT_DIR", screenshots)
        .env("MR_CHROMIUM", CHROMIUM)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let output = tokio::time::timeout(budget, command.output())
        .await
        .unwrap_or_else(|_| panic!("{script} did not finish within {budget:?}"))
        .expect("node runs (Node 20 on PATH)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "{script} failed ({}):\n{stdout}\n{stderr}\nnginx: {}\nscreenshots: {}",
        output.status,
        nginx.error_log(),
        screenshots.display()
    );
    assert!(stdout.contains(done), "{stdout}");
    stdout
}
