//! Staff accounts, as the read model holds them (no passwords).

use ledger_core::ids::StaffId;

use super::{SUB_LIST_MAX, Store, StoreError};
use crate::views::{StaffView, Time};

impl Store {
    /// Every staff account, oldest first.
    pub async fn staff_members(&self) -> Result<Vec<StaffView>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT id, username, name, role, status, created_at, updated_at
                 FROM read.staff ORDER BY created_at, id LIMIT $1",
            )
            .await?;
        let rows = client.query(&stmt, &[&SUB_LIST_MAX]).await?;
        rows.iter()
            .map(|row| {
                Ok(StaffView {
                    id: StaffId(row.try_get("id")?),
                    username: row.try_get("username")?,
                    name: row.try_get("name")?,
                    role: row.try_get("role")?,
                    status: row.try_get("status")?,
                    created_at: Time(row.try_get("created_at")?),
                    updated_at: Time(row.try_get("updated_at")?),
                })
            })
            .collect()
    }
}
