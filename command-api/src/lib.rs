//! The command API: every change to the ledger enters here, as a command that is decided on
//! an aggregate and appended as events (HTTP with actix-web).
//!
//! Layout:
//! - [`settings`]: typed settings (defaults → file → `MR_*` environment).
//! - [`http`]: routes and handlers (headset protocol, staff commands, health).
//! - [`grpc`]: the headset protocol over gRPC (own port, same runtime and ledger as HTTP).
//! - [`ledger`]: the command service: cached aggregates, decide, append, retry.
//! - [`accounts`]: logins: password hashes, lockout, sessions.
//! - [`store`]: the event store (events, snapshots, idempotency rows, sealed secrets).
//! - [`crypto`]: AES-256-GCM secret sealing and credential generation.
//! - [`rotation`]: master-key rotation (resealing secrets) and the start-up key check.
//! - [`rate_limit`]: per-IP and per-operator limits in Redis, with a local fallback.
//! - [`anomaly`]: failure counting per IP: blocks, automatic operator locks, security alerts.
//! - [`api_error`]: the table of error codes, statuses and messages.
//! - [`context`], [`wire`]: per-request facts and response formats.
//! - [`notify`]: wakes projectors after commits.
//! - [`position`]: the read-your-writes token (`X-Ledger-Position`) of answers that appended.
//! - [`metrics`]: Prometheus `/metrics` (auth results, latency, revenue, payment callbacks,
//!   rate-limit blocks, HTTP requests per route, database pool and oldest transaction).
//! - [`jobs`]: background work (grant-expiry reminders, the recharge poller).
//! - [`payments`]: the WeChat Pay and Alipay protocols.
//! - [`seed`]: the demo data of `make run`.

pub mod accounts;
pub mod anomaly;
pub mod api_error;
pub mod context;
pub mod crypto;
pub mod grpc;
pub mod http;
pub mod jobs;
pub mod ledger;
pub mod metrics;
pub mod notify;
pub mod payments;
pub mod position;
pub mod rate_limit;
pub mod rotation;
pub mod seed;
pub mod settings;
pub mod store;
pub mod wire;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpServer, web};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use crate::http::AppState;
use crate::ledger::{Clock, Ledger};
use crate::notify::Notifier;
use crate::settings::Settings;

/// Longest time to open a database connection before giving up (the request gets a 503).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Longest wait for a client's request head: a slow or stalled client never holds a worker
/// slot longer (actix's default, stated so that it is a decision rather than an accident).
pub const CLIENT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections of the group-commit writer: it writes one statement at a time.
const COMMITTER_CONNECTIONS: usize = 1;

/// A pool whose waits are bounded: with the database down, requests fail fast with 503.
pub fn pool(settings: &Settings) -> anyhow::Result<Pool> {
    sized_pool(settings, settings.db_pool_size)
}

fn sized_pool(settings: &Settings, size: usize) -> anyhow::Result<Pool> {
    let mut config: tokio_postgres::Config = settings.database_url.parse()?;
    config.connect_timeout(CONNECT_TIMEOUT);
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let wait = Duration::from_millis(settings.db_pool_wait_ms);
    Ok(Pool::builder(manager)
        .max_size(size)
        .wait_timeout(Some(wait))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .recycle_timeout(Some(wait))
        .runtime(Runtime::Tokio1)
        .build()?)
}

/// Applies pending migrations.
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let (mut client, connection) = tokio_postgres::connect(&settings.database_url, NoTls).await?;
    let handle = tokio::spawn(connection);
    migrations::run(&mut client)
        .await
        .map_err(|e| anyhow::anyhow!("migrations: {e}"))?;
    drop(client);
    let _ = handle.await;
    Ok(())
}

