//! `/sim/...`: what the payer (and chaos) does, driven by tests or by hand with curl.
//!
//! - `POST /sim/orders/{out_trade_no}/pay` `{callback?, amount?, fail?}`: the payer pays.
//!   `callback`: `"now"` (default; answered after the first attempt), `"late(MS)"` (sent MS
//!   milliseconds later), `"never"`, `"duplicate(N)"` (N identical-state callbacks at once),
//!   `"forged"` (signed with a key the receiver does not trust; the trade stays unpaid).
//!   `amount` ("99.00"): what the payer paid instead of the ordered amount. `fail: true`: the
//!   payment fails (WeChat PAYERROR, Alipay TRADE_CLOSED). Paying a paid order again re-sends
//!   its callback (same transaction id), like a gateway retry.
//! - `GET /sim/orders`, `GET /sim/orders/{out_trade_no}`: orders with their callback attempts.
//! - `POST /sim/faults` `{query_failures: N}`: the next N order queries fail.
//! - `PUT /sim/statements/{channel}/{date}` `[{out_trade_no, transaction_id, amount, paid_at,
//!   description?}]`: that day's statement; `DELETE` goes back to the computed one.
//! - `GET /sim/health`.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use chrono::{NaiveDate, Utc};
use serde::Deserialize;
use serde_json::json;

use super::store::{Channel, Order, StatementRow, TradeState, parse_yuan};
use super::{Sim, SimData, callbacks, wechat};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/sim/health", web::get().to(health))
        .route("/sim/orders", web::get().to(list))
        .route("/sim/orders/{out_trade_no}", web::get().to(show))
        .route("/sim/orders/{out_trade_no}/pay", web::post().to(pay))
        .route("/sim/faults", web::post().to(faults))
        .route(
            "/sim/statements/{channel}/{date}",
            web::put().to(set_statement),
        )
        .route(
            "/sim/statements/{channel}/{date}",
            web::delete().to(clear_statement),
        );
}

/// How the callback of a payment arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackMode {
    Now,
    Late(Duration),
    Never,
    Duplicate(u32),
    Forged,
}

impl CallbackMode {
    /// `now`, `never`, `forged`, `late(MS)` / `late:MS`, `duplicate(N)` / `duplicate:N`.
    pub fn parse(text: &str) -> Option<CallbackMode> {
        let text = text.trim();
        let (name, arg) = match text.split_once(['(', ':']) {
            Some((name, rest)) => (name, Some(rest.trim_end_matches(')').trim())),
            None => (text, None),
        };
        match (name, arg) {
            ("now", None) => Some(CallbackMode::Now),
            ("never", None) => Some(CallbackMode::Never),
            ("forged", None) => Some(CallbackMode::Forged),
            ("late", Some(ms)) => ms
                .parse()
                .ok()
                .map(|ms| CallbackMode::Late(Duration::from_millis(ms))),
            ("duplicate", Some(n)) => n
                .parse()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .map(CallbackMode::Duplicate),
            _ => None,
        }
    }
}

fn bad_request(message: impl Into<String>) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({ "error": message.into() }))
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

async fn list(sim: SimData) -> HttpResponse {
    let orders: Vec<Order> = sim.store.orders.lock().unwrap().values().cloned().collect();
    HttpResponse::Ok().json(orders)
}

