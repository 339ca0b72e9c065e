//! JSON logs on stdout, one object per line.

use tracing_subscriber::EnvFilter;

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("invalid log filter: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    #[error("a global subscriber is already installed")]
    AlreadyInstalled,
}

/// Installs the process-wide subscriber; `filter` takes `EnvFilter` directives (`info`,
/// `query_api=debug,info`).
pub fn init(filter: &str) -> Result<(), TelemetryError> {
    let filter = EnvFilter::try_new(filter)?;
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_env_filter(filter)
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInstalled)
}
