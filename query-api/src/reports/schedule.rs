//! The scheduled reports: every `reports.schedule_interval_seconds`, make the daily report of
//! yesterday, the weekly of last week and the monthly of last month (local dates of the
//! statistics' zone) when they have no ready report yet.
//!
//! Every query-api instance runs the task; one at a time does the work, holding a
//! transaction-level advisory lock on a connection of the reports pool (another instance
//! that finds it taken skips the round). The lock ends with the transaction, so a crashed
//! instance never leaves it held.

use std::time::Duration;

use super::period::{Period, ReportKind};
use super::storage::{self, Replace, ReportView};
use super::{ReportError, Reports, queries};
use crate::store::StoreError;

/// Advisory lock key of the report schedule (the other keys of the system are 7_262_736_5xx).
pub const SCHEDULE_LOCK: i64 = 7_262_736_520;

/// The kinds the schedule makes; yearly reports are made on demand only.
pub const SCHEDULED_KINDS: [ReportKind; 3] =
    [ReportKind::Daily, ReportKind::Weekly, ReportKind::Monthly];

/// What one round did.
#[derive(Debug)]
pub enum Round {
    /// Another instance holds the schedule lock.
    Skipped,
    /// The reports made this round (empty when every period already had one).
    Made(Vec<ReportView>),
}

impl Reports {
    /// One round of the schedule: the step the background task repeats (tests call it
    /// directly instead of waiting).
    pub async fn run_schedule_once(&self) -> Result<Round, ReportError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(StoreError::from)?;
        let locked: bool = tx
            .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&SCHEDULE_LOCK])
            .await
            .map_err(StoreError::from)?
            .get(0);
        if !locked {
            return Ok(Round::Skipped);
        }
        let (_, today) = queries::zone_and_today(&tx).await?;
        let mut made = Vec::new();
        for kind in SCHEDULED_KINDS {
            let period = Period::last_complete(kind, today);
            if storage::is_ready(&tx, period).await? {
                continue;
            }
            // One failing period (recorded as `failed`) does not hold the others back.
            match self.make(period, None, Replace::OnlyFailed).await {
                Ok(Some(report)) => {
                    tracing::info!(kind = %kind, period_start = %period.start, "finance report made");
                    made.push(report);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(kind = %kind, period_start = %period.start, error = %e, "finance report failed");
                }
            }
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(Round::Made(made))
    }
}

/// Runs the schedule every `interval` until the task is dropped; failures are logged and
/// retried next round.
pub async fn run_schedule(reports: Reports, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(e) = reports.run_schedule_once().await {
            tracing::warn!(error = %e, "finance report schedule round failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{Secret, Settings};

    fn kinds(round: Round) -> Vec<String> {
        match round {
            Round::Made(made) => made.into_iter().map(|r| r.kind).collect(),
            Round::Skipped => panic!("the round was skipped"),
        }
    }

    #[tokio::test]
    async fn the_schedule_fills_each_missing_period_once_and_one_instance_works_at_a_time() {
        let db = ::tests::db::TestDb::new().await;
        let settings = Settings::new(
            db.url.clone(),
            Secret::new("unit-test-secret-0123456789abcdefghij"),
        );
        let reports = Reports::new(&settings).unwrap();

        let made = kinds(reports.run_schedule_once().await.unwrap());
        assert_eq!(made, ["daily", "weekly", "monthly"]);
        let page = reports
            .list(&storage::ReportFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(page.items.len(), 3);
        assert!(page.items.iter().all(|r| r.status == storage::READY));
        assert!(page.items.iter().all(|r| r.requested_by.is_none()));
        // Nothing projected yet: every figure is zero, with two decimals.
        assert_eq!(page.items[0].totals["net"], "0.00");

        // Every period has its report now.
        assert!(kinds(reports.run_schedule_once().await.unwrap()).is_empty());

        // Another instance in the middle of a round: this one skips.
        let other = db.client().await;
        other
            .batch_execute(&format!(
                "BEGIN; SELECT pg_advisory_xact_lock({SCHEDULE_LOCK})"
            ))
            .await
            .unwrap();
        assert!(matches!(
            reports.run_schedule_once().await.unwrap(),
            Round::Skipped
        ));
        other.batch_execute("ROLLBACK").await.unwrap();
    }
}
