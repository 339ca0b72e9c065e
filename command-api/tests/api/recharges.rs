//! Recharges end to end: the test plays both gateways (a small HTTP server answering WeChat
//! Pay API v3 and Alipay calls, signed with the development platform / Alipay keys) and sends
//! the callbacks itself.

use std::collections::{BTreeMap, HashMap};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use chrono::{TimeDelta, Utc};
use command_api::jobs::recharge_poller::poll_once;
use command_api::payments::alipay;
use command_api::payments::keys::PrivateKey;
use command_api::payments::wechat::{encrypt_resource, response_message};
use command_api::settings::{Secret, Settings};
use ledger_core::ids::OperatorId;
use serde_json::{Value, json};
use tests::db::TestDb;

use crate::harness::TestApp;

const API_V3_KEY: &str = "mrledgerdevapiv3key0123456789abc";
const MCH_ID: &str = "1900000109";
const ALIPAY_APP_ID: &str = "2021000000000001";
const PLATFORM_SERIAL: &str = "65107EEA39ECCD2E98B74BE56AD4E11EF79E10BF";

fn key_path(name: &str) -> String {
    format!(
        "{}/../deploy/dev/gateway-keys/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn private_key(name: &str) -> PrivateKey {
    PrivateKey::from_pem(&std::fs::read_to_string(key_path(name)).unwrap()).unwrap()
}

/// A trade as the fake gateway knows it.
#[derive(Debug, Clone)]
enum Trade {
    NotPaid,
    Paid { transaction_id: String, fen: i64 },
    Closed,
}

#[derive(Default)]
struct GatewayState {
    trades: HashMap<String, Trade>,
    /// Order queries answer 500 while set.
    fail_queries: bool,
    /// Order creation answers 500 while set.
    fail_create: bool,
}

#[derive(Clone)]
struct FakeGateway {
    base: String,
    state: Arc<Mutex<GatewayState>>,
}

impl FakeGateway {
    fn start() -> FakeGateway {
        let state = Arc::new(Mutex::new(GatewayState::default()));
        let shared = web::Data::new(state.clone());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .route("/v3/pay/transactions/native", web::post().to(wx_native))
                .route(
                    "/v3/pay/transactions/out-trade-no/{no}",
                    web::get().to(wx_query),
                )
                .route(
                    "/v3/pay/transactions/out-trade-no/{no}/close",
                    web::post().to(wx_close),
                )
                .route("/gateway.do", web::post().to(alipay_gateway))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        FakeGateway { base, state }
    }

    fn set(&self, out_trade_no: &str, trade: Trade) {
        self.state
            .lock()
            .unwrap()
            .trades
            .insert(out_trade_no.to_owned(), trade);
    }

    fn trade(&self, out_trade_no: &str) -> Option<Trade> {
        self.state.lock().unwrap().trades.get(out_trade_no).cloned()
    }
}

type Shared = web::Data<Arc<Mutex<GatewayState>>>;

/// A 2xx answer signed by the platform key as WeChat Pay signs it.
fn wx_signed(status: u16, body: String) -> HttpResponse {
    let timestamp = Utc::now().timestamp().to_string();
    let nonce = "NONCE0123456789";
    let signature = private_key("wechat_platform_key.pem").sign(&response_message(
        &timestamp,
        nonce,
        body.as_bytes(),
    ));
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .insert_header(("Wechatpay-Timestamp", timestamp))
        .insert_header(("Wechatpay-Nonce", nonce))
        .insert_header(("Wechatpay-Signature", signature))
        .insert_header(("Wechatpay-Serial", PLATFORM_SERIAL))
        .content_type("application/json")
        .body(body)
}

fn wx_transaction(out_trade_no: &str, trade: &Trade) -> Value {
    match trade {
        Trade::Paid {
            transaction_id,
            fen,
        } => json!({"mchid": MCH_ID, "out_trade_no": out_trade_no,
                    "transaction_id": transaction_id, "trade_state": "SUCCESS",
                    "success_time": "2026-11-22T13:45:00+08:00",
                    "amount": {"total": fen, "payer_total": fen, "currency": "CNY"}}),
        Trade::NotPaid => json!({"mchid": MCH_ID, "out_trade_no": out_trade_no,
                                 "trade_state": "NOTPAY", "amount": {"total": 0}}),
        Trade::Closed => json!({"mchid": MCH_ID, "out_trade_no": out_trade_no,
                                "trade_state": "CLOSED", "amount": {"total": 0}}),
    }
}

async fn wx_native(req: HttpRequest, body: web::Bytes, state: Shared) -> HttpResponse {
    assert!(
        req.headers()
            .get("Authorization")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("WECHATPAY2-SHA256-RSA2048 ")
    );
    let request: Value = serde_json::from_slice(&body).unwrap();
    let no = request["out_trade_no"].as_str().unwrap().to_owned();
    let mut state = state.lock().unwrap();
    if state.fail_create {
        return HttpResponse::InternalServerError()
            .json(json!({"code": "SYSTEM_ERROR", "message": "down"}));
    }
    state.trades.insert(no.clone(), Trade::NotPaid);
    wx_signed(
        200,
        json!({ "code_url": format!("weixin://wxpay/bizpayurl?pr={no}") }).to_string(),
    )
}

async fn wx_query(path: web::Path<String>, state: Shared) -> HttpResponse {
    let state = state.lock().unwrap();
    if state.fail_queries {
        return HttpResponse::InternalServerError()
            .json(json!({"code": "SYSTEM_ERROR", "message": "down"}));
    }
    match state.trades.get(path.as_str()) {
        Some(trade) => wx_signed(200, wx_transaction(&path, trade).to_string()),
        None => HttpResponse::NotFound().json(json!({"code": "ORDER_NOT_EXIST"})),
    }
}

async fn wx_close(path: web::Path<String>, state: Shared) -> HttpResponse {
    state
        .lock()
        .unwrap()
        .trades
        .insert(path.into_inner(), Trade::Closed);
    HttpResponse::NoContent().finish()
}

fn alipay_signed(method: &str, response: Value) -> HttpResponse {
    let key = format!("{}_response", method.replace('.', "_"));
    let text = response.to_string();
    let sign = private_key("alipay_gateway_key.pem").sign(text.as_bytes());
    HttpResponse::Ok()
        .content_type("application/json;charset=utf-8")
        .body(format!(r#"{{"{key}":{text},"sign":"{sign}"}}"#))
}

async fn alipay_gateway(body: web::Bytes, state: Shared) -> HttpResponse {
    let params: BTreeMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap();
    let app_public = command_api::payments::keys::PublicKey::from_pem(
        &std::fs::read_to_string(key_path("alipay_app_public.pem")).unwrap(),
    )
    .unwrap();
    assert!(app_public.verify(
        alipay::signing_content(&params, &["sign"]).as_bytes(),
        &params["sign"]
    ));
    let method = params["method"].as_str();
    let biz: Value = serde_json::from_str(&params["biz_content"]).unwrap();
    let no = biz["out_trade_no"].as_str().unwrap().to_owned();
    let mut state = state.lock().unwrap();
    match method {
        "alipay.trade.precreate" => {
            if state.fail_create {
                return HttpResponse::InternalServerError().finish();
            }
            state.trades.insert(no.clone(), Trade::NotPaid);
            alipay_signed(
                method,
                json!({"code": "10000", "msg": "Success", "out_trade_no": no,
                       "qr_code": format!("https://qr.alipay.com/{no}")}),
            )
        }
        "alipay.trade.query" => {
            if state.fail_queries {
                return HttpResponse::InternalServerError().finish();
            }
            let answer = match state.trades.get(&no) {
                Some(Trade::Paid {
                    transaction_id,
                    fen,
                }) => json!({"code": "10000", "msg": "Success", "out_trade_no": no,
                             "trade_no": transaction_id, "trade_status": "TRADE_SUCCESS",
                             "total_amount": format!("{}.{:02}", fen / 100, fen % 100),
                             "send_pay_date": "2026-11-22 13:45:00"}),
                Some(Trade::Closed) => json!({"code": "10000", "msg": "Success",
                    "out_trade_no": no, "trade_status": "TRADE_CLOSED", "total_amount": "0.00"}),
                _ => json!({"code": "40004", "msg": "Business Failed",
                            "sub_code": "ACQ.TRADE_NOT_EXIST", "sub_msg": "交易不存在"}),
            };
            alipay_signed(method, answer)
        }
        "alipay.trade.close" => {
            state.trades.insert(no.clone(), Trade::Closed);
            alipay_signed(
                method,
                json!({"code": "10000", "msg": "Success", "out_trade_no": no}),
            )
        }
        other => panic!("unexpected Alipay method {other}"),
    }
}

fn configure(settings: &mut Settings, base: &str) {
    settings.wechat_base_url = base.to_owned();
    settings.wechat_app_id = "wxd930ea5d5a258f4f".to_owned();
    settings.wechat_mch_id = MCH_ID.to_owned();
    settings.wechat_merchant_serial = "07ADD17060E513863DE12108AE22BD2A48ED77A1".to_owned();
    settings.wechat_merchant_key = Secret(key_path("wechat_merchant_key.pem"));
    settings.wechat_platform_cert = key_path("wechat_platform_cert.pem");
    settings.wechat_api_v3_key = Secret(API_V3_KEY.to_owned());
    settings.wechat_notify_url = "http://127.0.0.1/api/v1/payments/wechat/notify".to_owned();
    settings.alipay_gateway_url = format!("{base}/gateway.do");
    settings.alipay_app_id = ALIPAY_APP_ID.to_owned();
    settings.alipay_app_key = Secret(key_path("alipay_app_key.pem"));
    settings.alipay_public_key = key_path("alipay_gateway_public.pem");
    settings.alipay_notify_url = "http://127.0.0.1/api/v1/payments/alipay/notify".to_owned();
}

struct Env {
    app: TestApp,
    gateway: FakeGateway,
    operator: OperatorId,
    token: String,
}

async fn env() -> Env {
    let gateway = FakeGateway::start();
    let base = gateway.base.clone();
    let app = TestApp::spawn_with(TestDb::new().await, |s| configure(s, &base)).await;
    let username = format!("rc_{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let (operator, _, _, password) = app.register_operator(&username).await;
    let token = app.operator_token(&username, &password).await;
    Env {
        app,
        gateway,
        operator,
        token,
    }
}

impl Env {
    /// Opens an order; answers (out_trade_no, response data).
    async fn order(&self, channel: &str, amount: &str) -> (String, Value) {
        let r = self
            .app
            .call(
                Some(&self.token),
                "POST",
                "/api/v1/operator/recharges",
                json!({"channel": channel, "amount": amount}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.raw);
        let data = r.data().clone();
        (data["out_trade_no"].as_str().unwrap().to_owned(), data)
    }

    /// Posts a WeChat callback for `out_trade_no`, signed with `signer`'s key; answers
    /// (status, body).
    async fn wechat_callback_signed(
        &self,
        out_trade_no: &str,
        transaction_id: &str,
        fen: i64,
        trade_state: &str,
        signer: &str,
    ) -> (u16, String) {
        let transaction = json!({
            "mchid": MCH_ID, "appid": "wxd930ea5d5a258f4f", "out_trade_no": out_trade_no,
            "transaction_id": transaction_id, "trade_state": trade_state,
            "trade_state_desc": "支付失败", "success_time": "2026-11-22T13:45:00+08:00",
            "amount": {"total": fen, "payer_total": fen, "currency": "CNY"},
        });
        let nonce = "abcdefghijkl";
        let ciphertext = encrypt_resource(
            API_V3_KEY.as_bytes(),
            transaction.to_string().as_bytes(),
            nonce,
            "transaction",
        )
        .unwrap();
        let event_type = if trade_state == "SUCCESS" {
            "TRANSACTION.SUCCESS"
        } else {
            "TRANSACTION.FAIL"
        };
        let body = json!({
            "id": uuid::Uuid::new_v4().to_string(), "create_time": "2026-11-22T13:45:01+08:00",
            "event_type": event_type, "resource_type": "encrypt-resource", "summary": "支付成功",
            "resource": {"original_type": "transaction", "algorithm": "AEAD_AES_256_GCM",
                         "ciphertext": ciphertext, "associated_data": "transaction",
                         "nonce": nonce},
        })
        .to_string();
        let timestamp = Utc::now().timestamp().to_string();
        let header_nonce = uuid::Uuid::new_v4().simple().to_string();
        let signature = private_key(signer).sign(&response_message(
            &timestamp,
            &header_nonce,
            body.as_bytes(),
        ));
        let response = self
            .app
            .http
            .post(format!("{}/api/v1/payments/wechat/notify", self.app.base))
            .header("Content-Type", "application/json")
            .header("Wechatpay-Timestamp", timestamp)
            .header("Wechatpay-Nonce", header_nonce)
            .header("Wechatpay-Signature", signature)
            .header("Wechatpay-Serial", PLATFORM_SERIAL)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    async fn wechat_callback(&self, out_trade_no: &str, transaction_id: &str, fen: i64) -> u16 {
        self.wechat_callback_signed(
            out_trade_no,
            transaction_id,
            fen,
            "SUCCESS",
            "wechat_platform_key.pem",
        )
        .await
        .0
    }

    async fn alipay_notify(&self, out_trade_no: &str, trade_no: &str, amount: &str) -> String {
        self.alipay_notify_signed(out_trade_no, trade_no, amount, "alipay_gateway_key.pem")
            .await
    }

    async fn alipay_notify_signed(
        &self,
        out_trade_no: &str,
        trade_no: &str,
        amount: &str,
        signer: &str,
    ) -> String {
        let mut params: BTreeMap<String, String> = [
            ("notify_time", "2026-11-22 13:46:00"),
            ("notify_type", "trade_status_sync"),
            ("notify_id", "ac05099524730693a8b330c5ecf72da9786"),
            ("app_id", ALIPAY_APP_ID),
            ("trade_no", trade_no),
            ("out_trade_no", out_trade_no),
            ("trade_status", "TRADE_SUCCESS"),
            ("total_amount", amount),
            ("gmt_payment", "2026-11-22 13:45:00"),
            ("subject", "MR Ledger 余额充值"),
            ("sign_type", "RSA2"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let sign = private_key(signer)
            .sign(alipay::signing_content(&params, &["sign", "sign_type"]).as_bytes());
        params.insert("sign".to_owned(), sign);
        let response = self
            .app
            .http
            .post(format!("{}/api/v1/payments/alipay/notify", self.app.base))
            .header(
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(serde_urlencoded::to_string(&params).unwrap())
            .send()
            .await
            .unwrap();
        response.text().await.unwrap()
    }

    async fn balance(&self) -> String {
        self.app.balance(self.operator).await
    }

    async fn count_events(&self, event_type: &str) -> usize {
        self.app
            .events_of(self.operator)
            .await
            .iter()
            .filter(|(t, _)| t == event_type)
            .count()
    }

    /// (outcome, reason) of the callbacks recorded for `out_trade_no` (or unverified ones
    /// when `None`), in arrival order.
    async fn callbacks(&self, out_trade_no: Option<&str>) -> Vec<(String, Option<String>)> {
        let client = self.app.db.client().await;
        client
            .query(
                "SELECT outcome, reason FROM payment_callbacks \
                 WHERE out_trade_no IS NOT DISTINCT FROM $1 ORDER BY id",
                &[&out_trade_no],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    }
}

#[tokio::test]
async fn wechat_order_and_signed_callback_credit_once() {
    let env = env().await;
    let (no, data) = env.order("wechat", "100.00").await;
    assert_eq!(no.len(), 32);
    assert!(no.starts_with("MR"));
    assert_eq!(data["status"], "pending");
    assert_eq!(data["channel"], "wechat");
    assert_eq!(data["amount"], "100.00");
    assert_eq!(
        data["code_url"],
        format!("weixin://wxpay/bizpayurl?pr={no}")
    );
    assert!(data.get("qr_code").is_none());

    assert_eq!(env.wechat_callback(&no, "4200000001", 10_000).await, 200);
    assert_eq!(env.balance().await, "100.00");
    let events = env.app.events_of(env.operator).await;
    let (_, succeeded) = events
        .iter()
        .find(|(t, _)| t == "RechargeSucceeded")
        .unwrap();
    let succeeded = &succeeded["RechargeSucceeded"];
    assert_eq!(succeeded["amount"], "100.00");
    assert_eq!(succeeded["transaction_id"], "4200000001");
    assert_eq!(succeeded["balance_after"], "100.00");
    let client = env.app.db.client().await;
    let row = client
        .query_one(
            "SELECT metadata->>'actor_id', metadata->>'actor_role' FROM events \
             WHERE event_type = 'RechargeSucceeded' AND aggregate_id = $1",
            &[&env.operator.to_string()],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "gateway:wechat");
    assert_eq!(row.get::<_, String>(1), "system");

    // The same callback ten times at once: answered success every time, credited once.
    let calls = (0..10).map(|_| env.wechat_callback(&no, "4200000001", 10_000));
    let statuses = futures_util::future::join_all(calls).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(env.balance().await, "100.00");
    assert_eq!(env.count_events("RechargeSucceeded").await, 1);
    let outcomes = env.callbacks(Some(&no)).await;
    assert_eq!(outcomes.len(), 11);
    assert_eq!(outcomes[0].0, "credited");
    assert!(
        outcomes[1..].iter().all(|(o, _)| o == "duplicate"),
        "{outcomes:?}"
    );
    assert_eq!(env.app.project_and_verify(env.operator).await, "100.00");
}

#[tokio::test]
async fn bad_wechat_callbacks_credit_nothing_and_are_recorded() {
    let env = env().await;
    let (no, _) = env.order("wechat", "100.00").await;

    // Forged: signed with a key that is not the platform's.
    let (status, body) = env
        .wechat_callback_signed(
            &no,
            "4200000002",
            10_000,
            "SUCCESS",
            "wechat_merchant_key.pem",
        )
        .await;
    assert_eq!(status, 400);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["code"], "FAIL");
    let unverified = env.callbacks(None).await;
    assert_eq!(unverified.len(), 1);
    assert_eq!(unverified[0].0, "rejected");
    assert!(unverified[0].1.as_deref().unwrap().contains("Signature"));

    // Wrong amount.
    assert_eq!(env.wechat_callback(&no, "4200000002", 1_000).await, 400);
    // Unknown order.
    let unknown = "MR000000000000000000000000000000";
    assert_eq!(
        env.wechat_callback(unknown, "4200000003", 10_000).await,
        400
    );
    assert_eq!(env.balance().await, "0.00");
    assert_eq!(env.count_events("RechargeSucceeded").await, 0);
    let recorded = env.callbacks(Some(&no)).await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].0, "rejected");
    assert!(
        recorded[0]
            .1
            .as_deref()
            .unwrap()
            .contains("amount mismatch")
    );
    let recorded = env.callbacks(Some(unknown)).await;
    assert!(
        recorded[0]
            .1
            .as_deref()
            .unwrap()
            .contains("unknown out_trade_no")
    );

    // Closed by the poller (unpaid for hours), then a replayed success: not credited.
    env.gateway.set(&no, Trade::NotPaid);
    let later = Utc::now() + TimeDelta::hours(3);
    let report = poll_once(&env.app.state.ledger, &env.app.state.ledger.payments, later)
        .await
        .unwrap();
    assert_eq!(report.closed, 1, "{report:?}");
    assert!(matches!(env.gateway.trade(&no), Some(Trade::Closed)));
    assert_eq!(env.wechat_callback(&no, "4200000002", 10_000).await, 400);
    assert_eq!(env.balance().await, "0.00");
    let recorded = env.callbacks(Some(&no)).await;
    let last = recorded.last().unwrap();
    assert_eq!(last.0, "rejected");
    assert!(last.1.as_deref().unwrap().contains("closed or failed"));
}

#[tokio::test]
async fn failed_payment_fails_the_order_and_keeps_the_balance() {
    let env = env().await;
    let (no, _) = env.order("wechat", "50.00").await;
    let (status, _) = env
        .wechat_callback_signed(
            &no,
            "4200000009",
            5_000,
            "PAYERROR",
            "wechat_platform_key.pem",
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(env.count_events("RechargeFailed").await, 1);
    assert_eq!(env.balance().await, "0.00");
    // A success for the failed order afterwards credits nothing.
    assert_eq!(env.wechat_callback(&no, "4200000009", 5_000).await, 400);
    assert_eq!(env.balance().await, "0.00");
}

#[tokio::test]
async fn alipay_order_and_notify_credit_once() {
    let env = env().await;
    let (no, data) = env.order("alipay", "88.80").await;
    assert_eq!(data["qr_code"], format!("https://qr.alipay.com/{no}"));
    assert!(data.get("code_url").is_none());

    assert_eq!(
        env.alipay_notify_signed(&no, "2026112200001", "88.80", "alipay_app_key.pem")
            .await,
        "failure"
    );
    assert_eq!(
        env.alipay_notify(&no, "2026112200001", "8.88").await,
        "failure"
    );
    assert_eq!(env.balance().await, "0.00");

    assert_eq!(
        env.alipay_notify(&no, "2026112200001", "88.80").await,
        "success"
    );
    let again = (0..5).map(|_| env.alipay_notify(&no, "2026112200001", "88.80"));
    let answers = futures_util::future::join_all(again).await;
    assert!(answers.iter().all(|a| a == "success"), "{answers:?}");
    assert_eq!(env.balance().await, "88.80");
    assert_eq!(env.count_events("RechargeSucceeded").await, 1);
    let client = env.app.db.client().await;
    let actor: String = client
        .query_one(
            "SELECT metadata->>'actor_id' FROM events WHERE event_type = 'RechargeSucceeded' \
             AND aggregate_id = $1",
            &[&env.operator.to_string()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(actor, "gateway:alipay");
    // Unknown order on Alipay.
    assert_eq!(
        env.alipay_notify("MR111111111111111111111111111111", "2026112200002", "1.00")
            .await,
        "failure"
    );
}

#[tokio::test]
async fn poller_credits_a_paid_order_without_callback_once() {
    let env = env().await;
    let (no, _) = env.order("wechat", "100.00").await;
    let (ali, _) = env.order("alipay", "20.00").await;
    env.gateway.set(
        &no,
        Trade::Paid {
            transaction_id: "4200000100".to_owned(),
            fen: 10_000,
        },
    );
    env.gateway.set(
        &ali,
        Trade::Paid {
            transaction_id: "2026112200100".to_owned(),
            fen: 2_000,
        },
    );
    let ledger = &env.app.state.ledger;
    // Before the 5-minute mark nothing is asked.
    let early = poll_once(ledger, &ledger.payments, Utc::now() + TimeDelta::minutes(4))
        .await
        .unwrap();
    assert_eq!(early.queried, 0);
    assert_eq!(env.balance().await, "0.00");

    let after = Utc::now() + TimeDelta::minutes(6);
    let report = poll_once(ledger, &ledger.payments, after).await.unwrap();
    assert_eq!(report.credited, 2, "{report:?}");
    assert_eq!(env.balance().await, "120.00");
    let again = poll_once(ledger, &ledger.payments, after).await.unwrap();
    assert_eq!(again.queried, 0, "{again:?}");

    // The callback arrives late: answered success, nothing doubled.
    assert_eq!(env.wechat_callback(&no, "4200000100", 10_000).await, 200);
    assert_eq!(
        env.alipay_notify(&ali, "2026112200100", "20.00").await,
        "success"
    );
    assert_eq!(env.balance().await, "120.00");
    assert_eq!(env.count_events("RechargeSucceeded").await, 2);
    assert_eq!(env.callbacks(Some(&no)).await[0].0, "duplicate");
}

#[tokio::test]
async fn three_failed_queries_flag_the_order_for_review() {
    let env = env().await;
    let (no, _) = env.order("wechat", "100.00").await;
    env.gateway.state.lock().unwrap().fail_queries = true;
    let ledger = &env.app.state.ledger;
    let at = Utc::now() + TimeDelta::minutes(6);
    for pass in 1..=3 {
        let report = poll_once(ledger, &ledger.payments, at).await.unwrap();
        assert_eq!(report.query_failures, 1, "pass {pass}: {report:?}");
        assert_eq!(report.needs_review, usize::from(pass == 3));
    }
    assert_eq!(env.count_events("RechargeQueryFailed").await, 3);
    assert_eq!(env.count_events("RechargeNeedsReview").await, 1);
    // Flagged orders are still queried, but further failures are not recorded again.
    poll_once(ledger, &ledger.payments, at).await.unwrap();
    assert_eq!(env.count_events("RechargeQueryFailed").await, 3);
    // The gateway comes back and says paid: credited once.
    env.gateway.state.lock().unwrap().fail_queries = false;
    env.gateway.set(
        &no,
        Trade::Paid {
            transaction_id: "4200000200".to_owned(),
            fen: 10_000,
        },
    );
    let report = poll_once(ledger, &ledger.payments, at).await.unwrap();
    assert_eq!(report.credited, 1);
    assert_eq!(env.balance().await, "100.00");
}

#[tokio::test]
async fn gateway_down_at_creation_leaves_a_pending_order_and_answers_503() {
    let env = env().await;
    env.gateway.state.lock().unwrap().fail_create = true;
    let r = env
        .app
        .call(
            Some(&env.token),
            "POST",
            "/api/v1/operator/recharges",
            json!({"channel": "wechat", "amount": "10.00"}),
        )
        .await;
    assert_eq!(r.status, 503, "{}", r.raw);
    assert_eq!(r.error_code(), "PAYMENT_GATEWAY_UNAVAILABLE");
    let no = r.body["details"]["out_trade_no"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(env.count_events("RechargeOrdered").await, 1);
    // Unknown at the gateway and old: the poller closes it.
    let report = poll_once(
        &env.app.state.ledger,
        &env.app.state.ledger.payments,
        Utc::now() + TimeDelta::hours(3),
    )
    .await
    .unwrap();
    assert_eq!(report.closed, 1, "{report:?} {no}");
    assert_eq!(env.count_events("RechargeClosed").await, 1);

    // Bad requests name their fields.
    let r = env
        .app
        .call(
            Some(&env.token),
            "POST",
            "/api/v1/operator/recharges",
            json!({"channel": "paypal", "amount": "10.00"}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["details"]["fields"], json!(["channel"]));
    let r = env
        .app
        .call(
            Some(&env.token),
            "POST",
            "/api/v1/operator/recharges",
            json!({"channel": "alipay", "amount": "50000.01"}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.raw);
}

#[tokio::test]
async fn unconfigured_channel_is_unavailable() {
    let app = TestApp::spawn().await;
    let username = format!("rc_{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let (_, _, _, password) = app.register_operator(&username).await;
    let token = app.operator_token(&username, &password).await;
    let r = app
        .call(
            Some(&token),
            "POST",
            "/api/v1/operator/recharges",
            json!({"channel": "wechat", "amount": "10.00"}),
        )
        .await;
    assert_eq!(r.status, 503, "{}", r.raw);
    assert_eq!(r.error_code(), "PAYMENT_CHANNEL_UNAVAILABLE");
    assert_eq!(r.body["details"]["channel"], "wechat");
}

#[tokio::test]
async fn one_poller_holds_the_lock_cluster_wide() {
    use command_api::jobs::recharge_poller::take_lock;
    let db = TestDb::new().await;
    let first = take_lock(&db.url).await.unwrap().expect("free at first");
    assert!(first.alive().await);
    assert!(take_lock(&db.url).await.unwrap().is_none());
    drop(first);
    // The session ends with its client; the lock is free again.
    let mut again = None;
    for _ in 0..50 {
        again = take_lock(&db.url).await.unwrap();
        if again.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(again.is_some());
}

#[tokio::test]
async fn a_malformed_transaction_id_is_rejected_not_retried_forever() {
    let env = env().await;
    let (no, _) = env.order("wechat", "100.00").await;
    // Longer than any gateway's transaction id: refused for good, so answered as a rejection
    // (a 5xx would make the gateway retry it forever).
    let too_long = "9".repeat(65);
    assert_eq!(env.wechat_callback(&no, &too_long, 10_000).await, 400);
    assert_eq!(env.balance().await, "0.00");
    let recorded = env.callbacks(Some(&no)).await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].0, "rejected");
    assert!(
        recorded[0].1.as_deref().unwrap().contains("transaction_id"),
        "{recorded:?}"
    );
    // The order stays open: a well-formed result still credits it.
    assert_eq!(env.wechat_callback(&no, "4200000009", 10_000).await, 200);
    assert_eq!(env.balance().await, "100.00");
}
