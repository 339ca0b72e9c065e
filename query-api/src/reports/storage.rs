//! `public.finance_reports`: the one table the query API writes. One row per (kind,
//! period_start); files are stored with the row (a report is a few hundred kilobytes at most).

use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::GenericClient;
use serde::Serialize;
use tokio_postgres::Row;
use uuid::Uuid;

use super::ReportId;
use super::model::RevenueTotals;
use super::period::Period;
use crate::cursor::{self, TimeIdKey};
use crate::store::StoreError;
use crate::views::{Page, Time};

pub const READY: &str = "ready";
pub const FAILED: &str = "failed";

/// A stored report without its files, as lists and the detail page show it.
#[derive(Debug, Clone, Serialize)]
pub struct ReportView {
    pub id: ReportId,
    pub kind: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub time_zone: String,
    /// `ready` (both files downloadable) or `failed`.
    pub status: String,
    /// The headline figures: recharged, consumed, refunded, net (strings), sessions,
    /// player_times; `{}` for a failed report.
    pub totals: serde_json::Value,
    pub error: Option<String>,
    pub generated_at: Time,
    /// The staff member who asked; `null` for the schedule.
    pub requested_by: Option<Uuid>,
}

/// Which of a report's two files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Pdf,
    Xlsx,
}

impl FileFormat {
    pub const fn extension(self) -> &'static str {
        match self {
            FileFormat::Pdf => "pdf",
            FileFormat::Xlsx => "xlsx",
        }
    }

    pub const fn content_type(self) -> &'static str {
        match self {
            FileFormat::Pdf => "application/pdf",
            FileFormat::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }

    const fn column(self) -> &'static str {
        match self {
            FileFormat::Pdf => "pdf",
            FileFormat::Xlsx => "xlsx",
        }
    }
}

/// Whether a new report takes the place of one already stored for its period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// On demand: the new files replace the old ones, the id stays.
    Always,
    /// The schedule: only a missing or failed report is (re)written.
    OnlyFailed,
}

/// A finished report to store.
pub struct ReadyReport<'a> {
    pub period: Period,
    pub time_zone: &'a str,
    pub totals: &'a RevenueTotals,
    pub pdf: &'a [u8],
    pub xlsx: &'a [u8],
    pub generated_at: DateTime<Utc>,
    pub requested_by: Option<Uuid>,
}

const VIEW_COLUMNS: &str = "id, kind, period_start, period_end, time_zone, status, totals, \
                            error, generated_at, requested_by";

fn report_view(row: &Row) -> Result<ReportView, StoreError> {
    Ok(ReportView {
        id: ReportId(row.try_get("id")?),
        kind: row.try_get("kind")?,
        period_start: row.try_get("period_start")?,
        period_end: row.try_get("period_end")?,
        time_zone: row.try_get("time_zone")?,
        status: row.try_get("status")?,
        totals: row.try_get("totals")?,
        error: row.try_get("error")?,
        generated_at: Time(row.try_get("generated_at")?),
        requested_by: row.try_get("requested_by")?,
    })
}

/// Stores a rendered report; `None` when `replace` kept the row already there.
pub async fn save_ready(
    client: &impl GenericClient,
    report: &ReadyReport<'_>,
    replace: Replace,
) -> Result<Option<ReportView>, StoreError> {
    let condition = match replace {
        Replace::Always => "",
        Replace::OnlyFailed => "WHERE finance_reports.status = 'failed'",
    };
    let sql = format!(
        "INSERT INTO public.finance_reports
             (id, kind, period_start, period_end, time_zone, status, totals, pdf, xlsx,
              error, generated_at, requested_by)
         VALUES ($1, $2, $3, $4, $5, 'ready', $6, $7, $8, NULL, $9, $10)
         ON CONFLICT (kind, period_start) DO UPDATE SET
             period_end = excluded.period_end, time_zone = excluded.time_zone,
             status = 'ready', totals = excluded.totals, pdf = excluded.pdf,
             xlsx = excluded.xlsx, error = NULL, generated_at = excluded.generated_at,
             requested_by = excluded.requested_by
         {condition}
         RETURNING {VIEW_COLUMNS}"
    );
    let totals = serde_json::to_value(report.totals).expect("totals serialize");
    let row = client
        .query_opt(
            &sql,
            &[
                &Uuid::now_v7(),
                &report.period.kind.as_str(),
                &report.period.start,
                &report.period.end,
                &report.time_zone,
                &totals,
                &report.pdf,
                &report.xlsx,
                &report.generated_at,
                &report.requested_by,
            ],
        )
        .await?;
    row.as_ref().map(report_view).transpose()
}