/// The service's shared state: ledger (with its pool and caches) and staff auth.
pub fn state(settings: &Settings, clock: Clock) -> anyhow::Result<web::Data<AppState>> {
    settings.validate().map_err(|e| anyhow::anyhow!(e))?;
    let pool = pool(settings)?;
    let master_key = settings.master_keys().map_err(|e| anyhow::anyhow!(e))?;
    let notifier = Notifier::default();
    notifier.spawn(pool.clone());
    // The writer has connections of its own: requests waiting for it hold connections of
    // the main pool, and must never be what keeps it from writing.
    let committer_pool = sized_pool(settings, COMMITTER_CONNECTIONS)?;
    let passwords = accounts::password::Passwords::new(settings)?;
    let accounts = accounts::Accounts::new(settings, pool.clone(), passwords.clone());
    let ledger = Arc::new(
        Ledger::new(
            pool,
            committer_pool,
            master_key,
            notifier,
            clock,
            ledger::Policy::from_settings(settings).map_err(|e| anyhow::anyhow!(e))?,
            passwords,
        )
        .with_payments(Arc::new(
            payments::Gateways::from_settings(settings).map_err(|e| anyhow::anyhow!(e))?,
        ))
        .with_recharge_policy(ledger::recharges::RechargePolicy::from_settings(settings)),
    );
    let rate_limiter = rate_limit::RateLimiter::new(
        rate_limit::config::Limits::from_settings(&settings.rate_limits)
            .map_err(|e| anyhow::anyhow!(e))?,
        settings.redis_url.expose(),
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    let anomaly = Arc::new(
        anomaly::AnomalyGuard::new(
            anomaly::config::Thresholds::from_settings(&settings.anomaly)
                .map_err(|e| anyhow::anyhow!(e))?,
            settings.redis_url.expose(),
            rate_limiter.limits().key_prefix.as_str(),
            Duration::from_millis(rate_limiter.limits().redis_timeout_ms),
        )
        .map_err(|e| anyhow::anyhow!(e))?,
    );
    anomaly.spawn_refresher();
    Ok(web::Data::new(AppState {
        ledger,
        auth: http::auth::Auth::new(settings, accounts),
        rate_limiter: Arc::new(rate_limiter),
        anomaly,
    }))
}

/// Creates the first super admin from `MR_BOOTSTRAP_ADMIN_*` unless a staff account has that
/// username already (safe when several instances start at once).
pub async fn bootstrap(state: &AppState, settings: &Settings) -> anyhow::Result<()> {
    rotation::check_every_secret_opens(&state.ledger.pool, &state.ledger.master_key).await?;
    let created = state
        .ledger
        .ensure_bootstrap_admin(
            &settings.bootstrap_admin_username,
            settings.bootstrap_admin_password.expose(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("bootstrap admin: {} {}", e.code.as_str(), e.details))?;
    if let Some(staff_id) = created {
        tracing::info!(%staff_id, username = %settings.bootstrap_admin_username, "bootstrap super admin created");
    }
    Ok(())
}

/// The HTTP server on `listener` (port 0 in tests); await or spawn the returned server.
pub fn serve(
    listener: TcpListener,
    state: web::Data<AppState>,
    workers: usize,
) -> std::io::Result<actix_web::dev::Server> {
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            // The per-IP limit comes before anything else of the request is looked at
            // (inside the metrics, which count its 429s too).
            .wrap(actix_web::middleware::from_fn(rate_limit::http::per_ip))
            // A blocked IP is refused before the rate limit spends a Redis round trip on it.
            .wrap(actix_web::middleware::from_fn(
                anomaly::http::refuse_blocked,
            ))
            .wrap(actix_web::middleware::from_fn(metrics::track_requests))
            // Every answer whose request appended events carries the appending transaction.
            .wrap(actix_web::middleware::from_fn(position::middleware))
            // Outermost: every request, even one refused by a limit, has its span and ids.
            .wrap(actix_web::middleware::from_fn(context::trace_requests))
            .configure(http::routes)
    })
    // A client has this long to send its request head; actix caps the head itself at 128 KiB
    // and 96 headers (431 / 400 beyond), and each signing header has its own length rule.
    .client_request_timeout(CLIENT_REQUEST_TIMEOUT)
    .listen(listener)?;
    if workers > 0 {
        server = server.workers(workers);
    }
    Ok(server.run())
}
