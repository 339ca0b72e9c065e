//! `query-api serve`: load settings, start logging, serve until SIGINT or SIGTERM.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use query_api::Settings;
use telemetry::{self, LogOutput, TelemetryConfig};

#[derive(Parser)]
#[command(
    name = "query-api",
    version,
    about = "MR Ledger query API: read models and events over HTTP (read only)"
)]
struct Cli {
    /// TOML settings file (keys = `Settings` field names); `MR_*` variables override it.
    #[arg(long, global = true, value_name = "TOML")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API on `MR_QUERY_HTTP_ADDR` (default 127.0.0.1:8081).
    Serve,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let Command::Serve = cli.command;
    let settings = Settings::load(cli.config.as_deref()).context("loading settings")?;
    // RUST_LOG, when set, wins: one log switch for every binary.
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| settings.log_filter.clone());
    let _telemetry = telemetry::init(&TelemetryConfig {
        service: "query-api",
        log_filter: &filter,
        log_output: LogOutput::Stdout,
        otlp_endpoint: Some(settings.otlp_endpoint.trim()).filter(|e| !e.is_empty()),
        sample_ratio: settings.otlp_sample_ratio,
    })?;
    match query_api::live::open_files::raise_to_hard_limit() {
        Ok(limits) => tracing::info!(soft = limits.soft, hard = limits.hard, "open file limit"),
        Err(e) => tracing::warn!(error = %e, "open file limit not raised"),
    }
    let listener = std::net::TcpListener::bind(settings.http_addr)
        .with_context(|| format!("binding {}", settings.http_addr))?;
    tracing::info!(addr = %settings.http_addr, "query-api listening");
    query_api::run(listener, settings, shutdown_signal()).await?;
    tracing::info!("query-api stopped");
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
