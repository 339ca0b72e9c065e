//! The instance's one Redis subscription: every message on the channel becomes one
//! [`Live::Changes`] on the hub. When the subscription drops it is re-established (after
//! [`RECONNECT_DELAY`]) and the hub says [`Live::Resync`], since messages published meanwhile
//! are lost (pub/sub keeps nothing).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::broadcast;

use super::Live;
use super::wire::LiveChanges;

/// Wait before subscribing again after the subscription failed.
pub const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// Longest wait for Redis to accept the connection and the subscription.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// At most one warning per this interval while Redis stays unreachable.
const WARN_EVERY: Duration = Duration::from_secs(30);

/// Subscribes to `channel` and forwards its messages to `hub`, for ever.
pub async fn run(client: redis::Client, channel: String, hub: broadcast::Sender<Live>) {
    let mut subscribed_before = false;
    let mut last_warning: Option<Instant> = None;
    loop {
        let outcome = subscribe_once(&client, &channel, &hub, &mut subscribed_before).await;
        let reason = match outcome {
            Ok(()) => "subscription closed".to_owned(),
            Err(e) => e.to_string(),
        };
        if last_warning.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
            tracing::warn!(error = %reason, channel, "live push: Redis subscription lost, retrying");
            last_warning = Some(Instant::now());
        }
        tokio::time::sleep(RECONNECT_DELAY).await;
    }
}

async fn subscribe_once(
    client: &redis::Client,
    channel: &str,
    hub: &broadcast::Sender<Live>,
    subscribed_before: &mut bool,
) -> Result<(), SubscribeError> {
    let mut pubsub = tokio::time::timeout(CONNECT_TIMEOUT, client.get_async_pubsub())
        .await
        .map_err(|_| SubscribeError::Timeout)??;
    tokio::time::timeout(CONNECT_TIMEOUT, pubsub.subscribe(channel))
        .await
        .map_err(|_| SubscribeError::Timeout)??;
    tracing::info!(channel, "live push: subscribed");
    if *subscribed_before {
        // Whatever was published while we were away is gone: clients refetch.
        let _ = hub.send(Live::Resync);
    }
    *subscribed_before = true;
    let mut messages = pubsub.on_message();
    while let Some(message) = messages.next().await {
        match LiveChanges::parse(message.get_payload_bytes()) {
            // No receivers is fine: nobody is watching on this instance.
            Ok(changes) => drop(hub.send(Live::Changes(Arc::new(changes)))),
            Err(e) => tracing::warn!(error = %e, "live push: message dropped"),
        }
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
enum SubscribeError {
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
    #[error("timed out")]
    Timeout,
}
