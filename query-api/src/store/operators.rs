//! Operators and what hangs off them: sites, grants, credentials, headset servers; the admin
//! list and detail page and the operator's own profile.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use ledger_core::ids::{AppId, OperatorId, SiteId};
use ledger_core::money::Money;
use ledger_core::operator::{Credential, Grant};
use tokio_postgres::Row;

use super::{SUB_LIST_MAX, Store, StoreError, money, money_opt, split_page, time_opt};
use crate::cursor::{self, TimeIdKey};
use crate::views::{
    AuthorizedAppView, CredentialView, GrantView, HeadsetServerView, OperatorDetailView,
    OperatorTotals, OperatorView, Page, ProfileView, SiteView, Time,
};

/// The status of a deactivated operator (ledger-core `AccountStatus::Deactivated`).
const DEACTIVATED: &str = "deactivated";

/// Which operators to list, newest registration first.
#[derive(Debug, Clone, Default)]
pub struct OperatorFilter {
    /// Case-insensitive substring of the username, name, phone or email.
    pub q: Option<String>,
    pub status: Option<String>,
    pub category: Option<String>,
    /// Deactivated operators are left out unless asked for (or `status` names them).
    pub include_deactivated: bool,
    /// Rows per page (1..=100, checked by the caller).
    pub limit: i64,
    /// Continue after this row.
    pub after: Option<TimeIdKey>,
}

const OPERATOR_COLUMNS: &str = "id, username, name, phone, email, category, status, locked_at, lock_reason, \
     balance, total_credited, total_charged, total_refunded, total_invoiced, games, \
     low_balance_threshold, registered_at, updated_at, deactivated_at";

fn operator_view(row: &Row) -> Result<OperatorView, StoreError> {
    Ok(OperatorView {
        id: OperatorId(row.try_get("id")?),
        username: row.try_get("username")?,
        name: row.try_get("name")?,
        phone: row.try_get("phone")?,
        email: row.try_get("email")?,
        category: row.try_get("category")?,
        status: row.try_get("status")?,
        locked_at: time_opt(row, "locked_at")?,
        lock_reason: row.try_get("lock_reason")?,
        balance: money(row, "balance")?,
        total_credited: money(row, "total_credited")?,
        total_charged: money(row, "total_charged")?,
        total_refunded: money(row, "total_refunded")?,
        total_invoiced: money(row, "total_invoiced")?,
        games: row.try_get("games")?,
        low_balance_threshold: money(row, "low_balance_threshold")?,
        registered_at: Time(row.try_get("registered_at")?),
        updated_at: Time(row.try_get("updated_at")?),
        deactivated_at: time_opt(row, "deactivated_at")?,
    })
}

/// What may still be invoiced: the domain's rule (`Operator::invoiceable`) over read-model
/// totals. Never negative.
fn invoiceable(
    credited: Money,
    refunded: Money,
    invoiced: Money,
    pending: Money,
) -> Result<Money, StoreError> {
    let taken = refunded
        .checked_add(invoiced)
        .and_then(|sum| sum.checked_add(pending))
        .map_err(|e| StoreError::Corrupt(format!("operator totals overflow: {e}")))?;
    Ok(credited.checked_sub(taken).unwrap_or(Money::ZERO))
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

fn site_view(row: &Row) -> Result<SiteView, StoreError> {
    Ok(SiteView {
        id: SiteId(row.try_get("id")?),
        name: row.try_get("name")?,
        address: row.try_get("address")?,
        status: row.try_get("status")?,
        opened_at: Time(row.try_get("opened_at")?),
        updated_at: Time(row.try_get("updated_at")?),
        closed_at: time_opt(row, "closed_at")?,
    })
}

fn grant_view(row: &Row, now: DateTime<Utc>) -> Result<GrantView, StoreError> {
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
        revoked_at: time_opt(row, "revoked_at")?,
        expired: is_expired(expires_at, now),
    })
}

/// The domain's own expiry rule.
fn is_expired(expires_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    Grant {
        expires_at,
        reminded: false,
    }
    .is_expired(now)
}

async fn operator_row(
    client: &impl GenericClient,
    operator_id: OperatorId,
) -> Result<Option<Row>, StoreError> {
    let sql = format!("SELECT {OPERATOR_COLUMNS} FROM read.operators WHERE id = $1");
    let stmt = client.prepare_cached(&sql).await?;
    Ok(client.query_opt(&stmt, &[&operator_id.as_uuid()]).await?)
}

/// The operator's sites in opening order; closed ones only when asked for.
async fn site_rows(
    client: &impl GenericClient,
    operator_id: OperatorId,
    include_closed: bool,
) -> Result<Vec<SiteView>, StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT id, name, address, status, opened_at, updated_at, closed_at
             FROM read.sites WHERE operator_id = $1 AND ($2 OR closed_at IS NULL)
             ORDER BY opened_at, id
             LIMIT $3",
        )
        .await?;
    let rows = client
        .query(
            &stmt,
            &[&operator_id.as_uuid(), &include_closed, &SUB_LIST_MAX],
        )
        .await?;
    rows.iter().map(site_view).collect()
}

async fn grant_rows(
    client: &impl GenericClient,
    operator_id: OperatorId,
    now: DateTime<Utc>,
) -> Result<Vec<GrantView>, StoreError> {
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
    rows.iter().map(|row| grant_view(row, now)).collect()
}

impl Store {
    pub async fn operator(
        &self,
        operator_id: OperatorId,
    ) -> Result<Option<OperatorView>, StoreError> {
        let client = self.client().await?;
        operator_row(&client, operator_id)
            .await?
            .as_ref()
            .map(operator_view)
            .transpose()
    }

