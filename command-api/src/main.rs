//! `command-api`: serve the command API, apply migrations, or seed the demo data.

use std::net::TcpListener;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use command_api::settings::Settings;
use telemetry::{self, LogOutput, TelemetryConfig};

#[derive(Parser)]
#[command(
    name = "command-api",
    version,
    about = "MR Ledger command API: headset protocol and staff commands"
)]
struct Cli {
    /// TOML settings file (environment variables MR_* override it).
    #[arg(long, global = true, env = "MR_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Create (or find) the demo app, operator, site and grant; print them as one JSON line.
    SeedDemo,
    /// Reseal every API secret under the current master key (MR_MASTER_KEY / _ID), opening
    /// the old ones with MR_MASTER_KEY_PREVIOUS; print the counts as one JSON line.
    RotateMasterKey {
        /// Rows listed per batch (each row is resealed in its own transaction).
        #[arg(long, default_value_t = command_api::rotation::DEFAULT_BATCH_SIZE)]
        batch_size: i64,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref()).context("loading settings")?;
    let log_filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned());
    let _telemetry = telemetry::init(&TelemetryConfig {
        service: "command-api",
        log_filter: &log_filter,
        log_output: LogOutput::Stderr,
        otlp_endpoint: settings.otlp_endpoint(),
        sample_ratio: settings.otlp_sample_ratio,
    })?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Migrate => command_api::migrate(&settings).await,
        Command::RotateMasterKey { batch_size } => {
            let keys = settings.master_keys().map_err(|e| anyhow::anyhow!(e))?;
            let pool = command_api::pool(&settings)?;
            let report = command_api::rotation::rotate(&pool, &keys, batch_size).await?;
            println!("{}", serde_json::to_string(&report)?);
            anyhow::ensure!(
                report.complete(),
                "some secrets are not under master key {}: keep the previous keys configured",
                report.master_key_id
            );
            Ok(())
        }
        Command::SeedDemo => {
            command_api::migrate(&settings).await?;
            let state = command_api::state(&settings, command_api::ledger::system_clock())?;
            command_api::bootstrap(&state, &settings).await?;
            let demo = command_api::seed::seed_demo(&state.ledger, &settings)
                .await
                .map_err(|e| {
                    anyhow::anyhow!("seeding failed: {} {}", e.code.as_str(), e.details)
                })?;
            println!("{}", serde_json::to_string(&demo)?);
            Ok(())
        }
        Command::Serve => {
            command_api::migrate(&settings).await?;
            let state = command_api::state(&settings, command_api::ledger::system_clock())?;
            command_api::bootstrap(&state, &settings).await?;
            command_api::jobs::reminders::spawn(
                state.ledger.clone(),
                std::time::Duration::from_secs(settings.grant_reminder_interval_seconds.max(1)),
            );
            command_api::jobs::recharge_poller::spawn(
                state.ledger.clone(),
                settings.database_url.clone(),
                std::time::Duration::from_secs(settings.recharge_poll_interval_seconds.max(1)),
            );
            let listener = TcpListener::bind(&settings.command_http_addr)
                .with_context(|| format!("binding {}", settings.command_http_addr))?;
            // The headset gRPC service on its own port, bound before HTTP serves; it stops
            // after the HTTP server does (on SIGINT/SIGTERM), letting open calls finish.
            let grpc = command_api::grpc::start_if_enabled(&settings, state.clone()).await?;
            tracing::info!(addr = %settings.command_http_addr, "command-api listening");
            let served = command_api::serve(listener, state, settings.http_workers)?.await;
            if let Some(grpc) = grpc {
                grpc.stop().await;
            }
            served?;
            Ok(())
        }
    }
}
