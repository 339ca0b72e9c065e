//! Finance's figures of today, kept fresh for every finance SSE connection of the instance.
//!
//! One task per instance owns one read-only database connection and one query. It computes
//! the figures at start, again [`DEBOUNCE`] after a batch that moved money (all such batches
//! within that time share one query), after a resync, and every [`REFRESH`] so the day rolls
//! over at local midnight. The result goes into a `watch` channel: connections read the latest
//! value, and a value equal to the previous one is not sent again.
//!
//! The day is cut in the zone recorded in `read.stats_settings` (the projector's), or
//! [`DEFAULT_TIME_ZONE`] before the projector recorded one. Net is recharged − refunded.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use tokio::sync::{broadcast, watch};
use tokio_postgres::{Client, Config, NoTls};

use super::Live;
use crate::settings::Settings;
use crate::store::READ_ONLY_SESSION;

/// Batches that move money within this window cost one query.
pub const DEBOUNCE: Duration = Duration::from_millis(200);

/// Recomputed at least this often, so the figures follow the local day without a change.
pub const REFRESH: Duration = Duration::from_secs(60);

/// Wait before trying again when the database did not answer.
const RETRY: Duration = Duration::from_secs(2);

/// The zone of statistics days when the read schema records none yet.
pub const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";

const TODAY_SQL: &str = "
    WITH zone AS (
        SELECT coalesce((SELECT time_zone FROM read.stats_settings LIMIT 1), $1) AS name
    ), today AS (
        SELECT name, (now() AT TIME ZONE name)::date AS day FROM zone
    )
    SELECT today.day, today.name AS time_zone,
           coalesce(sum(m.recharged), 0)::numeric(18,2) AS recharged,
           coalesce(sum(m.charged), 0)::numeric(18,2) AS consumed,
           coalesce(sum(m.refunded), 0)::numeric(18,2) AS refunded
    FROM today LEFT JOIN read.stats_money_daily m ON m.day = today.day
    GROUP BY today.day, today.name";

/// The `today` event's data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TodayView {
    pub day: NaiveDate,
    pub time_zone: String,
    pub recharged: Decimal,
    pub consumed: Decimal,
    pub refunded: Decimal,
    /// Recharged − refunded; negative on a day refunds exceed recharges.
    pub net: Decimal,
    pub computed_at: DateTime<Utc>,
}

impl TodayView {
    /// Same figures (the computation time aside).
    fn same_figures(&self, other: &TodayView) -> bool {
        (
            self.day,
            &self.time_zone,
            self.recharged,
            self.consumed,
            self.refunded,
        ) == (
            other.day,
            &other.time_zone,
            other.recharged,
            other.consumed,
            other.refunded,
        )
    }
}

/// The figures' database connection: read only, opened lazily, reopened when lost.
pub struct Figures {
    config: Config,
    client: Option<Client>,
}

impl Figures {
    pub fn new(settings: &Settings) -> Result<Figures, tokio_postgres::Error> {
        let mut config: Config = settings.database_url.parse()?;
        // Read only once open (`READ_ONLY_SESSION` says why not at start-up).
        let session = format!("-c statement_timeout={}", settings.db_statement_timeout_ms);
        let options = match config.get_options() {
            Some(existing) if !existing.is_empty() => format!("{existing} {session}"),
            _ => session,
        };
        config.options(options);
        config.application_name("query-api-live");
        config.connect_timeout(settings.db_connect_timeout());
        Ok(Figures {
            config,
            client: None,
        })
    }

    async fn today(&mut self) -> Result<TodayView, tokio_postgres::Error> {
        let client = match &self.client {
            Some(client) if !client.is_closed() => client,
            _ => {
                let (client, connection) = self.config.connect(NoTls).await?;
                tokio::spawn(connection);
                client.batch_execute(READ_ONLY_SESSION).await?;
                self.client.insert(client)
            }
        };
        let row = client.query_one(TODAY_SQL, &[&DEFAULT_TIME_ZONE]).await?;
        let recharged: Decimal = row.try_get("recharged")?;
        let refunded: Decimal = row.try_get("refunded")?;
        Ok(TodayView {
            day: row.try_get("day")?,
            time_zone: row.try_get("time_zone")?,
            recharged,
            consumed: row.try_get("consumed")?,
            refunded,
            net: recharged - refunded,
            computed_at: Utc::now(),
        })
    }
}

/// Keeps `today` fresh (see the module documentation) until the hub is dropped.
pub async fn keep_fresh(
    mut figures: Figures,
    mut updates: broadcast::Receiver<Live>,
    today: watch::Sender<Option<Arc<TodayView>>>,
) {
    loop {
        match figures.today().await {
            Ok(view) => {
                today.send_if_modified(|current| {
                    let changed = current.as_deref().is_none_or(|c| !c.same_figures(&view));
                    if changed {
                        *current = Some(Arc::new(view));
                    }
                    changed
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "live push: today's figures unavailable");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        }
        if !wait_for_money(&mut updates).await {
            return;
        }
        // Gather the other batches of the moment into this one query.
        tokio::time::sleep(DEBOUNCE).await;
        while let Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) = updates.try_recv() {}
    }
}

/// Waits until money moved, a resync, or [`REFRESH`]; `false` when the hub is gone.
async fn wait_for_money(updates: &mut broadcast::Receiver<Live>) -> bool {
    let refresh = tokio::time::sleep(REFRESH);
    let mut refresh = std::pin::pin!(refresh);
    loop {
        tokio::select! {
            () = &mut refresh => return true,
            update = updates.recv() => match update {
                Ok(Live::Changes(changes)) if !changes.finance => {}
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => return true,
                Err(broadcast::error::RecvError::Closed) => return false,
            },
        }
    }
}
