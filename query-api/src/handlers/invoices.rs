//! Invoice requests and issued invoices with their PDFs: an operator's own, and finance's.
//! Only an issued invoice has a PDF; an operator asking for another operator's invoice gets
//! the same 404 as for one that does not exist.

use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::{HttpRequest, HttpResponse, web};
use ledger_core::ids::{InvoiceId, OperatorId};

use super::{ListOf, request_list};
use crate::AppState;
use crate::auth::Caller;
use crate::envelope;
use crate::errors::ApiError;
use crate::params::{self, Query};
use crate::pdf::{InvoiceDocument, render_invoice};
use crate::store::{ISSUED, InvoiceFilter, StoreError};
use crate::views::{FinanceInvoiceView, InvoiceView, Page};

/// Values of `status`.
pub const INVOICE_STATUSES: &[&str] = &["pending", "issued", "rejected"];

/// The invoice id of the path; no query parameters allowed.
fn invoice_only(path: &str, query_string: &str) -> Result<InvoiceId, ApiError> {
    let invoice_id = params::path("invoice_id", path)?;
    Query::parse(query_string, &[]).finish(invoice_id)
}

async fn find(
    state: &AppState,
    invoice_id: InvoiceId,
    owner: Option<OperatorId>,
) -> Result<FinanceInvoiceView, ApiError> {
    state
        .store
        .invoice(invoice_id, owner)
        .await?
        .ok_or(ApiError::NotFound("invoice"))
}

/// The PDF of an issued invoice as a download named after its number; 404 for any other.
fn pdf_response(invoice: &InvoiceView) -> Result<HttpResponse, ApiError> {
    if invoice.status != ISSUED {
        return Err(ApiError::NotFound("invoice"));
    }
    let missing = |field: &str| {
        ApiError::Store(StoreError::Corrupt(format!(
            "issued invoice {} has no {field}",
            invoice.id
        )))
    };
    let document = InvoiceDocument {
        invoice_number: invoice
            .invoice_number
            .clone()
            .ok_or_else(|| missing("invoice_number"))?,
        issued_at: invoice.issued_at.ok_or_else(|| missing("issued_at"))?.0,
        seller_name: invoice
            .seller_name
            .clone()
            .ok_or_else(|| missing("seller_name"))?,
        seller_tax_number: invoice
            .seller_tax_number
            .clone()
            .ok_or_else(|| missing("seller_tax_number"))?,
        buyer_title: invoice.title.clone(),
        buyer_tax_number: invoice.tax_number.clone(),
        invoice_type: invoice.invoice_type.clone(),
        amount: invoice.amount,
    };
    let bytes = render_invoice(&document);
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(format!(
                "invoice-{}.pdf",
                document.invoice_number
            ))],
        })
        .body(bytes))
}

pub async fn own_list(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let operator_id = caller.operator_id()?;
    let list = request_list(req.query_string(), INVOICE_STATUSES, ListOf::Own)?;
    let filter = InvoiceFilter {
        operator_id: Some(operator_id),
        status: list.status,
        limit: list.limit,
        after: list.after,
    };
    let page = state.store.invoices(&filter).await?;
    Ok(envelope::ok(Page {
        items: page.items.into_iter().map(|item| item.invoice).collect(),
        next_cursor: page.next_cursor,
    }))
}

pub async fn own_detail(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let operator_id = caller.operator_id()?;
    let invoice_id = invoice_only(&path, req.query_string())?;
    let invoice = find(&state, invoice_id, Some(operator_id)).await?;
    Ok(envelope::ok(invoice.invoice))
}

pub async fn own_pdf(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let operator_id = caller.operator_id()?;
    let invoice_id = invoice_only(&path, req.query_string())?;
    let invoice = find(&state, invoice_id, Some(operator_id)).await?;
    pdf_response(&invoice.invoice)
}

pub async fn list(
    _caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let list = request_list(req.query_string(), INVOICE_STATUSES, ListOf::Any)?;
    let filter = InvoiceFilter {
        operator_id: list.operator_id,
        status: list.status,
        limit: list.limit,
        after: list.after,
    };
    Ok(envelope::ok(state.store.invoices(&filter).await?))
}

pub async fn detail(
    _caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let invoice_id = invoice_only(&path, req.query_string())?;
    Ok(envelope::ok(find(&state, invoice_id, None).await?))
}

pub async fn pdf(
    _caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let invoice_id = invoice_only(&path, req.query_string())?;
    let invoice = find(&state, invoice_id, None).await?;
    pdf_response(&invoice.invoice)
}
