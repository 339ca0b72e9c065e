//! Recharges end to end: the real services, the gateway simulator in-process as WeChat Pay and
//! Alipay. Money enters only from a verified gateway result, exactly once.

use serde_json::{Value, json};
use tests::cluster::{Cluster, free_port};
use tests::gateway_sim::{self, Config, Running};

const PASSWORD: &str = "Recharge-pass1";

/// The services configured against `sim`, and an operator's token.
async fn cluster_with(sim: &Running) -> (Cluster, String) {
    cluster_with_settings(sim, &[]).await
}

/// Same, with more settings.
async fn cluster_with_settings(sim: &Running, extra: &[(&str, &str)]) -> (Cluster, String) {
    let command_addr = format!("127.0.0.1:{}", free_port());
    let mut settings = sim.ledger_settings(&command_addr);
    settings.push(("MR_COMMAND_HTTP_ADDR".into(), command_addr));
    let settings: Vec<(&str, &str)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(extra.iter().copied())
        .collect();
    let cluster = Cluster::start(&settings).await;
    let url = format!("{}/api/v1/auth/operator/register", cluster.command);
    let body = json!({"username": "topup_arcade", "name": "充值体验馆", "phone": "13800138000",
                      "email": "topup_arcade@example.com", "password": PASSWORD});
    cluster.call("POST", &url, None, Some(body)).await.ok();
    let token = cluster.token("operator", "topup_arcade", PASSWORD).await;
    (cluster, token)
}

async fn sim_pay(sim: &Running, out_trade_no: &str, options: Value) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{}/sim/orders/{out_trade_no}/pay", sim.url))
        .json(&options)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.unwrap()
}