    /// The admin detail page: the operator with its totals, every site and every grant
    /// (`expired` judged at `now`), read in one repeatable-read snapshot so they agree.
    pub async fn operator_detail(
        &self,
        operator_id: OperatorId,
        now: DateTime<Utc>,
    ) -> Result<Option<OperatorDetailView>, StoreError> {
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .start()
            .await?;
        let Some(row) = operator_row(&tx, operator_id).await? else {
            return Ok(None);
        };
        let operator = operator_view(&row)?;
        let sites = site_rows(&tx, operator_id, true).await?;
        let grants = grant_rows(&tx, operator_id, now).await?;
        tx.commit().await?;
        Ok(Some(OperatorDetailView {
            totals: OperatorTotals {
                total_credited: operator.total_credited,
                total_charged: operator.total_charged,
                total_refunded: operator.total_refunded,
                total_invoiced: operator.total_invoiced,
                games: operator.games,
            },
            operator,
            sites,
            grants,
        }))
    }

    /// The operator's own profile with its invoiceable amount.
    pub async fn profile(
        &self,
        operator_id: OperatorId,
    ) -> Result<Option<ProfileView>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT o.id, o.username, o.name, o.phone, o.email, o.category, o.status,
                        o.locked_at, o.lock_reason, o.balance, o.low_balance_threshold,
                        o.total_credited, o.total_charged, o.total_refunded, o.total_invoiced,
                        o.registered_at,
                        coalesce((SELECT sum(i.amount) FROM read.invoices i
                                  WHERE i.operator_id = o.id AND i.status = 'pending'), 0)
                            AS pending_invoices
                 FROM read.operators o WHERE o.id = $1",
            )
            .await?;
        let Some(row) = client.query_opt(&stmt, &[&operator_id.as_uuid()]).await? else {
            return Ok(None);
        };
        let total_credited = money(&row, "total_credited")?;
        let total_refunded = money(&row, "total_refunded")?;
        let total_invoiced = money(&row, "total_invoiced")?;
        let pending = money(&row, "pending_invoices")?;
        Ok(Some(ProfileView {
            id: OperatorId(row.try_get("id")?),
            username: row.try_get("username")?,
            name: row.try_get("name")?,
            phone: row.try_get("phone")?,
            email: row.try_get("email")?,
            category: row.try_get("category")?,
            status: row.try_get("status")?,
            locked_at: time_opt(&row, "locked_at")?,
            lock_reason: row.try_get("lock_reason")?,
            balance: money(&row, "balance")?,
            low_balance_threshold: money(&row, "low_balance_threshold")?,
            total_credited,
            total_charged: money(&row, "total_charged")?,
            total_refunded,
            total_invoiced,
            invoiceable_amount: invoiceable(
                total_credited,
                total_refunded,
                total_invoiced,
                pending,
            )?,
            registered_at: Time(row.try_get("registered_at")?),
        }))
    }

    pub async fn operators(
        &self,
        filter: &OperatorFilter,
    ) -> Result<Page<OperatorView>, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {OPERATOR_COLUMNS} FROM read.operators
             WHERE ($1::text IS NULL OR username ILIKE $1 ESCAPE '\\' OR name ILIKE $1 ESCAPE '\\'
                    OR phone ILIKE $1 ESCAPE '\\' OR email ILIKE $1 ESCAPE '\\')
               AND ($2::text IS NULL OR status = $2)
               AND ($3::text IS NULL OR category = $3)
               AND ($4::timestamptz IS NULL OR (registered_at, id) < ($4, $5::uuid))
               AND ($7 OR status <> '{DEACTIVATED}' OR $2 IS NOT DISTINCT FROM '{DEACTIVATED}')
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
                    &filter.include_deactivated,
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

    /// The operator's sites (closed ones too when `include_closed`); `None` when the operator
    /// is unknown.
    pub async fn sites(
        &self,
        operator_id: OperatorId,
        include_closed: bool,
    ) -> Result<Option<Vec<SiteView>>, StoreError> {
        let client = self.client().await?;
        let items = site_rows(&client, operator_id, include_closed).await?;
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
        let items = grant_rows(&client, operator_id, now).await?;
        existing_operator_list(&client, operator_id, items).await
    }

    /// The apps the operator may run (grants not revoked), expired ones flagged, by name.
    pub async fn authorized_apps(
        &self,
        operator_id: OperatorId,
        now: DateTime<Utc>,
    ) -> Result<Vec<AuthorizedAppView>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT g.app_id, a.name, a.unit_price, a.min_players, a.max_players,
                        a.status AS app_status, g.granted_at, g.expires_at
                 FROM read.grants g
                 JOIN read.apps a ON a.id = g.app_id
                 WHERE g.operator_id = $1 AND g.status = 'active'
                 ORDER BY a.name, g.app_id
                 LIMIT $2",
            )
            .await?;
        let rows = client
            .query(&stmt, &[&operator_id.as_uuid(), &SUB_LIST_MAX])
            .await?;
        rows.iter()
            .map(|row| {
                let expires_at: Option<DateTime<Utc>> = row.try_get("expires_at")?;
                Ok(AuthorizedAppView {
                    app_id: AppId(row.try_get("app_id")?),
                    name: row.try_get("name")?,
                    unit_price: money(row, "unit_price")?,
                    min_players: row.try_get("min_players")?,
                    max_players: row.try_get("max_players")?,
                    app_status: row.try_get("app_status")?,
                    granted_at: Time(row.try_get("granted_at")?),
                    expires_at: expires_at.map(Time),
                    expired: is_expired(expires_at, now),
                })
            })
            .collect()
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
