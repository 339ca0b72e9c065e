//! A private `redis-server` for tests that stop Redis: every other test shares the one on
//! :6379, so a fault test must never stop that one.
//!
//! In memory only (`--save ""`, no append-only file), on a free loopback port, killed when
//! dropped. A machine without `redis-server` on `PATH` fails the test.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use crate::cluster::free_port;

/// Longest wait for a started server to answer `PING`.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// One `PING` on loopback: a live server answers in microseconds.
const PING_TIMEOUT: Duration = Duration::from_millis(200);

pub struct RedisServer {
    pub port: u16,
    /// `None` while stopped.
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server on a free port; returns once it answers `PING`.
    pub async fn start() -> RedisServer {
        let mut server = RedisServer {
            port: free_port(),
            child: None,
        };
        server.start_again().await;
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL: clients see their connections drop) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (empty: nothing was persisted); returns once
    /// it answers `PING`.
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "redis-server is already running");
        let port = self.port.to_string();
        let child = Command::new("redis-server")
            .args(["--port", &port, "--bind", "127.0.0.1", "--save", ""])
            .args([
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("start redis-server (the fault tests need it on PATH): {e}")
            });
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while !self.answers_ping() {
            assert!(
                Instant::now() < deadline,
                "redis-server on port {port} did not answer PING within {START_TIMEOUT:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Blocking, but bounded by [`PING_TIMEOUT`] on loopback.
    fn answers_ping(&self) -> bool {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let Ok(mut stream) = TcpStream::connect_timeout(&addr, PING_TIMEOUT) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(PING_TIMEOUT));
        let mut answer = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut answer).is_ok()
            && &answer == b"+PONG\r\n"
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