fn accepted(paid: &Value) -> Vec<bool> {
    paid["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["accepted"].as_bool().unwrap())
        .collect()
}

async fn order(cluster: &Cluster, token: &str, channel: &str, amount: &str) -> Value {
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
    created
}

#[tokio::test]
async fn wechat_recharge_is_credited_once() {
    let sim = gateway_sim::start(Config::dev()).await.unwrap();
    let (cluster, token) = cluster_with(&sim).await;

    let created = order(&cluster, &token, "wechat", "100.00").await;
    assert!(
        created["code_url"]
            .as_str()
            .unwrap()
            .starts_with("weixin://wxpay/bizpayurl")
    );
    let first = created["out_trade_no"].as_str().unwrap();
    let paid = sim_pay(&sim, first, json!({"callback": "now"})).await;
    assert_eq!(accepted(&paid), [true], "{paid}");
    cluster
        .query_until("/api/v1/operator/profile", &token, |p| {
            p["balance"] == "100.00"
        })
        .await;

    // A new payment whose callback arrives ten times at once: credited once, every copy
    // acknowledged.
    let created = order(&cluster, &token, "wechat", "100.00").await;
    let second = created["out_trade_no"].as_str().unwrap();
    let paid = sim_pay(&sim, second, json!({"callback": "duplicate(10)"})).await;
    assert_eq!(accepted(&paid), [true; 10], "{paid}");
    // And the first payment's callback again, ten times.
    let again = sim_pay(&sim, first, json!({"callback": "duplicate(10)"})).await;
    assert_eq!(accepted(&again), [true; 10], "{again}");
    let profile = cluster
        .query_until("/api/v1/operator/profile", &token, |p| {
            p["total_credited"] == "200.00"
        })
        .await;
    assert_eq!(profile["balance"], "200.00");
}

/// Polls a query for up to `seconds` until `done` holds.
async fn wait_until(
    cluster: &Cluster,
    path: &str,
    token: &str,
    seconds: u64,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    loop {
        let answer = cluster.query(path, token).await;
        if answer.status == 200 && done(answer.data()) {
            return answer.data().clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{path}: {} {}",
            answer.status,
            answer.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_poller_credits_a_lost_callback_and_flags_a_failing_query() {
    let sim = gateway_sim::start(Config::dev()).await.unwrap();
    let (cluster, token) = cluster_with_settings(
        &sim,
        &[
            ("MR_RECHARGE_QUERY_AFTER_SECONDS", "1"),
            ("MR_RECHARGE_POLL_INTERVAL_SECONDS", "1"),
        ],
    )
    .await;

    // Paid, but the callback never comes: the poller's query finds it.
    let created = order(&cluster, &token, "wechat", "60.00").await;
    let out_trade_no = created["out_trade_no"].as_str().unwrap();
    let paid = sim_pay(&sim, out_trade_no, json!({"callback": "never"})).await;
    assert_eq!(accepted(&paid), Vec::<bool>::new());
    let profile = wait_until(&cluster, "/api/v1/operator/profile", &token, 20, |p| {
        p["balance"] == "60.00"
    })
    .await;
    assert_eq!(profile["total_credited"], "60.00");

    // Unpaid, and every query fails: needs review after the configured failures.
    let created = order(&cluster, &token, "alipay", "70.00").await;
    reqwest::Client::new()
        .post(format!("{}/sim/faults", sim.url))
        .json(&json!({"query_failures": 1000}))
        .send()
        .await
        .unwrap();
    let path = format!(
        "/api/v1/operator/recharges/{}",
        created["id"].as_str().unwrap()
    );
    wait_until(&cluster, &path, &token, 30, |o| {
        o["status"] == "needs_review"
    })
    .await;
    // Finance is alerted once, however often the query fails afterwards.
    let admin = cluster.admin_token().await;
    let alerts = cluster
        .query("/api/v1/finance/alerts?kind=recharge_needs_review", &admin)
        .await
        .ok();
    let alerts = alerts["items"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["out_trade_no"], created["out_trade_no"]);
    assert_eq!(alerts[0]["amount"], "70.00");
    assert_eq!(alerts[0]["occurrences"], 1);
    assert_eq!(alerts[0]["operator_id"], profile["id"]);
    assert!(alerts[0]["reason"].as_str().unwrap().contains("query"));
}

#[tokio::test]
async fn alipay_recharge_and_refused_callbacks() {
    let sim = gateway_sim::start(Config::dev()).await.unwrap();
    let (cluster, token) = cluster_with(&sim).await;

    // A forged notify and one with another amount change nothing and are answered "failure".
    let forged = order(&cluster, &token, "alipay", "50.00").await;
    let forged_no = forged["out_trade_no"].as_str().unwrap();
    assert_eq!(
        accepted(&sim_pay(&sim, forged_no, json!({"callback": "forged"})).await),
        [false]
    );
    let short = order(&cluster, &token, "wechat", "30.00").await;
    let short_no = short["out_trade_no"].as_str().unwrap();
    assert_eq!(
        accepted(&sim_pay(&sim, short_no, json!({"amount": "0.30"})).await),
        [false]
    );

    // The verified notify with the wrong amount alerts finance; the forged one is only
    // logged (anyone can send one).
    let admin = cluster.admin_token().await;
    // The alert is written with the refusal; its order status comes from the read model,
    // which follows once the projector has caught up.
    let alerts = cluster
        .query_until("/api/v1/finance/alerts", &admin, |a| {
            a["items"][0]["order_status"] == "pending"
        })
        .await;
    let alerts = alerts["items"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["kind"], "payment_not_applied");
    assert_eq!(alerts[0]["out_trade_no"], short_no);
    assert_eq!(alerts[0]["amount"], "0.30");
    assert_eq!(alerts[0]["order_status"], "pending");
    assert!(
        alerts[0]["transaction_id"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );

    let created = order(&cluster, &token, "alipay", "100.00").await;
    assert!(
        created["qr_code"]
            .as_str()
            .unwrap()
            .starts_with("https://qr.alipay.com/")
    );
    let out_trade_no = created["out_trade_no"].as_str().unwrap();
    let paid = sim_pay(&sim, out_trade_no, json!({"callback": "duplicate(5)"})).await;
    assert_eq!(accepted(&paid), [true; 5], "{paid}");
    let profile = cluster
        .query_until("/api/v1/operator/profile", &token, |p| {
            p["balance"] == "100.00"
        })
        .await;
    assert_eq!(profile["total_credited"], "100.00");
}

#[tokio::test]
async fn failed_payment_fails_the_order_and_moves_no_money() {
    let sim = gateway_sim::start(Config::dev()).await.unwrap();
    let (cluster, token) = cluster_with(&sim).await;

    // Alipay has no failed state: a trade that was not paid is closed.
    for (channel, status) in [("wechat", "failed"), ("alipay", "closed")] {
        let created = order(&cluster, &token, channel, "80.00").await;
        let out_trade_no = created["out_trade_no"].as_str().unwrap();
        let paid = sim_pay(&sim, out_trade_no, json!({"fail": true})).await;
        assert_eq!(accepted(&paid), [true], "{channel}: {paid}");
        let path = format!(
            "/api/v1/operator/recharges/{}",
            created["id"].as_str().unwrap()
        );
        cluster
            .query_until(&path, &token, |o| o["status"] == status)
            .await;
    }
    let profile = cluster
        .query_until("/api/v1/operator/profile", &token, |_| true)
        .await;
    assert_eq!(profile["balance"], "0.00");
    assert_eq!(profile["total_credited"], "0.00");
}

#[tokio::test]
async fn a_gateway_retry_after_a_crash_credits_exactly_once() {
    let sim = gateway_sim::start(Config::dev()).await.unwrap();
    let (mut cluster, token) = cluster_with(&sim).await;

    let created = order(&cluster, &token, "wechat", "100.00").await;
    let out_trade_no = created["out_trade_no"].as_str().unwrap().to_owned();
    let paid = sim_pay(&sim, &out_trade_no, json!({"callback": "now"})).await;
    assert_eq!(accepted(&paid), [true], "{paid}");

    // The service dies without warning right after recording the payment (as if its answer
    // never reached the gateway); a fresh process with cold caches gets the gateway's retry.
    cluster.crash_and_restart_command_api().await;
    let retried = sim_pay(&sim, &out_trade_no, json!({"callback": "duplicate(3)"})).await;
    assert_eq!(accepted(&retried), [true; 3], "{retried}");

    // A doubled credit would reach the read side within its lag (well under a second).
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    let profile = cluster
        .query_until("/api/v1/operator/profile", &token, |p| {
            p["balance"] == "100.00"
        })
        .await;
    assert_eq!(profile["total_credited"], "100.00");
    let recharges = cluster
        .query("/api/v1/operator/transactions", &token)
        .await
        .ok();
    let credits = recharges["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "recharge")
        .count();
    assert_eq!(credits, 1, "{recharges}");
}

/// Today as the gateways count days (Asia/Shanghai).
fn beijing_today() -> String {
    (chrono::Utc::now() + chrono::Duration::hours(8))
        .date_naive()
        .to_string()
}

/// A statement row for the simulator from its answer to a payment.
fn statement_row(paid: &Value, amount: &str) -> Value {
    let order = &paid["order"];
    json!({"out_trade_no": order["out_trade_no"], "transaction_id": order["transaction_id"],
           "amount": amount, "paid_at": order["paid_at"]})
}

#[tokio::test]
async fn reconciliation_lists_the_missing_callback_and_the_amount_mismatch() {
    let sim = gateway_sim::start(Config::dev()).await.unwrap();
    let (cluster, token) = cluster_with(&sim).await;
    let admin = cluster.admin_token().await;
    let date = beijing_today();

    // Matched: paid and credited.
    let a = order(&cluster, &token, "wechat", "100.00").await;
    let a_paid = sim_pay(&sim, a["out_trade_no"].as_str().unwrap(), json!({})).await;
    // Paid at the gateway, the callback never arrives (the poller waits 5 minutes).
    let b = order(&cluster, &token, "wechat", "50.00").await;
    let b_out = b["out_trade_no"].as_str().unwrap();
    let b_paid = sim_pay(&sim, b_out, json!({"callback": "never"})).await;
    // Credited 30.00, the statement says 29.00.
    let c = order(&cluster, &token, "wechat", "30.00").await;
    let c_out = c["out_trade_no"].as_str().unwrap();
    let c_paid = sim_pay(&sim, c_out, json!({})).await;
    cluster
        .query_until("/api/v1/operator/profile", &token, |p| {
            p["balance"] == "130.00"
        })
        .await;
    let rows = json!([
        statement_row(&a_paid, "100.00"),
        statement_row(&b_paid, "50.00"),
        statement_row(&c_paid, "29.00"),
    ]);
    let put = reqwest::Client::new()
        .put(format!("{}/sim/statements/wechat/{date}", sim.url))
        .json(&rows)
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{}", put.status());

    let run = cluster
        .command(
            "POST",
            "/api/v1/finance/reconciliations",
            &admin,
            json!({"channel": "wechat", "date": date}),
        )
        .await;
    assert_eq!(run.status, 201, "{}", run.body);
    let run = run.ok();
    assert_eq!(run["matched"], 1, "{run}");
    assert_eq!(run["missing_in_ledger"], 1, "{run}");
    assert_eq!(run["amount_mismatch"], 1, "{run}");
    assert_eq!(run["missing_at_gateway"], 0, "{run}");
    assert_eq!(run["gateway_total"], "179.00");
    assert_eq!(run["ledger_total"], "130.00");
    let run_id = run["id"].as_str().unwrap();

    let list = cluster
        .query("/api/v1/finance/reconciliations", &admin)
        .await
        .ok();
    assert_eq!(list["items"][0]["id"], run_id, "{list}");
    let detail = cluster
        .query(&format!("/api/v1/finance/reconciliations/{run_id}"), &admin)
        .await
        .ok();
    // The run's fields at the top, its items paged under `items` (all 3 fit the first page).
    assert_eq!(detail["id"], run_id, "{detail}");
    assert_eq!(detail["items"]["next_cursor"], Value::Null, "{detail}");
    let mut not_matched: Vec<(String, String)> = detail["items"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] != "matched")
        .map(|i| {
            (
                i["kind"].as_str().unwrap().to_owned(),
                i["out_trade_no"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    not_matched.sort();
    assert_eq!(
        not_matched,
        [
            ("amount_mismatch".to_owned(), c_out.to_owned()),
            ("missing_in_ledger".to_owned(), b_out.to_owned()),
        ]
    );
    let mismatches = cluster
        .query(
            &format!("/api/v1/finance/reconciliations/{run_id}?kind=amount_mismatch"),
            &admin,
        )
        .await
        .ok();
    let mismatches = &mismatches["items"]["items"];
    assert_eq!(mismatches.as_array().unwrap().len(), 1);
    assert_eq!(mismatches[0]["gateway_amount"], "29.00");
    assert_eq!(mismatches[0]["ledger_amount"], "30.00");

    let csv = cluster
        .query(
            &format!("/api/v1/finance/reconciliations/{run_id}/export?format=csv"),
            &admin,
        )
        .await;
    assert_eq!(csv.status, 200);
    let text = String::from_utf8(csv.bytes).unwrap();
    assert!(text.starts_with("line,kind,out_trade_no,"), "{text}");
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(
        text.contains(&format!("missing_in_ledger,{b_out},")),
        "{text}"
    );
    let xlsx = cluster
        .query(
            &format!("/api/v1/finance/reconciliations/{run_id}/export?format=xlsx"),
            &admin,
        )
        .await;
    assert_eq!(xlsx.status, 200);
    assert!(xlsx.bytes.len() > 100 && xlsx.bytes.starts_with(b"PK"));

    // Alipay: the statement as the gateway computes it, every payment credited.
    let d = order(&cluster, &token, "alipay", "20.00").await;
    sim_pay(&sim, d["out_trade_no"].as_str().unwrap(), json!({})).await;
    let run = cluster
        .command(
            "POST",
            "/api/v1/finance/reconciliations",
            &admin,
            json!({"channel": "alipay", "date": date}),
        )
        .await
        .ok();
    assert_eq!(run["matched"], 1, "{run}");
    assert_eq!(
        run["missing_in_ledger"].as_i64().unwrap()
            + run["missing_at_gateway"].as_i64().unwrap()
            + run["amount_mismatch"].as_i64().unwrap(),
        0,
        "{run}"
    );

    // Each run is a staff action: the audit log names who ran it and what it found.
    let log = cluster
        .query_until(
            &format!(
                "/api/v1/finance/audit-log?action=ReconciliationRecorded&aggregate_id={run_id}"
            ),
            &admin,
            |d| d["items"].as_array().is_some_and(|a| a.len() == 1),
        )
        .await;
    let entry = &log["items"][0];
    assert_eq!(entry["actor_username"], "admin", "{entry}");
    assert_eq!(entry["target"]["type"], "Reconciliation", "{entry}");
    let summary = &entry["details"]["ReconciliationRecorded"]["summary"];
    assert_eq!(summary["missing_in_ledger"], 1, "{entry}");
    assert_eq!(summary["amount_mismatch"], 1, "{entry}");

    // Operators may not run or read reconciliations.
    let refused = cluster
        .command(
            "POST",
            "/api/v1/finance/reconciliations",
            &token,
            json!({"channel": "wechat", "date": date}),
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
}
