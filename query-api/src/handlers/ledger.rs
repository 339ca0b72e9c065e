//! Money: one operator's balance, usage records and transactions, and the global monitor;
//! each list also as a CSV or XLSX download with the list's filters and order.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use ledger_core::ids::OperatorId;

use crate::AppState;
use crate::auth::Caller;
use crate::envelope;
use crate::errors::ApiError;
use crate::export::{self, Cell, Column, Export, FileFormat, Kind};
use crate::params::{self, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, Query};
use crate::store::{GlobalTransactionFilter, TransactionFilter, UsageFilter};
use crate::views::{GlobalTransactionView, TransactionView, UsageRecordView};

/// Longest transaction `kind` filter.
const KIND_MAX_LEN: usize = 32;

/// The filters of the usage list and its export.
const USAGE_FILTERS: &[&str] = &["from", "to", "site_id", "app_id"];
/// The filters of an operator's transaction list and its export.
const TRANSACTION_FILTERS: &[&str] = &["from", "to", "kind"];
/// The filters of the global monitor and its export.
const MONITOR_FILTERS: &[&str] = &["operator_id", "from", "to", "kind"];
/// What a list takes besides its filters.
const PAGING: &[&str] = &["limit", "cursor"];
/// What an export takes besides its filters.
const EXPORT: &[&str] = &["format"];

/// The query of a list (`PAGING`) or of its export (`EXPORT`): the filters' names and the
/// extra ones.
fn parse(query_string: &str, filters: &[&str], extra: &[&str]) -> Query {
    let allowed: Vec<&str> = filters.iter().chain(extra).copied().collect();
    Query::parse(query_string, &allowed)
}

fn read_usage_filter(q: &mut Query) -> UsageFilter {
    let filter = UsageFilter {
        from: q.time("from"),
        to: q.time("to"),
        site_id: q.parsed("site_id"),
        app_id: q.parsed("app_id"),
        limit: PAGE_LIMIT_DEFAULT,
        after: None,
    };
    q.time_range(filter.from, filter.to);
    filter
}

fn read_transaction_filter(q: &mut Query) -> TransactionFilter {
    let filter = TransactionFilter {
        from: q.time("from"),
        to: q.time("to"),
        kind: q.word("kind", KIND_MAX_LEN),
        limit: PAGE_LIMIT_DEFAULT,
        after: None,
    };
    q.time_range(filter.from, filter.to);
    filter
}

fn read_monitor_filter(q: &mut Query) -> GlobalTransactionFilter {
    let filter = GlobalTransactionFilter {
        operator_id: q.parsed("operator_id"),
        from: q.time("from"),
        to: q.time("to"),
        kind: q.word("kind", KIND_MAX_LEN),
        limit: PAGE_LIMIT_DEFAULT,
        after: None,
    };
    q.time_range(filter.from, filter.to);
    filter
}

pub(super) fn usage_filter(query_string: &str) -> Result<UsageFilter, ApiError> {
    let mut q = parse(query_string, USAGE_FILTERS, PAGING);
    let filter = UsageFilter {
        limit: q.limit(PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX),
        after: q.cursor(),
        ..read_usage_filter(&mut q)
    };
    q.finish(filter)
}

pub(super) fn transaction_filter(query_string: &str) -> Result<TransactionFilter, ApiError> {
    let mut q = parse(query_string, TRANSACTION_FILTERS, PAGING);
    let filter = TransactionFilter {
        limit: q.limit(PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX),
        after: q.cursor(),
        ..read_transaction_filter(&mut q)
    };
    q.finish(filter)
}

fn monitor_filter(query_string: &str) -> Result<GlobalTransactionFilter, ApiError> {
    let mut q = parse(query_string, MONITOR_FILTERS, PAGING);
    let filter = GlobalTransactionFilter {
        limit: q.limit(PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX),
        after: q.cursor(),
        ..read_monitor_filter(&mut q)
    };
    q.finish(filter)
}

