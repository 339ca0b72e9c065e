//! Live push: Server-Sent Events for operators (balance, new games, unread messages) and for
//! finance (today's figures), fed by the projector through Redis pub/sub.
//!
//! One [`LiveHub`] per process: a Redis subscriber task turns each published batch into one
//! [`Live`] value on a `tokio::sync::broadcast` channel that every SSE connection of this
//! instance reads; a figures task keeps finance's today figures in a `watch` channel,
//! recomputed once per instance after money moved (debounced), never once per connection.
//! Each instance subscribes on its own, so a client sees the same updates whichever replica
//! it is connected to.
//!
//! Layout:
//! - `wire`: the message the projector publishes (versioned JSON).
//! - `subscriber`: the Redis subscription, reconnecting by itself.
//! - `figures`: today's money figures (one dedicated read-only connection, one query).
//! - `sse`: the event-stream framing (events, heartbeat comments, the `retry:` hint).
//! - `feeds`: the two routes' handlers and their per-connection streams.
//! - `open_files`: raises the open-file limit, one descriptor per connection.

mod feeds;
mod figures;
pub mod open_files;
mod sse;
mod subscriber;
mod wire;

use std::sync::Arc;

use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

pub use feeds::{finance_live, operator_live};
pub use figures::TodayView;
pub use wire::{LiveChanges, OperatorChange, Usage};

use crate::settings::Settings;

/// Updates buffered per connection before a slow one is told to resync. A message is one
/// projected batch, so this covers minutes of normal traffic.
pub const HUB_CAPACITY: usize = 1024;

/// What goes to every SSE connection of the instance.
#[derive(Debug, Clone)]
pub enum Live {
    /// A projected batch's changes.
    Changes(Arc<LiveChanges>),
    /// Updates may have been missed (the Redis subscription was re-established): every
    /// client should refetch.
    Resync,
}

/// The process-wide fan-out: one Redis subscription, one figures task, any number of
/// connections. Dropping it stops its tasks.
pub struct LiveHub {
    updates: broadcast::Sender<Live>,
    today: watch::Receiver<Option<Arc<TodayView>>>,
    tasks: Vec<JoinHandle<()>>,
}

#[derive(Debug, thiserror::Error)]
pub enum LiveStartError {
    #[error("redis_url: {0}")]
    RedisUrl(#[from] redis::RedisError),
    #[error("database_url: {0}")]
    DatabaseUrl(#[from] tokio_postgres::Error),
}

impl LiveHub {
    /// Starts the subscriber and the figures task (needs a Tokio runtime). Neither Redis nor
    /// the database is contacted here: both may come up later.
    pub fn start(settings: &Settings) -> Result<LiveHub, LiveStartError> {
        let redis = redis::Client::open(settings.redis_url.expose())?;
        let figures = figures::Figures::new(settings)?;
        let (updates, _) = broadcast::channel(HUB_CAPACITY);
        let (today_tx, today) = watch::channel(None);
        let tasks = vec![
            tokio::spawn(subscriber::run(
                redis,
                settings.redis_channel.clone(),
                updates.clone(),
            )),
            tokio::spawn(figures::keep_fresh(figures, updates.subscribe(), today_tx)),
        ];
        Ok(LiveHub {
            updates,
            today,
            tasks,
        })
    }

    /// A receiver of every update from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Live> {
        self.updates.subscribe()
    }

    /// Today's figures as last computed (`None` until the database answered once).
    pub fn today(&self) -> watch::Receiver<Option<Arc<TodayView>>> {
        self.today.clone()
    }
}

impl Drop for LiveHub {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
