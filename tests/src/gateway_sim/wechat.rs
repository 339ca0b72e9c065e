//! WeChat Pay API v3, Native payments: order, query, close, trade bill. Merchant requests must
//! carry a valid `WECHATPAY2-SHA256-RSA2048` Authorization; every answer is signed with the
//! platform key (`Wechatpay-*` headers).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{NaiveDate, Utc};
use ring::aead;
use serde::Deserialize;
use serde_json::{Value, json};

use super::keys::PrivateKey;
use super::store::{Channel, Order, TradeState, beijing};
use super::{Sim, SimData, random_alnum, random_digits, statement};

/// Requests whose timestamp is further than this from now are refused.
const MAX_CLOCK_SKEW_SECONDS: i64 = 300;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v3/pay/transactions/native", web::post().to(create_native))
        .route(
            "/v3/pay/transactions/out-trade-no/{out_trade_no}",
            web::get().to(query),
        )
        .route(
            "/v3/pay/transactions/out-trade-no/{out_trade_no}/close",
            web::post().to(close),
        )
        .route("/v3/bill/tradebill", web::get().to(trade_bill))
        .route("/v3/billdownload/file", web::get().to(download_bill));
}

/// The signed headers of a platform message: (timestamp, nonce, signature, serial).
pub fn platform_headers(key: &PrivateKey, serial: &str, body: &str) -> [(&'static str, String); 4] {
    let timestamp = Utc::now().timestamp().to_string();
    let nonce = random_alnum(32);
    let signature = key.sign(format!("{timestamp}\n{nonce}\n{body}\n").as_bytes());
    [
        ("Wechatpay-Timestamp", timestamp),
        ("Wechatpay-Nonce", nonce),
        ("Wechatpay-Signature", signature),
        ("Wechatpay-Serial", serial.to_owned()),
    ]
}

/// A platform-signed answer.
fn reply(sim: &Sim, status: StatusCode, body: Option<Value>) -> HttpResponse {
    let text = body.map(|b| b.to_string()).unwrap_or_default();
    let mut response = HttpResponse::build(status);
    for header in platform_headers(
        &sim.keys.wechat_platform,
        &sim.keys.wechat_platform_serial,
        &text,
    ) {
        response.insert_header(header);
    }
    response.insert_header(("Request-ID", uuid::Uuid::new_v4().to_string()));
    if text.is_empty() {
        response.finish()
    } else {
        response.content_type("application/json").body(text)
    }
}

fn error(sim: &Sim, status: StatusCode, code: &str, message: &str) -> HttpResponse {
    reply(
        sim,
        status,
        Some(json!({ "code": code, "message": message })),
    )
}

/// The `Authorization` header fields.
fn auth_fields(header: &str) -> Option<Vec<(String, String)>> {
    let rest = header.strip_prefix("WECHATPAY2-SHA256-RSA2048 ")?;
    rest.split(',')
        .map(|part| {
            let (key, value) = part.trim().split_once('=')?;
            let value = value.strip_prefix('"')?.strip_suffix('"')?;
            Some((key.to_owned(), value.to_owned()))
        })
        .collect()
}

/// Checks the merchant's signature of this request; the error is WeChat's message.
pub fn verify_merchant(sim: &Sim, req: &HttpRequest, body: &[u8]) -> Result<(), String> {
    let header = req
        .headers()
        .get("Authorization")
        .and_then(|h| h.to_str().ok())
        .ok_or("missing Authorization")?;
    let fields = auth_fields(header).ok_or("malformed Authorization")?;
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .ok_or(format!("Authorization lacks {name}"))
    };
    let (mchid, nonce, signature, timestamp, serial) = (
        field("mchid")?,
        field("nonce_str")?,
        field("signature")?,
        field("timestamp")?,
        field("serial_no")?,
    );
    if mchid != sim.config.wechat_mch_id {
        return Err(format!("unknown mchid {mchid}"));
    }
    if Some(serial) != sim.keys.wechat_merchant.serial.as_deref() {
        return Err(format!("unknown merchant certificate serial {serial}"));
    }
    let ts: i64 = timestamp.parse().map_err(|_| "timestamp not a number")?;
    if (Utc::now().timestamp() - ts).abs() > MAX_CLOCK_SKEW_SECONDS {
        return Err("timestamp expired".into());
    }
    let url = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut message = format!("{}\n{url}\n{timestamp}\n{nonce}\n", req.method()).into_bytes();
    message.extend_from_slice(body);
    message.push(b'\n');
    if !sim.keys.wechat_merchant.verify(&message, signature) {
        return Err("signature verification failed".into());
    }
    Ok(())
}

/// Verifies the request; `Some` is the 401 answer.
fn refusal(sim: &Sim, req: &HttpRequest, body: &[u8]) -> Option<HttpResponse> {
    verify_merchant(sim, req, body)
        .err()
        .map(|message| error(sim, StatusCode::UNAUTHORIZED, "SIGN_ERROR", &message))
}

#[derive(Deserialize)]
struct NativeOrder {
    appid: String,
    mchid: String,
    description: String,
    out_trade_no: String,
    notify_url: String,
    amount: Amount,
}

