//! The gateway simulator speaks the gateways' protocols: it verifies merchant signatures,
//! signs its answers and callbacks with the gateway keys, encrypts WeChat callback resources,
//! delivers callbacks as asked (now, late, duplicated, forged, never), fails queries on demand
//! and serves statements of the paid orders.
//!
//! Everything on the receiving side is checked here with ring directly on the key files, not
//! with the simulator's own code.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine as _;
use chrono::Utc;
use ring::signature::{self, RsaKeyPair};
use serde_json::{Value, json};
use tests::gateway_sim::{self, Config, Running};
use x509_cert::der::Decode;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn key_file(name: &str) -> String {
    std::fs::read_to_string(gateway_sim::dev_keys_dir().join(name)).unwrap()
}

/// PKCS#1 RSA public key bytes from a certificate or SPKI PEM file.
fn public_key(name: &str) -> Vec<u8> {
    let block = pem::parse(key_file(name)).unwrap();
    match block.tag() {
        "CERTIFICATE" => x509_cert::Certificate::from_der(block.contents())
            .unwrap()
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes()
            .to_vec(),
        "PUBLIC KEY" => x509_cert::spki::SubjectPublicKeyInfoRef::from_der(block.contents())
            .unwrap()
            .subject_public_key
            .raw_bytes()
            .to_vec(),
        other => panic!("{name}: {other}"),
    }
}

fn verifies(public: &[u8], message: &[u8], signature_b64: &str) -> bool {
    let Ok(sig) = B64.decode(signature_b64) else {
        return false;
    };
    signature::UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, public)
        .verify(message, &sig)
        .is_ok()
}

fn sign(private_pem_file: &str, message: &[u8]) -> String {
    let block = pem::parse(key_file(private_pem_file)).unwrap();
    let pair = RsaKeyPair::from_pkcs8(block.contents()).unwrap();
    let mut out = vec![0; pair.public().modulus_len()];
    pair.sign(
        &signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        message,
        &mut out,
    )
    .unwrap();
    B64.encode(out)
}

fn merchant_serial() -> String {
    let block = pem::parse(key_file("wechat_merchant_cert.pem")).unwrap();
    let cert = x509_cert::Certificate::from_der(block.contents()).unwrap();
    let bytes = cert.tbs_certificate.serial_number.as_bytes();
    let bytes = if bytes.len() > 1 && bytes[0] == 0 {
        &bytes[1..]
    } else {
        bytes
    };
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

// ---- a callback receiver --------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Received {
    headers: Vec<(String, String)>,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
}

#[derive(Default)]
struct Inbox {
    received: Mutex<Vec<Received>>,
    /// Answer with 500 / "failure" instead of success.
    refuse: Mutex<bool>,
}

struct Receiver {
    url: String,
    inbox: Arc<Inbox>,
    _handle: actix_web::dev::ServerHandle,
}

