//! `gateway-sim`: the WeChat Pay API v3 + Alipay simulator for development (`make run`) and
//! manual tests. See `tests::gateway_sim` for the endpoints and the `/sim/` control API.
//! Development only: it holds the gateways' test private keys.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use tests::gateway_sim::{self, Config, KeyFiles};

#[derive(Parser)]
#[command(
    name = "gateway-sim",
    about = "WeChat Pay v3 + Alipay simulator (dev keys only)"
)]
struct Args {
    /// Listen address.
    #[arg(long, env = "MR_SIM_ADDR", default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// Base URL put into download links (default: http://LISTEN).
    #[arg(long, env = "MR_SIM_PUBLIC_URL")]
    public_url: Option<String>,
    /// Directory of the key files (default: deploy/dev/gateway-keys of this checkout).
    #[arg(long, env = "MR_SIM_KEYS_DIR")]
    keys_dir: Option<PathBuf>,
    /// Merchant certificate (verifies WeChat requests); default KEYS_DIR/wechat_merchant_cert.pem.
    #[arg(long, env = "MR_SIM_WECHAT_MERCHANT_CERT")]
    wechat_merchant_cert: Option<PathBuf>,
    /// Platform private key (signs WeChat answers and callbacks).
    #[arg(long, env = "MR_SIM_WECHAT_PLATFORM_KEY")]
    wechat_platform_key: Option<PathBuf>,
    /// Platform certificate (its serial goes into Wechatpay-Serial).
    #[arg(long, env = "MR_SIM_WECHAT_PLATFORM_CERT")]
    wechat_platform_cert: Option<PathBuf>,
    /// App public key (verifies Alipay requests).
    #[arg(long, env = "MR_SIM_ALIPAY_APP_PUBLIC")]
    alipay_app_public: Option<PathBuf>,
    /// Alipay gateway private key (signs Alipay answers and notifies).
    #[arg(long, env = "MR_SIM_ALIPAY_GATEWAY_KEY")]
    alipay_gateway_key: Option<PathBuf>,
    #[arg(long, env = "MR_WECHAT_APP_ID", default_value = gateway_sim::DEV_WECHAT_APP_ID)]
    wechat_app_id: String,
    #[arg(long, env = "MR_WECHAT_MCH_ID", default_value = gateway_sim::DEV_WECHAT_MCH_ID)]
    wechat_mch_id: String,
    /// WeChat API v3 key (32 bytes): encrypts callback resources.
    #[arg(long, env = "MR_WECHAT_API_V3_KEY", default_value = gateway_sim::DEV_API_V3_KEY)]
    wechat_api_v3_key: String,
    #[arg(long, env = "MR_ALIPAY_APP_ID", default_value = gateway_sim::DEV_ALIPAY_APP_ID)]
    alipay_app_id: String,
    /// Further callback attempts when the receiver does not acknowledge one.
    #[arg(long, env = "MR_SIM_CALLBACK_RETRIES", default_value_t = 3)]
    callback_retries: u32,
    /// Milliseconds between callback attempts.
    #[arg(long, env = "MR_SIM_CALLBACK_RETRY_MS", default_value_t = 5000)]
    callback_retry_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = args.keys_dir.unwrap_or_else(gateway_sim::dev_keys_dir);
    let defaults = KeyFiles::in_dir(&dir);
    let keys = KeyFiles {
        wechat_merchant_cert: args
            .wechat_merchant_cert
            .unwrap_or(defaults.wechat_merchant_cert),
        wechat_platform_key: args
            .wechat_platform_key
            .unwrap_or(defaults.wechat_platform_key),
        wechat_platform_cert: args
            .wechat_platform_cert
            .unwrap_or(defaults.wechat_platform_cert),
        alipay_app_public: args.alipay_app_public.unwrap_or(defaults.alipay_app_public),
        alipay_gateway_key: args
            .alipay_gateway_key
            .unwrap_or(defaults.alipay_gateway_key),
        forger_key: defaults.forger_key,
    };
    let running = gateway_sim::start(Config {
        listen: args.listen,
        public_url: args.public_url,
        keys,
        wechat_app_id: args.wechat_app_id,
        wechat_mch_id: args.wechat_mch_id,
        wechat_api_v3_key: args.wechat_api_v3_key,
        alipay_app_id: args.alipay_app_id,
        callback_retries: args.callback_retries,
        callback_retry_interval: Duration::from_millis(args.callback_retry_ms),
    })
    .await?;
    eprintln!(
        "gateway-sim listening on {} (WeChat base URL {}, Alipay gateway {}, control {}/sim/orders)",
        running.url,
        running.wechat_base_url(),
        running.alipay_gateway_url(),
        running.url
    );
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    running.stop().await;
    Ok(())
}