/// Records that `period`'s report could not be made, unless a ready one is already stored
/// (a good report is never replaced by a failure).
pub async fn save_failed(
    client: &impl GenericClient,
    period: Period,
    time_zone: &str,
    error: &str,
    requested_by: Option<Uuid>,
) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO public.finance_reports
                 (id, kind, period_start, period_end, time_zone, status, error, generated_at,
                  requested_by)
             VALUES ($1, $2, $3, $4, $5, 'failed', $6, now(), $7)
             ON CONFLICT (kind, period_start) DO UPDATE SET
                 error = excluded.error, generated_at = excluded.generated_at,
                 requested_by = excluded.requested_by
             WHERE finance_reports.status = 'failed'",
            &[
                &Uuid::now_v7(),
                &period.kind.as_str(),
                &period.start,
                &period.end,
                &time_zone,
                &error,
                &requested_by,
            ],
        )
        .await?;
    Ok(())
}

/// Whether `period` already has a ready report.
pub async fn is_ready(client: &impl GenericClient, period: Period) -> Result<bool, StoreError> {
    let row = client
        .query_opt(
            "SELECT 1 FROM public.finance_reports
             WHERE kind = $1 AND period_start = $2 AND status = 'ready'",
            &[&period.kind.as_str(), &period.start],
        )
        .await?;
    Ok(row.is_some())
}

/// Which reports to list: newest generated first.
#[derive(Debug, Clone, Default)]
pub struct ReportFilter {
    pub kind: Option<String>,
    pub limit: i64,
    pub after: Option<TimeIdKey>,
}

pub async fn list(
    client: &impl GenericClient,
    filter: &ReportFilter,
) -> Result<Page<ReportView>, StoreError> {
    let (after_time, after_id) = match filter.after {
        Some(key) => (Some(cursor::time(key.t)), Some(key.id)),
        None => (None, None),
    };
    let sql = format!(
        "SELECT {VIEW_COLUMNS} FROM public.finance_reports
         WHERE ($1::text IS NULL OR kind = $1)
           AND ($2::timestamptz IS NULL OR (generated_at, id) < ($2, $3::uuid))
         ORDER BY generated_at DESC, id DESC
         LIMIT $4"
    );
    let rows = client
        .query(
            &sql,
            &[&filter.kind, &after_time, &after_id, &(filter.limit + 1)],
        )
        .await?;
    let mut items = rows
        .iter()
        .map(report_view)
        .collect::<Result<Vec<_>, _>>()?;
    let limit = usize::try_from(filter.limit).expect("limits are positive");
    let more = items.len() > limit;
    items.truncate(limit);
    let next_cursor = match items.last() {
        Some(last) if more => Some(cursor::encode(&TimeIdKey {
            t: cursor::micros(last.generated_at.0),
            id: last.id.0,
        })),
        _ => None,
    };
    Ok(Page { items, next_cursor })
}

pub async fn find(
    client: &impl GenericClient,
    id: ReportId,
) -> Result<Option<ReportView>, StoreError> {
    let sql = format!("SELECT {VIEW_COLUMNS} FROM public.finance_reports WHERE id = $1");
    let row = client.query_opt(&sql, &[&id.0]).await?;
    row.as_ref().map(report_view).transpose()
}

/// A ready report's file and its metadata; `None` for an unknown or failed report.
pub async fn file(
    client: &impl GenericClient,
    id: ReportId,
    format: FileFormat,
) -> Result<Option<(ReportView, Vec<u8>)>, StoreError> {
    let sql = format!(
        "SELECT {VIEW_COLUMNS}, {file} AS file FROM public.finance_reports
         WHERE id = $1 AND status = 'ready'",
        file = format.column()
    );
    let Some(row) = client.query_opt(&sql, &[&id.0]).await? else {
        return Ok(None);
    };
    let bytes: Vec<u8> = row.try_get("file")?;
    Ok(Some((report_view(&row)?, bytes)))
}
