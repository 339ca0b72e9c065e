//! Reconciliation runs for finance: the list, one run with its items (optionally of one
//! kind), and the export of a run as CSV or XLSX.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use uuid::Uuid;

use crate::AppState;
use crate::auth::Caller;
use crate::envelope;
use crate::errors::ApiError;
use crate::params::{self, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, Query};
use crate::store::{
    ReconciliationFilter, ReconciliationItemView, ReconciliationRunView, StoreError,
};

/// Values of `kind`.
pub const ITEM_KINDS: &[&str] = &[
    "matched",
    "missing_in_ledger",
    "missing_at_gateway",
    "amount_mismatch",
];
const CHANNELS: &[&str] = &["wechat", "alipay"];
const FORMATS: &[&str] = &["csv", "xlsx"];
const XLSX_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
/// The export's columns, in order.
const COLUMNS: [&str; 7] = [
    "line",
    "kind",
    "out_trade_no",
    "transaction_id",
    "gateway_amount",
    "ledger_amount",
    "detail",
];

#[derive(Serialize)]
struct RunDetail {
    #[serde(flatten)]
    run: ReconciliationRunView,
    items: Vec<ReconciliationItemView>,
}

pub async fn list(
    _caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let mut q = Query::parse(req.query_string(), &["channel", "limit", "cursor"]);
    let filter = ReconciliationFilter {
        channel: q.one_of("channel", CHANNELS),
        limit: q.limit(PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX),
        after: q.cursor(),
    };
    let filter = q.finish(filter)?;
    Ok(envelope::ok(
        state.store.reconciliation_runs(&filter).await?,
    ))
}

async fn find(state: &AppState, run_id: Uuid) -> Result<ReconciliationRunView, ApiError> {
    state
        .store
        .reconciliation_run(run_id)
        .await?
        .ok_or(ApiError::NotFound("reconciliation_run"))
}

pub async fn detail(
    _caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let run_id: Uuid = params::path("run_id", &path)?;
    let mut q = Query::parse(req.query_string(), &["kind"]);
    let kind = q.one_of("kind", ITEM_KINDS);
    let kind = q.finish(kind)?;
    let run = find(&state, run_id).await?;
    let items = state
        .store
        .reconciliation_items(run_id, kind.as_deref())
        .await?;
    Ok(envelope::ok(RunDetail { run, items }))
}

pub async fn export(
    _caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let run_id: Uuid = params::path("run_id", &path)?;
    let mut q = Query::parse(req.query_string(), &["format", "kind"]);
    let format = q.one_of("format", FORMATS);
    let kind = q.one_of("kind", ITEM_KINDS);
    let (format, kind) = q.finish((format, kind))?;
    let run = find(&state, run_id).await?;
    let items = state
        .store
        .reconciliation_items(run_id, kind.as_deref())
        .await?;
    let name = format!("reconciliation-{}-{}", run.channel, run.bill_date);
    let failed =
        |what: &str, e: String| ApiError::Store(StoreError::Corrupt(format!("{what}: {e}")));
    let (body, content_type, extension) = match format.as_deref().unwrap_or("csv") {
        "xlsx" => (
            xlsx(&items).map_err(|e| failed("xlsx export", e.to_string()))?,
            XLSX_TYPE,
            "xlsx",
        ),
        _ => (
            csv(&items).map_err(|e| failed("csv export", e.to_string()))?,
            "text/csv; charset=utf-8",
            "csv",
        ),
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{name}.{extension}\""),
        ))
        .body(body))
}

/// One item as the export's cells (amounts as the API writes them, empty when absent).
fn cells(item: &ReconciliationItemView) -> [String; 7] {
    let opt = |m: &Option<ledger_core::money::Money>| m.map(|m| m.to_string()).unwrap_or_default();
    [
        item.line.to_string(),
        item.kind.clone(),
        item.out_trade_no.clone(),
        item.transaction_id.clone().unwrap_or_default(),
        opt(&item.gateway_amount),
        opt(&item.ledger_amount),
        item.detail.clone().unwrap_or_default(),
    ]
}

fn csv(items: &[ReconciliationItemView]) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(COLUMNS)?;
    for item in items {
        writer.write_record(cells(item))?;
    }
    writer
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))
}

fn xlsx(items: &[ReconciliationItemView]) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    for (col, name) in COLUMNS.iter().enumerate() {
        sheet.write_string(0, col as u16, *name)?;
    }
    for (row, item) in items.iter().enumerate() {
        for (col, cell) in cells(item).iter().enumerate() {
            sheet.write_string(row as u32 + 1, col as u16, cell)?;
        }
    }
    workbook.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger_core::money::Money;

    fn items() -> Vec<ReconciliationItemView> {
        vec![
            ReconciliationItemView {
                line: 1,
                kind: "amount_mismatch".into(),
                out_trade_no: "MR1".into(),
                transaction_id: Some("42".into()),
                gateway_amount: Some(Money::parse("99.00").unwrap()),
                ledger_amount: Some(Money::parse("100.00").unwrap()),
                detail: Some("a, b".into()),
            },
            ReconciliationItemView {
                line: 2,
                kind: "missing_in_ledger".into(),
                out_trade_no: "MR2".into(),
                transaction_id: None,
                gateway_amount: Some(Money::parse("5.00").unwrap()),
                ledger_amount: None,
                detail: None,
            },
        ]
    }

    #[test]
    fn csv_has_a_header_and_quotes_commas() {
        let text = String::from_utf8(csv(&items()).unwrap()).unwrap();
        assert_eq!(
            text,
            "line,kind,out_trade_no,transaction_id,gateway_amount,ledger_amount,detail\n\
             1,amount_mismatch,MR1,42,99.00,100.00,\"a, b\"\n\
             2,missing_in_ledger,MR2,,5.00,,\n"
        );
    }

    #[test]
    fn xlsx_is_a_zip() {
        let bytes = xlsx(&items()).unwrap();
        assert!(bytes.starts_with(b"PK"));
    }
}