/// The usage export's filters (the list's, without paging) and its format.
fn usage_export_query(query_string: &str) -> Result<(UsageFilter, FileFormat), ApiError> {
    let mut q = parse(query_string, USAGE_FILTERS, EXPORT);
    let filter = read_usage_filter(&mut q);
    let format = FileFormat::param(&mut q);
    q.finish((filter, format))
}

/// The transaction export's filters (the list's, without paging) and its format.
fn transaction_export_query(
    query_string: &str,
) -> Result<(TransactionFilter, FileFormat), ApiError> {
    let mut q = parse(query_string, TRANSACTION_FILTERS, EXPORT);
    let filter = read_transaction_filter(&mut q);
    let format = FileFormat::param(&mut q);
    q.finish((filter, format))
}

fn monitor_export_query(
    query_string: &str,
) -> Result<(GlobalTransactionFilter, FileFormat), ApiError> {
    let mut q = parse(query_string, MONITOR_FILTERS, EXPORT);
    let filter = read_monitor_filter(&mut q);
    let format = FileFormat::param(&mut q);
    q.finish((filter, format))
}

/// The columns of a usage export: every field of a usage list row, named as in its JSON.
const USAGE_COLUMNS: &[Column] = &[
    column("authorized_at", Kind::Time),
    column("site_id", Kind::Text),
    column("site_name", Kind::Text),
    column("app_id", Kind::Text),
    column("app_name", Kind::Text),
    column("player_count", Kind::Integer),
    column("unit_price", Kind::Money),
    column("total_cost", Kind::Money),
    column("balance_after", Kind::Money),
    column("session_id", Kind::Text),
    column("authorization_token", Kind::Text),
    column("duration_seconds", Kind::Integer),
    column("ended_at", Kind::Time),
];

/// The columns of a transaction export: every field of a transaction list row.
const TRANSACTION_COLUMNS: &[Column] = &[
    column("occurred_at", Kind::Time),
    column("kind", Kind::Text),
    column("amount", Kind::Money),
    column("balance_after", Kind::Money),
    column("reference", Kind::Text),
    column("description", Kind::Text),
    column("position", Kind::Integer),
];

/// The columns of the global monitor's export: the operator, then a transaction's columns.
const MONITOR_COLUMNS: &[Column] = &[
    column("operator_id", Kind::Text),
    column("operator_username", Kind::Text),
    column("occurred_at", Kind::Time),
    column("kind", Kind::Text),
    column("amount", Kind::Money),
    column("balance_after", Kind::Money),
    column("reference", Kind::Text),
    column("description", Kind::Text),
    column("position", Kind::Integer),
];

const fn column(name: &'static str, kind: Kind) -> Column {
    Column { name, kind }
}

fn usage_cells(row: UsageRecordView) -> Vec<Cell> {
    vec![
        Cell::Time(row.authorized_at.0),
        Cell::Text(row.site_id.to_string()),
        Cell::text_opt(row.site_name),
        Cell::Text(row.app_id.to_string()),
        Cell::Text(row.app_name),
        Cell::Integer(row.player_count.into()),
        Cell::Money(row.unit_price),
        Cell::Money(row.total_cost),
        Cell::Money(row.balance_after),
        Cell::Text(row.session_id),
        Cell::Text(row.authorization_token.0.to_string()),
        row.duration_seconds.map_or(Cell::Empty, Cell::Integer),
        row.ended_at.map_or(Cell::Empty, |t| Cell::Time(t.0)),
    ]
}

fn transaction_cells(row: TransactionView) -> Vec<Cell> {
    vec![
        Cell::Time(row.occurred_at.0),
        Cell::Text(row.kind),
        Cell::SignedMoney(row.amount),
        Cell::Money(row.balance_after),
        Cell::Text(row.reference),
        Cell::Text(row.description),
        Cell::Integer(row.position),
    ]
}

fn monitor_cells(row: GlobalTransactionView) -> Vec<Cell> {
    let mut cells = vec![
        Cell::Text(row.operator_id.to_string()),
        Cell::text_opt(row.operator_username),
    ];
    cells.extend(transaction_cells(row.transaction));
    cells
}

