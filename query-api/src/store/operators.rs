//! Operators and what hangs off them: sites, grants, credentials, headset servers.

use chrono::{DateTime, Utc};
use ledger_core::ids::{AppId, OperatorId, SiteId};
use ledger_core::operator::{Credential, Grant};
use tokio_postgres::Row;

use super::{SUB_LIST_MAX, Store, StoreError, money, money_opt, split_page};
use crate::cursor::{self, TimeIdKey};
use crate::views::{
    CredentialView, GrantView, HeadsetServerView, OperatorView, Page, SiteView, Time,
};

/// Which operators to list, newest registration first.
#[derive(Debug, Clone, Default)]
pub struct OperatorFilter {
    /// Case-insensitive substring of the username or the name.
    pub q: Option<String>,
    pub status: Option<String>,
    pub category: Option<String>,
    /// Rows per page (1..=100, checked by the caller).
    pub limit: i64,
    /// Continue after this row.
    pub after: Option<TimeIdKey>,
}

const OPERATOR_COLUMNS: &str = "id, username, name, phone, email, category, status, locked_at, lock_reason, \
     balance, total_credited, total_charged, games, registered_at, updated_at";

fn operator_view(row: &Row) -> Result<OperatorView, StoreError> {
    Ok(OperatorView {
        id: OperatorId(row.try_get("id")?),
        username: row.try_get("username")?,
        name: row.try_get("name")?,
        phone: row.try_get("phone")?,
        email: row.try_get("email")?,
        category: row.try_get("category")?,
        status: row.try_get("status")?,
        locked_at: row
            .try_get::<_, Option<DateTime<Utc>>>("locked_at")?
            .map(Time),
        lock_reason: row.try_get("lock_reason")?,
        balance: money(row, "balance")?,
        total_credited: money(row, "total_credited")?,
        total_charged: money(row, "total_charged")?,
        games: row.try_get("games")?,
        registered_at: Time(row.try_get("registered_at")?),
        updated_at: Time(row.try_get("updated_at")?),
    })
}

