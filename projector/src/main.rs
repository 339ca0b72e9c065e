//! `projector run|rebuild|verify`: settings, telemetry, migrations, then the library.
//! `projector verify-export FILE` checks an auditor's JSON Lines export offline (no database).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use projector::settings::Settings;
use telemetry::{self, LogOutput, TelemetryConfig};

/// Tails the MR Ledger event store into the read tables.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// TOML settings file (values there are overridden by MR_* environment variables).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Project new events as they arrive, until SIGINT or SIGTERM.
    Run,
    /// Replay every event into a fresh schema and swap it in for the read schema.
    Rebuild,
    /// Check the hash chains and diff the read tables against a replay; exit 1 on any difference.
    Verify,
    /// Check a stream's JSON Lines export (`/api/v1/audit/streams/…/export`) offline, without
    /// the database; exit 1 at its first divergence.
    VerifyExport {
        /// The exported `.jsonl` file.
        file: PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    // Needs neither settings nor a database: an auditor runs it on their own machine.
    if let Command::VerifyExport { file } = &cli.command {
        return verify_export(file);
    }
    let mut figment = Figment::from(Serialized::defaults(Settings::default()));
    if let Some(path) = &cli.config {
        figment = figment.merge(Toml::file_exact(path));
    }
    let settings: Settings = figment
        .merge(Env::prefixed("MR_"))
        .extract()
        .context("settings")?;
    settings.validate().context("settings")?;
    // RUST_LOG, when set, wins: one log switch for every binary.
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| settings.log_filter.clone());
    // The services' JSON log lines; the projector has no requests, so no trace export.
    let _telemetry = telemetry::init(&TelemetryConfig {
        service: "projector",
        log_filter: &filter,
        log_output: LogOutput::Stdout,
        otlp_endpoint: None,
        sample_ratio: 0.0,
    })
    .context("log set-up")?;

    let config: tokio_postgres::Config = settings
        .database_url
        .expose()
        .parse()
        .context("database_url")?;
    let (mut client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .context("connect")?;
    tokio::spawn(connection);
    migrations::run(&mut client)
        .await
        .map_err(|e| anyhow::anyhow!(e))
        .context("migrations")?;

    let schema = settings.read_schema.as_str();
    let time_zone = settings.stats_time_zone.as_str();
    match cli.command {
        Command::Run => {
            // A taken port stops only the listener: projecting matters more than being watched.
            match projector::metrics::bind(&settings.projector_metrics_addr).await {
                Ok(Some(listener)) => {
                    let mut probe_config = config.clone();
                    probe_config.connect_timeout(std::time::Duration::from_secs(2));
                    tokio::spawn(projector::metrics::serve(
                        listener,
                        projector::metrics::Probe {
                            config: probe_config,
                            schema: schema.to_owned(),
                            limits: settings.lag_limits(),
                        },
                    ));
                }
                Ok(None) => {}
                Err(error) => tracing::error!(%error, addr = %settings.projector_metrics_addr,
                    "metrics listener not started"),
            }
            let live = projector::live::LivePublisher::start(
                settings.redis_url.expose(),
                &settings.redis_channel,
            )
            .context("redis_url")?;
            projector::run_with_live(config, schema, time_zone, live, shutdown_signal()).await?
        }
        Command::Rebuild => {
            let report = projector::rebuild_in_zone(&mut client, schema, time_zone).await?;
            println!(
                "rebuilt {schema}: {} events in {:.1?} ({} events/s)",
                report.events,
                report.elapsed,
                report.events_per_second()
            );
        }
        Command::VerifyExport { .. } => unreachable!("dispatched before connecting"),
        Command::Verify => {
            let report = projector::verify(&mut client, schema).await?;
            println!("{report}");
            if !report.is_clean() {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `ok: N events, last sequence S, last hash H`, or where the export diverges (exit 1).
fn verify_export(file: &std::path::Path) -> anyhow::Result<ExitCode> {
    let reader = std::fs::File::open(file)
        .map(std::io::BufReader::new)
        .with_context(|| format!("open {}", file.display()))?;
    match ledger_core::chain::verify_jsonl(reader) {
        Ok(verified) => {
            println!(
                "ok: {} events, last sequence {}, last hash {}",
                verified.events,
                verified.last_sequence,
                ledger_core::chain::to_hex(&verified.last_hash)
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(divergence) => {
            println!("diverges: {divergence}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler installs");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutdown requested");
}
