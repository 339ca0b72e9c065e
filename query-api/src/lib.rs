//! The query API of MR Ledger: operators read their own account, staff and auditors read the
//! read models (schema `read`) and the event store over HTTP. It only reads: every connection is opened read-only, and no statement
//! here writes, except for the finance reports it renders and stores (`reports`, one table).
//! The auditors' verify (`POST /api/v1/audit/verify`) runs the projector's verify on a
//! connection of its own that is not read only: its replay fills a scratch schema inside a
//! transaction that always rolls back, so it leaves nothing behind.
//! What it shows may lag the ledger by the projector's lag (and, when reads go to a streaming
//! replica, by its replication lag); balances say which event position they reflect, and a
//! request with a command's position token is served only once that write is visible
//! ([`consistency`]).
//!
//! Start it with [`run`] (or [`build`] for a server handle); tests pass a listener on port 0
//! and their own database.
//!
//! Layout:
//! - [`settings`]: the typed settings (defaults → TOML → `MR_*` environment).
//! - [`telemetry`]: JSON logs.
//! - [`context`]: per-request id and language, access log (the outermost middleware).
//! - [`body_limit`]: the request body size limit (413 `PAYLOAD_TOO_LARGE`).
//! - [`consistency`]: where a request's reads go (replica or primary) and its
//!   read-your-writes token (`X-Ledger-Min-Position`).
//! - [`endpoints`]: every route and the access it needs (the API's spec).
//! - [`auth`]: the caller: access token (HS256 JWT), live login session, route access.
//! - [`params`]: path and query decoding into typed filters, naming every bad field.
//! - [`cursor`]: opaque keyset cursors.
//! - [`store`]: every SQL read (the only module with SQL).
//! - [`views`]: the JSON shapes of the answers.
//! - [`messages`]: operators' message text per language.
//! - [`envelope`], [`errors`]: the success and error bodies, and the error → status/code table.
//! - [`metrics`]: Prometheus `/metrics` and the Redis and projector-lag readiness checks.
//! - [`handlers`]: one module per area and the route table.
//! - [`pdf`]: invoice PDFs (Chinese text without a font file).
//! - [`export`]: CSV and XLSX downloads streamed from database rows in constant memory.
//! - [`grpc`]: the auditors' gRPC event stream (own port, same runtime, same token checks).
//! - [`live`]: Server-Sent Events for operators and finance, fed through Redis pub/sub.
//! - [`reports`]: finance reports (PDF and XLSX), on demand and on a schedule; the one thing
//!   the query API writes (`public.finance_reports`, through a pool of its own).

pub mod auth;
pub mod body_limit;
pub mod consistency;
pub mod context;
pub mod cursor;
pub mod endpoints;
pub mod envelope;
pub mod errors;
pub mod export;
pub mod grpc;
pub mod handlers;
pub mod live;
pub mod messages;
pub mod metrics;
pub mod params;
pub mod pdf;
pub mod reports;
pub mod settings;
pub mod store;
pub mod views;

use std::future::Future;
use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};

pub use settings::{Secret, Settings};

use crate::auth::TokenVerifier;
use crate::reports::Reports;
use crate::store::{PoolConfigError, Store};

/// Longest wait for a client's request head: a slow or stalled client never holds a worker
/// slot longer (actix's default, stated so that it is a decision rather than an accident).
pub const CLIENT_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// What every handler shares.
pub struct AppState {
    pub store: Store,
    pub verifier: TokenVerifier,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Settings(#[from] settings::SettingsError),
    #[error(transparent)]
    Pool(#[from] PoolConfigError),
    #[error(transparent)]
    ReportsPool(#[from] reports::ReportsPoolError),
    #[error(transparent)]
    Live(#[from] live::LiveStartError),
    #[error(transparent)]
    Probe(#[from] metrics::ProbeConfigError),
    #[error("HTTP server: {0}")]
    Io(#[from] std::io::Error),
    #[error("gRPC server: {0}")]
    Grpc(#[from] grpc::GrpcStartError),
}

/// Builds the server on `listener`; it serves once awaited (or spawned) and stops through
/// its handle (`server.handle().stop(true)`). OS signals are left to the caller.
/// The database is not contacted here: it may come up later (`/health/ready` tells).
pub fn build(listener: TcpListener, settings: &Settings) -> Result<Server, StartError> {
    settings.validate()?;
    build_with_reports(listener, settings, Reports::new(settings)?)
}

fn build_with_reports(
    listener: TcpListener,
    settings: &Settings,
    reports: Reports,
) -> Result<Server, StartError> {
    let reports = web::Data::new(reports);
    let verify = web::Data::new(handlers::VerifyRunner::new(settings));
    let probe = web::Data::new(metrics::Probe::new(settings)?);
    let consistency = web::Data::new(consistency::ConsistencyWait(settings.consistency_wait()));
    let state = web::Data::new(AppState {
        store: Store::new(settings)?,
        verifier: TokenVerifier::new(&settings.jwt_secret),
    });
    // The SSE routes' fan-out: one Redis subscription per process.
    let live = web::Data::new(live::LiveHub::start(settings)?);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(live.clone())
            .app_data(reports.clone())
            .app_data(verify.clone())
            .app_data(probe.clone())
            .app_data(consistency.clone())
            .app_data(body_limit::payload_config())
            .wrap(from_fn(consistency::middleware))
            .wrap(from_fn(body_limit::middleware))
            .wrap(from_fn(metrics::track_requests))
            .wrap(from_fn(context::middleware))
            .configure(handlers::configure)
            .default_service(web::to(handlers::not_found))
    })
    .workers(settings.http_workers)
    // A client has this long to send its request head (actix caps the head itself at
    // 128 KiB and 96 headers, answering 431 / 400 beyond).
    .client_request_timeout(CLIENT_REQUEST_TIMEOUT)
    .shutdown_timeout(settings.shutdown_timeout_seconds)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(server)
}

/// Serves on `listener` until `shutdown` completes, then lets in-flight requests finish
/// (up to `shutdown_timeout_seconds`). Runs the finance report schedule meanwhile when
/// `reports.schedule` is on.
pub async fn run(
    listener: TcpListener,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), StartError> {
    settings.validate()?;
    let reports = Reports::new(&settings)?;
    let _schedule = settings.reports.schedule.then(|| {
        AbortOnDrop(tokio::spawn(crate::reports::schedule::run_schedule(
            reports.clone(),
            settings.reports.schedule_interval(),
        )))
    });
    let server = build_with_reports(listener, &settings, reports)?;
    // The auditors' gRPC stream on its own port (bound before HTTP answers ready); dropped,
    // it aborts, so an early return below stops it too.
    let grpc = grpc::start_if_enabled(&settings).await?;
    let handle = server.handle();
    let mut server = std::pin::pin!(server);
    tokio::select! {
        result = &mut server => return Ok(result?),
        () = shutdown => {}
    }
    // The server future itself carries out the stop command: keep polling it until done.
    let stopped = handle.stop(true);
    server.await?;
    stopped.await;
    if let Some(grpc) = grpc {
        grpc.stop().await;
    }
    Ok(())
}

/// A background task stopped when the server it belongs to stops.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
