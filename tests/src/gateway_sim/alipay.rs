//! Alipay open API gateway (`POST /gateway.do`, RSA2): precreate, query, close and the bill
//! download URL. Requests are verified with the app's public key; answers are
//! `{"<method>_response": {...}, "sign": "..."}` with the sign over the exact text of the
//! `*_response` value, made with the Alipay (gateway) key.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::keys::PrivateKey;
use super::store::{Channel, Order, TradeState, beijing, parse_yuan, yuan};
use super::{Sim, SimData, random_alnum, random_digits, statement};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/gateway.do", web::post().to(gateway))
        .route("/gateway.do", web::get().to(gateway))
        .route("/downloadBillFile.resource", web::get().to(download_bill));
}

/// The RSA2 signing string: non-empty params except those in `skip`, sorted by name,
/// `k=v` joined with `&`, values not URL-encoded.
pub fn signing_content(params: &[(String, String)], skip: &[&str]) -> String {
    let mut pairs: Vec<&(String, String)> = params
        .iter()
        .filter(|(k, v)| !v.is_empty() && !skip.contains(&k.as_str()))
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// `{"<key>": <response>, "sign": ...}`, signed over the exact response text.
pub fn signed_response(key: &PrivateKey, response_key: &str, response: &Value) -> String {
    let text = response.to_string();
    let sign = key.sign(text.as_bytes());
    format!(
        "{{{}:{text},\"sign\":{}}}",
        Value::from(response_key),
        Value::from(sign)
    )
}

fn answer(sim: &Sim, method: &str, response: Value) -> HttpResponse {
    let key = if method.is_empty() {
        "error_response".to_owned()
    } else {
        format!("{}_response", method.replace('.', "_"))
    };
    HttpResponse::Ok()
        .content_type("application/json;charset=utf-8")
        .body(signed_response(&sim.keys.alipay_gateway, &key, &response))
}

fn failure(code: &str, msg: &str, sub_code: &str, sub_msg: &str) -> Value {
    json!({ "code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg })
}

fn business_error(sub_code: &str, sub_msg: &str) -> Value {
    failure("40004", "Business Failed", sub_code, sub_msg)
}

fn invalid(sub_msg: &str) -> Value {
    failure(
        "40002",
        "Invalid Arguments",
        "isv.invalid-parameter",
        sub_msg,
    )
}

fn success(fields: Value) -> Value {
    let mut out = json!({ "code": "10000", "msg": "Success" });
    if let (Some(out), Value::Object(fields)) = (out.as_object_mut(), fields) {
        out.extend(fields);
    }
    out
}

/// Query string and form body parameters together (the gateway accepts both).
fn params(req: &HttpRequest, body: &[u8]) -> Result<Vec<(String, String)>, String> {
    let mut all: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).map_err(|e| e.to_string())?;
    if !body.is_empty() {
        let form: Vec<(String, String)> =
            serde_urlencoded::from_bytes(body).map_err(|e| e.to_string())?;
        all.extend(form);
    }
    Ok(all)
}

/// Checks app id and RSA2 signature; `Err` is the error response value.
fn verify(sim: &Sim, params: &[(String, String)]) -> Result<(), Value> {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if get("app_id") != Some(sim.config.alipay_app_id.as_str()) {
        return Err(failure(
            "40002",
            "Invalid Arguments",
            "isv.invalid-app-id",
            "无效的AppID参数",
        ));
    }
    if get("sign_type") != Some("RSA2") {
        return Err(failure(
            "40002",
            "Invalid Arguments",
            "isv.invalid-signature-type",
            "无效的签名类型",
        ));
    }
    let Some(sign) = get("sign") else {
        return Err(failure(
            "40001",
            "Missing Required Arguments",
            "isv.missing-signature",
            "缺少签名参数",
        ));
    };
    let content = signing_content(params, &["sign"]);
    if !sim.keys.alipay_app.verify(content.as_bytes(), sign) {
        return Err(failure(
            "40002",
            "Invalid Arguments",
            "isv.invalid-signature",
            "验签出错",
        ));
    }
    Ok(())
}

async fn gateway(sim: SimData, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let params = match params(&req, &body) {
        Ok(p) => p,
        Err(e) => return answer(&sim, "", invalid(&e)),
    };
    let method = params
        .iter()
        .find(|(k, _)| k == "method")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    if let Err(refused) = verify(&sim, &params) {
        return answer(&sim, &method, refused);
    }
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let biz: Map<String, Value> = match serde_json::from_str(&get("biz_content")) {
        Ok(Value::Object(map)) => map,
        _ => return answer(&sim, &method, invalid("biz_content must be a JSON object")),
    };
    let biz_str = |name: &str| {
        biz.get(name)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let response = match method.as_str() {
        "alipay.trade.precreate" => precreate(
            &sim,
            biz_str("out_trade_no"),
            biz_str("total_amount"),
            biz_str("subject"),
            get("notify_url"),
        ),
        "alipay.trade.query" => query(&sim, &biz_str("out_trade_no")),
        "alipay.trade.close" => close(&sim, &biz_str("out_trade_no")),
        "alipay.data.dataservice.bill.downloadurl.query" => {
            match NaiveDate::parse_from_str(&biz_str("bill_date"), "%Y-%m-%d") {
                Ok(date) => success(json!({
                    "bill_download_url":
                        format!("{}/downloadBillFile.resource?bill_date={date}", sim.url),
                })),
                Err(_) => invalid("bill_date must be yyyy-MM-dd"),
            }
        }
        _ => {
            return answer(
                &sim,
                "",
                failure(
                    "40002",
                    "Invalid Arguments",
                    "isv.invalid-method",
                    "不存在的方法名",
                ),
            );
        }
    };
    answer(&sim, &method, response)
}

/// A new Alipay trade number (28 digits, as the real ones).
pub fn new_trade_no() -> String {
    format!(
        "{}22001{}",
        Utc::now().with_timezone(&beijing()).format("%Y%m%d"),
        random_digits(15)
    )
}

fn precreate(
    sim: &Sim,
    out_trade_no: String,
    total_amount: String,
    subject: String,
    notify_url: String,
) -> Value {
    let Some(amount_fen) = parse_yuan(&total_amount).filter(|f| *f > 0) else {
        return invalid("total_amount must be a positive amount with at most 2 decimals");
    };
    if out_trade_no.is_empty() || out_trade_no.len() > 64 {
        return invalid("out_trade_no must be 1 to 64 characters");
    }
    if subject.is_empty() {
        return invalid("subject is required");
    }
    let mut orders = sim.store.orders.lock().unwrap();
    if let Some(existing) = orders.get(&out_trade_no) {
        return match existing.state {
            TradeState::Success => business_error("ACQ.TRADE_HAS_SUCCESS", "交易已被支付"),
            TradeState::NotPaid
                if existing.amount_fen == amount_fen && existing.channel == Channel::Alipay =>
            {
                success(json!({ "out_trade_no": out_trade_no, "qr_code": existing.qr }))
            }
            _ => business_error("ACQ.TRADE_HAS_CLOSE", "交易已经关闭"),
        };
    }
    let qr_code = format!(
        "https://qr.alipay.com/bax0{}",
        random_alnum(20).to_lowercase()
    );
    orders.insert(
        out_trade_no.clone(),
        Order {
            channel: Channel::Alipay,
            out_trade_no: out_trade_no.clone(),
            description: subject,
            notify_url,
            amount_fen,
            created_at: Utc::now(),
            state: TradeState::NotPaid,
            transaction_id: Some(new_trade_no()),
            paid_fen: None,
            paid_at: None,
            qr: qr_code.clone(),
            deliveries: Vec::new(),
        },
    );
    success(json!({ "out_trade_no": out_trade_no, "qr_code": qr_code }))
}

fn alipay_order(sim: &Sim, out_trade_no: &str) -> Option<Order> {
    sim.store
        .order(out_trade_no)
        .filter(|o| o.channel == Channel::Alipay)
}

fn query(sim: &Sim, out_trade_no: &str) -> Value {
    if sim.store.take_query_failure() {
        return failure(
            "20000",
            "Service Currently Unavailable",
            "isp.unknow-error",
            "系统繁忙 (injected)",
        );
    }
    let Some(order) = alipay_order(sim, out_trade_no) else {
        return business_error("ACQ.TRADE_NOT_EXIST", "交易不存在");
    };
    let paid = order.paid_fen.unwrap_or(order.amount_fen);
    let mut fields = json!({
        "trade_no": order.transaction_id,
        "out_trade_no": order.out_trade_no,
        "buyer_logon_id": "sim***@example.com",
        "trade_status": order.state.alipay(),
        "total_amount": yuan(paid),
    });
    if let Some(paid_at) = order.paid_at {
        fields["buyer_pay_amount"] = json!(yuan(paid));
        fields["receipt_amount"] = json!(yuan(paid));
        fields["send_pay_date"] = json!(local_time(paid_at));
    }
    success(fields)
}

fn close(sim: &Sim, out_trade_no: &str) -> Value {
    let mut orders = sim.store.orders.lock().unwrap();
    match orders.get_mut(out_trade_no) {
        Some(order) if order.channel == Channel::Alipay => match order.state {
            TradeState::Success => business_error("ACQ.TRADE_STATUS_ERROR", "交易状态不合法"),
            _ => {
                order.state = TradeState::Closed;
                success(json!({
                    "trade_no": order.transaction_id,
                    "out_trade_no": order.out_trade_no,
                }))
            }
        },
        _ => business_error("ACQ.TRADE_NOT_EXIST", "交易不存在"),
    }
}

#[derive(Deserialize)]
struct BillQuery {
    bill_date: String,
}

/// The statement file behind `bill_download_url`: a zip archive of GBK CSV files, served as
/// an attachment named `{account}_{yyyyMMdd}.csv.zip` with Alipay's `application/oct-stream`.
async fn download_bill(sim: SimData, q: web::Query<BillQuery>) -> HttpResponse {
    match NaiveDate::parse_from_str(&q.bill_date, "%Y-%m-%d") {
        Ok(date) => HttpResponse::Ok()
            .content_type("application/oct-stream")
            .insert_header((
                "Content-Disposition",
                format!(
                    "attachment;filename={}_{}.csv.zip",
                    statement::ALIPAY_ACCOUNT,
                    date.format("%Y%m%d")
                ),
            ))
            .body(statement::alipay_statement_zip(&sim, date)),
        Err(_) => HttpResponse::NotFound().body("no such bill"),
    }
}

/// Alipay's time format, Beijing time: `yyyy-MM-dd HH:mm:ss`.
pub fn local_time(at: chrono::DateTime<Utc>) -> String {
    at.with_timezone(&beijing())
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// The async notify form of `order` (signed with `key`: the gateway key, or a forger's).
pub fn notify_form(sim: &Sim, order: &Order, key: &PrivateKey) -> (String, String) {
    let notify_id = random_alnum(32).to_lowercase();
    let paid = yuan(order.paid_fen.unwrap_or(order.amount_fen));
    let now = Utc::now();
    let mut params: Vec<(String, String)> = vec![
        ("notify_time".into(), local_time(now)),
        ("notify_type".into(), "trade_status_sync".into()),
        ("notify_id".into(), notify_id.clone()),
        ("app_id".into(), sim.config.alipay_app_id.clone()),
        ("charset".into(), "utf-8".into()),
        ("version".into(), "1.0".into()),
        ("sign_type".into(), "RSA2".into()),
        (
            "trade_no".into(),
            order.transaction_id.clone().unwrap_or_default(),
        ),
        ("out_trade_no".into(), order.out_trade_no.clone()),
        ("trade_status".into(), order.state.alipay().into()),
        ("total_amount".into(), paid.clone()),
        ("subject".into(), order.description.clone()),
        ("gmt_create".into(), local_time(order.created_at)),
    ];
    if let Some(paid_at) = order.paid_at {
        params.push(("receipt_amount".into(), paid.clone()));
        params.push(("buyer_pay_amount".into(), paid));
        params.push(("gmt_payment".into(), local_time(paid_at)));
    } else {
        params.push(("gmt_close".into(), local_time(now)));
    }
    let sign = key.sign(signing_content(&params, &["sign", "sign_type"]).as_bytes());
    params.push(("sign".into(), sign));
    let body = serde_urlencoded::to_string(&params).expect("form of strings");
    (notify_id, body)
}
