//! Callbacks to an order's notify URL, genuine or forged, with the gateways' retry when the
//! receiver does not acknowledge.

use std::sync::Arc;

use chrono::Utc;

use super::store::{Channel, Delivery, Order};
use super::{Sim, alipay, wechat};

/// One prepared callback: the same notification is re-sent on retries.
struct Prepared {
    notify_id: String,
    body: String,
}

fn prepare(sim: &Sim, order: &Order, forged: bool) -> Prepared {
    match order.channel {
        Channel::Wechat => {
            let (notify_id, body) = wechat::callback_body(sim, order);
            Prepared { notify_id, body }
        }
        Channel::Alipay => {
            let key = if forged {
                &sim.keys.forger
            } else {
                &sim.keys.alipay_gateway
            };
            let (notify_id, body) = alipay::notify_form(sim, order, key);
            Prepared { notify_id, body }
        }
    }
}

/// Sends one attempt and records it on the order.
async fn attempt(
    sim: &Sim,
    order: &Order,
    prepared: &Prepared,
    forged: bool,
    attempt: u32,
) -> Delivery {
    let request = match order.channel {
        Channel::Wechat => {
            // WeChat signs each send afresh (new timestamp and nonce).
            let key = if forged {
                &sim.keys.forger
            } else {
                &sim.keys.wechat_platform
            };
            let mut request = sim
                .http
                .post(&order.notify_url)
                .header("Content-Type", "application/json")
                .header("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048");
            for (name, value) in
                wechat::platform_headers(key, &sim.keys.wechat_platform_serial, &prepared.body)
            {
                request = request.header(name, value);
            }
            request.body(prepared.body.clone())
        }
        Channel::Alipay => sim
            .http
            .post(&order.notify_url)
            .header(
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(prepared.body.clone()),
    };
    let (status, body) = match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            (Some(status), response.text().await.unwrap_or_default())
        }
        Err(e) => (None, e.to_string()),
    };
    let accepted = match order.channel {
        Channel::Wechat => status.is_some_and(|s| (200..300).contains(&s)),
        Channel::Alipay => status == Some(200) && body.trim() == "success",
    };
    // The simulator's log (make run): one line per callback attempt.
    eprintln!(
        "callback {:?} {} attempt {attempt}{} -> {}: {}",
        order.channel,
        order.out_trade_no,
        if forged { " (forged)" } else { "" },
        status.map_or_else(|| "unreachable".to_owned(), |s| s.to_string()),
        body.chars().take(200).collect::<String>(),
    );
    let delivery = Delivery {
        at: Utc::now(),
        notify_id: prepared.notify_id.clone(),
        forged,
        attempt,
        status,
        body,
        accepted,
    };
    sim.store
        .record_delivery(&order.out_trade_no, delivery.clone());
    delivery
}

/// Sends the callback of `order` once and returns the first attempt's outcome; when the
/// receiver does not acknowledge it, retries continue in the background as configured.
pub async fn deliver(sim: Arc<Sim>, order: Order, forged: bool) -> Delivery {
    let prepared = prepare(&sim, &order, forged);
    let first = attempt(&sim, &order, &prepared, forged, 1).await;
    if !first.accepted && sim.config.callback_retries > 0 {
        tokio::spawn(async move {
            for n in 0..sim.config.callback_retries {
                tokio::time::sleep(sim.config.callback_retry_interval).await;
                if attempt(&sim, &order, &prepared, forged, n + 2)
                    .await
                    .accepted
                {
                    break;
                }
            }
        });
    }
    first
}