async fn show(sim: SimData, path: web::Path<String>) -> HttpResponse {
    match sim.store.order(&path) {
        Some(order) => HttpResponse::Ok().json(order),
        None => HttpResponse::NotFound().json(json!({ "error": "no such order" })),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PayOptions {
    callback: Option<String>,
    amount: Option<String>,
    #[serde(default)]
    fail: bool,
}

async fn pay(sim: SimData, path: web::Path<String>, body: web::Bytes) -> HttpResponse {
    let options: PayOptions = if body.iter().all(u8::is_ascii_whitespace) {
        PayOptions::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(options) => options,
            Err(e) => return bad_request(e.to_string()),
        }
    };
    let mode = match options.callback.as_deref() {
        None => CallbackMode::Now,
        Some(text) => match CallbackMode::parse(text) {
            Some(mode) => mode,
            None => {
                return bad_request(format!(
                    "callback {text:?}: use now, never, forged, late(MS) or duplicate(N)"
                ));
            }
        },
    };
    let paid_fen = match options.amount.as_deref().map(parse_yuan) {
        None => None,
        Some(Some(fen)) if fen > 0 => Some(fen),
        Some(_) => return bad_request("amount: a positive amount like \"99.00\""),
    };
    let order = {
        let mut orders = sim.store.orders.lock().unwrap();
        let Some(order) = orders.get_mut(path.as_str()) else {
            return HttpResponse::NotFound().json(json!({ "error": "no such order" }));
        };
        match order.state {
            TradeState::Closed => {
                return HttpResponse::Conflict().json(json!({ "error": "the order is closed" }));
            }
            // A forgery claims a payment that did not happen: the gateway's record stays.
            _ if mode == CallbackMode::Forged => {
                let mut claimed = order.clone();
                claimed.state = TradeState::Success;
                claimed.paid_fen = Some(paid_fen.unwrap_or(order.amount_fen));
                claimed.paid_at = Some(Utc::now());
                if claimed.transaction_id.is_none() {
                    claimed.transaction_id = Some(wechat::new_transaction_id());
                }
                claimed
            }
            TradeState::NotPaid | TradeState::PayError => {
                if order.transaction_id.is_none() {
                    order.transaction_id = Some(match order.channel {
                        Channel::Wechat => wechat::new_transaction_id(),
                        Channel::Alipay => super::alipay::new_trade_no(),
                    });
                }
                if options.fail {
                    order.state = TradeState::PayError;
                } else {
                    order.state = TradeState::Success;
                    order.paid_fen = Some(paid_fen.unwrap_or(order.amount_fen));
                    order.paid_at = Some(Utc::now());
                }
                order.clone()
            }
            // Paid already: the same payment's callback again.
            TradeState::Success => order.clone(),
        }
    };
    let sim: Arc<Sim> = sim.into_inner();
    let deliveries = match mode {
        CallbackMode::Now => vec![callbacks::deliver(sim.clone(), order.clone(), false).await],
        CallbackMode::Forged => vec![callbacks::deliver(sim.clone(), order.clone(), true).await],
        CallbackMode::Duplicate(n) => {
            futures_util::future::join_all(
                (0..n).map(|_| callbacks::deliver(sim.clone(), order.clone(), false)),
            )
            .await
        }
        CallbackMode::Late(delay) => {
            let (sim, order) = (sim.clone(), order.clone());
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                callbacks::deliver(sim, order, false).await;
            });
            Vec::new()
        }
        CallbackMode::Never => Vec::new(),
    };
    let current = sim.store.order(&order.out_trade_no).unwrap_or(order);
    HttpResponse::Ok().json(json!({ "order": current, "deliveries": deliveries }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Faults {
    query_failures: u32,
}

async fn faults(sim: SimData, body: web::Json<Faults>) -> HttpResponse {
    *sim.store.query_failures.lock().unwrap() = body.query_failures;
    HttpResponse::Ok().json(json!({ "query_failures": body.query_failures }))
}

fn statement_key(path: &(String, String)) -> Result<(Channel, NaiveDate), String> {
    let channel = match path.0.as_str() {
        "wechat" => Channel::Wechat,
        "alipay" => Channel::Alipay,
        other => return Err(format!("channel {other:?}: wechat or alipay")),
    };
    let date = NaiveDate::parse_from_str(&path.1, "%Y-%m-%d").map_err(|_| "date: YYYY-MM-DD")?;
    Ok((channel, date))
}

async fn set_statement(
    sim: SimData,
    path: web::Path<(String, String)>,
    rows: web::Json<Vec<StatementRow>>,
) -> HttpResponse {
    let key = match statement_key(&path) {
        Ok(key) => key,
        Err(message) => return bad_request(message),
    };
    if let Some(row) = rows.iter().find(|r| parse_yuan(&r.amount).is_none()) {
        return bad_request(format!("amount {:?}: like \"100.00\"", row.amount));
    }
    let count = rows.len();
    sim.store
        .statements
        .lock()
        .unwrap()
        .insert(key, rows.into_inner());
    HttpResponse::Ok().json(json!({ "rows": count }))
}

async fn clear_statement(sim: SimData, path: web::Path<(String, String)>) -> HttpResponse {
    match statement_key(&path) {
        Ok(key) => {
            sim.store.statements.lock().unwrap().remove(&key);
            HttpResponse::Ok().json(json!({ "cleared": true }))
        }
        Err(message) => bad_request(message),
    }
}
