//! HTTP edge of the operator's own account. The operator is always the caller's: no path or
//! body field can name another one.

use actix_web::http::StatusCode;
use actix_web::web::{self, Path, Payload};
use actix_web::{HttpRequest, HttpResponse};
use ledger_core::account_rules::{self, PASSWORD_MAX};
use ledger_core::ids::{AppId, SiteId};
use ledger_core::operator::{
    INVOICE_TITLE_MAX, InvoiceRequest, InvoiceType, MARK_READ_MAX, MAX_ROTATION_OVERLAP, REASON_MAX,
};

use super::body::read_limited;
use super::fields::Fields;
use super::review::{NAME_MAX, path_id, profile_change};
use super::{AppState, respond};
use crate::context::RequestContext;
use crate::wire::success;

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

async fn update_profile(
    req: HttpRequest,
    payload: Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let caller = state.auth.caller(&req).await?;
        let operator_id = caller.operator_id()?;
        let mut f = Fields::parse(&read_limited(&req, payload).await?, false)?;
        let change = profile_change(&mut f);
        f.finish()?;
        let view = state
            .ledger
            .update_own_profile(operator_id, &ctx, change)
            .await?;
        Ok(success(StatusCode::OK, &ctx.request_id, &view))
    }
    .await;
    respond(&ctx, result)
}

async fn open_site(req: HttpRequest, payload: Payload, state: web::Data<AppState>) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let caller = state.auth.caller(&req).await?;
        let operator_id = caller.operator_id()?;
        let mut f = Fields::parse(&read_limited(&req, payload).await?, false)?;
        let name = f.text("name", 1, NAME_MAX);
        let address = f.text("address", 1, ADDRESS_MAX);
        f.finish()?;
        let site = state
            .ledger
            .open_own_site(operator_id, &ctx, name, address)
            .await?;
        Ok(success(StatusCode::CREATED, &ctx.request_id, &site))
    }
    .await;
    respond(&ctx, result)
}

async fn update_site(
    req: HttpRequest,
    path: Path<String>,
    payload: Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let caller = state.auth.caller(&req).await?;
        let operator_id = caller.operator_id()?;
        let site_id: SiteId = path_id("site_id", &path)?;
        let mut f = Fields::parse(&read_limited(&req, payload).await?, false)?;
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
        let site = state
            .ledger
            .update_own_site(operator_id, &ctx, site_id, name, address)
            .await?;
        Ok(success(StatusCode::OK, &ctx.request_id, &site))
    }
    .await;
    respond(&ctx, result)
}

async fn close_site(
    req: HttpRequest,
    path: Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let caller = state.auth.caller(&req).await?;
        let operator_id = caller.operator_id()?;
        let site_id: SiteId = path_id("site_id", &path)?;
        let site = state
            .ledger
            .close_own_site(operator_id, &ctx, site_id)
            .await?;
        Ok(success(StatusCode::OK, &ctx.request_id, &site))
    }
    .await;
    respond(&ctx, result)
}

async fn apply_for_app(
    req: HttpRequest,
    payload: Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let caller = state.auth.caller(&req).await?;
        let operator_id = caller.operator_id()?;
        let mut f = Fields::parse(&read_limited(&req, payload).await?, false)?;
        let app_id = f.id::<AppId>("app_id");
        let reason = f.text("reason", 1, REASON_MAX);
        f.finish()?;
        let application = state
            .ledger
            .apply_for_app(operator_id, &ctx, app_id.expect("checked"), reason)
            .await?;
        Ok(success(StatusCode::CREATED, &ctx.request_id, &application))
    }
    .await;
    respond(&ctx, result)
}

async fn rotate_credentials(
    req: HttpRequest,
    payload: Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let caller = state.auth.caller(&req).await?;
        let operator_id = caller.operator_id()?;
        let mut f = Fields::parse(&read_limited(&req, payload).await?, true)?;
        let overlap = f
            .opt_int_in("overlap_seconds", 0, MAX_ROTATION_OVERLAP.num_seconds())
            .unwrap_or(0);
        f.finish()?;
        let issued = state
            .ledger
            .rotate_own_credentials(operator_id, &ctx, overlap)
            .await?;
        Ok(success(StatusCode::OK, &ctx.request_id, &issued))
    }
    .await;
    respond(&ctx, result)
}

async fn deactivate(
    req: HttpRequest,
    payload: Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let caller = state.auth.caller(&req).await?;
        let operator_id = caller.operator_id()?;
        let mut f = Fields::parse(&read_limited(&req, payload).await?, false)?;
        let password = f.secret("password", 1, PASSWORD_MAX);
        f.finish()?;
        let view = state
            .ledger
            .deactivate_own_account(operator_id, &ctx, &password)
            .await?;
        Ok(success(StatusCode::OK, &ctx.request_id, &view))
    }
    .await;
    respond(&ctx, result)
}

async fn request_refund(
    req: HttpRequest,
    payload: Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let caller = state.auth.caller(&req).await?;
        let operator_id = caller.operator_id()?;
        let mut f = Fields::parse(&read_limited(&req, payload).await?, false)?;
        let reason = f.text("reason", 1, REASON_MAX);
        f.finish()?;
        let refund = state
            .ledger
            .request_refund(operator_id, &ctx, reason)
            .await?;
        Ok(success(StatusCode::CREATED, &ctx.request_id, &refund))
    }
    .await;
    respond(&ctx, result)
}

async fn request_invoice(
    req: HttpRequest,
    payload: Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let caller = state.auth.caller(&req).await?;
        let operator_id = caller.operator_id()?;
        let mut f = Fields::parse(&read_limited(&req, payload).await?, false)?;
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
        let invoice = state
            .ledger
            .request_invoice(operator_id, &ctx, request)
            .await?;
        Ok(success(StatusCode::CREATED, &ctx.request_id, &invoice))
    }
    .await;
    respond(&ctx, result)
}

async fn mark_read(req: HttpRequest, payload: Payload, state: web::Data<AppState>) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let caller = state.auth.caller(&req).await?;
        let operator_id = caller.operator_id()?;
        let mut f = Fields::parse(&read_limited(&req, payload).await?, false)?;
        let ids = f.int_list("message_ids", MARK_READ_MAX);
        if ids
            .as_ref()
            .is_some_and(|ids| ids.iter().any(|id| *id <= 0))
        {
            f.mark_bad("message_ids");
        }
        f.finish()?;
        let marked = state
            .ledger
            .mark_messages_read(operator_id, &ctx, Some(ids.expect("checked")))
            .await?;
        Ok(success(StatusCode::OK, &ctx.request_id, &marked))
    }
    .await;
    respond(&ctx, result)
}

async fn mark_all_read(
    req: HttpRequest,
    payload: Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let result = async {
        let caller = state.auth.caller(&req).await?;
        let operator_id = caller.operator_id()?;
        Fields::parse(&read_limited(&req, payload).await?, true)?.finish()?;
        let marked = state
            .ledger
            .mark_messages_read(operator_id, &ctx, None)
            .await?;
        Ok(success(StatusCode::OK, &ctx.request_id, &marked))
    }
    .await;
    respond(&ctx, result)
}
