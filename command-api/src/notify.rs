//! Wakes projectors after appends: one `NOTIFY mr_events` per burst of commits.
//!
//! Sent from here rather than by a trigger in every appending transaction, because NOTIFY
//! takes a database-wide lock at commit that would serialise all appends. A projector also
//! polls, so a lost notification only delays it.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::Notify;

/// Channel the projector listens on.
pub const CHANNEL: &str = "mr_events";
/// Pause after each NOTIFY: commits within it share the next one.
const COALESCE: Duration = Duration::from_millis(2);

#[derive(Clone, Default)]
pub struct Notifier {
    pending: Arc<Notify>,
}

impl Notifier {
    /// Marks that events were committed; cheap, never blocks.
    pub fn notify(&self) {
        self.pending.notify_one();
    }

    /// Sends the notifications until the process ends.
    pub fn spawn(&self, pool: Pool) -> tokio::task::JoinHandle<()> {
        let pending = self.pending.clone();
        tokio::spawn(async move {
            loop {
                pending.notified().await;
                match pool.get().await {
                    Ok(client) => {
                        if let Err(e) = client.batch_execute(&format!("NOTIFY {CHANNEL}")).await {
                            tracing::debug!(error = %e, "NOTIFY failed; projectors will poll");
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "no connection for NOTIFY"),
                }
                tokio::time::sleep(COALESCE).await;
            }
        })
    }
}
