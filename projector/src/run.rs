//! The tailing loop: project until caught up, then wait for a notification or the poll
//! interval, until shutdown. Everything needed to restart is in the checkpoint.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use tokio::sync::Notify;
use tokio_postgres::{AsyncMessage, Client, Config, NoTls};

use crate::batch::project_next_batch_live;
use crate::live::LivePublisher;
use crate::time_zone::{self, DEFAULT_TIME_ZONE};
use crate::{Error, Step, check_schema_name};

/// Channel command-api notifies after its commits.
pub const NOTIFY_CHANNEL: &str = "mr_events";

/// How often to look for events without a notification: an event held back behind an older
/// open transaction becomes visible without any new notification, and notifications can be
/// lost while the listening connection is down.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Wait before reconnecting after the database went away.
pub const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// Session advisory lock of the active projector: of several `projector run` processes on one
/// database, the one holding it projects and the others stand by. Its connection's end (the
/// process died, the network dropped) releases it. Correctness does not rest on it — every
/// batch takes the projection lock and re-reads the checkpoint — it keeps standbys idle.
pub const LEADER_LOCK: i64 = 7_262_736_512;

/// How often a standby projector tries to become the active one: the takeover time after the
/// active one dies.
pub const STANDBY_POLL: Duration = Duration::from_secs(1);

/// After a wake-up, wait this long before reading, so one batch carries the events of many
/// commits: a batch costs about the same for 2 events as for 200, and under load waking per
/// commit spent more CPU projecting than charging. Far inside the 1 s lag budget.
pub const GATHER: Duration = Duration::from_millis(20);

/// Runs the projector into `schema` until `shutdown` completes, with statistics days in
/// [`DEFAULT_TIME_ZONE`]; see [`run_in_zone`].
pub async fn run(
    config: Config,
    schema: &str,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    run_in_zone(config, schema, DEFAULT_TIME_ZONE, shutdown).await
}

/// Runs the projector into `schema` until `shutdown` completes, cutting statistics days in
/// `time_zone`.
///
/// A zone PostgreSQL does not know, or a schema whose statistics were cut in another zone,
/// stops it before anything is projected (the second needs `projector rebuild`).
/// Transient database errors (connection lost, serialization failure) are logged and retried
/// on a new connection; anything else (a pair assertion, an undecodable event) stops the
/// loop with the error, since it would fail again.
pub async fn run_in_zone(
    config: Config,
    schema: &str,
    time_zone: &str,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    run_with_live(
        config,
        schema,
        time_zone,
        LivePublisher::disabled(),
        shutdown,
    )
    .await
}

/// [`run_in_zone`], handing every committed batch's changes to `live` for SSE clients.
pub async fn run_with_live(
    config: Config,
    schema: &str,
    time_zone: &str,
    live: LivePublisher,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    check_schema_name(schema)?;
    let mut shutdown = std::pin::pin!(shutdown);
    let wake = Arc::new(Notify::new());
    let listener = tokio::spawn(listen(config.clone(), Arc::clone(&wake)));
    let result = project_until(&config, schema, time_zone, &wake, &live, &mut shutdown).await;
    listener.abort();
    tracing::info!("projector stopped");
    result
}

