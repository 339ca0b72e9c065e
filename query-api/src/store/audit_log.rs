//! The staff audit log: every action staff took, from the metadata of their events.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use super::{Keyed, Store, StoreError, finish_page};
use crate::cursor::{self, TimePositionKey};
use crate::views::{Page, StaffActionView, TargetView, Time};

/// Which staff actions to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct StaffActionFilter {
    pub actor_id: Option<String>,
    /// The event type recorded (`RefundApproved`, …).
    pub action: Option<String>,
    pub aggregate_type: Option<String>,
    pub aggregate_id: Option<String>,
    /// Occurred at or after.
    pub from: Option<DateTime<Utc>>,
    /// Occurred before.
    pub to: Option<DateTime<Utc>>,
    pub limit: i64,
    pub after: Option<TimePositionKey>,
}

fn staff_action_view(row: &Row) -> Result<Keyed<StaffActionView, TimePositionKey>, StoreError> {
    let occurred_at: DateTime<Utc> = row.try_get("occurred_at")?;
    let position: i64 = row.try_get("position")?;
    Ok(Keyed {
        key: TimePositionKey {
            t: cursor::micros(occurred_at),
            p: position,
        },
        item: StaffActionView {
            position,
            actor_id: row.try_get("actor_id")?,
            actor_username: row.try_get("actor_username")?,
            actor_role: row.try_get("actor_role")?,
            action: row.try_get("action")?,
            target: TargetView {
                aggregate_type: row.try_get("aggregate_type")?,
                id: row.try_get("aggregate_id")?,
            },
            details: row.try_get("details")?,
            source_ip: row.try_get("source_ip")?,
            request_id: row.try_get("request_id")?,
            occurred_at: Time(occurred_at),
        },
    })
}

impl Store {
    /// A page of the staff audit log, newest first, each action with its actor's username.
    pub async fn staff_actions(
        &self,
        filter: &StaffActionFilter,
    ) -> Result<Page<StaffActionView>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT a.position, a.actor_id, s.username AS actor_username, a.actor_role, a.action,
                        a.aggregate_type, a.aggregate_id, a.details, a.source_ip, a.request_id,
                        a.occurred_at
                 FROM read.staff_actions a
                 LEFT JOIN read.staff s ON s.id::text = a.actor_id
                 WHERE ($1::text IS NULL OR a.actor_id = $1)
                   AND ($2::text IS NULL OR a.action = $2)
                   AND ($3::text IS NULL OR a.aggregate_type = $3)
                   AND ($4::text IS NULL OR a.aggregate_id = $4)
                   AND ($5::timestamptz IS NULL OR a.occurred_at >= $5)
                   AND ($6::timestamptz IS NULL OR a.occurred_at < $6)
                   AND ($7::timestamptz IS NULL OR (a.occurred_at, a.position) < ($7, $8::bigint))
                 ORDER BY a.occurred_at DESC, a.position DESC
                 LIMIT $9",
            )
            .await?;
        let after_time = filter.after.map(|k| cursor::time(k.t));
        let after_position = filter.after.map(|k| k.p);
        let rows = client
            .query(
                &stmt,
                &[
                    &filter.actor_id,
                    &filter.action,
                    &filter.aggregate_type,
                    &filter.aggregate_id,
                    &filter.from,
                    &filter.to,
                    &after_time,
                    &after_position,
                    &(filter.limit + 1),
                ],
            )
            .await?;
        let rows = rows
            .iter()
            .map(staff_action_view)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(finish_page(rows, filter.limit))
    }
}
