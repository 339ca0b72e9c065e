//! The headset protocol over gRPC (`mrledger.headset.v1.HeadsetService`, proto crate): the
//! same four calls as the HTTP routes, on their own port (`command_grpc_addr`), on the same
//! runtime as the HTTP server and stopped after it.
//!
//! Layout:
//! - `metadata`: signing credentials and request facts from call metadata.
//! - `status`: error codes as gRPC statuses (`x-error-code` metadata).
//! - `headset`: the four calls: check the messages, call the ledger, encode its answers.

mod headset;
mod metadata;
mod status;

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::web;
use proto::headset::v1::headset_service_server::HeadsetServiceServer;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::http::AppState;
use crate::settings::Settings;

pub use headset::{AUTHORIZE, CONFIG, END, HEARTBEAT, HeadsetService};
pub use status::ERROR_CODE_KEY;

/// Longest wait for open calls at [`Running::stop`]: actix-web's own shutdown timeout.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// A running gRPC server. [`Running::stop`] refuses new calls and lets open ones finish;
/// dropping it without `stop` aborts the server.
pub struct Running {
    addr: SocketAddr,
    stop: Option<watch::Sender<bool>>,
    task: JoinHandle<()>,
}

impl Running {
    /// The address it listens on (the actual port when bound to port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting calls and waits up to [`SHUTDOWN_GRACE`] for open ones.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut self.task)
            .await
            .is_err()
        {
            tracing::warn!("gRPC calls still open after the grace period: cut off");
            self.task.abort();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.stop.is_some() {
            self.task.abort();
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GrpcStartError {
    #[error("invalid command_grpc_addr: {0}")]
    Addr(#[from] std::net::AddrParseError),
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Starts the gRPC server when `command_grpc_addr` is set (`None` when it is off). It binds
/// now, so a taken port fails the start before HTTP serves.
pub async fn start_if_enabled(
    settings: &Settings,
    state: web::Data<AppState>,
) -> Result<Option<Running>, GrpcStartError> {
    match settings.grpc_addr()? {
        Some(addr) => Ok(Some(start(addr, state).await?)),
        None => Ok(None),
    }
}

/// Binds `addr` (port 0: any free port) and serves the headset calls on the HTTP API's
/// ledger, so caches, batching and idempotency are shared by both transports.
pub async fn start(
    addr: SocketAddr,
    state: web::Data<AppState>,
) -> Result<Running, GrpcStartError> {
    let bind_error = |source| GrpcStartError::Bind { addr, source };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    let (stop, mut stopping) = watch::channel(false);
    let service = HeadsetServiceServer::new(HeadsetService::new(state))
        .max_decoding_message_size(crate::http::body::BODY_LIMIT);
    let task = tokio::spawn(async move {
        let shutdown = async move {
            // A dropped sender (the server aborted) also ends it.
            let _ = stopping.wait_for(|stopping| *stopping).await;
        };
        // The builder's `tcp_nodelay` does not reach a listener passed in: without it, small
        // answers wait for the client's delayed ACK (~40 ms each).
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let result = Server::builder()
            .trace_fn(call_span)
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "gRPC server stopped with an error");
        }
    });
    tracing::info!(%addr, "command-api gRPC listening");
    Ok(Running {
        addr,
        stop: Some(stop),
        task,
    })
}

/// The span a call runs in, joined to the caller's trace; the handler records the request id
/// it makes when the caller sent none ([`metadata::context`]).
fn call_span(request: &tonic::codegen::http::Request<()>) -> tracing::Span {
    telemetry::grpc_call_span(request.uri().path(), |name| {
        request.headers().get(name).and_then(|v| v.to_str().ok())
    })
}
