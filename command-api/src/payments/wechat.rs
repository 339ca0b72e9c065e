//! WeChat Pay API v3 (Native payments): requests signed with the merchant's RSA key
//! (`Authorization: WECHATPAY2-SHA256-RSA2048 ...`), responses and callbacks verified against
//! the platform certificate named by `Wechatpay-Serial` within a 5-minute timestamp window,
//! callback resources decrypted with the API v3 key (AEAD_AES_256_GCM).

use std::collections::HashMap;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use ledger_core::money::Money;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use serde::Deserialize;
use serde_json::{Value, json};

use super::keys::{B64, PrivateKey, PublicKey, nonce, pem_text};
use super::{GatewayError, Notification, Paid, TradeState};
use crate::settings::Settings;

pub const AUTH_SCHEME: &str = "WECHATPAY2-SHA256-RSA2048";
/// Signed messages more than this far from our clock are refused (replays, stale retries).
pub const TIMESTAMP_WINDOW_SECONDS: i64 = 300;
/// The API v3 key is 32 bytes: the AES-256-GCM key of callback resources.
pub const API_V3_KEY_LEN: usize = 32;

/// The message a request signature covers.
pub fn request_message(
    method: &str,
    path: &str,
    timestamp: i64,
    nonce: &str,
    body: &str,
) -> String {
    format!("{method}\n{path}\n{timestamp}\n{nonce}\n{body}\n")
}

/// The message a response or callback signature covers.
pub fn response_message(timestamp: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut message = format!("{timestamp}\n{nonce}\n").into_bytes();
    message.extend_from_slice(body);
    message.push(b'\n');
    message
}

/// The `Wechatpay-*` headers of a response or callback.
#[derive(Debug, Clone, Default)]
pub struct SignedHeaders {
    pub timestamp: String,
    pub nonce: String,
    pub signature: String,
    pub serial: String,
}

impl SignedHeaders {
    /// From a header look-up (names are case-insensitive in both actix and reqwest).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> SignedHeaders {
        SignedHeaders {
            timestamp: get("Wechatpay-Timestamp").unwrap_or_default(),
            nonce: get("Wechatpay-Nonce").unwrap_or_default(),
            signature: get("Wechatpay-Signature").unwrap_or_default(),
            serial: get("Wechatpay-Serial").unwrap_or_default(),
        }
    }
}

/// `resource` of a callback.
#[derive(Debug, Clone, Deserialize)]
pub struct Resource {
    pub algorithm: String,
    pub ciphertext: String,
    #[serde(default)]
    pub associated_data: String,
    pub nonce: String,
}

#[derive(Debug, Deserialize)]
struct Callback {
    #[serde(default)]
    event_type: String,
    resource: Resource,
}

pub struct WechatPay {
    base_url: String,
    app_id: String,
    mch_id: String,
    merchant_serial: String,
    merchant_key: PrivateKey,
    /// Platform keys by certificate serial (several during a certificate rotation).
    platform: HashMap<String, PublicKey>,
    api_v3_key: LessSafeKey,
    notify_url: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for WechatPay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WechatPay")
            .field("base_url", &self.base_url)
            .field("mch_id", &self.mch_id)
            .finish_non_exhaustive()
    }
}

/// The AES-256-GCM key of an API v3 key.
pub fn api_v3_key(key: &[u8]) -> Result<LessSafeKey, String> {
    if key.len() != API_V3_KEY_LEN {
        return Err(format!("the API v3 key must be {API_V3_KEY_LEN} bytes"));
    }
    Ok(LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, key).map_err(|_| "API v3 key rejected".to_owned())?,
    ))
}

/// Encrypts a resource the way the platform does (for tests and the simulator).
pub fn encrypt_resource(
    key: &[u8],
    plaintext: &[u8],
    nonce: &str,
    associated_data: &str,
) -> Result<String, String> {
    let key = api_v3_key(key)?;
    let nonce = Nonce::try_assume_unique_for_key(nonce.as_bytes())
        .map_err(|_| "the nonce must be 12 bytes".to_owned())?;
    let mut data = plaintext.to_vec();
    key.seal_in_place_append_tag(nonce, Aad::from(associated_data.as_bytes()), &mut data)
        .map_err(|_| "encryption failed".to_owned())?;
    Ok(B64.encode(data))
}

