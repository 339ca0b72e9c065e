//! Grant-expiry reminders: some days before an app grant expires, its operator gets one
//! message. The read side's grants table says which grants may be due; each operator's
//! stream decides whether a reminder for that expiry is still owed, so running the job twice
//! (or on two instances at once) still sends exactly one.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ledger_core::ids::{AppId, OperatorId};

use crate::ledger::Ledger;
use crate::store::{StoreError, classify};

/// Most grants looked at per run, so one run's work stays bounded; the rest are found by the
/// next run, well before their expiry (the lead time is days, the interval an hour).
pub const MAX_GRANTS_PER_RUN: i64 = 10_000;

/// A grant that may be due for a reminder.
struct Candidate {
    operator_id: OperatorId,
    app_id: AppId,
    expires_at: DateTime<Utc>,
}

/// Active grants expiring after `now` and no later than `now + lead`, soonest first.
async fn candidates(ledger: &Ledger, now: DateTime<Utc>) -> Result<Vec<Candidate>, StoreError> {
    let until = now + ledger.policy.grant_reminder_lead;
    let client = ledger.pool.get().await?;
    let rows = client
        .query(
            "SELECT operator_id, app_id, expires_at FROM read.grants \
             WHERE status = 'active' AND expires_at > $1 AND expires_at <= $2 \
             ORDER BY expires_at, operator_id, app_id LIMIT $3",
            &[&now, &until, &MAX_GRANTS_PER_RUN],
        )
        .await
        .map_err(classify)?;
    Ok(rows
        .iter()
        .map(|row| Candidate {
            operator_id: OperatorId(row.get(0)),
            app_id: AppId(row.get(1)),
            expires_at: row.get(2),
        })
        .collect())
}

/// One pass: sends every reminder that is due; returns how many were sent. A grant whose
/// reminder could not be recorded is logged and retried by the next pass.
pub async fn remind_once(ledger: &Ledger) -> Result<usize, StoreError> {
    let mut sent = 0;
    for grant in candidates(ledger, ledger.now()).await? {
        match ledger
            .remind_grant_expiry(grant.operator_id, grant.app_id, grant.expires_at)
            .await
        {
            Ok(true) => sent += 1,
            Ok(false) => {}
            Err(error) => tracing::warn!(
                operator_id = %grant.operator_id,
                app_id = %grant.app_id,
                error_code = error.code.as_str(),
                "grant-expiry reminder not recorded (retried next pass)"
            ),
        }
    }
    Ok(sent)
}

/// Runs [`remind_once`] every `interval` for as long as the process lives.
pub fn spawn(ledger: Arc<Ledger>, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match remind_once(&ledger).await {
                Ok(0) => {}
                Ok(sent) => tracing::info!(sent, "grant-expiry reminders sent"),
                Err(error) => tracing::warn!(%error, "grant-expiry reminder pass failed"),
            }
        }
    })
}