async fn project_until(
    config: &Config,
    schema: &str,
    time_zone: &str,
    wake: &Notify,
    live: &LivePublisher,
    shutdown: &mut (impl Future<Output = ()> + Unpin),
) -> Result<(), Error> {
    let mut client: Option<Client> = None;
    // Whether `client` holds the leader lock (it goes with the connection).
    let mut active = false;
    let mut standby_logged = false;
    loop {
        let outcome = match client.as_mut() {
            Some(c) if !c.is_closed() && active => catch_up(c, schema, live, shutdown).await,
            Some(c) if !c.is_closed() => match take_leadership(c).await {
                Ok(true) => {
                    active = true;
                    crate::metrics::set_active(true);
                    tracing::info!(schema, "active projector");
                    continue;
                }
                Ok(false) => {
                    if !standby_logged {
                        tracing::info!(schema, "another projector is active: standing by");
                        standby_logged = true;
                    }
                    tokio::select! {
                        () = tokio::time::sleep(STANDBY_POLL) => continue,
                        () = &mut *shutdown => return Ok(()),
                    }
                }
                Err(e) => Err(e),
            },
            // Checked on every connection: a rebuild may have swapped in another schema.
            _ => {
                if active {
                    active = false;
                    crate::metrics::set_active(false);
                }
                match connect_claiming(config, schema, time_zone).await {
                    Ok(c) => {
                        tracing::info!(schema, "projector connected");
                        client = Some(c);
                        continue;
                    }
                    Err(e) => Err(e),
                }
            }
        };
        match outcome {
            Ok(Some(())) => return Ok(()),
            Ok(None) => {}
            Err(e) if e.is_transient() => {
                tracing::warn!(error = %e, "database unavailable, reconnecting");
                client = None;
                tokio::select! {
                    () = tokio::time::sleep(RECONNECT_DELAY) => {}
                    () = &mut *shutdown => return Ok(()),
                }
                continue;
            }
            Err(e) => {
                tracing::error!(error = %e, "projection stopped: needs a person");
                return Err(e);
            }
        }
        tokio::select! {
            () = wake.notified() => tokio::time::sleep(GATHER).await,
            () = tokio::time::sleep(POLL_INTERVAL) => {}
            () = &mut *shutdown => return Ok(()),
        }
    }
}

/// Tries to become the active projector on `client`'s session.
async fn take_leadership(client: &Client) -> Result<bool, Error> {
    let row = client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&LEADER_LOCK])
        .await?;
    Ok(row.get(0))
}

/// Projects batches until caught up; `Some(())` when shutdown was asked for meanwhile.
/// A batch in flight is always finished, never cut.
async fn catch_up(
    client: &mut Client,
    schema: &str,
    live: &LivePublisher,
    shutdown: &mut (impl Future<Output = ()> + Unpin),
) -> Result<Option<()>, Error> {
    loop {
        if (&mut *shutdown).now_or_never().is_some() {
            return Ok(Some(()));
        }
        let (step, changes) = project_next_batch_live(client, schema).await?;
        match step {
            Step::Projected(n) => {
                tracing::debug!(schema, events = n, "batch projected");
                crate::metrics::events_projected(n);
                live.publish(changes);
            }
            Step::CaughtUp => return Ok(None),
        }
    }
}

/// Connects, and checks that `schema` records `time_zone` (recording it if none yet).
async fn connect_claiming(config: &Config, schema: &str, time_zone: &str) -> Result<Client, Error> {
    let client = connect(config).await?;
    time_zone::check(&client, time_zone).await?;
    time_zone::claim(&client, schema, time_zone).await?;
    Ok(client)
}

async fn connect(config: &Config) -> Result<Client, Error> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "projector connection closed");
        }
    });
    Ok(client)
}

/// Keeps a dedicated connection listening on [`NOTIFY_CHANNEL`] and wakes the loop on every
/// notification; reconnects when that connection is lost (the poll interval covers the gap).
async fn listen(config: Config, wake: Arc<Notify>) {
    loop {
        match listen_once(&config, &wake).await {
            Ok(()) => tracing::warn!("listening connection closed"),
            Err(e) => tracing::warn!(error = %e, "listening connection failed"),
        }
        tokio::time::sleep(RECONNECT_DELAY).await;
    }
}

async fn listen_once(config: &Config, wake: &Notify) -> Result<(), Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    let listen_sql = format!("LISTEN {NOTIFY_CHANNEL}");
    let listen = client.batch_execute(&listen_sql);
    // The connection must be driven while LISTEN runs: poll both.
    let mut listen = std::pin::pin!(listen);
    let mut listening = false;
    loop {
        tokio::select! {
            result = &mut listen, if !listening => {
                result?;
                listening = true;
                tracing::info!(channel = NOTIFY_CHANNEL, "listening");
                // Events may have been appended while no one listened.
                wake.notify_one();
            }
            message = messages.next() => match message {
                Some(Ok(AsyncMessage::Notification(_))) => wake.notify_one(),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(()),
            },
        }
    }
}