/// Decrypts a callback resource with the API v3 key.
pub fn decrypt_resource(key: &LessSafeKey, resource: &Resource) -> Result<Vec<u8>, String> {
    if resource.algorithm != "AEAD_AES_256_GCM" {
        return Err(format!("unsupported algorithm {:?}", resource.algorithm));
    }
    let nonce = Nonce::try_assume_unique_for_key(resource.nonce.as_bytes())
        .map_err(|_| "resource nonce is not 12 bytes".to_owned())?;
    let mut data = B64
        .decode(resource.ciphertext.as_bytes())
        .map_err(|_| "resource ciphertext is not base64".to_owned())?;
    let plain = key
        .open_in_place(
            nonce,
            Aad::from(resource.associated_data.as_bytes()),
            &mut data,
        )
        .map_err(|_| "resource does not decrypt with the API v3 key".to_owned())?;
    Ok(plain.to_vec())
}

/// A transaction (query answer or decrypted callback resource) as a [`TradeState`].
pub fn trade_state(transaction: &Value) -> Result<TradeState, String> {
    let text = |name: &str| transaction[name].as_str().unwrap_or_default().to_owned();
    Ok(match text("trade_state").as_str() {
        // REFUND: it was paid (a refund at the gateway is finance's business, not a recharge).
        "SUCCESS" | "REFUND" => {
            let fen = transaction["amount"]["total"]
                .as_i64()
                .ok_or("amount.total missing")?;
            let amount = Money::from_fen(fen).map_err(|e| format!("amount.total: {e}"))?;
            let transaction_id = text("transaction_id");
            if transaction_id.is_empty() {
                return Err("transaction_id missing".to_owned());
            }
            let paid_at = DateTime::parse_from_rfc3339(&text("success_time"))
                .map_err(|_| "success_time is not RFC 3339".to_owned())?
                .with_timezone(&Utc);
            TradeState::Paid(Paid {
                transaction_id,
                amount,
                paid_at,
            })
        }
        "NOTPAY" | "USERPAYING" => TradeState::NotPaid,
        "CLOSED" | "REVOKED" => TradeState::Closed,
        "PAYERROR" => {
            let desc = text("trade_state_desc");
            TradeState::Failed(if desc.is_empty() {
                "PAYERROR".to_owned()
            } else {
                format!("PAYERROR: {desc}")
            })
        }
        other => return Err(format!("unknown trade_state {other:?}")),
    })
}

impl WechatPay {
    pub fn from_settings(s: &Settings, http: reqwest::Client) -> Result<WechatPay, String> {
        let required = [
            ("MR_WECHAT_APP_ID", &s.wechat_app_id),
            ("MR_WECHAT_MERCHANT_SERIAL", &s.wechat_merchant_serial),
            ("MR_WECHAT_MERCHANT_KEY", &s.wechat_merchant_key.0),
            ("MR_WECHAT_PLATFORM_CERT", &s.wechat_platform_cert),
            ("MR_WECHAT_API_V3_KEY", &s.wechat_api_v3_key.0),
            ("MR_WECHAT_NOTIFY_URL", &s.wechat_notify_url),
        ];
        for (name, value) in required {
            if value.is_empty() {
                return Err(format!("{name} is required when MR_WECHAT_MCH_ID is set"));
            }
        }
        let merchant_key = PrivateKey::from_pem(&pem_text(
            s.wechat_merchant_key.expose(),
            "MR_WECHAT_MERCHANT_KEY",
        )?)
        .map_err(|e| format!("MR_WECHAT_MERCHANT_KEY: {e}"))?;
        let mut platform = HashMap::new();
        for key in PublicKey::all_from_pem(&pem_text(
            &s.wechat_platform_cert,
            "MR_WECHAT_PLATFORM_CERT",
        )?)
        .map_err(|e| format!("MR_WECHAT_PLATFORM_CERT: {e}"))?
        {
            let serial = key
                .serial
                .clone()
                .ok_or("MR_WECHAT_PLATFORM_CERT must hold certificates")?;
            platform.insert(serial, key);
        }
        Ok(WechatPay {
            base_url: s.wechat_base_url.trim_end_matches('/').to_owned(),
            app_id: s.wechat_app_id.clone(),
            mch_id: s.wechat_mch_id.clone(),
            merchant_serial: s.wechat_merchant_serial.to_ascii_uppercase(),
            merchant_key,
            platform,
            api_v3_key: api_v3_key(s.wechat_api_v3_key.expose().as_bytes())
                .map_err(|e| format!("MR_WECHAT_API_V3_KEY: {e}"))?,
            notify_url: s.wechat_notify_url.clone(),
            http,
        })
    }

