//! The payment gateways recharges go through: WeChat Pay (API v3, Native) and Alipay (open
//! API, RSA2). Each channel speaks its own protocol; [`Gateways`] gives the ledger one shape
//! for both (create an order, query it, close it) and one for what a verified result says
//! ([`TradeState`]).
//!
//! Layout:
//! - [`keys`]: PEM keys and certificates, SHA256withRSA.
//! - [`wechat`]: WeChat Pay API v3 client, response and callback verification, AES-GCM.
//! - [`alipay`]: Alipay client, response and async-notify verification.
//! - [`statement`]: the daily statement files, parsed.

pub mod alipay;
pub mod keys;
pub mod statement;
pub mod wechat;

use chrono::{DateTime, Utc};
use ledger_core::money::Money;
use ledger_core::operator::PaymentChannel;

use crate::settings::Settings;

/// What a gateway says about an order, after its signature was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TradeState {
    Paid(Paid),
    /// Not paid (yet): waiting for the buyer, or unknown to the gateway so far.
    NotPaid,
    /// Closed without payment (by us, by timeout, or revoked).
    Closed,
    /// The payment failed.
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paid {
    pub transaction_id: String,
    pub amount: Money,
    pub paid_at: DateTime<Utc>,
}

/// A verified callback: which order, and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub out_trade_no: String,
    pub state: TradeState,
}

/// What the console shows the payer: WeChat's `code_url` or Alipay's `qr_code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayCode {
    CodeUrl(String),
    QrCode(String),
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("payment channel {0} is not configured")]
    Disabled(&'static str),
    #[error("gateway unreachable: {0}")]
    Transport(String),
    #[error("gateway refused: {0}")]
    Refused(String),
    #[error("gateway answer failed verification: {0}")]
    Signature(String),
    #[error("malformed gateway answer: {0}")]
    Malformed(String),
}

impl From<reqwest::Error> for GatewayError {
    fn from(e: reqwest::Error) -> Self {
        GatewayError::Transport(e.to_string())
    }
}

/// How long a gateway call may take before it counts as failed.
pub const GATEWAY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The configured channels; a channel without configuration is `None` (disabled).
#[derive(Debug, Default)]
pub struct Gateways {
    pub wechat: Option<wechat::WechatPay>,
    pub alipay: Option<alipay::Alipay>,
}

impl Gateways {
    /// No channel enabled.
    pub fn disabled() -> Gateways {
        Gateways::default()
    }

    /// Channels from settings: WeChat Pay when `wechat_mch_id` is set, Alipay when
    /// `alipay_app_id` is set; a channel that is half configured is an error.
    pub fn from_settings(settings: &Settings) -> Result<Gateways, String> {
        let http = reqwest::Client::builder()
            .timeout(GATEWAY_TIMEOUT)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        let wechat = if settings.wechat_mch_id.is_empty() {
            None
        } else {
            Some(wechat::WechatPay::from_settings(settings, http.clone())?)
        };
        let alipay = if settings.alipay_app_id.is_empty() {
            None
        } else {
            Some(alipay::Alipay::from_settings(settings, http)?)
        };
        Ok(Gateways { wechat, alipay })
    }

    pub fn enabled(&self, channel: PaymentChannel) -> bool {
        match channel {
            PaymentChannel::Wechat => self.wechat.is_some(),
            PaymentChannel::Alipay => self.alipay.is_some(),
        }
    }

    fn disabled_error(channel: PaymentChannel) -> GatewayError {
        GatewayError::Disabled(channel.as_str())
    }

    /// Opens the order at the gateway; answers what the payer scans.
    pub async fn create(
        &self,
        channel: PaymentChannel,
        out_trade_no: &str,
        amount: Money,
        subject: &str,
    ) -> Result<PayCode, GatewayError> {
        match channel {
            PaymentChannel::Wechat => {
                let gw = self.wechat.as_ref().ok_or(Self::disabled_error(channel))?;
                gw.native(out_trade_no, amount, subject)
                    .await
                    .map(PayCode::CodeUrl)
            }
            PaymentChannel::Alipay => {
                let gw = self.alipay.as_ref().ok_or(Self::disabled_error(channel))?;
                gw.precreate(out_trade_no, amount, subject)
                    .await
                    .map(PayCode::QrCode)
            }
        }
    }

