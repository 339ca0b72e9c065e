//! Recharges behind a load balancer: two command-api processes on one database receive the
//! same gateway notification at the same moment. The payment is credited once, whichever
//! instance gets there first, and concurrent payments of one operator are all credited.

use futures_util::future::join_all;
use serde_json::{Value, json};
use tests::cluster::{Cluster, free_port};
use tests::gateway_sim::store::{Channel, TradeState};
use tests::gateway_sim::{self, Config, Running, alipay, wechat};

const PASSWORD: &str = "Instances-pass1";

/// Copies of one notification each instance receives at once.
const COPIES_PER_INSTANCE: usize = 10;

/// The services configured against `sim` plus a second command-api (B), an operator's token,
/// and B's base URL (A is `cluster.command`).
async fn two_instances(sim: &Running) -> (Cluster, String, String) {
    let command_addr = format!("127.0.0.1:{}", free_port());
    let mut settings = sim.ledger_settings(&command_addr);
    settings.push(("MR_COMMAND_HTTP_ADDR".into(), command_addr));
    let settings: Vec<(&str, &str)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut cluster = Cluster::start(&settings).await;
    let second = cluster.start_extra_command_api().await;
    assert_ne!(second, cluster.command);
    let url = format!("{}/api/v1/auth/operator/register", cluster.command);
    let body = json!({"username": "lb_arcade", "name": "负载均衡体验馆", "phone": "13800138001",
                      "email": "lb_arcade@example.com", "password": PASSWORD});
    cluster.call("POST", &url, None, Some(body)).await.ok();
    let token = cluster.token("operator", "lb_arcade", PASSWORD).await;
    (cluster, token, second)
}

/// An order opened through instance A (`cluster.command`); its `out_trade_no`.
async fn order(cluster: &Cluster, token: &str, channel: &str, amount: &str) -> String {
    let created = cluster
        .command(
            "POST",
            "/api/v1/operator/recharges",
            token,
            json!({"channel": channel, "amount": amount}),
        )
        .await
        .ok();
    assert_eq!(created["status"], "pending", "{created}");
    created["out_trade_no"].as_str().unwrap().to_owned()
}

