//! HTTP edge of the operator's own account. The operator is always the caller's: no path or
//! body field can name another one.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{self, Path};
use ledger_core::account_rules::{self, PASSWORD_MAX};
use ledger_core::ids::{AppId, SiteId};
use ledger_core::operator::{
    INVOICE_TITLE_MAX, InvoiceRequest, InvoiceType, MARK_READ_MAX, MAX_ROTATION_OVERLAP, REASON_MAX,
};

use super::command::{Command, path_id};
use super::review::{NAME_MAX, profile_change};

/// Longest site address (characters), as the domain checks it.
const ADDRESS_MAX: usize = 300;
/// Longest tax number accepted before the format rule looks at it.
const TAX_NUMBER_MAX: usize = 20;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/operator/profile", web::patch().to(update_profile))
        .route("/api/v1/operator/sites", web::post().to(open_site))
        .route(
            "/api/v1/operator/sites/{site_id}",
            web::patch().to(update_site),
        )
        .route(
            "/api/v1/operator/sites/{site_id}",
            web::delete().to(close_site),
        )
        .route(
            "/api/v1/operator/app-applications",
            web::post().to(apply_for_app),
        )
        .route(
            "/api/v1/operator/credentials/rotate",
            web::post().to(rotate_credentials),
        )
        .route("/api/v1/operator/deactivate", web::post().to(deactivate))
        .route("/api/v1/operator/refunds", web::post().to(request_refund))
        .route("/api/v1/operator/invoices", web::post().to(request_invoice))
        .route("/api/v1/operator/messages/read", web::post().to(mark_read))
        .route(
            "/api/v1/operator/messages/read-all",
            web::post().to(mark_all_read),
        );
}

async fn update_profile(cmd: Command) -> HttpResponse {
    cmd.run(StatusCode::OK, async |caller, body, state, ctx| {
        let operator_id = caller.operator_id()?;
        let mut f = body.fields().await?;
        let change = profile_change(&mut f);
        f.finish()?;
        state
            .ledger
            .update_own_profile(operator_id, ctx, change)
            .await
    })
    .await
}

async fn open_site(cmd: Command) -> HttpResponse {
    cmd.run(StatusCode::CREATED, async |caller, body, state, ctx| {
        let operator_id = caller.operator_id()?;
        let mut f = body.fields().await?;
        let name = f.text("name", 1, NAME_MAX);
        let address = f.text("address", 1, ADDRESS_MAX);
        f.finish()?;
        state
            .ledger
            .open_own_site(operator_id, ctx, name, address)
            .await
    })
    .await
}

async fn update_site(cmd: Command, path: Path<String>) -> HttpResponse {
    cmd.run(StatusCode::OK, async |caller, body, state, ctx| {
        let operator_id = caller.operator_id()?;
        let site_id: SiteId = path_id("site_id", &path)?;
        let mut f = body.fields().await?;
        let name = if f.has("name") {
            Some(f.text("name", 1, NAME_MAX))
        } else {
            None
        };
        let address = if f.has("address") {
            Some(f.text("address", 1, ADDRESS_MAX))
        } else {
            None
        };
        f.finish()?;
        state
            .ledger
            .update_own_site(operator_id, ctx, site_id, name, address)
            .await
    })
    .await
}

async fn close_site(cmd: Command, path: Path<String>) -> HttpResponse {
    cmd.run(StatusCode::OK, async |caller, _, state, ctx| {
        let operator_id = caller.operator_id()?;
        let site_id: SiteId = path_id("site_id", &path)?;
        state.ledger.close_own_site(operator_id, ctx, site_id).await
    })
    .await
}

async fn apply_for_app(cmd: Command) -> HttpResponse {
    cmd.run(StatusCode::CREATED, async |caller, body, state, ctx| {
        let operator_id = caller.operator_id()?;
        let mut f = body.fields().await?;
        let app_id = f.id::<AppId>("app_id");
        let reason = f.text("reason", 1, REASON_MAX);
        f.finish()?;
        state
            .ledger
            .apply_for_app(operator_id, ctx, app_id.expect("checked"), reason)
            .await
    })
    .await
}

async fn rotate_credentials(cmd: Command) -> HttpResponse {
    cmd.run(StatusCode::OK, async |caller, body, state, ctx| {
        let operator_id = caller.operator_id()?;
        let mut f = body.fields_or_empty().await?;
        let overlap = f
            .opt_int_in("overlap_seconds", 0, MAX_ROTATION_OVERLAP.num_seconds())
            .unwrap_or(0);
        f.finish()?;
        state
            .ledger
            .rotate_own_credentials(operator_id, ctx, overlap)
            .await
    })
    .await
}

async fn deactivate(cmd: Command) -> HttpResponse {
    cmd.run(StatusCode::OK, async |caller, body, state, ctx| {
        let operator_id = caller.operator_id()?;
        let mut f = body.fields().await?;
        let password = f.secret("password", 1, PASSWORD_MAX);
        f.finish()?;
        state
            .ledger
            .deactivate_own_account(operator_id, ctx, &password)
            .await
    })
    .await
}

async fn request_refund(cmd: Command) -> HttpResponse {
    cmd.run(StatusCode::CREATED, async |caller, body, state, ctx| {
        let operator_id = caller.operator_id()?;
        let mut f = body.fields().await?;
        let reason = f.text("reason", 1, REASON_MAX);
        f.finish()?;
        state.ledger.request_refund(operator_id, ctx, reason).await
    })
    .await
}

async fn request_invoice(cmd: Command) -> HttpResponse {
    cmd.run(StatusCode::CREATED, async |caller, body, state, ctx| {
        let operator_id = caller.operator_id()?;
        let mut f = body.fields().await?;
        let invoice_type = f.text("invoice_type", 1, 16);
        let invoice_type = InvoiceType::parse(&invoice_type);
        if invoice_type.is_none() {
            f.mark_bad("invoice_type");
        }
        let title = f.text("title", 1, INVOICE_TITLE_MAX);
        let tax_number = f.text("tax_number", 1, TAX_NUMBER_MAX);
        if !tax_number.is_empty() && !account_rules::valid_tax_number(&tax_number) {
            f.mark_bad("tax_number");
        }
        let amount = f.money("amount");
        if amount.is_some_and(|a| a.is_zero()) {
            f.mark_bad("amount");
        }
        f.finish()?;
        let request = InvoiceRequest {
            invoice_type: invoice_type.expect("checked"),
            title,
            tax_number,
            amount: amount.expect("checked"),
        };
        state
            .ledger
            .request_invoice(operator_id, ctx, request)
            .await
    })
    .await
}

async fn mark_read(cmd: Command) -> HttpResponse {
    cmd.run(StatusCode::OK, async |caller, body, state, ctx| {
        let operator_id = caller.operator_id()?;
        let mut f = body.fields().await?;
        let ids = f.int_list("message_ids", MARK_READ_MAX);
        if ids
            .as_ref()
            .is_some_and(|ids| ids.iter().any(|id| *id <= 0))
        {
            f.mark_bad("message_ids");
        }
        f.finish()?;
        let ids = ids.expect("checked");
        state
            .ledger
            .mark_messages_read(operator_id, ctx, Some(ids))
            .await
    })
    .await
}

async fn mark_all_read(cmd: Command) -> HttpResponse {
    cmd.run(StatusCode::OK, async |caller, body, state, ctx| {
        let operator_id = caller.operator_id()?;
        body.nothing().await?;
        state
            .ledger
            .mark_messages_read(operator_id, ctx, None)
            .await
    })
    .await
}