    /// The `Authorization` header of a request.
    pub fn authorization(
        &self,
        method: &str,
        path: &str,
        body: &str,
        timestamp: i64,
        nonce: &str,
    ) -> String {
        let signature = self
            .merchant_key
            .sign(request_message(method, path, timestamp, nonce, body).as_bytes());
        format!(
            "{AUTH_SCHEME} mchid=\"{}\",nonce_str=\"{nonce}\",signature=\"{signature}\",\
             timestamp=\"{timestamp}\",serial_no=\"{}\"",
            self.mch_id, self.merchant_serial
        )
    }

    /// Checks a platform signature: known certificate serial, timestamp within the window of
    /// `now`, signature over `timestamp\nnonce\nbody\n`.
    pub fn verify(
        &self,
        headers: &SignedHeaders,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), String> {
        let key = self
            .platform
            .get(&headers.serial.to_ascii_uppercase())
            .ok_or_else(|| format!("unknown platform certificate serial {:?}", headers.serial))?;
        let timestamp: i64 = headers
            .timestamp
            .parse()
            .map_err(|_| "Wechatpay-Timestamp missing or not a number".to_owned())?;
        if (now.timestamp() - timestamp).abs() > TIMESTAMP_WINDOW_SECONDS {
            return Err("Wechatpay-Timestamp outside the 5-minute window".to_owned());
        }
        let message = response_message(&headers.timestamp, &headers.nonce, body);
        if !key.verify(&message, &headers.signature) {
            return Err("Wechatpay-Signature does not verify".to_owned());
        }
        Ok(())
    }

