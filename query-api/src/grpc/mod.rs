//! The auditors' gRPC API (`mrledger.audit.v1.EventStore`, proto crate): the event store as a
//! server stream, beside the HTTP server on its own port (`grpc_addr`), on the same runtime,
//! stopped with it.
//!
//! Layout:
//! - `auth`: the caller from `authorization: Bearer` metadata, with the HTTP API's checks.
//! - `status`: errors as gRPC status codes.
//! - `event_store`: the two calls, streaming keyset pages from the database.

mod auth;
mod event_store;
mod status;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use proto::audit::v1::event_store_server::EventStoreServer;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::Settings;
use crate::auth::TokenVerifier;
use crate::store::{PoolConfigError, Store};

pub use event_store::{EventStoreService, FOLLOW_POLL_INTERVAL, PAGE_SIZE};

/// A running gRPC server. [`Running::stop`] refuses new calls, ends following calls and lets
/// the others finish; dropping it without `stop` aborts the server.
pub struct Running {
    addr: SocketAddr,
    stop: Option<watch::Sender<bool>>,
    /// Longest wait for open calls at `stop` (the HTTP server's `shutdown_timeout_seconds`).
    grace: Duration,
    task: JoinHandle<()>,
}

impl Running {
    /// The address it listens on (the actual port when bound to port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting calls, ends following calls, and waits up to the grace period for
    /// the others to finish before cutting them off.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        // A panicked or aborted server has nothing left to wait for.
        if tokio::time::timeout(self.grace, &mut self.task)
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

/// What the calls share: the store and the token verifier, as the HTTP API has them.
pub struct GrpcState {
    pub store: Store,
    pub verifier: TokenVerifier,
}

#[derive(Debug, thiserror::Error)]
pub enum GrpcStartError {
    #[error("invalid grpc_addr: {0}")]
    Addr(#[from] std::net::AddrParseError),
    #[error(transparent)]
    Pool(#[from] PoolConfigError),
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Starts the gRPC server when `grpc_addr` is set (`None` when it is off). It binds now, so a
/// taken port fails the start, and before the HTTP API answers ready. Its own pool of the
/// query API's read-only connections opens lazily.
pub async fn start_if_enabled(settings: &Settings) -> Result<Option<Running>, GrpcStartError> {
    let Some(addr) = settings.grpc_addr()? else {
        return Ok(None);
    };
    let state = Arc::new(GrpcState {
        store: Store::new(settings)?,
        verifier: TokenVerifier::new(&settings.jwt_secret),
    });
    let grace = Duration::from_secs(settings.shutdown_timeout_seconds);
    Ok(Some(start(addr, state, grace).await?))
}

/// Binds `addr` and serves the event store there; `grace`: see [`Running::stop`].
pub async fn start(
    addr: SocketAddr,
    state: Arc<GrpcState>,
    grace: Duration,
) -> Result<Running, GrpcStartError> {
    let bind_error = |source| GrpcStartError::Bind { addr, source };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    let (stop, stopping) = watch::channel(false);
    // Requests are a filter and a cursor: anything larger than an HTTP body is refused
    // (`RESOURCE_EXHAUSTED`) before it is decoded.
    let service = EventStoreServer::new(EventStoreService::new(state, stopping.clone()))
        .max_decoding_message_size(crate::body_limit::BODY_LIMIT);
    let mut stopping = stopping;
    let task = tokio::spawn(serve(listener, service, async move {
        // A dropped sender (the server aborted) also ends it.
        let _ = stopping.wait_for(|stopping| *stopping).await;
    }));
    tracing::info!(%addr, "query-api gRPC listening");
    Ok(Running {
        addr,
        stop: Some(stop),
        grace,
        task,
    })
}

async fn serve(
    listener: tokio::net::TcpListener,
    service: EventStoreServer<EventStoreService>,
    shutdown: impl Future<Output = ()>,
) {
    let result = Server::builder()
        // Each call in its own span, joined to the caller's trace.
        .trace_fn(|request| {
            telemetry::grpc_call_span(request.uri().path(), |name| {
                request.headers().get(name).and_then(|v| v.to_str().ok())
            })
        })
        .add_service(service)
        .serve_with_incoming_shutdown(
            // The builder's `tcp_nodelay` does not reach a listener passed in; without it a
            // small message can wait for Nagle's timer.
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "gRPC server stopped with an error");
    }
}