    pub async fn query(
        &self,
        channel: PaymentChannel,
        out_trade_no: &str,
    ) -> Result<TradeState, GatewayError> {
        match channel {
            PaymentChannel::Wechat => {
                let gw = self.wechat.as_ref().ok_or(Self::disabled_error(channel))?;
                gw.query(out_trade_no).await
            }
            PaymentChannel::Alipay => {
                let gw = self.alipay.as_ref().ok_or(Self::disabled_error(channel))?;
                gw.query(out_trade_no).await
            }
        }
    }

    pub async fn close(
        &self,
        channel: PaymentChannel,
        out_trade_no: &str,
    ) -> Result<(), GatewayError> {
        match channel {
            PaymentChannel::Wechat => {
                let gw = self.wechat.as_ref().ok_or(Self::disabled_error(channel))?;
                gw.close(out_trade_no).await
            }
            PaymentChannel::Alipay => {
                let gw = self.alipay.as_ref().ok_or(Self::disabled_error(channel))?;
                gw.close(out_trade_no).await
            }
        }
    }
}

impl Gateways {
    /// The paid trades of `channel`'s statement for the Beijing day `date`.
    pub async fn statement(
        &self,
        channel: PaymentChannel,
        date: chrono::NaiveDate,
    ) -> Result<Vec<statement::StatementLine>, GatewayError> {
        match channel {
            PaymentChannel::Wechat => {
                let gw = self.wechat.as_ref().ok_or(Self::disabled_error(channel))?;
                statement::parse_wechat_trade_bill(&gw.trade_bill(date).await?)
                    .map_err(GatewayError::Malformed)
            }
            PaymentChannel::Alipay => {
                let gw = self.alipay.as_ref().ok_or(Self::disabled_error(channel))?;
                statement::parse_alipay_download(&gw.statement(date).await?)
                    .map_err(GatewayError::Malformed)
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod test_keys {
    //! The development keys of `deploy/dev/gateway-keys`, read at test time.

    use crate::settings::{Secret, Settings};

    pub const API_V3_KEY: &str = "mrledgerdevapiv3key0123456789abc";
    pub const MERCHANT_SERIAL: &str = "07ADD17060E513863DE12108AE22BD2A48ED77A1";
    pub const PLATFORM_SERIAL: &str = "65107EEA39ECCD2E98B74BE56AD4E11EF79E10BF";

    pub fn path(name: &str) -> String {
        format!(
            "{}/../deploy/dev/gateway-keys/{name}",
            env!("CARGO_MANIFEST_DIR")
        )
    }

    pub fn text(name: &str) -> String {
        std::fs::read_to_string(path(name)).unwrap()
    }

    /// Both channels configured with the development keys, gateways at `base`.
    pub fn settings(base: &str) -> Settings {
        Settings {
            wechat_base_url: base.to_owned(),
            wechat_app_id: "wxd930ea5d5a258f4f".to_owned(),
            wechat_mch_id: "1900000109".to_owned(),
            wechat_merchant_serial: MERCHANT_SERIAL.to_owned(),
            wechat_merchant_key: Secret(path("wechat_merchant_key.pem")),
            wechat_platform_cert: path("wechat_platform_cert.pem"),
            wechat_api_v3_key: Secret(API_V3_KEY.to_owned()),
            wechat_notify_url: "https://example.com/api/v1/payments/wechat/notify".to_owned(),
            alipay_gateway_url: format!("{base}/gateway.do"),
            alipay_app_id: "2021000000000001".to_owned(),
            alipay_app_key: Secret(path("alipay_app_key.pem")),
            alipay_public_key: path("alipay_gateway_public.pem"),
            alipay_notify_url: "https://example.com/notify".to_owned(),
            ..Settings::default()
        }
    }
}
