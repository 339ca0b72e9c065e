//! An operator's message center. The text of a message is rendered per request language from
//! its `kind` and `data` (see `crate::messages`), so rows hold facts, not sentences.

use chrono::{DateTime, Utc};
use ledger_core::ids::OperatorId;
use serde_json::Value;

use super::{Keyed, Store, StoreError, finish_page, time_opt};
use crate::cursor::PositionKey;
use crate::views::{Page, Time};

/// Which messages to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    pub unread_only: bool,
    pub limit: i64,
    pub after: Option<PositionKey>,
}

/// A stored message, before its text is rendered.
#[derive(Debug)]
pub struct MessageRow {
    pub id: i64,
    pub kind: String,
    pub data: Value,
    pub created_at: Time,
    pub read_at: Option<Time>,
}

/// A page of messages and how many of the operator's messages are unread.
#[derive(Debug)]
pub struct MessageRows {
    pub page: Page<MessageRow>,
    pub unread_count: i64,
}

impl Store {
    pub async fn messages(
        &self,
        operator_id: OperatorId,
        filter: &MessageFilter,
    ) -> Result<MessageRows, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT id, kind, data, created_at, read_at
                 FROM read.messages
                 WHERE operator_id = $1
                   AND (NOT $2 OR read_at IS NULL)
                   AND ($3::bigint IS NULL OR id < $3)
                 ORDER BY id DESC
                 LIMIT $4",
            )
            .await?;
        let rows = client
            .query(
                &stmt,
                &[
                    &operator_id.as_uuid(),
                    &filter.unread_only,
                    &filter.after.map(|k| k.p),
                    &(filter.limit + 1),
                ],
            )
            .await?;
        let rows = rows
            .iter()
            .map(|row| {
                let id: i64 = row.try_get("id")?;
                let created_at: DateTime<Utc> = row.try_get("created_at")?;
                Ok(Keyed {
                    key: PositionKey { p: id },
                    item: MessageRow {
                        id,
                        kind: row.try_get("kind")?,
                        data: row.try_get("data")?,
                        created_at: Time(created_at),
                        read_at: time_opt(row, "read_at")?,
                    },
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let page = finish_page(rows, filter.limit);
        let unread_count = unread(&client, operator_id).await?;
        Ok(MessageRows { page, unread_count })
    }

    pub async fn unread_count(&self, operator_id: OperatorId) -> Result<i64, StoreError> {
        let client = self.client().await?;
        unread(&client, operator_id).await
    }
}

async fn unread(
    client: &deadpool_postgres::Client,
    operator_id: OperatorId,
) -> Result<i64, StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT count(*) AS unread FROM read.messages WHERE operator_id = $1 AND read_at IS NULL",
        )
        .await?;
    let row = client.query_one(&stmt, &[&operator_id.as_uuid()]).await?;
    Ok(row.try_get("unread")?)
}
