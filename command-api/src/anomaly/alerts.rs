//! Security alerts: one row per trip in `security_alerts` (command side, like
//! `finance_alerts`), logged with `alert = "security"`, listed by admins
//! (`GET /api/v1/admin/security/alerts`).

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use ledger_core::ids::OperatorId;
use serde::Serialize;
use uuid::Uuid;

/// Most alerts one list answers, newest first.
pub const LIST_MAX: i64 = 200;

#[derive(Debug, Clone)]
pub struct SecurityAlert {
    pub source_ip: String,
    pub failed_signatures: u32,
    pub distinct_key_ids: u32,
    /// `None`: the IP is in a trusted network and was not blocked.
    pub blocked_seconds: Option<u64>,
    pub locked_operators: Vec<OperatorId>,
    pub reason: String,
}

/// An alert as admins list it.
#[derive(Debug, Clone, Serialize)]
pub struct AlertView {
    pub id: i64,
    pub kind: String,
    pub source_ip: String,
    pub failed_signatures: i32,
    pub distinct_key_ids: i32,
    pub ip_blocked: bool,
    pub blocked_until: Option<String>,
    pub locked_operators: Vec<Uuid>,
    pub reason: String,
    pub created_at: String,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl SecurityAlert {
    pub fn log(&self) {
        let operators: Vec<String> = self
            .locked_operators
            .iter()
            .map(ToString::to_string)
            .collect();
        tracing::error!(alert = "security", kind = "ip_anomaly", ip = %self.source_ip,
                        failed_signatures = self.failed_signatures,
                        distinct_key_ids = self.distinct_key_ids,
                        blocked_seconds = self.blocked_seconds,
                        locked_operators = ?operators, "security alert: anomaly tripped");
    }

    pub async fn record(&self, pool: &Pool, now: DateTime<Utc>) -> Result<(), BoxError> {
        let client = pool.get().await?;
        let blocked_until = self.blocked_seconds.map(|s| {
            now + chrono::TimeDelta::seconds(i64::try_from(s).unwrap_or(i64::MAX / 2_000))
        });
        let operators: Vec<Uuid> = self.locked_operators.iter().map(|o| o.0).collect();
        client
            .execute(
                "INSERT INTO security_alerts (kind, source_ip, failed_signatures,
                     distinct_key_ids, ip_blocked, blocked_until, locked_operators, reason,
                     created_at)
                 VALUES ('ip_anomaly', $1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &self.source_ip,
                    &i32::try_from(self.failed_signatures).unwrap_or(i32::MAX),
                    &i32::try_from(self.distinct_key_ids).unwrap_or(i32::MAX),
                    &self.blocked_seconds.is_some(),
                    &blocked_until,
                    &operators,
                    &self.reason,
                    &now,
                ],
            )
            .await?;
        Ok(())
    }
}

/// The newest alerts first.
pub async fn list(pool: &Pool) -> Result<Vec<AlertView>, crate::store::StoreError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT id, kind, source_ip, failed_signatures, distinct_key_ids, ip_blocked,
                    blocked_until, locked_operators, reason, created_at
             FROM security_alerts ORDER BY created_at DESC, id DESC LIMIT $1",
            &[&LIST_MAX],
        )
        .await
        .map_err(crate::store::classify)?;
    Ok(rows
        .iter()
        .map(|row| AlertView {
            id: row.get(0),
            kind: row.get(1),
            source_ip: row.get(2),
            failed_signatures: row.get(3),
            distinct_key_ids: row.get(4),
            ip_blocked: row.get(5),
            blocked_until: row
                .get::<_, Option<DateTime<Utc>>>(6)
                .map(crate::wire::time),
            locked_operators: row.get(7),
            reason: row.get(8),
            created_at: crate::wire::time(row.get(9)),
        })
        .collect())
}