    /// A callback, verified and decrypted; the error is the reason it was refused.
    pub fn parse_callback(
        &self,
        headers: &SignedHeaders,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Notification, String> {
        self.verify(headers, body, now)?;
        let callback: Callback =
            serde_json::from_slice(body).map_err(|e| format!("callback body: {e}"))?;
        let plain = decrypt_resource(&self.api_v3_key, &callback.resource)?;
        let transaction: Value =
            serde_json::from_slice(&plain).map_err(|e| format!("callback resource: {e}"))?;
        if transaction["mchid"]
            .as_str()
            .is_some_and(|m| m != self.mch_id)
        {
            return Err("callback for another merchant".to_owned());
        }
        let out_trade_no = transaction["out_trade_no"]
            .as_str()
            .ok_or("out_trade_no missing")?
            .to_owned();
        let state = trade_state(&transaction)?;
        if callback.event_type == "TRANSACTION.SUCCESS" && !matches!(state, TradeState::Paid(_)) {
            return Err("TRANSACTION.SUCCESS without a paid transaction".to_owned());
        }
        Ok(Notification {
            out_trade_no,
            state,
        })
    }

    /// Sends a signed request; answers the status and the verified body.
    async fn send(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<Value>,
    ) -> Result<(u16, Vec<u8>), GatewayError> {
        let url = format!("{}{path_and_query}", self.base_url);
        let parsed =
            reqwest::Url::parse(&url).map_err(|e| GatewayError::Transport(e.to_string()))?;
        let signed_path = match parsed.query() {
            Some(q) => format!("{}?{q}", parsed.path()),
            None => parsed.path().to_owned(),
        };
        let body_text = body.map(|b| b.to_string()).unwrap_or_default();
        let authorization = self.authorization(
            method.as_str(),
            &signed_path,
            &body_text,
            Utc::now().timestamp(),
            &nonce(32),
        );
        let mut request = self
            .http
            .request(method, parsed)
            .header("Authorization", authorization)
            .header("Accept", "application/json");
        if !body_text.is_empty() {
            request = request
                .header("Content-Type", "application/json")
                .body(body_text);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let headers = SignedHeaders::from_lookup(|name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        });
        let bytes = response.bytes().await?.to_vec();
        if (200..300).contains(&status) && !bytes.is_empty() {
            self.verify(&headers, &bytes, Utc::now())
                .map_err(GatewayError::Signature)?;
        }
        Ok((status, bytes))
    }

    fn refused(status: u16, body: &[u8]) -> GatewayError {
        let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        GatewayError::Refused(format!(
            "HTTP {status} {} {}",
            value["code"].as_str().unwrap_or(""),
            value["message"].as_str().unwrap_or("")
        ))
    }

    /// `POST /v3/pay/transactions/native`: the `code_url` the payer scans.
    pub async fn native(
        &self,
        out_trade_no: &str,
        amount: Money,
        description: &str,
    ) -> Result<String, GatewayError> {
        let body = json!({
            "appid": self.app_id,
            "mchid": self.mch_id,
            "description": description,
            "out_trade_no": out_trade_no,
            "notify_url": self.notify_url,
            "amount": { "total": amount.fen(), "currency": "CNY" },
        });
        let (status, bytes) = self
            .send(
                reqwest::Method::POST,
                "/v3/pay/transactions/native",
                Some(body),
            )
            .await?;
        if status != 200 {
            return Err(Self::refused(status, &bytes));
        }
        let value: Value =
            serde_json::from_slice(&bytes).map_err(|e| GatewayError::Malformed(e.to_string()))?;
        value["code_url"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| GatewayError::Malformed("code_url missing".to_owned()))
    }

    /// `GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=..`.
    pub async fn query(&self, out_trade_no: &str) -> Result<TradeState, GatewayError> {
        let path = format!(
            "/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid={}",
            self.mch_id
        );
        let (status, bytes) = self.send(reqwest::Method::GET, &path, None).await?;
        if status == 404 {
            // ORDER_NOT_EXIST: the gateway never recorded it, so it cannot be paid.
            return Ok(TradeState::NotPaid);
        }
        if status != 200 {
            return Err(Self::refused(status, &bytes));
        }
        let value: Value =
            serde_json::from_slice(&bytes).map_err(|e| GatewayError::Malformed(e.to_string()))?;
        if value["out_trade_no"].as_str() != Some(out_trade_no) {
            return Err(GatewayError::Malformed(
                "query answer names another order".to_owned(),
            ));
        }
        trade_state(&value).map_err(GatewayError::Malformed)
    }

    /// The trade bill (`bill_type=ALL`) of the Beijing day `date`: `GET /v3/bill/tradebill`
    /// answers a download URL and the file's SHA1; the file is fetched with a signed GET (its
    /// body is not platform-signed, the hash stands for it) and checked against the hash.
    pub async fn trade_bill(&self, date: chrono::NaiveDate) -> Result<String, GatewayError> {
        let path = format!("/v3/bill/tradebill?bill_date={date}&bill_type=ALL");
        let (status, bytes) = self.send(reqwest::Method::GET, &path, None).await?;
        if status != 200 {
            return Err(Self::refused(status, &bytes));
        }
        let value: Value =
            serde_json::from_slice(&bytes).map_err(|e| GatewayError::Malformed(e.to_string()))?;
        let url = value["download_url"]
            .as_str()
            .ok_or_else(|| GatewayError::Malformed("download_url missing".to_owned()))?;
        let parsed =
            reqwest::Url::parse(url).map_err(|e| GatewayError::Malformed(e.to_string()))?;
        let signed_path = match parsed.query() {
            Some(q) => format!("{}?{q}", parsed.path()),
            None => parsed.path().to_owned(),
        };
        let authorization =
            self.authorization("GET", &signed_path, "", Utc::now().timestamp(), &nonce(32));
        let response = self
            .http
            .get(parsed)
            .header("Authorization", authorization)
            .send()
            .await?;
        let status = response.status().as_u16();
        let file = response.bytes().await?.to_vec();
        if status != 200 {
            return Err(Self::refused(status, &file));
        }
        if value["hash_type"].as_str() == Some("SHA1") {
            let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &file);
            let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
            if !value["hash_value"]
                .as_str()
                .is_some_and(|h| h.eq_ignore_ascii_case(&hex))
            {
                return Err(GatewayError::Signature(
                    "trade bill does not match its hash".to_owned(),
                ));
            }
        }
        String::from_utf8(file).map_err(|e| GatewayError::Malformed(e.to_string()))
    }

