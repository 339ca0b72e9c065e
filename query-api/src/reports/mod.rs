//! Finance reports: one period's revenue per day, top customers and usage by app and by site,
//! rendered as PDF and XLSX, generated on a schedule and on demand, stored and downloaded.
//!
//! **The one thing the query API writes.** Reports are artifacts, not read models (a replay
//! does not recreate them), so they live in `public.finance_reports`. They go through a small
//! pool of their own ([`Reports`], setting block `reports`): its connections are not opened
//! read-only and have a longer statement timeout (a year of figures), and the only statements
//! they run are the reads of [`queries`] (inside a `READ ONLY` transaction) and those of
//! [`storage`], which touch no table but `finance_reports`. The read-only pool of
//! [`crate::store`] stays as it is.
//!
//! Regenerating a period on demand replaces its files in place: a period has one report, and
//! its id stays the same (the schedule only fills periods without a ready report).
//!
//! Layout:
//! - [`period`]: kinds (daily, weekly, monthly, yearly) and their periods in local dates.
//! - [`model`]: what a report shows, and the number formats.
//! - [`queries`]: the reads of the statistics' daily tables.
//! - [`render_pdf`], [`render_xlsx`]: the two files.
//! - [`storage`]: the `finance_reports` rows.
//! - [`schedule`]: the background task that fills in yesterday, last week and last month.

pub mod model;
pub mod period;
pub mod queries;
pub mod render_pdf;
pub mod render_xlsx;
pub mod schedule;
pub mod storage;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::NaiveDate;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use serde::{Serialize, Serializer};
use tokio_postgres::{IsolationLevel, NoTls};
use uuid::Uuid;

use crate::settings::Settings;
use crate::store::StoreError;
use crate::views::Page;
use model::ReportDocument;
use period::{Period, PeriodError, ReportKind};
use storage::{FileFormat, ReadyReport, Replace, ReportFilter, ReportView};

/// Longest wait to hand a pooled connection back after checking it.
const RECYCLE_TIMEOUT: Duration = Duration::from_secs(1);

/// The id of a stored report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReportId(pub Uuid);

impl FromStr for ReportId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<ReportId, uuid::Error> {
        Uuid::try_parse(s).map(ReportId)
    }
}

impl fmt::Display for ReportId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for ReportId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// Why a report was not made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The period asked for cannot be reported on (the caller's mistake).
    #[error(transparent)]
    Period(#[from] PeriodError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("rendering the report: {0}")]
    Render(String),
}

/// The reports pool could not be configured.
#[derive(Debug, thiserror::Error)]
#[error("reports pool: {0}")]
pub struct ReportsPoolError(String);

/// Generates, stores and serves finance reports through the reports pool.
#[derive(Clone)]
pub struct Reports {
    pool: Pool,
}

impl Reports {
    /// Builds the pool (connections open lazily, as the read pool's do).
    pub fn new(settings: &Settings) -> Result<Reports, ReportsPoolError> {
        let mut config: tokio_postgres::Config = settings
            .database_url
            .parse()
            .map_err(|e: tokio_postgres::Error| ReportsPoolError(e.to_string()))?;
        let session = format!(
            "-c statement_timeout={}",
            settings.reports.statement_timeout_ms
        );
        let options = match config.get_options() {
            Some(existing) if !existing.is_empty() => format!("{existing} {session}"),
            _ => session,
        };
        config.options(options);
        config.application_name("query-api-reports");
        config.connect_timeout(settings.db_connect_timeout());
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(settings.reports.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(settings.reports.wait_timeout()))
            .create_timeout(Some(settings.db_connect_timeout()))
            .recycle_timeout(Some(RECYCLE_TIMEOUT))
            .build()
            .map_err(|e| ReportsPoolError(e.to_string()))?;
        Ok(Reports { pool })
    }

    async fn client(&self) -> Result<deadpool_postgres::Client, StoreError> {
        Ok(self.pool.get().await?)
    }

    /// Generates the report of `kind` starting on `start` now and stores it, replacing the
    /// files of an earlier one of the same period (the id stays).
    pub async fn generate(
        &self,
        kind: ReportKind,
        start: NaiveDate,
        requested_by: Option<Uuid>,
    ) -> Result<ReportView, ReportError> {
        let period = Period::starting(kind, start)?;
        let generated = self.make(period, requested_by, Replace::Always).await?;
        Ok(generated.expect("an unconditional save always returns the row"))
    }

    /// Reads, renders and stores `period`'s report; `None` when `replace` kept a stored one.
    /// A failure to read or render is recorded as a `failed` row (unless a ready report is
    /// already there) before it is returned.
    async fn make(
        &self,
        period: Period,
        requested_by: Option<Uuid>,
        replace: Replace,
    ) -> Result<Option<ReportView>, ReportError> {
        let (zone, document) = {
            let mut client = self.client().await?;
            let tx = client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(StoreError::from)?;
            let (zone, today) = queries::zone_and_today(&tx).await?;
            period.check_begun(today)?;
            let document = queries::load_document(&tx, period, zone.clone()).await;
            tx.commit().await.map_err(StoreError::from)?;
            (zone, document)
        };
        // No connection is held while the files are drawn.
        let rendered = match document {
            Ok(document) => render(document).await,
            Err(e) => Err(ReportError::Store(e)),
        };
        let client = self.client().await?;
        let (document, pdf, xlsx) = match rendered {
            Ok(files) => files,
            Err(error) => {
                let reason = error.to_string();
                if let Err(e) =
                    storage::save_failed(&client, period, &zone, &reason, requested_by).await
                {
                    tracing::warn!(error = %e, "recording a failed report");
                }
                return Err(error);
            }
        };
        let totals = document.totals();
        let ready = ReadyReport {
            period,
            time_zone: &document.time_zone,
            totals: &totals,
            pdf: &pdf,
            xlsx: &xlsx,
            generated_at: document.generated_at,
            requested_by,
        };
        Ok(storage::save_ready(&client, &ready, replace).await?)
    }

    pub async fn list(&self, filter: &ReportFilter) -> Result<Page<ReportView>, StoreError> {
        storage::list(&self.client().await?, filter).await
    }

    pub async fn find(&self, id: ReportId) -> Result<Option<ReportView>, StoreError> {
        storage::find(&self.client().await?, id).await
    }

    /// A ready report's file; `None` for an unknown or failed report.
    pub async fn file(
        &self,
        id: ReportId,
        format: FileFormat,
    ) -> Result<Option<(ReportView, Vec<u8>)>, StoreError> {
        storage::file(&self.client().await?, id, format).await
    }
}

/// Both files of `document`, drawn off the async workers (a year is a few hundred rows).
async fn render(
    document: ReportDocument,
) -> Result<(ReportDocument, Vec<u8>, Vec<u8>), ReportError> {
    tokio::task::spawn_blocking(move || {
        let pdf = render_pdf::render_pdf(&document);
        let xlsx =
            render_xlsx::render_xlsx(&document).map_err(|e| ReportError::Render(e.to_string()))?;
        Ok((document, pdf, xlsx))
    })
    .await
    .map_err(|e| ReportError::Render(e.to_string()))?
}

/// `reports.file(…)`'s download name: `finance-report-monthly-2026-11-01.pdf`.
pub fn file_name(report: &ReportView, format: FileFormat) -> String {
    format!(
        "finance-report-{}-{}.{}",
        report.kind,
        report.period_start,
        format.extension()
    )
}