/// `text` as a `LIKE` pattern matching it anywhere, with the pattern characters escaped.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl Store {
    pub async fn operator(
        &self,
        operator_id: OperatorId,
    ) -> Result<Option<OperatorView>, StoreError> {
        let client = self.client().await?;
        let sql = format!("SELECT {OPERATOR_COLUMNS} FROM read.operators WHERE id = $1");
        let stmt = client.prepare_cached(&sql).await?;
        client
            .query_opt(&stmt, &[&operator_id.as_uuid()])
            .await?
            .as_ref()
            .map(operator_view)
            .transpose()
    }

    pub async fn operators(
        &self,
        filter: &OperatorFilter,
    ) -> Result<Page<OperatorView>, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {OPERATOR_COLUMNS} FROM read.operators
             WHERE ($1::text IS NULL OR username ILIKE $1 ESCAPE '\\' OR name ILIKE $1 ESCAPE '\\')
               AND ($2::text IS NULL OR status = $2)
               AND ($3::text IS NULL OR category = $3)
               AND ($4::timestamptz IS NULL OR (registered_at, id) < ($4, $5::uuid))
             ORDER BY registered_at DESC, id DESC
             LIMIT $6"
        );
        let stmt = client.prepare_cached(&sql).await?;
        let pattern = filter.q.as_deref().map(contains_pattern);
        let after_time = filter.after.map(|k| cursor::time(k.t));
        let after_id = filter.after.map(|k| k.id);
        let rows = client
            .query(
                &stmt,
                &[
                    &pattern,
                    &filter.status,
                    &filter.category,
                    &after_time,
                    &after_id,
                    &(filter.limit + 1),
                ],
            )
            .await?;
        let items = rows
            .iter()
            .map(operator_view)
            .collect::<Result<Vec<_>, _>>()?;
        let (items, more) = split_page(items, filter.limit);
        let next_cursor = match items.last() {
            Some(last) if more => Some(cursor::encode(&TimeIdKey {
                t: cursor::micros(last.registered_at.0),
                id: last.id.as_uuid(),
            })),
            _ => None,
        };
        Ok(Page { items, next_cursor })
    }

    /// The operator's sites, open and closed; `None` when the operator is unknown.
    pub async fn sites(
        &self,
        operator_id: OperatorId,
    ) -> Result<Option<Vec<SiteView>>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT id, name, address, status, opened_at, updated_at, closed_at
                 FROM read.sites WHERE operator_id = $1
                 ORDER BY opened_at, id
                 LIMIT $2",
            )
            .await?;
        let rows = client
            .query(&stmt, &[&operator_id.as_uuid(), &SUB_LIST_MAX])
            .await?;
        let items = rows
            .iter()
            .map(|row| {
                Ok(SiteView {
                    id: SiteId(row.try_get("id")?),
                    name: row.try_get("name")?,
                    address: row.try_get("address")?,
                    status: row.try_get("status")?,
                    opened_at: Time(row.try_get("opened_at")?),
                    updated_at: Time(row.try_get("updated_at")?),
                    closed_at: row
                        .try_get::<_, Option<DateTime<Utc>>>("closed_at")?
                        .map(Time),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        existing_operator_list(&client, operator_id, items).await
    }

    /// The operator's app grants with each app's current terms; `expired` is judged at `now`
    /// by the domain's own rule. `None` when the operator is unknown.
    pub async fn grants(
        &self,
        operator_id: OperatorId,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<GrantView>>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT g.app_id, a.name AS app_name, a.unit_price, a.min_players, a.max_players,
                        a.status AS app_status, g.status, g.granted_at, g.expires_at, g.revoked_at
                 FROM read.grants g
                 LEFT JOIN read.apps a ON a.id = g.app_id
                 WHERE g.operator_id = $1
                 ORDER BY a.name NULLS LAST, g.app_id
                 LIMIT $2",
            )
            .await?;
        let rows = client
            .query(&stmt, &[&operator_id.as_uuid(), &SUB_LIST_MAX])
            .await?;
        let items = rows
            .iter()
            .map(|row| {
                let expires_at: Option<DateTime<Utc>> = row.try_get("expires_at")?;
                Ok(GrantView {
                    app_id: AppId(row.try_get("app_id")?),
                    app_name: row.try_get("app_name")?,
                    unit_price: money_opt(row, "unit_price")?,
                    min_players: row.try_get("min_players")?,
                    max_players: row.try_get("max_players")?,
                    app_status: row.try_get("app_status")?,
                    status: row.try_get("status")?,
                    granted_at: Time(row.try_get("granted_at")?),
                    expires_at: expires_at.map(Time),
                    revoked_at: row
                        .try_get::<_, Option<DateTime<Utc>>>("revoked_at")?
                        .map(Time),
                    expired: Grant { expires_at }.is_expired(now),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        existing_operator_list(&client, operator_id, items).await
    }

    /// The operator's API credentials (key ids and fingerprints: the secrets are not in the
    /// read side at all). `None` when the operator is unknown.
    pub async fn credentials(
        &self,
        operator_id: OperatorId,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<CredentialView>>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT key_id, fingerprint, issued_at, ends_at
                 FROM read.credentials WHERE operator_id = $1
                 ORDER BY issued_at DESC, key_id
                 LIMIT $2",
            )
            .await?;
        let rows = client
            .query(&stmt, &[&operator_id.as_uuid(), &SUB_LIST_MAX])
            .await?;
        let items = rows
            .iter()
            .map(|row| {
                let credential = Credential {
                    fingerprint: row.try_get("fingerprint")?,
                    issued_at: row.try_get("issued_at")?,
                    ends_at: row.try_get("ends_at")?,
                };
                Ok(CredentialView {
                    key_id: row.try_get("key_id")?,
                    live: credential.is_live(now),
                    issued_at: Time(credential.issued_at),
                    ends_at: credential.ends_at.map(Time),
                    fingerprint: credential.fingerprint,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        existing_operator_list(&client, operator_id, items).await
    }

    /// The operator's headset servers, most recently seen first. `None` when the operator is
    /// unknown.
    pub async fn headset_servers(
        &self,
        operator_id: OperatorId,
    ) -> Result<Option<Vec<HeadsetServerView>>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT h.server_id, h.site_id, s.name AS site_name, h.players_online, h.version, h.last_seen_at
                 FROM read.headset_servers h
                 LEFT JOIN read.sites s ON s.id = h.site_id AND s.operator_id = h.operator_id
                 WHERE h.operator_id = $1
                 ORDER BY h.last_seen_at DESC, h.server_id
                 LIMIT $2",
            )
            .await?;
        let rows = client
            .query(&stmt, &[&operator_id.as_uuid(), &SUB_LIST_MAX])
            .await?;
        let items = rows
            .iter()
            .map(|row| {
                Ok(HeadsetServerView {
                    server_id: row.try_get("server_id")?,
                    site_id: SiteId(row.try_get("site_id")?),
                    site_name: row.try_get("site_name")?,
                    players_online: row.try_get("players_online")?,
                    version: row.try_get("version")?,
                    last_seen_at: Time(row.try_get("last_seen_at")?),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        existing_operator_list(&client, operator_id, items).await
    }
}

/// A sub-list of an operator, or `None` when it is empty because the operator is unknown.
/// Rows of a sub-list exist only for a known operator, so the check runs for empty lists only.
pub(super) async fn existing_operator_list<T>(
    client: &deadpool_postgres::Client,
    operator_id: OperatorId,
    items: Vec<T>,
) -> Result<Option<Vec<T>>, StoreError> {
    if items.is_empty() && !Store::operator_exists(client, operator_id.as_uuid()).await? {
        return Ok(None);
    }
    Ok(Some(items))
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    #[test]
    fn search_text_is_matched_literally() {
        assert_eq!(contains_pattern("ab"), "%ab%");
        assert_eq!(contains_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }

    #[test]
    fn uuid_keys_round_trip() {
        let key = TimeIdKey {
            t: 1,
            id: Uuid::nil(),
        };
        assert_eq!(
            cursor::decode::<TimeIdKey>(&cursor::encode(&key)),
            Some(key)
        );
    }
}
