//! HTTP edge of finance's reviews (the checker of maker-checker): refunds and invoices.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{self, Path};
use ledger_core::ids::{InvoiceId, OperatorId, RefundId};

use super::command::{Command, path_id};
use super::review::reason;

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

async fn approve_refund(cmd: Command, path: Path<(String, String)>) -> HttpResponse {
    cmd.run(StatusCode::OK, async |caller, body, state, ctx| {
        let operator_id: OperatorId = path_id("operator_id", &path.0)?;
        let refund_id: RefundId = path_id("refund_id", &path.1)?;
        body.nothing().await?;
        state
            .ledger
            .approve_refund(&caller.staff(), ctx, operator_id, refund_id)
            .await
    })
    .await
}

async fn reject_refund(cmd: Command, path: Path<(String, String)>) -> HttpResponse {
    cmd.run(StatusCode::OK, async |caller, body, state, ctx| {
        let operator_id: OperatorId = path_id("operator_id", &path.0)?;
        let refund_id: RefundId = path_id("refund_id", &path.1)?;
        let mut f = body.fields().await?;
        let reason = reason(&mut f);
        f.finish()?;
        state
            .ledger
            .reject_refund(&caller.staff(), ctx, operator_id, refund_id, reason)
            .await
    })
    .await
}

async fn approve_invoice(cmd: Command, path: Path<(String, String)>) -> HttpResponse {
    cmd.run(StatusCode::OK, async |caller, body, state, ctx| {
        let operator_id: OperatorId = path_id("operator_id", &path.0)?;
        let invoice_id: InvoiceId = path_id("invoice_id", &path.1)?;
        body.nothing().await?;
        state
            .ledger
            .issue_invoice(&caller.staff(), ctx, operator_id, invoice_id)
            .await
    })
    .await
}

async fn reject_invoice(cmd: Command, path: Path<(String, String)>) -> HttpResponse {
    cmd.run(StatusCode::OK, async |caller, body, state, ctx| {
        let operator_id: OperatorId = path_id("operator_id", &path.0)?;
        let invoice_id: InvoiceId = path_id("invoice_id", &path.1)?;
        let mut f = body.fields().await?;
        let reason = reason(&mut f);
        f.finish()?;
        state
            .ledger
            .reject_invoice(&caller.staff(), ctx, operator_id, invoice_id, reason)
            .await
    })
    .await
}
