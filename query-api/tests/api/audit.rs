use std::time::{Duration, Instant};

use ledger_core::chain;
use serde_json::Value;

use crate::helpers::{TestApp, append_events, genesis};

#[tokio::test]
async fn a_stream_pages_by_sequence_with_its_hash_chain_and_exact_payloads() {
    let app = TestApp::spawn().await;
    let op = "0190f5a4-7b1c-7d3e-8f00-123456789abc";
    let hashes = append_events(&app.sql, "Operator", op, 1, genesis(), 5).await;
    append_events(&app.sql, "Operator", "someone-else", 1, genesis(), 2).await;

    let path = format!("/api/v1/audit/streams/Operator/{op}/events");
    let page1 = app.get(&format!("{path}?limit=2")).await;
    let data = page1.data();
    assert_eq!(data["next_from_sequence"], 3);
    let first = &data["items"][0];
    assert_eq!(first["aggregate_type"], "Operator");
    assert_eq!(first["aggregate_id"], op);
    assert_eq!(first["sequence"], 1);
    assert_eq!(first["event_type"], "BalanceCredited");
    assert_eq!(first["event_version"], "1");
    assert_eq!(first["hash"], chain::to_hex(&hashes[0]));
    assert_eq!(first["metadata"]["actor_role"], "admin");
    assert!(first["position"].as_i64().unwrap() >= 1);
    assert!(first["recorded_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        first["payload"],
        serde_json::json!({ "z": 1, "a": "10.00" })
    );

    // The payload text is exactly the stored text (order and spacing kept), so the chain can be
    // recomputed from the answer.
    let raw = app
        .http
        .get(format!("{}{path}?limit=1", app.base_url))
        .bearer_auth(
            app.login(ledger_core::metadata::ActorRole::FinanceAuditor)
                .await
                .token,
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(raw.contains(r#""payload":{"z": 1, "a": "10.00"}"#), "{raw}");

    let mut seen: Vec<(i64, String)> = Vec::new();
    let mut from = Some(1);
    while let Some(seq) = from {
        let reply = app
            .get(&format!("{path}?limit=2&from_sequence={seq}"))
            .await;
        let data = reply.data();
        for item in data["items"].as_array().unwrap() {
            seen.push((
                item["sequence"].as_i64().unwrap(),
                item["hash"].as_str().unwrap().to_owned(),
            ));
        }
        from = data["next_from_sequence"].as_i64();
    }
    let expected: Vec<(i64, String)> = hashes
        .iter()
        .enumerate()
        .map(|(i, h)| (i as i64 + 1, chain::to_hex(h)))
        .collect();
    assert_eq!(seen, expected);

    // Past the end of a known stream: an empty page. An unknown stream: 404.
    let past = app.get(&format!("{path}?from_sequence=99")).await;
    assert_eq!(past.data()["items"], Value::Array(vec![]));
    app.get("/api/v1/audit/streams/Operator/nobody/events")
        .await
        .assert_error(404, "NOT_FOUND");
}

#[tokio::test]
async fn audit_parameters_are_checked() {
    let app = TestApp::spawn().await;
    let path = "/api/v1/audit/streams/Operator/x/events";
    assert_eq!(
        app.get(&format!("{path}?limit=501")).await.invalid_fields(),
        ["limit"]
    );
    assert_eq!(
        app.get(&format!("{path}?from_sequence=0"))
            .await
            .invalid_fields(),
        ["from_sequence"]
    );
    assert_eq!(
        app.get("/api/v1/audit/streams/Bad%20Type/x/events")
            .await
            .invalid_fields(),
        ["aggregate_type"]
    );
    assert_eq!(
        app.get("/api/v1/audit/events?limit=501&after_position=-1")
            .await
            .invalid_fields(),
        ["after_position", "limit"]
    );
    // A position no event has cannot be placed in the order.
    assert_eq!(
        app.get("/api/v1/audit/events?after_position=12345")
            .await
            .invalid_fields(),
        ["after_position"]
    );
}

#[tokio::test]
async fn the_global_feed_pages_through_every_event_once_in_order() {
    let app = TestApp::spawn().await;
    let mut hashes = append_events(&app.sql, "Operator", "a", 1, genesis(), 3).await;
    hashes.extend(append_events(&app.sql, "Application", "b", 1, genesis(), 2).await);
    hashes.extend(append_events(&app.sql, "Operator", "a", 4, hashes[2], 2).await);
    let expected: Vec<String> = hashes.iter().map(|h| chain::to_hex(h)).collect();

    // The feed shows transactions older than every open one; other tests' open transactions
    // on the same server may hold it back for a moment.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let reply = app.get("/api/v1/audit/events?limit=100").await;
        if reply.data()["items"].as_array().unwrap().len() == expected.len() {
            break;
        }
        assert!(Instant::now() < deadline, "feed never caught up: {reply:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut seen = Vec::new();
    let mut positions = Vec::new();
    let mut after = 0;
    loop {
        let reply = app
            .get(&format!(
                "/api/v1/audit/events?limit=2&after_position={after}"
            ))
            .await;
        let data = reply.data();
        for item in data["items"].as_array().unwrap() {
            seen.push(item["hash"].as_str().unwrap().to_owned());
            positions.push(item["position"].as_i64().unwrap());
        }
        let next = data["next_after_position"].as_i64().unwrap();
        if data["caught_up"] == Value::Bool(true) {
            assert_eq!(next, *positions.last().unwrap());
            break;
        }
        after = next;
    }
    assert_eq!(seen, expected);
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");

    // Caught up: nothing new, and the resume point stays put.
    let last = *positions.last().unwrap();
    let reply = app
        .get(&format!("/api/v1/audit/events?after_position={last}"))
        .await;
    assert_eq!(reply.data()["items"], Value::Array(vec![]));
    assert_eq!(reply.data()["next_after_position"], last);
}
