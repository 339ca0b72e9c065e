//! HTTP edge of finance's reviews (the checker of maker-checker): refunds and invoices.

use actix_web::http::StatusCode;
use actix_web::web::{self, Path, Payload};
use actix_web::{HttpRequest, HttpResponse};
use ledger_core::ids::{InvoiceId, OperatorId, RefundId};

use super::body::read_limited;
use super::fields::Fields;
use super::review::{path_id, reason};
use super::{AppState, respond};
use crate::context::RequestContext;
use crate::wire::success;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/api/v1/finance/operators/{operator_id}/refunds/{refund_id}/approve",
        web::post().to(approve_refund),
    )
    .route(
        "/api/v1/finance/operators/{operator_id}/refunds/{refund_id}/reject",
        web::post().to(reject_refund),
    )
    .route(
        "/api/v1/finance/operators/{operator_id}/invoices/{invoice_id}/approve",
        web::post().to(approve_invoice),
    )
    .route(
        "/api/v1/finance/operators/{operator_id}/invoices/{invoice_id}/reject",
        web::post().to(reject_invoice),
    );
}

async fn approve_refund(
    req: HttpRequest,
    path: Path<(String, String)>,
    payload: Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let caller = state.auth.caller(&req).await?;
        let operator_id: OperatorId = path_id("operator_id", &path.0)?;
        let refund_id: RefundId = path_id("refund_id", &path.1)?;
        Fields::parse(&read_limited(&req, payload).await?, true)?.finish()?;
        let reviewed = state
            .ledger
            .approve_refund(&caller.staff(), &ctx, operator_id, refund_id)
            .await?;
        Ok(success(StatusCode::OK, &ctx.request_id, &reviewed))
    }
    .await;
    respond(&ctx, result)
}

async fn reject_refund(
    req: HttpRequest,
    path: Path<(String, String)>,
    payload: Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let caller = state.auth.caller(&req).await?;
        let operator_id: OperatorId = path_id("operator_id", &path.0)?;
        let refund_id: RefundId = path_id("refund_id", &path.1)?;
        let mut f = Fields::parse(&read_limited(&req, payload).await?, false)?;
        let reason = reason(&mut f);
        f.finish()?;
        let reviewed = state
            .ledger
            .reject_refund(&caller.staff(), &ctx, operator_id, refund_id, reason)
            .await?;
        Ok(success(StatusCode::OK, &ctx.request_id, &reviewed))
    }
    .await;
    respond(&ctx, result)
}

async fn approve_invoice(
    req: HttpRequest,
    path: Path<(String, String)>,
    payload: Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let caller = state.auth.caller(&req).await?;
        let operator_id: OperatorId = path_id("operator_id", &path.0)?;
        let invoice_id: InvoiceId = path_id("invoice_id", &path.1)?;
        Fields::parse(&read_limited(&req, payload).await?, true)?.finish()?;
        let reviewed = state
            .ledger
            .issue_invoice(&caller.staff(), &ctx, operator_id, invoice_id)
            .await?;
        Ok(success(StatusCode::OK, &ctx.request_id, &reviewed))
    }
    .await;
    respond(&ctx, result)
}

async fn reject_invoice(
    req: HttpRequest,
    path: Path<(String, String)>,
    payload: Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let caller = state.auth.caller(&req).await?;
        let operator_id: OperatorId = path_id("operator_id", &path.0)?;
        let invoice_id: InvoiceId = path_id("invoice_id", &path.1)?;
        let mut f = Fields::parse(&read_limited(&req, payload).await?, false)?;
        let reason = reason(&mut f);
        f.finish()?;
        let reviewed = state
            .ledger
            .reject_invoice(&caller.staff(), &ctx, operator_id, invoice_id, reason)
            .await?;
        Ok(success(StatusCode::OK, &ctx.request_id, &reviewed))
    }
    .await;
    respond(&ctx, result)
}
