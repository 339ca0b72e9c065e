//! Debian's nginx as a child process on a free loopback port, with a configuration the caller
//! renders from one of the templates in deploy/nginx (the console's, the command-api load
//! balancer's). Stopped, and its run directory removed, when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cluster::free_port;

/// Longest wait for nginx to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long nginx gets to stop its workers after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// The repository root (tests/ is one level down).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// A template of deploy/nginx (`name`), read as text.
pub fn template(name: &str) -> String {
    let path = repo().join("deploy/nginx").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Debian's nginx, on PATH or in /usr/sbin (not on a non-root PATH).
fn binary() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("nginx"))
        .find(|candidate| candidate.is_file());
    let binary = on_path.unwrap_or_else(|| PathBuf::from("/usr/sbin/nginx"));
    assert!(
        binary.is_file(),
        "nginx not found: install it (deploy/dev/ensure-web.sh and ensure-drill-tools.sh do; \
         make test and make drill run them)"
    );
    binary
}

/// A running nginx.
pub struct Nginx {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    child: Child,
    run_dir: PathBuf,
}

impl Nginx {
    /// Starts nginx with the configuration `config(listen, run_dir)` renders, where `listen`
    /// is `127.0.0.1:PORT` on a free port and `run_dir` a fresh directory for its files.
    pub fn start(config: impl FnOnce(&str, &Path) -> String) -> Nginx {
        let listen = format!("127.0.0.1:{}", free_port());
        let run_dir = std::env::temp_dir().join(format!("mr-nginx-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&run_dir).unwrap();
        let file = run_dir.join("nginx.conf");
        std::fs::write(&file, config(&listen, &run_dir)).unwrap();
        let child = Command::new(binary())
            .arg("-p")
            .arg(&run_dir)
            .arg("-c")
            .arg(&file)
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
        self.log("nginx-error.log")
    }

    /// A log file of the run directory (empty when not written yet).
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.run_dir.join(name)).unwrap_or_default()
    }
}

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
