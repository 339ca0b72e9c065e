//! `gateway-sim`: WeChat Pay API v3 (Native) and Alipay (open API, RSA2) played locally with
//! the development keys of `deploy/dev/gateway-keys`, for `make run` and the tests. Never
//! part of a service.
//!
//! - [`wechat`]: `/v3/pay/transactions/...`, `/v3/bill/tradebill`, `/v3/billdownload/file`.
//! - [`alipay`]: `POST /gateway.do` and the statement download.
//! - [`control`]: `/sim/...`, what a test (or a developer with curl) does in the payer's place:
//!   pay an order, choose how its callback arrives, inject query failures, set statements.
//! - [`callbacks`]: the signed (or forged) callbacks to the order's notify URL.
//!
//! [`start`] runs it in-process on its own threads; `src/bin/gateway_sim.rs` is the binary.

pub mod alipay;
pub mod callbacks;
pub mod control;
pub mod keys;
pub mod statement;
pub mod store;
pub mod wechat;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpServer, web};
use anyhow::Context;

use keys::{PrivateKey, PublicKey};
use store::Store;

/// The development WeChat API v3 key (AES-256-GCM key of callback resources).
pub const DEV_API_V3_KEY: &str = "mrledgerdevapiv3key0123456789abc";
/// Development merchant ids (the gateways' documentation examples); `make run` configures the
/// command API with the same values.
pub const DEV_WECHAT_APP_ID: &str = "wxd930ea5d5a258f4f";
pub const DEV_WECHAT_MCH_ID: &str = "1900000109";
pub const DEV_ALIPAY_APP_ID: &str = "2014072300007148";

/// `deploy/dev/gateway-keys` of this checkout.
pub fn dev_keys_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/dev/gateway-keys")
}

/// Key files. The simulator holds the gateways' private keys and the merchant's public ones.
#[derive(Debug, Clone)]
pub struct KeyFiles {
    pub wechat_merchant_cert: PathBuf,
    pub wechat_platform_key: PathBuf,
    pub wechat_platform_cert: PathBuf,
    pub alipay_app_public: PathBuf,
    pub alipay_gateway_key: PathBuf,
    /// Signs forged callbacks: a well-formed signature by a key the receiver does not trust.
    pub forger_key: PathBuf,
}

impl KeyFiles {
    pub fn in_dir(dir: &Path) -> KeyFiles {
        KeyFiles {
            wechat_merchant_cert: dir.join("wechat_merchant_cert.pem"),
            wechat_platform_key: dir.join("wechat_platform_key.pem"),
            wechat_platform_cert: dir.join("wechat_platform_cert.pem"),
            alipay_app_public: dir.join("alipay_app_public.pem"),
            alipay_gateway_key: dir.join("alipay_gateway_key.pem"),
            forger_key: dir.join("alipay_app_key.pem"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Port 0 picks a free one.
    pub listen: SocketAddr,
    /// Base URL put into download links; default `http://{bound address}`.
    pub public_url: Option<String>,
    pub keys: KeyFiles,
    pub wechat_app_id: String,
    pub wechat_mch_id: String,
    pub wechat_api_v3_key: String,
    pub alipay_app_id: String,
    /// Further attempts after a callback the receiver did not acknowledge (the real gateways
    /// retry for hours); 0 = one attempt.
    pub callback_retries: u32,
    pub callback_retry_interval: Duration,
}

impl Config {
    /// Development keys and ids, a free port on 127.0.0.1, no callback retries.
    pub fn dev() -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            keys: KeyFiles::in_dir(&dev_keys_dir()),
            wechat_app_id: DEV_WECHAT_APP_ID.into(),
            wechat_mch_id: DEV_WECHAT_MCH_ID.into(),
            wechat_api_v3_key: DEV_API_V3_KEY.into(),
            alipay_app_id: DEV_ALIPAY_APP_ID.into(),
            callback_retries: 0,
            callback_retry_interval: Duration::from_secs(5),
        }
    }
}

/// Loaded keys.
pub struct Keys {
    pub wechat_merchant: PublicKey,
    pub wechat_platform: PrivateKey,
    pub wechat_platform_serial: String,
    pub alipay_app: PublicKey,
    pub alipay_gateway: PrivateKey,
    pub forger: PrivateKey,
}

impl Keys {
    fn load(files: &KeyFiles) -> anyhow::Result<Keys> {
        let wechat_merchant = PublicKey::load(&files.wechat_merchant_cert)?;
        anyhow::ensure!(
            wechat_merchant.serial.is_some(),
            "{} must be a certificate (its serial names the merchant key)",
            files.wechat_merchant_cert.display()
        );
        let platform_cert = PublicKey::load(&files.wechat_platform_cert)?;
        Ok(Keys {
            wechat_merchant,
            wechat_platform: PrivateKey::load(&files.wechat_platform_key)?,
            wechat_platform_serial: platform_cert.serial.with_context(|| {
                format!(
                    "{} must be a certificate",
                    files.wechat_platform_cert.display()
                )
            })?,
            alipay_app: PublicKey::load(&files.alipay_app_public)?,
            alipay_gateway: PrivateKey::load(&files.alipay_gateway_key)?,
            forger: PrivateKey::load(&files.forger_key)?,
        })
    }
}

/// Everything the handlers share.
pub struct Sim {
    pub config: Config,
    pub keys: Keys,
    pub store: Store,
    pub http: reqwest::Client,
    /// Base URL of this simulator.
    pub url: String,
}

pub type SimData = web::Data<Sim>;

/// A running simulator; stops when dropped.
pub struct Running {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    pub sim: Arc<Sim>,
    handle: actix_web::dev::ServerHandle,
}

impl Running {
    /// WeChat API base URL (`MR_WECHAT_BASE_URL`).
    pub fn wechat_base_url(&self) -> String {
        self.url.clone()
    }