/// `-{from}-{to}` of a download's name (UTC dates, `YYYYMMDD`), the ends that are given.
fn range_suffix(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> String {
    let date = |t: DateTime<Utc>| t.format("%Y%m%d").to_string();
    match (from, to) {
        (Some(from), Some(to)) => format!("-{}-{}", date(from), date(to)),
        (Some(from), None) => format!("-from-{}", date(from)),
        (None, Some(to)) => format!("-until-{}", date(to)),
        (None, None) => String::new(),
    }
}

/// The download of an operator's usage records (`usage-records-{operator}[-range].{ext}`).
pub(super) async fn usage_export(
    state: &AppState,
    operator_id: OperatorId,
    query_string: &str,
) -> Result<HttpResponse, ApiError> {
    let (filter, format) = usage_export_query(query_string)?;
    let export = Export {
        file_stem: format!(
            "usage-records-{operator_id}{}",
            range_suffix(filter.from, filter.to)
        ),
        columns: USAGE_COLUMNS,
        cells: usage_cells,
    };
    let rows = state
        .store
        .usage_record_export(operator_id, filter)
        .await?
        .ok_or(ApiError::NotFound("operator"))?;
    export::respond(format, export, rows).await
}

/// The download of an operator's transactions (`transactions-{operator}[-range].{ext}`).
pub(super) async fn transaction_export(
    state: &AppState,
    operator_id: OperatorId,
    query_string: &str,
) -> Result<HttpResponse, ApiError> {
    let (filter, format) = transaction_export_query(query_string)?;
    let export = Export {
        file_stem: format!(
            "transactions-{operator_id}{}",
            range_suffix(filter.from, filter.to)
        ),
        columns: TRANSACTION_COLUMNS,
        cells: transaction_cells,
    };
    let rows = state
        .store
        .transaction_export(operator_id, filter)
        .await?
        .ok_or(ApiError::NotFound("operator"))?;
    export::respond(format, export, rows).await
}

pub async fn balance(
    _caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let operator_id: OperatorId = params::path("operator_id", &path)?;
    let operator_id = Query::parse(req.query_string(), &[]).finish(operator_id)?;
    let balance = state
        .store
        .balance(operator_id)
        .await?
        .ok_or(ApiError::NotFound("operator"))?;
    Ok(envelope::ok(balance))
}

pub async fn usage_records(
    _caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let operator_id: OperatorId = params::path("operator_id", &path)?;
    let filter = usage_filter(req.query_string())?;
    let page = state
        .store
        .usage_records(operator_id, &filter)
        .await?
        .ok_or(ApiError::NotFound("operator"))?;
    Ok(envelope::ok(page))
}

pub async fn transactions(
    _caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let operator_id: OperatorId = params::path("operator_id", &path)?;
    let filter = transaction_filter(req.query_string())?;
    let page = state
        .store
        .transactions(operator_id, &filter)
        .await?
        .ok_or(ApiError::NotFound("operator"))?;
    Ok(envelope::ok(page))
}

/// Every operator's money movements, newest first.
pub async fn monitor(
    _caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let filter = monitor_filter(req.query_string())?;
    Ok(envelope::ok(
        state.store.global_transactions(&filter).await?,
    ))
}

pub async fn usage_records_export(
    _caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let operator_id: OperatorId = params::path("operator_id", &path)?;
    usage_export(&state, operator_id, req.query_string()).await
}

pub async fn transactions_export(
    _caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let operator_id: OperatorId = params::path("operator_id", &path)?;
    transaction_export(&state, operator_id, req.query_string()).await
}

/// The global monitor as a download (`transactions-all[-range].{ext}`, or
/// `transactions-{operator}[-range]` with `operator_id`).
pub async fn monitor_export(
    _caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (filter, format) = monitor_export_query(req.query_string())?;
    let whose = filter
        .operator_id
        .map_or_else(|| "all".to_owned(), |o| o.to_string());
    let export = Export {
        file_stem: format!(
            "transactions-{whose}{}",
            range_suffix(filter.from, filter.to)
        ),
        columns: MONITOR_COLUMNS,
        cells: monitor_cells,
    };
    let rows = state.store.global_transaction_export(filter);
    export::respond(format, export, rows).await
}
