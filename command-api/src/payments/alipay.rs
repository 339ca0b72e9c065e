//! Alipay open API with RSA2: form requests to the gateway signed with the app's key over the
//! sorted `k=v&...` of every non-empty parameter but `sign`; answers verified over the exact
//! JSON text of their `*_response` value with Alipay's public key; async notifies verified over
//! the sorted form minus `sign` and `sign_type`, and checked to be for our `app_id`.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use ledger_core::money::Money;
use serde_json::{Value, json};

use super::keys::{PrivateKey, PublicKey, pem_text};
use super::{GatewayError, Notification, Paid, TradeState};
use crate::settings::Settings;

/// Alipay's times are China Standard Time (UTC+8), written `yyyy-MM-dd HH:mm:ss`.
const CHINA_OFFSET_SECONDS: i32 = 8 * 3600;
const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

fn china() -> FixedOffset {
    FixedOffset::east_opt(CHINA_OFFSET_SECONDS).expect("UTC+8 is valid")
}

pub fn format_time(at: DateTime<Utc>) -> String {
    at.with_timezone(&china()).format(TIME_FORMAT).to_string()
}

pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(text, TIME_FORMAT).ok()?;
    china()
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

/// The signed content: `k=v` of every non-empty parameter not in `skip`, sorted by key,
/// joined with `&` (values as they are, not URL-encoded).
pub fn signing_content(params: &BTreeMap<String, String>, skip: &[&str]) -> String {
    params
        .iter()
        .filter(|(k, v)| !v.is_empty() && !skip.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The exact text of the JSON value of top-level `key` in `text` (signatures cover the bytes
/// as sent, so the value must not be re-serialized).
pub fn raw_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let needle = format!("\"{key}\"");
    let start = text.find(&needle)? + needle.len();
    let rest = &text[start..];
    let colon = rest.find(':')?;
    let value = rest[colon + 1..].trim_start();
    let offset = text.len() - value.len();
    let bytes = value.as_bytes();
    let (mut depth, mut in_string, mut escaped) = (0i32, false, false);
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&text[offset..offset + i + 1]);
                }
            }
            _ => {}
        }
    }
    None
}

pub struct Alipay {
    gateway_url: String,
    app_id: String,
    app_key: PrivateKey,
    alipay_key: PublicKey,
    notify_url: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for Alipay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alipay")
            .field("gateway_url", &self.gateway_url)
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

impl Alipay {
    pub fn from_settings(s: &Settings, http: reqwest::Client) -> Result<Alipay, String> {
        for (name, value) in [
            ("MR_ALIPAY_APP_KEY", &s.alipay_app_key.0),
            ("MR_ALIPAY_PUBLIC_KEY", &s.alipay_public_key),
            ("MR_ALIPAY_NOTIFY_URL", &s.alipay_notify_url),
        ] {
            if value.is_empty() {
                return Err(format!("{name} is required when MR_ALIPAY_APP_ID is set"));
            }
        }
        Ok(Alipay {
            gateway_url: s.alipay_gateway_url.clone(),
            app_id: s.alipay_app_id.clone(),
            app_key: PrivateKey::from_pem(&pem_text(
                s.alipay_app_key.expose(),
                "MR_ALIPAY_APP_KEY",
            )?)
            .map_err(|e| format!("MR_ALIPAY_APP_KEY: {e}"))?,
            alipay_key: PublicKey::from_pem(&pem_text(
                &s.alipay_public_key,
                "MR_ALIPAY_PUBLIC_KEY",
            )?)
            .map_err(|e| format!("MR_ALIPAY_PUBLIC_KEY: {e}"))?,
            notify_url: s.alipay_notify_url.clone(),
            http,
        })
    }