#[derive(Deserialize)]
struct Amount {
    total: i64,
    #[serde(default)]
    currency: Option<String>,
}

async fn create_native(sim: SimData, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    if let Some(denied) = refusal(&sim, &req, &body) {
        return denied;
    }
    let order: NativeOrder = match serde_json::from_slice(&body) {
        Ok(order) => order,
        Err(e) => return error(&sim, StatusCode::BAD_REQUEST, "PARAM_ERROR", &e.to_string()),
    };
    let problem = if order.appid != sim.config.wechat_app_id {
        Some("appid does not belong to this mchid")
    } else if order.mchid != sim.config.wechat_mch_id {
        Some("mchid does not match the signer")
    } else if !(6..=32).contains(&order.out_trade_no.len()) {
        Some("out_trade_no must be 6 to 32 characters")
    } else if order.amount.total <= 0 {
        Some("amount.total must be positive")
    } else if order.amount.currency.as_deref().is_some_and(|c| c != "CNY") {
        Some("currency must be CNY")
    } else if order.notify_url.is_empty() {
        Some("notify_url is required")
    } else {
        None
    };
    if let Some(message) = problem {
        return error(&sim, StatusCode::BAD_REQUEST, "PARAM_ERROR", message);
    }
    let mut orders = sim.store.orders.lock().unwrap();
    if let Some(existing) = orders.get(&order.out_trade_no) {
        let answer = if existing.state == TradeState::Success {
            Err(("ORDERPAID", "the order is paid"))
        } else if existing.state != TradeState::NotPaid {
            Err(("ORDER_CLOSED", "the order is closed"))
        } else if existing.amount_fen != order.amount.total || existing.channel != Channel::Wechat {
            Err(("INVALID_REQUEST", "out_trade_no used with other parameters"))
        } else {
            Ok(existing.qr.clone())
        };
        drop(orders);
        return match answer {
            Ok(code_url) => reply(&sim, StatusCode::OK, Some(json!({ "code_url": code_url }))),
            Err((code, message)) => error(&sim, StatusCode::BAD_REQUEST, code, message),
        };
    }
    let code_url = format!("weixin://wxpay/bizpayurl?pr={}", random_alnum(7));
    orders.insert(
        order.out_trade_no.clone(),
        Order {
            channel: Channel::Wechat,
            out_trade_no: order.out_trade_no,
            description: order.description,
            notify_url: order.notify_url,
            amount_fen: order.amount.total,
            created_at: Utc::now(),
            state: TradeState::NotPaid,
            transaction_id: None,
            paid_fen: None,
            paid_at: None,
            qr: code_url.clone(),
            deliveries: Vec::new(),
        },
    );
    drop(orders);
    reply(&sim, StatusCode::OK, Some(json!({ "code_url": code_url })))
}

/// A new WeChat transaction id (28 digits, as the real ones).
pub fn new_transaction_id() -> String {
    format!(
        "4200{}{}",
        Utc::now().with_timezone(&beijing()).format("%Y%m%d"),
        random_digits(16)
    )
}

/// The transaction JSON of queries and (encrypted) callbacks.
pub fn transaction(sim: &Sim, order: &Order) -> Value {
    let mut t = json!({
        "appid": sim.config.wechat_app_id,
        "mchid": sim.config.wechat_mch_id,
        "out_trade_no": order.out_trade_no,
        "trade_type": "NATIVE",
        "trade_state": order.state.wechat(),
        "trade_state_desc": match order.state {
            TradeState::NotPaid => "订单未支付",
            TradeState::Success => "支付成功",
            TradeState::Closed => "订单已关闭",
            TradeState::PayError => "支付失败",
        },
        "attach": "",
        "amount": {
            "total": order.amount_fen,
            "currency": "CNY",
        },
    });
    if let Some(id) = &order.transaction_id {
        t["transaction_id"] = json!(id);
        t["bank_type"] = json!("OTHERS");
        t["payer"] = json!({ "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o" });
        t["amount"]["payer_total"] = json!(order.paid_fen.unwrap_or(order.amount_fen));
        t["amount"]["payer_currency"] = json!("CNY");
        // Paid amount is what the gateway reports as the order total to the receiver.
        t["amount"]["total"] = json!(order.paid_fen.unwrap_or(order.amount_fen));
    }
    if let Some(paid_at) = order.paid_at {
        t["success_time"] = json!(paid_at.with_timezone(&beijing()).to_rfc3339());
    }
    t
}

#[derive(Deserialize)]
struct MchQuery {
    mchid: Option<String>,
}

