//! Reconciliation runs for finance: the list, one run with a page of its items (optionally
//! of one kind), and the export of a run's items as CSV or XLSX, streamed (see [`crate::export`]).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use uuid::Uuid;

use crate::AppState;
use crate::auth::Caller;
use crate::envelope;
use crate::errors::ApiError;
use crate::export::{self, Cell, Column, Export, Kind};
use crate::params::{self, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, Query};
use crate::store::{
    ReconciliationFilter, ReconciliationItemFilter, ReconciliationItemView, ReconciliationRunView,
};
use crate::views::Page;

/// Values of `kind`.
pub const ITEM_KINDS: &[&str] = &[
    "matched",
    "missing_in_ledger",
    "missing_at_gateway",
    "amount_mismatch",
];
const CHANNELS: &[&str] = &["wechat", "alipay"];
const FORMATS: &[&str] = &["csv", "xlsx"];
/// The export's columns, in order.
const COLUMNS: &[Column] = &[
    Column {
        name: "line",
        kind: Kind::Integer,
    },
    Column {
        name: "kind",
        kind: Kind::Text,
    },
    Column {
        name: "out_trade_no",
        kind: Kind::Text,
    },
    Column {
        name: "transaction_id",
        kind: Kind::Text,
    },
    Column {
        name: "gateway_amount",
        kind: Kind::Money,
    },
    Column {
        name: "ledger_amount",
        kind: Kind::Money,
    },
    Column {
        name: "detail",
        kind: Kind::Text,
    },
];

/// A run: its fields, and one page of its items under `items`.
#[derive(Serialize)]
struct RunDetail {
    #[serde(flatten)]
    run: ReconciliationRunView,
    items: Page<ReconciliationItemView>,
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
    let mut q = Query::parse(req.query_string(), &["kind", "limit", "cursor"]);
    let filter = ReconciliationItemFilter {
        run_id,
        kind: q.one_of("kind", ITEM_KINDS),
        limit: q.limit(PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX),
        after: q.cursor(),
    };
    let filter = q.finish(filter)?;
    let run = find(&state, run_id).await?;
    let items = state.store.reconciliation_items(&filter).await?;
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
    let rows = state.store.reconciliation_item_stream(run_id, kind).await?;
    let export = Export {
        file_stem: format!("reconciliation-{}-{}", run.channel, run.bill_date),
        columns: COLUMNS,
        cells,
    };
    match format.as_deref() {
        Some("xlsx") => Ok(export::xlsx(export, rows).await?),
        _ => Ok(export::csv(export, rows)),
    }
}

/// One item as the export's cells (amounts as the API writes them, empty when absent).
fn cells(item: ReconciliationItemView) -> Vec<Cell> {
    vec![
        Cell::Integer(item.line.into()),
        Cell::Text(item.kind),
        Cell::Text(item.out_trade_no),
        Cell::text_opt(item.transaction_id),
        Cell::money_opt(item.gateway_amount),
        Cell::money_opt(item.ledger_amount),
        Cell::text_opt(item.detail),
    ]
}

#[cfg(test)]
mod tests {
    use futures_util::stream;
    use ledger_core::money::Money;

    use super::*;

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

    fn items_export() -> Export<ReconciliationItemView> {
        Export {
            file_stem: "reconciliation-wechat-2026-11-21".into(),
            columns: COLUMNS,
            cells,
        }
    }

    #[tokio::test]
    async fn csv_has_a_header_and_quotes_commas() {
        let rows = stream::iter(items().into_iter().map(Ok));
        let response = export::csv(items_export(), rows);
        assert_eq!(
            response.headers().get("content-disposition").unwrap(),
            "attachment; filename=\"reconciliation-wechat-2026-11-21.csv\""
        );
        let body = actix_web::body::to_bytes(response.into_body())
            .await
            .unwrap();
        assert_eq!(
            std::str::from_utf8(&body).unwrap(),
            "line,kind,out_trade_no,transaction_id,gateway_amount,ledger_amount,detail\n\
             1,amount_mismatch,MR1,42,99.00,100.00,\"a, b\"\n\
             2,missing_in_ledger,MR2,,5.00,,\n"
        );
    }

    #[tokio::test]
    async fn xlsx_is_a_zip() {
        let rows = stream::iter(items().into_iter().map(Ok));
        let response = export::xlsx(items_export(), rows).await.unwrap();
        let body = actix_web::body::to_bytes(response.into_body())
            .await
            .unwrap();
        assert!(body.starts_with(b"PK"));
    }
}