    /// Alipay gateway URL (`MR_ALIPAY_GATEWAY_URL`).
    pub fn alipay_gateway_url(&self) -> String {
        format!("{}/gateway.do", self.url)
    }

    /// The command-api settings that make both channels pay through this simulator, with
    /// the notify URLs pointing at a command-api listening on `command_addr`.
    pub fn ledger_settings(&self, command_addr: &str) -> Vec<(String, String)> {
        let keys = dev_keys_dir();
        let key = |name: &str| keys.join(name).to_string_lossy().into_owned();
        let serial = self.sim.keys.wechat_merchant.serial.clone();
        [
            ("MR_WECHAT_BASE_URL", self.wechat_base_url()),
            ("MR_WECHAT_APP_ID", DEV_WECHAT_APP_ID.to_owned()),
            ("MR_WECHAT_MCH_ID", DEV_WECHAT_MCH_ID.to_owned()),
            ("MR_WECHAT_MERCHANT_SERIAL", serial.unwrap_or_default()),
            ("MR_WECHAT_MERCHANT_KEY", key("wechat_merchant_key.pem")),
            ("MR_WECHAT_PLATFORM_CERT", key("wechat_platform_cert.pem")),
            ("MR_WECHAT_API_V3_KEY", DEV_API_V3_KEY.to_owned()),
            (
                "MR_WECHAT_NOTIFY_URL",
                format!("http://{command_addr}/api/v1/payments/wechat/notify"),
            ),
            ("MR_ALIPAY_GATEWAY_URL", self.alipay_gateway_url()),
            ("MR_ALIPAY_APP_ID", DEV_ALIPAY_APP_ID.to_owned()),
            ("MR_ALIPAY_APP_KEY", key("alipay_app_key.pem")),
            ("MR_ALIPAY_PUBLIC_KEY", key("alipay_gateway_public.pem")),
            (
                "MR_ALIPAY_NOTIFY_URL",
                format!("http://{command_addr}/api/v1/payments/alipay/notify"),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Not awaited: the server winds down on its own threads.
        drop(self.handle.stop(false));
    }
}

/// Loads the keys, binds and starts serving (on a tokio runtime, e.g. inside a test).
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let keys = Keys::load(&config.keys)?;
    anyhow::ensure!(
        config.wechat_api_v3_key.len() == 32,
        "the WeChat API v3 key must be 32 bytes"
    );
    let listener = std::net::TcpListener::bind(config.listen)
        .with_context(|| format!("bind {}", config.listen))?;
    let local = listener.local_addr()?;
    let url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{local}"))
        .trim_end_matches('/')
        .to_owned();
    let sim = Arc::new(Sim {
        config,
        keys,
        store: Store::default(),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?,
        url: url.clone(),
    });
    let data = web::Data::from(sim.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(1 << 20))
            .configure(wechat::routes)
            .configure(alipay::routes)
            .configure(control::routes)
    })
    .workers(2)
    .disable_signals()
    .listen(listener)?
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok(Running {
        url: format!("http://{local}"),
        sim,
        handle,
    })
}

/// A random string of `len` characters from `[0-9A-Za-z]` (nonces, ids).
pub fn random_alnum(len: usize) -> String {
    const CHARS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    uuid_bytes(len)
        .into_iter()
        .map(|b| CHARS[usize::from(b) % CHARS.len()] as char)
        .collect()
}

/// A random string of `len` decimal digits.
pub fn random_digits(len: usize) -> String {
    uuid_bytes(len)
        .into_iter()
        .map(|b| char::from(b'0' + b % 10))
        .collect()
}

fn uuid_bytes(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        out.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    out.truncate(len);
    out
}