    /// The request parameters of `method`, signed.
    pub fn signed_params(
        &self,
        method: &str,
        biz_content: &Value,
        now: DateTime<Utc>,
    ) -> BTreeMap<String, String> {
        let mut params: BTreeMap<String, String> = [
            ("app_id", self.app_id.clone()),
            ("method", method.to_owned()),
            ("format", "JSON".to_owned()),
            ("charset", "utf-8".to_owned()),
            ("sign_type", "RSA2".to_owned()),
            ("timestamp", format_time(now)),
            ("version", "1.0".to_owned()),
            ("biz_content", biz_content.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        if method == "alipay.trade.precreate" {
            params.insert("notify_url".to_owned(), self.notify_url.clone());
        }
        let sign = self
            .app_key
            .sign(signing_content(&params, &["sign"]).as_bytes());
        params.insert("sign".to_owned(), sign);
        params
    }

    /// Calls `method`; answers its verified `*_response` object.
    async fn call(&self, method: &str, biz_content: Value) -> Result<Value, GatewayError> {
        let params = self.signed_params(method, &biz_content, Utc::now());
        let form = serde_urlencoded::to_string(&params)
            .map_err(|e| GatewayError::Malformed(e.to_string()))?;
        let response = self
            .http
            .post(&self.gateway_url)
            .header(
                "Content-Type",
                "application/x-www-form-urlencoded;charset=utf-8",
            )
            .body(form)
            .send()
            .await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        if status != 200 {
            return Err(GatewayError::Refused(format!("HTTP {status}")));
        }
        let key = format!("{}_response", method.replace('.', "_"));
        let (raw, key) = match raw_value(&text, &key) {
            Some(raw) => (raw, key),
            None => (
                raw_value(&text, "error_response")
                    .ok_or_else(|| GatewayError::Malformed(format!("{key} missing")))?,
                "error_response".to_owned(),
            ),
        };
        let whole: Value =
            serde_json::from_str(&text).map_err(|e| GatewayError::Malformed(e.to_string()))?;
        let answer = whole[&key].clone();
        match whole["sign"].as_str() {
            Some(sign) if !self.alipay_key.verify(raw.as_bytes(), sign) => {
                return Err(GatewayError::Signature(
                    "answer sign does not verify".to_owned(),
                ));
            }
            // Alipay leaves some error answers unsigned; a success must be signed.
            None if answer["code"].as_str() == Some("10000") => {
                return Err(GatewayError::Signature("answer is not signed".to_owned()));
            }
            _ => {}
        }
        Ok(answer)
    }

    fn refused(answer: &Value) -> GatewayError {
        GatewayError::Refused(format!(
            "{} {} {} {}",
            answer["code"].as_str().unwrap_or(""),
            answer["msg"].as_str().unwrap_or(""),
            answer["sub_code"].as_str().unwrap_or(""),
            answer["sub_msg"].as_str().unwrap_or("")
        ))
    }

    fn trade_not_exist(answer: &Value) -> bool {
        answer["sub_code"].as_str() == Some("ACQ.TRADE_NOT_EXIST")
    }

    /// `alipay.trade.precreate`: the `qr_code` the payer scans.
    pub async fn precreate(
        &self,
        out_trade_no: &str,
        amount: Money,
        subject: &str,
    ) -> Result<String, GatewayError> {
        let answer = self
            .call(
                "alipay.trade.precreate",
                json!({ "out_trade_no": out_trade_no, "total_amount": amount.to_string(),
                        "subject": subject }),
            )
            .await?;
        if answer["code"].as_str() != Some("10000") {
            return Err(Self::refused(&answer));
        }
        answer["qr_code"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| GatewayError::Malformed("qr_code missing".to_owned()))
    }

    /// `alipay.trade.query`.
    pub async fn query(&self, out_trade_no: &str) -> Result<TradeState, GatewayError> {
        let answer = self
            .call(
                "alipay.trade.query",
                json!({ "out_trade_no": out_trade_no }),
            )
            .await?;
        if Self::trade_not_exist(&answer) {
            // A precreated trade exists at Alipay only once the payer scanned it.
            return Ok(TradeState::NotPaid);
        }
        if answer["code"].as_str() != Some("10000") {
            return Err(Self::refused(&answer));
        }
        if answer["out_trade_no"].as_str() != Some(out_trade_no) {
            return Err(GatewayError::Malformed(
                "query answer names another order".to_owned(),
            ));
        }
        trade_state(&answer, "send_pay_date").map_err(GatewayError::Malformed)
    }

    /// `alipay.trade.close`; a trade Alipay never created needs no closing.
    pub async fn close(&self, out_trade_no: &str) -> Result<(), GatewayError> {
        let answer = self
            .call(
                "alipay.trade.close",
                json!({ "out_trade_no": out_trade_no }),
            )
            .await?;
        if answer["code"].as_str() == Some("10000") || Self::trade_not_exist(&answer) {
            Ok(())
        } else {
            Err(Self::refused(&answer))
        }
    }

    /// The trade statement of the Beijing day `date`:
    /// `alipay.data.dataservice.bill.downloadurl.query` answers a short-lived URL, fetched as
    /// is, as bytes: a zip of GBK CSV files (the detail and its summary), as the development
    /// gateway serves it too; `statement::parse_alipay_download` also reads a bare CSV.)
    pub async fn statement(&self, date: chrono::NaiveDate) -> Result<Vec<u8>, GatewayError> {
        let answer = self
            .call(
                "alipay.data.dataservice.bill.downloadurl.query",
                json!({ "bill_type": "trade", "bill_date": date.to_string() }),
            )
            .await?;
        if answer["code"].as_str() != Some("10000") {
            return Err(Self::refused(&answer));
        }
        let url = answer["bill_download_url"]
            .as_str()
            .ok_or_else(|| GatewayError::Malformed("bill_download_url missing".to_owned()))?;
        let response = self.http.get(url).send().await?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(GatewayError::Refused(format!(
                "statement download: HTTP {status}"
            )));
        }
        Ok(response.bytes().await?.to_vec())
    }

    /// An async notify (form body), verified; the error is the reason it was refused.
    pub fn parse_notify(&self, body: &[u8]) -> Result<Notification, String> {
        let params: BTreeMap<String, String> =
            serde_urlencoded::from_bytes(body).map_err(|e| format!("notify form: {e}"))?;
        let sign = params.get("sign").ok_or("sign missing")?;
        if params.get("sign_type").is_some_and(|t| t != "RSA2") {
            return Err("sign_type is not RSA2".to_owned());
        }
        let content = signing_content(&params, &["sign", "sign_type"]);
        if !self.alipay_key.verify(content.as_bytes(), sign) {
            return Err("sign does not verify".to_owned());
        }
        if params.get("app_id") != Some(&self.app_id) {
            return Err("notify for another app_id".to_owned());
        }
        let out_trade_no = params
            .get("out_trade_no")
            .filter(|v| !v.is_empty())
            .ok_or("out_trade_no missing")?
            .clone();
        let value = serde_json::to_value(&params).map_err(|e| e.to_string())?;
        Ok(Notification {
            out_trade_no,
            state: trade_state(&value, "gmt_payment")?,
        })
    }
}

/// A query answer or notify as a [`TradeState`]; `paid_at_field` names its payment time.
pub fn trade_state(trade: &Value, paid_at_field: &str) -> Result<TradeState, String> {
    let text = |name: &str| trade[name].as_str().unwrap_or_default().to_owned();
    Ok(match text("trade_status").as_str() {
        "TRADE_SUCCESS" | "TRADE_FINISHED" => {
            let amount =
                Money::parse(&text("total_amount")).map_err(|e| format!("total_amount: {e}"))?;
            let transaction_id = text("trade_no");
            if transaction_id.is_empty() {
                return Err("trade_no missing".to_owned());
            }
            let paid_at = parse_time(&text(paid_at_field))
                .ok_or_else(|| format!("{paid_at_field} is not yyyy-MM-dd HH:mm:ss"))?;
            TradeState::Paid(Paid {
                transaction_id,
                amount,
                paid_at,
            })
        }
        "WAIT_BUYER_PAY" => TradeState::NotPaid,
        "TRADE_CLOSED" => TradeState::Closed,
        other => return Err(format!("unknown trade_status {other:?}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payments::test_keys;

    /// `openssl dgst -sha256 -sign alipay_app_key.pem` of the request below, base64.
    const PINNED_SIGN: &str = "a0MJbxKOh0pe+c0PX51nne2yDv8ZAncHPM9J0sq+WILas9LiFGSsTbaI1+0DL/KOVB39Rkx81Mv/s3i67Q4jTrnTBEK72G6ts1Q2XrnvTM/qvkuM/Uk+otz8HNnDrj/YtbdrAuo+T6VZI8q2mIL9xD3rrOy/XFcgrY2B3AEbE9mMnnbRK7b5Lbi72IXF/th+iz4jS9RCpIqKv+kezjxQUSFBstupYQBLBPXHKdbTUoueG+ZbcVaf8iVDEaXGJQZXn3GbFP3lh4pTZUcNK74oje1FNuJUlJ2521Dno5KECF1SkmCkBupaZmHwY2+lTKccOaV0RzB30tqCPgJszlJF5w==";

    fn client() -> Alipay {
        Alipay::from_settings(
            &test_keys::settings("http://127.0.0.1:9"),
            reqwest::Client::new(),
        )
        .unwrap()
    }

    #[test]
    fn request_signature_matches_the_openssl_vector() {
        let at = DateTime::parse_from_rfc3339("2026-11-22T05:45:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let params = client().signed_params(
            "alipay.trade.precreate",
            &json!({"out_trade_no": "MR0123456789abcdef0123456789abcd",
                    "total_amount": "100.00", "subject": "test"}),
            at,
        );
        assert_eq!(params["timestamp"], "2026-11-22 13:45:00");
        assert_eq!(
            signing_content(&params, &["sign"]),
            "app_id=2021000000000001&biz_content={\"out_trade_no\":\"MR0123456789abcdef0123456789abcd\",\"subject\":\"test\",\"total_amount\":\"100.00\"}&charset=utf-8&format=JSON&method=alipay.trade.precreate&notify_url=https://example.com/notify&sign_type=RSA2&timestamp=2026-11-22 13:45:00&version=1.0"
        );
        assert_eq!(params["sign"], PINNED_SIGN);
        let public = PublicKey::from_pem(&test_keys::text("alipay_app_public.pem")).unwrap();
        assert!(public.verify(signing_content(&params, &["sign"]).as_bytes(), PINNED_SIGN));
    }

    fn notify(total_amount: &str, app_id: &str) -> BTreeMap<String, String> {
        let mut params: BTreeMap<String, String> = [
            ("notify_time", "2026-11-22 13:46:00"),
            ("notify_type", "trade_status_sync"),
            ("notify_id", "ac05099524730693a8b330c5ecf72da9786"),
            ("app_id", app_id),
            ("trade_no", "2026112222001400000001"),
            ("out_trade_no", "MR0123"),
            ("trade_status", "TRADE_SUCCESS"),
            ("total_amount", total_amount),
            ("gmt_payment", "2026-11-22 13:45:00"),
            ("sign_type", "RSA2"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let key = PrivateKey::from_pem(&test_keys::text("alipay_gateway_key.pem")).unwrap();
        let sign = key.sign(signing_content(&params, &["sign", "sign_type"]).as_bytes());
        params.insert("sign".to_owned(), sign);
        params
    }

    #[test]
    fn notify_is_verified_and_tampering_refused() {
        let alipay = client();
        let params = notify("100.00", "2021000000000001");
        let body = serde_urlencoded::to_string(&params).unwrap();
        let n = alipay.parse_notify(body.as_bytes()).unwrap();
        assert_eq!(n.out_trade_no, "MR0123");
        let TradeState::Paid(paid) = n.state else {
            panic!("paid expected")
        };
        assert_eq!(paid.amount, Money::parse("100.00").unwrap());
        assert_eq!(paid.paid_at.to_rfc3339(), "2026-11-22T05:45:00+00:00");

        let mut tampered = params.clone();
        tampered.insert("total_amount".to_owned(), "1000.00".to_owned());
        let body = serde_urlencoded::to_string(&tampered).unwrap();
        assert!(
            alipay
                .parse_notify(body.as_bytes())
                .unwrap_err()
                .contains("sign")
        );

        let other_app = notify("100.00", "2021999999999999");
        let body = serde_urlencoded::to_string(&other_app).unwrap();
        assert!(
            alipay
                .parse_notify(body.as_bytes())
                .unwrap_err()
                .contains("app_id")
        );
    }

    #[test]
    fn raw_response_value_is_the_exact_text() {
        let text = r#"{"alipay_trade_query_response":{"code":"10000","msg":"Success","note":"a \"}\" b","n":[1,{"x":2}]},"sign":"abc"}"#;
        assert_eq!(
            raw_value(text, "alipay_trade_query_response"),
            Some(r#"{"code":"10000","msg":"Success","note":"a \"}\" b","n":[1,{"x":2}]}"#)
        );
        assert_eq!(raw_value(text, "missing"), None);
    }
}