async fn query(
    sim: SimData,
    req: HttpRequest,
    path: web::Path<String>,
    params: web::Query<MchQuery>,
) -> HttpResponse {
    if let Some(denied) = refusal(&sim, &req, b"") {
        return denied;
    }
    if params.mchid.as_deref() != Some(sim.config.wechat_mch_id.as_str()) {
        return error(&sim, StatusCode::BAD_REQUEST, "PARAM_ERROR", "mchid");
    }
    if sim.store.take_query_failure() {
        return error(
            &sim,
            StatusCode::INTERNAL_SERVER_ERROR,
            "SYSTEM_ERROR",
            "系统错误 (injected)",
        );
    }
    match sim.store.order(&path) {
        Some(order) if order.channel == Channel::Wechat => {
            let body = transaction(&sim, &order);
            reply(&sim, StatusCode::OK, Some(body))
        }
        _ => error(&sim, StatusCode::NOT_FOUND, "ORDER_NOT_EXIST", "订单不存在"),
    }
}

async fn close(
    sim: SimData,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    if let Some(denied) = refusal(&sim, &req, &body) {
        return denied;
    }
    let mchid = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["mchid"].as_str().map(str::to_owned));
    if mchid.as_deref() != Some(sim.config.wechat_mch_id.as_str()) {
        return error(&sim, StatusCode::BAD_REQUEST, "PARAM_ERROR", "mchid");
    }
    let outcome = {
        let mut orders = sim.store.orders.lock().unwrap();
        match orders.get_mut(path.as_str()) {
            Some(order) if order.channel == Channel::Wechat => match order.state {
                TradeState::Success => Err(("ORDERPAID", "订单已支付")),
                _ => {
                    order.state = TradeState::Closed;
                    Ok(())
                }
            },
            _ => Err(("ORDER_NOT_EXIST", "订单不存在")),
        }
    };
    match outcome {
        Ok(()) => reply(&sim, StatusCode::NO_CONTENT, None),
        Err((code, message)) => error(&sim, StatusCode::BAD_REQUEST, code, message),
    }
}

#[derive(Deserialize)]
struct BillQuery {
    bill_date: String,
}

async fn trade_bill(sim: SimData, req: HttpRequest, q: web::Query<BillQuery>) -> HttpResponse {
    if let Some(denied) = refusal(&sim, &req, b"") {
        return denied;
    }
    let Ok(date) = NaiveDate::parse_from_str(&q.bill_date, "%Y-%m-%d") else {
        return error(&sim, StatusCode::BAD_REQUEST, "PARAM_ERROR", "bill_date");
    };
    let csv = statement::wechat_trade_bill(&sim, date);
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, csv.as_bytes());
    let hash: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    reply(
        &sim,
        StatusCode::OK,
        Some(json!({
            "hash_type": "SHA1",
            "hash_value": hash,
            "download_url": format!("{}/v3/billdownload/file?token=wechat-{date}", sim.url),
        })),
    )
}

#[derive(Deserialize)]
struct DownloadQuery {
    token: String,
}

/// The bill file. The real download is a signed GET too; a signature is checked when given.
async fn download_bill(
    sim: SimData,
    req: HttpRequest,
    q: web::Query<DownloadQuery>,
) -> HttpResponse {
    if req.headers().contains_key("Authorization")
        && let Some(denied) = refusal(&sim, &req, b"")
    {
        return denied;
    }
    let Some(date) = q
        .token
        .strip_prefix("wechat-")
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
    else {
        return error(&sim, StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "token");
    };
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .body(statement::wechat_trade_bill(&sim, date))
}

/// Seals `plaintext` as a callback resource: AES-256-GCM under the API v3 key,
/// `ciphertext` = base64(ciphertext ‖ tag).
pub fn encrypt_resource(api_v3_key: &str, plaintext: &str) -> Value {
    use base64::Engine as _;
    let nonce = random_alnum(12);
    let associated_data = "transaction";
    let key = aead::LessSafeKey::new(
        aead::UnboundKey::new(&aead::AES_256_GCM, api_v3_key.as_bytes()).expect("32-byte key"),
    );
    let mut buffer = plaintext.as_bytes().to_vec();
    key.seal_in_place_append_tag(
        aead::Nonce::try_assume_unique_for_key(nonce.as_bytes()).expect("12-byte nonce"),
        aead::Aad::from(associated_data.as_bytes()),
        &mut buffer,
    )
    .expect("AES-GCM seal");
    json!({
        "original_type": "transaction",
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": base64::engine::general_purpose::STANDARD.encode(buffer),
        "associated_data": associated_data,
        "nonce": nonce,
    })
}

/// The callback body for `order` (a new notification id each call).
pub fn callback_body(sim: &Sim, order: &Order) -> (String, String) {
    let id = uuid::Uuid::new_v4().to_string();
    let success = order.state == TradeState::Success;
    let body = json!({
        "id": id,
        "create_time": Utc::now().with_timezone(&beijing()).to_rfc3339(),
        "resource_type": "encrypt-resource",
        // Real WeChat notifies successes only; a failed payment is reported the same way so
        // that receivers can be tested on it (they must read trade_state).
        "event_type": if success { "TRANSACTION.SUCCESS" } else { "TRANSACTION.FAIL" },
        "summary": if success { "支付成功" } else { "支付失败" },
        "resource": encrypt_resource(
            &sim.config.wechat_api_v3_key,
            &transaction(sim, order).to_string(),
        ),
    });
    (id, body.to_string())
}
