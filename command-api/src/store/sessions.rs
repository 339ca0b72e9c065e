//! Idempotency rows of headset sessions (`headset_sessions`).

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use ledger_core::ids::{AppId, OperatorId, SessionId, SiteId};

use super::StoreError;

/// What was recorded when a session was first authorized.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub app_id: AppId,
    pub site_id: SiteId,
    pub player_count: i32,
    pub authorized_at: DateTime<Utc>,
    /// The original response `data`, byte for byte.
    pub response: String,
    /// The first `/end` response `data`, once the session ended.
    pub end_response: Option<String>,
}

pub async fn find(
    client: &impl GenericClient,
    operator: OperatorId,
    session: &SessionId,
) -> Result<Option<SessionRecord>, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT app_id, site_id, player_count, authorized_at, response, end_response \
             FROM headset_sessions WHERE operator_id = $1 AND session_id = $2",
        )
        .await?;
    let row = client
        .query_opt(&statement, &[&operator.as_uuid(), &session.as_str()])
        .await?;
    Ok(row.map(|row| SessionRecord {
        app_id: AppId(row.get(0)),
        site_id: SiteId(row.get(1)),
        player_count: row.get(2),
        authorized_at: row.get(3),
        response: row.get(4),
        end_response: row.get(5),
    }))
}

/// The insert of a session's idempotency row; `$1..$6` as in [`SessionRecord`].
pub const INSERT_SESSION: &str = "INSERT INTO headset_sessions \
    (operator_id, session_id, app_id, site_id, player_count, authorized_at, response) \
    VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// Records the first `/end` of a session; false when another request recorded it first.
pub async fn record_end(
    client: &impl GenericClient,
    operator: OperatorId,
    session: &SessionId,
    end_response: &str,
) -> Result<bool, StoreError> {
    let statement = client
        .prepare_cached(
            "UPDATE headset_sessions SET end_response = $3 \
             WHERE operator_id = $1 AND session_id = $2 AND end_response IS NULL",
        )
        .await?;
    let updated = client
        .execute(
            &statement,
            &[&operator.as_uuid(), &session.as_str(), &end_response],
        )
        .await?;
    Ok(updated == 1)
}
