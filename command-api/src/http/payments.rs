//! HTTP edge of recharges: the operator opens an order; the gateways' notify endpoints take
//! the raw body (signatures cover the exact bytes, so no JSON decoding before verification)
//! and answer each in its gateway's own format.

use actix_web::http::StatusCode;
use actix_web::web::{self, Payload};
use actix_web::{HttpRequest, HttpResponse};
use ledger_core::operator::PaymentChannel;
use serde_json::json;

use super::AppState;
use super::body::read_limited;
use super::command::Command;
use crate::context::RequestContext;
use crate::ledger::recharges::Outcome;
use crate::payments::wechat::SignedHeaders;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/api/v1/operator/recharges",
        web::post().to(create_recharge),
    )
    .route(
        "/api/v1/payments/wechat/notify",
        web::post().to(wechat_notify),
    )
    .route(
        "/api/v1/payments/alipay/notify",
        web::post().to(alipay_notify),
    );
}

async fn create_recharge(cmd: Command) -> HttpResponse {
    cmd.run(StatusCode::CREATED, async |caller, body, state, ctx| {
        let operator_id = caller.operator_id()?;
        let mut f = body.fields().await?;
        let channel = f.text("channel", 1, 16);
        let channel = PaymentChannel::parse(&channel);
        if channel.is_none() {
            f.mark_bad("channel");
        }
        let amount = f.money("amount");
        f.finish()?;
        state
            .ledger
            .create_recharge(
                operator_id,
                ctx,
                channel.expect("checked"),
                amount.expect("checked"),
            )
            .await
    })
    .await
}

/// WeChat Pay: 200 (empty) when received; 4xx/5xx with `{"code":"FAIL","message":..}`
/// otherwise, which makes WeChat retry.
async fn wechat_notify(
    req: HttpRequest,
    payload: Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let fail = |status: StatusCode, message: &str| {
        HttpResponse::build(status).json(json!({ "code": "FAIL", "message": message }))
    };
    let body = match read_limited(&req, payload).await {
        Ok(body) => body,
        Err(_) => return fail(StatusCode::PAYLOAD_TOO_LARGE, "body too large"),
    };
    let headers = SignedHeaders::from_lookup(|name| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    });
    let outcome = state.ledger.wechat_callback(&headers, &body, &ctx).await;
    crate::metrics::payment_callback("wechat", &outcome);
    match outcome {
        Ok(outcome) if outcome.accepted() => HttpResponse::Ok().finish(),
        Ok(Outcome::Rejected(reason)) => fail(StatusCode::BAD_REQUEST, &reason),
        Ok(_) => unreachable!("only a rejection is not accepted"),
        Err(error) => fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("not processed: {}", error.code.as_str()),
        ),
    }
}

/// Alipay: the plain text `success` when received, `failure` otherwise (Alipay retries).
async fn alipay_notify(
    req: HttpRequest,
    payload: Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ctx = RequestContext::of(&req);
    let answer = |text: &'static str| {
        HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body(text)
    };
    let Ok(body) = read_limited(&req, payload).await else {
        return answer("failure");
    };
    let outcome = state.ledger.alipay_callback(&body, &ctx).await;
    crate::metrics::payment_callback("alipay", &outcome);
    match outcome {
        Ok(outcome) if outcome.accepted() => answer("success"),
        _ => answer("failure"),
    }
}
