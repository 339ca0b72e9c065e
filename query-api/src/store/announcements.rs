//! Announcements to every operator, as published.

use chrono::{DateTime, Utc};
use ledger_core::ids::AnnouncementId;

use super::{Keyed, Store, StoreError, finish_page};
use crate::cursor::{self, TimePositionKey};
use crate::views::{AnnouncementView, Page, Time};

impl Store {
    /// A page of announcements, newest first.
    pub async fn announcements(
        &self,
        limit: i64,
        after: Option<TimePositionKey>,
    ) -> Result<Page<AnnouncementView>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT id, title, body, published_by, published_at, position
                 FROM read.announcements
                 WHERE ($1::timestamptz IS NULL OR (published_at, position) < ($1, $2::bigint))
                 ORDER BY published_at DESC, position DESC
                 LIMIT $3",
            )
            .await?;
        let after_time = after.map(|k| cursor::time(k.t));
        let after_position = after.map(|k| k.p);
        let rows = client
            .query(&stmt, &[&after_time, &after_position, &(limit + 1)])
            .await?;
        let rows = rows
            .iter()
            .map(|row| {
                let published_at: DateTime<Utc> = row.try_get("published_at")?;
                Ok(Keyed {
                    key: TimePositionKey {
                        t: cursor::micros(published_at),
                        p: row.try_get("position")?,
                    },
                    item: AnnouncementView {
                        id: AnnouncementId(row.try_get("id")?),
                        title: row.try_get("title")?,
                        body: row.try_get("body")?,
                        published_by: row.try_get("published_by")?,
                        published_at: Time(published_at),
                    },
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(finish_page(rows, limit))
    }
}
