//! The app catalog.

use ledger_core::ids::AppId;
use tokio_postgres::Row;

use super::{Store, StoreError, money, split_page};
use crate::cursor::{self, NameIdKey};
use crate::views::{AppView, Page, Time};

/// Which apps to list, by name.
#[derive(Debug, Clone, Default)]
pub struct AppFilter {
    pub status: Option<String>,
    pub limit: i64,
    pub after: Option<NameIdKey>,
}

const APP_COLUMNS: &str =
    "id, name, description, unit_price, min_players, max_players, status, created_at, updated_at";

fn app_view(row: &Row) -> Result<AppView, StoreError> {
    Ok(AppView {
        id: AppId(row.try_get("id")?),
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        unit_price: money(row, "unit_price")?,
        min_players: row.try_get("min_players")?,
        max_players: row.try_get("max_players")?,
        status: row.try_get("status")?,
        created_at: Time(row.try_get("created_at")?),
        updated_at: Time(row.try_get("updated_at")?),
    })
}

impl Store {
    pub async fn app(&self, app_id: AppId) -> Result<Option<AppView>, StoreError> {
        let client = self.client().await?;
        let sql = format!("SELECT {APP_COLUMNS} FROM read.apps WHERE id = $1");
        let stmt = client.prepare_cached(&sql).await?;
        client
            .query_opt(&stmt, &[&app_id.as_uuid()])
            .await?
            .as_ref()
            .map(app_view)
            .transpose()
    }

    pub async fn apps(&self, filter: &AppFilter) -> Result<Page<AppView>, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {APP_COLUMNS} FROM read.apps
             WHERE ($1::text IS NULL OR status = $1)
               AND ($2::text IS NULL OR (name, id) > ($2, $3::uuid))
             ORDER BY name, id
             LIMIT $4"
        );
        let stmt = client.prepare_cached(&sql).await?;
        let after_name = filter.after.as_ref().map(|k| k.n.as_str());
        let after_id = filter.after.as_ref().map(|k| k.id);
        let rows = client
            .query(
                &stmt,
                &[&filter.status, &after_name, &after_id, &(filter.limit + 1)],
            )
            .await?;
        let items = rows.iter().map(app_view).collect::<Result<Vec<_>, _>>()?;
        let (items, more) = split_page(items, filter.limit);
        let next_cursor = match items.last() {
            Some(last) if more => Some(cursor::encode(&NameIdKey {
                n: last.name.clone(),
                id: last.id.as_uuid(),
            })),
            _ => None,
        };
        Ok(Page { items, next_cursor })
    }
}