    /// `POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close` → 204.
    pub async fn close(&self, out_trade_no: &str) -> Result<(), GatewayError> {
        let path = format!("/v3/pay/transactions/out-trade-no/{out_trade_no}/close");
        let (status, bytes) = self
            .send(
                reqwest::Method::POST,
                &path,
                Some(json!({ "mchid": self.mch_id })),
            )
            .await?;
        if status == 204 || status == 200 {
            Ok(())
        } else {
            Err(Self::refused(status, &bytes))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payments::test_keys;

    fn client() -> WechatPay {
        WechatPay::from_settings(
            &test_keys::settings("http://127.0.0.1:9"),
            reqwest::Client::new(),
        )
        .unwrap()
    }

    fn platform_signed(body: &[u8], timestamp: i64) -> SignedHeaders {
        let key = PrivateKey::from_pem(&test_keys::text("wechat_platform_key.pem")).unwrap();
        let nonce = "5K8264ILTKCH16CQ2502SI8ZNMTM67VS";
        SignedHeaders {
            timestamp: timestamp.to_string(),
            nonce: nonce.to_owned(),
            signature: key.sign(&response_message(&timestamp.to_string(), nonce, body)),
            serial: test_keys::PLATFORM_SERIAL.to_owned(),
        }
    }

    #[test]
    fn certificate_serial_is_read() {
        let keys = PublicKey::all_from_pem(&test_keys::text("wechat_platform_cert.pem")).unwrap();
        assert_eq!(keys[0].serial.as_deref(), Some(test_keys::PLATFORM_SERIAL));
        let merchant = PublicKey::from_pem(&test_keys::text("wechat_merchant_cert.pem")).unwrap();
        assert_eq!(merchant.serial.as_deref(), Some(test_keys::MERCHANT_SERIAL));
    }

    #[test]
    fn request_signature_verifies_with_the_merchant_certificate() {
        let wechat = client();
        let header = wechat.authorization(
            "POST",
            "/v3/pay/transactions/native",
            "{}",
            1_700_000_000,
            "NONCE",
        );
        assert!(header.starts_with("WECHATPAY2-SHA256-RSA2048 mchid=\"1900000109\""));
        assert!(header.contains(&format!("serial_no=\"{}\"", test_keys::MERCHANT_SERIAL)));
        let signature = header
            .split("signature=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let cert = PublicKey::from_pem(&test_keys::text("wechat_merchant_cert.pem")).unwrap();
        let message = request_message(
            "POST",
            "/v3/pay/transactions/native",
            1_700_000_000,
            "NONCE",
            "{}",
        );
        assert!(cert.verify(message.as_bytes(), signature));
        assert!(!cert.verify(b"tampered", signature));
    }

    #[test]
    fn platform_signatures_are_checked_with_window_and_serial() {
        let wechat = client();
        let now = Utc::now();
        let body = br#"{"code_url":"weixin://wxpay/bizpayurl?pr=abc"}"#;
        let headers = platform_signed(body, now.timestamp());
        wechat.verify(&headers, body, now).unwrap();
        // Tampered body.
        assert!(
            wechat
                .verify(&headers, b"{\"code_url\":\"x\"}", now)
                .is_err()
        );
        // Unknown serial.
        let mut other = headers.clone();
        other.serial = "00".to_owned();
        assert!(
            wechat
                .verify(&other, body, now)
                .unwrap_err()
                .contains("serial")
        );
        // Six minutes off either way.
        let stale = platform_signed(body, now.timestamp() - 360);
        assert!(
            wechat
                .verify(&stale, body, now)
                .unwrap_err()
                .contains("window")
        );
        let early = platform_signed(body, now.timestamp() + 360);
        assert!(wechat.verify(&early, body, now).is_err());
        // Signed by the merchant key instead of the platform's.
        let merchant = PrivateKey::from_pem(&test_keys::text("wechat_merchant_key.pem")).unwrap();
        let mut forged = headers.clone();
        forged.signature = merchant.sign(&response_message(&forged.timestamp, &forged.nonce, body));
        assert!(wechat.verify(&forged, body, now).is_err());
    }

    #[test]
    fn callback_resource_decrypts_and_tampering_is_refused() {
        let plain = br#"{"trade_state":"SUCCESS"}"#;
        let ciphertext = encrypt_resource(
            test_keys::API_V3_KEY.as_bytes(),
            plain,
            "fdasflkja484",
            "transaction",
        )
        .unwrap();
        let key = api_v3_key(test_keys::API_V3_KEY.as_bytes()).unwrap();
        let mut resource = Resource {
            algorithm: "AEAD_AES_256_GCM".to_owned(),
            ciphertext,
            associated_data: "transaction".to_owned(),
            nonce: "fdasflkja484".to_owned(),
        };
        assert_eq!(decrypt_resource(&key, &resource).unwrap(), plain);
        resource.associated_data = "other".to_owned();
        assert!(decrypt_resource(&key, &resource).is_err());
        let wrong = api_v3_key(b"0123456789abcdef0123456789abcdef").unwrap();
        resource.associated_data = "transaction".to_owned();
        assert!(decrypt_resource(&wrong, &resource).is_err());
    }

    #[test]
    fn a_signed_callback_is_parsed_into_a_payment() {
        let wechat = client();
        let transaction = json!({
            "mchid": "1900000109", "appid": "wxd930ea5d5a258f4f",
            "out_trade_no": "MR0123", "transaction_id": "4200000001",
            "trade_state": "SUCCESS", "success_time": "2026-11-22T13:45:00+08:00",
            "amount": {"total": 10000, "payer_total": 10000, "currency": "CNY"},
        });
        let ciphertext = encrypt_resource(
            test_keys::API_V3_KEY.as_bytes(),
            transaction.to_string().as_bytes(),
            "abcdefghijkl",
            "transaction",
        )
        .unwrap();
        let body = json!({
            "id": "EV-1", "create_time": "2026-11-22T13:45:01+08:00",
            "event_type": "TRANSACTION.SUCCESS", "resource_type": "encrypt-resource",
            "resource": {"algorithm": "AEAD_AES_256_GCM", "ciphertext": ciphertext,
                         "associated_data": "transaction", "nonce": "abcdefghijkl"},
        })
        .to_string();
        let now = Utc::now();
        let headers = platform_signed(body.as_bytes(), now.timestamp());
        let n = wechat
            .parse_callback(&headers, body.as_bytes(), now)
            .unwrap();
        assert_eq!(n.out_trade_no, "MR0123");
        let TradeState::Paid(paid) = n.state else {
            panic!("paid expected")
        };
        assert_eq!(paid.amount, Money::parse("100.00").unwrap());
        assert_eq!(paid.transaction_id, "4200000001");
        assert_eq!(paid.paid_at.to_rfc3339(), "2026-11-22T05:45:00+00:00");
    }
}
