//! `otlp-sink`: an OTLP/gRPC trace collector that only counts, for the traced benchmark runs
//! (`make bench-overhead`). Prints the spans received on SIGTERM / Ctrl-C.

use clap::Parser;
use tests::otlp_sink::OtlpSink;

#[derive(Parser)]
#[command(name = "otlp-sink", about = "OTLP/gRPC trace sink for benchmarks")]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:4317")]
    addr: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let sink = OtlpSink::start(&cli.addr).await?;
    println!("otlp-sink listening on {}", sink.endpoint());
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    println!("spans received: {}", sink.span_count());
    Ok(())
}
