//! Finance reports: generate one now, list them, read one, download its PDF or XLSX.

use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::NaiveDate;
use serde_json::{Map, Value};

use crate::auth::Caller;
use crate::envelope;
use crate::errors::ApiError;
use crate::params::{self, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, Query};
use crate::reports::period::{PeriodError, ReportKind};
use crate::reports::storage::{FileFormat, ReportFilter};
use crate::reports::{ReportError, ReportId, Reports, file_name};
use crate::store::StoreError;

/// What `POST /api/v1/finance/reports` asks for.
struct GenerateRequest {
    kind: ReportKind,
    period_start: NaiveDate,
}

/// Decodes `{"kind": "monthly", "period_start": "2026-11-01"}`, naming every bad or unknown
/// field.
fn generate_request(body: &[u8]) -> Result<GenerateRequest, ApiError> {
    // The strict reader first, as for every command body: a key given twice or a body nested
    // past the limit is refused, not silently resolved.
    if ledger_core::strict_json::parse(body).is_err() {
        return Err(ApiError::invalid(&["body"]));
    }
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
        return Err(ApiError::invalid(&["body"]));
    };
    let mut bad: Vec<&str> = fields
        .keys()
        .map(String::as_str)
        .filter(|name| !["kind", "period_start"].contains(name))
        .collect();
    let text = |fields: &Map<String, Value>, name: &str| {
        fields.get(name).and_then(Value::as_str).map(str::to_owned)
    };
    let kind = text(&fields, "kind").and_then(|k| k.parse::<ReportKind>().ok());
    let period_start =
        text(&fields, "period_start").and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok());
    if kind.is_none() {
        bad.push("kind");
    }
    if period_start.is_none() {
        bad.push("period_start");
    }
    match (kind, period_start) {
        (Some(kind), Some(period_start)) if bad.is_empty() => {
            Ok(GenerateRequest { kind, period_start })
        }
        _ => Err(ApiError::invalid(&bad)),
    }
}

impl From<ReportError> for ApiError {
    fn from(e: ReportError) -> ApiError {
        match e {
            ReportError::Period(PeriodError::NotPeriodStart(_) | PeriodError::InFuture) => {
                ApiError::invalid(&["period_start"])
            }
            ReportError::Store(e) => ApiError::Store(e),
            // Rendering only fails on a bug; answered as an opaque 500 with the cause logged.
            ReportError::Render(reason) => {
                ApiError::Store(StoreError::Corrupt(format!("report rendering: {reason}")))
            }
        }
    }
}

/// Generates the report now (replacing the files of an earlier one of the same period):
/// 201 with its metadata.
pub async fn generate(
    caller: Caller,
    reports: web::Data<Reports>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    Query::parse(req.query_string(), &[]).finish(())?;
    let request = generate_request(&body)?;
    let report = reports
        .generate(request.kind, request.period_start, Some(caller.account_id))
        .await?;
    Ok(HttpResponse::Created().json(envelope::Success {
        success: true,
        data: report,
    }))
}

/// Reports newest generated first; `kind` filters.
pub async fn list(
    _caller: Caller,
    reports: web::Data<Reports>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let mut q = Query::parse(req.query_string(), &["kind", "limit", "cursor"]);
    let filter = ReportFilter {
        kind: q.one_of("kind", &ReportKind::NAMES),
        limit: q.limit(PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX),
        after: q.cursor(),
    };
    let filter = q.finish(filter)?;
    Ok(envelope::ok(reports.list(&filter).await?))
}

/// The report id of the path; no query parameters allowed.
fn report_only(path: &str, query_string: &str) -> Result<ReportId, ApiError> {
    let report_id = params::path("report_id", path)?;
    Query::parse(query_string, &[]).finish(report_id)
}

pub async fn detail(
    _caller: Caller,
    reports: web::Data<Reports>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = report_only(&path, req.query_string())?;
    let report = reports
        .find(id)
        .await?
        .ok_or(ApiError::NotFound("report"))?;
    Ok(envelope::ok(report))
}

pub async fn pdf(
    caller: Caller,
    reports: web::Data<Reports>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    download(caller, reports, path, req, FileFormat::Pdf).await
}

pub async fn xlsx(
    caller: Caller,
    reports: web::Data<Reports>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    download(caller, reports, path, req, FileFormat::Xlsx).await
}

/// A ready report's file as a download named after its kind and period; 404 for an unknown
/// or failed report.
async fn download(
    _caller: Caller,
    reports: web::Data<Reports>,
    path: web::Path<String>,
    req: HttpRequest,
    format: FileFormat,
) -> Result<HttpResponse, ApiError> {
    let id = report_only(&path, req.query_string())?;
    let (report, bytes) = reports
        .file(id, format)
        .await?
        .ok_or(ApiError::NotFound("report"))?;
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(file_name(&report, format))],
        })
        .body(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(error: ApiError) -> Vec<String> {
        match error {
            ApiError::InvalidParams { fields } => fields,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_good_request_decodes() {
        let request =
            generate_request(br#"{"kind": "monthly", "period_start": "2026-11-01"}"#).unwrap();
        assert_eq!(request.kind, ReportKind::Monthly);
        assert_eq!(request.period_start.to_string(), "2026-11-01");
    }

    #[test]
    fn every_bad_field_is_named() {
        let error = generate_request(br#"{"kind": "hourly", "period_start": "2026-11-31"}"#)
            .err()
            .unwrap();
        assert_eq!(fields(error), ["kind", "period_start"]);
        let error = generate_request(br#"{"kind": "daily", "period_start": "2026-11-03", "x": 1}"#)
            .err()
            .unwrap();
        assert_eq!(fields(error), ["x"]);
        let error = generate_request(b"[]").err().unwrap();
        assert_eq!(fields(error), ["body"]);
        let twice = br#"{"kind": "daily", "kind": "monthly", "period_start": "2026-11-01"}"#;
        let error = generate_request(twice).err().unwrap();
        assert_eq!(fields(error), ["body"]);
    }

    #[test]
    fn a_start_that_is_not_a_period_start_names_period_start() {
        let error = ApiError::from(ReportError::Period(PeriodError::NotPeriodStart(
            ReportKind::Weekly,
        )));
        assert_eq!(fields(error), ["period_start"]);
        let error = ApiError::from(ReportError::Period(PeriodError::InFuture));
        assert_eq!(fields(error), ["period_start"]);
    }
}
