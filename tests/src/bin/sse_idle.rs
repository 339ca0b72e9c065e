//! `sse_idle`: many idle SSE connections on one query-api instance, and one broadcast to all
//! of them (`deploy/bench/sse.sh` runs it against release binaries).
//!
//! 1. Reads the query-api process's resident memory (`/proc/<pid>/status`, `VmRSS`).
//! 2. Opens N connections to `/api/v1/finance/live` over plain TCP (a few hundred at a time,
//!    so the listen backlog never overflows), each counted as open once its first `today`
//!    event arrived; prints how long opening all of them took and the memory again.
//! 3. Credits an operator through the command API (money moved: every finance connection
//!    gets a fresh `today`) and measures, from that call's HTTP 200, until every connection
//!    received it: the slowest, the median and the 99th percentile.
//!
//! Exit status: 0 every connection opened and received the broadcast, 1 otherwise.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc};

/// Most connections one run opens: beyond this the client's own limits are measured.
const MAX_CONNECTIONS: usize = 50_000;

/// Longest wait for all connections to open, and for the broadcast to reach them all.
const PHASE_TIMEOUT: Duration = Duration::from_secs(120);

/// How each connection recognises an event of interest in the raw stream.
const TODAY_EVENT: &[u8] = b"event: today\n";

#[derive(Parser)]
#[command(about = "Idle SSE connections on one query-api instance, and one broadcast")]
struct Args {
    /// query-api address (host:port).
    #[arg(long)]
    query: String,
    /// command-api base URL (http://host:port), for the credit that triggers the broadcast.
    #[arg(long)]
    command: String,
    /// A staff access token holding `ledger:read` and the manual-credit scope.
    #[arg(long)]
    token: String,
    /// The operator to credit.
    #[arg(long)]
    operator: String,
    /// The query-api process, for its memory.
    #[arg(long)]
    query_pid: u32,
    #[arg(long, default_value_t = 5_000)]
    connections: usize,
    /// Connections being opened at the same time.
    #[arg(long, default_value_t = 200)]
    opening_concurrency: usize,
}

/// What a connection reports.
enum Report {
    Opened,
    Broadcast(Instant),
    Failed(String),
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sse_idle: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    if args.connections == 0 || args.connections > MAX_CONNECTIONS {
        bail!("--connections must be 1..={MAX_CONNECTIONS}");
    }
    let rss_before = rss_kib(args.query_pid)?;
    println!("query-api RSS before: {} MiB", rss_before / 1024);

    let request = Arc::new(format!(
        "GET /api/v1/finance/live HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
         Accept: text/event-stream\r\n\r\n",
        args.query, args.token
    ));
    let (reports, mut received) = mpsc::unbounded_channel();
    let opening = Arc::new(Semaphore::new(args.opening_concurrency.max(1)));
    let started = Instant::now();
    for _ in 0..args.connections {
        let permit = Arc::clone(&opening).acquire_owned().await?;
        let (addr, request, reports) = (args.query.clone(), Arc::clone(&request), reports.clone());
        tokio::spawn(async move {
            if let Err(e) = watch(&addr, &request, &reports, permit).await {
                let _ = reports.send(Report::Failed(format!("{e:#}")));
            }
        });
    }
    drop(reports);

    let mut opened = 0;
    while opened < args.connections {
        match next(&mut received).await? {
            Report::Opened => opened += 1,
            Report::Broadcast(_) => bail!("a broadcast arrived before it was triggered"),
            Report::Failed(e) => bail!("connection failed after {opened} opened: {e}"),
        }
    }
    let open_time = started.elapsed();
    // Let the server settle (allocations of the last connections, heartbeats not yet due).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = rss_kib(args.query_pid)?;
    println!(
        "{} connections open in {:.2} s ({:.0}/s)",
        args.connections,
        open_time.as_secs_f64(),
        args.connections as f64 / open_time.as_secs_f64()
    );
    println!(
        "query-api RSS after: {} MiB (+{:.1} KiB per connection)",
        rss_after / 1024,
        (rss_after.saturating_sub(rss_before)) as f64 / args.connections as f64
    );

    let answered_at = credit(&args).await?;
    let mut latencies = Vec::with_capacity(args.connections);
    while latencies.len() < args.connections {
        match next(&mut received).await? {
            Report::Broadcast(at) => latencies.push(at.saturating_duration_since(answered_at)),
            Report::Opened => bail!("a connection opened twice"),
            Report::Failed(e) => bail!("connection failed after the broadcast: {e}"),
        }
    }
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    println!(
        "broadcast reached all {} connections {:.0} ms after the credit's HTTP 200 \
         (median {:.0} ms, p99 {:.0} ms)",
        args.connections,
        ms(*latencies.last().unwrap()),
        ms(at(0.5)),
        ms(at(0.99)),
    );
    println!(
        "query-api RSS after the broadcast: {} MiB",
        rss_kib(args.query_pid)? / 1024
    );
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn next(received: &mut mpsc::UnboundedReceiver<Report>) -> anyhow::Result<Report> {
    tokio::time::timeout(PHASE_TIMEOUT, received.recv())
        .await
        .context("timed out waiting for the connections")?
        .context("every connection ended")
}

/// One connection: opened once the first `today` came, then reports the second one, then
/// stays open (idle) until the process exits.
async fn watch(
    addr: &str,
    request: &str,
    reports: &mpsc::UnboundedSender<Report>,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> anyhow::Result<()> {
    let mut permit = Some(permit);
    let mut stream = TcpStream::connect(addr).await.context("connect")?;
    stream.write_all(request.as_bytes()).await?;
    let mut unread = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    let mut status_checked = false;
    let mut todays = 0;
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            bail!("closed by the server");
        }
        unread.extend_from_slice(&chunk[..n]);
        if !status_checked {
            if unread.len() < 12 {
                continue;
            }
            if !unread.starts_with(b"HTTP/1.1 200") {
                bail!("{}", String::from_utf8_lossy(&unread));
            }
            status_checked = true;
        }
        // Every occurrence is counted once: consumed up to its end, and a partial one at the
        // end of a read is kept for the next.
        while let Some(at) = unread
            .windows(TODAY_EVENT.len())
            .position(|w| w == TODAY_EVENT)
        {
            unread.drain(..at + TODAY_EVENT.len());
            todays += 1;
            match todays {
                1 => {
                    // Open: the next connection may start.
                    permit.take();
                    reports.send(Report::Opened).ok();
                }
                2 => {
                    reports.send(Report::Broadcast(Instant::now())).ok();
                }
                _ => {}
            }
        }
        let keep = TODAY_EVENT.len() - 1;
        if unread.len() > keep {
            unread.drain(..unread.len() - keep);
        }
    }
}

/// Credits the operator 1.00 (money moved): when its HTTP 200 arrived.
async fn credit(args: &Args) -> anyhow::Result<Instant> {
    let url = format!(
        "{}/api/v1/finance/operators/{}/manual-credits",
        args.command, args.operator
    );
    let response = reqwest::Client::new()
        .post(url)
        .bearer_auth(&args.token)
        .json(&json!({"amount": "1.00", "reason": "sse benchmark"}))
        .send()
        .await?;
    let answered_at = Instant::now();
    if !response.status().is_success() {
        bail!("credit: {} {}", response.status(), response.text().await?);
    }
    Ok(answered_at)
}

/// Resident memory of a process in KiB.
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("process {pid}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmRSS not found")
}