/// The payer pays at the simulator, which sends no callback: the test delivers it.
async fn pay_without_callback(sim: &Running, out_trade_no: &str) {
    let response = reqwest::Client::new()
        .post(format!("{}/sim/orders/{out_trade_no}/pay", sim.url))
        .json(&json!({"callback": "never"}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let paid: Value = response.json().await.unwrap();
    assert_eq!(paid["deliveries"], json!([]), "{paid}");
}

/// One signed notification exactly as the simulator would send it, sent as is many times.
struct Notification {
    channel: Channel,
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    body: String,
}

/// The one genuine notification of the paid order `out_trade_no` (built by the simulator's
/// own code, signed with the gateway's key).
fn notification(sim: &Running, out_trade_no: &str) -> Notification {
    let order = sim
        .sim
        .store
        .order(out_trade_no)
        .expect("a simulator order");
    assert!(order.state == TradeState::Success, "{order:?}");
    match order.channel {
        Channel::Wechat => {
            let (_, body) = wechat::callback_body(&sim.sim, &order);
            let mut headers = vec![
                ("Content-Type", "application/json".to_owned()),
                (
                    "Wechatpay-Signature-Type",
                    "WECHATPAY2-SHA256-RSA2048".to_owned(),
                ),
            ];
            headers.extend(wechat::platform_headers(
                &sim.sim.keys.wechat_platform,
                &sim.sim.keys.wechat_platform_serial,
                &body,
            ));
            Notification {
                channel: Channel::Wechat,
                path: "/api/v1/payments/wechat/notify",
                headers,
                body,
            }
        }
        Channel::Alipay => {
            let (_, body) = alipay::notify_form(&sim.sim, &order, &sim.sim.keys.alipay_gateway);
            Notification {
                channel: Channel::Alipay,
                path: "/api/v1/payments/alipay/notify",
                headers: vec![(
                    "Content-Type",
                    "application/x-www-form-urlencoded; charset=utf-8".to_owned(),
                )],
                body,
            }
        }
    }
}

/// Sends `notification` to the instance at `base`; whether the gateway would take the answer
/// as an acknowledgement (WeChat: any 2xx; Alipay: 200 with the text `success`), and the
/// answer for the failure message.
async fn deliver(
    http: &reqwest::Client,
    base: &str,
    notification: &Notification,
) -> (bool, String) {
    let mut request = http.post(format!("{base}{}", notification.path));
    for (name, value) in &notification.headers {
        request = request.header(*name, value);
    }
    let response = request
        .body(notification.body.clone())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let accepted = match notification.channel {
        Channel::Wechat => (200..300).contains(&status),
        Channel::Alipay => status == 200 && text.trim() == "success",
    };
    (accepted, format!("{base}: {status} {text}"))
}

/// Every notification, `COPIES_PER_INSTANCE` times to each instance, all in flight together;
/// panics unless every copy was acknowledged.
async fn deliver_everywhere(instances: &[&str], notifications: &[Notification]) {
    // One client per instance: each copy goes on a connection of its own, in parallel.
    let clients: Vec<reqwest::Client> = instances.iter().map(|_| reqwest::Client::new()).collect();
    let sends = notifications.iter().flat_map(|n| {
        instances
            .iter()
            .zip(&clients)
            .flat_map(move |(base, http)| {
                (0..COPIES_PER_INSTANCE).map(move |_| deliver(http, base, n))
            })
    });
    let answers = join_all(sends).await;
    assert_eq!(
        answers.len(),
        notifications.len() * instances.len() * COPIES_PER_INSTANCE
    );
    let refused: Vec<&String> = answers
        .iter()
        .filter(|(accepted, _)| !accepted)
        .map(|(_, answer)| answer)
        .collect();
    assert!(refused.is_empty(), "copies not acknowledged: {refused:#?}");
}

/// What the command side recorded for one order, straight from the event store.
#[derive(Debug, PartialEq)]
struct Recorded {
    /// `RechargeSucceeded` events of this order in its operator's stream.
    succeeded_events: i64,
    /// `payment_transactions` rows of this order.
    payment_transactions: i64,
    /// Callbacks recorded as `credited` / as `duplicate`.
    credited_callbacks: i64,
    duplicate_callbacks: i64,
}

async fn recorded(cluster: &Cluster, out_trade_no: &str) -> Recorded {
    let db = cluster.db.client().await;
    let row = db
        .query_one(
            "SELECT \
               (SELECT count(*) FROM events e \
                 WHERE e.aggregate_type = 'Operator' AND e.aggregate_id = o.operator_id::text \
                   AND e.event_type = 'RechargeSucceeded' \
                   AND e.payload::text LIKE '%' || o.order_id::text || '%'), \
               (SELECT count(*) FROM payment_transactions t WHERE t.order_id = o.order_id), \
               (SELECT count(*) FROM payment_callbacks c \
                 WHERE c.out_trade_no = o.out_trade_no AND c.outcome = 'credited'), \
               (SELECT count(*) FROM payment_callbacks c \
                 WHERE c.out_trade_no = o.out_trade_no AND c.outcome = 'duplicate') \
             FROM payment_orders o WHERE o.out_trade_no = $1",
            &[&out_trade_no],
        )
        .await
        .unwrap();
    Recorded {
        succeeded_events: row.get(0),
        payment_transactions: row.get(1),
        credited_callbacks: row.get(2),
        duplicate_callbacks: row.get(3),
    }
}

/// Exactly once, however many copies arrived: one event, one transaction row, one copy
/// credited and every other copy answered as a duplicate.
fn credited_once(instances: usize) -> Recorded {
    let copies = i64::try_from(instances * COPIES_PER_INSTANCE).unwrap();
    Recorded {
        succeeded_events: 1,
        payment_transactions: 1,
        credited_callbacks: 1,
        duplicate_callbacks: copies - 1,
    }
}

/// All `RechargeSucceeded` events of the operator's stream (every order of these tests).
async fn succeeded_in_stream(cluster: &Cluster) -> i64 {
    let db = cluster.db.client().await;
    db.query_one(
        "SELECT count(*) FROM events \
          WHERE aggregate_type = 'Operator' AND event_type = 'RechargeSucceeded'",
        &[],
    )
    .await
    .unwrap()
    .get(0)
}

/// One payment, its single notification 10 times to each instance at once: credited once.
async fn same_notification_on_two_instances(channel: &str) {
    let sim = gateway_sim::start(Config::dev()).await.unwrap();
    let (cluster, token, second) = two_instances(&sim).await;

    let out_trade_no = order(&cluster, &token, channel, "100.00").await;
    pay_without_callback(&sim, &out_trade_no).await;
    let notification = notification(&sim, &out_trade_no);
    deliver_everywhere(&[&cluster.command, &second], &[notification]).await;

    // Answers come after the commit: the event store is final now.
    assert_eq!(
        recorded(&cluster, &out_trade_no).await,
        credited_once(2),
        "{channel}"
    );
    assert_eq!(succeeded_in_stream(&cluster).await, 1, "{channel}");
    let profile = cluster
        .query_until("/api/v1/operator/profile", &token, |p| {
            p["total_credited"] == "100.00"
        })
        .await;
    assert_eq!(profile["balance"], "100.00", "{channel}: {profile}");
}

#[tokio::test]
async fn wechat_notification_on_two_instances_at_once_is_credited_once() {
    same_notification_on_two_instances("wechat").await;
}

#[tokio::test]
async fn alipay_notification_on_two_instances_at_once_is_credited_once() {
    same_notification_on_two_instances("alipay").await;
}

/// Different payments of one operator notified at once through both instances: their appends
/// to the one operator stream conflict across processes, are retried, and all credit.
#[tokio::test]
async fn concurrent_payments_of_one_operator_on_two_instances_all_credit() {
    let sim = gateway_sim::start(Config::dev()).await.unwrap();
    let (cluster, token, second) = two_instances(&sim).await;

    let orders = [
        ("wechat", "100.00"),
        ("alipay", "50.00"),
        ("wechat", "20.00"),
        ("alipay", "7.50"),
    ];
    let mut out_trade_nos = Vec::new();
    for (channel, amount) in orders {
        let out_trade_no = order(&cluster, &token, channel, amount).await;
        pay_without_callback(&sim, &out_trade_no).await;
        out_trade_nos.push(out_trade_no);
    }
    let notifications: Vec<Notification> = out_trade_nos
        .iter()
        .map(|n| notification(&sim, n))
        .collect();
    deliver_everywhere(&[&cluster.command, &second], &notifications).await;

    for out_trade_no in &out_trade_nos {
        assert_eq!(
            recorded(&cluster, out_trade_no).await,
            credited_once(2),
            "{out_trade_no}"
        );
    }
    assert_eq!(
        succeeded_in_stream(&cluster).await,
        i64::try_from(orders.len()).unwrap()
    );
    let profile = cluster
        .query_until("/api/v1/operator/profile", &token, |p| {
            p["total_credited"] == "177.50"
        })
        .await;
    assert_eq!(profile["balance"], "177.50", "{profile}");
}
