//! Operators' applications for apps.

use chrono::{DateTime, Utc};
use ledger_core::ids::{AppId, AppRequestId, OperatorId};
use tokio_postgres::Row;

use super::{Keyed, Store, StoreError, finish_page, time_id_key, time_id_params};
use crate::cursor::TimeIdKey;
use crate::views::{ApplicationView, OperatorRef, Page, StaffApplicationView, Time};

/// Which applications to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct ApplicationFilter {
    pub operator_id: Option<OperatorId>,
    /// `pending`, `approved` or `rejected`.
    pub status: Option<String>,
    pub limit: i64,
    pub after: Option<TimeIdKey>,
}

fn application_view(row: &Row) -> Result<Keyed<StaffApplicationView, TimeIdKey>, StoreError> {
    let applied_at: DateTime<Utc> = row.try_get("applied_at")?;
    let id = row.try_get("id")?;
    Ok(Keyed {
        key: time_id_key(applied_at, id),
        item: StaffApplicationView {
            application: ApplicationView {
                id: AppRequestId(id),
                operator_id: OperatorId(row.try_get("operator_id")?),
                app_id: AppId(row.try_get("app_id")?),
                app_name: row.try_get("app_name")?,
                reason: row.try_get("reason")?,
                status: row.try_get("status")?,
                review_reason: row.try_get("review_reason")?,
                reviewed_by: row.try_get("reviewed_by")?,
                applied_at: Time(applied_at),
                reviewed_at: row
                    .try_get::<_, Option<DateTime<Utc>>>("reviewed_at")?
                    .map(Time),
            },
            operator: OperatorRef {
                username: row.try_get("operator_username")?,
                name: row.try_get("operator_name")?,
            },
        },
    })
}

impl Store {
    pub async fn applications(
        &self,
        filter: &ApplicationFilter,
    ) -> Result<Page<StaffApplicationView>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT p.id, p.operator_id, p.app_id, p.app_name, p.reason, p.status,
                        p.review_reason, p.reviewed_by, p.applied_at, p.reviewed_at,
                        o.username AS operator_username, o.name AS operator_name
                 FROM read.app_applications p
                 LEFT JOIN read.operators o ON o.id = p.operator_id
                 WHERE ($1::uuid IS NULL OR p.operator_id = $1)
                   AND ($2::text IS NULL OR p.status = $2)
                   AND ($3::timestamptz IS NULL OR (p.applied_at, p.id) < ($3, $4::uuid))
                 ORDER BY p.applied_at DESC, p.id DESC
                 LIMIT $5",
            )
            .await?;
        let (after_time, after_id) = time_id_params(filter.after);
        let rows = client
            .query(
                &stmt,
                &[
                    &filter.operator_id.map(|o| o.as_uuid()),
                    &filter.status,
                    &after_time,
                    &after_id,
                    &(filter.limit + 1),
                ],
            )
            .await?;
        let rows = rows
            .iter()
            .map(application_view)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(finish_page(rows, filter.limit))
    }
}