impl Receiver {
    async fn start() -> Receiver {
        let inbox = Arc::new(Inbox::default());
        let data = web::Data::from(inbox.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(receive))
        })
        .workers(1)
        .disable_signals()
        .bind("127.0.0.1:0")
        .unwrap();
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver {
            url: format!("http://{addr}"),
            inbox,
            _handle: handle,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.inbox.received.lock().unwrap().clone()
    }

    async fn wait_for(&self, count: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let got = self.received();
            if got.len() >= count || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn receive(inbox: web::Data<Inbox>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    inbox.received.lock().unwrap().push(Received {
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let refuse = *inbox.refuse.lock().unwrap();
    let alipay = req.path().contains("alipay");
    match (alipay, refuse) {
        (true, false) => HttpResponse::Ok().body("success"),
        (true, true) => HttpResponse::Ok().body("failure"),
        (false, false) => HttpResponse::Ok().finish(),
        (false, true) => {
            HttpResponse::InternalServerError().json(json!({"code": "FAIL", "message": "no"}))
        }
    }
}

// ---- merchant side ----------------------------------------------------------------------------

struct Merchant {
    sim: Running,
    http: reqwest::Client,
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

async fn reply(response: reqwest::Response) -> Reply {
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        text: response.text().await.unwrap(),
    }
}

impl Merchant {
    async fn start() -> Merchant {
        Merchant::with(Config::dev()).await
    }

    async fn with(config: Config) -> Merchant {
        Merchant {
            sim: gateway_sim::start(config).await.unwrap(),
            http: reqwest::Client::new(),
        }
    }

    fn authorization(&self, method: &str, path: &str, body: &str) -> String {
        let timestamp = Utc::now().timestamp();
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let message = format!("{method}\n{path}\n{timestamp}\n{nonce}\n{body}\n");
        let signature = sign("wechat_merchant_key.pem", message.as_bytes());
        format!(
            "WECHATPAY2-SHA256-RSA2048 mchid=\"{}\",nonce_str=\"{nonce}\",signature=\"{signature}\",timestamp=\"{timestamp}\",serial_no=\"{}\"",
            gateway_sim::DEV_WECHAT_MCH_ID,
            merchant_serial()
        )
    }

    /// A WeChat API call signed over `signed_body`, sending `body`.
    async fn wechat_raw(&self, method: &str, path: &str, signed_body: &str, body: &str) -> Reply {
        let auth = self.authorization(method, path, signed_body);
        let request = self
            .http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{path}", self.sim.wechat_base_url()),
            )
            .header("Authorization", auth)
            .header("Accept", "application/json");
        let request = if body.is_empty() {
            request
        } else {
            request
                .header("Content-Type", "application/json")
                .body(body.to_owned())
        };
        reply(request.send().await.unwrap()).await
    }

    async fn wechat(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        self.wechat_raw(method, path, &body, &body).await
    }

    async fn wechat_order(&self, out_trade_no: &str, fen: i64, notify_url: &str) -> Reply {
        self.wechat(
            "POST",
            "/v3/pay/transactions/native",
            Some(json!({
                "appid": gateway_sim::DEV_WECHAT_APP_ID,
                "mchid": gateway_sim::DEV_WECHAT_MCH_ID,
                "description": "MR Ledger recharge",
                "out_trade_no": out_trade_no,
                "notify_url": notify_url,
                "amount": {"total": fen, "currency": "CNY"},
            })),
        )
        .await
    }

    /// An Alipay gateway call; `tamper` changes biz_content after signing.
    async fn alipay_with(
        &self,
        method: &str,
        biz: Value,
        notify_url: Option<&str>,
        tamper: bool,
    ) -> Reply {
        let mut params: Vec<(String, String)> = vec![
            ("app_id".into(), gateway_sim::DEV_ALIPAY_APP_ID.into()),
            ("method".into(), method.into()),
            ("format".into(), "JSON".into()),
            ("charset".into(), "utf-8".into()),
            ("sign_type".into(), "RSA2".into()),
            (
                "timestamp".into(),
                Utc::now().format("%Y-%m-%d %H:%M:%S").to_string(),
            ),
            ("version".into(), "1.0".into()),
            ("biz_content".into(), biz.to_string()),
        ];
        if let Some(url) = notify_url {
            params.push(("notify_url".into(), url.into()));
        }
        let mut sorted = params.clone();
        sorted.sort();
        let content = sorted
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        params.push((
            "sign".into(),
            sign("alipay_app_key.pem", content.as_bytes()),
        ));
        if tamper {
            let biz = params.iter_mut().find(|(k, _)| k == "biz_content").unwrap();
            biz.1 = biz.1.replace("100.00", "0.01");
        }
        let body = serde_urlencoded::to_string(&params).unwrap();
        reply(
            self.http
                .post(self.sim.alipay_gateway_url())
                .header(
                    "Content-Type",
                    "application/x-www-form-urlencoded;charset=utf-8",
                )
                .body(body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    async fn alipay(&self, method: &str, biz: Value, notify_url: Option<&str>) -> Reply {
        self.alipay_with(method, biz, notify_url, false).await
    }

    async fn control(&self, method: &str, path: &str, body: Value) -> Value {
        let response = self
            .http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{path}", self.sim.url),
            )
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    async fn pay(&self, out_trade_no: &str, options: Value) -> Value {
        self.control("POST", &format!("/sim/orders/{out_trade_no}/pay"), options)
            .await
    }
}

/// Checks a platform-signed WeChat message (answer or callback).
fn wechat_platform_verifies(timestamp: &str, nonce: &str, body: &str, signature: &str) -> bool {
    let message = format!("{timestamp}\n{nonce}\n{body}\n");
    verifies(
        &public_key("wechat_platform_cert.pem"),
        message.as_bytes(),
        signature,
    )
}

fn reply_verifies(reply: &Reply) -> bool {
    reply.header("Wechatpay-Serial") == "65107EEA39ECCD2E98B74BE56AD4E11EF79E10BF"
        && wechat_platform_verifies(
            reply.header("Wechatpay-Timestamp"),
            reply.header("Wechatpay-Nonce"),
            &reply.text,
            reply.header("Wechatpay-Signature"),
        )
}

/// Verifies a WeChat callback with the platform certificate and decrypts its resource.
fn open_wechat_callback(callback: &Received) -> Result<Value, String> {
    if callback.header("Wechatpay-Serial") != "65107EEA39ECCD2E98B74BE56AD4E11EF79E10BF" {
        return Err("serial".into());
    }
    let ts: i64 = callback.header("Wechatpay-Timestamp").parse().unwrap();
    assert!((Utc::now().timestamp() - ts).abs() < 300);
    if !wechat_platform_verifies(
        callback.header("Wechatpay-Timestamp"),
        callback.header("Wechatpay-Nonce"),
        &callback.body,
        callback.header("Wechatpay-Signature"),
    ) {
        return Err("signature".into());
    }
    let body: Value = serde_json::from_str(&callback.body).unwrap();
    let resource = &body["resource"];
    assert_eq!(resource["algorithm"], "AEAD_AES_256_GCM");
    let key = ring::aead::LessSafeKey::new(
        ring::aead::UnboundKey::new(
            &ring::aead::AES_256_GCM,
            gateway_sim::DEV_API_V3_KEY.as_bytes(),
        )
        .unwrap(),
    );
    let mut data = B64
        .decode(resource["ciphertext"].as_str().unwrap())
        .unwrap();
    let plain = key
        .open_in_place(
            ring::aead::Nonce::try_assume_unique_for_key(
                resource["nonce"].as_str().unwrap().as_bytes(),
            )
            .unwrap(),
            ring::aead::Aad::from(resource["associated_data"].as_str().unwrap().as_bytes()),
            &mut data,
        )
        .map_err(|_| "decrypt".to_owned())?;
    Ok(serde_json::from_slice(plain).unwrap())
}

/// Verifies an Alipay notify form with the Alipay public key; returns its parameters.
fn open_alipay_notify(notify: &Received) -> Result<Vec<(String, String)>, String> {
    let params: Vec<(String, String)> = serde_urlencoded::from_str(&notify.body).unwrap();
    let mut signed: Vec<&(String, String)> = params
        .iter()
        .filter(|(k, v)| k != "sign" && k != "sign_type" && !v.is_empty())
        .collect();
    signed.sort();
    let content = signed
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let sign = &params.iter().find(|(k, _)| k == "sign").unwrap().1;
    if !verifies(
        &public_key("alipay_gateway_public.pem"),
        content.as_bytes(),
        sign,
    ) {
        return Err("signature".into());
    }
    Ok(params)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> &'a str {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// The `*_response` value of an Alipay answer after checking its sign over the exact text.
fn alipay_response(reply: &Reply, method: &str) -> Value {
    let key = format!("\"{}_response\":", method.replace('.', "_"));
    let start = reply.text.find(&key).unwrap() + key.len();
    let end = reply.text.rfind(",\"sign\":").unwrap();
    let text = &reply.text[start..end];
    let sign = reply.json()["sign"].as_str().unwrap().to_owned();
    assert!(
        verifies(
            &public_key("alipay_gateway_public.pem"),
            text.as_bytes(),
            &sign
        ),
        "Alipay answer sign: {}",
        reply.text
    );
    serde_json::from_str(text).unwrap()
}

// ---- WeChat --------------------------------------------------------------------------------------

#[tokio::test]
async fn wechat_verifies_merchant_requests_and_signs_answers() {
    let m = Merchant::start().await;
    let created = m
        .wechat_order("MR20261122000001", 10000, "http://127.0.0.1:9/notify")
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    assert!(
        created.json()["code_url"]
            .as_str()
            .unwrap()
            .starts_with("weixin://wxpay/bizpayurl?pr=")
    );
    assert!(reply_verifies(&created));

    // Body changed after signing: refused.
    let body = json!({
        "appid": gateway_sim::DEV_WECHAT_APP_ID, "mchid": gateway_sim::DEV_WECHAT_MCH_ID,
        "description": "x", "out_trade_no": "MR20261122000002",
        "notify_url": "http://127.0.0.1:9/notify", "amount": {"total": 10000},
    })
    .to_string();
    let tampered = body.replace("10000", "1");
    let refused = m
        .wechat_raw("POST", "/v3/pay/transactions/native", &body, &tampered)
        .await;
    assert_eq!(refused.status, 401, "{}", refused.text);
    assert_eq!(refused.json()["code"], "SIGN_ERROR");
    assert!(reply_verifies(&refused));

    // No Authorization at all.
    let anonymous = m
        .http
        .get(format!(
            "{}/v3/pay/transactions/out-trade-no/MR20261122000001?mchid={}",
            m.sim.url,
            gateway_sim::DEV_WECHAT_MCH_ID
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    // Query (the query string is signed too) and close.
    let path = format!(
        "/v3/pay/transactions/out-trade-no/MR20261122000001?mchid={}",
        gateway_sim::DEV_WECHAT_MCH_ID
    );
    let queried = m.wechat("GET", &path, None).await;
    assert_eq!(queried.status, 200, "{}", queried.text);
    assert!(reply_verifies(&queried));
    assert_eq!(queried.json()["trade_state"], "NOTPAY");
    assert_eq!(queried.json()["amount"]["total"], 10000);
    let unknown = m
        .wechat(
            "GET",
            &path.replace("MR20261122000001", "MR-nothing-here"),
            None,
        )
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["code"], "ORDER_NOT_EXIST");
    let closed = m
        .wechat(
            "POST",
            "/v3/pay/transactions/out-trade-no/MR20261122000001/close",
            Some(json!({"mchid": gateway_sim::DEV_WECHAT_MCH_ID})),
        )
        .await;
    assert_eq!(closed.status, 204, "{}", closed.text);
    assert!(reply_verifies(&closed));
    assert_eq!(
        m.wechat("GET", &path, None).await.json()["trade_state"],
        "CLOSED"
    );
}

#[tokio::test]
async fn wechat_callbacks_verify_decrypt_and_follow_the_options() {
    let m = Merchant::start().await;
    let rx = Receiver::start().await;
    let notify = format!("{}/api/v1/payments/wechat/notify", rx.url);
    for no in [
        "MRW0000000001",
        "MRW0000000002",
        "MRW0000000003",
        "MRW0000000004",
    ] {
        assert_eq!(m.wechat_order(no, 10000, &notify).await.status, 200);
    }

    // now: one genuine callback, answered before the control call returns.
    let paid = m.pay("MRW0000000001", json!({})).await;
    assert_eq!(paid["deliveries"][0]["accepted"], true, "{paid}");
    let got = rx.received();
    assert_eq!(got.len(), 1);
    let body: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(body["event_type"], "TRANSACTION.SUCCESS");
    assert_eq!(body["resource_type"], "encrypt-resource");
    let transaction = open_wechat_callback(&got[0]).unwrap();
    assert_eq!(transaction["out_trade_no"], "MRW0000000001");
    assert_eq!(transaction["trade_state"], "SUCCESS");
    assert_eq!(transaction["amount"]["total"], 10000);
    assert_eq!(transaction["mchid"], gateway_sim::DEV_WECHAT_MCH_ID);
    let transaction_id = transaction["transaction_id"].as_str().unwrap().to_owned();
    assert_eq!(transaction_id.len(), 28);
    // The query agrees.
    let path = format!(
        "/v3/pay/transactions/out-trade-no/MRW0000000001?mchid={}",
        gateway_sim::DEV_WECHAT_MCH_ID
    );
    let queried = m.wechat("GET", &path, None).await.json();
    assert_eq!(queried["trade_state"], "SUCCESS");
    assert_eq!(queried["transaction_id"], transaction_id.as_str());
    assert!(queried["success_time"].is_string());

    // duplicate(10): ten callbacks of the same transaction.
    let paid = m
        .pay("MRW0000000002", json!({"callback": "duplicate(10)"}))
        .await;
    assert_eq!(paid["deliveries"].as_array().unwrap().len(), 10);
    let got = rx.received();
    assert_eq!(got.len(), 11);
    let ids: std::collections::HashSet<String> = got[1..]
        .iter()
        .map(|r| open_wechat_callback(r).unwrap()["transaction_id"].to_string())
        .collect();
    assert_eq!(ids.len(), 1);

    // forged: well-formed, but the signature does not verify; the trade stays unpaid.
    m.pay("MRW0000000003", json!({"callback": "forged"})).await;
    let got = rx.received();
    assert_eq!(got.len(), 12);
    assert_eq!(open_wechat_callback(&got[11]), Err("signature".into()));
    let path3 = path.replace("MRW0000000001", "MRW0000000003");
    assert_eq!(
        m.wechat("GET", &path3, None).await.json()["trade_state"],
        "NOTPAY"
    );

    // never: nothing arrives, the gateway knows it is paid.
    m.pay(
        "MRW0000000004",
        json!({"callback": "never", "amount": "99.00"}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rx.received().len(), 12);
    let path4 = path.replace("MRW0000000001", "MRW0000000004");
    let queried = m.wechat("GET", &path4, None).await.json();
    assert_eq!(queried["trade_state"], "SUCCESS");
    assert_eq!(queried["amount"]["payer_total"], 9900);
}

#[tokio::test]
async fn late_callbacks_failures_and_retries() {
    let mut config = Config::dev();
    config.callback_retries = 2;
    config.callback_retry_interval = Duration::from_millis(50);
    let m = Merchant::with(config).await;
    let rx = Receiver::start().await;
    let notify = format!("{}/wechat/notify", rx.url);
    assert_eq!(m.wechat_order("MRL000001", 500, &notify).await.status, 200);
    assert_eq!(m.wechat_order("MRL000002", 500, &notify).await.status, 200);

    m.pay("MRL000001", json!({"callback": "late(300)"})).await;
    assert!(rx.received().is_empty());
    let got = rx.wait_for(1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(
        open_wechat_callback(&got[0]).unwrap()["trade_state"],
        "SUCCESS"
    );

    // A receiver that keeps refusing gets the first attempt and two retries.
    *rx.inbox.refuse.lock().unwrap() = true;
    let paid = m.pay("MRL000002", json!({"fail": true})).await;
    assert_eq!(paid["deliveries"][0]["accepted"], false);
    let got = rx.wait_for(4).await;
    assert_eq!(got.len(), 4);
    let failed = open_wechat_callback(&got[1]).unwrap();
    assert_eq!(failed["trade_state"], "PAYERROR");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        rx.received().len(),
        4,
        "no more than the configured retries"
    );
    let order = m.control("GET", "/sim/orders/MRL000002", json!(null)).await;
    assert_eq!(order["deliveries"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn queries_fail_on_demand() {
    let m = Merchant::start().await;
    assert_eq!(
        m.wechat_order("MRQ000001", 100, "http://127.0.0.1:9/n")
            .await
            .status,
        200
    );
    m.control("POST", "/sim/faults", json!({"query_failures": 2}))
        .await;
    let path = format!(
        "/v3/pay/transactions/out-trade-no/MRQ000001?mchid={}",
        gateway_sim::DEV_WECHAT_MCH_ID
    );
    assert_eq!(m.wechat("GET", &path, None).await.status, 500);
    let alipay = m
        .alipay(
            "alipay.trade.query",
            json!({"out_trade_no": "MRQ000001"}),
            None,
        )
        .await;
    assert_eq!(
        alipay_response(&alipay, "alipay.trade.query")["code"],
        "20000"
    );
    assert_eq!(m.wechat("GET", &path, None).await.status, 200);
}

// ---- Alipay --------------------------------------------------------------------------------------

#[tokio::test]
async fn alipay_verifies_requests_signs_answers_and_notifies() {
    let m = Merchant::start().await;
    let rx = Receiver::start().await;
    let notify = format!("{}/api/v1/payments/alipay/notify", rx.url);
    let biz = |no: &str| json!({"out_trade_no": no, "total_amount": "100.00", "subject": "MR Ledger recharge"});

    let created = m
        .alipay("alipay.trade.precreate", biz("MRA000001"), Some(&notify))
        .await;
    let response = alipay_response(&created, "alipay.trade.precreate");
    assert_eq!(response["code"], "10000", "{response}");
    assert!(
        response["qr_code"]
            .as_str()
            .unwrap()
            .starts_with("https://qr.alipay.com/")
    );

    let tampered = m
        .alipay_with(
            "alipay.trade.precreate",
            biz("MRA000002"),
            Some(&notify),
            true,
        )
        .await;
    let response = alipay_response(&tampered, "alipay.trade.precreate");
    assert_eq!(response["code"], "40002");
    assert_eq!(response["sub_code"], "isv.invalid-signature");

    for no in ["MRA000003", "MRA000004", "MRA000005"] {
        let created = m
            .alipay("alipay.trade.precreate", biz(no), Some(&notify))
            .await;
        assert_eq!(
            alipay_response(&created, "alipay.trade.precreate")["code"],
            "10000"
        );
    }

    let query = |no: &'static str| {
        let m = &m;
        async move {
            let r = m
                .alipay("alipay.trade.query", json!({"out_trade_no": no}), None)
                .await;
            alipay_response(&r, "alipay.trade.query")
        }
    };
    assert_eq!(query("MRA000001").await["trade_status"], "WAIT_BUYER_PAY");

    // Paid: one notify that verifies with the Alipay public key.
    m.pay("MRA000001", json!({})).await;
    let got = rx.received();
    assert_eq!(got.len(), 1);
    let params = open_alipay_notify(&got[0]).unwrap();
    assert_eq!(param(&params, "trade_status"), "TRADE_SUCCESS");
    assert_eq!(param(&params, "out_trade_no"), "MRA000001");
    assert_eq!(param(&params, "total_amount"), "100.00");
    assert_eq!(param(&params, "app_id"), gateway_sim::DEV_ALIPAY_APP_ID);
    assert_eq!(param(&params, "notify_type"), "trade_status_sync");
    let queried = query("MRA000001").await;
    assert_eq!(queried["trade_status"], "TRADE_SUCCESS");
    assert_eq!(queried["trade_no"], param(&params, "trade_no"));

    // Forged: does not verify.
    m.pay("MRA000003", json!({"callback": "forged"})).await;
    assert_eq!(
        open_alipay_notify(&rx.received()[1]),
        Err("signature".into())
    );
    assert_eq!(query("MRA000003").await["trade_status"], "WAIT_BUYER_PAY");

    // Failed payment: TRADE_CLOSED.
    m.pay("MRA000004", json!({"fail": true})).await;
    let params = open_alipay_notify(&rx.received()[2]).unwrap();
    assert_eq!(param(&params, "trade_status"), "TRADE_CLOSED");

    // Close an unpaid one; a paid one cannot be closed.
    let closed = m
        .alipay(
            "alipay.trade.close",
            json!({"out_trade_no": "MRA000005"}),
            None,
        )
        .await;
    assert_eq!(
        alipay_response(&closed, "alipay.trade.close")["code"],
        "10000"
    );
    assert_eq!(query("MRA000005").await["trade_status"], "TRADE_CLOSED");
    let refused = m
        .alipay(
            "alipay.trade.close",
            json!({"out_trade_no": "MRA000001"}),
            None,
        )
        .await;
    assert_eq!(
        alipay_response(&refused, "alipay.trade.close")["sub_code"],
        "ACQ.TRADE_STATUS_ERROR"
    );
}

// ---- statements ---------------------------------------------------------------------------------

#[tokio::test]
async fn statements_carry_the_paid_orders() {
    let m = Merchant::start().await;
    let rx = Receiver::start().await;
    let notify = format!("{}/n", rx.url);
    for (no, fen) in [
        ("MRS000001", 10000),
        ("MRS000002", 2550),
        ("MRS000003", 700),
    ] {
        assert_eq!(m.wechat_order(no, fen, &notify).await.status, 200);
    }
    m.pay("MRS000001", json!({})).await;
    m.pay("MRS000002", json!({"callback": "never"})).await;
    let alipay = m
        .alipay(
            "alipay.trade.precreate",
            json!({"out_trade_no": "MRS000009", "total_amount": "12.34", "subject": "r"}),
            Some(&format!("{}/alipay", rx.url)),
        )
        .await;
    assert_eq!(
        alipay_response(&alipay, "alipay.trade.precreate")["code"],
        "10000"
    );
    m.pay("MRS000009", json!({})).await;

    let today = Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .date_naive();
    let bill = m
        .wechat(
            "GET",
            &format!("/v3/bill/tradebill?bill_date={today}"),
            None,
        )
        .await;
    assert_eq!(bill.status, 200, "{}", bill.text);
    assert!(reply_verifies(&bill));
    let url = bill.json()["download_url"].as_str().unwrap().to_owned();
    let csv = m.http.get(url).send().await.unwrap().text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("交易时间,公众账号ID,商户号"));
    let rows: Vec<&str> = lines[1..lines.len() - 2].to_vec();
    assert_eq!(rows.len(), 2, "{csv}");
    assert!(
        rows.iter()
            .any(|r| r.contains("`MRS000001,") && r.contains(",`100.00,"))
    );
    assert!(
        rows.iter()
            .any(|r| r.contains("`MRS000002,") && r.contains(",`25.50,"))
    );
    assert!(!csv.contains("MRS000003"));
    assert!(lines[lines.len() - 2].starts_with("总交易单数"));
    assert!(lines[lines.len() - 1].starts_with("`2,`125.50,"));
    let hash: String =
        ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, csv.as_bytes())
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
    assert_eq!(bill.json()["hash_value"], hash.as_str());

    let download = m
        .alipay(
            "alipay.data.dataservice.bill.downloadurl.query",
            json!({"bill_type": "trade", "bill_date": today.to_string()}),
            None,
        )
        .await;
    let response = alipay_response(&download, "alipay.data.dataservice.bill.downloadurl.query");
    let url = response["bill_download_url"].as_str().unwrap().to_owned();
    let (detail, summary) = alipay_statement_files(&m, &url, today).await;
    assert!(
        detail.starts_with("#支付宝业务明细查询\n#账号：["),
        "{detail}"
    );
    assert!(detail.contains("#-----------------------------------------业务明细列表结束"));
    let rows: Vec<&str> = detail.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(rows.len(), 2, "header and one trade: {detail}");
    assert!(rows[0].starts_with(
        "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,\
         终端号,对方账户,订单金额（元）,商家实收（元）,"
    ));
    assert!(rows[1].contains(",MRS000009,交易,") && rows[1].contains(",12.34,12.34,"));
    assert!(summary.starts_with("#支付宝业务汇总查询\n"), "{summary}");
    assert!(summary.contains("\n合计,,1,0,12.34,12.34,"), "{summary}");

    // A statement set by hand replaces the computed one, inside the archive too.
    m.control(
        "PUT",
        &format!("/sim/statements/alipay/{today}"),
        json!([{"out_trade_no": "MRX2", "transaction_id": "2026112222000000000000000002",
                "amount": "2.00", "paid_at": Utc::now()}]),
    )
    .await;
    let (detail, _) = alipay_statement_files(&m, &url, today).await;
    assert!(
        detail.contains(",MRX2,交易,") && !detail.contains("MRS000009"),
        "{detail}"
    );

    // A statement set by hand replaces the computed one.
    m.control(
        "PUT",
        &format!("/sim/statements/wechat/{today}"),
        json!([{"out_trade_no": "MRX1", "transaction_id": "4200000000000000000000000001",
                "amount": "1.00", "paid_at": Utc::now()}]),
    )
    .await;
    let bill = m
        .wechat(
            "GET",
            &format!("/v3/bill/tradebill?bill_date={today}"),
            None,
        )
        .await;
    let url = bill.json()["download_url"].as_str().unwrap().to_owned();
    let csv = m.http.get(url).send().await.unwrap().text().await.unwrap();
    assert!(csv.contains("`MRX1,") && !csv.contains("MRS000001"));
}

/// The Alipay statement behind `url`, checked to be served the way Alipay serves it: a zip
/// (`application/oct-stream`) of two GBK CSV files whose entry names are GBK bytes without the
/// UTF-8 flag, `{account}_{yyyyMMdd}_业务明细.csv` and `..._业务明细(汇总).csv`. Answers the
/// decoded detail and summary texts.
async fn alipay_statement_files(
    m: &Merchant,
    url: &str,
    day: chrono::NaiveDate,
) -> (String, String) {
    use std::io::Read;
    let response = m.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/oct-stream"
    );
    let bytes = response.bytes().await.unwrap();
    assert!(bytes.starts_with(b"PK\x03\x04"));
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&bytes[..])).unwrap();
    assert_eq!(archive.len(), 2);
    let gbk = |raw: &[u8]| {
        let (text, had_errors) = encoding_rs::GBK.decode_without_bom_handling(raw);
        assert!(!had_errors, "{raw:?} is not GBK");
        text.into_owned()
    };
    let mut files = Vec::new();
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).unwrap();
        let raw_name = entry.name_raw().to_vec();
        assert!(std::str::from_utf8(&raw_name).is_err(), "GBK, not UTF-8");
        // General purpose flag bit 11 (UTF-8 names) is clear in the local header.
        let start = usize::try_from(entry.header_start()).unwrap();
        let flags = u16::from_le_bytes([bytes[start + 6], bytes[start + 7]]);
        assert_eq!(flags & 0x0800, 0, "UTF-8 flag set");
        let mut contents = Vec::new();
        entry.read_to_end(&mut contents).unwrap();
        assert!(std::str::from_utf8(&contents).is_err(), "GBK, not UTF-8");
        files.push((gbk(&raw_name), gbk(&contents)));
    }
    let day = day.format("%Y%m%d");
    let named = |suffix: String| {
        files
            .iter()
            .find(|(name, _)| name.ends_with(&suffix))
            .unwrap_or_else(|| panic!("no entry ending {suffix}: {files:?}"))
            .1
            .clone()
    };
    (
        named(format!("_{day}_业务明细.csv")),
        named(format!("_{day}_业务明细(汇总).csv")),
    )
}
